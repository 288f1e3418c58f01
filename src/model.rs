//! The one result type that flows scan → fingerprint → verdict → output.
//!
//! The engine fills in [`PortResult`]'s connect-level fields, the fingerprinter
//! adds [`Service`], the verdict adds [`Finding`], and every output format
//! renders the same value. Nothing here does I/O.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Version tag written into every machine-readable document.
pub const SCHEMA: &str = "exposecheck/1";

/// What a TCP connect attempt established about a port.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// The three-way handshake completed.
    Open,
    /// The host answered with a RST.
    Closed,
    /// Nothing, or an ICMP error, came back.
    Filtered,
    /// The scanner could not learn the state: a local error that did not
    /// clear, or a host whose answers stopped at a rate the retries could not
    /// get under. Never a claim about the port; the run is incomplete.
    Unresolved,
}

impl PortState {
    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::Unresolved => "unresolved",
        }
    }
}

/// Why a port got its state (nmap's `--reason` vocabulary).
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Hash)]
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
        }
    }
}

/// Everything learned about one (address, port).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PortResult {
    /// The address that was connected to.
    pub ip: IpAddr,
    /// The name the user gave, when the address came from a hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// TCP port.
    pub port: u16,
    /// Always `tcp` for now.
    pub proto: Proto,
    /// Connect-level state.
    pub state: PortState,
    /// Why the state was chosen.
    pub reason: Reason,
    /// Round-trip time of the answering try, in milliseconds (none on timeout).
    pub rtt_ms: Option<f64>,
    /// How many connect attempts were made.
    pub tries: u8,
    /// What answers on an open port, when fingerprinting ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// The verdict on an open port, when the verdict ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
}

#[cfg(test)]
impl PortResult {
    /// An open port on 198.18.0.2 with nothing identified (for tests).
    pub(crate) fn test_open(port: u16) -> PortResult {
        PortResult {
            ip: "198.18.0.2".parse().expect("valid address"),
            host: None,
            port,
            proto: Proto::Tcp,
            state: PortState::Open,
            reason: Reason::SynAck,
            rtt_ms: Some(0.2),
            tries: 1,
            service: None,
            finding: None,
        }
    }
}

/// Transport protocol.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    #[default]
    Tcp,
}

impl Proto {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        "tcp"
    }
}

/// Whether a service lets a stranger in.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
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
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A probe's answer matched the service's rules.
    Probed,
    /// Only the port number suggests it.
    #[default]
    Guessed,
}

/// Facts about a TLS layer found on the port.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
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
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Service {
    /// Service id from `services/` (`redis`, `mysql`, ...) or `unknown`.
    pub name: String,
    /// Product name, e.g. `MariaDB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Product version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
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
    /// Connections opened to identify it (the scan's own connection included).
    #[serde(default)]
    pub connections: u32,
    /// Why identification stopped short, when it did (`budget-exhausted`, `tcpwrapped`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Severity of a finding, worst last so that `Ord` sorts by badness.
#[derive(
    Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord, Default,
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
}

/// How to close an exposure.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
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
    /// Caveats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The verdict on one exposure.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
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
    /// Policy status: `unexpected`, `expected`, `expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The policy entry's reason, when one matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_reason: Option<String>,
    /// The policy entry that matched (file and 1-based line), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_entry: Option<SourceLine>,
    /// Baseline status: `new` or `unchanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
}

/// A line in a file (used to point SARIF results at a policy entry).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SourceLine {
    /// Path as given by the user.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// Coverage counts for a scan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
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
    /// Connect retries sent after timeouts.
    pub retries: u64,
}

/// What the answers from closed and filtered ports say about a host's firewall.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
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
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HostVerdict {
    /// The address.
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
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct HostFinding {
    /// The address the finding is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

/// Findings per severity (expected ones excluded).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
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
