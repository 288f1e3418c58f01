//! Local exhaustion: the scanner's own limits must never turn into port
//! states. A full 65,535-port sweep under `ulimit -n 256` gives exactly the
//! (port, state, reason) set of an unconstrained run; a scanner namespace
//! with only 64 ephemeral ports (so connects fail with EADDRNOTAVAIL) still
//! reports every listening port open and every other one closed, re-queueing
//! instead of guessing.
//!
//! (Linux shares an ephemeral port between connections to different
//! destinations, so exhaustion needs many connections to one (address,
//! port): the test holds 64 of them itself.)

use super::netns::{self, parse_ndjson, state_set, Side, TestNet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Listening ports of the target, spread over the whole range.
const LISTEN: [u16; 6] = [1, 22, 8080, 40000, 50001, 65535];

fn sweep_args(target: &str) -> Vec<String> {
    [
        "--ndjson",
        "--no-fingerprint",
        "--show",
        "closed,filtered",
        "--timeout",
        "1000",
        "-p-",
        target,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// 65,535 ports under `ulimit -n 256` and under the default limit: the same
/// set of (ip, port, state, reason), every port exactly once.
#[test]
fn full_sweep_under_ulimit_256_matches_the_unconstrained_one() {
    let mut net = TestNet::new();
    net.listen(&LISTEN);
    let target = net.target_v4().to_string();
    let args = sweep_args(&target);
    let limit = Duration::from_secs(120);
    let free = netns::run_limited(net.exposecheck_cmd(&args), None, limit);
    netns::expect_exit(&free, 0);
    let tight = netns::run_limited(net.exposecheck_cmd_nofile(256, &args), None, limit);
    netns::expect_exit(&tight, 0);
    let (a, b) = (parse_ndjson(&free.stdout), parse_ndjson(&tight.stdout));
    assert_eq!(a.ports.len(), 65_535, "unconstrained run");
    assert_eq!(b.ports.len(), 65_535, "ulimit 256 run");
    let (sa, sb) = (state_set(&a.ports), state_set(&b.ports));
    let open: Vec<u16> = sb
        .iter()
        .filter(|(_, _, s, _)| s == "open")
        .map(|(_, p, _, _)| *p)
        .collect();
    assert_eq!(open, LISTEN.to_vec());
    let diff: Vec<_> = sa.symmetric_difference(&sb).take(5).collect();
    assert!(diff.is_empty(), "ulimit 256 changed results: {diff:?}");
}

/// Opens 64 connections to each of `ports` of 127.0.0.1 inside `ns` (with
/// 64 ephemeral ports, nothing more can reach those ports) and holds them
/// until `release` fires.
fn hog(
    ns: &str,
    ports: Vec<u16>,
    ready: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
) -> JoinHandle<()> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("netns");
        // SAFETY: setns on a valid namespace fd; it only changes this thread.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let mut held = Vec::new();
        for p in ports {
            for _ in 0..64 {
                held.push(TcpStream::connect(("127.0.0.1", p)).expect("hog connect"));
            }
            let err = TcpStream::connect(("127.0.0.1", p)).expect_err("65th connect");
            assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{err}");
        }
        ready.send(()).expect("ready");
        let _ = release.recv_timeout(Duration::from_secs(30));
        // Close with RST: a FIN would park every port in TIME_WAIT for 60 s.
        for s in &held {
            let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
        }
        drop(held);
    })
}

/// 64 ephemeral ports in the scanner namespace and 100 listeners on its
/// loopback, five of them with every local port already used towards them:
/// connects there fail with EADDRNOTAVAIL for a while. A sweep of 1-3000
/// must re-queue them (never report them closed or filtered) and, once the
/// ports are released, find every listener open and every other port closed.
#[test]
fn ephemeral_port_exhaustion_never_becomes_a_port_state() {
    let mut net = TestNet::new();
    net.run_in(
        Side::Scanner,
        &[
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_local_port_range=40000 40063",
        ],
    );
    let listening: Vec<u16> = (0..100).map(|i| 7 + i * 29).collect();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let addrs: Vec<SocketAddr> = listening.iter().map(|p| SocketAddr::new(lo, *p)).collect();
    net.listen_with(Side::Scanner, &addrs, netns::Reply::Hold);
    let (ready_tx, ready) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let hogger = hog(
        &net.scanner_ns,
        listening[..5].to_vec(),
        ready_tx,
        release_rx,
    );
    ready
        .recv_timeout(Duration::from_secs(20))
        .expect("hog ready");
    let args = [
        "--ndjson",
        "--no-fingerprint",
        "--show",
        "closed,filtered",
        "-p",
        "1-3000",
        "127.0.0.1",
    ];
    let scan = net.spawn_exposecheck(&args);
    std::thread::sleep(Duration::from_millis(1500));
    release.send(()).expect("release");
    hogger.join().expect("hog thread");
    let out = scan.wait(Duration::from_secs(60));
    netns::expect_exit(&out, 0);
    let nd = parse_ndjson(&out.stdout);
    let states = netns::port_map(&nd.ports);
    assert_eq!(states.len(), 3000, "{}", netns::show(&out));
    let wrong: Vec<String> = states
        .values()
        .filter(|p| {
            let should = if listening.contains(&p.port) {
                "open"
            } else {
                "closed"
            };
            p.state != should
        })
        .take(5)
        .map(|p| format!("{}: {} {}", p.port, p.state, p.reason))
        .collect();
    assert!(wrong.is_empty(), "wrong states under exhaustion: {wrong:?}");
    assert!(
        netns::cov(&nd.summary, "requeued") > 0,
        "no connect was re-queued: the exhaustion never happened"
    );
}
