//! Never a false "clean" from the sweep and the pipeline: no phantom open
//! port from a TCP self-connect, real services found on a host that answers
//! every port, open ports found behind a SYN rate limit (or the run says it
//! could not), and local errors that end the run instead of hanging it.

use crate::netns::*;
use crate::servers::{Place, RedisMode, Servers};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn open_ports(nd: &Ndjson) -> BTreeSet<u16> {
    nd.ports
        .iter()
        .filter(|p| p["state"] == "open")
        .map(|p| p["port"].as_u64().unwrap() as u16)
        .collect()
}

/// A full sweep of 127.0.0.1 inside a namespace where nothing listens: every
/// connect into the ephemeral range may pick its own destination as source
/// port (TCP self-connect), which a connect scanner without the check
/// reports as an open port whose banner is its own probe.
#[test]
fn a_self_connect_is_never_an_open_port() {
    let net = TestNet::new();
    for run in 0..3 {
        let out = net.exposecheck(&args(&[
            "127.0.0.1",
            "-p-",
            "--ndjson",
            "--no-canary",
            "--fail-on",
            "none",
            "-q",
        ]));
        expect_exit(&out, 0);
        let nd = parse_ndjson(&out.stdout);
        let open = open_ports(&nd);
        assert!(open.is_empty(), "run {run}: phantom open ports {open:?}");
        assert_eq!(cov(&nd.summary, "closed"), 65_535, "run {run}");
    }
}

/// A host whose firewall redirects every port but 6379 to one silent
/// listener, with a real unauthenticated Redis on 6379: the canary ports say
/// "answers every port", yet the Redis is fingerprinted (it answers unlike
/// the canaries), judged critical, and fails the run.
#[test]
fn a_real_service_on_an_every_port_host_is_still_judged() {
    let mut net = TestNet::new();
    let target = IpAddr::V4(net.target_v4());
    net.listen_with(Side::Target, &[SocketAddr::new(target, 9)], Reply::Hold);
    let mut servers = Servers::new(Place {
        ns: Some(net.target_ns.clone()),
        addr: target,
    });
    servers.redis(RedisMode::Open, &[6379]);
    net.iptables("-t nat -A PREROUTING -p tcp ! --dport 6379 -j REDIRECT --to-ports 9");
    let out = net.exposecheck(&args(&[
        &target.to_string(),
        "-p",
        "1-100,6379,8000-8100",
        "--ndjson",
        "--probe-timeout",
        "1500",
    ]));
    expect_exit(&out, 1);
    let nd = parse_ndjson(&out.stdout);
    let redis = nd
        .ports
        .iter()
        .find(|p| p["port"] == 6379)
        .unwrap_or_else(|| panic!("no 6379 record\n{}", show(&out)));
    assert_eq!(redis["service"]["name"], "redis", "{redis}");
    assert_eq!(redis["finding"]["severity"], "critical", "{redis}");
    assert!(nd
        .other
        .iter()
        .any(|v| v["type"] == "host" && v["answers_every_port"] == true));
    // Every other port is the catch-all: noted, info, never a service.
    for p in nd.ports.iter().filter(|p| p["port"] != 6379) {
        assert_eq!(p["service"]["note"], "host-answers-every-port", "{p}");
        assert_eq!(p["finding"]["severity"], "info", "{p}");
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("likely service ports fingerprinted") && err.contains("skipped"),
        "{err}"
    );
}

/// Behind a SYN rate limit (new SYNs above 200/s dropped; closed ports
/// answer RST under it), every open port is found in every run, and no open
/// port is reported closed or filtered.
#[test]
fn open_ports_behind_a_syn_rate_limit_are_found() {
    let mut net = TestNet::new();
    let open = [22u16, 80, 443, 3306, 5432, 6379, 9200];
    net.listen(&open);
    net.iptables("-A INPUT -p tcp --syn -m limit --limit 200/s --limit-burst 5 -j ACCEPT");
    net.iptables("-A INPUT -p tcp --syn -j DROP");
    let target = net.target_v4().to_string();
    for run in 0..3 {
        let start = Instant::now();
        let out = net.exposecheck(&args(&[
            &target,
            "--ndjson",
            "--no-fingerprint",
            "--no-canary",
            "--fail-on",
            "none",
            "--show",
            "closed,filtered",
            "-q",
        ]));
        let found = open_ports(&parse_ndjson(&out.stdout));
        let want: BTreeSet<u16> = open.iter().copied().collect();
        let nd = parse_ndjson(&out.stdout);
        let unresolved = cov(&nd.summary, "unresolved");
        assert!(
            found == want || unresolved > 0,
            "run {run}: found {found:?} of {want:?} and claimed completeness\n{}",
            show(&out)
        );
        assert_eq!(found, want, "run {run} ({:?})", start.elapsed());
        expect_exit(&out, 0);
    }
}

/// A limit the retries cannot get under within the retry ceiling (5 SYNs a
/// second, two retransmissions allowed): ports the sweep could not settle
/// are `unresolved` (`rate-limited`) and the run is incomplete (exit 3),
/// never a silent "filtered".
#[test]
fn a_rate_limit_that_wins_leaves_ports_unresolved_not_filtered() {
    let mut net = TestNet::new();
    let open = [6379u16];
    net.listen(&open);
    net.iptables("-A INPUT -p tcp --syn -m limit --limit 5/s --limit-burst 2 -j ACCEPT");
    net.iptables("-A INPUT -p tcp --syn -j DROP");
    let target = net.target_v4().to_string();
    let out = net.exposecheck(&args(&[
        &target,
        "-p",
        "1-300,6379",
        "--ndjson",
        "--no-fingerprint",
        "--no-canary",
        "--fail-on",
        "none",
        "--show",
        "closed,filtered",
        "--retries",
        "2",
        "-q",
    ]));
    let nd = parse_ndjson(&out.stdout);
    let states: BTreeSet<(String, String)> = nd
        .ports
        .iter()
        .map(|p| {
            (
                p["state"].as_str().unwrap().to_string(),
                p["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let filtered_silent = nd
        .ports
        .iter()
        .filter(|p| p["state"] == "filtered" && p["reason"] == "no-response")
        .count();
    assert_eq!(
        filtered_silent, 0,
        "a rate-limited host's silent ports were called filtered: {states:?}"
    );
    let unresolved: Vec<&Value> = nd
        .ports
        .iter()
        .filter(|p| p["state"] == "unresolved")
        .collect();
    assert!(
        !unresolved.is_empty(),
        "the limit was beaten?\n{}",
        show(&out)
    );
    assert!(unresolved.iter().all(|p| p["reason"] == "rate-limited"));
    assert_eq!(
        cov(&nd.summary, "unresolved") as usize,
        unresolved.len(),
        "summary count"
    );
    expect_exit(&out, 3);
}
