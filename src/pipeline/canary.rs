//! Canary ports: before the open ports of a host are fingerprinted and judged,
//! a few random unused high ports of that host are tried. A host (or a
//! middlebox in front of it) that accepts those accepts everything — a tarpit,
//! a SYN proxy, a port-forwarding load balancer — and its "open" ports prove
//! nothing by itself: it is reported once instead of raising a finding per
//! port. Such a host may still run real services behind the catch-all, so the
//! canary ports that accepted are fingerprinted too: their answer is the
//! reference a real service's answer must differ from.

use super::Identify;
use crate::model::{AuthState, Confidence, PortResult, Service, UNKNOWN_SERVICE};
use crate::ports::PortList;
use crate::scan::connect::{self, Attempt};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How many canary ports are tried per host.
pub const COUNT: usize = 3;

/// Deterministic canary ports for `ip`: high ports (50000-64999) not in the
/// scanned list when possible, derived from the scan seed.
pub fn ports_for(ip: IpAddr, seed: u64, scanned: &PortList) -> Vec<u16> {
    let digest = Sha256::digest(ip.to_string().as_bytes());
    let mut x = seed ^ u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    let mut out = Vec::with_capacity(COUNT);
    let mut tries = 0;
    while out.len() < COUNT {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let p = 50_000 + ((x >> 33) % 15_000) as u16;
        tries += 1;
        if out.contains(&p) || (scanned.contains(p) && tries < 64) {
            continue;
        }
        out.push(p);
    }
    out
}

/// What a service answered, as far as telling a real service from a
/// catch-all goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    name: String,
    product: Option<String>,
    auth: AuthState,
}

impl Identity {
    /// The identity of an identified port, if anything answered.
    pub fn of(service: Option<&Service>) -> Identity {
        Identity {
            name: service.map_or_else(|| UNKNOWN_SERVICE.into(), |s| s.name.clone()),
            product: service.and_then(|s| s.product.clone()),
            auth: service.map_or(AuthState::default(), |s| s.auth),
        }
    }
}

/// Whether a port of an every-port host answered as a real service: a probe
/// matched (not a guess from the port number) and the answer is not the one
/// the canary ports gave.
pub fn is_real_service(service: Option<&Service>, reference: &[Identity]) -> bool {
    service.is_some_and(|s| s.confidence == Confidence::Probed && s.identified().is_some())
        && !reference.contains(&Identity::of(service))
}

/// Tries the canary ports of `ip`: `None` when fewer than two accept (a
/// normal host), else the identities of the ports that accepted (at most
/// two are fingerprinted, with `identify` when given).
pub async fn check(
    ip: IpAddr,
    ports: Vec<u16>,
    timeout: Duration,
    identify: Option<Arc<dyn Identify>>,
) -> Option<Vec<Identity>> {
    let attempts = ports
        .into_iter()
        .map(|p| async move { (p, connect::attempt(SocketAddr::new(ip, p), timeout).await) });
    let mut open = Vec::new();
    for (port, a) in futures::future::join_all(attempts).await {
        if let Attempt::Open { stream, .. } = a {
            open.push((port, stream));
        }
    }
    if open.len() < 2 {
        open.into_iter().for_each(|(_, s)| connect::abort(s));
        return None;
    }
    let Some(id) = identify else {
        open.into_iter().for_each(|(_, s)| connect::abort(s));
        return Some(Vec::new());
    };
    let looks = open
        .into_iter()
        .take(2)
        .map(|(port, stream)| id.identify(stream, PortResult::open(ip, port)));
    let found = futures::future::join_all(looks).await;
    Some(
        found
            .iter()
            .map(|r| Identity::of(r.service.as_ref()))
            .collect(),
    )
}

/// Timeout for canary connects: four times the RTT the open port showed,
/// plus 200 ms, within 300 ms–2 s. A catch-all host answers in one RTT; a
/// host behind DROP never does, and its canary wait runs beside the sweep,
/// so a slow host's check must not outlast the sweep of its other ports.
pub fn timeout_for(rtt_ms: Option<f64>) -> Duration {
    let ms = rtt_ms.unwrap_or(100.0) * 4.0 + 200.0;
    Duration::from_millis(ms.clamp(300.0, 2000.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_ports_avoid_the_scanned_list_and_are_stable() {
        let ip: IpAddr = "198.18.0.2".parse().unwrap();
        let scanned = PortList::from_ports(50_000..60_000);
        let a = ports_for(ip, 7, &scanned);
        assert_eq!(a, ports_for(ip, 7, &scanned));
        assert_eq!(a.len(), COUNT);
        assert!(a.iter().all(|p| *p >= 60_000 && *p < 65_000));
        assert_ne!(a, ports_for("198.18.0.3".parse().unwrap(), 7, &scanned));
        assert_eq!(ports_for(ip, 1, &PortList::all()).len(), COUNT);
    }

    #[test]
    fn the_canary_wait_follows_the_rtt_within_bounds() {
        assert_eq!(timeout_for(Some(0.1)), Duration::from_millis(300));
        assert_eq!(timeout_for(Some(300.0)), Duration::from_millis(1400));
        assert_eq!(timeout_for(Some(900.0)), Duration::from_millis(2000));
        assert_eq!(timeout_for(None), Duration::from_millis(600));
    }

    #[tokio::test]
    async fn a_normal_host_is_not_an_every_port_host() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let ports = ports_for(ip, 99, &PortList::default());
        assert!(check(ip, ports, Duration::from_millis(500), None)
            .await
            .is_none());
    }
}
