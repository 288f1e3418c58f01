//! The alert bodies (Slack, PagerDuty, Alertmanager): goldens of the fixture
//! scan; each body checked against its API's published required fields and
//! limits ([`check_slack`], [`check_pagerduty`], [`check_alertmanager`], also
//! run on every hostile banner); which findings go out (not the expected
//! ones; resolves for the baseline's resolved ones, matching their triggers);
//! a Slack message at the block limit; and a 10 KB hostile banner.

use super::fixtures::{hostile_with, render, render_styled, results, summary, ROUTING_KEY};
use super::golden;
use crate::model::{FirewallTool, PolicyStatus, PortResult, ResolvedFinding, Severity, SourceLine};
use crate::output::collect::Item;
use crate::output::{alertmanager, pagerduty, slack, Format, HumanStyle, Show, Summary};
use serde_json::Value;

fn fixture(format: Format) -> String {
    render(format, Show::default(), false, &results(), &summary())
}

fn chars(v: &Value) -> usize {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .chars()
        .count()
}

/// The text outside code blocks and inline code (panics on an unclosed one).
pub fn prose(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('`') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let fence = if after.starts_with("```") { "```" } else { "`" };
        let body = &after[fence.len()..];
        let end = body
            .find(fence)
            .unwrap_or_else(|| panic!("unclosed {fence} in {s:?}"));
        rest = &body[end + fence.len()..];
    }
    out.push_str(rest);
    out
}

/// Slack mrkdwn that cannot mention, link or forge: no raw `<` or `>`,
/// every `&` an entity, no control character but newline, code closed.
fn check_mrkdwn(s: &str) {
    assert!(!s.contains(['<', '>']), "a raw < or > in {s:?}");
    for (i, _) in s.match_indices('&') {
        let rest = &s[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;"]
                .iter()
                .any(|e| rest.starts_with(e)),
            "a bare & in {s:?}"
        );
    }
    assert!(
        !s.chars().any(|c| c.is_control() && c != '\n'),
        "a control character in {s:?}"
    );
    prose(s);
}

/// Panics unless `text` is an incoming-webhook message within Slack's
/// published limits; returns it.
pub fn check_slack(text: &str) -> Value {
    let msg: Value = serde_json::from_str(text).expect("one JSON object");
    let fallback = &msg["text"];
    assert!(
        (1..=slack::MAX_TEXT).contains(&chars(fallback)),
        "top-level text: {fallback}"
    );
    check_mrkdwn(fallback.as_str().expect("text"));
    let blocks = msg["blocks"].as_array().expect("blocks");
    assert!(
        (1..=slack::MAX_BLOCKS).contains(&blocks.len()),
        "{} blocks",
        blocks.len()
    );
    for b in blocks {
        match b["type"].as_str().expect("block type") {
            "header" => {
                assert_eq!(b["text"]["type"], "plain_text", "{b}");
                assert!(
                    (1..=slack::MAX_HEADER).contains(&chars(&b["text"]["text"])),
                    "{b}"
                );
            }
            "section" => {
                assert_eq!(b["text"]["type"], "mrkdwn", "{b}");
                assert!(
                    (1..=slack::MAX_SECTION).contains(&chars(&b["text"]["text"])),
                    "{b}"
                );
                check_mrkdwn(b["text"]["text"].as_str().expect("text"));
            }
            "context" => {
                let els = b["elements"].as_array().expect("elements");
                assert!((1..=10).contains(&els.len()), "{b}");
                for e in els {
                    assert_eq!(e["type"], "mrkdwn", "{b}");
                    assert!((1..=slack::MAX_SECTION).contains(&chars(&e["text"])), "{b}");
                    check_mrkdwn(e["text"].as_str().expect("text"));
                }
            }
            "divider" => assert_eq!(b.as_object().map(|o| o.len()), Some(1), "{b}"),
            other => panic!("unexpected block type {other}"),
        }
    }
    assert_eq!(msg["unfurl_links"], false);
    msg
}

fn rfc3339(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    crate::output::parse_rfc3339(s).unwrap_or_else(|| panic!("not RFC 3339: {s}"))
}

/// Panics unless every line of `text` is an Events API v2 event within
/// PagerDuty's published limits; returns them.
pub fn check_pagerduty(text: &str) -> Vec<Value> {
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    let mut out = Vec::new();
    for line in text.lines() {
        assert!(
            line.len() <= pagerduty::MAX_EVENT_BYTES,
            "{} bytes",
            line.len()
        );
        let ev: Value = serde_json::from_str(line).expect("one JSON event per line");
        assert!(chars(&ev["routing_key"]) > 0, "{ev}");
        assert!(
            (1..=pagerduty::MAX_DEDUP_KEY).contains(&chars(&ev["dedup_key"])),
            "{ev}"
        );
        match ev["event_action"].as_str() {
            Some("trigger") => {
                let p = &ev["payload"];
                assert!(
                    (1..=pagerduty::MAX_SUMMARY).contains(&chars(&p["summary"])),
                    "{ev}"
                );
                assert!(chars(&p["source"]) > 0, "{ev}");
                assert!(
                    ["critical", "error", "warning", "info"]
                        .contains(&p["severity"].as_str().expect("severity")),
                    "{ev}"
                );
                if !p["timestamp"].is_null() {
                    rfc3339(&p["timestamp"]);
                }
            }
            Some("resolve") => {}
            other => panic!("event_action {other:?}"),
        }
        out.push(ev);
    }
    out
}

/// Whether `name` is a classic Prometheus label name.
fn label_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Panics unless `text` is a `POST /api/v2/alerts` body Alertmanager
/// accepts; returns the alerts.
pub fn check_alertmanager(text: &str) -> Vec<Value> {
    let body: Value = serde_json::from_str(text).expect("one JSON document");
    let alerts = body.as_array().expect("an array of alerts").clone();
    for a in &alerts {
        let labels = a["labels"].as_object().expect("labels");
        assert!(chars(&labels["alertname"]) > 0, "{a}");
        for (k, v) in labels {
            assert!(label_name(k), "label name {k:?}");
            assert!(chars(v) > 0, "empty label {k}");
            assert!(
                !v.as_str().unwrap_or_default().chars().any(char::is_control),
                "{k}={v}"
            );
        }
        for (k, v) in a["annotations"].as_object().expect("annotations") {
            assert!(label_name(k), "annotation name {k:?}");
            assert!(v.is_string(), "{k}={v}");
            assert!(chars(v) <= alertmanager::MAX_ANNOTATION, "{k}");
        }
        assert!(rfc3339(&a["endsAt"]) >= rfc3339(&a["startsAt"]), "{a}");
    }
    alerts
}

/// The fingerprints of the fixture's findings the policy does not expect,
/// worst first.
fn unexpected_fingerprints() -> Vec<&'static str> {
    vec![
        "3b1f0c9a7d2e4f60",
        "a0c4e3d2b1f09876",
        "5d6e7f8091a2b3c4",
        "7a6b5c4d3e2f1a0b",
        "e5f6a7b8c9d0e1f2",
        "c4b3a29180f7e6d5",
        "0f1e2d3c4b5a6978",
    ]
}

#[test]
fn slack_golden_and_limits() {
    let text = fixture(Format::Slack);
    golden::check("fixture.slack.json", &text);
    let msg = check_slack(&text);
    let blocks = msg["blocks"].as_array().expect("blocks");
    assert_eq!(
        blocks[0]["text"]["text"],
        "exposecheck: 7 findings, worst critical"
    );
    let sections: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .skip(1)
        .map(|b| b["text"]["text"].as_str().expect("text"))
        .collect();
    assert_eq!(
        sections.len(),
        6,
        "one per new finding: the baseline had mysql"
    );
    assert!(
        sections[0].contains("`redis-unauthenticated`"),
        "{}",
        sections[0]
    );
    assert!(sections[0].contains("iptables -I INPUT -p tcp --dport 6379"));
    assert!(
        !sections[0].contains("ufw deny"),
        "only the --firewall family"
    );
    assert!(
        !text.contains("ssh-exposed"),
        "expected findings are not alerts"
    );
    let tail: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "context")
        .map(|b| b["elements"][0]["text"].as_str().expect("text"))
        .collect();
    assert!(
        tail[0].starts_with("*Already in the baseline (1):* `mysql-reachable on 203.0.113.7:3306`"),
        "{tail:?}"
    );
    assert!(
        tail[1].contains("`memcached-unauthenticated on 198.51.100.20:11211`"),
        "{tail:?}"
    );
    assert!(msg["text"]
        .as_str()
        .expect("text")
        .starts_with("exposecheck: 7 findings (1 critical"));
}

#[test]
fn slack_fix_follows_the_firewall_family() {
    let style = HumanStyle {
        firewall: FirewallTool::Ufw,
        ..HumanStyle::default()
    };
    let text = render_styled(
        Format::Slack,
        Show::default(),
        style,
        &results(),
        &summary(),
    );
    let msg = check_slack(&text);
    let section = |rule: &str| {
        msg["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .find(|t| t.contains(&format!("`{rule}`")))
            .unwrap_or_else(|| panic!("no {rule}"))
            .to_string()
    };
    let redis = section("redis-unauthenticated");
    assert!(
        redis.contains("ufw deny 6379/tcp") && !redis.contains("iptables -I"),
        "{redis}"
    );
    // The dual-stack fix has iptables lines only: they stand in.
    assert!(section("dual-stack-mismatch").contains("iptables -I INPUT -p tcp --dport 6379"));
}

/// `n` open ports on one address, each with a critical finding of its own.
fn many(n: u16) -> (Vec<PortResult>, Summary) {
    let (one, mut s) = hostile_with("redis");
    s.findings.clear();
    s.resolved.clear();
    let rs = (0..n)
        .map(|i| {
            let mut r = one[0].clone();
            r.port = 1000 + i;
            if let Some(f) = r.finding.as_mut() {
                f.fingerprint = format!("{i:016x}");
                f.severity = if i % 2 == 0 {
                    Severity::Critical
                } else {
                    Severity::Low
                };
            }
            r
        })
        .collect();
    (rs, s)
}

#[test]
fn slack_stops_at_fifty_blocks_and_says_how_many_more() {
    let (rs, s) = many(120);
    let msg = check_slack(&render(Format::Slack, Show::default(), false, &rs, &s));
    let blocks = msg["blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), slack::MAX_BLOCKS);
    let shown = blocks.iter().filter(|b| b["type"] == "section").count() - 1;
    let more = blocks
        .iter()
        .find_map(|b| {
            b["elements"][0]["text"]
                .as_str()
                .filter(|t| t.starts_with("… and"))
        })
        .expect("a more line");
    assert!(
        more.starts_with(&format!("… and {} more new findings", 120 - shown)),
        "{more}"
    );
    // Worst first: every shown finding is critical, the low ones wait.
    assert!(blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .skip(1)
        .all(|b| b["text"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("CRITICAL"))));
}

#[test]
fn slack_says_so_when_nothing_was_found() {
    let s = Summary::new(summary().scan, summary().coverage);
    let msg = check_slack(&render(Format::Slack, Show::default(), false, &[], &s));
    assert_eq!(msg["blocks"][0]["text"]["text"], "exposecheck: no findings");
    assert!(msg["blocks"].to_string().contains("No findings."));
}

#[test]
fn pagerduty_golden_and_fields() {
    let text = fixture(Format::Pagerduty);
    golden::check("fixture.pagerduty.ndjson", &text);
    let events = check_pagerduty(&text);
    assert_eq!(events.len(), 8, "seven triggers, one resolve");
    let (triggers, resolves): (Vec<&Value>, Vec<&Value>) =
        events.iter().partition(|e| e["event_action"] == "trigger");
    let keys: Vec<&str> = triggers
        .iter()
        .map(|e| e["dedup_key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        unexpected_fingerprints(),
        "dedup_key = fingerprint, worst first"
    );
    assert_eq!(resolves.len(), 1);
    assert_eq!(
        resolves[0]["dedup_key"], "9a8b7c6d5e4f3021",
        "the baseline's resolved finding"
    );
    assert!(events.iter().all(|e| e["routing_key"] == ROUTING_KEY));
    let sev: Vec<&str> = triggers
        .iter()
        .map(|e| e["payload"]["severity"].as_str().expect("severity"))
        .collect();
    assert_eq!(
        sev,
        ["critical", "error", "warning", "warning", "warning", "info", "info"]
    );
    let redis = &triggers[0]["payload"];
    assert_eq!(redis["source"], "db1.example.com");
    assert_eq!(redis["component"], "redis");
    assert_eq!(
        redis["summary"],
        "[CRITICAL] Redis accepts commands without authentication on 203.0.113.7:6379"
    );
    assert_eq!(
        redis["custom_details"]["fix"]["configuration"][0],
        "bind 127.0.0.1 -::1"
    );
}

#[test]
fn pagerduty_routing_key_comes_from_the_variable_or_a_placeholder() {
    use pagerduty::{routing_key, ROUTING_KEY_PLACEHOLDER};
    assert_eq!(routing_key(None), ROUTING_KEY_PLACEHOLDER);
    assert_eq!(routing_key(Some("  ".into())), ROUTING_KEY_PLACEHOLDER);
    assert_eq!(routing_key(Some(" abc123 ".into())), "abc123");
    let text = render(
        Format::Pagerduty,
        Show::default(),
        false,
        &[],
        &Summary::default(),
    );
    assert_eq!(text, "", "nothing to send, nothing written");
}

/// The fixture's redis result as an [`Item`].
fn redis_item(rs: &[PortResult]) -> Item<'_> {
    let r = rs
        .iter()
        .find(|r| r.port == 6379 && r.finding.is_some())
        .expect("redis");
    Item {
        proto: crate::model::Proto::Tcp,
        ip: Some(r.ip),
        host: r.host.as_deref(),
        port: Some(r.port),
        service: r.service.as_ref(),
        finding: r.finding.as_ref().expect("finding"),
        host_level: false,
    }
}

/// A resolve names the alert its trigger opened: the same `dedup_key`, the
/// same Alertmanager label set, from what a baseline keeps of the finding.
#[test]
fn resolves_match_their_triggers() {
    let (rs, s) = (results(), summary());
    let item = redis_item(&rs);
    let f = item.finding;
    let gone = ResolvedFinding {
        fingerprint: f.fingerprint.clone(),
        ip: item.ip,
        port: item.port,
        rule: Some(f.rule.clone()),
        severity: Some(f.severity),
    };
    assert_eq!(
        pagerduty::trigger(&item, &s, "k")["dedup_key"],
        pagerduty::resolve(&gone, "k")["dedup_key"]
    );
    let firing = alertmanager::firing(&item, &s);
    let resolved = alertmanager::resolved(&gone, &s);
    assert_eq!(firing["labels"], resolved["labels"]);
    assert_eq!(firing["labels"]["alertname"], "RedisUnauthenticated");
    assert_eq!(firing["labels"]["instance"], "203.0.113.7:6379");
}

#[test]
fn alertmanager_golden_and_fields() {
    let text = fixture(Format::Alertmanager);
    golden::check("fixture.alertmanager.json", &text);
    let alerts = check_alertmanager(&text);
    assert_eq!(alerts.len(), 8, "seven firing, one resolved");
    let now = jiff::Timestamp::now().as_second();
    let end = rfc3339(&Value::from("2026-11-25T10:00:42Z"));
    let (firing, resolved) = alerts.split_at(7);
    for a in firing {
        assert!(
            rfc3339(&a["endsAt"]) >= end + alertmanager::HOLD_HOURS * 3600,
            "{a}"
        );
        assert_eq!(a["startsAt"], "2026-11-25T10:00:00Z");
        assert!(a["annotations"]["summary"].is_string(), "{a}");
    }
    let fps: Vec<&str> = firing
        .iter()
        .map(|a| a["labels"]["fingerprint"].as_str().expect("fp"))
        .collect();
    assert_eq!(fps, unexpected_fingerprints());
    let gone = &resolved[0];
    assert!(
        rfc3339(&gone["endsAt"]) <= now,
        "a resolved alert ends now or before"
    );
    assert_eq!(rfc3339(&gone["endsAt"]), end);
    assert_eq!(gone["labels"]["fingerprint"], "9a8b7c6d5e4f3021");
    assert_eq!(gone["labels"]["alertname"], "MemcachedUnauthenticated");
    assert_eq!(gone["labels"]["instance"], "198.51.100.20:11211");
    assert_eq!(firing[0]["labels"]["severity"], "critical");
    assert_eq!(
        firing[0]["annotations"]["runbook_url"],
        crate::verdict::rules::RuleKind::ServiceUnauthenticated
            .rule()
            .references[0]
    );
    let empty = render(
        Format::Alertmanager,
        Show::default(),
        false,
        &[],
        &Summary::default(),
    );
    assert_eq!(empty, "[]\n");
}

/// A finding with no address, no policy status and no rule the table knows
/// still makes a valid body in every alert format.
#[test]
fn a_policy_only_finding_is_a_valid_alert() {
    let (mut rs, mut s) = (results(), summary());
    rs.clear();
    s.findings.retain(|f| f.ip.is_none());
    s.findings[0].finding.policy = Some(PolicyStatus::Stale);
    s.findings[0].finding.policy_entry = Some(SourceLine {
        file: "../elsewhere/policy.toml".into(),
        line: 3,
    });
    let pd = check_pagerduty(&render(Format::Pagerduty, Show::default(), false, &rs, &s));
    assert_eq!(pd[0]["payload"]["source"], "../elsewhere/policy.toml:3");
    let am = check_alertmanager(&render(
        Format::Alertmanager,
        Show::default(),
        false,
        &rs,
        &s,
    ));
    assert!(am[0]["labels"].get("instance").is_none());
    check_slack(&render(Format::Slack, Show::default(), false, &rs, &s));
}

/// A banner that mentions everyone, formats, quotes, breaks lines and runs
/// to 10 KB.
fn loud_banner() -> String {
    format!(
        "<!channel> <@U123> <https://evil.test|click> *bold* _it_ ~strike~ `tick` ```fence``` \"dq\" 'sq' &amp; \n{{\"event_action\":\"resolve\"}}\r\nnext :rocket: {}",
        "A".repeat(10 * 1024)
    )
}

#[test]
fn slack_keeps_a_loud_banner_quiet() {
    let banner = loud_banner();
    let (rs, s) = hostile_with(&banner);
    let text = render(Format::Slack, Show::default(), false, &rs, &s);
    let msg = check_slack(&text);
    let mut strings = vec![msg["text"].as_str().expect("text").to_string()];
    for b in msg["blocks"].as_array().expect("blocks") {
        for t in [&b["text"]["text"], &b["elements"][0]["text"]] {
            strings.extend(t.as_str().map(str::to_string));
        }
    }
    for s in &strings {
        let p = prose(s);
        for bad in [
            "*bold*",
            "_it_",
            "~strike~",
            ":rocket:",
            "evil.test",
            "AAAA",
        ] {
            assert!(!p.contains(bad), "{bad:?} outside code in {s:?}");
        }
    }
    assert!(text.contains("&lt;!channel&gt;"), "shown, as text");
    assert!(!text.contains(&"A".repeat(slack::MAX_SECTION)), "cut");
}

#[test]
fn pagerduty_keeps_a_loud_banner_in_its_fields() {
    let banner = loud_banner();
    let (rs, s) = hostile_with(&banner);
    let text = render(Format::Pagerduty, Show::default(), false, &rs, &s);
    let events = check_pagerduty(&text);
    assert_eq!(
        text.lines().count(),
        2,
        "the banner's newline forged no event"
    );
    assert!(events.iter().all(|e| e["event_action"] == "trigger"));
    for e in &events {
        let d = e["payload"]["custom_details"].as_object().expect("details");
        for (k, v) in d {
            if let Some(s) = v.as_str() {
                assert!(s.chars().count() <= pagerduty::MAX_DETAIL, "{k}");
                assert!(!s.chars().any(char::is_control), "{k}: {s:?}");
            }
        }
        let summary = e["payload"]["summary"].as_str().expect("summary");
        assert!(
            !summary.contains('\n') && summary.ends_with('…'),
            "{summary:?}"
        );
    }
}

#[test]
fn alertmanager_keeps_a_loud_banner_in_its_annotations() {
    let banner = loud_banner();
    let (rs, s) = hostile_with(&banner);
    let alerts = check_alertmanager(&render(
        Format::Alertmanager,
        Show::default(),
        false,
        &rs,
        &s,
    ));
    assert_eq!(alerts.len(), 2);
    for a in &alerts {
        let ann = a["annotations"].as_object().expect("annotations");
        assert!(ann["description"]
            .as_str()
            .is_some_and(|d| d.ends_with('…')));
        for (k, v) in ann {
            let v = v.as_str().expect("string");
            let allowed = |c: char| k == "fix" && c == '\n';
            assert!(
                !v.chars().any(|c| c.is_control() && !allowed(c)),
                "{k}: {v:?}"
            );
        }
    }
    let rules: Vec<&Value> = alerts.iter().map(|a| &a["labels"]["rule"]).collect();
    assert_eq!(rules, ["redis-unauthenticated", "dual-stack-mismatch"]);
}
