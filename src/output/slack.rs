//! Slack: one incoming-webhook message (Block Kit), ready to POST as it is:
//! `curl -sS -X POST -H 'Content-Type: application/json' --data-binary
//! @slack.json "$SLACK_WEBHOOK_URL"`. The webhook URL is the credential and
//! never passes through exposecheck; nothing is sent from here.
//!
//! **What goes out.** Every finding the policy does not expect, worst first
//! (expected ones are not alerts): a section each for the new ones (with a
//! baseline, those not in it), then one line listing the findings already in
//! the baseline and one listing the baseline findings now resolved. A
//! header, a summary (targets, counts, the `--fail-on` outcome, coverage)
//! and a footer (version, scan times) frame them. A run with no findings
//! still makes a message saying so; the pipeline decides whether to post it.
//!
//! **Slack's published limits** (docs.slack.dev, Block Kit reference; the
//! `text` guidance from chat.postMessage): at most [`MAX_BLOCKS`] blocks a
//! message; a section's text at most [`MAX_SECTION`] characters; a header's
//! `plain_text` at most [`MAX_HEADER`]; the top-level `text`, which is the
//! notification fallback when blocks are used, is kept under
//! [`MAX_TEXT`] (Slack truncates at 40,000 and advises 4,000). Findings past
//! the block budget are counted in a last line instead. Every string is cut
//! on a character boundary ([`super::sarif::clip`]), pieces first so that a
//! section never needs a blind cut.
//!
//! **Escaping** (docs.slack.dev, "Formatting text for app surfaces"): `&`,
//! `<` and `>` are Slack's control characters and become `&amp;`, `&lt;`,
//! `&gt;` everywhere, so no `<!channel>`, `<@U…>` or `<url|link>` can come
//! through. mrkdwn has no other escape, so every string that came from the
//! network or the command line (evidence, banners, names, hosts, targets,
//! fixes) goes in inline code or a code block, where `*bold*`, `_it_`,
//! `~strike~`, `:emoji:` and bare URLs stay literal; backticks in it become
//! `ˋ` (U+02CB) so that it cannot close the code. A finding's title is
//! written as prose only when it holds nothing mrkdwn acts on
//! ([`is_prose`]). Control characters become `\xNN` first. `unfurl_links`
//! and `unfurl_media` are off. The header is `plain_text` and holds only
//! counts.
//!
//! The fix shows the service's configuration lines and the firewall family
//! chosen with `--firewall` (`HumanStyle::firewall`; the first family with
//! commands when that one has none), at most [`MAX_FIX_LINES`] lines; the
//! other formats have every family.

use super::collect::{self, AtEnd, HostRows, Item, Render, Rendered};
use super::sarif::clip;
use super::{terminal_safe, Summary};
use crate::model::{BaselineStatus, FirewallTool, Severity};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;

/// Blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Characters in a section's (or a context element's) text.
pub const MAX_SECTION: usize = 3000;
/// Characters in a header's text.
pub const MAX_HEADER: usize = 150;
/// Characters in the top-level `text`.
pub const MAX_TEXT: usize = 4000;
/// Characters of one network string in a section.
const MAX_PIECE: usize = 300;
/// Lines of fix shown per finding.
pub const MAX_FIX_LINES: usize = 8;
/// Places listed in the baseline and resolved lines.
const MAX_LISTED: usize = 20;

/// The Slack message format.
pub struct Slack {
    firewall: FirewallTool,
}

impl Slack {
    /// A writer over `out` whose fixes use `firewall`'s commands.
    pub fn new(out: Box<dyn Write>, firewall: FirewallTool) -> AtEnd<Slack> {
        AtEnd::new(out, Slack { firewall })
    }
}

impl Render for Slack {
    fn render(&self, hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary) -> Rendered {
        Rendered::Document(message(hosts, s, self.firewall))
    }
}

/// `&`, `<`, `>` as Slack's entities, control characters as `\xNN`.
pub fn escape(s: &str) -> String {
    terminal_safe(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Untrusted text as inline code: cut to `max` characters, backticks
/// replaced, escaped.
pub fn code(s: &str, max: usize) -> String {
    let t = clip(&terminal_safe(s), max).replace('`', "\u{2cb}");
    if t.trim().is_empty() {
        return "`-`".into();
    }
    format!("`{}`", escape(&t))
}

/// Untrusted lines as a code block (each line cut to [`MAX_PIECE`]).
fn code_block(lines: &[String]) -> String {
    let body: Vec<String> = lines
        .iter()
        .map(|l| escape(&clip(&terminal_safe(l), MAX_PIECE).replace('`', "\u{2cb}")))
        .collect();
    format!("```{}```", body.join("\n"))
}

/// Whether `s` holds nothing mrkdwn acts on (formatting, entities, links,
/// mentions, emoji, autolinked domains), so it can be written as prose.
pub fn is_prose(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            c.is_alphanumeric()
                || matches!(
                    c,
                    ' ' | ','
                        | ';'
                        | '('
                        | ')'
                        | '\''
                        | '"'
                        | '/'
                        | '-'
                        | '+'
                        | '='
                        | '%'
                        | '!'
                        | '?'
                )
        })
}

/// A title as prose when it can be, else as code.
fn title(s: &str) -> String {
    let t = s.trim_end_matches('.');
    if is_prose(t) && t.chars().count() <= MAX_PIECE {
        format!("*{t}*")
    } else {
        code(t, MAX_PIECE)
    }
}

fn badge(s: Severity) -> &'static str {
    match s {
        Severity::Critical => ":red_circle: *CRITICAL*",
        Severity::High => ":large_orange_circle: *HIGH*",
        Severity::Medium => ":large_yellow_circle: *MEDIUM*",
        Severity::Low => ":large_blue_circle: *LOW*",
        Severity::Info => ":white_circle: *INFO*",
    }
}

fn section(text: String) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&text, MAX_SECTION) } })
}

fn context(text: String) -> Value {
    json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": clip(&text, MAX_SECTION) }] })
}

/// The fix lines shown: configuration, then the chosen family.
fn fix_shown(item: &Item<'_>, firewall: FirewallTool) -> Vec<String> {
    let r = &item.finding.remediation;
    let mut lines: Vec<String> = r.config.clone();
    // The chosen family, else the first that has commands for this port.
    let family = std::iter::once(firewall)
        .chain(FirewallTool::ALL)
        .map(|t| r.commands(t))
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    lines.extend(family.iter().cloned());
    if lines.len() > MAX_FIX_LINES {
        let more = lines.len() - (MAX_FIX_LINES - 1);
        lines.truncate(MAX_FIX_LINES - 1);
        lines.push(format!("… {more} more lines in the JSON report"));
    }
    lines
}

/// One finding's section text.
fn finding_text(item: &Item<'_>, firewall: FirewallTool) -> String {
    let f = item.finding;
    let mut t = format!(
        "{}  {}  on {}",
        badge(f.severity),
        code(&f.rule, 100),
        code(&item.location(), 100)
    );
    if let Some(h) = item.host {
        t.push_str(&format!(" ({})", code(h, 100)));
    }
    t.push('\n');
    t.push_str(&title(&f.title));
    if let Some(svc) = item.service {
        let mut s = svc.name.clone();
        for part in [&svc.product, &svc.version].into_iter().flatten() {
            s.push(' ');
            s.push_str(part);
        }
        t.push_str(&format!("\n*Service:* {}", code(&s, 200)));
    }
    t.push_str(&format!("\n*Seen:* {}", code(&f.evidence, MAX_PIECE)));
    let policy = item.policy_facts();
    if !policy.is_empty() {
        t.push_str(&format!("\n*Policy:* {}", code(&policy.join(", "), 200)));
    }
    let fix = fix_shown(item, firewall);
    if !fix.is_empty() {
        t.push_str(&format!("\n*Fix:*\n{}", code_block(&fix)));
    }
    t
}

fn counts_text(s: &Summary) -> String {
    let n = &s.counts;
    format!(
        "{} critical, {} high, {} medium, {} low, {} info",
        n.critical, n.high, n.medium, n.low, n.info
    )
}

/// The summary section: targets, ports, counts, exit, coverage.
fn summary_text(s: &Summary) -> String {
    let c = &s.coverage;
    let mut t = format!(
        "*Targets:* {}  *Ports:* {}\n*Findings:* {}; fail-on {}: *exit {}*\n{} ports attempted: {} open, {} closed, {} filtered",
        code(&s.scan.targets.join(", "), 500),
        code(&s.scan.ports, 200),
        counts_text(s),
        s.fail_on.as_str(),
        s.exit_code,
        c.attempted,
        c.open,
        c.closed,
        c.filtered
    );
    if c.unresolved > 0 || s.interrupted {
        t.push_str(&format!(
            "\n:warning: *Incomplete:* {} ports unresolved{}",
            c.unresolved,
            if s.interrupted {
                ", scan interrupted"
            } else {
                ""
            }
        ));
    }
    t
}

/// `rule on place` for a list line, as code.
fn listed(places: impl Iterator<Item = String>, total: usize) -> String {
    let mut parts: Vec<String> = places.take(MAX_LISTED).map(|p| code(&p, 120)).collect();
    if total > MAX_LISTED {
        parts.push(format!("and {} more", total - MAX_LISTED));
    }
    parts.join(", ")
}

fn resolved_text(s: &Summary) -> Option<String> {
    if s.resolved.is_empty() {
        return None;
    }
    let places = s.resolved.iter().map(|r| {
        let rule = r.rule.as_deref().unwrap_or("finding");
        match (r.ip, r.port) {
            (Some(IpAddr::V6(ip)), Some(p)) => format!("{rule} on [{ip}]:{p}"),
            (Some(ip), Some(p)) => format!("{rule} on {ip}:{p}"),
            (Some(ip), None) => format!("{rule} on {ip}"),
            _ => format!("{rule} {}", r.fingerprint),
        }
    });
    Some(format!(
        ":white_check_mark: *Resolved since the baseline ({}):* {}",
        s.resolved.len(),
        listed(places, s.resolved.len())
    ))
}

/// The fallback `text` (notifications).
fn fallback(s: &Summary, total: usize) -> String {
    let t = format!(
        "exposecheck: {total} findings ({}) on {}; exit {}",
        counts_text(s),
        code(&s.scan.targets.join(", "), 200),
        s.exit_code
    );
    clip(&t, MAX_TEXT)
}

fn header(items: &[Item<'_>]) -> Value {
    let text = match items.first() {
        None => "exposecheck: no findings".to_string(),
        Some(i) => format!(
            "exposecheck: {} findings, worst {}",
            items.len(),
            i.finding.severity.as_str()
        ),
    };
    json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&text, MAX_HEADER) } })
}

/// The whole message for the collected hosts and the summary.
pub fn message(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary, firewall: FirewallTool) -> Value {
    let items: Vec<Item<'_>> = collect::findings(hosts, s)
        .into_iter()
        .filter(|i| !i.expected())
        .collect();
    let (known, new): (Vec<&Item<'_>>, Vec<&Item<'_>>) = items
        .iter()
        .partition(|i| i.finding.baseline == Some(BaselineStatus::Unchanged));
    let mut blocks = vec![
        header(&items),
        section(summary_text(s)),
        json!({ "type": "divider" }),
    ];
    let mut tail = Vec::new();
    if !known.is_empty() {
        let places = known
            .iter()
            .map(|i| format!("{} on {}", i.finding.rule, i.location()));
        tail.push(context(format!(
            "*Already in the baseline ({}):* {}",
            known.len(),
            listed(places, known.len())
        )));
    }
    tail.extend(resolved_text(s).map(context));
    tail.push(context(format!(
        "exposecheck {} · scan {} to {} · shard {}",
        code(&s.scan.version, 40),
        code(&s.scan.start, 40),
        code(s.scan.end.as_deref().unwrap_or("-"), 40),
        code(&s.scan.shard, 40)
    )));
    // One block is kept for the "more" line when the findings do not fit.
    let room = MAX_BLOCKS - blocks.len() - tail.len();
    let shown = if new.len() > room {
        room - 1
    } else {
        new.len()
    };
    if new.is_empty() {
        blocks.push(section(if items.is_empty() {
            "No findings.".to_string()
        } else {
            "No new findings.".to_string()
        }));
    }
    for i in &new[..shown] {
        blocks.push(section(finding_text(i, firewall)));
    }
    if shown < new.len() {
        blocks.push(context(format!(
            "… and {} more new findings not shown (a message holds {MAX_BLOCKS} blocks): the JSON and SARIF reports list them all.",
            new.len() - shown
        )));
    }
    blocks.extend(tail);
    json!({
        "text": fallback(s, items.len()),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}
