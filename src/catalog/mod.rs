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
//!
//! A service's `cpe` ([`Cpe`]) names its products in CPE 2.3 (NISTIR 7695):
//! [`ServiceDef::cpe_name`] completes the prefix with the identified version
//! into a formatted string (`cpe:2.3:a:redis:redis:7.2.4:*:*:*:*:*:*:*`).
//! Its `eol` list ([`eol::Lifecycle`]) gives the release cycles and their
//! end-of-life dates, and the cycle an identified version belongs to.

pub mod eol;
pub mod format;
pub mod load;
pub mod matcher;

use crate::model::{AuthState, Proto, Remediation};
use format::{Category, Exposure, FixtureDef, Impact, MatchKind};
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
    /// What an attacker gets from it, when more than its category says.
    pub impact: Option<Impact>,
    /// Default ports.
    pub ports: Vec<u16>,
    /// Ports where TLS is spoken first.
    pub tls_ports: Vec<u16>,
    /// Default UDP ports.
    pub udp_ports: Vec<u16>,
    /// Configuration lines that close its UDP side.
    pub udp_config: Vec<String>,
    /// What its UDP side lets a stranger do.
    pub udp_risk: Option<format::UdpRisk>,
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
    /// Named for a port that reflects every probe (see `ServiceFile::reflects`).
    pub reflects: bool,
    /// Configuration lines and notes (firewall commands come from the verdict).
    pub remediation: Remediation,
    /// File it came from.
    pub source: String,
    /// Whether it has rules on the greeting (the server speaks first).
    pub server_first: bool,
    /// CPE 2.3 name prefixes of its products.
    pub cpe: Cpe,
    /// Its products' release cycles and end-of-life dates.
    pub eol: eol::Lifecycle,
}

/// The CPE 2.3 name prefixes (`cpe:2.3:a:VENDOR:PRODUCT`) of what a service
/// identifies, from its file's `cpe`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cpe {
    /// The file names none.
    #[default]
    None,
    /// One prefix, for whatever product the service identifies.
    Any(String),
    /// A prefix per product name, compared without regard to ASCII case.
    ByProduct(Vec<(String, String)>),
}

impl ServiceDef {
    /// The CPE 2.3 formatted string of `product` at `version`, when a product
    /// was identified and this service names a CPE for it.
    pub fn cpe_name(&self, product: Option<&str>, version: Option<&str>) -> Option<String> {
        let product = product.filter(|p| !p.is_empty())?;
        let prefix = match &self.cpe {
            Cpe::None => return None,
            Cpe::Any(prefix) => prefix,
            Cpe::ByProduct(list) => {
                &list
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(product))?
                    .1
            }
        };
        Some(cpe_name(prefix, version))
    }
}

/// `prefix` (part, vendor and product) completed into the 13 components of
/// a CPE 2.3 formatted string: the version (`*`, ANY, when unknown or not
/// expressible) and ANY for the other eight attributes.
pub fn cpe_name(prefix: &str, version: Option<&str>) -> String {
    let v = version.and_then(cpe_value).unwrap_or_else(|| "*".into());
    format!("{prefix}:{v}:*:*:*:*:*:*:*")
}

/// A version as a CPE 2.3 formatted-string value (NISTIR 7695 §6.2.2.2):
/// letters lower-cased, `.` `-` `_` as they are, every other printable ASCII
/// character quoted with `\` (so a `*`, `?` or `:` from the network is never
/// a wildcard or a separator), a lone `-` quoted (it would mean NA). A
/// leading `v` before a digit goes (`v1.29.0` is release 1.29.0, as NVD
/// writes it). `None` for an empty value or one holding a space, a control
/// or a non-ASCII character, which no CPE value may hold.
pub fn cpe_value(v: &str) -> Option<String> {
    let v = v
        .strip_prefix(['v', 'V'])
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(v);
    if v.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        match c {
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            '.' | '-' | '_' => out.push(c),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            _ => return None,
        }
    }
    if out == "-" {
        out.insert(0, '\\');
    }
    Some(out)
}

/// Why `s` is not a CPE 2.3 formatted-string prefix `cpe:2.3:PART:VENDOR:PRODUCT`
/// (part `a`, `o` or `h`; vendor and product lower-case letters, digits,
/// `.` `-` `_` and `\`-quoted punctuation), if it is not.
pub fn cpe_prefix_error(s: &str) -> Option<String> {
    let Some(rest) = s.strip_prefix("cpe:2.3:") else {
        return Some(format!("cpe '{s}' must start with cpe:2.3:"));
    };
    let mut parts = vec![String::new()];
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => parts.push(String::new()),
            '\\' => {
                let Some(q) = chars.next().filter(char::is_ascii_punctuation) else {
                    return Some(format!(
                        "cpe '{s}': '\\' must quote a punctuation character"
                    ));
                };
                let last = parts.last_mut().expect("one part at least");
                last.push('\\');
                last.push(q);
            }
            c if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_') => {
                parts.last_mut().expect("one part at least").push(c);
            }
            c => {
                return Some(format!(
                    "cpe '{s}': character {c:?} must be quoted or lower-case"
                ))
            }
        }
    }
    match parts.as_slice() {
        [part, vendor, product]
            if ["a", "o", "h"].contains(&part.as_str())
                && ![vendor, product]
                    .iter()
                    .any(|v| v.is_empty() || v.as_str() == "-") =>
        {
            None
        }
        _ => Some(format!(
            "cpe '{s}' must be cpe:2.3:PART:VENDOR:PRODUCT (part a, o or h; the engine adds the version)"
        )),
    }
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
    /// `Udp`: a datagram of the UDP sweep (never part of a TCP plan).
    pub proto: Proto,
    /// UDP: the protocol's published worst-case amplification, with source.
    pub amplification: Option<String>,
    /// UDP: whether the reply comes from the probed port or a new one.
    pub reply_from: format::ReplyFrom,
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

    /// Every UDP port any service names, sorted: the UDP exposure set.
    pub fn default_udp_ports(&self) -> Vec<u16> {
        let set: BTreeSet<u16> = self
            .services
            .iter()
            .flat_map(|s| s.udp_ports.iter().copied())
            .collect();
        set.into_iter().collect()
    }

    /// The UDP probes sent first to `port` (those it hints, follow-ups
    /// excepted), in rank order; every first UDP probe for a port no
    /// service names.
    pub fn udp_probes_for(&self, port: u16) -> Vec<usize> {
        let first = |p: &&Probe| p.proto == Proto::Udp && !p.follow_up;
        let mut hinted: Vec<usize> = (0..self.probes.len())
            .filter(|&i| first(&&self.probes[i]) && self.probes[i].hint_ports.contains(&port))
            .collect();
        if hinted.is_empty() {
            hinted = (0..self.probes.len())
                .filter(|&i| first(&&self.probes[i]))
                .collect();
        }
        hinted.sort_by_key(|&i| self.probes[i].rank);
        hinted
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

    /// The service a port that reflects every probe is (echo), if any.
    pub fn reflector(&self) -> Option<&ServiceDef> {
        self.services.iter().find(|s| s.reflects)
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

    #[test]
    fn cpe_values_follow_the_formatted_string_rules() {
        assert_eq!(cpe_value("7.2.4").as_deref(), Some("7.2.4"));
        assert_eq!(cpe_value("v1.29.0").as_deref(), Some("1.29.0"));
        assert_eq!(cpe_value("vnext").as_deref(), Some("vnext"));
        assert_eq!(cpe_value("9.6p1").as_deref(), Some("9.6p1"));
        assert_eq!(
            cpe_value("10.11.6-MariaDB").as_deref(),
            Some("10.11.6-mariadb")
        );
        assert_eq!(cpe_value("1.2+dfsg_1").as_deref(), Some("1.2\\+dfsg_1"));
        assert_eq!(cpe_value("*:?\\").as_deref(), Some("\\*\\:\\?\\\\"));
        assert_eq!(cpe_value("-").as_deref(), Some("\\-"));
        for bad in ["", "1.0 beta", "1.0\n", "1.0\u{e9}"] {
            assert_eq!(cpe_value(bad), None, "{bad:?}");
        }
        assert_eq!(
            cpe_name("cpe:2.3:a:redis:redis", Some("7.2 4")),
            "cpe:2.3:a:redis:redis:*:*:*:*:*:*:*:*"
        );
        assert!(cpe_prefix_error("cpe:2.3:a:linuxfoundation:nats-server").is_none());
        assert!(cpe_prefix_error("cpe:2.3:a:vendor\\!:p").is_none());
        assert!(cpe_prefix_error("cpe:2.3:a:vendor\\").is_some());
        assert!(cpe_prefix_error("cpe:2.3:a:-:p").is_some());
    }

    #[test]
    fn built_in_services_name_their_products_cpe() {
        let cat = Catalog::builtin();
        let name = |id: &str, product: &str, version: Option<&str>| {
            cat.service(id)
                .unwrap_or_else(|| panic!("{id}"))
                .cpe_name(Some(product), version)
        };
        let cases = [
            (
                "redis",
                "Redis",
                Some("7.2.4"),
                Some("cpe:2.3:a:redis:redis:7.2.4"),
            ),
            (
                "memcached",
                "Memcached",
                Some("1.6.21"),
                Some("cpe:2.3:a:memcached:memcached:1.6.21"),
            ),
            (
                "mysql",
                "MariaDB",
                Some("10.11.6"),
                Some("cpe:2.3:a:mariadb:mariadb:10.11.6"),
            ),
            ("mysql", "MySQL", None, Some("cpe:2.3:a:oracle:mysql:*")),
            (
                "ssh",
                "OpenSSH",
                Some("9.6p1"),
                Some("cpe:2.3:a:openbsd:openssh:9.6p1"),
            ),
            ("ssh", "Dropbear", Some("2022.83"), None),
            (
                "http",
                "nginx",
                Some("1.24.0"),
                Some("cpe:2.3:a:f5:nginx:1.24.0"),
            ),
            (
                "kube-apiserver",
                "Kubernetes",
                Some("v1.29.0"),
                Some("cpe:2.3:a:kubernetes:kubernetes:1.29.0"),
            ),
        ];
        for (id, product, version, want) in cases {
            let want = want.map(|w| format!("{w}{}", ":*".repeat(7)));
            assert_eq!(name(id, product, version), want, "{id} {product}");
        }
        for s in cat.services() {
            if let Cpe::Any(p) = &s.cpe {
                assert!(cpe_prefix_error(p).is_none(), "{}", s.id);
            }
        }
    }
}
