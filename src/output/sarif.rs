//! SARIF 2.1.0 for GitHub code scanning: one run whose driver lists one rule
//! per rule id seen (titles, rationale and references from the rules table,
//! [`crate::verdict::rules`]), and one result per finding.
//!
//! Code scanning needs a file in the repository to attach an alert to, and a
//! network scan has none, so each result points at the line of the policy
//! file that explains it: the matching entry (`Finding::policy_entry`) when
//! there is one, else line 1 of the policy file in force (`Summary::policy`),
//! else line 1 of `exposecheck.toml`. Alerts stay stable across runs through
//! `partialFingerprints.primaryLocationLineHash` = the finding's fingerprint.
//!
//! Findings the policy expects are left out (they are not alerts); other info
//! findings are `note`s. Every message string (result messages, rule
//! descriptions and help) is made literal: control characters become `\xNN`,
//! square brackets are backslash-escaped (SARIF 2.1.0 §3.11.6: otherwise
//! `[text](1)` is an embedded link) and curly braces are doubled (§3.11.5:
//! otherwise `{0}` is a placeholder a viewer substitutes).

use super::collect::{self, Collector, HostRows, Item};
use super::{terminal_safe, Show, Sink, Summary};
use crate::model::{Finding, PortResult, Severity};
use crate::verdict::rules::{self, Rule, RuleKind};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// The `$schema` written into every log.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Used when neither the finding nor the run names a policy file.
pub const DEFAULT_POLICY: &str = "exposecheck.toml";

/// Buffering SARIF writer.
pub struct Sarif {
    out: Box<dyn Write>,
    hosts: Collector,
}

impl Sarif {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write>) -> Sarif {
        Sarif {
            out,
            hosts: Collector::new(Show::default()),
        }
    }
}

impl Sink for Sarif {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if r.finding.is_some() {
            self.hosts.add(r);
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let hosts = self.hosts.take();
        serde_json::to_writer_pretty(&mut self.out, &log(&hosts, s))?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// GitHub's `security-severity` for a severity.
pub fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// The SARIF `level` for a severity.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium | Severity::Low => "warning",
        Severity::Info => "note",
    }
}

/// Network text as a SARIF plain-text message fragment.
pub fn plain(s: &str) -> String {
    literal(&terminal_safe(s))
}

/// Terminal-safe text as literal message text: `[`/`]` escaped, `{`/`}` doubled.
pub fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '{' | '}' => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A path as a SARIF URI: relative paths stay relative (to `%SRCROOT%`),
/// absolute ones become `file://` URIs; unsafe bytes are percent-encoded.
pub fn path_uri(path: &str) -> (String, bool) {
    let p = path.replace('\\', "/");
    let p = p.strip_prefix("./").unwrap_or(&p);
    let mut enc = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    if p.starts_with('/') {
        (format!("file://{enc}"), false)
    } else {
        (enc, true)
    }
}

/// `redis-unauthenticated` → `Redis unauthenticated`.
fn rule_text(id: &str) -> String {
    let words = id.replace(['-', '_'], " ");
    let mut c = words.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn rule_name(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn fix_lines(f: &Finding) -> Vec<String> {
    let r = &f.remediation;
    let mut out = Vec::new();
    for (label, lines) in [
        ("Configuration", &r.config),
        ("iptables", &r.iptables),
        ("nftables", &r.nftables),
        ("ufw", &r.ufw),
        ("Notes", &r.notes),
    ] {
        if !lines.is_empty() {
            out.push(format!("{label}:"));
            out.extend(lines.iter().map(|l| format!("  {}", terminal_safe(l))));
        }
    }
    out
}

const GENERIC_HELP: &str = "Bind the service to localhost (or an internal address), or firewall the port so \
only the hosts that need it can connect. Each alert's message lists the exact commands for its port.";

fn rule(id: &str, worst: Severity, items: &[&Item<'_>]) -> Value {
    let first = items[0].finding;
    let short = plain(&rule_text(id));
    let lead = if items.iter().all(|i| i.finding.title == first.title) {
        plain(first.title.trim_end_matches('.'))
    } else {
        short.clone()
    };
    let fixes = fix_lines(first);
    let help = if items.iter().all(|i| fix_lines(i.finding).is_empty()) {
        format!("{lead}: the alert's message says what was observed and where.")
    } else if items
        .iter()
        .all(|i| i.finding.remediation == first.remediation)
    {
        literal(&fixes.join("\n"))
    } else {
        GENERIC_HELP.to_string()
    };
    let known = rules::kind_of(id).map(RuleKind::rule);
    // Ids the table does not know (read back from another version's output)
    // get descriptions made up from their findings.
    let (short, full) = match known {
        Some(k) => (literal(k.title), literal(&table_description(k, worst))),
        None => (
            short,
            format!(
                "{lead}. exposecheck reports {} when a service answers from where the scan ran that should not; worst severity seen: {}.",
                plain(id),
                worst.as_str()
            ),
        ),
    };
    let mut tags = vec!["security", "exposure"];
    tags.extend(known.map(|k| k.subject.as_str()));
    let mut r = json!({
        "id": id,
        "name": rule_name(id),
        "shortDescription": { "text": short },
        "fullDescription": { "text": full },
        "help": { "text": help },
        "defaultConfiguration": { "level": level(worst) },
        "properties": {
            "tags": tags,
            "security-severity": security_severity(worst),
        },
    });
    if let Some(uri) = known.and_then(|k| k.references.first()) {
        r["helpUri"] = json!(uri);
    }
    r
}

/// A table rule's full description: its rationale and default severity.
fn table_description(known: &Rule, worst: Severity) -> String {
    let mut full = format!(
        "{} Default severity {}",
        known.rationale,
        known.severity.as_str()
    );
    if !known.severity_note.is_empty() {
        full.push_str(&format!(" ({})", known.severity_note));
    }
    full.push_str(&format!("; worst seen in this run: {}.", worst.as_str()));
    full
}

fn location(item: &Item<'_>, policy: Option<&str>) -> Value {
    let (file, line) = match &item.finding.policy_entry {
        Some(e) => (e.file.as_str(), e.line.max(1)),
        None => (policy.unwrap_or(DEFAULT_POLICY), 1),
    };
    let (uri, relative) = path_uri(file);
    let mut artifact = json!({ "uri": uri });
    if relative {
        artifact["uriBaseId"] = json!("%SRCROOT%");
    }
    json!({ "physicalLocation": { "artifactLocation": artifact, "region": { "startLine": line } } })
}

fn message(item: &Item<'_>) -> String {
    let f = item.finding;
    let mut m = format!("{} on {}", plain(&f.title), plain(&item.location()));
    if let Some(h) = item.host {
        m.push_str(&format!(" ({})", plain(h)));
    }
    if let Some(svc) = item.service {
        m.push_str(&format!(", service {}", plain(&svc.name)));
        for part in [&svc.product, &svc.version].into_iter().flatten() {
            m.push_str(&format!(" {}", plain(part)));
        }
    }
    m.push_str(&format!(": {}", plain(&f.evidence)));
    let policy = item.policy_facts();
    if !policy.is_empty() {
        m.push_str(&format!(" Policy: {}.", plain(&policy.join(", "))));
    }
    let fixes = fix_lines(f);
    if !fixes.is_empty() {
        m.push_str("\nFix:\n");
        m.push_str(&literal(&fixes.join("\n")));
    }
    m
}

fn result(item: &Item<'_>, index: usize, policy: Option<&str>) -> Value {
    let f = item.finding;
    let mut props = Map::new();
    if let Some(ip) = item.ip {
        props.insert("ip".into(), json!(ip.to_string()));
    }
    if let Some(port) = item.port {
        props.insert("port".into(), json!(port));
    }
    if let Some(h) = item.host {
        props.insert("host".into(), json!(terminal_safe(h)));
    }
    if let Some(svc) = item.service {
        props.insert("service".into(), json!(terminal_safe(&svc.name)));
    }
    props.insert("severity".into(), json!(f.severity.as_str()));
    if let Some(p) = f.policy {
        props.insert("policy".into(), json!(p.as_str()));
    }
    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": level(f.severity),
        "message": { "text": message(item) },
        "locations": [location(item, policy)],
        "partialFingerprints": {
            "primaryLocationLineHash": f.fingerprint,
            "exposecheck/v1": f.fingerprint,
        },
        "properties": props,
    });
    if let Some(b) = f.baseline {
        r["baselineState"] = json!(b.as_str());
    }
    r
}

/// The whole SARIF log for the collected hosts and the summary.
pub fn log(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary) -> Value {
    let items: Vec<Item<'_>> = collect::findings(hosts, s)
        .into_iter()
        .filter(|i| !i.expected())
        .collect();
    let mut by_rule: BTreeMap<&str, (Severity, Vec<&Item<'_>>)> = BTreeMap::new();
    for item in &items {
        let e = by_rule
            .entry(item.finding.rule.as_str())
            .or_insert((item.finding.severity, Vec::new()));
        e.0 = e.0.max(item.finding.severity);
        e.1.push(item);
    }
    let index: BTreeMap<&str, usize> = by_rule.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let rules: Vec<Value> = by_rule
        .iter()
        .map(|(id, (sev, its))| rule(id, *sev, its))
        .collect();
    let policy = s.policy.as_deref();
    let results: Vec<Value> = items
        .iter()
        .map(|i| result(i, index[i.finding.rule.as_str()], policy))
        .collect();
    let mut invocation = json!({
        "executionSuccessful": !s.interrupted,
        "exitCode": s.exit_code,
        "startTimeUtc": s.scan.start,
    });
    if let Some(end) = &s.scan.end {
        invocation["endTimeUtc"] = json!(end);
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "exposecheck",
                "semanticVersion": s.scan.version,
                "rules": rules,
            } },
            "invocations": [invocation],
            "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "The repository root." } } },
            "results": results,
        }],
    })
}
