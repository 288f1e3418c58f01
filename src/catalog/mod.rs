//! The service catalogue: `services/*.toml` compiled into the binary (plus
//! `--services-dir`), validated, and queried by the fingerprint engine and the
//! verdict.
//!
//! - [`format`]: the serde shape of one file.
//! - [`load`]: parsing, validation (`file:line` errors, all of them), overrides.
//!   It checks `code = "..."` names against the dialogue names it is handed:
//!   [`Catalog::load`] and [`Catalog::builtin`] are defined next to the
//!   dialogues, in `fingerprint`, so that this module knows nothing of them.
//! - [`matcher`]: replies → identification ([`matcher::Ident`]), and fixture
//!   replay.

pub mod format;
pub mod load;
pub mod matcher;

use crate::model::{AuthState, Remediation};
use format::{Category, Exposure, FixtureDef, MatchKind};
use regex::bytes::Regex;
use std::collections::{BTreeSet, HashMap};

pub use load::{LoadError, LoadErrors};

/// One service definition.
#[derive(Debug, Clone)]
pub struct ServiceDef {
    /// Id (reported as `service.name`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Category.
    pub category: Category,
    /// Exposure class.
    pub exposure: Exposure,
    /// Default ports.
    pub ports: Vec<u16>,
    /// Ports where TLS is spoken first.
    pub tls_ports: Vec<u16>,
    /// Rule order across files.
    pub priority: i32,
    /// Dialogue name, for binary protocols.
    pub code: Option<String>,
    /// What the dialogue sends.
    pub code_note: Option<String>,
    /// Rank of the dialogue among the fallback steps on unhinted ports.
    pub code_fallback: Option<u32>,
    /// A catch-all or framework whose match, on a port it does not name, only
    /// narrows probing to its probe family.
    pub generic: bool,
    /// Configuration lines and notes (firewall commands come from the verdict).
    pub remediation: Remediation,
    /// File it came from.
    pub source: String,
    /// Whether it has rules on the greeting (the server speaks first).
    pub server_first: bool,
}

/// A probe: bytes to send and when.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Global name.
    pub name: String,
    /// Payload (`{host}` still to be replaced).
    pub payload: Vec<u8>,
    /// What it does.
    pub note: String,
    /// Order among the chosen probes.
    pub rank: u32,
    /// Also sent on unhinted ports.
    pub fallback: bool,
    /// Connection-sharing family.
    pub family: String,
    /// Probe that must run first unless the port already spoke.
    pub guard: Option<usize>,
    /// Only sent through a rule's `then`.
    pub follow_up: bool,
    /// Index of the defining service.
    pub service: usize,
    /// Ports on which it is sent without being a fallback.
    pub hint_ports: BTreeSet<u16>,
}

/// Which reply a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKey {
    /// What the server says before we send anything.
    Greeting,
    /// The reply to a probe (index into the catalogue's probes).
    Probe(usize),
}

/// A compiled match rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Index of the service it names.
    pub service: usize,
    /// The reply it reads.
    pub probe: ProbeKey,
    /// Compiled pattern.
    pub regex: Regex,
    /// How it counts.
    pub kind: MatchKind,
    /// Product template.
    pub product: Option<String>,
    /// Version template.
    pub version: Option<String>,
    /// Info template.
    pub info: Option<String>,
    /// Auth state it proves.
    pub auth: Option<AuthState>,
    /// Evidence template.
    pub evidence: Option<String>,
    /// Follow-up probe.
    pub then: Option<usize>,
}

/// The whole catalogue. Rules are kept in priority order, then file order.
#[derive(Debug)]
pub struct Catalog {
    services: Vec<ServiceDef>,
    probes: Vec<Probe>,
    rules: Vec<Rule>,
    probe_by_name: HashMap<String, usize>,
    service_by_id: HashMap<String, usize>,
    fixtures: Vec<(usize, FixtureDef)>,
    tls_ports: BTreeSet<u16>,
}

impl Catalog {
    /// Every service, in priority order.
    pub fn services(&self) -> &[ServiceDef] {
        &self.services
    }

    /// A service by id.
    pub fn service(&self, id: &str) -> Option<&ServiceDef> {
        self.service_by_id.get(id).map(|&i| &self.services[i])
    }

    /// Service by index.
    pub fn service_at(&self, i: usize) -> &ServiceDef {
        &self.services[i]
    }

    /// Every probe.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// A probe's index by name.
    pub fn probe_index(&self, name: &str) -> Option<usize> {
        self.probe_by_name.get(name).copied()
    }

    /// Every rule, in matching order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Fixtures as (service index, fixture), probe names resolved.
    pub fn fixtures(&self) -> &[(usize, FixtureDef)] {
        &self.fixtures
    }

    /// Every port any service names, sorted.
    pub fn default_ports(&self) -> Vec<u16> {
        let set: BTreeSet<u16> = self
            .services
            .iter()
            .flat_map(|s| s.ports.iter().chain(&s.tls_ports).copied())
            .collect();
        set.into_iter().collect()
    }

    /// Whether some service speaks TLS first on `port`.
    pub fn is_tls_port(&self, port: u16) -> bool {
        self.tls_ports.contains(&port)
    }

    /// Whether a server-speaks-first service names `port`.
    pub fn greeting_port(&self, port: u16, server_first_code: &[&str]) -> bool {
        self.services.iter().any(|s| {
            (s.server_first
                || s.code
                    .as_deref()
                    .is_some_and(|c| server_first_code.contains(&c)))
                && s.ports.contains(&port)
        })
    }

    /// Whether service `si` names `port` (plain or TLS).
    pub fn names_port(&self, si: usize, port: u16) -> bool {
        let s = &self.services[si];
        s.ports.contains(&port) || s.tls_ports.contains(&port)
    }

    /// Whether probe `pi` has a hard (`match`) rule for service `si`.
    pub fn probe_names(&self, pi: usize, si: usize) -> bool {
        self.rules.iter().any(|r| {
            r.probe == ProbeKey::Probe(pi) && r.service == si && r.kind == MatchKind::Match
        })
    }

    /// The first service (in priority order) that names `port`.
    pub fn guess(&self, port: u16) -> Option<&ServiceDef> {
        self.services
            .iter()
            .find(|s| s.ports.contains(&port) || s.tls_ports.contains(&port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_loads_and_validates() {
        let files = load::embedded_files();
        assert!(
            files.len() >= 20,
            "only {} services files embedded",
            files.len()
        );
        let cat = Catalog::load(None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cat.services().len(), files.len(), "one service per file");
        let mut ids = BTreeSet::new();
        for s in cat.services() {
            assert!(ids.insert(s.id.clone()), "duplicate id {}", s.id);
            assert!(!s.name.is_empty());
        }
        for p in cat.probes() {
            assert!(!p.note.trim().is_empty(), "probe {} has no note", p.name);
            assert!(!p.payload.is_empty(), "probe {} sends nothing", p.name);
        }
        for name in ["redis", "memcached", "elasticsearch", "http", "ssh", "tls"] {
            assert!(cat.service(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn every_fixture_replays_to_its_expectation() {
        let cat = Catalog::builtin();
        assert!(
            cat.fixtures().len() >= 30,
            "{} fixtures",
            cat.fixtures().len()
        );
        let failures = cat.check_fixtures();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn generic_http_comes_after_specific_services() {
        let cat = Catalog::builtin();
        let pos = |id: &str| cat.services().iter().position(|s| s.id == id).unwrap();
        for specific in [
            "elasticsearch",
            "couchdb",
            "docker",
            "werkzeug",
            "express",
            "jupyter",
        ] {
            assert!(pos(specific) < pos("http"), "{specific} after http");
        }
        assert!(
            cat.probes()[cat.probe_index("http-get").unwrap()].guard
                == cat.probe_index("redis-ping")
        );
    }
}
