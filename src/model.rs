//! The one result type that flows scan → fingerprint → verdict → output.
//!
//! The engine fills in [`PortResult`]'s connect-level fields, the fingerprinter
//! adds [`Service`], the verdict adds [`Finding`], and every output format
//! renders the same value. Nothing here does I/O.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Version tag written into every machine-readable document.
pub const SCHEMA: &str = "exposecheck/1";

/// What a TCP connect attempt, or a UDP probe, established about a port.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// The three-way handshake completed (TCP), or a datagram came back (UDP).
    Open,
    /// The host answered with a RST.
    Closed,
    /// Nothing, or an ICMP error, came back.
    Filtered,
    /// The scanner could not learn the state: a local error that did not
    /// clear, or a host whose answers stopped at a rate the retries could not
    /// get under. Never a claim about the port; the run is incomplete.
    Unresolved,
    /// UDP only: silence after every retry. An open service that ignores
    /// the probe, a DROP rule, or a closed port whose ICMP answer the
    /// target's rate limit held back (nmap's `open|filtered`).
    #[serde(rename = "open|filtered")]
    #[schemars(rename = "open|filtered")]
    OpenFiltered,
}

impl PortState {
    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::Unresolved => "unresolved",
            PortState::OpenFiltered => "open|filtered",
        }
    }
}

/// Why a port got its state (nmap's `--reason` vocabulary).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// SYN/ACK received: the connect succeeded.
    SynAck,
    /// RST received: ECONNREFUSED with no ICMP error queued.
    ConnRefused,
    /// No answer before the timeout, on every try.
    NoResponse,
    /// ICMP host unreachable.
    HostUnreach,
    /// ICMP network unreachable, or no route on the scanning side.
    NetUnreach,
    /// ICMP communication administratively prohibited (a REJECT rule).
    AdminProhibited,
    /// ICMP port unreachable: a firewall REJECT, since a TCP stack answers with RST.
    PortUnreach,
    /// Unresolved: the scanner ran out of file descriptors (EMFILE, ENFILE)
    /// on every try.
    FdLimit,
    /// Unresolved: the scanner has no source address or route of this
    /// family toward the target (EADDRNOTAVAIL, ENETUNREACH at `connect`).
    NoSourceAddress,
    /// Unresolved: the kernel refuses the address itself (EINVAL: a
    /// link-local address without a zone, for example).
    InvalidAddress,
    /// Unresolved: another local error (ENOBUFS, ENOMEM, no free local
    /// port...) on every try.
    LocalError,
    /// Unresolved: the host's answers came only on the last retransmission
    /// allowed, so silence on this port proves nothing (a SYN rate limit).
    RateLimited,
    /// UDP: a datagram came back from the port.
    UdpResponse,
}

impl Reason {
    /// Kebab-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::ConnRefused => "conn-refused",
            Reason::NoResponse => "no-response",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::PortUnreach => "port-unreach",
            Reason::FdLimit => "fd-limit",
            Reason::NoSourceAddress => "no-source-address",
            Reason::InvalidAddress => "invalid-address",
            Reason::LocalError => "local-error",
            Reason::RateLimited => "rate-limited",
            Reason::UdpResponse => "udp-response",
        }
    }
}

/// Everything learned about one (address, port).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct PortResult {
    /// The address that was connected to.
    #[schemars(schema_with = "ip_schema")]
    pub ip: IpAddr,
    /// The name the user gave, when the address came from a hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port number.
    pub port: u16,
    /// Transport: `tcp` (a connect sweep) or `udp` (a datagram probe).
    #[serde(default)]
    pub proto: Proto,
    /// Connect-level state.
    pub state: PortState,
    /// Why the state was chosen.
    pub reason: Reason,
    /// Round-trip time of the answering try, in milliseconds (none on timeout).
    pub rtt_ms: Option<f64>,
    /// How many connect attempts (TCP: SYNs) or probe rounds (UDP) were made.
    pub tries: u8,
    /// UDP: the bytes and datagrams exchanged, and what they say of
    /// amplification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpExchange>,
    /// What answers on an open port, when fingerprinting ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// The verdict on an open port, when the verdict ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
}

impl PortResult {
    /// A bare open result for `ip:port` (syn-ack, one try, nothing
    /// identified yet).
    pub fn open(ip: IpAddr, port: u16) -> PortResult {
        PortResult {
            ip,
            host: None,
            port,
            proto: Proto::Tcp,
            state: PortState::Open,
            reason: Reason::SynAck,
            rtt_ms: None,
            tries: 1,
            udp: None,
            service: None,
            finding: None,
        }
    }

    /// Sets a note on the port's service (an [`UNKNOWN_SERVICE`] one when
    /// nothing was identified).
    pub fn set_note(&mut self, note: ServiceNote) {
        let svc = self.service.get_or_insert_with(Service::default);
        if svc.name.is_empty() {
            svc.name = UNKNOWN_SERVICE.into();
        }
        svc.note = Some(note);
    }

    /// The result with a note set (see [`PortResult::set_note`]).
    pub fn with_note(mut self, note: ServiceNote) -> PortResult {
        self.set_note(note);
        self
    }
}

#[cfg(test)]
impl PortResult {
    /// An open port on 198.18.0.2 with nothing identified (for tests).
    pub(crate) fn test_open(port: u16) -> PortResult {
        PortResult::open("198.18.0.2".parse().expect("valid address"), port)
    }
}

/// Transport protocol.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// What one UDP port's probes sent and received: the evidence of
/// amplification (a reflector's reply larger than the request).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct UdpExchange {
    /// Datagrams sent (every probe and retry).
    pub sent_datagrams: u32,
    /// Payload bytes sent.
    pub sent_bytes: u64,
    /// Datagrams received from the port.
    pub received_datagrams: u32,
    /// Payload bytes received from the port (counted even past the bytes
    /// kept for matching).
    pub received_bytes: u64,
    /// `received_bytes / sent_bytes` of the probe that answered most,
    /// rounded to one decimal (`amplification: ×N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amplification: Option<f64>,
    /// The probe behind `amplification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// The protocol's published worst case, e.g.
    /// `×10,000–51,000 (US-CERT TA14-017A)`, from its `services/` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
}

/// Whether a service lets a stranger in.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthState {
    /// The service answered a read-only request without credentials.
    None,
    /// The service asked for credentials.
    Required,
    /// The service refused this client outright (protected mode, host ACL, IP allow-list).
    Protected,
    /// Nothing said either way.
    #[default]
    Unknown,
}

impl AuthState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthState::None => "none",
            AuthState::Required => "required",
            AuthState::Protected => "protected",
            AuthState::Unknown => "unknown",
        }
    }
}

/// How the service name was obtained.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A probe's answer matched the service's rules.
    Probed,
    /// Only the port number suggests it.
    #[default]
    Guessed,
}

/// Facts about a TLS layer found on the port.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct TlsInfo {
    /// Negotiated protocol version, e.g. `TLSv1.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Negotiated ALPN protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// Leaf certificate subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Leaf certificate issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Subject alternative names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
    /// Certificate expiry, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Whether the certificate was self-signed (subject == issuer).
    #[serde(default)]
    pub self_signed: bool,
    /// Why the TLS layer could not be fully read, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What answers on an open port.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct Service {
    /// Service id from `services/` (`redis`, `mysql`, ...) or `unknown`.
    pub name: String,
    /// Product name, e.g. `MariaDB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Product version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The product as a CPE 2.3 formatted string
    /// (`cpe:2.3:a:redis:redis:7.2.4:*:*:*:*:*:*:*`; the version is `*` when
    /// unknown), from the `cpe` of the service's `services/` file; absent
    /// when no product was identified or the file names no CPE for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe: Option<String>,
    /// Extra facts (mode, plugin, cluster name...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// Whether it lets a stranger in.
    pub auth: AuthState,
    /// The response that decided `auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_evidence: Option<String>,
    /// TLS facts, when the port speaks TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// Probed or guessed from the port number.
    pub confidence: Confidence,
    /// A bounded, escaped excerpt of what the service said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// Connections opened or attempted to identify it (the scan's own
    /// connection included).
    #[serde(default)]
    pub connections: u32,
    /// Why identification stopped short, or what else is known of the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<ServiceNote>,
}

/// The service name of a port where nothing was identified.
pub const UNKNOWN_SERVICE: &str = "unknown";

impl Service {
    /// The identified service id, if any (not empty, not [`UNKNOWN_SERVICE`]).
    pub fn identified(&self) -> Option<&str> {
        Some(self.name.as_str()).filter(|n| !n.is_empty() && *n != UNKNOWN_SERVICE)
    }
}

/// Why identification stopped short, or what else is known of an open port.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceNote {
    /// The port's probe budget ran out before anything matched for sure.
    BudgetExhausted,
    /// The connection was accepted and closed at once, before any probe.
    Tcpwrapped,
    /// A TLS layer was found but could not be read in full.
    TlsError,
    /// A printer port, left unprobed (a probe would print).
    PrinterPortNotProbed,
    /// The port accepted the connection and never said anything.
    NoResponse,
    /// The host accepts every port and this one answered like its canary ports.
    HostAnswersEveryPort,
    /// The scan was interrupted before identification finished.
    Interrupted,
    /// The port was open in the sweep but refused the fingerprint's reconnect.
    ReconnectFailed,
    /// Identification failed inside exposecheck (a bug; the port is still reported).
    InternalError,
}

impl ServiceNote {
    /// Kebab-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceNote::BudgetExhausted => "budget-exhausted",
            ServiceNote::Tcpwrapped => "tcpwrapped",
            ServiceNote::TlsError => "tls-error",
            ServiceNote::PrinterPortNotProbed => "printer-port-not-probed",
            ServiceNote::NoResponse => "no-response",
            ServiceNote::HostAnswersEveryPort => "host-answers-every-port",
            ServiceNote::Interrupted => "interrupted",
            ServiceNote::ReconnectFailed => "reconnect-failed",
            ServiceNote::InternalError => "internal-error",
        }
    }
}

/// Severity of a finding, worst last so that `Ord` sorts by badness.
#[derive(
    Serialize,
    Deserialize,
    JsonSchema,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Debug,
    Hash,
    PartialOrd,
    Ord,
    Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// An expected public service.
    #[default]
    Info,
    /// An open port nobody expected and nothing identified.
    Low,
    /// Development servers and admin UIs on public ports.
    Medium,
    /// A database or cache reachable but refusing.
    High,
    /// Full access for anyone who can connect.
    Critical,
}

impl Severity {
    /// Every severity, least bad first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a lower-case name.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A firewall family whose commands a fix is written in (`--firewall`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum FirewallTool {
    /// iptables and ip6tables.
    #[default]
    Iptables,
    /// nftables (`inet` family: both at once).
    Nftables,
    /// ufw.
    Ufw,
}

impl FirewallTool {
    /// Every family.
    pub const ALL: [FirewallTool; 3] = [
        FirewallTool::Iptables,
        FirewallTool::Nftables,
        FirewallTool::Ufw,
    ];

    /// Lower-case name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            FirewallTool::Iptables => "iptables",
            FirewallTool::Nftables => "nftables",
            FirewallTool::Ufw => "ufw",
        }
    }
}

impl Remediation {
    /// The commands of one firewall family.
    pub fn commands(&self, family: FirewallTool) -> &[String] {
        match family {
            FirewallTool::Iptables => &self.iptables,
            FirewallTool::Nftables => &self.nftables,
            FirewallTool::Ufw => &self.ufw,
        }
    }
}

/// The `--fail-on` threshold; written as its name (`high`, `none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// Never fail on findings.
    Never,
    /// Fail on findings at or above this severity.
    At(Severity),
}

impl FailOn {
    /// Parses `critical|high|medium|low|info|none`.
    pub fn parse(s: &str) -> Option<FailOn> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "none" | "never" => FailOn::Never,
            other => FailOn::At(Severity::parse(other)?),
        })
    }

    /// Text form.
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Never => "none",
            FailOn::At(s) => s.as_str(),
        }
    }

    /// Whether a finding of `s` fails the run.
    pub fn fails(self, s: Severity) -> bool {
        matches!(self, FailOn::At(t) if s >= t)
    }
}

impl Default for FailOn {
    fn default() -> FailOn {
        FailOn::At(Severity::High)
    }
}

impl serde::Serialize for FailOn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailOn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FailOn, D::Error> {
        let s = String::deserialize(d)?;
        FailOn::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid fail_on '{s}'")))
    }
}

impl JsonSchema for FailOn {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FailOn".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut names = vec!["none"];
        names.extend(Severity::ALL.iter().map(|s| s.as_str()));
        schemars::json_schema!({
            "description": "The --fail-on threshold: findings at or above it fail the run (none never does).",
            "type": "string",
            "enum": names,
        })
    }
}

/// How to close an exposure.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct Remediation {
    /// The service's own configuration change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
    /// iptables / ip6tables commands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iptables: Vec<String>,
    /// nftables commands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nftables: Vec<String>,
    /// ufw commands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ufw: Vec<String>,
    /// The same port published by Docker (`-p`), which skips INPUT: the
    /// `DOCKER-USER` rules and the loopback-only `-p` form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docker: Vec<String>,
    /// Caveats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The verdict on one exposure.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct Finding {
    /// Stable rule id, e.g. `redis-unauthenticated`.
    pub rule: String,
    /// How bad it is.
    pub severity: Severity,
    /// One-line title.
    pub title: String,
    /// What was observed.
    pub evidence: String,
    /// Stable dedup key derived from ip, port, service and rule only.
    pub fingerprint: String,
    /// How to close it.
    #[serde(default)]
    pub remediation: Remediation,
    /// What the policy file says of it, when a policy is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyStatus>,
    /// The policy entry's reason, when one matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_reason: Option<String>,
    /// The policy entry that matched (file and 1-based line), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_entry: Option<SourceLine>,
    /// Whether the baseline had it, when a baseline is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineStatus>,
}

impl Finding {
    /// Whether it counts toward the totals and the exit code: not expected by
    /// the policy, and (with `only_new`) not already in the baseline.
    pub fn counts(&self, only_new: bool) -> bool {
        self.policy != Some(PolicyStatus::Expected) && !(only_new && self.is_unchanged())
    }

    /// Whether the baseline already had it.
    pub fn is_unchanged(&self) -> bool {
        self.baseline == Some(BaselineStatus::Unchanged)
    }

    /// Whether the policy expects it.
    pub fn is_expected(&self) -> bool {
        self.policy == Some(PolicyStatus::Expected)
    }
}

/// What the policy file says of a finding.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PolicyStatus {
    /// No entry covers it.
    Unexpected,
    /// An entry covers it and has not expired.
    Expected,
    /// An entry covers it, but its `expires` date has passed.
    Expired,
    /// A policy entry whose host and port were scanned and found not open.
    Stale,
}

impl PolicyStatus {
    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyStatus::Unexpected => "unexpected",
            PolicyStatus::Expected => "expected",
            PolicyStatus::Expired => "expired",
            PolicyStatus::Stale => "stale",
        }
    }
}

/// Whether the baseline had a finding.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[serde(rename_all = "lowercase")]
pub enum BaselineStatus {
    /// Not in the baseline.
    New,
    /// In the baseline, by fingerprint.
    Unchanged,
}

impl BaselineStatus {
    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineStatus::New => "new",
            BaselineStatus::Unchanged => "unchanged",
        }
    }
}

/// A baseline finding that no longer appears (fields in name order, as
/// written since the first version).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
pub struct ResolvedFinding {
    /// Its fingerprint.
    pub fingerprint: String,
    /// The address it was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ip_schema")]
    pub ip: Option<IpAddr>,
    /// The port it was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Its rule id, as the baseline wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Its severity, as the baseline wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// A line in a file (used to point SARIF results at a policy entry).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
pub struct SourceLine {
    /// Path as given by the user.
    pub file: String,
    /// 1-based line.
    #[schemars(range(min = 1))]
    pub line: u32,
}

/// Coverage counts for a scan.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct Coverage {
    /// (address, port) pairs planned.
    pub planned: u64,
    /// Pairs whose connect was attempted and concluded.
    pub attempted: u64,
    /// Pairs found open.
    pub open: u64,
    /// Pairs found closed.
    pub closed: u64,
    /// Pairs found filtered.
    pub filtered: u64,
    /// Pairs planned but never concluded (interrupted, or local errors).
    pub unresolved: u64,
    /// Hostnames that did not resolve.
    pub unresolved_hosts: Vec<String>,
    /// Probes re-queued because of local resource errors (EMFILE, EADDRNOTAVAIL...).
    pub requeued: u64,
    /// Connect retries sent after timeouts (and UDP re-sends).
    pub retries: u64,
    /// UDP ports silent after every round (`open|filtered`).
    #[serde(default)]
    pub open_filtered: u64,
    /// Of those, the ports of hosts that answered other closed UDP ports
    /// with ICMP port unreachable: the target's ICMP rate limit may have held
    /// their answer back (a longer `--udp-wait` resolves more).
    #[serde(default)]
    pub udp_rate_limited: u64,
}

/// What the answers from closed and filtered ports say about a host's firewall.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Firewall {
    /// Closed ports answer RST: nothing filters by default.
    None,
    /// Unlisted ports are silently dropped: default-deny.
    Drop,
    /// Unlisted ports are rejected with ICMP errors: default-deny.
    Reject,
    /// Some ports answer RST, others are filtered.
    Mixed,
    /// Too few non-open ports were probed to tell.
    #[default]
    Unknown,
}

impl Firewall {
    /// Kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Firewall::None => "none",
            Firewall::Drop => "drop",
            Firewall::Reject => "reject",
            Firewall::Mixed => "mixed",
            Firewall::Unknown => "unknown",
        }
    }
}

/// The verdict on one host as a whole.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct HostVerdict {
    /// The address.
    #[schemars(schema_with = "ip_schema")]
    pub ip: IpAddr,
    /// The name it was reached through, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Open ports seen.
    pub open: u64,
    /// Closed ports seen.
    pub closed: u64,
    /// Filtered ports seen.
    pub filtered: u64,
    /// Of the filtered ports, those that answered with an ICMP error.
    #[serde(default)]
    pub rejected: u64,
    /// Inferred firewall posture.
    pub firewall: Firewall,
    /// Random high "canary" ports were open too: the host (or a middlebox)
    /// accepts every connection, so its open ports prove nothing.
    #[serde(default)]
    pub answers_every_port: bool,
}

/// A finding that belongs to a host (or to a policy entry) rather than to one
/// scanned port: dual-stack mismatches, stale policy entries, firewall posture.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct HostFinding {
    /// The address the finding is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ip_schema")]
    pub ip: Option<IpAddr>,
    /// The hostname, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The port, when the finding is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The finding itself.
    pub finding: Finding,
}

/// A host verdict or a host finding, handed out one at a time when a scan
/// ends so that a large range is never held as a list.
#[derive(Debug)]
pub enum HostRecord {
    /// A host's verdict.
    Verdict(HostVerdict),
    /// A finding about a host.
    Finding(Box<HostFinding>),
}

/// How a run ends, as its process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// Scan complete; no finding at or above `--fail-on`.
    Clean = 0,
    /// A finding at or above `--fail-on`.
    Findings = 1,
    /// Scan incomplete (unresolved ports or hosts, nothing scanned).
    Incomplete = 3,
    /// Interrupted by a signal; the output is still written.
    Interrupted = 130,
}

impl Exit {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// Findings per severity (expected ones excluded).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct FindingCounts {
    /// Critical findings.
    pub critical: u64,
    /// High findings.
    pub high: u64,
    /// Medium findings.
    pub medium: u64,
    /// Low findings.
    pub low: u64,
    /// Informational findings.
    pub info: u64,
}

impl FindingCounts {
    /// Counts one finding of `s`.
    pub fn add(&mut self, s: Severity) {
        match s {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
            Severity::Info => self.info += 1,
        }
    }
}

impl ResolvedFinding {
    /// Its rule, address and port as text, `-` where the baseline had none.
    pub fn parts(&self) -> [String; 3] {
        let dash = || "-".to_string();
        [
            self.rule.clone().unwrap_or_else(dash),
            self.ip.map_or_else(dash, |ip| ip.to_string()),
            self.port.map_or_else(dash, |p| p.to_string()),
        ]
    }
}

/// Open, closed, filtered and unresolved ports, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Open.
    pub open: u64,
    /// Closed.
    pub closed: u64,
    /// Filtered.
    pub filtered: u64,
    /// Unresolved.
    pub unresolved: u64,
    /// UDP ports silent after every round.
    pub open_filtered: u64,
}

impl StateCounts {
    /// Counts one port in `state`.
    pub fn add(&mut self, state: PortState) {
        match state {
            PortState::Open => self.open += 1,
            PortState::Closed => self.closed += 1,
            PortState::Filtered => self.filtered += 1,
            PortState::Unresolved => self.unresolved += 1,
            PortState::OpenFiltered => self.open_filtered += 1,
        }
    }

    /// Every port counted.
    pub fn total(&self) -> u64 {
        self.open + self.closed + self.filtered + self.unresolved + self.open_filtered
    }
}

impl Coverage {
    /// Adds ports concluded as `states` (each counted as attempted).
    pub fn add_states(&mut self, states: &StateCounts) {
        self.attempted += states.total();
        self.open += states.open;
        self.closed += states.closed;
        self.filtered += states.filtered;
        self.unresolved += states.unresolved;
        self.open_filtered += states.open_filtered;
    }

    /// Adds another scan's coverage (the shards of one scan, in `merge`).
    pub fn add(&mut self, other: &Coverage) {
        self.planned += other.planned;
        self.attempted += other.attempted;
        self.open += other.open;
        self.closed += other.closed;
        self.filtered += other.filtered;
        self.unresolved += other.unresolved;
        self.requeued += other.requeued;
        self.retries += other.retries;
        self.open_filtered += other.open_filtered;
        self.udp_rate_limited += other.udp_rate_limited;
        self.unresolved_hosts
            .extend(other.unresolved_hosts.iter().cloned());
    }
}

/// The schema of an address field: an IPv4 or IPv6 address in text.
fn ip_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "An IPv4 or IPv6 address.",
        "type": "string",
        "anyOf": [{ "format": "ipv4" }, { "format": "ipv6" }]
    })
}

/// What `--check-ssh-rate` concluded about a host's SSH connection-rate
/// limiting, seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SshRateLimit {
    /// A netfilter rule (`recent`, `hashlimit`, ufw `limit`): the first
    /// connects got a banner, then a SYN went unanswered (or was refused).
    Netfilter,
    /// sshd itself (`MaxStartups`, `PerSourcePenalties`): a connect was
    /// accepted and then closed without a banner, or with the
    /// `Exceeded MaxStartups` text.
    Sshd,
    /// Every connect of the budget got a banner.
    None,
    /// Nothing could be concluded (the first connect already failed).
    Inconclusive,
}

/// One host's `--check-ssh-rate` measurement (a fact the verdict turns into
/// a host finding).
#[derive(Clone, Debug, PartialEq)]
pub struct SshRateCheck {
    /// The SSH port checked.
    pub port: u16,
    /// What was concluded.
    pub limit: SshRateLimit,
    /// Connects made (at most 10, the lift check included).
    pub connects: u8,
    /// Connects that read a banner before the first refused one.
    pub answered: u8,
    /// What the refused connect showed ("no SYN-ACK within 800 ms").
    pub refusal: String,
    /// Seconds waited (`--ssh-rate-wait`) before one more connect, and
    /// whether that connect got a banner again (the block lifted).
    pub lift: Option<(u64, bool)>,
}
