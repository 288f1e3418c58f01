//! Firewall commands that close a port: iptables/ip6tables, nftables and ufw,
//! generated from the port and the service's exposure class; the same for a
//! port Docker publishes (`DOCKER-USER`, `-p 127.0.0.1:PORT:PORT`); the
//! default-deny policy a host without a firewall lacks; and the SSH
//! connection-rate limit of the article's script.
//!
//! Localhost-only services get "loopback may connect, everyone else is
//! dropped"; internal-only services also accept a private range the user
//! fills in. Rules are inserted at fixed positions at the top of INPUT so that
//! an earlier broad ACCEPT cannot shadow them. Both address families are always
//! given: a rule set written for IPv4 only leaves the IPv6 side open.
//!
//! A container port published with `-p` never reaches INPUT: Docker DNATs it
//! in PREROUTING and accepts it in FORWARD, so every port fix also carries
//! the Docker variant ([`docker`]).

use super::Exposure;
use crate::model::Remediation;

/// Placeholder the user replaces with their internal network.
pub const INTERNAL_RANGE: &str = "<internal-cidr>";

/// Placeholder the user replaces with the host's external interface.
pub const EXTERNAL_IF: &str = "<ext-if>";

/// The note every port fix carries about Docker.
pub const DOCKER_NOTE: &str = "A port Docker publishes (`-p`) skips INPUT and ufw: Docker DNATs it in PREROUTING and accepts it in FORWARD. The `docker` lines filter it in the DOCKER-USER chain (replace <ext-if> with the external interface) or publish it on loopback only.";

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
        docker: docker(port, exposure),
        notes: vec![
            "The `inet` nftables family covers IPv4 and IPv6 at once; with iptables, apply the ip6tables lines too.".into(),
            DOCKER_NOTE.into(),
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
            .replace("l4proto tcp", "l4proto udp")
            .replace(&format!(":{port}:{port} "), &format!(":{port}:{port}/udp "))
    };
    for lines in [
        &mut r.iptables,
        &mut r.nftables,
        &mut r.ufw,
        &mut r.notes,
        &mut r.docker,
    ] {
        *lines = lines.iter().map(udp).collect();
    }
    r
}

/// The Docker variant of a port fix: publish on loopback only, or drop the
/// port in `DOCKER-USER` for both families (by the container port, and by the
/// published port through conntrack when the two differ), in iptables and
/// nftables (iptables-nft keeps the chain in the `ip`/`ip6` `filter` tables);
/// ufw does not see these ports at all.
pub fn docker(port: u16, exposure: Exposure) -> Vec<String> {
    let unless = if exposure == Exposure::InternalOnly {
        format!(" ! -s {INTERNAL_RANGE}")
    } else {
        String::new()
    };
    let mut out = vec![format!(
        "docker run -p 127.0.0.1:{port}:{port} ...   # publish on loopback only (compose: \"127.0.0.1:{port}:{port}\"; IPv6: -p [::1]:{port}:{port})"
    )];
    for tool in ["iptables", "ip6tables"] {
        out.push(format!(
            "{tool} -I DOCKER-USER -i {EXTERNAL_IF}{unless} -p tcp --dport {port} -j DROP"
        ));
    }
    for tool in ["iptables", "ip6tables"] {
        out.push(format!(
            "{tool} -I DOCKER-USER -i {EXTERNAL_IF}{unless} -p tcp -m conntrack --ctorigdstport {port} --ctdir ORIGINAL -j DROP   # published as -p {port}:<container-port>"
        ));
    }
    let nft_unless = |fam: &str| {
        if exposure == Exposure::InternalOnly {
            format!(" {fam} saddr != {INTERNAL_RANGE}")
        } else {
            String::new()
        }
    };
    for (table, fam) in [("ip", "ip"), ("ip6", "ip6")] {
        out.push(format!(
            "nft insert rule {table} filter DOCKER-USER iifname \"{EXTERNAL_IF}\"{} meta l4proto tcp ct original proto-dst {port} drop",
            nft_unless(fam)
        ));
    }
    out[5].push_str("   # where iptables-nft manages these tables, use the iptables lines");
    out.push(format!(
        "# ufw: its rules sit in INPUT and never see port {port} when Docker publishes it; use the DOCKER-USER rules above"
    ));
    out
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
    fn every_port_fix_carries_the_docker_variant() {
        let r = firewall(6379, Exposure::LocalhostOnly);
        assert!(r.notes.iter().any(|n| n == DOCKER_NOTE));
        assert_eq!(
            r.docker[1..5],
            [
                "iptables -I DOCKER-USER -i <ext-if> -p tcp --dport 6379 -j DROP",
                "ip6tables -I DOCKER-USER -i <ext-if> -p tcp --dport 6379 -j DROP",
                "iptables -I DOCKER-USER -i <ext-if> -p tcp -m conntrack --ctorigdstport 6379 --ctdir ORIGINAL -j DROP   # published as -p 6379:<container-port>",
                "ip6tables -I DOCKER-USER -i <ext-if> -p tcp -m conntrack --ctorigdstport 6379 --ctdir ORIGINAL -j DROP   # published as -p 6379:<container-port>",
            ]
        );
        assert!(r.docker[0].starts_with("docker run -p 127.0.0.1:6379:6379 "));
        assert!(r.docker[5].starts_with("nft insert rule ip filter DOCKER-USER"));
        assert!(r.docker[6].starts_with("nft insert rule ip6 filter DOCKER-USER"));
        let internal = docker(2181, Exposure::InternalOnly);
        assert!(internal[1].contains(&format!("! -s {INTERNAL_RANGE} -p tcp --dport 2181")));
        assert!(internal[6].contains(&format!("ip6 saddr != {INTERNAL_RANGE}")));
    }

    #[test]
    fn internal_only_admits_a_range() {
        let r = firewall(2181, Exposure::InternalOnly);
        assert!(r.iptables[1].contains(INTERNAL_RANGE));
        assert_eq!(r.iptables.len(), 6);
        assert!(r.ufw[0].starts_with("ufw allow from"));
    }
}
