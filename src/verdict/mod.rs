//! The verdict: the [`Judge`] takes every port result and host fact of a run
//! and decides. It turns what answered on a port into a finding of the
//! [`rules`] table ([`port`]), applies the policy file and the baseline,
//! judges hosts as a whole ([`hosts`]: firewall posture, every-port answerers,
//! IPv4/IPv6 parity, a default-deny host's Docker bypass), flags versions
//! past their release cycle's end of life, and at the end returns a
//! [`Decision`]: the counts, the resolved baseline findings and the exit
//! code.
//!
//! Everything here is a pure function of results, service facts and policy:
//! no I/O, so every rule is table-tested.

pub mod baseline;
pub mod hosts;
pub mod judge;
pub mod policy;
pub mod port;
pub mod remedy;
pub mod rules;
pub mod script;
pub mod tally;

use crate::catalog::format::{Category, Impact, UdpRisk};
use crate::model::{PortResult, Proto};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

pub use crate::catalog::format::Exposure;
pub use judge::{Context, Decision, Judge, RunEnd, Settings};

/// What the verdict needs to know about a catalogue service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceFacts {
    /// Service id (`redis`).
    pub id: String,
    /// Display name (`Redis`).
    pub name: String,
    /// Category (decides how bad an exposure is).
    pub category: Category,
    /// Exposure class.
    pub exposure: Exposure,
    /// What an attacker gets from it, beyond its category.
    pub impact: Option<Impact>,
    /// Configuration lines that close the exposure.
    pub config: Vec<String>,
    /// Caveats.
    pub notes: Vec<String>,
    /// Configuration lines that close its UDP side.
    pub udp_config: Vec<String>,
    /// What its UDP side lets a stranger do.
    pub udp_risk: Option<UdpRisk>,
    /// Release cycles and their end-of-life dates.
    pub eol: crate::catalog::eol::Lifecycle,
}

impl From<&crate::catalog::ServiceDef> for ServiceFacts {
    fn from(d: &crate::catalog::ServiceDef) -> ServiceFacts {
        ServiceFacts {
            id: d.id.clone(),
            name: d.name.clone(),
            category: d.category,
            exposure: d.exposure,
            impact: d.impact,
            config: d.remediation.config.clone(),
            notes: d.remediation.notes.clone(),
            udp_config: d.udp_config.clone(),
            udp_risk: d.udp_risk,
            eol: d.eol.clone(),
        }
    }
}

/// The fingerprint of a port's finding: a UDP port's is keyed `PORT/udp`,
/// so that a TCP and a UDP finding on the same port never merge.
pub fn port_finding_key(r: &PortResult, service: &str, rule: &str) -> String {
    match r.proto {
        Proto::Tcp => finding_key(r.ip, Some(r.port), service, rule),
        Proto::Udp => finding_key(r.ip, None, &format!("{}/udp|{service}", r.port), rule),
    }
}

/// A finding's fingerprint, its stable dedup key: ip, port, service and
/// rule only.
pub fn finding_key(ip: IpAddr, port: Option<u16>, service: &str, rule: &str) -> String {
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
