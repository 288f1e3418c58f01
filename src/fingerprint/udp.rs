//! UDP identification: the catalogue's `proto = "udp"` probes as the
//! [`Prober`] of the UDP sweep (which datagrams a port gets first, which
//! probe a reply answers, the follow-ups a rule's `then` asks for), and the
//! replies a port kept judged into a [`Service`] by the same match rules as
//! TCP replies.
//!
//! `--dns-canary NAME` adds one datagram to DNS ports: a recursive query
//! (RD=1) for the user's own name. An answer with records proves the server
//! resolves names for strangers.

use crate::catalog::format::ReplyFrom;
use crate::catalog::matcher::{escape, Ident};
use crate::catalog::{Catalog, ProbeKey};
use crate::model::{AuthState, Confidence, PortResult, PortState, Proto, Service};
use crate::scan::udp::{Datagram, Prober, UdpHit};
use std::net::SocketAddr;
use std::sync::Arc;

use super::{with_host, BANNER_MAX, HOST};

/// The probe id of the `--dns-canary` query (no catalogue probe has it).
pub const CANARY: usize = usize::MAX;

/// The catalogue's UDP probes, and the optional DNS canary.
pub struct UdpIdentify {
    cat: Arc<Catalog>,
    canary: Option<(String, Arc<[u8]>)>,
}

impl UdpIdentify {
    /// Probes from `cat`; `canary` is the `--dns-canary` name, if given.
    pub fn new(cat: Arc<Catalog>, canary: Option<&str>) -> UdpIdentify {
        let canary = canary.map(|n| (n.to_owned(), Arc::from(dns_query(n).as_slice())));
        UdpIdentify { cat, canary }
    }

    fn datagram(&self, probe: usize) -> Datagram {
        Datagram {
            probe,
            bytes: Arc::from(self.cat.probes()[probe].payload.as_slice()),
        }
    }

    /// Whether `port` is one the DNS service's UDP probes are sent to.
    fn dns_port(&self, port: u16) -> bool {
        self.cat
            .service("dns")
            .is_some_and(|s| s.udp_ports.contains(&port))
    }

    /// The service that `hit`'s replies show, on its result.
    pub fn identify(&self, hit: UdpHit) -> PortResult {
        let UdpHit {
            mut result,
            replies,
        } = hit;
        if result.state != PortState::Open {
            return result;
        }
        let cat = &self.cat;
        let mut found: Option<(usize, Ident, &[u8])> = None;
        let mut soft: Option<(Ident, &[u8])> = None;
        let mut canary_answered = false;
        for r in &replies {
            if r.probe == CANARY {
                canary_answered |= dns_answered(&r.bytes);
                continue;
            }
            match &mut found {
                Some((si, id, _)) => {
                    if cat.probes()[r.probe].service == *si && cat.probes()[r.probe].follow_up {
                        cat.refine(*si, r.probe, &r.bytes, id);
                    }
                }
                None => {
                    let m = cat.match_reply(ProbeKey::Probe(r.probe), &r.bytes);
                    if let Some(h) = m.hard {
                        let si = cat
                            .services()
                            .iter()
                            .position(|s| s.id == h.service)
                            .unwrap_or(0);
                        found = Some((si, h, &r.bytes));
                    } else if soft.is_none() {
                        soft = m.soft.map(|s| (s, r.bytes.as_slice()));
                    }
                }
            }
        }
        let (ident, reply) = match (found, soft) {
            (Some((_, id, b)), _) => (Some(id), Some(b)),
            (None, Some((id, b))) => (Some(id), Some(b)),
            (None, None) => (None, replies.first().map(|r| r.bytes.as_slice())),
        };
        let mut svc = Service {
            confidence: Confidence::Probed,
            connections: 0,
            banner: reply
                .map(|b| escape(b, BANNER_MAX))
                .filter(|s| !s.is_empty()),
            ..Service::default()
        };
        match ident {
            Some(id) => super::apply_ident(cat, &mut svc, id),
            None => svc.name = crate::model::UNKNOWN_SERVICE.into(),
        }
        if canary_answered {
            if let Some((name, _)) = &self.canary {
                svc.auth = AuthState::None;
                svc.auth_evidence = Some(escape(
                    format!("resolved --dns-canary {name} for us (recursion for strangers)")
                        .as_bytes(),
                    BANNER_MAX,
                ));
            }
        }
        if let Some(x) = result.udp.as_mut() {
            let probe = x.probe.take().and_then(|p| p.parse::<usize>().ok());
            match probe {
                Some(CANARY) => x.probe = Some("dns-canary".into()),
                Some(p) if p < cat.probes().len() => {
                    x.probe = Some(cat.probes()[p].name.clone());
                    x.published.clone_from(&cat.probes()[p].amplification);
                }
                _ => {}
            }
        }
        result.service = Some(svc);
        result
    }
}

impl Prober for UdpIdentify {
    fn first(&self, port: u16) -> Vec<Datagram> {
        let mut out: Vec<Datagram> = self
            .cat
            .udp_probes_for(port)
            .into_iter()
            .map(|i| self.datagram(i))
            .collect();
        if let Some((_, q)) = self.canary.as_ref().filter(|_| self.dns_port(port)) {
            out.push(Datagram {
                probe: CANARY,
                bytes: q.clone(),
            });
        }
        out
    }

    fn first_to(&self, addr: SocketAddr) -> Vec<Datagram> {
        let host = addr.to_string();
        let mut out = self.first(addr.port());
        for d in &mut out {
            if d.bytes.windows(HOST.len()).any(|w| w == HOST) {
                d.bytes = Arc::from(with_host(&d.bytes, &host).as_slice());
            }
        }
        out
    }

    fn answer(&self, sent: &[Datagram], reply: &[u8]) -> (usize, Vec<Datagram>) {
        if sent.iter().any(|d| d.probe == CANARY) && reply.get(..2) == Some(&CANARY_ID[..]) {
            return (CANARY, Vec::new());
        }
        for d in sent.iter().filter(|d| d.probe != CANARY) {
            let m = self.cat.match_reply(ProbeKey::Probe(d.probe), reply);
            if m.hard.is_some() {
                let next = m.then.map(|t| self.datagram(t)).into_iter().collect();
                return (d.probe, next);
            }
            let p = &self.cat.probes()[d.probe];
            if p.follow_up && p.proto == Proto::Udp {
                let mut id = Ident::default();
                if let Some(t) = self.cat.refine(p.service, d.probe, reply, &mut id) {
                    return (d.probe, vec![self.datagram(t)]);
                }
                if id != Ident::default() {
                    return (d.probe, Vec::new());
                }
            }
        }
        (sent.first().map_or(0, |d| d.probe), Vec::new())
    }

    fn new_port(&self, d: &Datagram) -> bool {
        d.probe != CANARY && self.cat.probes()[d.probe].reply_from == ReplyFrom::NewPort
    }

    fn answers_from_new_port(&self, sent: &[Datagram], reply: &[u8]) -> bool {
        sent.iter().filter(|d| self.new_port(d)).any(|d| {
            self.cat
                .match_reply(ProbeKey::Probe(d.probe), reply)
                .hard
                .is_some()
        })
    }
}

/// Transaction id of the canary query.
const CANARY_ID: [u8; 2] = [0xec, 0x0c];

/// A recursive (RD=1) A query for `name` (RFC 1035 §4.1).
pub fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![
        CANARY_ID[0],
        CANARY_ID[1],
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let l = &label.as_bytes()[..label.len().min(63)];
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Whether a reply to the canary is a response with no error and at least
/// one answer record.
fn dns_answered(b: &[u8]) -> bool {
    b.len() >= 12
        && b[..2] == CANARY_ID
        && b[2] & 0x80 != 0
        && b[3] & 0x0f == 0
        && u16::from_be_bytes([b[6], b[7]]) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_placeholder_is_the_target() {
        assert_eq!(
            with_host(
                b"OPTIONS sip:p@{host} SIP/2.0 To: <sip:p@{host}>",
                "[fd00::2]:5060"
            ),
            b"OPTIONS sip:p@[fd00::2]:5060 SIP/2.0 To: <sip:p@[fd00::2]:5060>"
        );
    }

    #[test]
    fn canary_query_is_a_recursive_a_query() {
        let q = dns_query("probe.example.org.");
        assert_eq!(&q[2..4], &[0x01, 0x00]);
        assert_eq!(&q[12..], b"\x05probe\x07example\x03org\x00\x00\x01\x00\x01");
    }

    #[test]
    fn canary_answer_needs_records_and_no_error() {
        let mut r = vec![0xec, 0x0c, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        assert!(dns_answered(&r));
        r[3] = 0x85;
        assert!(!dns_answered(&r), "REFUSED");
        r[3] = 0x80;
        r[7] = 0;
        assert!(!dns_answered(&r), "no answer records");
    }
}
