//! Local exhaustion: the scanner's own limits must never turn into port
//! states. A full 65,535-port sweep under `ulimit -n 256` gives exactly the
//! (port, state, reason) set of an unconstrained run; a scanner namespace
//! with only 64 ephemeral ports (so connects fail with EADDRNOTAVAIL) still
//! reports every listening port open and every other one closed, re-queueing
//! instead of guessing.

use super::netns::{self, parse_ndjson, state_set, Side, TestNet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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

/// 64 ephemeral ports in the scanner namespace, 3,000 ports of its own
/// loopback, 100 of them listening (and silent, so fingerprinting holds
/// them): connects run out of local ports (EADDRNOTAVAIL), which must be
/// re-queued, never reported.
#[test]
fn ephemeral_port_exhaustion_never_becomes_a_port_state() {
    let mut net = TestNet::new();
    net.run_in(
        Side::Scanner,
        &["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=40000 40063"],
    );
    let listening: Vec<u16> = (0..100).map(|i| 7 + i * 29).collect();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let addrs: Vec<SocketAddr> = listening.iter().map(|p| SocketAddr::new(lo, *p)).collect();
    net.listen_with(Side::Scanner, &addrs, netns::Reply::Hold);
    // Fingerprinting holds a connection to each silent open port for up to
    // a second: 100 of them more than use up the 64 local ports.
    let args = [
        "--ndjson",
        "--probe-timeout",
        "1000",
        "--no-canary",
        "--fail-on",
        "none",
        "--show",
        "closed,filtered",
        "--concurrency",
        "1000",
        "-p",
        "1-3000",
        "127.0.0.1",
    ];
    let out = netns::run_limited(
        net.exposecheck_cmd(&args),
        None,
        Duration::from_secs(120),
    );
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
        "64 ephemeral ports never ran out: the test did not exhaust anything"
    );
}
