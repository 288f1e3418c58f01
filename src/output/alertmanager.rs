//! Alertmanager: the body of `POST /api/v2/alerts`, a JSON array of
//! postable alerts, ready to send:
//! `curl -sS -X POST -H 'Content-Type: application/json' --data-binary
//! @alerts.json "$ALERTMANAGER_URL/api/v2/alerts"`. Nothing is sent from here.
//!
//! **What goes out.** A firing alert for every finding the policy does not
//! expect (expected ones are not alerts), worst first, and with `--baseline`
//! a resolved alert for every baseline finding no longer seen
//! (`Summary::resolved`). An empty run is `[]`.
//!
//! **The API** (prometheus/alertmanager `api/v2/openapi.yaml`,
//! `postableAlert`; the handler in `api/v2/api.go`): `labels` is required;
//! `annotations`, `startsAt`, `endsAt` (RFC 3339) and `generatorURL` are
//! optional. Alertmanager drops empty label values, rejects an alert with no
//! label left or an `endsAt` before its `startsAt`, and takes an alert whose
//! `endsAt` is past as resolved. Label names are `[a-zA-Z_][a-zA-Z0-9_]*`
//! (the classic validation; ours are fixed). Alerts are identified by their
//! label set, so the labels hold only what a resolved baseline record also
//! has ([`crate::model::ResolvedFinding`]: fingerprint, rule, severity,
//! address, port) and a resolve matches the alert it ends:
//! `alertname` (the rule as `RedisUnauthenticated`, [`ALERTNAME`] when the
//! baseline did not record the rule), `rule`, `severity`, `instance`
//! (`ip:port`) and `fingerprint`. Everything else (title, evidence, host,
//! service, fix) is an annotation, cut to [`MAX_ANNOTATION`] characters and
//! made terminal-safe; `runbook_url` is the rule's reference. An alert whose
//! severity changes (a policy override) is a new alert; the old one ends at
//! its own `endsAt`.
//!
//! **Times.** `startsAt` is the scan's start. Alertmanager ends an alert
//! that is not re-sent at its `endsAt`, and a scan re-sends only when it
//! runs, so a firing alert's `endsAt` is the scan's end plus [`HOLD_HOURS`]
//! hours: a daily scan keeps it firing, and an alert no scan confirms any
//! more ends by itself a day later. A resolved alert has `endsAt` = the
//! scan's end, which is past by the time it is posted.

use super::collect::{self, AtEnd, HostRows, Item, Render, Rendered};
use super::sarif::{clip, fix_lines, rule_name};
use super::{parse_rfc3339, terminal_safe, Summary};
use crate::model::ResolvedFinding;
use crate::verdict::rules;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;

/// The `alertname` of a resolved finding whose rule the baseline lacks.
pub const ALERTNAME: &str = "ExposecheckFinding";
/// Characters in one annotation or label value.
pub const MAX_ANNOTATION: usize = 4000;
/// How long past the scan's end a firing alert lasts unless re-sent.
pub const HOLD_HOURS: i64 = 25;

/// The Alertmanager alerts format.
pub struct Alertmanager;

impl Alertmanager {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write>) -> AtEnd<Alertmanager> {
        AtEnd::new(out, Alertmanager)
    }
}

impl Render for Alertmanager {
    fn render(&self, hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary) -> Rendered {
        Rendered::Document(alerts(hosts, s))
    }
}

/// `ip:port`, `[v6]:port` or `ip`.
fn instance(ip: Option<IpAddr>, port: Option<u16>) -> Option<String> {
    match (ip?, port) {
        (IpAddr::V6(ip), Some(p)) => Some(format!("[{ip}]:{p}")),
        (ip, Some(p)) => Some(format!("{ip}:{p}")),
        (ip, None) => Some(ip.to_string()),
    }
}

/// A label or annotation value: terminal-safe, cut.
fn value(s: &str) -> Value {
    json!(clip(&terminal_safe(s), MAX_ANNOTATION))
}

/// The label set of a finding, from what a baseline record also holds.
fn labels(
    fingerprint: &str,
    rule: Option<&str>,
    severity: Option<&str>,
    instance: Option<String>,
) -> Map<String, Value> {
    let name = rule.map(rule_name).filter(|n| !n.is_empty());
    let mut l = Map::new();
    l.insert(
        "alertname".into(),
        value(name.as_deref().unwrap_or(ALERTNAME)),
    );
    l.insert("fingerprint".into(), value(fingerprint));
    if let Some(r) = rule {
        l.insert("rule".into(), value(r));
    }
    if let Some(s) = severity {
        l.insert("severity".into(), json!(s));
    }
    if let Some(i) = instance {
        l.insert("instance".into(), json!(i));
    }
    l.retain(|_, v| v.as_str().is_some_and(|s| !s.is_empty()));
    l
}

fn annotations(item: &Item<'_>) -> Map<String, Value> {
    let f = item.finding;
    let mut a = Map::new();
    let mut summary = format!("{} on {}", f.title.trim_end_matches('.'), item.location());
    if let Some(h) = item.host {
        summary.push_str(&format!(" ({h})"));
    }
    a.insert("summary".into(), value(&summary));
    a.insert("description".into(), value(&f.evidence));
    if let Some(h) = item.host {
        a.insert("host".into(), value(h));
    }
    if let Some(svc) = item.service {
        let mut s = svc.name.clone();
        for part in [&svc.product, &svc.version].into_iter().flatten() {
            s.push(' ');
            s.push_str(part);
        }
        a.insert("service".into(), value(&s));
    }
    let policy = item.policy_facts();
    if !policy.is_empty() {
        a.insert("policy".into(), value(&policy.join(", ")));
    }
    let fix = fix_lines(&f.remediation);
    if !fix.is_empty() {
        a.insert("fix".into(), json!(clip(&fix.join("\n"), MAX_ANNOTATION)));
    }
    let reference = rules::kind_of(&f.rule).and_then(|k| k.rule().references.first());
    if let Some(uri) = reference {
        a.insert("runbook_url".into(), json!(uri));
    }
    a
}

/// RFC 3339 for Unix seconds.
fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The scan's start and end as Unix seconds (the end is the start when the
/// summary has none; either is now when it does not parse).
fn scan_times(s: &Summary) -> (i64, i64) {
    let now = jiff::Timestamp::now().as_second();
    let start = parse_rfc3339(&s.scan.start).unwrap_or(now);
    let end = s
        .scan
        .end
        .as_deref()
        .and_then(parse_rfc3339)
        .unwrap_or(start)
        .max(start);
    (start, end)
}

/// The firing alert for one finding.
pub fn firing(item: &Item<'_>, s: &Summary) -> Value {
    let f = item.finding;
    let (start, end) = scan_times(s);
    json!({
        "labels": labels(&f.fingerprint, Some(&f.rule), Some(f.severity.as_str()), instance(item.ip, item.port)),
        "annotations": annotations(item),
        "startsAt": rfc3339(start),
        "endsAt": rfc3339(end + HOLD_HOURS * 3600),
    })
}

/// The resolved alert for a baseline finding no longer seen.
pub fn resolved(r: &ResolvedFinding, s: &Summary) -> Value {
    let (start, end) = scan_times(s);
    json!({
        "labels": labels(&r.fingerprint, r.rule.as_deref(), r.severity.map(|s| s.as_str()), instance(r.ip, r.port)),
        "annotations": { "summary": value(&format!(
            "Resolved: no longer seen by the scan of {}",
            s.scan.targets.join(", ")
        )) },
        "startsAt": rfc3339(start),
        "endsAt": rfc3339(end),
    })
}

/// The whole body: firing alerts (worst first), then resolved ones.
pub fn alerts(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary) -> Value {
    let (firing_items, gone) = collect::alerts(hosts, s);
    let out = firing_items.iter().map(|i| firing(i, s));
    Value::Array(
        out.chain(gone.into_iter().map(|r| resolved(r, s)))
            .collect(),
    )
}
