//! Host-level verdicts: the firewall posture a host shows (RST vs silence vs
//! ICMP), hosts that answer on every port, and IPv4/IPv6 parity — a port open
//! over one family and closed or filtered over the other is the classic
//! "iptables written, ip6tables forgotten" hole.

use super::{fingerprint, remedy, Exposure};
use crate::model::{
    Finding, Firewall, HostFinding, HostVerdict, PortResult, PortState, Reason, Remediation,
    Severity,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Hosts remembered individually; past this, hosts with no open port are only
/// counted globally, so memory stays flat on huge sweeps.
pub const MAX_TRACKED_HOSTS: usize = 65_536;

/// What is kept about an open port for the host-level checks.
#[derive(Debug, Clone)]
struct OpenPort {
    service: String,
    severity: Severity,
    expected: bool,
}

#[derive(Default, Debug)]
struct Acc {
    host: Option<String>,
    open: BTreeMap<u16, OpenPort>,
    closed: u64,
    dropped: u64,
    rejected: u64,
    every_port: bool,
    /// Filtered ports, one bit per port: kept only for addresses that may be
    /// one side of a dual-stack host (named targets, given pairs).
    filtered: Option<Box<[u64; 1024]>>,
}

impl Acc {
    fn is_filtered(&self, port: u16) -> bool {
        self.filtered
            .as_ref()
            .is_some_and(|b| b[port as usize / 64] & (1 << (port % 64)) != 0)
    }
}

/// Collects per-host facts as results stream in.
#[derive(Default, Debug)]
pub struct Hosts {
    map: HashMap<IpAddr, Acc>,
}

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
        if !self.map.contains_key(&r.ip)
            && self.map.len() >= MAX_TRACKED_HOSTS
            && r.state != PortState::Open
        {
            return;
        }
        let acc = self.map.entry(r.ip).or_default();
        if acc.host.is_none() {
            acc.host = r.host.clone();
        }
        match (r.state, r.reason) {
            (PortState::Open, _) => {
                let port = OpenPort {
                    service: r
                        .service
                        .as_ref()
                        .map_or_else(|| "unknown".to_string(), |s| s.name.clone()),
                    severity: r.finding.as_ref().map_or(Severity::Low, |f| f.severity),
                    expected: r
                        .finding
                        .as_ref()
                        .is_some_and(|f| f.policy.as_deref() == Some("expected")),
                };
                acc.open.insert(r.port, port);
            }
            (PortState::Closed, _) => acc.closed += 1,
            (PortState::Filtered, reason) => {
                if reason == Reason::NoResponse {
                    acc.dropped += 1;
                } else {
                    acc.rejected += 1;
                }
                if let Some(bits) = acc.filtered.as_mut() {
                    bits[r.port as usize / 64] |= 1 << (r.port % 64);
                }
            }
        }
    }

    /// Adds the non-open counts of a host verdict written by a shard.
    pub fn add_counts(&mut self, v: &HostVerdict) {
        let acc = self.map.entry(v.ip).or_default();
        if acc.host.is_none() {
            acc.host = v.host.clone();
        }
        acc.closed += v.closed;
        acc.rejected += v.rejected;
        acc.dropped += v.filtered.saturating_sub(v.rejected);
        acc.every_port |= v.answers_every_port;
    }

    /// Records that `ip` answered on random canary ports.
    pub fn mark_every_port(&mut self, ip: IpAddr) {
        self.map.entry(ip).or_default().every_port = true;
    }

    /// Host verdicts (hosts with an open port) and host findings: firewall
    /// posture, every-port answerers, and dual-stack mismatches within `groups`
    /// (sets of addresses known to be one host). `complete` is false after an
    /// interruption, when a missing open port proves nothing. With `all_hosts`
    /// (shards, whose hosts' open ports may sit in another shard) every host
    /// that answered gets a verdict.
    pub fn finish(
        &self,
        groups: &[BTreeSet<IpAddr>],
        complete: bool,
        all_hosts: bool,
    ) -> (Vec<HostVerdict>, Vec<HostFinding>) {
        let mut verdicts = Vec::new();
        let mut findings = Vec::new();
        let mut ips: Vec<&IpAddr> = self.map.keys().collect();
        ips.sort();
        for ip in ips {
            let a = &self.map[ip];
            if a.open.is_empty()
                && !a.every_port
                && !(all_hosts && a.closed + a.dropped + a.rejected > 0)
            {
                continue;
            }
            let fw = posture(a.closed, a.dropped, a.rejected);
            verdicts.push(HostVerdict {
                ip: *ip,
                host: a.host.clone(),
                open: a.open.len() as u64,
                closed: a.closed,
                filtered: a.dropped + a.rejected,
                rejected: a.rejected,
                firewall: fw,
                answers_every_port: a.every_port,
            });
            if a.every_port {
                findings.push(host_finding(
                    *ip,
                    a,
                    None,
                    "host-answers-every-port",
                    Severity::Medium,
                    "Host accepts connections on every port".into(),
                    format!("{ip} accepted connections on random unused high ports; its open ports prove nothing (tarpit, SYN proxy or port-forwarding middlebox)"),
                    Remediation::default(),
                ));
            } else if fw == Firewall::None && !a.open.is_empty() {
                findings.push(host_finding(
                    *ip,
                    a,
                    None,
                    "no-default-deny-firewall",
                    Severity::Low,
                    "Host has no default-deny firewall".into(),
                    format!("{ip}: {} closed ports answered with RST and none was filtered; any service that starts listening is exposed at once", a.closed),
                    Remediation {
                        iptables: vec![
                            "iptables -A INPUT -i lo -j ACCEPT".into(),
                            "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT".into(),
                            "iptables -A INPUT -p tcp --dport 22 -j ACCEPT   # and each port that must be public".into(),
                            "iptables -P INPUT DROP".into(),
                            "ip6tables: the same four lines".into(),
                        ],
                        nftables: vec!["nft add chain inet filter input '{ type filter hook input priority 0; policy drop; }'".into()],
                        ufw: vec!["ufw default deny incoming".into(), "ufw enable".into()],
                        ..Remediation::default()
                    },
                ));
            }
        }
        if complete {
            for g in groups {
                self.parity(g, &mut findings);
            }
        }
        (verdicts, findings)
    }

    fn parity(&self, group: &BTreeSet<IpAddr>, out: &mut Vec<HostFinding>) {
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
                for (port, open) in &a.open {
                    if open.expected {
                        continue;
                    }
                    let others: Vec<&Acc> = other_side.iter().map(|o| &self.map[*o]).collect();
                    if others
                        .iter()
                        .any(|o| o.open.contains_key(port) || o.every_port)
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
                    let mut rem = remedy::firewall(*port, Exposure::LocalhostOnly);
                    rem.iptables.retain(|l| l.starts_with(&format!("{tool} ")));
                    let others_text = other_side
                        .iter()
                        .map(|o| o.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    // Filtered on the other family: a firewall rule exists there
                    // and is missing here — the classic forgotten ip6tables.
                    // Closed there: the service simply does not listen on that
                    // family; still worth knowing, but no firewall hole.
                    let (severity, evidence) = if filtered.is_empty() {
                        (
                            Severity::Low,
                            format!("{port}/tcp is open on {ip} but closed (RST) on {others_text}: the service listens over {fam} only"),
                        )
                    } else {
                        rem.notes.insert(
                            0,
                            format!("The other family already filters this port; add the same rules for {fam} (with {tool}, or once for both with an nftables `inet` table)."),
                        );
                        (
                            open.severity.max(Severity::Medium),
                            format!("{port}/tcp is open on {ip} but filtered on {}: the {fam} firewall is missing the rule the other family has", filtered.join(", ")),
                        )
                    };
                    out.push(host_finding(
                        **ip,
                        a,
                        Some(*port),
                        "dual-stack-mismatch",
                        severity,
                        format!("Port {port} ({}) is open over {fam} only", open.service),
                        evidence,
                        rem,
                    ));
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn host_finding(
    ip: IpAddr,
    a: &Acc,
    port: Option<u16>,
    rule: &str,
    severity: Severity,
    title: String,
    evidence: String,
    remediation: Remediation,
) -> HostFinding {
    HostFinding {
        ip: Some(ip),
        host: a.host.clone(),
        port,
        finding: Finding {
            rule: rule.into(),
            severity,
            title,
            evidence,
            fingerprint: fingerprint(ip, port, "host", rule),
            remediation,
            ..Finding::default()
        },
    }
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
        let (verdicts, findings) = h.finish(std::slice::from_ref(&group), true, false);
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
        let (_, incomplete) = h.finish(&[group], false, false);
        assert!(incomplete
            .iter()
            .all(|f| f.finding.rule != "dual-stack-mismatch"));
    }

    #[test]
    fn every_port_hosts_get_one_finding() {
        let mut h = Hosts::default();
        h.add(&r("198.18.0.9", 80, PortState::Open, Reason::SynAck));
        h.mark_every_port("198.18.0.9".parse().unwrap());
        let (v, f) = h.finish(&[], true, false);
        assert!(v[0].answers_every_port);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].finding.rule, "host-answers-every-port");
    }
}
