//! Release cycles and their end-of-life dates, from a service file's `eol`
//! list (`services/README.md`, "End of life"), and the cycle an identified
//! version belongs to.
//!
//! A cycle is the release line as its upstream names it: a major (`15`) or a
//! major.minor (`7.2`). A version belongs to a cycle when its leading numeric
//! components equal the cycle's (`7.2` holds 7.2.4, not 7.20.1); the longest
//! such cycle wins. Nothing here knows the date: the verdict compares.

use jiff::civil::Date;

/// One release cycle of one product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// The product it is about, when the service reports several (compared
    /// without regard to ASCII case); `None` for any product of the service.
    pub product: Option<String>,
    /// The cycle as written (`7.2`).
    pub cycle: String,
    /// Its numeric components.
    parts: Vec<u64>,
    /// End of life; `None` while the upstream has set no date.
    pub eol: Option<Date>,
    /// Where the date comes from.
    pub source: String,
}

/// A service's release cycles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle(Vec<Cycle>);

impl Cycle {
    /// A cycle checked from its text: `cycle` digits and dots, `eol` an ISO
    /// date (`YYYY-MM-DD`) or none, `source` not blank.
    pub fn new(
        product: Option<String>,
        cycle: &str,
        eol: Option<&str>,
        source: &str,
    ) -> Result<Cycle, String> {
        let parts = cycle_parts(cycle)
            .ok_or_else(|| format!("eol cycle '{cycle}' is not numbers joined by dots"))?;
        let eol = match eol {
            None => None,
            Some(d) => Some(parse_date(d).ok_or_else(|| {
                format!("eol date '{d}' of cycle {cycle} is not an ISO date (YYYY-MM-DD)")
            })?),
        };
        if source.trim().is_empty() {
            return Err(format!("eol cycle {cycle} needs a source"));
        }
        if product.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return Err(format!("eol cycle {cycle} has an empty product"));
        }
        Ok(Cycle {
            product,
            cycle: cycle.to_string(),
            parts,
            eol,
            source: source.to_string(),
        })
    }

    /// Whether this cycle is about `product`.
    fn is_for(&self, product: &str) -> bool {
        self.product
            .as_deref()
            .is_none_or(|p| p.eq_ignore_ascii_case(product))
    }

    /// Whether its end of life is before `today`.
    pub fn ended(&self, today: Date) -> bool {
        self.eol.is_some_and(|d| d < today)
    }
}

impl Lifecycle {
    /// The cycles, checked for duplicates (one product and cycle twice).
    pub fn new(cycles: Vec<Cycle>) -> Result<Lifecycle, String> {
        for (i, c) in cycles.iter().enumerate() {
            let twin = cycles[..i].iter().any(|o| {
                o.parts == c.parts
                    && o.product.as_deref().map(str::to_ascii_lowercase)
                        == c.product.as_deref().map(str::to_ascii_lowercase)
            });
            if twin {
                return Err(format!("eol cycle {} is listed twice", c.cycle));
            }
        }
        Ok(Lifecycle(cycles))
    }

    /// Whether it lists no cycle.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The cycles.
    pub fn cycles(&self) -> &[Cycle] {
        &self.0
    }

    /// The cycle that `product` at `version` belongs to: the longest cycle of
    /// that product whose components lead the version's.
    pub fn cycle_of(&self, product: &str, version: &str) -> Option<&Cycle> {
        let v = version_parts(version)?;
        self.0
            .iter()
            .filter(|c| c.is_for(product) && v.starts_with(&c.parts))
            .max_by_key(|c| c.parts.len())
    }
}

/// `7.2` → [7, 2]; `None` unless it is numbers joined by dots.
fn cycle_parts(s: &str) -> Option<Vec<u64>> {
    s.split('.')
        .map(|p| {
            (!p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect()
}

/// The leading numeric components of a version as a banner gives it: a `v`
/// before a digit dropped, each component's leading digits, up to the first
/// component without any (`9.2p1` → [9, 2], `10.11.19-MariaDB` → [10, 11, 19]).
pub fn version_parts(v: &str) -> Option<Vec<u64>> {
    let v = v
        .strip_prefix(['v', 'V'])
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(v);
    let mut out = Vec::new();
    for comp in v.split('.') {
        let digits: &str = &comp[..comp.bytes().take_while(u8::is_ascii_digit).count()];
        if digits.is_empty() || digits.len() > 9 {
            break;
        }
        out.push(digits.parse().ok()?);
        if digits.len() < comp.len() {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// An ISO calendar date, strictly `YYYY-MM-DD`.
fn parse_date(s: &str) -> Option<Date> {
    let shaped = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    shaped.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle(product: Option<&str>, c: &str, eol: Option<&str>) -> Cycle {
        Cycle::new(product.map(String::from), c, eol, "test").unwrap()
    }

    fn life(cycles: Vec<Cycle>) -> Lifecycle {
        Lifecycle::new(cycles).unwrap()
    }

    #[test]
    fn a_minor_cycle_holds_its_patch_releases_only() {
        let l = life(vec![
            cycle(None, "7.2", Some("2029-12-01")),
            cycle(None, "7.0", Some("2024-07-29")),
        ]);
        assert_eq!(l.cycle_of("Redis", "7.2.4").unwrap().cycle, "7.2");
        assert_eq!(l.cycle_of("Redis", "7.0.15").unwrap().cycle, "7.0");
        assert!(l.cycle_of("Redis", "7.20.1").is_none(), "7.2 is not 7.20");
        assert!(l.cycle_of("Redis", "7").is_none(), "7 alone names no minor");
        assert!(l.cycle_of("Redis", "8.0.1").is_none());
    }

    #[test]
    fn a_major_cycle_holds_every_minor_and_the_longest_wins() {
        let l = life(vec![
            cycle(None, "15", Some("2027-11-11")),
            cycle(None, "9", Some("2020-01-01")),
            cycle(None, "9.6", Some("2021-11-11")),
        ]);
        assert_eq!(l.cycle_of("PostgreSQL", "15.18").unwrap().cycle, "15");
        assert_eq!(l.cycle_of("PostgreSQL", "15").unwrap().cycle, "15");
        assert_eq!(l.cycle_of("PostgreSQL", "9.6.24").unwrap().cycle, "9.6");
        assert_eq!(l.cycle_of("PostgreSQL", "9.5.1").unwrap().cycle, "9");
        assert!(l.cycle_of("PostgreSQL", "150.1").is_none());
    }

    #[test]
    fn versions_are_read_up_to_their_first_non_numeric_part() {
        assert_eq!(version_parts("9.2p1"), Some(vec![9, 2]));
        assert_eq!(version_parts("10.11.19-MariaDB"), Some(vec![10, 11, 19]));
        assert_eq!(version_parts("v1.29.0"), Some(vec![1, 29, 0]));
        assert_eq!(version_parts("2.4.57 (Debian)"), Some(vec![2, 4, 57]));
        assert_eq!(version_parts("1.x"), Some(vec![1]));
        assert_eq!(version_parts("beta"), None);
        assert_eq!(version_parts(""), None);
        assert_eq!(version_parts("99999999999999999999"), None);
    }

    #[test]
    fn products_are_told_apart_without_regard_to_case() {
        let l = life(vec![
            cycle(Some("MySQL"), "5.7", Some("2023-10-31")),
            cycle(Some("MariaDB"), "10.11", Some("2028-02-16")),
        ]);
        assert_eq!(l.cycle_of("mysql", "5.7.44").unwrap().cycle, "5.7");
        assert!(l.cycle_of("MariaDB", "5.7.44").is_none());
        assert_eq!(l.cycle_of("MARIADB", "10.11.6").unwrap().cycle, "10.11");
        assert!(l.cycle_of("Percona", "5.7.44").is_none());
    }

    #[test]
    fn ended_means_strictly_before_today() {
        let c = cycle(None, "7.0", Some("2024-07-29"));
        assert!(!c.ended(jiff::civil::date(2024, 7, 29)), "its last day");
        assert!(c.ended(jiff::civil::date(2024, 7, 30)));
        assert!(!cycle(None, "8.4", None).ended(jiff::civil::date(2099, 1, 1)));
    }

    #[test]
    fn bad_cycles_dates_and_sources_are_refused() {
        let bad = [
            ("7.x", Some("2024-01-01"), "x"),
            ("", Some("2024-01-01"), "x"),
            ("7..1", Some("2024-01-01"), "x"),
            ("13.0-sp3", Some("2024-01-01"), "x"),
            ("7.0", Some("2024-13-01"), "x"),
            ("7.0", Some("2024-02-30"), "x"),
            ("7.0", Some("24-07-29"), "x"),
            ("7.0", Some("2024-7-29"), "x"),
            ("7.0", Some("2024-07-29T00:00"), "x"),
            ("7.0", Some("2024-07-29"), " "),
        ];
        for (c, eol, source) in bad {
            assert!(Cycle::new(None, c, eol, source).is_err(), "{c} {eol:?}");
        }
        assert!(Cycle::new(Some(" ".into()), "1", None, "x").is_err());
        let twice = Lifecycle::new(vec![
            cycle(Some("MySQL"), "8.0", None),
            cycle(Some("mysql"), "8.0", None),
        ]);
        assert!(twice.is_err());
        assert!(Lifecycle::new(vec![
            cycle(Some("MySQL"), "8.0", None),
            cycle(Some("MariaDB"), "8.0", None),
        ])
        .is_ok());
    }
}
