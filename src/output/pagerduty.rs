//! PagerDuty Events API v2: the events to `POST` to
//! `https://events.pagerduty.com/v2/enqueue`, **one JSON event per line**
//! (NDJSON). The API takes one event per request and has no batch form, so a
//! line is a request body:
//!
//! ```sh
//! exposecheck … --format pagerduty | while IFS= read -r ev; do
//!   curl -sS -X POST -H 'Content-Type: application/json' \
//!     --data-binary "$ev" https://events.pagerduty.com/v2/enqueue
//! done
//! ```
//!
//! **What goes out.** A `trigger` for every finding the policy does not
//! expect (expected ones are not alerts), worst first, and with `--baseline`
//! a `resolve` for every baseline finding no longer seen
//! (`Summary::resolved`). `dedup_key` is the finding's fingerprint, which
//! depends only on address, port, service and rule, so a finding seen again
//! adds to its open alert instead of paging anew, and its resolve closes
//! it. Severities map critical → `critical`, high → `error`, medium →
//! `warning`, low and info → `info`. A run with nothing to send writes
//! nothing.
//!
//! **The routing key** (the integration key, a credential) is read from
//! `$PAGERDUTY_ROUTING_KEY` when the body is rendered; when it is unset or
//! empty every event carries [`ROUTING_KEY_PLACEHOLDER`] instead, for the
//! pipeline to substitute (`sed "s/$PLACEHOLDER/$KEY/"`). With the variable
//! set the output holds the key: pipe it, do not keep it as a CI artifact.
//!
//! **PagerDuty's published limits** (PagerDuty/developer-docs,
//! events-API-v2 "Send an Alert Event" and "Overview"): `routing_key`,
//! `event_action` (`trigger`, `acknowledge`, `resolve`) always;
//! `payload.summary` (at most [`MAX_SUMMARY`] characters), `payload.source`
//! and `payload.severity` (`critical`, `error`, `warning`, `info`) for a
//! trigger; `dedup_key` at most [`MAX_DEDUP_KEY`] characters; a body at most
//! 512 KB ([`MAX_EVENT_BYTES`]). Every string is cut on a character
//! boundary, so network text ([`MAX_DETAIL`] characters per string in
//! `custom_details`) can never push an event over; serde_json escapes it, so
//! it can never break a line.

use super::collect::{self, AtEnd, HostRows, Item, Render, Rendered};
use super::sarif::{clip, families};
use super::{terminal_safe, Summary};
use crate::model::{ResolvedFinding, Severity};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::net::IpAddr;

/// The variable the routing key is read from.
pub const ROUTING_KEY_VAR: &str = "PAGERDUTY_ROUTING_KEY";
/// What `routing_key` holds when the variable is unset.
pub const ROUTING_KEY_PLACEHOLDER: &str = "PAGERDUTY_ROUTING_KEY_UNSET";
/// Characters in `payload.summary`.
pub const MAX_SUMMARY: usize = 1024;
/// Characters in `dedup_key`.
pub const MAX_DEDUP_KEY: usize = 255;
/// Bytes in one event.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// Characters of one string in `custom_details`.
pub const MAX_DETAIL: usize = 2000;
/// Lines of one fix family in `custom_details`.
const MAX_FIX_LINES: usize = 20;

/// The PagerDuty events format.
pub struct PagerDuty {
    routing_key: String,
}

impl PagerDuty {
    /// A writer over `out` with the routing key from
    /// `$PAGERDUTY_ROUTING_KEY`.
    pub fn from_env(out: Box<dyn Write>) -> AtEnd<PagerDuty> {
        PagerDuty::new(out, routing_key(std::env::var_os(ROUTING_KEY_VAR)))
    }

    /// A writer over `out` whose events carry `routing_key`.
    pub fn new(out: Box<dyn Write>, routing_key: String) -> AtEnd<PagerDuty> {
        AtEnd::new(out, PagerDuty { routing_key })
    }
}

/// The routing key for a value of `$PAGERDUTY_ROUTING_KEY`.
pub fn routing_key(var: Option<OsString>) -> String {
    var.map(|v| v.to_string_lossy().trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| ROUTING_KEY_PLACEHOLDER.to_string())
}

impl Render for PagerDuty {
    fn render(&self, hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary) -> Rendered {
        Rendered::Lines(events(hosts, s, &self.routing_key))
    }
}

/// PagerDuty's severity for one of ours.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

/// A fingerprint as a `dedup_key`.
fn dedup_key(fingerprint: &str) -> String {
    clip(fingerprint, MAX_DEDUP_KEY)
}

/// Network text for `custom_details`.
fn detail(s: &str) -> Value {
    json!(clip(&terminal_safe(s), MAX_DETAIL))
}

fn custom_details(item: &Item<'_>) -> Map<String, Value> {
    let f = item.finding;
    let mut d = Map::new();
    d.insert("rule".into(), detail(&f.rule));
    d.insert("severity".into(), json!(f.severity.as_str()));
    d.insert("where".into(), detail(&item.location()));
    if let Some(h) = item.host {
        d.insert("host".into(), detail(h));
    }
    if let Some(svc) = item.service {
        d.insert("service".into(), detail(&svc.name));
        for (k, v) in [("product", &svc.product), ("version", &svc.version)] {
            if let Some(v) = v {
                d.insert(k.into(), detail(v));
            }
        }
    }
    d.insert("evidence".into(), detail(&f.evidence));
    let policy = item.policy_facts();
    if !policy.is_empty() {
        d.insert("policy".into(), detail(&policy.join(", ")));
    }
    if let Some(b) = f.baseline {
        d.insert("baseline".into(), json!(b.as_str()));
    }
    let mut fix = Map::new();
    for (label, lines) in families(&f.remediation) {
        let lines: Vec<Value> = lines
            .iter()
            .take(MAX_FIX_LINES)
            .map(|l| detail(l))
            .collect();
        fix.insert(label.to_lowercase(), Value::Array(lines));
    }
    if !fix.is_empty() {
        d.insert("fix".into(), Value::Object(fix));
    }
    d
}

/// The system a finding is about: its hostname, else its address, else
/// its policy entry.
fn source(item: &Item<'_>) -> String {
    match (item.host, item.ip) {
        (Some(h), _) => clip(&terminal_safe(h), 255),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => clip(&terminal_safe(&item.location()), 255),
    }
}

/// The `trigger` event for one finding.
pub fn trigger(item: &Item<'_>, s: &Summary, routing_key: &str) -> Value {
    let f = item.finding;
    let summary = format!(
        "[{}] {} on {}",
        f.severity.as_str().to_uppercase(),
        terminal_safe(f.title.trim_end_matches('.')),
        terminal_safe(&item.location())
    );
    let mut payload = json!({
        "summary": clip(&summary, MAX_SUMMARY),
        "source": source(item),
        "severity": severity(f.severity),
        "timestamp": s.scan.end.as_deref().unwrap_or(&s.scan.start),
        "class": clip(&terminal_safe(&f.rule), 255),
        "custom_details": custom_details(item),
    });
    if let Some(svc) = item.service {
        payload["component"] = json!(clip(&terminal_safe(&svc.name), 255));
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(&f.fingerprint),
        "payload": payload,
        "client": "exposecheck",
    })
}

/// The `resolve` event for a baseline finding no longer seen.
pub fn resolve(r: &ResolvedFinding, routing_key: &str) -> Value {
    json!({
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": dedup_key(&r.fingerprint),
    })
}

/// Every event of the run, triggers (worst first) then resolves.
pub fn events(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary, routing_key: &str) -> Vec<Value> {
    let (firing, gone) = collect::alerts(hosts, s);
    let out = firing.iter().map(|i| trigger(i, s, routing_key));
    out.chain(gone.into_iter().map(|r| resolve(r, routing_key)))
        .collect()
}
