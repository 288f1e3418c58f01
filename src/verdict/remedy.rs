//! Firewall commands that close a port: iptables/ip6tables, nftables and ufw,
//! generated from the port and the service's exposure class; the
//! default-deny policy a host without a firewall lacks; and the SSH
//! connection-rate limit of the article's script.
//!
//! Localhost-only services get "loopback may connect, everyone else is
//! dropped"; internal-only services also accept a private range the user
//! fills in. Rules are inserted at fixed positions at the top of INPUT so that
//! an earlier broad ACCEPT cannot shadow them. Both address families are always
//! given: a rule set written for IPv4 only leaves the IPv6 side open.

use super::Exposure;
use crate::model::Remediation;

/// Placeholder the user replaces with their internal network.
pub const INTERNAL_RANGE: &str = "<internal-cidr>";

/// The firewall part of a remediation for `port`.
pub fn firewall(port: u16, exposure: Exposure) -> Remediation {
    let mut ipt = Vec::new();
    for tool in ["iptables", "ip6tables"] {
        let mut pos = 1;
        ipt.push(format!(
            "{tool} -I INPUT {pos} -i lo -p tcp --dport {port} -j ACCEPT"
        ));
        if exposure == Exposure::InternalOnly {
            pos += 1;
            ipt.push(format!(
                "{tool} -I INPUT {pos} -p tcp --dport {port} -s {INTERNAL_RANGE} -j ACCEPT"
            ));
        }
        pos += 1;
        ipt.push(format!(
            "{tool} -I INPUT {pos} -p tcp --dport {port} -j DROP"
        ));
    }
    let mut nft = vec![format!(
        "nft insert rule inet filter input tcp dport {port} drop"
    )];
    if exposure == Exposure::InternalOnly {
        nft.push(format!(
            "nft insert rule inet filter input ip saddr {INTERNAL_RANGE} tcp dport {port} accept"
        ));
    }
    nft.push(format!(
        "nft insert rule inet filter input iif lo tcp dport {port} accept"
    ));
    let mut ufw = Vec::new();
    if exposure == Exposure::InternalOnly {
        ufw.push(format!(
            "ufw allow from {INTERNAL_RANGE} to any port {port} proto tcp"
        ));
    }
    ufw.push(format!("ufw deny {port}/tcp"));
    Remediation {
        config: Vec::new(),
        iptables: ipt,
        nftables: nft,
        ufw,
        notes: vec![
            "The `inet` nftables family covers IPv4 and IPv6 at once; with iptables, apply the ip6tables lines too.".into(),
            "Ports published by Docker (`-p`) bypass INPUT and ufw: publish on 127.0.0.1 (`-p 127.0.0.1:PORT:PORT`) or filter in the DOCKER-USER chain.".into(),
        ],
    }
}

/// The firewall part of a remediation for a UDP port: [`firewall`]'s rules
/// with the protocol swapped.
pub fn firewall_udp(port: u16, exposure: Exposure) -> Remediation {
    let mut r = firewall(port, exposure);
    let udp = |l: &String| {
        l.replace("-p tcp", "-p udp")
            .replace("tcp dport", "udp dport")
            .replace("proto tcp", "proto udp")
            .replace(&format!("{port}/tcp"), &format!("{port}/udp"))
    };
    for lines in [&mut r.iptables, &mut r.nftables, &mut r.ufw, &mut r.notes] {
        *lines = lines.iter().map(udp).collect();
    }
    r
}

/// A default-deny input policy, for a host whose closed ports all answer RST.
pub fn default_deny() -> Remediation {
    Remediation {
        iptables: vec![
            "iptables -A INPUT -i lo -j ACCEPT".into(),
            "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT".into(),
            "iptables -A INPUT -p tcp --dport 22 -j ACCEPT   # and each port that must be public"
                .into(),
            "iptables -P INPUT DROP".into(),
            "ip6tables: the same four lines".into(),
        ],
        nftables: vec![
            "nft add chain inet filter input '{ type filter hook input priority 0; policy drop; }'"
                .into(),
        ],
        ufw: vec!["ufw default deny incoming".into(), "ufw enable".into()],
        ..Remediation::default()
    }
}

/// New SSH connections admitted per source in [`SSH_RATE_SECONDS`]: the
/// article's `--hitcount 4` drops the fourth.
pub const SSH_RATE_HITS: u32 = 4;

/// The window of the SSH rate limit, in seconds.
pub const SSH_RATE_SECONDS: u32 = 60;

/// The SSH connection-rate limit for `port` (the article's `recent` rules),
/// inserted above the port's ACCEPT, in each family.
pub fn ssh_rate_limit(port: u16) -> Remediation {
    let (hits, secs) = (SSH_RATE_HITS, SSH_RATE_SECONDS);
    let mut ipt = Vec::new();
    for tool in ["iptables", "ip6tables"] {
        ipt.push(format!("{tool} -I INPUT 1 -p tcp --dport {port} -m conntrack --ctstate NEW -m recent --set --name SSH"));
        ipt.push(format!("{tool} -I INPUT 2 -p tcp --dport {port} -m conntrack --ctstate NEW -m recent --update --seconds {secs} --hitcount {hits} --name SSH -j DROP"));
    }
    Remediation {
        iptables: ipt,
        nftables: vec![
            format!("nft add set inet filter ssh_meter4 '{{ type ipv4_addr; flags dynamic; timeout {secs}s; }}'"),
            format!("nft add set inet filter ssh_meter6 '{{ type ipv6_addr; flags dynamic; timeout {secs}s; }}'"),
            format!("nft insert rule inet filter input tcp dport {port} ct state new add @ssh_meter4 '{{ ip saddr limit rate over {}/minute burst {} packets }}' drop", hits - 1, hits - 1),
            format!("nft insert rule inet filter input tcp dport {port} ct state new add @ssh_meter6 '{{ ip6 saddr limit rate over {}/minute burst {} packets }}' drop", hits - 1, hits - 1),
        ],
        ufw: vec![format!("ufw limit {port}/tcp")],
        notes: vec![
            format!("At most {} new connections per source address in {secs} s; established sessions are not affected.", hits - 1),
            "fail2ban-style bans on failed logins cannot be seen from outside without logging in: exposecheck never tries, so their absence is not reported.".into(),
        ],
        ..Remediation::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_only_rules_are_loopback_then_drop_for_both_families() {
        let r = firewall(6379, Exposure::LocalhostOnly);
        assert_eq!(
            r.iptables,
            vec![
                "iptables -I INPUT 1 -i lo -p tcp --dport 6379 -j ACCEPT",
                "iptables -I INPUT 2 -p tcp --dport 6379 -j DROP",
                "ip6tables -I INPUT 1 -i lo -p tcp --dport 6379 -j ACCEPT",
                "ip6tables -I INPUT 2 -p tcp --dport 6379 -j DROP",
            ]
        );
        assert_eq!(r.ufw, vec!["ufw deny 6379/tcp"]);
        assert!(r.nftables.iter().all(|l| l.contains("inet filter")));
    }

    #[test]
    fn internal_only_admits_a_range() {
        let r = firewall(2181, Exposure::InternalOnly);
        assert!(r.iptables[1].contains(INTERNAL_RANGE));
        assert_eq!(r.iptables.len(), 6);
        assert!(r.ufw[0].starts_with("ufw allow from"));
    }
}
