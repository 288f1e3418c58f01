//! Target parsing and lazy expansion.
//!
//! Targets (addresses, CIDRs, hostnames) become a [`TargetSet`]: a sorted list of
//! disjoint address intervals with the excludes already subtracted. A /8 is a
//! single interval, never a list of addresses; [`TargetSet::get`] maps an index
//! to an address in O(log intervals), which is what the randomised scan order
//! needs. Hostnames are resolved (with a timeout and a cap on addresses per
//! name) before the set is built, and each address keeps the name it came from.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// One target as written by the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// A single address.
    Addr(IpAddr),
    /// A network in CIDR notation.
    Net(IpNet),
    /// A name to resolve.
    Name(String),
}

/// A target token that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target '{token}': {why}")]
pub struct TargetError {
    /// The offending token.
    pub token: String,
    /// Why it was rejected.
    pub why: String,
}

fn bad(token: &str, why: impl Into<String>) -> TargetError {
    TargetError {
        token: token.to_string(),
        why: why.into(),
    }
}

/// Parses one target token: an address, a CIDR, or a hostname.
pub fn parse_target(token: &str) -> Result<TargetSpec, TargetError> {
    let t = token.trim();
    if t.is_empty() {
        return Err(bad(token, "empty target"));
    }
    let unbracketed = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(TargetSpec::Addr(ip));
    }
    if t.contains('/') {
        return t
            .parse::<IpNet>()
            .map(|n| TargetSpec::Net(n.trunc()))
            .map_err(|_| {
                bad(
                    token,
                    "not a valid CIDR (expected e.g. 198.18.0.0/24 or fd00::/64)",
                )
            });
    }
    if t.contains(':') {
        return Err(bad(token, "not a valid IPv6 address"));
    }
    if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad(token, "not a valid IPv4 address"));
    }
    if valid_hostname(t) {
        return Ok(TargetSpec::Name(
            t.trim_end_matches('.').to_ascii_lowercase(),
        ));
    }
    Err(bad(token, "not an address, CIDR or hostname"))
}

fn valid_hostname(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Parses a comma- or whitespace-separated list of targets.
pub fn parse_list(list: &str) -> Result<Vec<TargetSpec>, TargetError> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(parse_target)
        .collect()
}

/// Parses the text of a target file: one or more targets per line, `#` starts a
/// comment, blank lines are ignored. Errors carry the line number.
pub fn parse_file_text(text: &str, source: &str) -> Result<Vec<TargetSpec>, TargetError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for spec in parse_list(line).map_err(|e| TargetError {
            token: e.token,
            why: format!("{} ({source} line {})", e.why, n + 1),
        })? {
            out.push(spec);
        }
    }
    Ok(out)
}

/// Key that orders IPv4 and IPv6 in one u128 space (IPv4 as ::ffff:a.b.c.d).
fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn unkey(k: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(k);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

fn net_interval(net: &IpNet) -> (u128, u128) {
    (key(net.network()), key(net.broadcast()))
}

/// A set of addresses stored as sorted, disjoint, inclusive intervals.
#[derive(Clone, Debug, Default)]
pub struct TargetSet {
    intervals: Vec<(u128, u128)>,
    /// `prefix[i]` = number of addresses before interval `i`.
    prefix: Vec<u128>,
    total: u128,
    names: HashMap<IpAddr, String>,
}

impl TargetSet {
    /// Builds the set from resolved targets minus the excludes.
    pub fn build(include: &[Resolved], exclude: &[IpNet]) -> TargetSet {
        let mut iv: Vec<(u128, u128)> = Vec::new();
        let mut names = HashMap::new();
        for r in include {
            match r {
                Resolved::Net(n) => iv.push(net_interval(n)),
                Resolved::Addr(ip, name) => {
                    iv.push((key(*ip), key(*ip)));
                    if let Some(name) = name {
                        names.entry(*ip).or_insert_with(|| name.clone());
                    }
                }
            }
        }
        let mut merged = merge(iv);
        let ex = merge(exclude.iter().map(net_interval).collect());
        merged = subtract(&merged, &ex);
        names.retain(|ip, _| contains(&merged, key(*ip)));
        let mut prefix = Vec::with_capacity(merged.len());
        let mut total: u128 = 0;
        for (a, b) in &merged {
            prefix.push(total);
            total = total.saturating_add(b - a + 1);
        }
        TargetSet {
            intervals: merged,
            prefix,
            total,
            names,
        }
    }

    /// Number of distinct addresses.
    pub fn len(&self) -> u128 {
        self.total
    }

    /// True when nothing is left to scan.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `i`-th address in ascending order.
    pub fn get(&self, i: u128) -> Option<IpAddr> {
        if i >= self.total {
            return None;
        }
        let idx = self.prefix.partition_point(|&p| p <= i) - 1;
        Some(unkey(self.intervals[idx].0 + (i - self.prefix[idx])))
    }

    /// The hostname an address was reached through, if any.
    pub fn name(&self, ip: &IpAddr) -> Option<&str> {
        self.names.get(ip).map(String::as_str)
    }

    /// Whether the set contains an address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        contains(&self.intervals, key(ip))
    }

    /// Iterates over every address in ascending order (lazily).
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.intervals.iter().flat_map(|&(a, b)| (a..=b).map(unkey))
    }
}

fn contains(iv: &[(u128, u128)], k: u128) -> bool {
    let idx = iv.partition_point(|&(a, _)| a <= k);
    idx > 0 && iv[idx - 1].1 >= k
}

fn merge(mut iv: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    iv.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(iv.len());
    for (a, b) in iv {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn subtract(iv: &[(u128, u128)], ex: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    for &(mut a, b) in iv {
        let start = ex.partition_point(|&(_, eb)| eb < a);
        let mut done = false;
        for &(ea, eb) in &ex[start..] {
            if ea > b {
                break;
            }
            if ea > a {
                out.push((a, ea - 1));
            }
            if eb >= b {
                done = true;
                break;
            }
            a = eb + 1;
        }
        if !done {
            out.push((a, b));
        }
    }
    out
}

/// A target after name resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// One address, with the name it came from.
    Addr(IpAddr, Option<String>),
    /// A whole network.
    Net(IpNet),
}

/// Why an address is refused as a scan target.
pub fn refuse_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => Some("unspecified address"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("broadcast address"),
        IpAddr::V4(v4) if v4.is_multicast() => Some("multicast address"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("unspecified address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("multicast address"),
        _ => None,
    }
}

/// Outcome of resolving the names among the targets.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Every target with names replaced by their addresses.
    pub resolved: Vec<Resolved>,
    /// Names that gave no address (with the reason).
    pub unresolved: Vec<(String, String)>,
    /// Names whose answer was cut to the per-name cap.
    pub truncated: Vec<(String, usize)>,
}

/// Resolves hostnames with the system resolver, `timeout` per name, keeping at
/// most `cap` addresses per name (IPv4 and IPv6 interleaved so both families
/// survive the cap).
pub async fn resolve(specs: Vec<TargetSpec>, timeout: Duration, cap: usize) -> Resolution {
    let mut res = Resolution::default();
    let mut lookups = Vec::new();
    for spec in specs {
        match spec {
            TargetSpec::Addr(ip) => res.resolved.push(Resolved::Addr(ip, None)),
            TargetSpec::Net(n) => res.resolved.push(Resolved::Net(n)),
            TargetSpec::Name(name) => lookups.push(name),
        }
    }
    lookups.sort();
    lookups.dedup();
    let futs = lookups.into_iter().map(|name| async move {
        let r = tokio::time::timeout(timeout, async { crate::dns::lookup_host(&name).await }).await;
        (name, r)
    });
    for (name, r) in futures::future::join_all(futs).await {
        match r {
            Err(_) => res.unresolved.push((
                name,
                format!("DNS timed out after {} ms", timeout.as_millis()),
            )),
            Ok(Err(e)) => res.unresolved.push((name, e.to_string())),
            Ok(Ok(addrs)) => {
                let mut v4: Vec<IpAddr> = Vec::new();
                let mut v6: Vec<IpAddr> = Vec::new();
                let mut cut = false;
                for (seen, a) in addrs.into_iter().enumerate() {
                    let ip = a.ip();
                    let list = if ip.is_ipv4() { &mut v4 } else { &mut v6 };
                    if !list.contains(&ip) && list.len() < cap {
                        list.push(ip);
                    }
                    if seen > cap.saturating_mul(4).max(64) {
                        cut = true;
                        break;
                    }
                }
                let mut all = Vec::new();
                let (mut i4, mut i6) = (v4.into_iter(), v6.into_iter());
                loop {
                    let (a, b) = (i4.next(), i6.next());
                    if a.is_none() && b.is_none() {
                        break;
                    }
                    all.extend(a);
                    all.extend(b);
                }
                if all.len() > cap || cut {
                    res.truncated.push((name.clone(), cap));
                }
                all.truncate(cap);
                if all.is_empty() {
                    res.unresolved.push((name.clone(), "no addresses".into()));
                }
                for ip in all {
                    res.resolved.push(Resolved::Addr(ip, Some(name.clone())));
                }
            }
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(targets: &[&str], excludes: &[&str]) -> TargetSet {
        let inc: Vec<Resolved> = targets
            .iter()
            .map(|t| match parse_target(t).unwrap() {
                TargetSpec::Addr(ip) => Resolved::Addr(ip, None),
                TargetSpec::Net(n) => Resolved::Net(n),
                TargetSpec::Name(_) => panic!("name"),
            })
            .collect();
        let ex: Vec<IpNet> = excludes.iter().map(|e| e.parse().unwrap()).collect();
        TargetSet::build(&inc, &ex)
    }

    #[test]
    fn parses_addresses_cidrs_names() {
        assert_eq!(
            parse_target("198.18.0.2").unwrap(),
            TargetSpec::Addr("198.18.0.2".parse().unwrap())
        );
        assert_eq!(
            parse_target("[fd00:e0c::1]").unwrap(),
            TargetSpec::Addr("fd00:e0c::1".parse().unwrap())
        );
        assert_eq!(
            parse_target("198.18.0.7/30").unwrap(),
            TargetSpec::Net("198.18.0.4/30".parse().unwrap())
        );
        assert_eq!(
            parse_target("DB1.Example.com.").unwrap(),
            TargetSpec::Name("db1.example.com".into())
        );
    }

    #[test]
    fn rejects_malformed_targets() {
        for bad in [
            "300.1.1.1",
            "198.18.0.0/33",
            "1.2.3",
            "fd00::zz",
            "a..b",
            "-host",
            "x/y",
            "",
            "host name",
        ] {
            let e = parse_target(bad);
            assert!(e.is_err(), "{bad:?} should be rejected");
        }
        let e = parse_target("198.18.0.0/33").unwrap_err();
        assert_eq!(e.token, "198.18.0.0/33");
    }

    #[test]
    fn file_text_allows_comments_and_blanks() {
        let specs =
            parse_file_text("# hosts\n\n198.18.0.1 # gw\n198.18.0.2,198.18.0.3\n", "f").unwrap();
        assert_eq!(specs.len(), 3);
        let e = parse_file_text("198.18.0.1\nnot_a/cidr\n", "hosts.txt").unwrap_err();
        assert!(e.why.contains("hosts.txt line 2"), "{}", e.why);
    }

    #[test]
    fn dedup_and_exclude() {
        let s = set(
            &["198.18.0.0/30", "198.18.0.1", "198.18.0.2", "198.18.0.8"],
            &["198.18.0.1/32"],
        );
        let all: Vec<IpAddr> = s.iter().collect();
        let want: Vec<IpAddr> = ["198.18.0.0", "198.18.0.2", "198.18.0.3", "198.18.0.8"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(all, want);
        assert_eq!(s.len(), 4);
        for (i, ip) in want.iter().enumerate() {
            assert_eq!(s.get(i as u128), Some(*ip));
        }
        assert_eq!(s.get(4), None);
    }

    #[test]
    fn huge_ranges_are_not_materialised() {
        let s = set(&["10.0.0.0/8", "fd00:e0c::/64"], &["10.1.0.0/16"]);
        assert_eq!(s.len(), (1u128 << 24) - (1 << 16) + (1u128 << 64));
        assert_eq!(s.get(0), Some("10.0.0.0".parse().unwrap()));
        assert_eq!(s.get(65536), Some("10.2.0.0".parse().unwrap()));
        assert_eq!(s.intervals.len(), 3);
        assert!(!s.contains("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn families_do_not_mix() {
        let s = set(&["198.18.0.1", "fd00:e0c::1"], &[]);
        assert_eq!(s.get(0), Some("198.18.0.1".parse().unwrap()));
        assert_eq!(s.get(1), Some("fd00:e0c::1".parse().unwrap()));
    }

    #[test]
    fn refuses_special_addresses() {
        assert!(refuse_reason("0.0.0.0".parse().unwrap()).is_some());
        assert!(refuse_reason("255.255.255.255".parse().unwrap()).is_some());
        assert!(refuse_reason("224.0.0.1".parse().unwrap()).is_some());
        assert!(refuse_reason("ff02::1".parse().unwrap()).is_some());
        assert!(refuse_reason("::".parse().unwrap()).is_some());
        assert!(refuse_reason("198.18.0.1".parse().unwrap()).is_none());
    }
}
