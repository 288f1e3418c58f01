//! Canary ports: before the open ports of a host are fingerprinted and judged,
//! a few random unused high ports of that host are tried. A host (or a
//! middlebox in front of it) that accepts those accepts everything — a tarpit,
//! a SYN proxy, a port-forwarding load balancer — and its "open" ports prove
//! nothing: it is reported once instead of raising a finding per port.

use crate::ports::PortList;
use crate::scan::connect::{self, Attempt};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
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

/// True when at least two of the canary ports accept a connection.
pub async fn answers_every_port(ip: IpAddr, ports: Vec<u16>, timeout: Duration) -> bool {
    let attempts = ports
        .into_iter()
        .map(|p| connect::attempt(SocketAddr::new(ip, p), timeout));
    let mut open = 0;
    for a in futures::future::join_all(attempts).await {
        if let Attempt::Open { stream, .. } = a {
            connect::abort(stream);
            open += 1;
        }
    }
    open >= 2
}

/// Timeout for canary connects: generous next to the host's measured RTT.
pub fn timeout_for(rtt_ms: Option<f64>) -> Duration {
    let ms = rtt_ms.unwrap_or(100.0) * 10.0 + 200.0;
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

    #[tokio::test]
    async fn a_normal_host_is_not_an_every_port_host() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let ports = ports_for(ip, 99, &PortList::default());
        assert!(!answers_every_port(ip, ports, Duration::from_millis(500)).await);
    }
}
