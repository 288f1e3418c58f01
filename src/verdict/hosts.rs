//! Host-level verdicts: the firewall posture a host shows (RST vs silence vs
//! ICMP), hosts that answer on every port, and IPv4/IPv6 parity — a port open
//! over one family and closed or filtered over the other is the classic
//! "iptables written, ip6tables forgotten" hole. A default-deny host where a
//! port outside the policy answers gets the Docker bypass finding (a port
//! published with `-p` skips INPUT). With `--check-ssh-rate`, what the paced
//! SSH connects showed becomes a host finding too. Findings the judge raises
//! about one port beside its own (a version past its end of life) are kept
//! here and handed out with their host.

use super::finding_key;
use super::remedy;
use super::rules::RuleKind;
pub use crate::model::HostRecord;
use crate::model::{
    Finding, Firewall, HostFinding, HostVerdict, PolicyStatus, PortResult, PortState, Proto,
    Reason, Severity, SshRateCheck, SshRateLimit, UNKNOWN_SERVICE,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

/// Hosts remembered individually (a /16, the largest range scanned without
/// `--allow-large`). Past this, a new host's results are only counted
/// globally and it gets no host verdict, so memory stays flat on huge sweeps;
/// [`Hosts::untracked`] says how many hosts were left out.
pub const MAX_TRACKED_HOSTS: usize = 65_536;

/// What is kept about an open port for the host-level checks: eight bytes.
#[derive(Debug, Clone, Copy)]
struct OpenPort {
    port: u16,
    /// Index into [`Hosts::services`].
    service: u16,
    severity: Severity,
    expected: bool,
    /// Outside the policy: not expected by it or, without a policy, a
    /// finding above info (a port a default-deny host should not show).
    outside: bool,
}

/// One host's facts, kept small: a /16 of hosts with open ports holds 65,536
/// of these.
#[derive(Default, Debug)]
struct Acc {
    host: Option<Box<str>>,
    /// Sorted by port.
    open: Vec<OpenPort>,
    closed: u32,
    dropped: u32,
    rejected: u32,
    every_port: bool,
    /// Filtered ports, one bit per port: kept only for addresses that may be
    /// one side of a dual-stack host (named targets, given pairs).
    filtered: Option<Box<[u64; 1024]>>,
    /// What `--check-ssh-rate` measured.
    ssh_rate: Option<Box<SshRateCheck>>,
}

impl Acc {
    fn is_filtered(&self, port: u16) -> bool {
        self.filtered
            .as_ref()
            .is_some_and(|b| b[port as usize / 64] & (1 << (port % 64)) != 0)
    }

    fn open_port(&self, port: u16) -> Option<&OpenPort> {
        self.open
            .binary_search_by_key(&port, |o| o.port)
            .ok()
            .map(|i| &self.open[i])
    }

    fn answered(&self) -> u64 {
        u64::from(self.closed) + u64::from(self.dropped) + u64::from(self.rejected)
    }
}

/// Collects per-host facts as results stream in.
#[derive(Default, Debug)]
pub struct Hosts {
    map: HashMap<IpAddr, Acc>,
    /// Service names of open ports, each stored once.
    services: Vec<Box<str>>,
    untracked: HashSet<IpAddr>,
    untracked_overflow: bool,
    /// Findings about one port beside its own, by host (tracked hosts only).
    port_findings: HashMap<IpAddr, Vec<HostFinding>>,
}

/// Most untracked hosts counted exactly; past it the count is a lower bound.
const MAX_UNTRACKED_COUNTED: usize = 4096;

/// Infers the firewall posture from the non-open answers.
pub fn posture(closed: u64, dropped: u64, rejected: u64) -> Firewall {
    let filtered = dropped + rejected;
    if closed + filtered < 3 {
        Firewall::Unknown
    } else if filtered == 0 {
        Firewall::None
    } else if closed == 0 {
        if rejected > dropped {
            Firewall::Reject
        } else {
            Firewall::Drop
        }
    } else {
        Firewall::Mixed
    }
}

impl Hosts {
    /// Remembers which ports of `ip` are filtered, for the dual-stack check.
    pub fn track(&mut self, ip: IpAddr) {
        let acc = self.map.entry(ip).or_default();
        if acc.filtered.is_none() {
            acc.filtered = Some(Box::new([0; 1024]));
        }
    }

    /// Adds one result.
    pub fn add(&mut self, r: &PortResult) {
        // The host's posture and its open-port list are read from the TCP
        // sweep; UDP ports are judged one by one.
        if r.proto == Proto::Udp {
            return;
        }
        if !self.map.contains_key(&r.ip) && self.map.len() >= MAX_TRACKED_HOSTS {
            if self.untracked.len() < MAX_UNTRACKED_COUNTED {
                self.untracked.insert(r.ip);
            } else {
                self.untracked_overflow = true;
            }
            return;
        }
        let service = match (r.state, &r.service) {
            (PortState::Open, Some(s)) => self.service_index(&s.name),
            _ => 0,
        };
        let acc = self.map.entry(r.ip).or_default();
        if acc.host.is_none() {
            acc.host = r.host.as_deref().map(Box::from);
        }
        match (r.state, r.reason) {
            (PortState::Open, _) => {
                let port = OpenPort {
                    port: r.port,
                    service,
                    severity: r.finding.as_ref().map_or(Severity::Low, |f| f.severity),
                    expected: r.finding.as_ref().is_some_and(Finding::is_expected),
                    outside: r.finding.as_ref().is_none_or(|f| match f.policy {
                        Some(p) => p != PolicyStatus::Expected,
                        None => f.severity > Severity::Info,
                    }),
                };
                match acc.open.binary_search_by_key(&r.port, |o| o.port) {
                    Ok(i) => acc.open[i] = port,
                    Err(i) => acc.open.insert(i, port),
                }
            }
            (PortState::Closed, _) => acc.closed = acc.closed.saturating_add(1),
            // Says nothing about the host's firewall.
            (PortState::Unresolved | PortState::OpenFiltered, _) => {}
            (PortState::Filtered, reason) => {
                if reason == Reason::NoResponse {
                    acc.dropped = acc.dropped.saturating_add(1);
                } else {
                    acc.rejected = acc.rejected.saturating_add(1);
                }
                if let Some(bits) = acc.filtered.as_mut() {
                    bits[r.port as usize / 64] |= 1 << (r.port % 64);
                }
            }
        }
    }

    /// The index of a service name in the name table ([`UNKNOWN_SERVICE`],
    /// index 0, when the table is full).
    fn service_index(&mut self, name: &str) -> u16 {
        if self.services.is_empty() {
            self.services.push(UNKNOWN_SERVICE.into());
        }
        if let Some(i) = self.services.iter().position(|s| &**s == name) {
            return i as u16;
        }
        if self.services.len() > usize::from(u16::MAX) {
            return 0;
        }
        self.services.push(name.into());
        (self.services.len() - 1) as u16
    }

    fn service_name(&self, index: u16) -> &str {
        self.services
            .get(usize::from(index))
            .map_or(UNKNOWN_SERVICE, |s| s)
    }

    /// Hosts that answered after [`MAX_TRACKED_HOSTS`] were tracked and so
    /// get no host verdict; `(count, exact)`.
    pub fn untracked(&self) -> (u64, bool) {
        (self.untracked.len() as u64, !self.untracked_overflow)
    }

    /// Adds the non-open counts of a host verdict written by a shard.
    pub fn add_counts(&mut self, v: &HostVerdict) {
        let acc = self.map.entry(v.ip).or_default();
        if acc.host.is_none() {
            acc.host = v.host.as_deref().map(Box::from);
        }
        let add =
            |n: &mut u32, by: u64| *n = n.saturating_add(u32::try_from(by).unwrap_or(u32::MAX));
        add(&mut acc.closed, v.closed);
        add(&mut acc.rejected, v.rejected);
        add(&mut acc.dropped, v.filtered.saturating_sub(v.rejected));
        acc.every_port |= v.answers_every_port;
    }

    /// Records what `--check-ssh-rate` measured on `ip`.
    pub fn ssh_rate(&mut self, ip: IpAddr, check: SshRateCheck) {
        self.map.entry(ip).or_default().ssh_rate = Some(Box::new(check));
    }

    /// Keeps a finding about one port of a tracked host (beside the port's
    /// own), to hand out with the host; dropped for an untracked host,
    /// which [`Hosts::untracked`] counts.
    pub fn add_port_finding(&mut self, f: Box<HostFinding>) {
        if let Some(ip) = f.ip.filter(|ip| self.map.contains_key(ip)) {
            self.port_findings.entry(ip).or_default().push(*f);
        }
    }

    /// Records that `ip` answered on random canary ports.
    pub fn mark_every_port(&mut self, ip: IpAddr) {
        self.map.entry(ip).or_default().every_port = true;
    }

    /// Host verdicts (hosts with an open port) and host findings, handed to
    /// `each` one at a time in address order, each host's verdict before its
    /// findings: firewall posture, every-port answerers, and (last)
    /// dual-stack mismatches within `groups` (sets of addresses known to be
    /// one host). `complete` is false after an interruption, when a missing
    /// open port proves nothing. With `all_hosts` (shards, whose hosts' open
    /// ports may sit in another shard) every host that answered gets a verdict.
    pub fn finish(
        &self,
        groups: &[BTreeSet<IpAddr>],
        complete: bool,
        all_hosts: bool,
        each: &mut dyn FnMut(HostRecord),
    ) {
        let mut ips: Vec<&IpAddr> = self.map.keys().collect();
        ips.sort_unstable();
        for ip in ips {
            let a = &self.map[ip];
            if a.open.is_empty() && !a.every_port && !(all_hosts && a.answered() > 0) {
                continue;
            }
            let (closed, dropped, rejected) = (
                u64::from(a.closed),
                u64::from(a.dropped),
                u64::from(a.rejected),
            );
            let fw = posture(closed, dropped, rejected);
            each(HostRecord::Verdict(HostVerdict {
                ip: *ip,
                host: a.host.as_deref().map(str::to_owned),
                open: a.open.len() as u64,
                closed,
                filtered: dropped + rejected,
                rejected,
                firewall: fw,
                answers_every_port: a.every_port,
            }));
            if a.every_port {
                each(HostRecord::Finding(host_finding(
                    *ip,
                    a,
                    None,
                    raise(
                        RuleKind::HostAnswersEveryPort,
                        0,
                        "Host accepts connections on every port".into(),
                        format!("{ip} accepted connections on random unused high ports; its open ports prove nothing (tarpit, SYN proxy or port-forwarding middlebox)"),
                    ),
                )));
            } else if fw == Firewall::None && !a.open.is_empty() {
                each(HostRecord::Finding(host_finding(
                    *ip,
                    a,
                    None,
                    raise(
                        RuleKind::NoDefaultDenyFirewall,
                        0,
                        "Host has no default-deny firewall".into(),
                        format!("{ip}: {} closed ports answered with RST and none was filtered; any service that starts listening is exposed at once", a.closed),
                    ),
                )));
            } else if matches!(fw, Firewall::Drop | Firewall::Reject) {
                for o in a.open.iter().filter(|o| o.outside) {
                    each(HostRecord::Finding(self.bypassed(*ip, a, o, fw)));
                }
            }
            for f in self.port_findings.get(ip).into_iter().flatten() {
                each(HostRecord::Finding(Box::new(f.clone())));
            }
            if let Some(check) = &a.ssh_rate {
                if let Some(f) = ssh_rate_finding(*ip, check) {
                    each(HostRecord::Finding(host_finding(
                        *ip,
                        a,
                        Some(check.port),
                        f,
                    )));
                }
            }
        }
        if complete {
            for g in groups {
                self.parity(g, &mut |f| each(HostRecord::Finding(f)));
            }
        }
    }

    /// The Docker bypass finding for an open port `o` outside the policy of
    /// default-deny host `ip`: the DOCKER-USER lines of each family come
    /// first in its fix, the usual INPUT lines after them.
    fn bypassed(&self, ip: IpAddr, a: &Acc, o: &OpenPort, fw: Firewall) -> Box<HostFinding> {
        let port = o.port;
        let how = if fw == Firewall::Drop {
            "drops"
        } else {
            "rejects"
        };
        let mut f = raise(
            RuleKind::DefaultDenyBypassed,
            port,
            format!(
                "Port {port} ({}) answers although the host denies by default",
                self.service_name(o.service)
            ),
            format!(
                "{ip} {how} its unlisted ports ({} filtered, {} closed), yet {port}/tcp, outside the policy, accepted a connection: a container port published with `-p` skips INPUT (Docker's DNAT in PREROUTING, accepted in FORWARD), so the DOCKER-USER chain must filter it",
                u64::from(a.dropped) + u64::from(a.rejected),
                a.closed
            ),
        );
        let rem = &mut f.remediation;
        let docker = |prefixes: &[&str]| -> Vec<String> {
            rem.docker
                .iter()
                .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
                .cloned()
                .collect()
        };
        let (ipt, nft, ufw) = (
            docker(&["iptables ", "ip6tables "]),
            docker(&["nft "]),
            docker(&["# ufw"]),
        );
        rem.iptables.splice(0..0, ipt);
        rem.nftables.splice(0..0, nft);
        rem.ufw.splice(0..0, ufw);
        rem.notes.insert(0, format!("Published by Docker: the DOCKER-USER lines close it (or publish it as `-p 127.0.0.1:{port}:{port}`); the INPUT lines do nothing for it. Not Docker: an ACCEPT ahead of the default-deny opens it, and the INPUT lines close it."));
        debug_assert!(rem.notes.iter().any(|n| n == remedy::DOCKER_NOTE));
        host_finding(ip, a, Some(port), f)
    }

    fn parity(&self, group: &BTreeSet<IpAddr>, out: &mut dyn FnMut(Box<HostFinding>)) {
        let v4: Vec<&IpAddr> = group
            .iter()
            .filter(|i| i.is_ipv4() && self.map.contains_key(i))
            .collect();
        let v6: Vec<&IpAddr> = group
            .iter()
            .filter(|i| i.is_ipv6() && self.map.contains_key(i))
            .collect();
        if v4.is_empty() || v6.is_empty() {
            return;
        }
        for (open_side, other_side) in [(&v4, &v6), (&v6, &v4)] {
            for ip in open_side.iter() {
                let a = &self.map[*ip];
                if a.every_port {
                    continue;
                }
                for open in &a.open {
                    let port = &open.port;
                    if open.expected {
                        continue;
                    }
                    let others: Vec<&Acc> = other_side.iter().map(|o| &self.map[*o]).collect();
                    if others
                        .iter()
                        .any(|o| o.open_port(*port).is_some() || o.every_port)
                    {
                        continue;
                    }
                    let filtered: Vec<String> = other_side
                        .iter()
                        .filter(|o| self.map[**o].is_filtered(*port))
                        .map(|o| o.to_string())
                        .collect();
                    let (fam, tool) = if ip.is_ipv6() {
                        ("IPv6", "ip6tables")
                    } else {
                        ("IPv4", "iptables")
                    };
                    let kind = RuleKind::DualStackMismatch;
                    let others_text = other_side
                        .iter()
                        .map(|o| o.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    // Filtered on the other family: a firewall rule exists there
                    // and is missing here — the classic forgotten ip6tables.
                    // Closed there: the service simply does not listen on that
                    // family; still worth knowing, but no firewall hole.
                    let (severity, evidence, note) = if filtered.is_empty() {
                        (
                            Severity::Low,
                            format!("{port}/tcp is open on {ip} but closed (RST) on {others_text}: the service listens over {fam} only"),
                            None,
                        )
                    } else {
                        (
                            open.severity.max(kind.rule().severity),
                            format!("{port}/tcp is open on {ip} but filtered on {}: the {fam} firewall is missing the rule the other family has", filtered.join(", ")),
                            Some(format!("The other family already filters this port; add the same rules for {fam} (with {tool}, or once for both with an nftables `inet` table).")),
                        )
                    };
                    let title = format!(
                        "Port {port} ({}) is open over {fam} only",
                        self.service_name(open.service)
                    );
                    let mut finding = raise(kind, *port, title, evidence);
                    finding.severity = severity;
                    let rem = &mut finding.remediation;
                    rem.iptables.retain(|l| l.starts_with(&format!("{tool} ")));
                    rem.notes.splice(0..0, note);
                    out(host_finding(**ip, a, Some(*port), finding));
                }
            }
        }
    }
}

/// A finding of a host rule at its default severity, with the fix the table
/// builds for `port` (0 for a rule about the whole host), before its
/// fingerprint.
fn raise(kind: RuleKind, port: u16, title: String, evidence: String) -> Finding {
    let rule = kind.rule();
    Finding {
        rule: kind.literal().into(),
        severity: rule.severity,
        title,
        evidence,
        remediation: rule.fix(port, None),
        ..Finding::default()
    }
}

/// The finding of a `--check-ssh-rate` measurement (none when it was
/// inconclusive).
fn ssh_rate_finding(ip: IpAddr, c: &SshRateCheck) -> Option<Finding> {
    let port = c.port;
    let opted = "--check-ssh-rate (opted in)";
    let lift = match c.lift {
        Some((secs, true)) => format!(
            "; after {secs} s a connect got the banner again: the block lifts within {secs} s"
        ),
        Some((secs, false)) => format!("; still blocked after {secs} s: the window is longer"),
        None => {
            "; the window was not measured (--ssh-rate-wait SECONDS waits for the block to lift)"
                .into()
        }
    };
    let (kind, title, evidence) = match c.limit {
        SshRateLimit::Inconclusive => return None,
        SshRateLimit::None => (
            RuleKind::SshNoRateLimit,
            format!("SSH on port {port} accepts new connections at any rate"),
            format!("{opted}: {} paced connects to {ip} port {port} in a row each read the SSH banner; nothing limits the connection rate", c.connects),
        ),
        SshRateLimit::Netfilter => (
            RuleKind::SshRateLimited,
            format!("SSH on port {port} is rate limited by the firewall"),
            format!("{opted}: {} to {ip} port {port} read the banner, then {} (a netfilter recent/hashlimit or ufw limit rule); the scan's own connects to the port count against the same limit{lift}", connects(c.answered), c.refusal),
        ),
        SshRateLimit::Sshd => (
            RuleKind::SshRateLimited,
            format!("SSH on port {port} is limited by sshd"),
            format!("{opted}: {} to {ip} port {port} read the banner, then {} (sshd MaxStartups or PerSourcePenalties)", connects(c.answered), c.refusal),
        ),
    };
    let mut f = raise(kind, port, title, evidence);
    if kind == RuleKind::SshRateLimited {
        f.remediation.notes.push(FAIL2BAN_UNSEEN.into());
    }
    Some(f)
}

/// `1 connect`, `3 connects`.
fn connects(n: u8) -> String {
    if n == 1 {
        "1 connect".into()
    } else {
        format!("{n} connects")
    }
}

/// What `--check-ssh-rate` cannot see, said rather than guessed.
const FAIL2BAN_UNSEEN: &str = "fail2ban-style bans on failed logins cannot be seen from outside without logging in: exposecheck never tries.";

/// `finding` about host `ip` (and `port`), with its fingerprint.
fn host_finding(ip: IpAddr, a: &Acc, port: Option<u16>, mut finding: Finding) -> Box<HostFinding> {
    finding.fingerprint = finding_key(ip, port, "host", &finding.rule);
    Box::new(HostFinding {
        ip: Some(ip),
        host: a.host.as_deref().map(str::to_owned),
        port,
        finding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Proto, Service};

    fn r(ip: &str, port: u16, state: PortState, reason: Reason) -> PortResult {
        PortResult {
            ip: ip.parse().unwrap(),
            host: Some("web1".into()),
            port,
            proto: Proto::Tcp,
            state,
            reason,
            rtt_ms: None,
            tries: 1,
            udp: None,
            service: (state == PortState::Open).then(|| Service {
                name: "redis".into(),
                ..Service::default()
            }),
            finding: (state == PortState::Open).then(|| Finding {
                severity: Severity::Critical,
                ..Finding::default()
            }),
        }
    }

    fn finished(
        h: &Hosts,
        groups: &[BTreeSet<IpAddr>],
        complete: bool,
    ) -> (Vec<HostVerdict>, Vec<HostFinding>) {
        let (mut verdicts, mut findings) = (Vec::new(), Vec::new());
        h.finish(groups, complete, false, &mut |rec| match rec {
            HostRecord::Verdict(v) => verdicts.push(v),
            HostRecord::Finding(f) => findings.push(*f),
        });
        (verdicts, findings)
    }

    #[test]
    fn hosts_past_the_cap_are_counted_not_tracked() {
        let mut h = Hosts::default();
        for i in 0..MAX_TRACKED_HOSTS as u32 + 3 {
            let ip = std::net::Ipv4Addr::from(0xC612_0000 + i).to_string();
            h.add(&r(&ip, 6379, PortState::Open, Reason::SynAck));
        }
        h.add(&r("198.18.0.1", 6380, PortState::Open, Reason::SynAck));
        assert_eq!(h.map.len(), MAX_TRACKED_HOSTS);
        assert_eq!(h.untracked(), (3, true));
        assert_eq!(h.map[&"198.18.0.1".parse().unwrap()].open.len(), 2);
        let (verdicts, _) = finished(&h, &[], true);
        assert_eq!(verdicts.len(), MAX_TRACKED_HOSTS);
    }

    #[test]
    fn open_ports_stay_sorted_and_name_their_service() {
        let mut h = Hosts::default();
        h.track("198.18.0.2".parse().unwrap());
        h.track("fd00:e0c::2".parse().unwrap());
        for p in [8080u16, 22, 6379, 22] {
            h.add(&r("198.18.0.2", p, PortState::Open, Reason::SynAck));
        }
        let ports: Vec<u16> = h.map[&"198.18.0.2".parse().unwrap()]
            .open
            .iter()
            .map(|o| o.port)
            .collect();
        assert_eq!(ports, [22, 6379, 8080]);
        h.add(&r("fd00:e0c::2", 1, PortState::Closed, Reason::ConnRefused));
        let group: BTreeSet<IpAddr> = ["198.18.0.2", "fd00:e0c::2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let (_, findings) = finished(&h, &[group], true);
        let titles: Vec<&str> = findings
            .iter()
            .filter(|f| f.finding.rule == "dual-stack-mismatch")
            .map(|f| f.finding.title.as_str())
            .collect();
        assert_eq!(titles.len(), 3);
        assert!(titles.iter().all(|t| t.contains("(redis)")), "{titles:?}");
    }

    #[test]
    fn posture_from_answers() {
        assert_eq!(posture(100, 0, 0), Firewall::None);
        assert_eq!(posture(0, 100, 0), Firewall::Drop);
        assert_eq!(posture(0, 1, 99), Firewall::Reject);
        assert_eq!(posture(50, 50, 0), Firewall::Mixed);
        assert_eq!(posture(1, 0, 0), Firewall::Unknown);
    }

    #[test]
    fn dual_stack_mismatch_found_once_on_the_open_side() {
        let mut h = Hosts::default();
        h.track("198.18.0.2".parse().unwrap());
        h.track("fd00:e0c::2".parse().unwrap());
        for p in [1u16, 2, 3] {
            h.add(&r("198.18.0.2", p, PortState::Filtered, Reason::NoResponse));
            h.add(&r("fd00:e0c::2", p, PortState::Closed, Reason::ConnRefused));
        }
        h.add(&r("198.18.0.2", 22, PortState::Open, Reason::SynAck));
        h.add(&r("fd00:e0c::2", 22, PortState::Open, Reason::SynAck));
        h.add(&r(
            "198.18.0.2",
            6379,
            PortState::Filtered,
            Reason::NoResponse,
        ));
        h.add(&r("fd00:e0c::2", 6379, PortState::Open, Reason::SynAck));
        h.add(&r("198.18.0.2", 8080, PortState::Open, Reason::SynAck));
        h.add(&r(
            "fd00:e0c::2",
            8080,
            PortState::Closed,
            Reason::ConnRefused,
        ));
        let group: BTreeSet<IpAddr> = ["198.18.0.2", "fd00:e0c::2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let (verdicts, findings) = finished(&h, std::slice::from_ref(&group), true);
        assert_eq!(verdicts.len(), 2);
        assert_eq!(verdicts[0].firewall, Firewall::Drop);
        let parity: Vec<&HostFinding> = findings
            .iter()
            .filter(|f| f.finding.rule == "dual-stack-mismatch")
            .collect();
        assert_eq!(parity.len(), 2);
        let closed_side = parity.iter().find(|f| f.port == Some(8080)).unwrap();
        assert_eq!(
            closed_side.finding.severity,
            Severity::Low,
            "closed elsewhere: no firewall hole"
        );
        let parity: Vec<&HostFinding> = parity
            .into_iter()
            .filter(|f| f.port == Some(6379))
            .collect();
        assert_eq!(parity[0].port, Some(6379));
        assert_eq!(parity[0].ip, Some("fd00:e0c::2".parse().unwrap()));
        assert_eq!(parity[0].finding.severity, Severity::Critical);
        assert!(parity[0]
            .finding
            .remediation
            .iptables
            .iter()
            .all(|l| l.starts_with("ip6tables ")));
        assert!(findings
            .iter()
            .any(|f| f.finding.rule == "no-default-deny-firewall"));
        let (_, incomplete) = finished(&h, &[group], false);
        assert!(incomplete
            .iter()
            .all(|f| f.finding.rule != "dual-stack-mismatch"));
    }

    #[test]
    fn ssh_rate_checks_become_host_findings() {
        let check = |limit, answered| SshRateCheck {
            port: 22,
            limit,
            connects: 10,
            answered,
            refusal: "connect 3 got no SYN-ACK within 300 ms".into(),
            lift: Some((60, true)),
        };
        let mut rules = Vec::new();
        for (limit, answered) in [
            (SshRateLimit::None, 10),
            (SshRateLimit::Netfilter, 2),
            (SshRateLimit::Sshd, 1),
            (SshRateLimit::Inconclusive, 0),
        ] {
            let mut h = Hosts::default();
            h.add(&r("198.18.0.5", 22, PortState::Open, Reason::SynAck));
            h.ssh_rate("198.18.0.5".parse().unwrap(), check(limit, answered));
            let (_, f) = finished(&h, &[], true);
            let ssh: Vec<&HostFinding> = f
                .iter()
                .filter(|f| f.finding.rule.starts_with("ssh-"))
                .collect();
            rules.push(
                ssh.iter()
                    .map(|f| f.finding.rule.clone())
                    .collect::<Vec<_>>(),
            );
            for f in ssh {
                assert_eq!(f.port, Some(22));
                assert!(
                    f.finding.evidence.contains("opted in"),
                    "{}",
                    f.finding.evidence
                );
                assert!(f
                    .finding
                    .remediation
                    .notes
                    .iter()
                    .any(|n| n.contains("fail2ban")));
            }
        }
        assert_eq!(
            rules,
            [
                vec!["ssh-no-rate-limit"],
                vec!["ssh-rate-limited"],
                vec!["ssh-rate-limited"],
                vec![]
            ]
        );
        let mut h = Hosts::default();
        h.add(&r("198.18.0.5", 22, PortState::Open, Reason::SynAck));
        h.ssh_rate("198.18.0.5".parse().unwrap(), check(SshRateLimit::None, 10));
        let (_, f) = finished(&h, &[], true);
        let fix = &f
            .iter()
            .find(|f| f.finding.rule == "ssh-no-rate-limit")
            .unwrap()
            .finding
            .remediation;
        assert!(fix.iptables.iter().any(|l| l.contains("--hitcount 4")));
        assert!(fix.ufw.contains(&"ufw limit 22/tcp".to_string()));
        assert!(fix
            .nftables
            .iter()
            .any(|l| l.contains("limit rate over 3/minute")));
    }

    #[test]
    fn every_port_hosts_get_one_finding() {
        let mut h = Hosts::default();
        h.add(&r("198.18.0.9", 80, PortState::Open, Reason::SynAck));
        h.mark_every_port("198.18.0.9".parse().unwrap());
        let (v, f) = finished(&h, &[], true);
        assert!(v[0].answers_every_port);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].finding.rule, "host-answers-every-port");
    }

    #[test]
    fn a_default_deny_host_with_a_port_outside_the_policy_gets_the_docker_bypass() {
        let mut h = Hosts::default();
        let ip = "198.18.0.2";
        let mut expected = r(ip, 22, PortState::Open, Reason::SynAck);
        expected.finding.as_mut().unwrap().policy = Some(PolicyStatus::Expected);
        h.add(&expected);
        h.add(&r(ip, 6379, PortState::Open, Reason::SynAck));
        for p in 1..=5 {
            h.add(&r(ip, p, PortState::Filtered, Reason::NoResponse));
        }
        let (v, f) = finished(&h, &[], true);
        assert_eq!(v[0].firewall, Firewall::Drop);
        let by: Vec<&HostFinding> = f
            .iter()
            .filter(|f| f.finding.rule == "default-deny-bypassed")
            .collect();
        assert_eq!(by.len(), 1, "22 is expected by the policy: {f:?}");
        assert_eq!(by[0].port, Some(6379));
        let fx = &by[0].finding;
        assert!(fx.evidence.contains("published with `-p` skips INPUT"));
        let rem = &fx.remediation;
        assert!(rem.iptables[0].starts_with("iptables -I DOCKER-USER -i <ext-if>"));
        assert!(rem
            .iptables
            .iter()
            .any(|l| l.contains("--ctorigdstport 6379")));
        assert!(rem
            .iptables
            .iter()
            .any(|l| l.starts_with("ip6tables -I DOCKER-USER")));
        assert!(
            rem.iptables.iter().any(|l| l.contains("INPUT")),
            "the usual fix too"
        );
        assert!(rem.nftables[0].contains("DOCKER-USER"));
        assert!(rem.ufw[0].starts_with("# ufw"));
        assert!(rem
            .docker
            .iter()
            .any(|l| l.contains("-p 127.0.0.1:6379:6379")));
        // The same ports on a host whose closed ports answer RST: no bypass.
        let mut open = Hosts::default();
        open.add(&r(ip, 6379, PortState::Open, Reason::SynAck));
        for p in 1..=5 {
            open.add(&r(ip, p, PortState::Closed, Reason::ConnRefused));
        }
        let (_, f) = finished(&open, &[], true);
        assert!(f.iter().all(|f| f.finding.rule != "default-deny-bypassed"));
    }

    #[test]
    fn without_a_policy_only_findings_above_info_are_outside_it() {
        let mut h = Hosts::default();
        let ip = "198.18.0.2";
        let mut public = r(ip, 443, PortState::Open, Reason::SynAck);
        public.finding.as_mut().unwrap().severity = Severity::Info;
        public.finding.as_mut().unwrap().policy = None;
        h.add(&public);
        for p in 1..=5 {
            h.add(&r(ip, p, PortState::Filtered, Reason::AdminProhibited));
        }
        let (v, f) = finished(&h, &[], true);
        assert_eq!(v[0].firewall, Firewall::Reject);
        assert!(f.iter().all(|f| f.finding.rule != "default-deny-bypassed"));
    }
}
