//! Human output, printed when the scan ends (the progress bar covers the
//! wait): one block per host, the host with the worst finding first. A block
//! has the host verdict (firewall posture, the "answers every port" warning),
//! the port table, then the findings worst first, each with its evidence and
//! fix: config lines and iptables commands one per line, nftables and ufw
//! commands joined on one line each. Then findings with no host, baseline
//! entries no longer seen, the coverage line and a findings-per-severity line.
//!
//! ANSI colour only when asked (see [`super::ColorChoice`]); network text is
//! always made terminal-safe.

use super::collect::{self, Collector, HostRows, Item};
use super::{terminal_safe, HumanStyle, Show, Sink, Summary};
use crate::model::{AuthState, BaselineStatus, HostVerdict, PortResult, PortState, Severity};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// Buffering report writer.
pub struct Human {
    out: Box<dyn Write>,
    style: HumanStyle,
    hosts: Collector,
}

impl Human {
    /// A writer over `out`, drawn in `style`.
    pub fn new(out: Box<dyn Write>, show: Show, style: HumanStyle) -> Human {
        Human {
            out,
            style,
            hosts: Collector::new(show),
        }
    }
}

/// Severity colour codes.
fn severity_code(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    }
}

struct Painter(bool);

impl Painter {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

fn service_cell(r: &PortResult) -> (String, String) {
    match &r.service {
        None => (String::new(), String::new()),
        Some(s) => {
            let mut version = [s.product.as_deref(), s.version.as_deref()]
                .iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            if s.auth != AuthState::Unknown {
                if !version.is_empty() {
                    version.push_str(", ");
                }
                version.push_str("auth ");
                version.push_str(s.auth.as_str());
            }
            let name = if s.tls.is_some() && s.name != "tls" {
                format!("{}/tls", s.name)
            } else {
                s.name.clone()
            };
            (terminal_safe(&name), terminal_safe(&version))
        }
    }
}

fn table(o: &mut Vec<String>, p: &Painter, rows: &[PortResult]) {
    if rows.is_empty() {
        return;
    }
    o.push(format!(
        "  {:<10} {:<9} {:<16} {:<14} {:>9}  {}",
        "PORT", "STATE", "REASON", "SERVICE", "RTT", "VERSION"
    ));
    for r in rows {
        let (svc, ver) = service_cell(r);
        let state = match r.state {
            PortState::Open => p.paint("32", &format!("{:<9}", "open")),
            PortState::Closed => format!("{:<9}", "closed"),
            PortState::Filtered => p.paint("2", &format!("{:<9}", "filtered")),
            PortState::Unresolved => p.paint("33", &format!("{:<9}", "unresolved")),
        };
        let rtt = r
            .rtt_ms
            .map_or_else(|| "-".into(), |v| format!("{v:.1} ms"));
        o.push(
            format!(
                "  {:<10} {} {:<16} {:<14} {:>9}  {}",
                format!("{}/tcp", r.port),
                state,
                r.reason.as_str(),
                svc,
                rtt,
                ver
            )
            .trim_end()
            .to_string(),
        );
    }
}

fn finding(o: &mut Vec<String>, p: &Painter, i: &Item<'_>) {
    let f = i.finding;
    let sev = p.paint(
        severity_code(f.severity),
        &format!("{:<8}", f.severity.as_str().to_uppercase()),
    );
    let place = match (i.ip, i.port) {
        (Some(_), Some(port)) => format!("{port}/tcp"),
        _ => terminal_safe(&i.location()),
    };
    let mut head = format!(
        "  {sev} {place}  {}  {}",
        terminal_safe(&f.rule),
        p.paint("1", &terminal_safe(&f.title))
    );
    if f.baseline == Some(BaselineStatus::New) {
        head.push_str(&format!(" {}", p.paint("1", "[new]")));
    }
    o.push(head);
    let field = |label: &str, text: &str| format!("      {label:<9} {text}");
    o.push(field("evidence", &terminal_safe(&f.evidence)));
    let policy = i.policy_facts();
    if !policy.is_empty() {
        o.push(field("policy", &terminal_safe(&policy.join(", "))));
    }
    if i.expected() {
        return;
    }
    let r = &f.remediation;
    for (n, line) in r.config.iter().enumerate() {
        o.push(field(
            if n == 0 { "config" } else { "" },
            &terminal_safe(line),
        ));
    }
    for (n, line) in r.iptables.iter().enumerate() {
        o.push(field(
            if n == 0 { "iptables" } else { "" },
            &terminal_safe(line),
        ));
    }
    for (label, lines) in [("nftables", &r.nftables), ("ufw", &r.ufw)] {
        if !lines.is_empty() {
            let joined: Vec<String> = lines.iter().map(|l| terminal_safe(l)).collect();
            o.push(field(label, &joined.join(" ; ")));
        }
    }
    for n in &r.notes {
        o.push(field("note", &terminal_safe(n)));
    }
}

/// Every host with something to show, the host with the worst finding first.
fn host_order(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary, items: &[Item<'_>]) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = hosts.keys().copied().collect();
    for ip in s
        .hosts
        .iter()
        .map(|h| h.ip)
        .chain(items.iter().filter_map(|i| i.ip))
    {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips.sort_by_key(|ip| (std::cmp::Reverse(collect::worst(items, *ip)), *ip));
    ips
}

/// The host verdict lines: firewall posture and port counts, then the
/// "answers every port" warning.
fn verdict_lines(o: &mut Vec<String>, p: &Painter, v: &HostVerdict) {
    let mut line = format!(
        "  firewall: {}; {} open, {} closed, {} filtered",
        collect::firewall_text(v.firewall),
        v.open,
        v.closed,
        v.filtered
    );
    if v.rejected > 0 {
        line.push_str(&format!(" ({} rejected with ICMP)", v.rejected));
    }
    o.push(line);
    if v.answers_every_port {
        o.push(format!(
            "  {}",
            p.paint("1;33", &format!("warning: {}", collect::ANSWERS_EVERY_PORT))
        ));
    }
}

/// One host's block: name line, verdict, port table, findings, blank line
/// (nothing when the host has nothing to show).
fn host_block(
    o: &mut Vec<String>,
    p: &Painter,
    ip: IpAddr,
    h: &HostRows,
    s: &Summary,
    items: &[Item<'_>],
) {
    let verdict = collect::verdict(s, ip);
    let mine: Vec<&Item<'_>> = items.iter().filter(|i| i.ip == Some(ip)).collect();
    if h.rows.is_empty() && verdict.is_none() && mine.is_empty() {
        return;
    }
    let name = h
        .name
        .as_deref()
        .or(verdict.and_then(|v| v.host.as_deref()))
        .map(|n| format!(" ({})", terminal_safe(n)))
        .unwrap_or_default();
    o.push(p.paint("1", &format!("{ip}{name}")));
    if let Some(v) = verdict {
        verdict_lines(o, p, v);
    }
    table(o, p, &h.rows);
    for i in mine {
        finding(o, p, i);
    }
    o.push(String::new());
}

/// Findings about no host, then baseline entries no longer seen.
fn trailing_sections(o: &mut Vec<String>, p: &Painter, s: &Summary, items: &[Item<'_>]) {
    let orphans: Vec<&Item<'_>> = items.iter().filter(|i| i.ip.is_none()).collect();
    if !orphans.is_empty() {
        o.push(p.paint("1", "other findings"));
        for i in orphans {
            finding(o, p, i);
        }
        o.push(String::new());
    }
    if !s.resolved.is_empty() {
        o.push(p.paint("1", "resolved since the baseline"));
        for r in &s.resolved {
            let [rule, ip, port] = r.parts().map(|s| terminal_safe(&s));
            o.push(format!("  {rule} on {ip}:{port}"));
        }
        o.push(String::new());
    }
}

/// The coverage line: ports by state, unresolved hosts, interruption.
fn coverage_line(s: &Summary) -> String {
    let c = &s.coverage;
    let mut line = format!(
        "{} ports attempted: {} open, {} closed, {} filtered",
        c.attempted, c.open, c.closed, c.filtered
    );
    if c.unresolved > 0 {
        line.push_str(&format!(", {} unresolved", c.unresolved));
    }
    if !c.unresolved_hosts.is_empty() {
        line.push_str(&format!(
            "; hosts not resolved: {}",
            terminal_safe(&c.unresolved_hosts.join(", "))
        ));
    }
    if s.interrupted {
        line.push_str(" (interrupted)");
    }
    line
}

/// The findings-per-severity line, with the `--fail-on` outcome.
fn counts_line(p: &Painter, s: &Summary) -> String {
    let n = &s.counts;
    let counts: Vec<String> = [
        (n.critical, Severity::Critical),
        (n.high, Severity::High),
        (n.medium, Severity::Medium),
        (n.low, Severity::Low),
        (n.info, Severity::Info),
    ]
    .iter()
    .map(|(k, sev)| {
        let t = format!("{k} {}", sev.as_str());
        if *k > 0 {
            p.paint(severity_code(*sev), &t)
        } else {
            t
        }
    })
    .collect();
    let mut line = format!("findings: {}", counts.join(", "));
    line.push_str(&format!(
        " (fail-on {}: exit {})",
        s.fail_on.as_str(),
        s.exit_code
    ));
    line
}

/// The whole report as lines (without trailing newlines).
pub fn report(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary, color: bool) -> Vec<String> {
    let p = Painter(color);
    let items = collect::findings(hosts, s);
    let empty = HostRows::default();
    let mut o = Vec::new();
    for ip in host_order(hosts, s, &items) {
        host_block(&mut o, &p, ip, hosts.get(&ip).unwrap_or(&empty), s, &items);
    }
    trailing_sections(&mut o, &p, s, &items);
    o.push(coverage_line(s));
    o.push(counts_line(&p, s));
    o
}

impl Sink for Human {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        self.hosts.add(r);
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let hosts = self.hosts.take();
        for line in report(&hosts, s, self.style.color) {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }
}
