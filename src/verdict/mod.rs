//! The verdict: turns what answered on a port into a finding with a stable rule
//! id, a severity, the evidence and the fix; judges hosts as a whole (firewall
//! posture, every-port answerers, IPv4/IPv6 parity); applies the policy file and
//! the baseline; and picks the exit code.
//!
//! Everything here is a pure function of results, service facts and policy:
//! no I/O, so every rule is table-tested.

pub mod baseline;
pub mod hosts;
pub mod policy;
pub mod remedy;
pub mod tally;

use crate::model::{AuthState, Finding, PortResult, PortState, Remediation, Severity};
use crate::pipeline::Judge;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub use crate::catalog::format::Exposure;

/// What the verdict needs to know about a catalogue service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceFacts {
    /// Service id (`redis`).
    pub id: String,
    /// Display name (`Redis`).
    pub name: String,
    /// Category (`database`, `dev-server`, `admin-ui`, ...).
    pub category: String,
    /// Exposure class.
    pub exposure: Exposure,
    /// Configuration lines that close the exposure.
    pub config: Vec<String>,
    /// Caveats.
    pub notes: Vec<String>,
}

/// Categories whose unauthenticated exposure hands over data or the machine.
const TAKEOVER: &[&str] = &[
    "database",
    "cache",
    "search",
    "message-queue",
    "container-api",
    "orchestration",
    "coordination",
];

/// Categories that are medium even on a public-ok port.
const DEV: &[&str] = &["dev-server", "admin-ui"];

/// Stable dedup key: ip, port, service and rule only.
pub fn fingerprint(ip: IpAddr, port: Option<u16>, service: &str, rule: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "{ip}|{}|{service}|{rule}",
        port.map(|p| p.to_string()).unwrap_or_default()
    ));
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The finding for one open port, before policy and baseline.
pub fn assess(r: &PortResult, facts: Option<&ServiceFacts>) -> Option<Finding> {
    if r.state != PortState::Open {
        return None;
    }
    let svc = r.service.as_ref();
    let auth = svc.map_or(AuthState::Unknown, |s| s.auth);
    let where_ = format!("{}:{}", r.ip, r.port);
    let described = svc
        .map(|s| {
            let mut d = [s.product.as_deref(), s.version.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if d.is_empty() {
                d = s.name.clone();
            }
            d
        })
        .unwrap_or_default();
    let evidence_auth = svc
        .and_then(|s| s.auth_evidence.clone())
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    let (rule, severity, title, mut remediation) = match facts {
        None => {
            let what = svc
                .and_then(|s| s.banner.as_deref())
                .map(|b| format!(", it said {b:?}"))
                .unwrap_or_default();
            let f = Finding {
                rule: "unexpected-open-port".into(),
                severity: Severity::Low,
                title: format!("Open port {} with no identified service", r.port),
                evidence: format!("{where_} accepted a TCP connection{what}"),
                ..Finding::default()
            };
            return Some(finish(
                r,
                "unknown",
                f,
                remedy::firewall(r.port, Exposure::LocalhostOnly),
            ));
        }
        Some(f) => {
            let takeover = TAKEOVER.contains(&f.category.as_str());
            match (f.exposure, auth) {
                (exp, _) if DEV.contains(&f.category.as_str()) => (
                    format!("{}-exposed", f.id),
                    Severity::Medium,
                    format!("{} (a development server or admin UI) reachable from outside", f.name),
                    remedy::firewall(r.port, if exp == Exposure::InternalOnly { exp } else { Exposure::LocalhostOnly }),
                ),
                (Exposure::PublicOk, _) => (
                    format!("{}-public", f.id),
                    Severity::Info,
                    format!("{} is public", f.name),
                    Remediation::default(),
                ),
                (exp, AuthState::None) => (
                    format!("{}-unauthenticated", f.id),
                    if takeover || exp == Exposure::LocalhostOnly { Severity::Critical } else { Severity::High },
                    format!("{} answers anyone, without authentication", f.name),
                    remedy::firewall(r.port, exp),
                ),
                (exp, a) => (
                    format!("{}-exposed", f.id),
                    Severity::High,
                    match a {
                        AuthState::Required => format!("{} reachable from outside (it asks for credentials, but the port must close)", f.name),
                        AuthState::Protected => format!("{} reachable from outside (it refuses this client, but the port must close)", f.name),
                        _ => format!("{} reachable from outside", f.name),
                    },
                    remedy::firewall(r.port, exp),
                ),
            }
        }
    };
    let facts = facts.expect("handled None above");
    remediation.config = facts.config.clone();
    remediation.notes.splice(0..0, facts.notes.iter().cloned());
    let evidence = match auth {
        AuthState::Unknown => format!("{where_} answers as {described}"),
        a => format!(
            "{where_} answers as {described}; auth {}{evidence_auth}",
            a.as_str()
        ),
    };
    let f = Finding {
        rule,
        severity,
        title,
        evidence,
        ..Finding::default()
    };
    Some(finish(r, &facts.id, f, remediation))
}

fn finish(r: &PortResult, service: &str, mut f: Finding, remediation: Remediation) -> Finding {
    f.fingerprint = fingerprint(r.ip, Some(r.port), service, &f.rule);
    f.remediation = remediation;
    f
}

impl From<&crate::catalog::ServiceDef> for ServiceFacts {
    fn from(d: &crate::catalog::ServiceDef) -> ServiceFacts {
        ServiceFacts {
            id: d.id.clone(),
            name: d.name.clone(),
            category: d.category.as_str().to_string(),
            exposure: d.exposure,
            config: d.remediation.config.clone(),
            notes: d.remediation.notes.clone(),
        }
    }
}

/// The per-port judge used by the pipeline.
pub struct Verdict {
    facts: HashMap<String, ServiceFacts>,
    by_port: HashMap<u16, String>,
    policy: Option<Arc<policy::Policy>>,
    baseline: Option<Arc<baseline::Baseline>>,
}

impl Verdict {
    /// A judge over the catalogue's facts, with an optional policy and baseline.
    pub fn new(
        facts: Vec<ServiceFacts>,
        default_ports: Vec<(u16, String)>,
        policy: Option<Arc<policy::Policy>>,
        baseline: Option<Arc<baseline::Baseline>>,
    ) -> Verdict {
        Verdict {
            facts: facts.into_iter().map(|f| (f.id.clone(), f)).collect(),
            by_port: default_ports.into_iter().collect(),
            policy,
            baseline,
        }
    }

    /// Facts for a service id.
    pub fn facts(&self, id: &str) -> Option<&ServiceFacts> {
        self.facts.get(id)
    }
}

impl Judge for Verdict {
    fn judge(&self, r: &mut PortResult) {
        if r.state != PortState::Open {
            return;
        }
        let id = match &r.service {
            Some(s) if s.name != "unknown" && !s.name.is_empty() => Some(s.name.clone()),
            Some(_) => None,
            // Not fingerprinted: the port number is the only hint.
            None => self.by_port.get(&r.port).cloned(),
        };
        let facts = id.as_deref().and_then(|i| self.facts.get(i));
        let every_port = r
            .service
            .as_ref()
            .is_some_and(|s| s.note.as_deref() == Some(crate::pipeline::EVERY_PORT_NOTE));
        let mut f = if every_port {
            let rule = "open-on-every-port-host";
            Some(Finding {
                rule: rule.into(),
                severity: Severity::Info,
                title: format!("Port {} open on a host that accepts every port", r.port),
                evidence: format!(
                    "{}:{} accepted a connection, as do random unused ports of this host",
                    r.ip, r.port
                ),
                fingerprint: fingerprint(r.ip, Some(r.port), "unknown", rule),
                ..Finding::default()
            })
        } else {
            assess(r, facts)
        };
        if let (Some(f), Some(p)) = (f.as_mut(), &self.policy) {
            p.apply(r, facts.map(|x| x.id.as_str()), f);
        }
        if let (Some(f), Some(b)) = (f.as_mut(), &self.baseline) {
            b.mark(f);
        }
        r.finding = f;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Service;

    fn facts(id: &str, category: &str, exposure: Exposure) -> ServiceFacts {
        ServiceFacts {
            id: id.into(),
            name: id.to_uppercase(),
            category: category.into(),
            exposure,
            config: vec![format!("{id}.conf: bind 127.0.0.1")],
            notes: vec![],
        }
    }

    fn open(port: u16, name: &str, auth: AuthState) -> PortResult {
        PortResult {
            service: Some(Service {
                name: name.into(),
                auth,
                ..Service::default()
            }),
            ..PortResult::test_open(port)
        }
    }

    #[test]
    fn severity_table() {
        let cases = [
            (
                "redis",
                "database",
                Exposure::LocalhostOnly,
                AuthState::None,
                "redis-unauthenticated",
                Severity::Critical,
            ),
            (
                "redis",
                "database",
                Exposure::LocalhostOnly,
                AuthState::Required,
                "redis-exposed",
                Severity::High,
            ),
            (
                "redis",
                "database",
                Exposure::LocalhostOnly,
                AuthState::Protected,
                "redis-exposed",
                Severity::High,
            ),
            (
                "mysql",
                "database",
                Exposure::LocalhostOnly,
                AuthState::Protected,
                "mysql-exposed",
                Severity::High,
            ),
            (
                "docker",
                "container-api",
                Exposure::LocalhostOnly,
                AuthState::None,
                "docker-unauthenticated",
                Severity::Critical,
            ),
            (
                "epmd",
                "other",
                Exposure::InternalOnly,
                AuthState::None,
                "epmd-unauthenticated",
                Severity::High,
            ),
            (
                "zookeeper",
                "coordination",
                Exposure::InternalOnly,
                AuthState::None,
                "zookeeper-unauthenticated",
                Severity::Critical,
            ),
            (
                "werkzeug",
                "dev-server",
                Exposure::PublicOk,
                AuthState::Unknown,
                "werkzeug-exposed",
                Severity::Medium,
            ),
            (
                "ssh",
                "remote-access",
                Exposure::PublicOk,
                AuthState::Required,
                "ssh-public",
                Severity::Info,
            ),
        ];
        for (id, cat, exp, auth, rule, sev) in cases {
            let f = assess(&open(1234, id, auth), Some(&facts(id, cat, exp))).unwrap();
            assert_eq!((f.rule.as_str(), f.severity), (rule, sev), "{id} {auth:?}");
        }
        let f = assess(&open(4444, "unknown", AuthState::Unknown), None).unwrap();
        assert_eq!(
            (f.rule.as_str(), f.severity),
            ("unexpected-open-port", Severity::Low)
        );
    }

    #[test]
    fn remediation_and_fingerprint() {
        let r = open(6379, "redis", AuthState::None);
        let f = assess(
            &r,
            Some(&facts("redis", "database", Exposure::LocalhostOnly)),
        )
        .unwrap();
        assert_eq!(f.remediation.config, vec!["redis.conf: bind 127.0.0.1"]);
        assert!(f
            .remediation
            .iptables
            .iter()
            .any(|l| l.contains("--dport 6379 -j DROP")));
        assert_eq!(
            f.fingerprint,
            fingerprint(r.ip, Some(6379), "redis", "redis-unauthenticated")
        );
        assert_eq!(f.fingerprint.len(), 32);
        let mut r2 = r.clone();
        r2.service.as_mut().unwrap().banner = Some("different banner".into());
        r2.rtt_ms = Some(9.0);
        let f2 = assess(
            &r2,
            Some(&facts("redis", "database", Exposure::LocalhostOnly)),
        )
        .unwrap();
        assert_eq!(f.fingerprint, f2.fingerprint);
        let public = assess(
            &open(22, "ssh", AuthState::Required),
            Some(&facts("ssh", "remote-access", Exposure::PublicOk)),
        )
        .unwrap();
        assert!(public.remediation.iptables.is_empty());
    }

    #[test]
    fn closed_ports_have_no_finding() {
        let mut r = open(6379, "redis", AuthState::None);
        r.state = PortState::Closed;
        assert!(assess(&r, None).is_none());
    }

    #[test]
    fn unfingerprinted_ports_are_guessed_from_the_port() {
        let v = Verdict::new(
            vec![facts("redis", "database", Exposure::LocalhostOnly)],
            vec![(6379, "redis".into())],
            None,
            None,
        );
        let mut r = open(6379, "redis", AuthState::Unknown);
        r.service = None;
        v.judge(&mut r);
        let f = r.finding.unwrap();
        assert_eq!(
            (f.rule.as_str(), f.severity),
            ("redis-exposed", Severity::High)
        );
    }
}
