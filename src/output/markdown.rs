//! Markdown: a report for CI job summaries and pull-request comments: a
//! header with targets, ports and coverage, a findings table (worst first), a
//! collapsible "how to fix" section per finding, and the host verdicts.
//!
//! Network text is escaped for GitHub-flavoured Markdown with [`md_escape`]
//! (and, inside the `<summary>` HTML, with [`html_escape`]) so that what a
//! banner says renders as the same visible characters and nothing else:
//! control characters become `\xNN`; `<`, `>` and `&` become entities, so no
//! HTML element or entity comes through; Markdown punctuation (`` \ ` * _ [ ]
//! | ~ $ # ``, a leading `-`, `+` or `1.`) is backslash-escaped, so no
//! emphasis, strike-through, math, link, image, heading, list or table cell
//! appears; and an empty HTML comment `<!-- -->` is put after a `@`, a `#`
//! and the `:` of `scheme://` or `:shortcode:` where one would start a
//! mention, issue reference, autolink or emoji (GitHub finds those in the
//! rendered text, where escapes no longer exist), and `www.` becomes
//! `www\.` (`www<!-- -->.` in the HTML, where `[ ] ~ $` are entities).
//! Remediation goes in fenced blocks whose fence is longer than any
//! backtick run inside.

use super::collect::{self, Collector, HostRows, Item};
use super::{terminal_safe, Show, Sink, Summary};
use crate::model::{BaselineStatus, PortResult, Severity};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;

/// Buffering Markdown writer.
pub struct Markdown {
    out: Box<dyn Write>,
    hosts: Collector,
}

impl Markdown {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write>, show: Show) -> Markdown {
        Markdown {
            out,
            hosts: Collector::new(show),
        }
    }
}

impl Sink for Markdown {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        self.hosts.add(r);
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let hosts = self.hosts.take();
        self.out.write_all(report(&hosts, s).as_bytes())?;
        self.out.flush()
    }
}

/// Escapes text for inline Markdown (also inside table cells).
pub fn md_escape(s: &str) -> String {
    escape(s, false)
}

/// Escapes text for an HTML element's content (the `<summary>` line, where
/// Markdown is not parsed).
pub fn html_escape(s: &str) -> String {
    escape(s, true)
}

/// What breaks an autolink, mention, reference or emoji without changing
/// the visible text.
const BREAK: &str = "<!-- -->";

fn escape(s: &str, html: bool) -> String {
    let chars: Vec<char> = terminal_safe(s).chars().collect();
    let mut out = String::with_capacity(chars.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' if html => out.push_str("&quot;"),
            '[' if html => out.push_str("&#91;"),
            ']' if html => out.push_str("&#93;"),
            '~' if html => out.push_str("&#126;"),
            '$' if html => out.push_str("&#36;"),
            '@' | '#' | ':' if starts_something(&chars, i) => {
                if c == '#' && !html {
                    out.push('\\');
                }
                out.push(c);
                out.push_str(BREAK);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' | '#' if !html => {
                out.push('\\');
                out.push(c);
            }
            '-' | '+' if !html && i == 0 => {
                out.push('\\');
                out.push(c);
            }
            '.' | ')' if !html && list_number(&chars[..i], next) => {
                out.push('\\');
                out.push(c);
            }
            '.' if www(&chars[..i]) => out.push_str(if html { "<!-- -->." } else { "\\." }),
            c => out.push(c),
        }
    }
    out
}

/// Whether the `@`, `#` or `:` at `i` would start a mention (`@x`), an
/// issue reference (`#1`), a URL (`x://`) or an emoji (`:x:`).
fn starts_something(chars: &[char], i: usize) -> bool {
    let Some(&next) = chars.get(i + 1) else {
        return false;
    };
    let word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '+' | '-');
    match chars[i] {
        '@' => !next.is_whitespace(),
        '#' => next.is_alphanumeric(),
        // `:name:` with a shortcode-like name in between.
        _ => {
            next == '/'
                || chars[i + 1..]
                    .iter()
                    .position(|&c| !word(c))
                    .is_some_and(|n| n > 0 && chars[i + 1 + n] == ':')
        }
    }
}

/// Whether `before` + `.`/`)` is an ordered-list marker (`12.` at the start).
fn list_number(before: &[char], next: Option<char>) -> bool {
    (1..=9).contains(&before.len())
        && before.iter().all(char::is_ascii_digit)
        && next.is_none_or(char::is_whitespace)
}

/// Whether `before` ends in a `www` that a `.` would make an autolink.
fn www(before: &[char]) -> bool {
    let n = before.len();
    n >= 3
        && before[n - 3..].iter().all(|c| c.eq_ignore_ascii_case(&'w'))
        && (n == 3 || !before[n - 4].is_alphanumeric())
}

/// A fenced code block holding `lines` (made terminal-safe).
pub fn fenced(lines: &[String]) -> String {
    let body: Vec<String> = lines.iter().map(|l| terminal_safe(l)).collect();
    let longest = body
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}\n{}\n{fence}\n", body.join("\n"))
}

fn badge(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "🔴 critical",
        Severity::High => "🟠 high",
        Severity::Medium => "🟡 medium",
        Severity::Low => "🔵 low",
        Severity::Info => "⚪ info",
    }
}

fn service_cell(i: &Item<'_>) -> String {
    match i.service {
        None => "-".into(),
        Some(s) => {
            let mut t = md_escape(&s.name);
            for part in [&s.product, &s.version].into_iter().flatten() {
                t.push(' ');
                t.push_str(&md_escape(part));
            }
            t
        }
    }
}

fn fix(x: &mut String, i: &Item<'_>) {
    let f = i.finding;
    let _ = writeln!(
        x,
        "<details><summary><b>{}</b> {} — {}</summary>\n",
        f.severity.as_str(),
        html_escape(&i.location()),
        html_escape(&f.title)
    );
    let _ = writeln!(
        x,
        "Rule `{}`. Evidence: {}\n",
        f.rule.replace('`', "'"),
        md_escape(&f.evidence)
    );
    let policy = i.policy_facts();
    if !policy.is_empty() {
        let _ = writeln!(x, "Policy: {}\n", md_escape(&policy.join(", ")));
    }
    let r = &f.remediation;
    for (label, lines) in [
        ("Configuration", &r.config),
        ("iptables", &r.iptables),
        ("nftables", &r.nftables),
        ("ufw", &r.ufw),
        ("Docker", &r.docker),
    ] {
        if !lines.is_empty() {
            let _ = writeln!(x, "{label}:\n\n{}", fenced(lines));
        }
    }
    for n in &r.notes {
        let _ = writeln!(x, "> {}\n", md_escape(n));
    }
    x.push_str("</details>\n\n");
}

/// The whole report for the collected hosts and the summary.
pub fn report(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary) -> String {
    let items = collect::findings(hosts, s);
    let c = &s.coverage;
    let mut x = String::from("## exposecheck report\n\n");
    let targets: Vec<String> = s.scan.targets.iter().map(|t| md_escape(t)).collect();
    let _ = writeln!(x, "- **Targets:** {}", targets.join(", "));
    let _ = writeln!(x, "- **Ports:** {}", md_escape(&s.scan.ports));
    let _ = write!(
        x,
        "- **Coverage:** {} of {} planned ports attempted: {} open, {} closed, {} filtered",
        c.attempted, c.planned, c.open, c.closed, c.filtered
    );
    if c.unresolved > 0 {
        let _ = write!(x, ", {} unresolved", c.unresolved);
    }
    if s.interrupted {
        x.push_str(" (**interrupted**)");
    }
    x.push('\n');
    if !c.unresolved_hosts.is_empty() {
        let names: Vec<String> = c.unresolved_hosts.iter().map(|h| md_escape(h)).collect();
        let _ = writeln!(x, "- **Not resolved:** {}", names.join(", "));
    }
    let n = &s.counts;
    let _ = write!(
        x,
        "- **Findings:** {} critical, {} high, {} medium, {} low, {} info",
        n.critical, n.high, n.medium, n.low, n.info
    );
    let _ = write!(x, " (fail-on {}: exit {})", s.fail_on.as_str(), s.exit_code);
    x.push_str("\n\n");
    if items.is_empty() {
        x.push_str("No findings.\n\n");
    } else {
        x.push_str("### Findings\n\n| Severity | Host:port | Service | Rule | Title |\n|---|---|---|---|---|\n");
        for i in &items {
            let mut title = md_escape(&i.finding.title);
            if i.expected() {
                title.push_str(" (expected)");
            }
            if i.finding.baseline == Some(BaselineStatus::New) {
                title.push_str(" **new**");
            }
            let _ = writeln!(
                x,
                "| {} | {} | {} | `{}` | {} |",
                badge(i.finding.severity),
                md_escape(&i.location()),
                service_cell(i),
                i.finding.rule.replace(['`', '|'], "'"),
                title
            );
        }
        x.push_str("\n### How to fix\n\n");
        for i in items.iter().filter(|i| !i.expected()) {
            fix(&mut x, i);
        }
    }
    if !s.hosts.is_empty() {
        x.push_str("### Hosts\n\n| Host | Open | Closed | Filtered | Firewall | Note |\n|---|---|---|---|---|---|\n");
        for h in &s.hosts {
            let name = match &h.host {
                Some(n) => md_escape(&format!("{} ({n})", h.ip)),
                None => md_escape(&h.ip.to_string()),
            };
            let note = if h.answers_every_port {
                format!("⚠️ {}", collect::ANSWERS_EVERY_PORT)
            } else {
                String::new()
            };
            let _ = writeln!(
                x,
                "| {name} | {} | {} | {} | {} | {note} |",
                h.open,
                h.closed,
                h.filtered,
                collect::firewall_text(h.firewall)
            );
        }
        x.push('\n');
    }
    if !s.resolved.is_empty() {
        let _ = writeln!(x, "### Resolved since the baseline\n");
        for r in &s.resolved {
            let [rule, ip, port] = r.parts();
            let _ = writeln!(x, "- {}", md_escape(&format!("{rule} on {ip}:{port}")));
        }
        x.push('\n');
    }
    let _ = writeln!(
        x,
        "<sub>exposecheck {} · started {}</sub>",
        md_escape(&s.scan.version),
        md_escape(&s.scan.start)
    );
    x
}
