//! The rules table: every rule exposecheck can raise, one entry each, with
//! its id, title, default severity, rationale, references and how its fix is
//! built. The verdict builds findings from it, SARIF's rule metadata and the
//! README's rule list are read from it, and a policy's `[severity]` override
//! is checked against it; nothing else names a rule.
//!
//! Three rules are per service: their id is a pattern in which `{service}`
//! stands for a `services/` id (`redis-unauthenticated`, `ssh-public`), so a
//! new service file brings its rules with it. [`catalogue`] lists them all
//! for a catalogue.
//!
//! A service's `impact` (what anyone who reaches it gets: code execution, a
//! relay, a login surface, disclosure) sets the severity of its per-service
//! rules through [`IMPACTS`], with the rationale the finding carries.
//!
//! Adding a rule: a [`RuleKind`] variant, its entry in [`RULES`] (in the same
//! order), the code that raises it, and its test.

use super::remedy;
use crate::catalog::format::{Category, Exposure, Impact};
use crate::model::{Proto, Remediation, Severity};

/// Which rule, as a closed vocabulary (its entry is [`RuleKind::rule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    /// A service that must not be reachable answers without authentication.
    ServiceUnauthenticated,
    /// A service that must not be reachable is reachable (it asks for
    /// credentials, or refuses this client), or a development server is.
    ServiceExposed,
    /// A service meant to be public is (informational).
    ServicePublic,
    /// An open port where nothing was identified.
    UnexpectedOpenPort,
    /// An open port of a host that accepts every port.
    OpenOnEveryPortHost,
    /// A host that accepts connections on every port.
    HostAnswersEveryPort,
    /// A host whose closed ports all answer RST.
    NoDefaultDenyFirewall,
    /// A port open over one address family only.
    DualStackMismatch,
    /// A policy entry whose host and port were scanned and found not open.
    PolicyStaleEntry,
    /// A UDP service answers a small spoofable request with more: a reflector.
    UdpAmplifier,
    /// A DNS server resolves names for anyone.
    OpenResolver,
    /// An SNMP agent answers the default community `public`.
    SnmpPublicCommunity,
    /// A UDP service that should not be reachable answers.
    UdpExposed,
    /// `--check-ssh-rate`: every connect to SSH got a banner.
    SshNoRateLimit,
    /// `--check-ssh-rate`: SSH connects are rate limited (informational).
    SshRateLimited,
    /// A port outside the policy answers on a default-deny host (a port
    /// Docker publishes skips INPUT).
    DefaultDenyBypassed,
    /// An identified product whose release cycle is past its end of life.
    EndOfLife,
}

/// What a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// One scanned port.
    Port,
    /// A host as a whole (or one of its ports seen across families).
    Host,
    /// An entry of the policy file.
    Policy,
}

impl Subject {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Port => "port",
            Subject::Host => "host",
            Subject::Policy => "policy",
        }
    }
}

/// How a rule's fix is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fix {
    /// Nothing to close.
    Nothing,
    /// The service's own configuration advice, without firewall rules (a
    /// public service stays reachable).
    ServiceAdvice,
    /// The service's own configuration change, then firewall rules for its
    /// port by exposure class ([`remedy::firewall`]).
    CloseService,
    /// Firewall rules that close the port to everyone but loopback.
    ClosePort,
    /// Firewall rules for the address family that lacks them.
    CloseOtherFamily,
    /// A default-deny input policy.
    DefaultDeny,
    /// Delete the policy entry (the finding says which).
    EditPolicy,
    /// The article's SSH connection-rate limit ([`remedy::ssh_rate_limit`]).
    SshRateLimit,
    /// Upgrade to a supported release cycle (the finding says which ended).
    Upgrade,
}

/// One rule.
#[derive(Debug)]
pub struct Rule {
    /// Which rule.
    pub kind: RuleKind,
    /// The id; for a per-service rule a pattern where `{service}` is the
    /// service id.
    pub id: &'static str,
    /// What it is about.
    pub subject: Subject,
    /// Short title, for rule listings.
    pub title: &'static str,
    /// Severity before any policy override.
    pub severity: Severity,
    /// When the severity differs from [`Rule::severity`], and why.
    pub severity_note: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    /// Where to read more.
    pub references: &'static [&'static str],
    /// How its fix is built.
    pub fix: Fix,
    /// The transport it is about, when only one (which firewall lines).
    pub proto: Option<Proto>,
}

/// Placeholder in a per-service rule id.
const SERVICE: &str = "{service}";

/// CWE-1327, binding to an unrestricted address.
const CWE_1327: &str = "https://cwe.mitre.org/data/definitions/1327.html";

/// Every rule, in [`RuleKind`] order.
pub static RULES: [Rule; 17] = [
    Rule {
        kind: RuleKind::ServiceUnauthenticated,
        id: "{service}-unauthenticated",
        subject: Subject::Port,
        title: "Service answers anyone, without authentication",
        severity: Severity::Critical,
        severity_note: "high for an internal-only service that is not a database, cache, search engine, queue, container or cluster API; a service's impact overrides both: critical for code execution or an open remote desktop, high for an open proxy, medium for disclosure",
        rationale: "The service answered a read-only request from where the scan ran without asking for credentials: anyone who can reach the port can read (and usually change) what it holds.",
        references: &["https://cwe.mitre.org/data/definitions/306.html", CWE_1327],
        fix: Fix::CloseService,
        proto: None,
    },
    Rule {
        kind: RuleKind::ServiceExposed,
        id: "{service}-exposed",
        subject: Subject::Port,
        title: "Service that should be localhost-only or internal is reachable",
        severity: Severity::High,
        severity_note: "medium for development servers and admin UIs; a service's impact overrides it: high for a remote login, medium for a guarded proxy or disclosure",
        rationale: "The service asks for credentials or refuses this client, but its port should not be reachable at all: every open port is attack surface for password guessing, pre-authentication bugs and denial of service.",
        references: &["https://cwe.mitre.org/data/definitions/668.html", CWE_1327],
        fix: Fix::CloseService,
        proto: None,
    },
    Rule {
        kind: RuleKind::ServicePublic,
        id: "{service}-public",
        subject: Subject::Port,
        title: "Public service",
        severity: Severity::Info,
        severity_note: "",
        rationale: "A service meant to be reachable (web, mail, SSH) answers; listed so that the inventory is complete.",
        references: &[],
        fix: Fix::ServiceAdvice,
        proto: None,
    },
    Rule {
        kind: RuleKind::UnexpectedOpenPort,
        id: "unexpected-open-port",
        subject: Subject::Port,
        title: "Open port with no identified service",
        severity: Severity::Low,
        severity_note: "",
        rationale: "Something accepts connections and nothing identified it: close the port unless it has a reason to be open (then list it in the policy file).",
        references: &[CWE_1327],
        fix: Fix::ClosePort,
        proto: None,
    },
    Rule {
        kind: RuleKind::OpenOnEveryPortHost,
        id: "open-on-every-port-host",
        subject: Subject::Port,
        title: "Port open on a host that accepts every port",
        severity: Severity::Info,
        severity_note: "",
        rationale: "The host accepts connections on random unused ports too, and this port answered like them: its being open proves nothing about a service.",
        references: &["https://nmap.org/book/man-port-scanning-basics.html"],
        fix: Fix::Nothing,
        proto: None,
    },
    Rule {
        kind: RuleKind::HostAnswersEveryPort,
        id: "host-answers-every-port",
        subject: Subject::Host,
        title: "Host accepts connections on every port",
        severity: Severity::Medium,
        severity_note: "",
        rationale: "A tarpit, SYN proxy or port-forwarding middlebox answers for the host, so a port scan cannot see which services really listen; scan from inside that layer.",
        references: &["https://nmap.org/book/man-port-scanning-basics.html"],
        fix: Fix::Nothing,
        proto: None,
    },
    Rule {
        kind: RuleKind::NoDefaultDenyFirewall,
        id: "no-default-deny-firewall",
        subject: Subject::Host,
        title: "Host has no default-deny firewall",
        severity: Severity::Low,
        severity_note: "",
        rationale: "Closed ports answer with RST and none is filtered: nothing stands between a newly started service and the network.",
        references: &["https://csrc.nist.gov/pubs/sp/800/41/r1/final"],
        fix: Fix::DefaultDeny,
        proto: None,
    },
    Rule {
        kind: RuleKind::DualStackMismatch,
        id: "dual-stack-mismatch",
        subject: Subject::Host,
        title: "Port open over one address family only",
        severity: Severity::Medium,
        severity_note: "the open port's own severity when that is higher; low when the other family answers RST, as the service then listens over one family only",
        rationale: "A port filtered over IPv4 but open over IPv6 (or the reverse) is the classic firewall written for one family and forgotten for the other.",
        references: &["https://www.rfc-editor.org/rfc/rfc7123"],
        fix: Fix::CloseOtherFamily,
        proto: None,
    },
    Rule {
        kind: RuleKind::PolicyStaleEntry,
        id: "policy-stale-entry",
        subject: Subject::Policy,
        title: "Policy entry no longer matches an open port",
        severity: Severity::Low,
        severity_note: "",
        rationale: "The policy expects a port that was scanned and found not open: the entry can go, before it silently excuses whatever opens there next.",
        references: &[],
        fix: Fix::EditPolicy,
        proto: None,
    },
    Rule {
        kind: RuleKind::UdpAmplifier,
        id: "udp-amplifier",
        subject: Subject::Port,
        title: "UDP service answers strangers: a DDoS reflector",
        severity: Severity::High,
        severity_note: "critical for a database or cache: Memcached's UDP side also reads and writes the data, and it was the 1.7 Tbps reflector of 2018",
        rationale: "UDP has no handshake: an attacker sends small requests with the victim's address as the source, and this service fires its larger replies at the victim. Reflectors like it carry the record DDoS attacks, and network owners get abuse reports for them (Shadowserver scans for them daily).",
        references: &["https://www.cisa.gov/news-events/alerts/2014/01/17/udp-based-amplification-attacks", "https://www.rfc-editor.org/rfc/rfc8085"],
        fix: Fix::CloseService,
        proto: Some(Proto::Udp),
    },
    Rule {
        kind: RuleKind::OpenResolver,
        id: "dns-open-resolver",
        subject: Subject::Port,
        title: "DNS server offers recursion to anyone: an open resolver",
        severity: Severity::High,
        severity_note: "",
        rationale: "An open resolver answers spoofed queries for large records at a victim (DNS amplification, up to 54x), can be used to poison its cache, and resolves names for anyone who wants to hide where queries come from. Recursion belongs to the resolver's own clients only.",
        references: &["https://www.rfc-editor.org/rfc/rfc5358", "https://www.cisa.gov/news-events/alerts/2013/03/29/dns-amplification-attacks"],
        fix: Fix::CloseService,
        proto: Some(Proto::Udp),
    },
    Rule {
        kind: RuleKind::SnmpPublicCommunity,
        id: "snmp-public-community",
        subject: Subject::Port,
        title: "SNMP agent answers the default community 'public'",
        severity: Severity::High,
        severity_note: "",
        rationale: "The default community is a password everyone knows: anyone reads the system's description, interfaces, routes, processes and installed software (and, where a write community is left at its default, changes them); the replies to GetBulk requests also make the agent a DDoS reflector.",
        references: &["https://www.cisa.gov/news-events/alerts/2017/06/05/reducing-risk-snmp-abuse", "https://www.rfc-editor.org/rfc/rfc3414"],
        fix: Fix::CloseService,
        proto: Some(Proto::Udp),
    },
    Rule {
        kind: RuleKind::UdpExposed,
        id: "exposed-udp-service",
        subject: Subject::Port,
        title: "UDP service that should be localhost-only or internal answers",
        severity: Severity::Medium,
        severity_note: "",
        rationale: "The service answered a read-only datagram from where the scan ran. It restricts what it tells this client, but its port should not be reachable at all: every open UDP port is attack surface for pre-authentication bugs and can be abused as a reflector.",
        references: &[CWE_1327],
        fix: Fix::CloseService,
        proto: Some(Proto::Udp),
    },
    Rule {
        kind: RuleKind::SshNoRateLimit,
        id: "ssh-no-rate-limit",
        subject: Subject::Host,
        title: "SSH accepts new connections at any rate",
        severity: Severity::Low,
        severity_note: "raised only by the opt-in --check-ssh-rate",
        rationale: "Ten paced connects in a row each got the SSH banner: nothing slows a password-guessing run down before sshd's own MaxStartups. fail2ban-style bans on failed logins cannot be seen without logging in, and this check never does.",
        references: &["https://www.rfc-editor.org/rfc/rfc4253#section-4.2", "https://ipset.netfilter.org/iptables-extensions.man.html"],
        fix: Fix::SshRateLimit,
        proto: None,
    },
    Rule {
        kind: RuleKind::SshRateLimited,
        id: "ssh-rate-limited",
        subject: Subject::Host,
        title: "SSH connections are rate limited",
        severity: Severity::Info,
        severity_note: "raised only by the opt-in --check-ssh-rate",
        rationale: "After a few connects the SSH port stopped answering (a netfilter limit) or sshd closed the connection (MaxStartups, PerSourcePenalties): password guessing is slowed down. Listed so that the evidence is kept.",
        references: &["https://ipset.netfilter.org/iptables-extensions.man.html"],
        fix: Fix::Nothing,
        proto: None,
    },
    Rule {
        kind: RuleKind::DefaultDenyBypassed,
        id: "default-deny-bypassed",
        subject: Subject::Host,
        title: "Port answers on a default-deny host (a Docker-published port?)",
        severity: Severity::Medium,
        severity_note: "",
        rationale: "Unlisted ports of this host are dropped or rejected, yet this port, which the policy does not expect, answers. A container port published with `docker run -p` does exactly that: Docker DNATs it in PREROUTING and accepts it in FORWARD, so INPUT rules and ufw never see it. Otherwise an ACCEPT rule ahead of the default opens it.",
        references: &["https://docs.docker.com/engine/network/packet-filtering-firewalls/"],
        fix: Fix::ClosePort,
        proto: None,
    },
    Rule {
        kind: RuleKind::EndOfLife,
        id: "eol-version",
        subject: Subject::Host,
        title: "Identified version is past its release cycle's end of life",
        severity: Severity::Medium,
        severity_note: "",
        rationale: "The banner's version belongs to a release cycle its upstream no longer patches, so new vulnerabilities stay open unless the distribution backports fixes. Version-inferred: a distribution package keeps the upstream version while it backports, so check the package's own support before acting. Medium, not high: the version is read from a banner, and the port's own finding already carries its exposure.",
        references: &["https://endoflife.date/", "https://cwe.mitre.org/data/definitions/1104.html"],
        fix: Fix::Upgrade,
        proto: None,
    },
];

/// What an [`Impact`] makes of a reachable service.
#[derive(Debug)]
pub struct ImpactRule {
    /// Which impact.
    pub impact: Impact,
    /// Severity when the port let this client in without credentials.
    pub open: Severity,
    /// Severity when it asked for credentials or refused this client; `None`
    /// keeps the category's (a development server with a token stays medium).
    pub guarded: Option<Severity>,
    /// What an attacker does with it, for the finding.
    pub rationale: &'static str,
}

/// Every impact, in [`Impact`] order.
pub static IMPACTS: [ImpactRule; 6] = [
    ImpactRule {
        impact: Impact::CodeExecution,
        open: Severity::Critical,
        guarded: None,
        rationale: "whoever reaches the port runs code on the host as the service's user, with no credential at all",
    },
    ImpactRule {
        impact: Impact::Relay,
        open: Severity::High,
        guarded: Some(Severity::Medium),
        rationale: "an open proxy relays anyone's traffic from this host's address, to the internet and to the internal network behind it",
    },
    ImpactRule {
        impact: Impact::RemoteLogin,
        open: Severity::Critical,
        guarded: Some(Severity::High),
        rationale: "a remote login is a target for password guessing and pre-authentication exploits (the wormable kind on SMB and RDP); without authentication it is the desktop itself",
    },
    ImpactRule {
        impact: Impact::Disclosure,
        open: Severity::Medium,
        guarded: Some(Severity::Medium),
        rationale: "it tells anyone the host's services, software versions and layout, which is how an attacker picks the next target; it should answer only its own peers",
    },    ImpactRule {
        impact: Impact::Shutdown,
        open: Severity::Medium,
        guarded: Some(Severity::Medium),
        rationale: "whoever reaches the port and sends its word (the default is SHUTDOWN) stops the server; the word is the only guard",
    },
    ImpactRule {
        impact: Impact::TestService,
        open: Severity::Low,
        guarded: Some(Severity::Low),
        rationale: "it holds nothing and runs nothing, but an obsolete test service has no reason to be open: its daemon (inetd) is attack surface, and its UDP twin a reflector",
    },
];

impl Impact {
    /// Its entry in [`IMPACTS`].
    pub fn rule(self) -> &'static ImpactRule {
        &IMPACTS[self as usize]
    }
}

impl ImpactRule {
    /// The severity for a port whose auth state was `open` (no credentials
    /// asked) or not, where the category alone would give `category`.
    pub fn severity(&self, open: bool, category: Severity) -> Severity {
        match (open, self.guarded) {
            (true, _) => self.open,
            (false, Some(s)) => s,
            (false, None) => category,
        }
    }
}

impl RuleKind {
    /// Every kind, in table order.
    pub const ALL: [RuleKind; 17] = [
        RuleKind::ServiceUnauthenticated,
        RuleKind::ServiceExposed,
        RuleKind::ServicePublic,
        RuleKind::UnexpectedOpenPort,
        RuleKind::OpenOnEveryPortHost,
        RuleKind::HostAnswersEveryPort,
        RuleKind::NoDefaultDenyFirewall,
        RuleKind::DualStackMismatch,
        RuleKind::PolicyStaleEntry,
        RuleKind::UdpAmplifier,
        RuleKind::OpenResolver,
        RuleKind::SnmpPublicCommunity,
        RuleKind::UdpExposed,
        RuleKind::SshNoRateLimit,
        RuleKind::SshRateLimited,
        RuleKind::DefaultDenyBypassed,
        RuleKind::EndOfLife,
    ];

    /// Its entry in [`RULES`].
    pub fn rule(self) -> &'static Rule {
        &RULES[self as usize]
    }

    /// The id of a rule that is not per service.
    pub fn literal(self) -> &'static str {
        debug_assert!(!self.rule().per_service(), "{self:?} is per service");
        self.rule().id
    }

    /// The id of this rule (for a per-service rule, for `service`).
    pub fn id(self, service: &str) -> String {
        self.rule().id.replace(SERVICE, service)
    }
}

impl Rule {
    /// Whether its id is a per-service pattern.
    pub fn per_service(&self) -> bool {
        self.id.contains(SERVICE)
    }

    /// The service an id names, when it is this rule's id for one.
    fn service_of<'a>(&self, id: &'a str) -> Option<&'a str> {
        let (before, after) = self.id.split_once(SERVICE)?;
        id.strip_prefix(before)?
            .strip_suffix(after)
            .filter(|s| !s.is_empty())
    }

    /// Builds the fix for `port`, with what the service contributes when
    /// the port has one (for [`Fix::CloseOtherFamily`] the caller keeps the
    /// lines of the family that lacks them).
    pub fn fix(&self, port: u16, service: Option<ServiceFix<'_>>) -> Remediation {
        let s = service.unwrap_or_default();
        let advice = |mut r: Remediation| {
            r.config = s.config.to_vec();
            r.notes.splice(0..0, s.notes.iter().cloned());
            r
        };
        match self.fix {
            Fix::Nothing | Fix::EditPolicy | Fix::Upgrade => Remediation::default(),
            Fix::ServiceAdvice => advice(Remediation::default()),
            Fix::CloseService if s.proto == Proto::Udp => {
                advice(remedy::firewall_udp(port, s.exposure))
            }
            Fix::CloseService => advice(remedy::firewall(port, s.exposure)),
            Fix::ClosePort if s.proto == Proto::Udp => {
                remedy::firewall_udp(port, Exposure::LocalhostOnly)
            }
            Fix::ClosePort | Fix::CloseOtherFamily => {
                remedy::firewall(port, Exposure::LocalhostOnly)
            }
            Fix::DefaultDeny => remedy::default_deny(),
            Fix::SshRateLimit => remedy::ssh_rate_limit(port),
        }
    }
}

/// What a service contributes to its fix.
#[derive(Clone, Copy, Debug)]
pub struct ServiceFix<'a> {
    /// Exposure class (which firewall rules).
    pub exposure: Exposure,
    /// The service's own configuration lines.
    pub config: &'a [String],
    /// Caveats.
    pub notes: &'a [String],
    /// The port's transport (which firewall rules).
    pub proto: Proto,
}

impl Default for ServiceFix<'_> {
    fn default() -> Self {
        ServiceFix {
            exposure: Exposure::LocalhostOnly,
            config: &[],
            notes: &[],
            proto: Proto::Tcp,
        }
    }
}

/// Categories whose unauthenticated exposure hands over data or the machine.
pub fn is_takeover(c: Category) -> bool {
    matches!(
        c,
        Category::Database
            | Category::Cache
            | Category::Search
            | Category::MessageQueue
            | Category::ContainerApi
            | Category::Orchestration
            | Category::Coordination
    )
}

/// Categories that are medium even on a public-ok port.
pub fn is_dev(c: Category) -> bool {
    matches!(c, Category::DevServer | Category::AdminUi)
}

/// A rule as it applies to a catalogue: its id and, for a per-service
/// rule, the service.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Applied {
    /// The id (`redis-unauthenticated`).
    pub id: String,
    /// The rule.
    pub kind: RuleKind,
    /// The service id, for a per-service rule.
    pub service: Option<String>,
}

impl Applied {
    /// Its table entry.
    pub fn rule(&self) -> &'static Rule {
        self.kind.rule()
    }
}

/// Every rule id a run over a catalogue with `service_ids` can raise, sorted.
pub fn catalogue<'a>(service_ids: impl IntoIterator<Item = &'a str>) -> Vec<Applied> {
    let ids: Vec<&str> = service_ids.into_iter().collect();
    let mut out: Vec<Applied> = RULES
        .iter()
        .flat_map(|r| {
            let services: Vec<Option<&str>> = if r.per_service() {
                ids.iter().map(|s| Some(*s)).collect()
            } else {
                vec![None]
            };
            services.into_iter().map(|s| Applied {
                id: r.kind.id(s.unwrap_or_default()),
                kind: r.kind,
                service: s.map(str::to_owned),
            })
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.id == b.id);
    out
}

/// The rule an id names, given the catalogue's service ids.
pub fn find<'a>(id: &str, service_ids: impl IntoIterator<Item = &'a str>) -> Option<Applied> {
    let ids: Vec<&str> = service_ids.into_iter().collect();
    RULES.iter().find_map(|r| {
        if !r.per_service() {
            return (r.id == id).then(|| Applied {
                id: id.to_owned(),
                kind: r.kind,
                service: None,
            });
        }
        let s = r.service_of(id).filter(|s| ids.contains(s))?;
        Some(Applied {
            id: id.to_owned(),
            kind: r.kind,
            service: Some(s.to_owned()),
        })
    })
}

/// The rule an id names, whatever the catalogue (a per-service id is taken
/// at its word): for outputs that only have the finding.
pub fn kind_of(id: &str) -> Option<RuleKind> {
    RULES
        .iter()
        .find(|r| {
            if r.per_service() {
                r.service_of(id).is_some()
            } else {
                r.id == id
            }
        })
        .map(|r| r.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_kind_order_with_unique_ids() {
        for (i, k) in RuleKind::ALL.iter().enumerate() {
            assert_eq!(RULES[i].kind, *k, "entry {i}");
            assert_eq!(k.rule().kind, *k);
        }
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        for r in &RULES {
            assert!(!r.title.is_empty() && !r.rationale.is_empty(), "{}", r.id);
            assert!(r.references.iter().all(|u| u.starts_with("https://")));
        }
    }

    #[test]
    fn ids_resolve_back_to_their_rule() {
        let ids = ["redis", "ssh"];
        let all = catalogue(ids);
        assert_eq!(all.len(), 14 + 3 * ids.len());
        for a in &all {
            assert_eq!(find(&a.id, ids).as_ref(), Some(a), "{}", a.id);
            assert_eq!(kind_of(&a.id), Some(a.kind));
        }
        assert_eq!(
            find("redis-unauthenticated", ids).map(|a| (a.kind, a.service)),
            Some((RuleKind::ServiceUnauthenticated, Some("redis".into())))
        );
        assert!(
            find("mysql-exposed", ids).is_none(),
            "not in this catalogue"
        );
        assert!(find("-exposed", ids).is_none());
        assert!(find("redis-unauthenticatedx", ids).is_none());
    }

    /// The README's rule list, as the table writes it.
    fn readme_table() -> String {
        let mut t =
            String::from("| Rule | Subject | Severity | What it means |\n|---|---|---|---|\n");
        for r in &RULES {
            let sev = if r.severity_note.is_empty() {
                r.severity.as_str().to_string()
            } else {
                format!("{} ({})", r.severity.as_str(), r.severity_note)
            };
            t.push_str(&format!(
                "| `{}` | {} | {sev} | {} |\n",
                r.id,
                r.subject.as_str(),
                r.rationale
            ));
        }
        t
    }

    #[test]
    fn the_readme_lists_the_table() {
        const BEGIN: &str = "<!-- rules: generated from src/verdict/rules.rs (UPDATE_README=1 cargo test the_readme_lists_the_table) -->\n";
        const END: &str = "<!-- /rules -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let start = readme.find(BEGIN).expect("README has the rules markers") + BEGIN.len();
        let end = readme[start..]
            .find(END)
            .expect("README has the end marker")
            + start;
        let table = readme_table();
        if std::env::var_os("UPDATE_README").is_some_and(|v| v == "1") {
            let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
            std::fs::write(path, updated).expect("write README.md");
            return;
        }
        assert_eq!(
            &readme[start..end],
            table,
            "README's rule list is stale: UPDATE_README=1 rewrites it"
        );
    }

    #[test]
    fn fixes_follow_the_table() {
        let svc = ServiceFix {
            exposure: Exposure::InternalOnly,
            config: &["bind 10.0.0.1".to_string()],
            notes: &["a note".to_string()],
            proto: Proto::Tcp,
        };
        let r = RuleKind::ServiceExposed.rule().fix(2181, Some(svc));
        assert_eq!(r.config, ["bind 10.0.0.1"]);
        assert_eq!(r.notes[0], "a note");
        assert!(r.iptables.iter().any(|l| l.contains("<internal-cidr>")));
        assert!(RuleKind::ServicePublic
            .rule()
            .fix(22, None)
            .iptables
            .is_empty());
        let d = RuleKind::NoDefaultDenyFirewall.rule().fix(0, None);
        assert!(d.ufw.contains(&"ufw default deny incoming".to_string()));
    }
}
