//! Human output, printed when the scan ends (the progress bar covers the
//! wait). One block per host, the host with the worst finding first:
//!
//! ```text
//! 203.0.113.7 (db1.example.com)                                   name line
//!   firewall: none (closed ports answer RST: …); 3 open, 65,532 closed, 0 filtered
//!   PORT      STATE  REASON   SERVICE     RTT  VERSION            port table
//!   6379/tcp  open   syn-ack  redis    0.3 ms  Redis 7.2.4, auth none
//!   CRITICAL  6379/tcp   redis (Redis 7.2.4)  redis-unauthenticated  (-v: 2 notes)
//!     Redis answers anyone, without authentication — 203.0.113.7:6379 answers as …
//!     config    bind 127.0.0.1 -::1                               the service's own lines
//!     iptables  iptables -I INPUT 1 -i lo -p tcp --dport 6379 -j ACCEPT
//!   notes     - IPv6: apply the same rules with ip6tables (-v lists them)
//! ```
//!
//! The verdict line gives the firewall posture and the port counts (with the
//! "answers every port" warning under it when it applies). Table columns are
//! as wide as their content, a SERVICE cell at most [`SERVICE_MAX`] columns
//! and the VERSION cell what is left of [`WIDTH`]. Each finding, worst first,
//! is a headline (severity, port, service and version, rule id, `[new]` and
//! policy tags) and one line of why (title — evidence, shortened to the
//! width), then its fix: the service's config lines and the commands of one
//! firewall family (`style.firewall`). A note found on several of the host's
//! findings is printed once, in the host's `notes`; when the ip6tables lines
//! mirror the iptables ones, only the iptables ones are printed and one host
//! note says so. Notes of one finding, the fix of an informational or
//! expected finding and the policy facts wait for `-v`, and the headline
//! says what `-v` adds. Then findings with no host, baseline entries no
//! longer seen, and one closing line: findings per severity, the `--fail-on`
//! outcome and exit code, and the coverage.
//!
//! `style.verbose` (`-v`) prints every variant instead: all three firewall
//! families, every note under each finding, the evidence in full and the
//! policy facts.
//!
//! ANSI colour only when asked (see [`super::ColorChoice`]); network text is
//! always made terminal-safe, and shortened where it would stretch a line.

use super::collect::{self, Collector, HostRows, Item};
use super::{terminal_safe, HumanStyle, Show, Sink, Summary};
use crate::model::{
    AuthState, BaselineStatus, FirewallTool, HostVerdict, PolicyStatus, PortResult, PortState,
    Remediation, ResolvedFinding, Service, Severity,
};
use crate::text;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// The width, in terminal columns, the report is laid out for: why lines are
/// shortened and notes wrapped to it.
pub const WIDTH: usize = 120;
/// The widest a service name gets, in the table and in a headline.
pub const SERVICE_MAX: usize = 24;
/// The widest a product and version get in a headline.
const PRODUCT_MAX: usize = 32;
/// The widest a host name, rule id or place gets.
const NAME_MAX: usize = 64;
/// The column where a finding's field text starts (`    config    …`).
const FIELD_TEXT: usize = 14;

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

/// Wraps text in an SGR colour when colour is on.
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

/// Terminal columns of one character, roughly as `wcwidth` counts them:
/// combining marks and zero-width characters take none, East Asian wide
/// characters and emoji two.
fn char_columns(c: char) -> usize {
    match u32::from(c) {
        0x0300..=0x036f | 0x200b..=0x200f | 0x20d0..=0x20ff | 0xfe00..=0xfe0f => 0,
        0x1100..=0x115f
        | 0x2e80..=0xa4cf
        | 0xac00..=0xd7a3
        | 0xf900..=0xfaff
        | 0xfe30..=0xfe4f
        | 0xff00..=0xff60
        | 0xffe0..=0xffe6
        | 0x1f300..=0x1f64f
        | 0x1f900..=0x1f9ff
        | 0x20000..=0x3fffd => 2,
        _ => 1,
    }
}

/// Terminal columns `s` takes (without colour codes).
pub(crate) fn columns(s: &str) -> usize {
    s.chars().map(char_columns).sum()
}

/// `s` shortened to at most `max` columns, ending in `…` when cut.
fn fit(s: &str, max: usize) -> String {
    if columns(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_columns(c);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` followed by spaces up to `w` columns.
fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(columns(s))))
}

/// `s` preceded by spaces up to `w` columns.
fn pad_left(s: &str, w: usize) -> String {
    format!("{}{s}", " ".repeat(w.saturating_sub(columns(s))))
}

/// `text` broken at whitespace into lines of at most `width` columns; a word
/// longer than a line is cut.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut pieces = vec![String::new()];
        for c in word.chars() {
            let last = pieces.last().map_or(0, |p| columns(p));
            if last > 0 && last + char_columns(c) > width {
                pieces.push(String::new());
            }
            pieces.last_mut().expect("one piece").push(c);
        }
        for piece in pieces {
            if !line.is_empty() && columns(&line) + 1 + columns(&piece) > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&piece);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `3 open, 65,532 closed, 0 filtered`.
fn states(open: u64, closed: u64, filtered: u64) -> String {
    format!(
        "{} open, {} closed, {} filtered",
        text::count(open),
        text::count(closed),
        text::count(filtered)
    )
}

/// Baseline findings listed at most per section.
const BASELINE_LISTED: usize = 20;

/// A round-trip time rounded for people: `<0.1 ms`, `0.3 ms`, `12 ms`, `1.2 s`.
fn rtt(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        "-".into()
    } else if ms < 0.05 {
        "<0.1 ms".into()
    } else {
        text::duration(std::time::Duration::from_secs_f64(ms / 1000.0))
    }
}

/// A service's name (`redis`, `http/tls`) and what it said of itself
/// (`Redis 7.2.4`), terminal-safe and shortened.
fn service_parts(s: &Service) -> (String, String) {
    let name = if s.tls.is_some() && s.name != "tls" {
        format!("{}/tls", s.name)
    } else {
        s.name.clone()
    };
    let product = [s.product.as_deref(), s.version.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (
        fit(&terminal_safe(&name), SERVICE_MAX),
        fit(&terminal_safe(&product), PRODUCT_MAX),
    )
}

/// A table row: port, state, reason, service, RTT, version.
fn cells(r: &PortResult) -> [String; 6] {
    let (service, version) = match &r.service {
        None => (String::new(), String::new()),
        Some(s) => {
            let (name, mut version) = service_parts(s);
            if s.auth != AuthState::Unknown {
                if !version.is_empty() {
                    version.push_str(", ");
                }
                version.push_str("auth ");
                version.push_str(s.auth.as_str());
            }
            (name, version)
        }
    };
    [
        format!("{}/{}", r.port, r.proto.as_str()),
        r.state.as_str().to_string(),
        r.reason.as_str().to_string(),
        service,
        r.rtt_ms.map_or_else(|| "-".into(), rtt),
        version,
    ]
}

/// The iptables commands to print when the ip6tables ones repeat them
/// exactly (`ip6tables` for `iptables`, line for line); `None` when they do
/// not, or when there are none.
fn ipv4_only(lines: &[String]) -> Option<Vec<&String>> {
    let (v6, rest): (Vec<&String>, Vec<&String>) =
        lines.iter().partition(|l| l.starts_with("ip6tables "));
    let v4: Vec<&&String> = rest.iter().filter(|l| l.starts_with("iptables ")).collect();
    let mirrored = !v6.is_empty()
        && v6.len() == v4.len()
        && v6
            .iter()
            .zip(&v4)
            .all(|(six, four)| six["ip6tables".len()..] == four["iptables".len()..]);
    mirrored.then_some(rest)
}

/// The note printed for a host whose ip6tables lines were folded.
pub const SAME_FOR_IPV6: &str = "IPv6: apply the same rules with ip6tables (-v lists them).";

/// Whether a finding's fix is printed: always with `-v`, otherwise when it
/// is neither informational nor expected by the policy.
fn shows_fix(i: &Item<'_>, verbose: bool) -> bool {
    verbose || (!i.expected() && i.finding.severity > Severity::Info)
}

/// What a group of findings (one host's, or those about no host) prints once
/// after them instead of under each one.
#[derive(Debug, Default)]
struct GroupNotes {
    /// Notes held by two or more of the group's printed fixes (every note,
    /// when only one fix is printed), first seen first.
    shared: Vec<String>,
    /// Whether some fix had its ip6tables lines folded into [`SAME_FOR_IPV6`].
    folded: bool,
}

impl GroupNotes {
    /// The group notes of `items` (none with `-v`, which prints every note
    /// under its finding).
    fn of(items: &[&Item<'_>], style: HumanStyle) -> GroupNotes {
        if style.verbose {
            return GroupNotes::default();
        }
        let fixed: Vec<&Remediation> = items
            .iter()
            .filter(|i| shows_fix(i, false))
            .map(|i| &i.finding.remediation)
            .collect();
        let mut shared: Vec<String> = Vec::new();
        let enough = fixed.len().min(2);
        for r in &fixed {
            for n in &r.notes {
                let held = fixed.iter().filter(|o| o.notes.contains(n)).count();
                if held >= enough && !shared.contains(n) {
                    shared.push(n.clone());
                }
            }
        }
        let folded = style.firewall == FirewallTool::Iptables
            && fixed.iter().any(|r| ipv4_only(&r.iptables).is_some());
        GroupNotes { shared, folded }
    }
}

/// The report being laid out: its lines, and how they are drawn.
struct Page {
    p: Painter,
    style: HumanStyle,
    o: Vec<String>,
}

impl Page {
    /// A finding's field: `label` beside the first line, the others under it.
    fn field<I: IntoIterator<Item = String>>(&mut self, label: &str, lines: I) {
        for (n, line) in lines.into_iter().enumerate() {
            let label = if n == 0 { label } else { "" };
            self.o.push(format!("    {label:<9} {line}"));
        }
    }

    /// A field whose text is wrapped to the width.
    fn wrapped(&mut self, label: &str, text: &str) {
        self.field(label, wrap(text, WIDTH - FIELD_TEXT));
    }

    /// The port table, its columns as wide as their content.
    fn table(&mut self, rows: &[PortResult]) {
        if rows.is_empty() {
            return;
        }
        let head = ["PORT", "STATE", "REASON", "SERVICE", "RTT", "VERSION"].map(String::from);
        let body: Vec<[String; 6]> = rows.iter().map(cells).collect();
        let mut w = [0usize; 5];
        for row in std::iter::once(&head).chain(&body) {
            for (k, width) in w.iter_mut().enumerate() {
                *width = (*width).max(columns(&row[k]));
            }
        }
        let room = WIDTH.saturating_sub(2 + w.iter().sum::<usize>() + 2 * w.len());
        let line = |row: &[String; 6], state: String| {
            let mut l = format!(
                "  {}  {state}  {}  {}  {}  {}",
                pad(&row[0], w[0]),
                pad(&row[2], w[2]),
                pad(&row[3], w[3]),
                pad_left(&row[4], w[4]),
                fit(&row[5], room.max(8)),
            );
            l.truncate(l.trim_end().len());
            l
        };
        self.o.push(line(&head, pad(&head[1], w[1])));
        for (r, row) in rows.iter().zip(&body) {
            let state = pad(&row[1], w[1]);
            let state = match r.state {
                PortState::Open => self.p.paint("32", &state),
                PortState::Closed => state,
                PortState::Filtered | PortState::OpenFiltered => self.p.paint("2", &state),
                PortState::Unresolved => self.p.paint("33", &state),
            };
            self.o.push(line(row, state));
        }
    }

    /// What `-v` would add to a finding, for its headline: `(-v: fix, 2 notes)`.
    fn hint(&self, i: &Item<'_>, notes: &GroupNotes) -> String {
        if self.style.verbose {
            return String::new();
        }
        let f = i.finding;
        let r = &f.remediation;
        let mut more = Vec::new();
        // Policy facts beyond the status tag and the place the headline gives.
        let (status, place) = (f.policy.map(PolicyStatus::as_str), i.location());
        if i.policy_facts()
            .iter()
            .any(|p| Some(p.as_str()) != status && *p != place)
        {
            more.push("policy".to_string());
        }
        let has_fix =
            !r.config.is_empty() || FirewallTool::ALL.iter().any(|t| !r.commands(*t).is_empty());
        if has_fix && !shows_fix(i, false) {
            more.push("fix".into());
        }
        let own = r.notes.iter().filter(|n| !notes.shared.contains(n)).count();
        match own {
            0 => {}
            1 => more.push("1 note".into()),
            n => more.push(format!("{n} notes")),
        }
        if more.is_empty() {
            String::new()
        } else {
            format!(
                "  {}",
                self.p.paint("2", &format!("(-v: {})", more.join(", ")))
            )
        }
    }

    /// A finding's headline: severity, place, service and version, rule id,
    /// tags and what `-v` adds.
    fn headline(&self, i: &Item<'_>, notes: &GroupNotes) -> String {
        let f = i.finding;
        let sev = pad(&f.severity.as_str().to_uppercase(), 8);
        let place = match (i.ip, i.port) {
            (Some(_), Some(port)) => format!("{port}/{}", i.proto.as_str()),
            _ => fit(&terminal_safe(&i.location()), NAME_MAX),
        };
        let mut parts = vec![format!(
            "  {}  {}",
            self.p.paint(severity_code(f.severity), &sev),
            pad(&place, 9)
        )];
        if let Some(s) = i.service {
            let (name, product) = service_parts(s);
            let label = if product.is_empty() {
                name
            } else {
                format!("{name} ({product})")
            };
            parts.push(self.p.paint("1", &label));
        }
        parts.push(fit(&terminal_safe(&f.rule), NAME_MAX));
        if f.baseline == Some(BaselineStatus::New) {
            parts.push(self.p.paint("1", "[new]"));
        }
        if let Some(st) = f.policy.filter(|p| *p != PolicyStatus::Unexpected) {
            parts.push(format!("[{}]", st.as_str()));
        }
        parts.join("  ") + &self.hint(i, notes)
    }

    /// One finding: headline, why, then (when printed) its fix.
    fn finding(&mut self, i: &Item<'_>, notes: &GroupNotes) {
        let f = i.finding;
        let head = self.headline(i, notes);
        self.o.push(head);
        let title = terminal_safe(&f.title);
        let evidence = terminal_safe(&f.evidence);
        if self.style.verbose {
            for l in wrap(&title, WIDTH - 4) {
                self.o.push(format!("    {l}"));
            }
            self.wrapped("evidence", &evidence);
            let policy = i.policy_facts();
            if !policy.is_empty() {
                self.wrapped("policy", &terminal_safe(&policy.join(", ")));
            }
        } else {
            let why = if evidence.is_empty() {
                title
            } else {
                format!("{title} — {evidence}")
            };
            self.o.push(format!("    {}", fit(&why, WIDTH - 4)));
        }
        if shows_fix(i, self.style.verbose) {
            self.fix(&f.remediation, notes);
        }
    }

    /// A fix: config lines, firewall commands, and (with `-v`) its notes.
    fn fix(&mut self, r: &Remediation, notes: &GroupNotes) {
        self.field("config", r.config.iter().map(|l| terminal_safe(l)));
        if self.style.verbose {
            for tool in FirewallTool::ALL {
                self.field(
                    tool.as_str(),
                    r.commands(tool).iter().map(|l| terminal_safe(l)),
                );
            }
            self.field("docker", r.docker.iter().map(|l| terminal_safe(l)));
            for n in &r.notes {
                self.wrapped("note", &terminal_safe(n));
            }
            return;
        }
        let tool = self.style.firewall;
        let lines = r.commands(tool);
        let shown: Vec<&String> = match tool {
            FirewallTool::Iptables if notes.folded => {
                ipv4_only(lines).unwrap_or_else(|| lines.iter().collect())
            }
            _ => lines.iter().collect(),
        };
        if shown.is_empty() {
            let others: Vec<&str> = FirewallTool::ALL
                .into_iter()
                .filter(|t| !r.commands(*t).is_empty())
                .map(FirewallTool::as_str)
                .collect();
            if !others.is_empty() {
                let text = format!("none given (-v shows the {} rules)", others.join(" and "));
                self.field(tool.as_str(), [text]);
            }
        }
        self.field(tool.as_str(), shown.into_iter().map(|l| terminal_safe(l)));
    }

    /// A group's findings worst first, then its notes once.
    fn group(&mut self, items: &[&Item<'_>]) {
        let notes = GroupNotes::of(items, self.style);
        for i in items {
            self.finding(i, &notes);
        }
        let mut all: Vec<String> = Vec::new();
        if notes.folded {
            all.push(SAME_FOR_IPV6.into());
        }
        all.extend(notes.shared.iter().map(|n| terminal_safe(n)));
        for (k, n) in all.iter().enumerate() {
            let label = if k == 0 { "notes" } else { "" };
            for (j, l) in wrap(n, WIDTH - FIELD_TEXT).into_iter().enumerate() {
                let bullet = if j == 0 { "- " } else { "  " };
                self.o.push(format!("  {label:<9} {bullet}{l}"));
            }
        }
    }

    /// The host verdict lines: firewall posture and port counts, then the
    /// "answers every port" warning.
    fn verdict(&mut self, v: &HostVerdict) {
        let mut line = format!(
            "  firewall: {}; {}",
            collect::firewall_text(v.firewall),
            states(v.open, v.closed, v.filtered)
        );
        if v.rejected > 0 {
            line.push_str(&format!(
                " ({} rejected with ICMP)",
                text::count(v.rejected)
            ));
        }
        self.o.push(line);
        if v.answers_every_port {
            let warning = format!("warning: {}", collect::ANSWERS_EVERY_PORT);
            self.o.push(format!("  {}", self.p.paint("1;33", &warning)));
        }
    }

    /// One host's block: name line, verdict, port table, findings and notes,
    /// blank line (nothing when the host has nothing to show).
    fn host(&mut self, ip: IpAddr, h: &HostRows, s: &Summary, items: &[Item<'_>]) {
        let verdict = collect::verdict(s, ip);
        let mine: Vec<&Item<'_>> = items.iter().filter(|i| i.ip == Some(ip)).collect();
        if h.rows.is_empty() && verdict.is_none() && mine.is_empty() {
            return;
        }
        let name = h
            .name
            .as_deref()
            .or(verdict.and_then(|v| v.host.as_deref()))
            .map(|n| format!(" ({})", fit(&terminal_safe(n), NAME_MAX)))
            .unwrap_or_default();
        self.o.push(self.p.paint("1", &format!("{ip}{name}")));
        if let Some(v) = verdict {
            self.verdict(v);
        }
        self.table(&h.rows);
        self.group(&mine);
        self.o.push(String::new());
    }

    /// Findings about no host, then baseline entries no longer seen.
    fn trailing(&mut self, s: &Summary, items: &[Item<'_>]) {
        let orphans: Vec<&Item<'_>> = items.iter().filter(|i| i.ip.is_none()).collect();
        if !orphans.is_empty() {
            self.o.push(self.p.paint("1", "other findings"));
            self.group(&orphans);
            self.o.push(String::new());
        }
        self.baseline_list("resolved since the baseline", &s.resolved);
        self.baseline_list(
            "not scanned this run (baseline findings outside its ports or hosts: not known fixed)",
            &s.not_scanned,
        );
    }

    /// A titled list of baseline findings, at most [`BASELINE_LISTED`] lines.
    fn baseline_list(&mut self, title: &str, list: &[ResolvedFinding]) {
        if list.is_empty() {
            return;
        }
        self.o.push(self.p.paint("1", title));
        for r in list.iter().take(BASELINE_LISTED) {
            let [rule, ip, port] = r.parts().map(|s| fit(&terminal_safe(&s), NAME_MAX));
            self.o.push(format!("  {rule} on {ip}:{port}"));
        }
        if list.len() > BASELINE_LISTED {
            self.o.push(format!(
                "  ... and {} more (JSON lists them all)",
                text::count((list.len() - BASELINE_LISTED) as u64)
            ));
        }
        self.o.push(String::new());
    }

    /// The closing line: findings per severity, the `--fail-on` outcome and
    /// exit code, then the coverage (on a line of its own when both do not
    /// fit the width); hosts that did not resolve on a line before it.
    fn closing(&mut self, s: &Summary) {
        let c = &s.coverage;
        if !c.unresolved_hosts.is_empty() {
            let names = terminal_safe(&c.unresolved_hosts.join(", "));
            let n = c.unresolved_hosts.len();
            self.o
                .push(fit(&format!("hosts not resolved ({n}): {names}"), WIDTH));
        }
        let n = &s.counts;
        let counts: Vec<(u64, Severity)> = [
            (n.critical, Severity::Critical),
            (n.high, Severity::High),
            (n.medium, Severity::Medium),
            (n.low, Severity::Low),
            (n.info, Severity::Info),
        ]
        .into_iter()
        .filter(|(k, _)| *k > 0)
        .collect();
        let plain: Vec<String> = counts
            .iter()
            .map(|(k, sev)| format!("{} {}", text::count(*k), sev.as_str()))
            .collect();
        let painted: Vec<String> = counts
            .iter()
            .zip(&plain)
            .map(|((_, sev), t)| self.p.paint(severity_code(*sev), t))
            .collect();
        let none = vec!["none".to_string()];
        let exit = format!("exit {}", s.exit_code);
        let outcome = |counts: &[String], exit: &str| {
            let counts = if counts.is_empty() { &none } else { counts };
            format!(
                "findings: {}; fail-on {}: {exit}",
                counts.join(", "),
                s.fail_on.as_str()
            )
        };
        let mut cover = format!(
            "{} ports attempted: {}",
            text::count(c.attempted),
            states(c.open, c.closed, c.filtered)
        );
        if c.open_filtered > 0 {
            cover.push_str(&format!(", {} open|filtered", text::count(c.open_filtered)));
            if c.udp_rate_limited > 0 {
                cover.push_str(&format!(
                    " ({} behind the ICMP rate limit)",
                    text::count(c.udp_rate_limited)
                ));
            }
        }
        if c.unresolved > 0 {
            cover.push_str(&format!(", {} unresolved", text::count(c.unresolved)));
        }
        if s.interrupted {
            cover.push_str(" (interrupted)");
        }
        let exit_code = if s.exit_code == 0 { "32" } else { "1;31" };
        let line = outcome(&painted, &self.p.paint(exit_code, &exit));
        if columns(&outcome(&plain, &exit)) + 2 + columns(&cover) <= WIDTH {
            self.o.push(format!("{line}; {cover}"));
        } else {
            self.o.push(line);
            self.o.push(cover);
        }
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

/// The whole report as lines (without trailing newlines).
pub fn report(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary, style: HumanStyle) -> Vec<String> {
    let mut page = Page {
        p: Painter(style.color),
        style,
        o: Vec::new(),
    };
    let items = collect::findings(hosts, s);
    let empty = HostRows::default();
    for ip in host_order(hosts, s, &items) {
        page.host(ip, hosts.get(&ip).unwrap_or(&empty), s, &items);
    }
    page.trailing(s, &items);
    page.closing(s);
    page.o
}

impl Sink for Human {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        self.hosts.add(r);
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let hosts = self.hosts.take();
        for line in report(&hosts, s, self.style) {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_is_rounded_for_people() {
        let cases = [
            (0.0, "<0.1 ms"),
            (0.31, "0.3 ms"),
            (9.94, "9.9 ms"),
            (9.96, "10 ms"),
            (12.3456, "12 ms"),
            (999.4, "999 ms"),
            (999.6, "1.0 s"),
            (1234.5, "1.2 s"),
            (14_200.0, "14 s"),
            (f64::NAN, "-"),
        ];
        for (ms, want) in cases {
            assert_eq!(rtt(ms), want, "{ms}");
        }
    }

    #[test]
    fn fit_and_pad_count_columns_not_bytes() {
        assert_eq!(fit("python-http-server", 24), "python-http-server");
        assert_eq!(fit("abcdefgh", 5), "abcd…");
        assert_eq!(
            columns(&fit("数据库服务器", 5)),
            5,
            "{}",
            fit("数据库服务器", 5)
        );
        assert_eq!(columns("e\u{301}"), 1);
        assert_eq!(pad("数", 4), "数  ");
        assert_eq!(pad_left("1 ms", 6), "  1 ms");
    }

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh ij", 3), ["abc", "def", "gh", "ij"]);
        assert_eq!(wrap("", 10), [""]);
        assert!(wrap(&"word ".repeat(50), 20)
            .iter()
            .all(|l| columns(l) <= 20));
    }

    #[test]
    fn ip6tables_fold_only_when_the_lines_mirror() {
        let rules = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mirrored = rules(&[
            "iptables -I INPUT 1 -i lo -p tcp --dport 6379 -j ACCEPT",
            "iptables -I INPUT 2 -p tcp --dport 6379 -j DROP",
            "ip6tables -I INPUT 1 -i lo -p tcp --dport 6379 -j ACCEPT",
            "ip6tables -I INPUT 2 -p tcp --dport 6379 -j DROP",
        ]);
        assert_eq!(ipv4_only(&mirrored).map(|v| v.len()), Some(2));
        let mut differs = mirrored.clone();
        differs[3] = "ip6tables -I INPUT 2 -p tcp --dport 6380 -j DROP".into();
        assert!(ipv4_only(&differs).is_none());
        assert!(ipv4_only(&mirrored[..2]).is_none(), "no ip6tables lines");
        assert!(ipv4_only(&mirrored[2..]).is_none(), "ip6tables lines only");
    }
}
