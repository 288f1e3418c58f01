//! `exposecheck fix`: one complete hardening script per host, in the shape
//! of the article's firewall — `ESTABLISHED,RELATED`, loopback, ping (and the
//! ICMPv6 types IPv6 cannot work without), SSH first with its rate limit, the
//! allowed ports, a LOG rule, then DROP — for IPv4 and IPv6 both, in
//! iptables, nftables or ufw. Pure text from a host's open ports.
//!
//! Which ports stay open ([`choose`]): with a policy in force, the open
//! ports the policy expects (an unexpired entry for that host and port);
//! without one, the open ports among 22, 80 and 443, and any port identified
//! as SSH (so that the admin is never locked out). Every other open port is
//! closed to all but loopback; a port that was not open stays closed.
//!
//! The script never drops the connection it runs over: the whole rule set
//! is one atomic apply (`iptables-restore`, `nft -f`; with ufw, every rule is
//! written before `ufw enable` loads them at once), so `ESTABLISHED,RELATED`
//! and the SSH accept are in force the moment the policy becomes DROP. Before
//! it applies, it saves the current rules and schedules their restoration
//! with `at now + 5 minutes` (the reset guard, unless `--no-reset-guard`):
//! `sh SCRIPT confirm` cancels the reset and makes the rules persistent
//! (`netfilter-persistent save`, `/etc/nftables.conf`, ufw's own).

use super::remedy::{SSH_RATE_HITS, SSH_RATE_SECONDS};
use crate::model::FirewallTool;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Ports kept open without a policy, when they were seen open.
pub const DEFAULT_ALLOWED: [u16; 3] = [22, 80, 443];

/// Where the script keeps the rules it replaced (`EXPOSECHECK_STATE`
/// overrides it).
pub const STATE_DIR: &str = "/var/lib/exposecheck";

/// One open port of a host, as the scan saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenPort {
    /// The port.
    pub port: u16,
    /// The identified service id, if any.
    pub service: Option<String>,
    /// The policy expects it.
    pub expected: bool,
}

impl OpenPort {
    fn is_ssh(&self) -> bool {
        match &self.service {
            Some(s) => s == "ssh",
            None => self.port == 22,
        }
    }

    /// `22/tcp (ssh)`, safe inside a comment.
    fn label(&self) -> String {
        match &self.service {
            Some(s) => format!("{}/tcp ({})", self.port, safe(s)),
            None => format!("{}/tcp", self.port),
        }
    }
}

/// One host's open ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// The address scanned.
    pub ip: IpAddr,
    /// The name it was reached through.
    pub name: Option<String>,
    /// Its open ports.
    pub open: Vec<OpenPort>,
}

/// How the script is written.
#[derive(Clone, Debug)]
pub struct Options {
    /// The firewall family.
    pub family: FirewallTool,
    /// Arm the `at now + 5 minutes` reset before applying.
    pub reset_guard: bool,
    /// A policy is in force (it decides which ports stay open).
    pub policy: bool,
    /// Where the ports come from (a report file, or the targets scanned).
    pub source: String,
}

/// Which open ports stay open and which are closed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Choice {
    /// Kept open, SSH first, then by port.
    pub allowed: Vec<OpenPort>,
    /// Closed to all but loopback.
    pub closed: Vec<OpenPort>,
}

impl Choice {
    /// The SSH ports kept open (they get the rate limit).
    pub fn ssh_ports(&self) -> Vec<u16> {
        self.allowed
            .iter()
            .filter(|p| p.is_ssh())
            .map(|p| p.port)
            .collect()
    }

    fn ports(&self) -> Vec<u16> {
        self.allowed.iter().map(|p| p.port).collect()
    }
}

/// Splits `host`'s open ports into kept and closed (see the module docs).
pub fn choose(host: &Host, policy: bool) -> Choice {
    let mut c = Choice::default();
    for p in &host.open {
        let keep = if policy {
            p.expected
        } else {
            DEFAULT_ALLOWED.contains(&p.port) || p.is_ssh()
        };
        if keep {
            c.allowed.push(p.clone());
        } else {
            c.closed.push(p.clone());
        }
    }
    c.allowed.sort_by_key(|p| (!p.is_ssh(), p.port));
    c.closed.sort_by_key(|p| p.port);
    c.allowed.dedup_by_key(|p| p.port);
    c
}

/// Keeps what is safe in a shell comment: letters, digits, `.`, `-`, `_`,
/// `:`.
fn safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        .take(64)
        .collect()
}

/// The file name of a host's script: `harden-<address>.<family>.sh`.
pub fn file_name(ip: IpAddr, family: FirewallTool) -> String {
    let addr = ip.to_string().replace(':', "_");
    format!("harden-{addr}.{}.sh", family.as_str())
}

/// The whole script for `host`.
pub fn script(host: &Host, o: &Options) -> String {
    let choice = choose(host, o.policy);
    let mut s = header(host, o, &choice);
    match o.family {
        FirewallTool::Iptables => iptables(&mut s, &choice),
        FirewallTool::Nftables => nftables(&mut s, &choice),
        FirewallTool::Ufw => ufw(&mut s, &choice),
    }
    s += &main_part(o);
    s
}

/// The comment block and the common shell functions.
fn header(host: &Host, o: &Options, c: &Choice) -> String {
    let mut s = String::from("#!/bin/sh\n");
    let name = host
        .name
        .as_deref()
        .map(|n| format!(" ({})", safe(n)))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "# Hardening script for {}{name}, {}, written by exposecheck {} from {}.",
        host.ip,
        o.family.as_str(),
        env!("CARGO_PKG_VERSION"),
        safe_source(&o.source)
    );
    let rule = if o.policy {
        "the open ports the policy expects"
    } else {
        "no policy: the open ports among 22, 80, 443 and any SSH port"
    };
    let _ = writeln!(s, "# Kept open ({rule}):");
    list(&mut s, &c.allowed);
    s += "# Closed to everyone but loopback (seen open, not kept):\n";
    list(&mut s, &c.closed);
    if c.ssh_ports().is_empty() {
        s += "# WARNING: no SSH port is kept open: new SSH sessions will be refused.\n";
    }
    let _ = writeln!(
        s,
        "# IPv4 and IPv6 both. SSH: at most {} new connections per source in {SSH_RATE_SECONDS} s.",
        SSH_RATE_HITS - 1
    );
    s +=
        "#\n# sh THIS_SCRIPT          apply (one atomic step: the session it runs over survives)\n";
    if o.reset_guard {
        s += "#                         and restore the previous rules in 5 minutes (at)\n";
        s += "# sh THIS_SCRIPT confirm  cancel that reset and make the rules persistent\n";
    } else {
        s += "#                         (written with --no-reset-guard: no automatic reset)\n";
        s += "# sh THIS_SCRIPT confirm  make the rules persistent\n";
    }
    let _ = writeln!(
        s,
        "set -eu\nSTATE=\"${{EXPOSECHECK_STATE:-{STATE_DIR}}}\"\n"
    );
    s
}

fn list(s: &mut String, ports: &[OpenPort]) {
    if ports.is_empty() {
        *s += "#   (none)\n";
    }
    for p in ports {
        let _ = writeln!(s, "#   {}", p.label());
    }
}

/// The source as a comment: file names and targets, without control
/// characters.
fn safe_source(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// The part every family shares: the guard, apply, confirm.
fn main_part(o: &Options) -> String {
    let mut s = String::new();
    if o.reset_guard {
        s += r#"
arm_guard() {
    if ! command -v at >/dev/null 2>&1; then
        echo "exposecheck: 'at' is not installed (apt-get install at), so no reset can be armed; nothing was changed" >&2
        echo "exposecheck: install it, or write the script with --no-reset-guard" >&2
        exit 1
    fi
    mkdir -p "$STATE"
    save_previous
    job=$(printf '%s\n' "$(restore_command)" | at now + 5 minutes 2>&1 | sed -n 's/^job \([0-9]*\) .*/\1/p')
    [ -n "$job" ] || { echo "exposecheck: at did not take the reset job; nothing was changed" >&2; exit 1; }
    echo "$job" > "$STATE/guard-job"
    echo "exposecheck: the previous rules come back in 5 minutes (at job $job) unless you run: sh $0 confirm"
}

disarm_guard() {
    if [ -f "$STATE/guard-job" ]; then
        atrm "$(cat "$STATE/guard-job")" 2>/dev/null || true
        rm -f "$STATE/guard-job"
        echo "exposecheck: reset cancelled"
    fi
}
"#;
    }
    let (arm, disarm) = if o.reset_guard {
        ("    arm_guard\n", "    disarm_guard\n")
    } else {
        ("", "")
    };
    let _ = write!(
        s,
        r#"
case "${{1:-apply}}" in
apply)
{arm}    apply
    echo "exposecheck: applied; check from a second session that you can still log in"
    ;;
confirm)
{disarm}    persist
    ;;
*)
    echo "usage: sh $0 [apply|confirm]" >&2
    exit 2
    ;;
esac
"#
    );
    s
}

/// The ICMPv6 types IPv6 needs (RFC 4890): errors, echo, and neighbour and
/// router discovery.
const ICMPV6: [&str; 9] = [
    "destination-unreachable",
    "packet-too-big",
    "time-exceeded",
    "parameter-problem",
    "echo-request",
    "router-solicitation",
    "router-advertisement",
    "neighbour-solicitation",
    "neighbour-advertisement",
];

/// [`ICMPV6`] in nftables' names.
const NFT_ICMPV6: [&str; 9] = [
    "destination-unreachable",
    "packet-too-big",
    "time-exceeded",
    "parameter-problem",
    "echo-request",
    "nd-router-solicit",
    "nd-router-advert",
    "nd-neighbor-solicit",
    "nd-neighbor-advert",
];

/// The prefix of the LOG rule.
const LOG_PREFIX: &str = "exposecheck-drop: ";

/// `iptables-restore` input for one family.
fn restore_input(s: &mut String, c: &Choice, v6: bool) {
    *s += "*filter\n:INPUT DROP [0:0]\n-F INPUT\n";
    *s +=
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -i lo -j ACCEPT\n";
    if v6 {
        for t in ICMPV6 {
            let _ = writeln!(s, "-A INPUT -p ipv6-icmp --icmpv6-type {t} -j ACCEPT");
        }
    } else {
        *s += "-A INPUT -p icmp --icmp-type echo-request -j ACCEPT\n";
    }
    for p in c.ssh_ports() {
        let _ = writeln!(
            s,
            "-A INPUT -p tcp --dport {p} -m conntrack --ctstate NEW -m recent --set --name SSH"
        );
        let _ = writeln!(s, "-A INPUT -p tcp --dport {p} -m conntrack --ctstate NEW -m recent --update --seconds {SSH_RATE_SECONDS} --hitcount {SSH_RATE_HITS} --name SSH -j DROP");
    }
    for p in c.ports() {
        let _ = writeln!(s, "-A INPUT -p tcp --dport {p} -j ACCEPT");
    }
    let _ = writeln!(
        s,
        "-A INPUT -m limit --limit 5/min -j LOG --log-prefix \"{LOG_PREFIX}\"\nCOMMIT"
    );
}

fn iptables(s: &mut String, c: &Choice) {
    for (tool, v6) in [("v4", false), ("v6", true)] {
        let _ = writeln!(s, "rules_{tool}() {{\ncat <<'EOF'");
        restore_input(s, c, v6);
        *s += "EOF\n}\n\n";
    }
    *s += r#"save_previous() {
    iptables-save > "$STATE/before.v4"
    ip6tables-save > "$STATE/before.v6"
}

restore_command() {
    echo "iptables-restore < $STATE/before.v4; ip6tables-restore < $STATE/before.v6"
}

# --noflush keeps the other chains (Docker's among them); INPUT is replaced
# in one commit per family.
apply() {
    rules_v4 | iptables-restore --noflush
    rules_v6 | ip6tables-restore --noflush
}

persist() {
    if command -v netfilter-persistent >/dev/null 2>&1; then
        netfilter-persistent save
    else
        mkdir -p /etc/iptables
        iptables-save > /etc/iptables/rules.v4
        ip6tables-save > /etc/iptables/rules.v6
        echo "exposecheck: saved to /etc/iptables/rules.v4 and rules.v6; install iptables-persistent to load them at boot"
    fi
}
"#;
}

fn nftables(s: &mut String, c: &Choice) {
    let burst = SSH_RATE_HITS - 1;
    *s += "rules() {\ncat <<'EOF'\ntable inet exposecheck\ndelete table inet exposecheck\ntable inet exposecheck {\n";
    let _ = writeln!(
        s,
        "    set ssh_meter4 {{ type ipv4_addr; flags dynamic; timeout {SSH_RATE_SECONDS}s; }}"
    );
    let _ = writeln!(
        s,
        "    set ssh_meter6 {{ type ipv6_addr; flags dynamic; timeout {SSH_RATE_SECONDS}s; }}"
    );
    *s += "    chain input {\n        type filter hook input priority filter; policy drop;\n";
    *s += "        ct state established,related accept\n        iif lo accept\n";
    *s += "        ip protocol icmp icmp type echo-request accept\n";
    let _ = writeln!(
        s,
        "        meta l4proto ipv6-icmp icmpv6 type {{ {} }} accept",
        NFT_ICMPV6.join(", ")
    );
    for p in c.ssh_ports() {
        for (set, key) in [("ssh_meter4", "ip saddr"), ("ssh_meter6", "ip6 saddr")] {
            let _ = writeln!(s, "        tcp dport {p} ct state new update @{set} {{ {key} limit rate over {burst}/minute burst {burst} packets }} drop");
        }
    }
    let ports: Vec<String> = c.ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        let _ = writeln!(s, "        tcp dport {{ {} }} accept", ports.join(", "));
    }
    let _ = writeln!(
        s,
        "        limit rate 5/minute log prefix \"{LOG_PREFIX}\"\n    }}\n}}\nEOF\n}}\n"
    );
    *s += r#"save_previous() {
    nft list ruleset > "$STATE/before.nft"
}

restore_command() {
    echo "nft flush ruleset; nft -f $STATE/before.nft"
}

# One nft -f transaction: the table is replaced whole, or not at all.
apply() {
    rules | nft -f -
}

persist() {
    rules > /etc/nftables.exposecheck.nft
    touch /etc/nftables.conf
    grep -q 'include "/etc/nftables.exposecheck.nft"' /etc/nftables.conf ||
        echo 'include "/etc/nftables.exposecheck.nft"' >> /etc/nftables.conf
    if command -v systemctl >/dev/null 2>&1; then systemctl enable nftables; fi
    echo "exposecheck: /etc/nftables.conf includes /etc/nftables.exposecheck.nft"
}
"#;
}

fn ufw(s: &mut String, c: &Choice) {
    *s += "# ufw's before.rules and before6.rules already accept ESTABLISHED,RELATED,\n# loopback, ping and the ICMPv6 types IPv6 needs.\napply() {\n";
    *s += "    grep -qi '^IPV6=yes' /etc/default/ufw || echo \"exposecheck: warning: IPV6=yes is not set in /etc/default/ufw: IPv6 stays unfiltered\" >&2\n";
    let ssh = c.ssh_ports();
    for p in &c.allowed {
        let verb = if ssh.contains(&p.port) {
            "limit"
        } else {
            "allow"
        };
        let _ = writeln!(s, "    ufw {verb} {}/tcp", p.port);
    }
    for p in &c.closed {
        let _ = writeln!(
            s,
            "    ufw delete allow {}/tcp >/dev/null 2>&1 || true",
            p.port
        );
    }
    *s += "    ufw logging low\n    ufw default deny incoming\n    ufw --force enable\n}\n\n";
    *s += r#"save_previous() {
    rm -rf "$STATE/ufw.before"
    cp -a /etc/ufw "$STATE/ufw.before"
    if ufw status | grep -q '^Status: active'; then echo active; else echo inactive; fi > "$STATE/ufw.was"
}

restore_command() {
    echo "rm -rf /etc/ufw && cp -a $STATE/ufw.before /etc/ufw && if grep -q active $STATE/ufw.was && ! grep -q inactive $STATE/ufw.was; then ufw reload; else ufw --force disable; fi"
}

persist() {
    echo "exposecheck: ufw keeps its rules across reboots once enabled"
}
"#;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(port: u16, service: &str, expected: bool) -> OpenPort {
        OpenPort {
            port,
            service: Some(service.into()),
            expected,
        }
    }

    fn host() -> Host {
        Host {
            ip: "198.18.0.2".parse().unwrap(),
            name: None,
            open: vec![
                port(80, "http", false),
                port(3306, "mysql", false),
                port(22, "ssh", true),
                port(6379, "redis", true),
                port(2222, "ssh", false),
            ],
        }
    }

    fn opts(family: FirewallTool, policy: bool) -> Options {
        Options {
            family,
            reset_guard: true,
            policy,
            source: "report.json".into(),
        }
    }

    #[test]
    fn without_a_policy_only_22_80_443_and_ssh_stay_open() {
        let c = choose(&host(), false);
        let kept: Vec<u16> = c.allowed.iter().map(|p| p.port).collect();
        assert_eq!(kept, [22, 2222, 80], "SSH first");
        let closed: Vec<u16> = c.closed.iter().map(|p| p.port).collect();
        assert_eq!(closed, [3306, 6379]);
    }

    #[test]
    fn with_a_policy_only_expected_ports_stay_open() {
        let c = choose(&host(), true);
        let kept: Vec<u16> = c.allowed.iter().map(|p| p.port).collect();
        assert_eq!(kept, [22, 6379]);
        assert_eq!(c.ssh_ports(), [22]);
    }

    /// The rules of one family, in order, for both families.
    fn rules_of(text: &str, tool: &str) -> Vec<String> {
        let start = text.find(&format!("rules_{tool}() {{")).unwrap();
        let body = &text[start..];
        let end = body.find("\nEOF\n").unwrap();
        body[..end].lines().skip(2).map(str::to_owned).collect()
    }

    #[test]
    fn iptables_is_the_article_s_order_for_both_families() {
        let text = script(&host(), &opts(FirewallTool::Iptables, false));
        for (tool, ping) in [
            ("v4", "--icmp-type echo-request"),
            ("v6", "--icmpv6-type echo-request"),
        ] {
            let r = rules_of(&text, tool);
            let at = |needle: &str| {
                r.iter()
                    .position(|l| l.contains(needle))
                    .unwrap_or_else(|| panic!("{tool}: no {needle} in {r:#?}"))
            };
            assert_eq!(r[0], "*filter");
            assert_eq!(r[1], ":INPUT DROP [0:0]");
            assert!(at("ESTABLISHED,RELATED") < at("-i lo"));
            assert!(at("-i lo") < at(ping));
            assert!(at(ping) < at("--set --name SSH"));
            assert!(at("--set --name SSH") < at("--hitcount 4"));
            assert!(at("--hitcount 4") < at("--dport 22 -j ACCEPT"));
            assert!(at("--dport 22 -j ACCEPT") < at("--dport 80 -j ACCEPT"));
            assert!(at("--dport 80 -j ACCEPT") < at("-j LOG"));
            assert_eq!(r.last().unwrap(), "COMMIT");
            assert!(!r.iter().any(|l| l.contains("3306") || l.contains("6379")));
        }
        let v6 = rules_of(&text, "v6");
        assert!(v6.iter().any(|l| l.contains("neighbour-solicitation")));
        assert!(v6.iter().any(|l| l.contains("neighbour-advertisement")));
        assert!(text.contains("iptables-restore --noflush"));
        assert!(text.contains("netfilter-persistent save"));
        assert!(text.contains("at now + 5 minutes"));
    }

    #[test]
    fn the_reset_guard_is_opt_out() {
        let mut o = opts(FirewallTool::Nftables, false);
        o.reset_guard = false;
        let text = script(&host(), &o);
        assert!(!text.contains("at now"));
        assert!(text.contains("policy drop;"));
        assert!(text.contains("nd-neighbor-solicit"));
        assert!(text.contains("tcp dport { 22, 2222, 80 } accept"));
        assert!(text.contains("update @ssh_meter6 { ip6 saddr limit rate over 3/minute"));
        assert!(text.contains("/etc/nftables.conf"));
    }

    #[test]
    fn ufw_limits_ssh_first_and_enables_last() {
        let text = script(&host(), &opts(FirewallTool::Ufw, true));
        let at = |n: &str| text.find(n).unwrap_or_else(|| panic!("no {n}"));
        assert!(at("ufw limit 22/tcp") < at("ufw allow 6379/tcp"));
        assert!(at("ufw allow 6379/tcp") < at("ufw default deny incoming"));
        assert!(at("ufw default deny incoming") < at("ufw --force enable"));
        assert!(text.contains("ufw delete allow 3306/tcp"));
    }

    #[test]
    fn hostile_names_stay_inside_comments() {
        let mut h = host();
        h.name = Some("x\n rm -rf / #".into());
        h.open[0].service = Some("http\n$(reboot)".into());
        let text = script(&h, &opts(FirewallTool::Iptables, false));
        assert!(!text.contains("$(reboot)"));
        assert!(!text.contains("rm -rf /"));
        assert!(text
            .lines()
            .filter(|l| l.contains("httpreboot"))
            .all(|l| l.starts_with('#')));
    }
}
