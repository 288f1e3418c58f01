//! Target parsing and lazy expansion.
//!
//! Targets (addresses, CIDRs, hostnames) become a [`TargetSet`]: a sorted list of
//! disjoint address intervals with the excludes already subtracted. A /8 is a
//! single interval, never a list of addresses; [`TargetSet::get`] maps an index
//! to an address in O(log intervals), which is what the randomised scan order
//! needs. Hostnames are resolved (with a timeout and a cap on addresses per
//! name) before the set is built, and each address keeps the name it came from.

use crate::text::terminal_safe;
use ipnet::IpNet;
use std::collections::{HashMap, HashSet};
use std::future::Future;
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

/// A target token that could not be parsed. Its text is shown with control
/// characters escaped (tokens come from files too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target '{}': {}", terminal_safe(token), terminal_safe(why))]
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

/// Most target items one `-iL` or `--exclude-file` file may list.
pub const MAX_FILE_ITEMS: usize = 1 << 20;
/// Largest target or exclusion file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// `::ffff:a.b.c.d` is `a.b.c.d`: one spelling for one host everywhere
/// (scan set, excludes, names, policy).
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// A network with IPv4-mapped bounds (`::ffff:10.0.0.0/104`) as IPv4.
fn canonical_net(n: IpNet) -> IpNet {
    match n {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(n, IpNet::V4),
            None => n,
        },
        other => other,
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
        return Ok(TargetSpec::Addr(canonical(ip)));
    }
    if let Some(why) = misspelled(t) {
        return Err(bad(token, why));
    }
    if t.contains('/') {
        return t
            .parse::<IpNet>()
            .map(|n| TargetSpec::Net(canonical_net(n.trunc())))
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

/// What to write instead of a URL, a `host:port`, or a zone id.
fn misspelled(t: &str) -> Option<String> {
    if let Some((_, rest)) = t.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_port(hostport).unwrap_or((hostport.to_string(), None));
        if host.is_empty() {
            return Some("a URL is not a target; give the host alone".into());
        }
        return Some(match port {
            Some(p) => format!("a URL is not a target; give the host: {host} (and use -p {p})"),
            None => format!("a URL is not a target; give the host: {host}"),
        });
    }
    if let Some((addr, zone)) = t.split_once('%') {
        return Some(format!(
            "zone ids ('%{zone}') are not supported: a link-local address is reachable only \
             through one interface, not from outside; scan a global or unique-local address \
             of the host instead of {}",
            addr.trim_start_matches('[')
        ));
    }
    let (host, port) = split_port(t)?;
    let port = port?;
    Some(format!(
        "a target takes no port; write {host} and use -p {port}"
    ))
}

/// `1.2.3.4:80`, `[::1]:80`, `name:80` → (host, port); `None` for anything else.
fn split_port(s: &str) -> Option<(String, Option<String>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        inside.parse::<Ipv6Addr>().ok()?;
        return match after.strip_prefix(':') {
            Some(p) if is_port(p) => Some((inside.to_string(), Some(p.to_string()))),
            None if after.is_empty() => Some((inside.to_string(), None)),
            _ => None,
        };
    }
    if s.parse::<Ipv6Addr>().is_ok() {
        return Some((s.to_string(), None));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if is_port(p) && !h.contains(':') => {
            let host_ok = h.parse::<std::net::Ipv4Addr>().is_ok() || valid_hostname(h);
            host_ok.then(|| (h.to_string(), Some(p.to_string())))
        }
        Some(_) => None,
        None => Some((s.to_string(), None)),
    }
}

fn is_port(p: &str) -> bool {
    p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
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
pub fn parse_file_text(text: &str, source: &str) -> Result<Vec<TargetSpec>, ListError> {
    parse_lines(text.lines().map(Ok), source)
}

fn at_line(source: &str, n: usize) -> String {
    format!("{source} line {n}")
}

/// A target file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// A line holds an invalid target.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The file as a whole is unusable (too large, not text, unreadable).
    #[error("{}", terminal_safe(.0))]
    File(String),
}

/// Parses target lines as they are read (a file is never held whole): at
/// most [`MAX_FILE_ITEMS`] items; errors carry the line number.
pub fn parse_lines<S: AsRef<str>>(
    lines: impl Iterator<Item = Result<S, ListError>>,
    source: &str,
) -> Result<Vec<TargetSpec>, ListError> {
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line?;
        let line = line.as_ref().split('#').next().unwrap_or("");
        for spec in parse_list(line).map_err(|e| TargetError {
            token: e.token,
            why: format!("{} ({})", e.why, at_line(source, n + 1)),
        })? {
            if out.len() >= MAX_FILE_ITEMS {
                return Err(ListError::File(format!(
                    "more than {MAX_FILE_ITEMS} targets (at {}); split the list or use CIDRs",
                    at_line(source, n + 1)
                )));
            }
            out.push(spec);
        }
    }
    Ok(out)
}

/// Reads target lines from `r` lazily, at most [`MAX_FILE_BYTES`] bytes.
pub fn read_lines(r: impl std::io::Read, source: &str) -> Result<Vec<TargetSpec>, ListError> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(r.take(MAX_FILE_BYTES + 1));
    let mut read: u64 = 0;
    let mut n = 0usize;
    let mut buf = Vec::new();
    let lines = std::iter::from_fn(|| {
        buf.clear();
        n += 1;
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(k) => {
                read += k as u64;
                if read > MAX_FILE_BYTES {
                    return Some(Err(ListError::File(format!(
                        "larger than {} MiB; split the list or use CIDRs",
                        MAX_FILE_BYTES >> 20
                    ))));
                }
                Some(
                    std::str::from_utf8(&buf)
                        .map(str::to_owned)
                        .map_err(|_| ListError::File(format!("not UTF-8 text (line {n})"))),
                )
            }
            Err(e) => Some(Err(ListError::File(e.to_string()))),
        }
    });
    parse_lines(lines, source)
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
                        names.entry(canonical(*ip)).or_insert_with(|| name.clone());
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
        self.names.get(&canonical(*ip)).map(String::as_str)
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

/// Ranges never scanned, whatever a CIDR covers: unspecified, multicast, broadcast.
pub const NEVER: [&str; 5] = [
    "0.0.0.0/32",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "ff00::/8",
];

/// Whether an address is this machine's loopback (127.0.0.0/8, ::1).
pub fn is_loopback(ip: IpAddr) -> bool {
    canonical(ip).is_loopback()
}

/// Looks names up: the system resolver in a run, a table in tests.
pub trait Resolver: Sync {
    /// Every address `name` has (any family, any order, duplicates allowed).
    fn lookup(&self, name: &str) -> impl Future<Output = std::io::Result<Vec<IpAddr>>> + Send;
}

/// The system resolver (getaddrinfo on a thread of its own, both families).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, name: &str) -> impl Future<Output = std::io::Result<Vec<IpAddr>>> + Send {
        let name = name.to_string();
        async move {
            crate::dns::lookup_host(&name)
                .await
                .map(|it| it.into_iter().map(|a| a.ip()).collect())
        }
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

/// Names looked up at once.
const LOOKUPS_IN_FLIGHT: usize = 64;

/// Resolves hostnames with the system resolver; see [`resolve_with`].
pub async fn resolve(specs: Vec<TargetSpec>, timeout: Duration, cap: usize) -> Resolution {
    resolve_with(&SystemResolver, specs, timeout, Some(cap)).await
}

/// Resolves hostnames through `resolver`, `timeout` per name, keeping at most
/// `cap` addresses per name (IPv4 and IPv6 interleaved so both families
/// survive the cap; `None`: every address). Addresses come back canonical
/// (`::ffff:a.b.c.d` as `a.b.c.d`), each with its name.
pub async fn resolve_with<R: Resolver>(
    resolver: &R,
    specs: Vec<TargetSpec>,
    timeout: Duration,
    cap: Option<usize>,
) -> Resolution {
    use futures::StreamExt;
    let mut res = Resolution::default();
    let mut lookups = Vec::new();
    for spec in specs {
        match spec {
            TargetSpec::Addr(ip) => res.resolved.push(Resolved::Addr(canonical(ip), None)),
            TargetSpec::Net(n) => res.resolved.push(Resolved::Net(canonical_net(n))),
            TargetSpec::Name(name) => lookups.push(name),
        }
    }
    lookups.sort();
    lookups.dedup();
    let answers: Vec<_> = futures::stream::iter(lookups)
        .map(|name| async move {
            let r = tokio::time::timeout(timeout, resolver.lookup(&name)).await;
            (name, r)
        })
        .buffered(LOOKUPS_IN_FLIGHT)
        .collect()
        .await;
    for (name, r) in answers {
        match r {
            Err(_) => res.unresolved.push((
                name,
                format!("DNS timed out after {} ms", timeout.as_millis()),
            )),
            Ok(Err(e)) => res.unresolved.push((name, e.to_string())),
            Ok(Ok(addrs)) => {
                let (all, cut) = keep_addresses(addrs, cap);
                if cut {
                    res.truncated
                        .push((name.clone(), cap.unwrap_or(usize::MAX)));
                }
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

/// Canonical, distinct addresses of one answer, IPv4 and IPv6 interleaved,
/// cut to `cap`; true when something was cut.
fn keep_addresses(addrs: Vec<IpAddr>, cap: Option<usize>) -> (Vec<IpAddr>, bool) {
    let limit = cap.unwrap_or(usize::MAX);
    let mut seen = HashSet::new();
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let mut cut = false;
    for ip in addrs {
        let ip = canonical(ip);
        if !seen.insert(ip) {
            continue;
        }
        let list = if ip.is_ipv4() { &mut v4 } else { &mut v6 };
        if list.len() < limit {
            list.push(ip);
        } else {
            cut = true;
        }
    }
    let mut all = Vec::with_capacity(v4.len() + v6.len());
    let (mut i4, mut i6) = (v4.into_iter(), v6.into_iter());
    loop {
        let (a, b) = (i4.next(), i6.next());
        if a.is_none() && b.is_none() {
            break;
        }
        all.extend(a);
        all.extend(b);
    }
    if all.len() > limit {
        all.truncate(limit);
        cut = true;
    }
    (all, cut)
}

/// How names are resolved and what they may reach.
#[derive(Clone, Copy, Debug)]
pub struct ScopeRules {
    /// DNS timeout per name.
    pub timeout: Duration,
    /// Addresses kept per target name (excluded names are never cut).
    pub cap: usize,
    /// Names may resolve to this machine's loopback.
    pub allow_loopback: bool,
}

/// The scan's address set, settled before any packet.
#[derive(Debug, Default)]
pub struct Scope {
    /// What is scanned.
    pub set: TargetSet,
    /// Warnings for the user.
    pub warnings: Vec<String>,
    /// Target names that gave no address.
    pub unresolved: Vec<String>,
    /// Scanned loopback addresses reached through a name (only with
    /// `allow_loopback`): not an outside view.
    pub loopback_by_name: Vec<(String, IpAddr)>,
}

/// Why the scope could not be settled; the run stops before any packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// An excluded name gave no address: what it should leave out is unknown.
    #[error("cannot resolve excluded name {}: {}; nothing is scanned (fix or drop the exclusion)", terminal_safe(.0), terminal_safe(.1))]
    ExcludeUnresolved(String, String),
    /// A name leads to this machine's loopback.
    #[error("refusing {name}: it resolves to {ip}, this machine's loopback, which is not an outside view; scan the host's public name or address, or pass --allow-loopback", name = terminal_safe(.0), ip = .1)]
    LoopbackByName(String, IpAddr),
}

/// Resolves targets and exclusions and builds the address set: exclusions
/// (resolved uncapped, both families) are taken out of every address any
/// name yields; never-scanned addresses are dropped with a warning; a name
/// reaching loopback is refused unless `rules.allow_loopback`.
pub async fn scope<R: Resolver>(
    resolver: &R,
    targets: &[TargetSpec],
    excludes: &[TargetSpec],
    rules: ScopeRules,
) -> Result<Scope, ScopeError> {
    let ex = resolve_with(resolver, excludes.to_vec(), rules.timeout, None).await;
    if let Some((name, why)) = ex.unresolved.into_iter().next() {
        return Err(ScopeError::ExcludeUnresolved(name, why));
    }
    let mut exclude: Vec<IpNet> = NEVER
        .iter()
        .map(|n| n.parse().expect("valid constant"))
        .collect();
    exclude.extend(ex.resolved.into_iter().map(|r| match r {
        Resolved::Addr(ip, _) => IpNet::from(ip),
        Resolved::Net(n) => n,
    }));
    let res = resolve_with(resolver, targets.to_vec(), rules.timeout, Some(rules.cap)).await;
    let mut out = Scope::default();
    for (name, cap) in &res.truncated {
        out.warnings.push(format!(
            "{name} resolves to more than {cap} addresses; scanning the first {cap}"
        ));
    }
    for (name, why) in res.unresolved {
        out.warnings
            .push(format!("cannot resolve {name}: {why}; scanning the rest"));
        out.unresolved.push(name);
    }
    let excluded = merge(exclude.iter().map(net_interval).collect());
    let mut include = Vec::with_capacity(res.resolved.len());
    for r in res.resolved {
        if let Resolved::Addr(ip, Some(name)) = &r {
            if let Some(why) = refuse_reason(*ip) {
                out.warnings
                    .push(format!("{name} resolves to {ip} ({why}); not scanned"));
                continue;
            }
            if is_loopback(*ip) && !contains(&excluded, key(*ip)) {
                if !rules.allow_loopback {
                    return Err(ScopeError::LoopbackByName(name.clone(), *ip));
                }
                out.loopback_by_name.push((name.clone(), *ip));
            }
        }
        include.push(r);
    }
    out.set = TargetSet::build(&include, &exclude);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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
        assert!(e.to_string().contains("hosts.txt line 2"), "{e}");
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

    #[test]
    fn misspelled_targets_say_what_to_write() {
        for (token, want) in [
            ("203.0.113.7:80", "write 203.0.113.7 and use -p 80"),
            ("[2001:db8::1]:443", "write 2001:db8::1 and use -p 443"),
            (
                "db.example.com:5432",
                "write db.example.com and use -p 5432",
            ),
            ("http://host.example/path", "give the host: host.example"),
            (
                "https://u:pw@203.0.113.7:8443/x?y",
                "give the host: 203.0.113.7 (and use -p 8443)",
            ),
            (
                "http://[2001:db8::1]:8080/",
                "give the host: 2001:db8::1 (and use -p 8080)",
            ),
            ("fe80::1%eth0", "zone ids ('%eth0') are not supported"),
            ("[fe80::1%eth0]", "zone ids"),
        ] {
            let e = parse_target(token).unwrap_err();
            assert_eq!(e.token, token);
            assert!(e.why.contains(want), "{token}: {}", e.why);
            assert!(e.to_string().contains(token), "{e}");
        }
        // Still plain errors when nothing better can be said.
        assert!(parse_target("fd00::zz").unwrap_err().why.contains("IPv6"));
        assert!(parse_target("1.2.3.4:99999")
            .unwrap_err()
            .why
            .contains("IPv6"));
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        assert_eq!(
            parse_target("::ffff:198.18.0.1").unwrap(),
            TargetSpec::Addr("198.18.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_target("::ffff:198.18.0.0/120").unwrap(),
            TargetSpec::Net("198.18.0.0/24".parse().unwrap())
        );
        // Both spellings exclude each other.
        let s = set(&["198.18.0.1", "198.18.0.2"], &["::ffff:198.18.0.1/128"]);
        assert!(!s.contains("198.18.0.1".parse().unwrap()));
        assert_eq!(s.len(), 1);
        let s = set(&["::ffff:198.18.0.1"], &["198.18.0.1/32"]);
        assert!(s.is_empty());
    }

    #[test]
    fn controls_in_tokens_are_escaped() {
        let e = parse_file_text("198.18.0.1\n\x1b[2Jevil\x07\n", "f\x1b.txt").unwrap_err();
        let shown = e.to_string();
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(shown.contains("\\x1b[2Jevil\\x07"), "{shown}");
    }

    #[test]
    fn file_bounds_are_checked_while_reading() {
        // Items past the bound fail without the rest being read.
        let endless = std::io::repeat(b'\n').take(MAX_FILE_BYTES + 10);
        let e = read_lines(endless, "big").unwrap_err();
        assert!(e.to_string().contains("larger than 64 MiB"), "{e}");
        let many = "198.18.0.1,".repeat(MAX_FILE_ITEMS + 1);
        let e = read_lines(many.as_bytes(), "many").unwrap_err();
        assert!(e.to_string().contains("more than 1048576 targets"), "{e}");
        let e = read_lines(&b"198.18.0.1\n\xff\xfe\n"[..], "bin").unwrap_err();
        assert!(e.to_string().contains("not UTF-8 text (line 2)"), "{e}");
        let ok = read_lines(&b"# c\n198.18.0.1 198.18.0.2\r\n\n"[..], "ok").unwrap();
        assert_eq!(ok.len(), 2);
    }

    /// A resolver over a fixed table (names absent from it fail).
    struct Table(HashMap<&'static str, Vec<IpAddr>>);

    impl Resolver for Table {
        fn lookup(&self, name: &str) -> impl Future<Output = std::io::Result<Vec<IpAddr>>> + Send {
            let r =
                self.0.get(name).cloned().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such name")
                });
            async move { r }
        }
    }

    fn table(entries: &[(&'static str, &[&str])]) -> Table {
        Table(
            entries
                .iter()
                .map(|(n, a)| (*n, a.iter().map(|x| x.parse().unwrap()).collect()))
                .collect(),
        )
    }

    fn rules(cap: usize, allow_loopback: bool) -> ScopeRules {
        ScopeRules {
            timeout: Duration::from_secs(5),
            cap,
            allow_loopback,
        }
    }

    fn specs(list: &str) -> Vec<TargetSpec> {
        parse_list(list).unwrap()
    }

    fn run_scope(
        t: &Table,
        targets: &str,
        excludes: &str,
        r: ScopeRules,
    ) -> Result<Scope, ScopeError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(scope(t, &specs(targets), &specs(excludes), r))
    }

    fn many(n: u32) -> Vec<String> {
        (0..n)
            .map(|i| std::net::Ipv4Addr::from(0xc612_0000 + i).to_string())
            .collect()
    }

    #[test]
    fn excluded_names_are_resolved_uncapped_and_in_both_families() {
        let addrs = many(200);
        let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
        let t = table(&[
            ("big.test", &refs),
            ("dual.test", &["198.18.1.1", "fd00:e0c::1"]),
            ("mapped.test", &["::ffff:198.18.1.1"]),
        ]);
        // A name of 200 addresses excludes all 200, not the first 64.
        let s = run_scope(&t, "198.18.0.0/24", "big.test", rules(64, false)).unwrap();
        assert_eq!(s.set.len(), 256 - 200);
        // With a cap of 1, a dual-stack exclusion still removes both families.
        let s = run_scope(&t, "198.18.1.1,fd00:e0c::1", "dual.test", rules(1, false)).unwrap();
        assert!(s.set.is_empty(), "{:?}", s.set.iter().collect::<Vec<_>>());
        // The mapped form excludes the IPv4 address, and the other way round.
        let s = run_scope(&t, "198.18.1.1", "mapped.test", rules(1, false)).unwrap();
        assert!(s.set.is_empty());
        let s = run_scope(&t, "mapped.test", "198.18.1.1", rules(1, false)).unwrap();
        assert!(s.set.is_empty());
        // Excludes apply to what target names yield.
        let s = run_scope(&t, "big.test", "198.18.0.0/25", rules(1000, false)).unwrap();
        assert_eq!(s.set.len(), 200 - 128);
    }

    #[test]
    fn an_unresolvable_exclusion_stops_the_run() {
        let t = table(&[("ok.test", &["198.18.1.1"])]);
        let e = run_scope(&t, "198.18.1.1", "gone.test", rules(64, false)).unwrap_err();
        assert!(matches!(e, ScopeError::ExcludeUnresolved(ref n, _) if n == "gone.test"));
        assert!(e.to_string().contains("gone.test"), "{e}");
        // An unresolvable target is a warning; the rest is scanned.
        let s = run_scope(&t, "gone.test,ok.test", "", rules(64, false)).unwrap();
        assert_eq!(s.unresolved, ["gone.test"]);
        assert_eq!(s.set.len(), 1);
    }

    #[test]
    fn loopback_by_name_needs_allow_loopback() {
        let t = table(&[
            ("lo.test", &["127.0.0.1"]),
            ("lo6.test", &["::1"]),
            ("lomapped.test", &["::ffff:127.0.0.1"]),
            ("mixed.test", &["198.18.1.1", "127.0.0.2"]),
        ]);
        for name in ["lo.test", "lo6.test", "lomapped.test", "mixed.test"] {
            let e = run_scope(&t, name, "", rules(64, false)).unwrap_err();
            assert!(
                matches!(e, ScopeError::LoopbackByName(ref n, _) if n == name),
                "{e}"
            );
            assert!(e.to_string().contains("--allow-loopback"), "{e}");
        }
        // Literal loopback stays allowed; so does an excluded loopback answer.
        let s = run_scope(&t, "127.0.0.1,::1", "", rules(64, false)).unwrap();
        assert_eq!(s.set.len(), 2);
        let s = run_scope(&t, "mixed.test", "127.0.0.0/8", rules(64, false)).unwrap();
        assert_eq!(s.set.len(), 1);
        // Allowed: scanned, listed, and the mapped answer keeps its name.
        let s = run_scope(&t, "lomapped.test", "", rules(64, true)).unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(s.set.iter().collect::<Vec<_>>(), [ip]);
        assert_eq!(s.set.name(&ip), Some("lomapped.test"));
        assert_eq!(s.loopback_by_name, [("lomapped.test".to_string(), ip)]);
    }

    #[test]
    fn target_names_are_capped_across_both_families() {
        let addrs = many(100);
        let mut refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
        refs.push("fd00:e0c::7");
        let t = table(&[("big.test", &refs)]);
        let s = run_scope(&t, "big.test", "", rules(3, false)).unwrap();
        assert_eq!(s.set.len(), 3);
        assert!(
            s.set.contains("fd00:e0c::7".parse().unwrap()),
            "IPv6 survives the cap"
        );
        assert!(s.warnings[0].contains("more than 3"), "{:?}", s.warnings);
    }
}
