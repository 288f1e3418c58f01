//! The policy file (`exposecheck.toml`): which exposures are expected, why, and
//! until when; per-rule severity overrides; the default `--fail-on`.
//!
//! ```toml
//! fail_on = "high"
//!
//! [[expect]]
//! host = "203.0.113.7"      # an address, a CIDR, or a hostname as scanned
//! port = 22
//! proto = "tcp"             # optional: "udp" for a UDP port (default tcp)
//! service = "ssh"           # optional: only this service
//! reason = "bastion host"
//! expires = 2027-01-31      # optional (a TOML date, or the same quoted): after this day the finding is raised again
//!
//! [severity]
//! unexpected-open-port = "medium"
//! ```
//!
//! Errors name the file and the line. An expected port that is no longer open
//! is reported as a stale entry.

use super::rules::{self, Applied, RuleKind};
use crate::model::{Finding, HostFinding, PolicyStatus, PortResult, Proto, Severity, SourceLine};
use crate::text::terminal_safe;
use ipnet::IpNet;
use jiff::civil::Date;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

/// A policy file problem, with its location (shown with control characters
/// escaped: the message quotes the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {}", terminal_safe(file), terminal_safe(msg))]
pub struct PolicyError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when the file could not be read).
    pub line: u32,
    /// What is wrong.
    pub msg: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    fail_on: Option<String>,
    #[serde(default)]
    expect: Vec<toml::Spanned<RawExpect>>,
    #[serde(default)]
    severity: BTreeMap<String, toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    host: String,
    port: u16,
    #[serde(default)]
    proto: Proto,
    service: Option<String>,
    reason: String,
    expires: Option<toml::Spanned<Expires>>,
}

/// An `expires` value as written: a TOML date or a quoted `YYYY-MM-DD`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Expires {
    Date(toml::value::Datetime),
    Text(String),
}

impl Expires {
    /// The day it names; an error says what is wrong.
    fn date(&self) -> Result<Date, String> {
        let text = match self {
            Expires::Date(d) if d.time.is_some() || d.offset.is_some() => {
                return Err(format!(
                    "invalid expires {d}: expected a date (YYYY-MM-DD) without a time"
                ));
            }
            Expires::Date(d) => d.to_string(),
            Expires::Text(t) => t.clone(),
        };
        parse_date(&text)
            .ok_or_else(|| format!("invalid expires '{text}': expected a calendar date YYYY-MM-DD"))
    }
}

/// Parses a calendar date `YYYY-MM-DD` (February 31st is refused).
pub fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    s.parse::<Date>().ok()
}

/// Which hosts an entry covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostMatch {
    /// One address.
    Addr(IpAddr),
    /// A network.
    Net(IpNet),
    /// A hostname, compared with the name a result was reached through.
    Name(String),
}

impl HostMatch {
    fn matches(&self, ip: IpAddr, name: Option<&str>) -> bool {
        match self {
            HostMatch::Addr(a) => *a == ip,
            HostMatch::Net(n) => n.contains(&ip),
            HostMatch::Name(n) => name.is_some_and(|h| h.eq_ignore_ascii_case(n)),
        }
    }
}

/// One expected exposure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Hosts covered.
    pub host: HostMatch,
    /// Host as written.
    pub host_text: String,
    /// Port.
    pub port: u16,
    /// Its transport (`proto = "udp"`; TCP when not written).
    pub proto: Proto,
    /// Optional service id.
    pub service: Option<String>,
    /// Why it is expected.
    pub reason: String,
    /// Last day it holds.
    pub expires: Option<Date>,
    /// Where it is written.
    pub at: SourceLine,
}

impl Entry {
    /// Whether its port (of its transport) is one of `spec`'s.
    pub fn ports_in(&self, spec: &crate::ports::PortSpec) -> bool {
        match self.proto {
            Proto::Tcp => spec.tcp.contains(self.port),
            Proto::Udp => spec.udp.contains(self.port),
        }
    }
}

/// A loaded policy.
#[derive(Debug)]
pub struct Policy {
    /// The file it came from.
    pub file: String,
    /// Default threshold from the file.
    pub fail_on: Option<FailOn>,
    /// Expected exposures.
    pub entries: Vec<Entry>,
    /// Per-rule severity overrides.
    pub severity: BTreeMap<String, Severity>,
    severity_at: BTreeMap<String, u32>,
    today: Date,
}

pub use crate::model::FailOn;

/// Parses a severity name.
pub fn parse_severity(s: &str) -> Option<Severity> {
    Severity::parse(s)
}

/// Byte offsets → 1-based line numbers in O(log lines) (a scan from the
/// start for each entry made large policies quadratic).
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        Lines(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn line_of(&self, offset: usize) -> u32 {
        self.0.partition_point(|&nl| nl < offset) as u32 + 1
    }
}

/// Today's date, UTC.
pub fn today() -> Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: file.clone(),
            line: 0,
            msg: format!("cannot read: {e}"),
        })?;
        Policy::parse(&text, &file, today())
    }

    /// Parses policy text; `today` decides which entries have expired.
    pub fn parse(text: &str, file: &str, today: Date) -> Result<Policy, PolicyError> {
        let lines = Lines::new(text);
        let line_of = |offset: usize| lines.line_of(offset);
        let err = |offset: usize, msg: String| PolicyError {
            file: file.to_string(),
            line: line_of(offset),
            msg,
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_string();
            err(e.span().map_or(0, |s| s.start), msg)
        })?;
        let fail_on = match &raw.fail_on {
            None => None,
            Some(s) => Some(FailOn::parse(s).ok_or_else(|| {
                err(
                    text.find("fail_on").unwrap_or(0),
                    format!(
                        "invalid fail_on '{s}': expected critical, high, medium, low, info or none"
                    ),
                )
            })?),
        };
        let mut entries = Vec::new();
        for e in raw.expect {
            let start = e.span().start;
            let e = e.into_inner();
            let host = match crate::targets::parse_target(&e.host) {
                Ok(crate::targets::TargetSpec::Addr(a)) => HostMatch::Addr(a),
                Ok(crate::targets::TargetSpec::Net(n)) => HostMatch::Net(n),
                Ok(crate::targets::TargetSpec::Name(n)) => HostMatch::Name(n),
                Err(te) => {
                    return Err(err(start, format!("invalid host '{}': {}", e.host, te.why)))
                }
            };
            if e.port == 0 {
                return Err(err(
                    start,
                    "invalid port 0: ports run from 1 to 65535".into(),
                ));
            }
            let expires = match &e.expires {
                None => None,
                Some(x) => Some(x.get_ref().date().map_err(|msg| err(x.span().start, msg))?),
            };
            if e.reason.trim().is_empty() {
                return Err(err(start, "every expected exposure needs a reason".into()));
            }
            entries.push(Entry {
                host,
                host_text: e.host,
                port: e.port,
                proto: e.proto,
                service: e.service,
                reason: e.reason,
                expires,
                at: SourceLine {
                    file: file.to_string(),
                    line: line_of(start),
                },
            });
        }
        let mut severity = BTreeMap::new();
        let mut severity_at = BTreeMap::new();
        for (rule, s) in raw.severity {
            let start = s.span().start;
            let v = s.into_inner();
            let sev = parse_severity(&v)
                .ok_or_else(|| err(start, format!("invalid severity '{v}' for rule {rule}")))?;
            severity_at.insert(rule.clone(), line_of(start));
            severity.insert(rule, sev);
        }
        Ok(Policy {
            file: file.to_string(),
            fail_on,
            entries,
            severity,
            severity_at,
            today,
        })
    }

    /// Refuses a `[severity]` override naming a rule outside `known` (the
    /// catalogue's rules, [`rules::catalogue`]): a typo would otherwise
    /// change nothing, silently.
    pub fn check_rules(&self, known: &[Applied]) -> Result<(), PolicyError> {
        let Some(rule) = self
            .severity
            .keys()
            .find(|r| !known.iter().any(|k| &k.id == *r))
        else {
            return Ok(());
        };
        let head = rule.split('-').next();
        let close: Vec<&str> = known
            .iter()
            .filter(|k| k.id.split('-').next() == head)
            .take(4)
            .map(|k| k.id.as_str())
            .collect();
        let hint = if close.is_empty() {
            let ids: Vec<&str> = rules::RULES.iter().map(|r| r.id).collect();
            format!("rules are {}", ids.join(", "))
        } else {
            format!("did you mean {}?", close.join(", "))
        };
        Err(PolicyError {
            file: self.file.clone(),
            line: self.severity_at.get(rule).copied().unwrap_or(0),
            msg: format!("[severity] names unknown rule '{rule}'; {hint}"),
        })
    }

    /// Applies the `[severity]` override for `f`'s rule, if there is one.
    pub fn override_severity(&self, f: &mut Finding) {
        if let Some(s) = self.severity.get(&f.rule) {
            f.severity = *s;
        }
    }

    /// Marks `f` expected / expired / unexpected and applies severity
    /// overrides; returns the index of the entry that matched, if any.
    pub fn apply(&self, r: &PortResult, service: Option<&str>, f: &mut Finding) -> Option<usize> {
        self.override_severity(f);
        let hit = self.entries.iter().enumerate().find(|(_, e)| {
            e.port == r.port
                && e.proto == r.proto
                && e.host.matches(r.ip, r.host.as_deref())
                && e.service.as_deref().is_none_or(|s| Some(s) == service)
        });
        let Some((i, e)) = hit else {
            f.policy = Some(PolicyStatus::Unexpected);
            return None;
        };
        let expired = e.expires.is_some_and(|d| d < self.today);
        f.policy = Some(if expired {
            PolicyStatus::Expired
        } else {
            PolicyStatus::Expected
        });
        f.policy_reason = Some(e.reason.clone());
        f.policy_entry = Some(e.at.clone());
        Some(i)
    }

    /// Entries outside `matched` (the indexes [`Policy::apply`] returned)
    /// although their host and port were scanned, at the rule's default
    /// severity (the judge applies `[severity]` to every host finding).
    pub fn stale(
        &self,
        matched: &HashSet<usize>,
        in_scope: impl Fn(&Entry) -> bool,
    ) -> Vec<HostFinding> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, e)| !matched.contains(i) && in_scope(e))
            .map(|(_, e)| {
                let ip = match e.host {
                    HostMatch::Addr(a) => Some(a),
                    _ => None,
                };
                let kind = RuleKind::PolicyStaleEntry;
                let rule = kind.literal().to_string();
                HostFinding {
                    ip,
                    host: match &e.host {
                        HostMatch::Addr(_) => None,
                        _ => Some(e.host_text.clone()),
                    },
                    port: Some(e.port),
                    finding: Finding {
                        severity: kind.rule().severity,
                        title: format!(
                            "Expected exposure {}:{} is no longer open",
                            e.host_text, e.port
                        ),
                        evidence: format!(
                            "{}:{} did not answer as open; the policy entry (\"{}\") can go",
                            e.host_text, e.port, e.reason
                        ),
                        fingerprint: super::finding_key(
                            ip.unwrap_or(IpAddr::from([0, 0, 0, 0])),
                            Some(e.port),
                            &e.host_text,
                            &rule,
                        ),
                        remediation: kind.rule().fix(e.port, None),
                        rule,
                        policy: Some(PolicyStatus::Stale),
                        policy_reason: Some(e.reason.clone()),
                        policy_entry: Some(e.at.clone()),
                        ..Finding::default()
                    },
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"fail_on = "critical"

[[expect]]
host = "198.18.0.2"
port = 22
service = "ssh"
reason = "bastion"

[[expect]]
host = "198.18.0.0/24"
port = 80
reason = "web"
expires = "2020-01-01"

[severity]
unexpected-open-port = "medium"
"#;

    fn result(port: u16) -> PortResult {
        PortResult::test_open(port)
    }

    #[test]
    fn expected_expired_unexpected_and_overrides() {
        let p = Policy::parse(TEXT, "exposecheck.toml", jiff::civil::date(2026, 11, 25)).unwrap();
        assert_eq!(p.fail_on, Some(FailOn::At(Severity::Critical)));
        let mut f = Finding {
            rule: "ssh-public".into(),
            ..Finding::default()
        };
        p.apply(&result(22), Some("ssh"), &mut f);
        assert_eq!(f.policy, Some(PolicyStatus::Expected));
        assert_eq!(f.policy_entry.as_ref().unwrap().line, 3);
        let mut f = Finding {
            rule: "http-public".into(),
            ..Finding::default()
        };
        p.apply(&result(80), Some("http"), &mut f);
        assert_eq!(f.policy, Some(PolicyStatus::Expired));
        let mut f = Finding {
            rule: "unexpected-open-port".into(),
            ..Finding::default()
        };
        p.apply(&result(4444), None, &mut f);
        assert_eq!(f.policy, Some(PolicyStatus::Unexpected));
        assert_eq!(f.severity, Severity::Medium);
        let mut f = Finding {
            rule: "x".into(),
            ..Finding::default()
        };
        p.apply(&result(22), Some("telnet"), &mut f);
        assert_eq!(
            f.policy,
            Some(PolicyStatus::Unexpected),
            "service must match when given"
        );
    }

    #[test]
    fn stale_entries_are_reported() {
        let p = Policy::parse(TEXT, "exposecheck.toml", jiff::civil::date(2026, 11, 25)).unwrap();
        let mut f = Finding::default();
        let matched: HashSet<usize> = p
            .apply(&result(22), Some("ssh"), &mut f)
            .into_iter()
            .collect();
        let stale = p.stale(&matched, |_| true);
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].port, Some(80));
        assert_eq!(stale[0].finding.rule, "policy-stale-entry");
        assert!(p.stale(&matched, |_| false).is_empty());
    }

    #[test]
    fn expires_takes_toml_and_quoted_dates_and_refuses_impossible_ones() {
        let entry = |exp: &str| {
            format!(
                "\n[[expect]]\nhost = \"198.18.0.2\"\nport = 22\nreason = \"x\"\nexpires = {exp}\n"
            )
        };
        let today = jiff::civil::date(2026, 12, 2);
        for ok in ["2027-01-31", "\"2027-01-31\""] {
            let p = Policy::parse(&entry(ok), "p.toml", today).unwrap();
            assert_eq!(
                p.entries[0].expires,
                Some(jiff::civil::date(2027, 1, 31)),
                "{ok}"
            );
        }
        for bad in [
            "2026-02-31",
            "\"2026-02-31\"",
            "\"2026-2-3\"",
            "2026-02-01T10:00:00",
            "\"soon\"",
        ] {
            let e = Policy::parse(&entry(bad), "p.toml", today).unwrap_err();
            assert_eq!((e.file.as_str(), e.line), ("p.toml", 6), "{bad}: {e}");
            assert!(
                e.msg.contains("expires") || e.msg.contains("date"),
                "{bad}: {e}"
            );
        }
        let p = Policy::parse(&entry("2026-12-01"), "p.toml", today).unwrap();
        let mut f = Finding::default();
        p.apply(&result(22), None, &mut f);
        assert_eq!(f.policy, Some(PolicyStatus::Expired));
        let p = Policy::parse(&entry("2026-12-02"), "p.toml", today).unwrap();
        p.apply(&result(22), None, &mut f);
        assert_eq!(
            f.policy,
            Some(PolicyStatus::Expected),
            "the last day still holds"
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = Policy::parse(
            "[[expect]]\nhost = \"198.18.0.2\"\nport = \"ssh\"\nreason = \"x\"\n",
            "p.toml",
            jiff::civil::date(2026, 1, 1),
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("p.toml", 3), "{e}");
        let e = Policy::parse(
            "\n\n[[expect]]\nhost = \"300.1.1.1\"\nport = 22\nreason = \"x\"\n",
            "p.toml",
            jiff::civil::date(2026, 1, 1),
        )
        .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.msg.contains("300.1.1.1"));
        let e = Policy::parse(
            "[[expect]]\nhost = \"h\"\nport = 22\nreason = \"x\"\nexpires = \"soon\"\n",
            "p.toml",
            jiff::civil::date(2026, 1, 1),
        )
        .unwrap_err();
        assert!(e.msg.contains("soon"), "{e}");
        let e = Policy::parse("bogus = 1\n", "p.toml", jiff::civil::date(2026, 1, 1)).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(Policy::parse(
            "fail_on = \"severe\"\n",
            "p.toml",
            jiff::civil::date(2026, 1, 1)
        )
        .is_err());
        assert!(Policy::load(Path::new("/nonexistent/exposecheck.toml")).is_err());
    }

    #[test]
    fn large_policies_load_in_linear_time() {
        let mut text = String::from("fail_on = \"high\"\n");
        for i in 0..50_000u32 {
            let ip = std::net::Ipv4Addr::from(0xc612_0000 + i);
            text.push_str(&format!(
                "\n[[expect]]\nhost = \"{ip}\"\nport = {}\nreason = \"entry {i}\"\n",
                i % 65535 + 1
            ));
        }
        let t = std::time::Instant::now();
        let p = Policy::parse(&text, "big.toml", jiff::civil::date(2026, 1, 1)).unwrap();
        let took = t.elapsed();
        assert_eq!(p.entries.len(), 50_000);
        assert_eq!(p.entries[49_999].at.line, 2 + 49_999 * 5 + 1);
        assert!(
            took < std::time::Duration::from_secs(1),
            "50,000 entries took {took:?}"
        );
    }

    #[test]
    fn unknown_severity_rules_are_named() {
        let known = rules::catalogue(["redis", "ssh"]);
        assert!(known.iter().any(|k| k.id == "redis-unauthenticated"));
        let ok = Policy::parse(
            "[severity]\nredis-exposed = \"low\"\nunexpected-open-port = \"info\"\n",
            "p.toml",
            jiff::civil::date(2026, 1, 1),
        )
        .unwrap();
        ok.check_rules(&known).unwrap();
        let typo = Policy::parse(
            "\n[severity]\nssh-public = \"low\"\nredis-unauthenticted = \"low\"\n",
            "p.toml",
            jiff::civil::date(2026, 1, 1),
        )
        .unwrap();
        let e = typo.check_rules(&known).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.msg.contains("'redis-unauthenticted'"), "{e}");
        assert!(
            e.msg.contains("redis-unauthenticated"),
            "suggests the real one: {e}"
        );
        let e = Policy::parse(
            "[severity]\nbogus = \"low\"\n",
            "p.toml",
            jiff::civil::date(2026, 1, 1),
        )
        .unwrap()
        .check_rules(&known)
        .unwrap_err();
        assert!(
            e.msg.contains("'bogus'") && e.msg.contains("unexpected-open-port"),
            "{e}"
        );
    }

    #[test]
    fn messages_escape_controls() {
        let e = Policy::parse(
            "[[expect]]\nhost = \"\\u001b[2Jx\"\nport = 22\nreason = \"r\"\n",
            "p.toml",
            jiff::civil::date(2026, 1, 1),
        )
        .unwrap_err();
        let shown = e.to_string();
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(shown.contains("\\x1b[2Jx"), "{shown}");
    }
}
