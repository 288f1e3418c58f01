//! Text helpers every layer shares, importing nothing of the crate: network
//! text made safe for a terminal, RFC 3339 times (through jiff), and numbers
//! rounded for people.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats a time as RFC 3339 UTC with second precision
/// (`2026-11-18T11:06:40Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::MAX)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Parses an RFC 3339 time (with `Z` or an offset) to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// `Tue Nov 25 15:32:00 2026` (the ctime layout, UTC) for Unix seconds.
pub fn ctime(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%a %b %e %H:%M:%S %Y")
        .to_string()
}

/// A count with thousands separators: `65,535`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate per second for people: `2,757/s`, `12/s`, `0.4/s`.
pub fn per_second(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "0/s".into()
    } else if r < 10.0 {
        format!("{r:.1}/s")
    } else {
        format!("{}/s", count(r.round() as u64))
    }
}

/// A duration for people: `0.3 ms`, `12 ms`, `1.2 s`, `14 s`, `3 min 20 s`,
/// `2 h 5 min` (each unit from where rounding would reach the next).
pub fn duration(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    let s = (ms / 1000.0).round() as u64;
    if ms < 9.95 {
        format!("{ms:.1} ms")
    } else if ms < 999.5 {
        format!("{ms:.0} ms")
    } else if ms < 9_950.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{} h {} min", s / 3600, s % 3600 / 60)
    }
}

/// Unicode's explicit bidirectional formatting characters (UAX #9).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Makes network text safe for a terminal: control characters (C0, C1, DEL,
/// ESC sequences) become `\xNN` escapes, so a banner cannot move the cursor,
/// recolour the screen or forge a line; bidirectional-text controls become
/// `\u{NNNN}`, so it cannot reorder what is shown either.
pub fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || is_bidi_control(c) {
            let n = c as u32;
            if n <= 0xff {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn numbers_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(65_535), "65,535");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(per_second(2757.3275), "2,757/s");
        assert_eq!(per_second(0.42), "0.4/s");
        assert_eq!(per_second(f64::NAN), "0/s");
        assert_eq!(duration(Duration::from_micros(310)), "0.3 ms");
        assert_eq!(duration(Duration::from_micros(9_960)), "10 ms");
        assert_eq!(duration(Duration::from_micros(999_600)), "1.0 s");
        assert_eq!(duration(Duration::from_millis(14_200)), "14 s");
        assert_eq!(duration(Duration::from_millis(12)), "12 ms");
        assert_eq!(duration(Duration::from_millis(1234)), "1.2 s");
        assert_eq!(duration(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(duration(Duration::from_secs(7500)), "2 h 5 min");
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_000_000)),
            "2026-11-18T11:06:40Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn parse_rfc3339_inverts_rfc3339_and_takes_offsets() {
        for secs in [0u64, 951_782_400, 1_795_000_000, 4_102_444_799] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(secs as i64));
        }
        assert_eq!(
            parse_rfc3339("2026-11-18T12:06:40+01:00"),
            Some(1_795_000_000)
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-02-30T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-25 10:00:00"), None);
    }

    #[test]
    fn ctime_layout() {
        assert_eq!(ctime(1_795_000_000), "Wed Nov 18 11:06:40 2026");
        assert_eq!(ctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn terminal_safe_escapes_controls() {
        assert_eq!(terminal_safe("a\x1b[2Jb\nc\u{9b}"), "a\\x1b[2Jb\\x0ac\\x9b");
        assert_eq!(terminal_safe("plain ü"), "plain ü");
        assert_eq!(terminal_safe("a\u{202e}b\u{2066}"), "a\\u{202e}b\\u{2066}");
    }
}
