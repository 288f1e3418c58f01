//! The serde shape of one `services/<id>.toml` file (see `services/README.md`).
//!
//! These types only describe the text; [`super::load`] validates them and
//! compiles them into a [`super::Catalog`]. Values whose errors must name a
//! line are kept [`Spanned`].

use crate::model::{AuthState, Proto};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// What kind of thing a service is; the verdict keys severity on it.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// SQL and document databases.
    Database,
    /// Key-value caches.
    Cache,
    /// Search engines.
    Search,
    /// Brokers and queues.
    MessageQueue,
    /// Container engine APIs.
    ContainerApi,
    /// Cluster control planes and node agents.
    Orchestration,
    /// Service discovery and coordination stores.
    Coordination,
    /// Metrics and time-series stores.
    Monitoring,
    /// Development servers and notebooks.
    DevServer,
    /// Administrative web interfaces.
    AdminUi,
    /// Remote shells and desktops.
    RemoteAccess,
    /// File transfer.
    FileTransfer,
    /// Mail transfer and access.
    Mail,
    /// Web servers.
    Web,
    /// A TLS layer with nothing identified inside.
    Tls,
    /// Anything else.
    Other,
}

impl Category {
    /// Kebab-case name, as in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Database => "database",
            Category::Cache => "cache",
            Category::Search => "search",
            Category::MessageQueue => "message-queue",
            Category::ContainerApi => "container-api",
            Category::Orchestration => "orchestration",
            Category::Coordination => "coordination",
            Category::Monitoring => "monitoring",
            Category::DevServer => "dev-server",
            Category::AdminUi => "admin-ui",
            Category::RemoteAccess => "remote-access",
            Category::FileTransfer => "file-transfer",
            Category::Mail => "mail",
            Category::Web => "web",
            Category::Tls => "tls",
            Category::Other => "other",
        }
    }
}

/// Who should be able to reach the service.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Exposure {
    /// Only processes on the same host.
    LocalhostOnly,
    /// Only a private network.
    InternalOnly,
    /// Anyone.
    PublicOk,
}

impl Exposure {
    /// Kebab-case name, as in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::LocalhostOnly => "localhost-only",
            Exposure::InternalOnly => "internal-only",
            Exposure::PublicOk => "public-ok",
        }
    }
}

/// What anyone who reaches the service gets from it, beyond its category:
/// the rules table ([`crate::verdict::rules::IMPACTS`]) turns it into a
/// severity and a rationale.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Impact {
    /// Runs code for whoever it lets in (a notebook, a debugger console, a
    /// compile farm, an X server, a FastCGI backend).
    CodeExecution,
    /// Relays connections for whoever it lets in (an open proxy).
    Relay,
    /// A login surface for guessing and pre-authentication bugs (SMB, RDP,
    /// VNC).
    RemoteLogin,
    /// Tells its reader about the host and its software (a port mapper, a
    /// directory read anonymously, a monitoring agent, a source server).
    Disclosure,
    /// Stops the service for whoever sends its word (the Tomcat shutdown
    /// port).
    Shutdown,
    /// Nothing: an obsolete test service that holds no data and runs
    /// nothing (echo), open for no reason.
    TestService,
}

impl Impact {
    /// Kebab-case name, as in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Impact::CodeExecution => "code-execution",
            Impact::Relay => "relay",
            Impact::RemoteLogin => "remote-login",
            Impact::Disclosure => "disclosure",
            Impact::Shutdown => "shutdown",
            Impact::TestService => "test-service",
        }
    }
}

/// What an answering UDP service lets a stranger do, beyond being reachable;
/// the verdict picks the UDP rule from it.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum UdpRisk {
    /// It answers a small spoofable request with a larger reply (or
    /// several): a DDoS reflector.
    Reflector,
    /// A DNS server that resolves names for anyone.
    OpenResolver,
    /// An SNMP agent that answers the default community.
    DefaultCommunity,
}

/// Where a UDP probe's reply comes from.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyFrom {
    /// The probed port (every protocol but a few).
    #[default]
    SamePort,
    /// A port the server picks for the exchange (TFTP's transfer id, RFC
    /// 1350 §4): such a reply is read only when it matches this probe's
    /// rules, so a stray datagram from another port still never counts.
    NewPort,
}

/// How a match rule counts.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    /// A hard match: the first one wins.
    #[default]
    Match,
    /// Names the service but lets probing continue.
    Soft,
    /// Fills empty fields after a match of the same service on the same reply.
    Enrich,
    /// The reply says the port speaks TLS.
    Tls,
}

/// One services file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    /// Service id.
    pub id: Spanned<String>,
    /// Display name.
    pub name: String,
    /// Category.
    pub category: Category,
    /// Exposure class.
    pub exposure: Exposure,
    /// What an attacker gets from it, when more than its category says.
    pub impact: Option<Impact>,
    /// Default ports.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Ports where TLS is spoken first.
    #[serde(default)]
    pub tls_ports: Vec<u16>,
    /// Default UDP ports: probed in the UDP exposure set, and they hint its
    /// `proto = "udp"` probes.
    #[serde(default)]
    pub udp_ports: Vec<u16>,
    /// What its UDP side lets a stranger do when it answers without
    /// restriction.
    pub udp_risk: Option<UdpRisk>,
    /// Rule order across files (lower first).
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// Dialogue name for binary protocols.
    pub code: Option<Spanned<String>>,
    /// What the dialogue sends.
    pub code_note: Option<String>,
    /// Rank of the dialogue among the fallback steps on unhinted ports.
    pub code_fallback: Option<u32>,
    /// A catch-all or framework (plain HTTP, Express): on a port it does not
    /// name, its match only narrows probing and a more specific service wins.
    #[serde(default)]
    pub generic: bool,
    /// A port that sends back every probe verbatim is this service (echo):
    /// named when nothing else matched, no rule being able to read a reply
    /// that only repeats the probe.
    #[serde(default)]
    pub reflects: bool,
    /// CPE 2.3 name prefixes of the products it identifies.
    pub cpe: Option<Spanned<CpeDef>>,
    /// Release cycles and their end-of-life dates.
    #[serde(default)]
    pub eol: Vec<Spanned<EolDef>>,
    /// Probes.
    #[serde(default, rename = "probe")]
    pub probes: Vec<ProbeDef>,
    /// Match rules.
    #[serde(default, rename = "match")]
    pub matches: Vec<MatchDef>,
    /// Remediation text.
    #[serde(default)]
    pub remediation: RemediationDef,
    /// Replay tests.
    #[serde(default, rename = "fixture")]
    pub fixtures: Vec<FixtureDef>,
}

fn default_priority() -> i32 {
    50
}

/// `cpe`: the CPE 2.3 formatted-string prefix (`cpe:2.3:a:VENDOR:PRODUCT`) of
/// what the service identifies; the engine appends the version.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum CpeDef {
    /// One prefix, for whatever product the service identifies.
    One(String),
    /// A prefix per product name (as the rules or the dialogue report it,
    /// compared without regard to ASCII case); other products get none.
    ByProduct(BTreeMap<String, String>),
}

/// One release cycle in `eol = [...]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct EolDef {
    /// The product it is about, when the service reports several.
    pub product: Option<String>,
    /// The release cycle (`7.2`, `15`).
    pub cycle: String,
    /// Its end of life: an ISO date, or `false` while none is set.
    pub eol: EolDate,
    /// Where the date comes from.
    pub source: String,
}

/// An `eol` value.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum EolDate {
    /// `"2025-02-28"`.
    Date(String),
    /// `false`: no date set yet (`true` is refused: give the date).
    Set(bool),
}

/// A `[[probe]]` table.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ProbeDef {
    /// Global probe name.
    pub name: Spanned<String>,
    /// Escaped payload.
    pub send: Spanned<String>,
    /// What the payload does (required).
    pub note: Option<String>,
    /// Extra hint ports.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Order among the chosen probes.
    #[serde(default = "default_rank")]
    pub rank: u32,
    /// Also sent on unhinted ports.
    #[serde(default)]
    pub fallback: bool,
    /// Connection-sharing family.
    pub family: Option<String>,
    /// Probe to send first unless the port already spoke.
    pub guard: Option<Spanned<String>>,
    /// Only sent through a rule's `then`.
    #[serde(default)]
    pub follow_up: bool,
    /// `udp`: a datagram for the UDP sweep, never sent over TCP.
    #[serde(default)]
    pub proto: Proto,
    /// UDP: the protocol's published worst-case amplification and its
    /// source, shown next to the measured factor.
    pub amplification: Option<String>,
    /// UDP: where the reply comes from (`new-port` for TFTP).
    #[serde(default)]
    pub reply_from: ReplyFrom,
}

fn default_rank() -> u32 {
    100
}

/// A `[[match]]` table.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct MatchDef {
    /// Probe name or `greeting`.
    pub probe: Spanned<String>,
    /// Regex over the reply bytes.
    pub pattern: Spanned<String>,
    /// How the rule counts.
    #[serde(default)]
    pub kind: MatchKind,
    /// Product template.
    pub product: Option<String>,
    /// Version template.
    pub version: Option<String>,
    /// Info template.
    pub info: Option<String>,
    /// Auth state this reply proves.
    pub auth: Option<AuthState>,
    /// Auth evidence template.
    pub evidence: Option<String>,
    /// Follow-up probe.
    pub then: Option<Spanned<String>>,
}

/// `[remediation]`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RemediationDef {
    /// Configuration lines.
    #[serde(default)]
    pub config: Vec<String>,
    /// Caveats.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Configuration lines that close the UDP side (used for UDP findings
    /// instead of `config`).
    #[serde(default)]
    pub udp: Vec<String>,
}

/// A `[[fixture]]` table.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct FixtureDef {
    /// Probe the reply answers (default: the file's first rule's probe).
    pub probe: Option<String>,
    /// Escaped reply bytes.
    pub reply: Spanned<String>,
    /// What the matcher must conclude.
    pub expect: Expect,
}

/// A fixture's expected identification.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Service id, `unknown` or `tls`.
    pub service: String,
    /// Expected product.
    pub product: Option<String>,
    /// Expected version.
    pub version: Option<String>,
    /// Expected info.
    pub info: Option<String>,
    /// Expected auth state.
    pub auth: Option<AuthState>,
}
