//! The UDP sweep: one connected datagram socket per (address, port), so the
//! kernel hands the target's ICMP port-unreachable back as `ECONNREFUSED`
//! (no raw socket, no root), and only datagrams from that exact address and
//! port are ever read (a reply from another source port never reaches us).
//! A port that gets a probe answered from a new port (TFTP) has an
//! unconnected socket instead: a datagram from another port of the target
//! counts only if it is that probe's answer.
//!
//! What to send and what a reply asks for next is the caller's
//! ([`Prober`]: the fingerprinter's catalogue probes); this module only moves
//! datagrams, bounded in bytes, count and time, and states each port:
//! `open` (a datagram came back), `closed` (ICMP port unreachable),
//! `filtered` (another ICMP error: admin-prohibited and kin) or
//! `open|filtered` (silence after every round).
//!
//! Pacing follows the target's ICMP rate limit (Linux: a burst of about six
//! port-unreachables, then one a second per peer): every port's first
//! datagrams leave at once, silent ports are re-sent once a second (a
//! token's refill), and the host ends after [`UdpConfig::wait`]. Silent
//! ports of a host that did answer other closed ports with ICMP are counted
//! as left unresolved by that limit ([`HostEnd::rate_limited`]). A host that
//! has answered nothing at all on any port (no datagram, no ICMP error) by
//! [`QUIET_END`] after the first round ends there: the rate limit lets a
//! burst of errors through first, so its silence is a firewall's, and more
//! rounds would only wait it out.

use super::connect;
use crate::model::{PortResult, PortState, Proto, Reason, UdpExchange};
use crate::targets::TargetSet;
use futures::stream::{FuturesUnordered, StreamExt};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Largest datagram read (the rest of a longer one is cut by the kernel).
pub const DATAGRAM_MAX: usize = 65_535;

/// Bytes of replies kept per port for matching; more is counted, not kept.
pub const KEPT_MAX: usize = 16 * 1024;

/// Datagrams read per port at most; past it the socket is closed (a flood).
pub const DATAGRAMS_MAX: u32 = 512;

/// Bytes read per port at most; past it the socket is closed.
pub const BYTES_MAX: u64 = 4 * 1024 * 1024;

/// How long a port is still read after its last reply, for the rest of a
/// multi-datagram answer (counted as amplification).
pub const LINGER: Duration = Duration::from_millis(300);

/// Time between rounds: the refill of one ICMP token at the target.
pub const ROUND: Duration = Duration::from_millis(1000);

/// When a host that has answered nothing on any port ends: the second
/// round's answers (if the first datagrams were lost) have had this long.
pub const QUIET_END: Duration = Duration::from_millis(1400);

/// One datagram to send: which probe it is, and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The probe's id for the [`Prober`] (a catalogue probe index).
    pub probe: usize,
    /// Payload.
    pub bytes: Arc<[u8]>,
}

/// A reply read from a port, kept for identification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The probe the [`Prober`] says it answers.
    pub probe: usize,
    /// The datagram (cut at what [`KEPT_MAX`] leaves).
    pub bytes: Vec<u8>,
}

/// What to send to a port, and what a reply asks for next.
pub trait Prober: Send + Sync {
    /// The datagrams sent first (and again each round while silent).
    fn first(&self, port: u16) -> Vec<Datagram>;
    /// The first datagrams for `addr` (what [`Prober::first`] gives, unless
    /// a payload names the target).
    fn first_to(&self, addr: SocketAddr) -> Vec<Datagram> {
        self.first(addr.port())
    }
    /// Which of `sent` a reply answers, and the follow-ups it asks for.
    fn answer(&self, sent: &[Datagram], reply: &[u8]) -> (usize, Vec<Datagram>);
    /// Whether `d`'s reply comes from a port the server picks (TFTP), so
    /// the port's socket must read other source ports of the target.
    fn new_port(&self, _d: &Datagram) -> bool {
        false
    }
    /// Whether `reply`, from another port of the target, is the answer to
    /// one of `sent` whose reply comes from a new port (its rules match).
    fn answers_from_new_port(&self, _sent: &[Datagram], _reply: &[u8]) -> bool {
        false
    }
}

/// How the UDP sweep runs.
#[derive(Clone, Debug)]
pub struct UdpConfig {
    /// Ports probed on every address.
    pub ports: Arc<Vec<u16>>,
    /// How long a host's silent ports are waited for, from its first
    /// datagram (rounds are [`ROUND`] apart within it).
    pub wait: Duration,
    /// Rounds after the first (re-sends to silent ports).
    pub retries: u8,
    /// Sockets open at once across hosts.
    pub sockets: usize,
    /// Which hosts are this shard's: `(index, count)`.
    pub shard: (u32, u32),
}

/// One concluded UDP port and the replies to identify it by.
#[derive(Debug)]
pub struct UdpHit {
    /// The result (`proto: udp`, `udp` filled on open ports).
    pub result: PortResult,
    /// The replies kept, in arrival order.
    pub replies: Vec<Reply>,
}

/// What one host's UDP sweep ended with.
#[derive(Debug, Default)]
pub struct HostEnd {
    /// Its ports.
    pub hits: Vec<UdpHit>,
    /// Silent ports of a host that answered other closed ports with ICMP
    /// port unreachable: the target's ICMP rate limit may have held their
    /// answer back, so `open|filtered` is all that can be said.
    pub rate_limited: u64,
}

/// Counts of a whole UDP sweep.
#[derive(Debug, Default, Clone, Copy)]
pub struct UdpStats {
    /// Pairs planned.
    pub planned: u64,
    /// Pairs concluded.
    pub concluded: u64,
    /// Re-sends to silent ports.
    pub retries: u64,
    /// See [`HostEnd::rate_limited`].
    pub rate_limited: u64,
    /// Cancelled before the end.
    pub interrupted: bool,
}

/// Whether `ip` is this shard's (hosts are split by a hash of the address,
/// so every shard agrees without talking).
fn in_shard(ip: IpAddr, (index, count): (u32, u32)) -> bool {
    if count <= 1 {
        return true;
    }
    let key = match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let mixed = (key ^ (key >> 61)).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    (mixed >> 64) as u64 % u64::from(count) == u64::from(index)
}

/// Sweeps every address of `targets` on `cfg.ports`, sending each host's
/// results down `tx` when the host ends.
pub async fn sweep(
    targets: Arc<TargetSet>,
    cfg: UdpConfig,
    prober: Arc<dyn Prober>,
    tx: mpsc::Sender<HostEnd>,
    cancel: watch::Receiver<bool>,
) -> UdpStats {
    let mut stats = UdpStats::default();
    if cfg.ports.is_empty() {
        return stats;
    }
    let hosts_at_once = (cfg.sockets / cfg.ports.len()).clamp(1, 4096);
    let mut hosts = targets.iter().filter(|ip| in_shard(*ip, cfg.shard));
    let mut running = FuturesUnordered::new();
    let mut cancel_rx = cancel.clone();
    loop {
        if *cancel.borrow() {
            stats.interrupted = true;
            break;
        }
        while running.len() < hosts_at_once {
            let Some(ip) = hosts.next() else { break };
            stats.planned += cfg.ports.len() as u64;
            let name = targets.name(&ip).map(str::to_owned);
            running.push(host(ip, name, cfg.clone(), prober.clone()));
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            _ = cancel_rx.changed() => {}
            Some((end, retries)) = running.next() => {
                let end: HostEnd = end;
                stats.concluded += end.hits.len() as u64;
                stats.retries += retries;
                stats.rate_limited += end.rate_limited;
                if tx.send(end).await.is_err() {
                    stats.interrupted = true;
                    break;
                }
            }
        }
    }
    stats
}

/// A port's socket, with `IP_RECVERR` set (so ICMP errors are read even
/// unconnected). Connected, the kernel reads only the probed address and
/// port; unconnected (a probe whose reply comes from a new port), every
/// datagram from the target's address is read and the exchange judges the
/// ones from other ports.
enum Link {
    Connected(UdpSocket),
    Unconnected(UdpSocket, SocketAddr),
}

impl Link {
    fn new(addr: SocketAddr, connected: bool) -> io::Result<Link> {
        let sock = connect::recverr_socket(&addr, socket2::Type::DGRAM, socket2::Protocol::UDP)?;
        if connected {
            sock.connect(&addr.into())?;
        }
        let std: std::net::UdpSocket = sock.into();
        let sock = UdpSocket::from_std(std)?;
        Ok(if connected {
            Link::Connected(sock)
        } else {
            Link::Unconnected(sock, addr)
        })
    }

    fn sock(&self) -> &UdpSocket {
        match self {
            Link::Connected(s) | Link::Unconnected(s, _) => s,
        }
    }

    async fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Link::Connected(s) => s.send(bytes).await,
            Link::Unconnected(s, to) => s.send_to(bytes, *to).await,
        }
    }

    /// The next datagram from the target, and whether it came from the
    /// probed port (datagrams from other addresses are dropped here). `buf`
    /// gets its [`DATAGRAM_MAX`] bytes only once the socket is readable, so a
    /// silent port (most of a firewalled /24) holds no buffer.
    async fn recv(&self, buf: &mut Vec<u8>) -> io::Result<(usize, bool)> {
        loop {
            self.sock().readable().await?;
            if buf.is_empty() {
                buf.resize(DATAGRAM_MAX, 0);
            }
            let got = match self {
                Link::Connected(s) => s.try_recv(buf).map(|n| (n, true)),
                Link::Unconnected(s, to) => match s.try_recv_from(buf) {
                    Ok((n, from)) if from.ip() == to.ip() => Ok((n, from.port() == to.port())),
                    Ok(_) => continue,
                    Err(e) => Err(e),
                },
            };
            match got {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }
}

/// One port's exchange so far.
#[derive(Default)]
struct Port {
    exchange: UdpExchange,
    replies: Vec<Reply>,
    kept: usize,
    sent: Vec<Datagram>,
    /// Bytes sent and received per probe, for the amplification factor.
    per_probe: Vec<(usize, u64, u64)>,
    rounds: u8,
}

impl Port {
    fn note_sent(&mut self, d: &Datagram) {
        self.exchange.sent_datagrams += 1;
        self.exchange.sent_bytes += d.bytes.len() as u64;
        match self.per_probe.iter_mut().find(|(p, _, _)| *p == d.probe) {
            Some(e) => e.1 += d.bytes.len() as u64,
            None => self.per_probe.push((d.probe, d.bytes.len() as u64, 0)),
        }
    }

    fn note_received(&mut self, probe: usize, bytes: &[u8]) {
        self.exchange.received_datagrams += 1;
        self.exchange.received_bytes += bytes.len() as u64;
        if let Some(e) = self.per_probe.iter_mut().find(|(p, _, _)| *p == probe) {
            e.2 += bytes.len() as u64;
        }
        let room = KEPT_MAX.saturating_sub(self.kept);
        if room > 0 {
            let keep = &bytes[..bytes.len().min(room)];
            self.kept += keep.len();
            self.replies.push(Reply {
                probe,
                bytes: keep.to_vec(),
            });
        }
    }

    /// The probe whose replies were largest for its bytes sent.
    fn amplification(&mut self) {
        let best = self
            .per_probe
            .iter()
            .filter(|(_, sent, got)| *sent > 0 && *got > 0)
            .map(|&(p, sent, got)| (p, got as f64 / sent as f64))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((p, f)) = best {
            self.exchange.amplification = Some((f * 10.0).round() / 10.0);
            self.exchange.probe = Some(p.to_string());
        }
    }
}

/// How one port ended.
enum End {
    Answered,
    Icmp(Reason),
    Silent,
    Local,
}

/// Sends `ds` on `link`, noting each; how the port ended on an error.
async fn send_all(link: &Link, port: &mut Port, ds: &[Datagram]) -> Result<(), End> {
    for d in ds {
        match link.send(&d.bytes).await {
            Ok(_) => port.note_sent(d),
            Err(e) => return Err(icmp_or_local(link.sock(), e)),
        }
    }
    Ok(())
}

/// An error on a connected UDP socket: the ICMP answer it stands for, or a
/// local failure.
fn icmp_or_local(sock: &UdpSocket, e: io::Error) -> End {
    if connect::is_local_error(&e) {
        return End::Local;
    }
    let reason = connect::read_icmp_error(sock.as_raw_fd()).or(match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Some(Reason::PortUnreach),
        Some(libc::EHOSTUNREACH | libc::EHOSTDOWN) => Some(Reason::HostUnreach),
        Some(libc::ENETUNREACH | libc::ENETDOWN) => Some(Reason::NetUnreach),
        Some(libc::EACCES | libc::EPERM) => Some(Reason::AdminProhibited),
        _ => None,
    });
    reason.map_or(End::Local, End::Icmp)
}

/// Runs one port: first datagrams, a re-send each round while silent, then
/// reads until [`LINGER`] after the last reply (within `deadline`).
///
/// `heard` is shared by the host's ports: set when any of them got a
/// datagram or an ICMP error; while it is unset, every port ends at
/// [`QUIET_END`].
async fn port_exchange(
    link: &Link,
    first: Vec<Datagram>,
    prober: &dyn Prober,
    (start, heard): (Instant, &AtomicBool),
    cfg: &UdpConfig,
) -> (Port, End, Option<Duration>) {
    let mut port = Port::default();
    let deadline = start + cfg.wait;
    let quiet_end = (start + QUIET_END).min(deadline);
    let mut buf = Vec::new();
    let mut rtt = None;
    let mut end = End::Silent;
    let mut next_round = start;
    let mut linger_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if linger_until.is_none() && now >= next_round && port.rounds <= cfg.retries {
            if let Err(e) = send_all(link, &mut port, &first).await {
                if matches!(e, End::Icmp(_)) {
                    heard.store(true, Ordering::Relaxed);
                }
                return (port, e, rtt);
            }
            if port.rounds == 0 {
                port.sent.extend(first.iter().cloned());
            }
            port.rounds += 1;
            next_round = start + ROUND * u32::from(port.rounds);
        }
        let silent_host = !heard.load(Ordering::Relaxed);
        let end_at = if silent_host { quiet_end } else { deadline };
        let wake = match linger_until {
            Some(t) => t.min(deadline + LINGER),
            None if port.rounds <= cfg.retries => next_round.min(end_at),
            None => end_at,
        };
        if linger_until.is_none() && Instant::now() >= end_at {
            break;
        }
        match tokio::time::timeout_at(wake, link.recv(&mut buf)).await {
            Err(_) if linger_until.is_some() => break,
            Err(_) => continue,
            Ok(Err(e)) => {
                if linger_until.is_none() {
                    end = icmp_or_local(link.sock(), e);
                    if matches!(end, End::Icmp(_)) {
                        heard.store(true, Ordering::Relaxed);
                    }
                    rtt = Some(start.elapsed());
                    break;
                }
                continue;
            }
            Ok(Ok((n, same_port))) => {
                let reply = &buf[..n];
                if !same_port && !prober.answers_from_new_port(&port.sent, reply) {
                    continue;
                }
                rtt.get_or_insert_with(|| start.elapsed());
                heard.store(true, Ordering::Relaxed);
                let (probe, more) = prober.answer(&port.sent, reply);
                port.note_received(probe, reply);
                end = End::Answered;
                linger_until = Some(Instant::now() + LINGER);
                if port.exchange.received_datagrams >= DATAGRAMS_MAX
                    || port.exchange.received_bytes >= BYTES_MAX
                {
                    break;
                }
                let fresh: Vec<Datagram> = more
                    .into_iter()
                    .filter(|d| !port.sent.iter().any(|s| s.probe == d.probe))
                    .collect();
                if !fresh.is_empty() {
                    if send_all(link, &mut port, &fresh).await.is_err() {
                        break;
                    }
                    port.sent.extend(fresh);
                }
            }
        }
    }
    (port, end, rtt)
}

/// One host: every port at once, each on its own socket.
async fn host(
    ip: IpAddr,
    name: Option<String>,
    cfg: UdpConfig,
    prober: Arc<dyn Prober>,
) -> (HostEnd, u64) {
    let start = Instant::now();
    let heard = AtomicBool::new(false);
    let runs = cfg.ports.iter().map(|&p| {
        let prober = prober.clone();
        let cfg = &cfg;
        let heard = &heard;
        async move {
            let first = prober.first_to(SocketAddr::new(ip, p));
            let connected = !first.iter().any(|d| prober.new_port(d));
            match Link::new(SocketAddr::new(ip, p), connected) {
                Ok(link) => {
                    let (port, end, rtt) =
                        port_exchange(&link, first, prober.as_ref(), (start, heard), cfg).await;
                    (p, port, end, rtt)
                }
                Err(_) => (p, Port::default(), End::Local, None),
            }
        }
    });
    let ports: Vec<_> = futures::future::join_all(runs).await;
    let icmp_closed = ports
        .iter()
        .any(|(_, _, e, _)| matches!(e, End::Icmp(Reason::PortUnreach)));
    let mut out = HostEnd::default();
    let mut retries = 0;
    for (p, mut port, end, rtt) in ports {
        retries += u64::from(port.rounds.saturating_sub(1));
        let (state, reason) = match end {
            End::Answered => (PortState::Open, Reason::UdpResponse),
            End::Icmp(Reason::PortUnreach) => (PortState::Closed, Reason::PortUnreach),
            End::Icmp(r) => (PortState::Filtered, r),
            End::Silent => {
                if icmp_closed {
                    out.rate_limited += 1;
                }
                (PortState::OpenFiltered, Reason::NoResponse)
            }
            End::Local => (PortState::Unresolved, Reason::LocalError),
        };
        port.amplification();
        let udp = (state == PortState::Open).then(|| port.exchange.clone());
        let mut result = PortResult::open(ip, p);
        result.host = name.clone();
        result.proto = Proto::Udp;
        result.state = state;
        result.reason = reason;
        result.rtt_ms = rtt
            .filter(|_| state != PortState::OpenFiltered)
            .map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
        result.tries = port.rounds.max(1);
        result.udp = udp;
        out.hits.push(UdpHit {
            result,
            replies: port.replies,
        });
    }
    (out, retries)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Prober for Echo {
        fn first(&self, _: u16) -> Vec<Datagram> {
            vec![Datagram {
                probe: 7,
                bytes: Arc::from(&b"ping"[..]),
            }]
        }
        fn answer(&self, sent: &[Datagram], _: &[u8]) -> (usize, Vec<Datagram>) {
            (sent[0].probe, Vec::new())
        }
    }

    fn cfg(ports: Vec<u16>) -> UdpConfig {
        UdpConfig {
            ports: Arc::new(ports),
            wait: Duration::from_millis(1200),
            retries: 1,
            sockets: 64,
            shard: (0, 1),
        }
    }

    #[tokio::test]
    async fn loopback_open_closed_and_amplification() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let open = server.local_addr().unwrap().port();
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 64];
            let (_, from) = server.recv_from(&mut b).unwrap();
            for _ in 0..3 {
                server.send_to(&[b'x'; 100], from).unwrap();
            }
        });
        let (end, _) = host(
            "127.0.0.1".parse().unwrap(),
            None,
            cfg(vec![open, closed_port]),
            Arc::new(Echo),
        )
        .await;
        t.join().unwrap();
        let o = &end.hits[0];
        assert_eq!(o.result.state, PortState::Open);
        assert_eq!(o.result.reason, Reason::UdpResponse);
        let x = o.result.udp.as_ref().unwrap();
        assert_eq!((x.received_datagrams, x.received_bytes), (3, 300));
        assert_eq!(x.amplification, Some(75.0));
        assert_eq!(o.replies.len(), 3);
        let c = &end.hits[1];
        assert_eq!(
            (c.result.state, c.result.reason),
            (PortState::Closed, Reason::PortUnreach)
        );
        assert_eq!(c.result.proto, Proto::Udp);
    }

    #[tokio::test]
    async fn a_silent_port_is_open_filtered_after_its_rounds() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let t0 = std::time::Instant::now();
        let (end, retries) = host(
            "127.0.0.1".parse().unwrap(),
            None,
            cfg(vec![port]),
            Arc::new(Echo),
        )
        .await;
        let r = &end.hits[0].result;
        assert_eq!(
            (r.state, r.reason, r.tries),
            (PortState::OpenFiltered, Reason::NoResponse, 2)
        );
        assert_eq!(retries, 1);
        assert!(t0.elapsed() < Duration::from_millis(2500));
        let mut b = [0u8; 16];
        server.set_nonblocking(true).unwrap();
        let mut got = 0;
        while server.recv_from(&mut b).is_ok() {
            got += 1;
        }
        assert_eq!(got, 2, "one datagram a round");
    }

    /// Like [`Echo`], but its probe is answered from a new port, and only a
    /// reply starting `ok` is its answer.
    struct NewPort;
    impl Prober for NewPort {
        fn first(&self, p: u16) -> Vec<Datagram> {
            Echo.first(p)
        }
        fn answer(&self, sent: &[Datagram], r: &[u8]) -> (usize, Vec<Datagram>) {
            Echo.answer(sent, r)
        }
        fn new_port(&self, _: &Datagram) -> bool {
            true
        }
        fn answers_from_new_port(&self, _: &[Datagram], r: &[u8]) -> bool {
            r.starts_with(b"ok")
        }
    }

    /// A server that answers its first datagram from another socket with
    /// `reply` (as a TFTP server does), then the port's result.
    async fn answered_from_new_port(prober: Arc<dyn Prober>, reply: &'static [u8]) -> PortResult {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 64];
            let (_, from) = server.recv_from(&mut b).unwrap();
            let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            other.send_to(reply, from).unwrap();
            server
        });
        let (end, _) = host("127.0.0.1".parse().unwrap(), None, cfg(vec![port]), prober).await;
        drop(t.join().unwrap());
        end.hits.into_iter().next().unwrap().result
    }

    #[tokio::test]
    async fn a_new_port_reply_counts_only_as_its_probes_answer() {
        let r = answered_from_new_port(Arc::new(NewPort), b"ok, an error").await;
        assert_eq!((r.state, r.reason), (PortState::Open, Reason::UdpResponse));
        let r = answered_from_new_port(Arc::new(NewPort), b"stray").await;
        assert_eq!(r.state, PortState::OpenFiltered, "a stray datagram");
        let r = answered_from_new_port(Arc::new(Echo), b"ok, an error").await;
        assert_eq!(r.state, PortState::OpenFiltered, "connected: never read");
    }

    #[tokio::test]
    async fn a_host_silent_on_every_port_ends_early_one_that_answers_does_not() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let silent = [
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        ];
        let closed = {
            let t = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            t.local_addr().unwrap().port()
        };
        let long = |ports: Vec<u16>| UdpConfig {
            wait: Duration::from_millis(2500),
            retries: 2,
            ..cfg(ports)
        };
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = std::time::Instant::now();
        let (end, _) = host(ip, None, long(silent.to_vec()), Arc::new(Echo)).await;
        let took = t0.elapsed();
        assert!(
            took >= QUIET_END && took < Duration::from_millis(2000),
            "{took:?}"
        );
        assert!(end
            .hits
            .iter()
            .all(|h| h.result.state == PortState::OpenFiltered));
        assert!(end.hits.iter().all(|h| h.result.tries == 2));
        let t0 = std::time::Instant::now();
        let (end, _) = host(ip, None, long(vec![silent[0], closed]), Arc::new(Echo)).await;
        assert!(
            t0.elapsed() >= Duration::from_millis(2500),
            "an ICMP answer: full wait"
        );
        assert_eq!(end.hits[0].result.tries, 3);
        assert_eq!(end.hits[1].result.state, PortState::Closed);
        assert_eq!(end.rate_limited, 1);
    }

    #[test]
    fn shards_split_hosts_without_overlap() {
        let ips: Vec<IpAddr> = (0..200u32)
            .map(|i| IpAddr::from((0xc612_0000u32 + i).to_be_bytes()))
            .collect();
        let counts: Vec<usize> = (0..3)
            .map(|s| ips.iter().filter(|ip| in_shard(**ip, (s, 3))).count())
            .collect();
        assert_eq!(counts.iter().sum::<usize>(), 200);
        assert!(counts.iter().all(|&c| c > 30), "{counts:?}");
    }
}
