//! Silent hosts (issue 16): a host behind DROP gives no RTT sample, so its
//! first tries are blind. Each blind try is one socket that lives past the
//! kernel's own SYN retransmission, plus an overlapping sibling when the
//! window has room. These tests count the SYNs that reach the target, check
//! that a slow, lossy host's one open port is still found, and sweep a net
//! of silent hosts with a few open ones. RTT comes from examples/nfq_delay
//! (NFQUEUE on the scanner's ingress), loss from iptables `statistic`.
//! Times are measured by benches/silent.sh, not asserted here.

use super::netns::{expect_exit, parse_ndjson, port_map, Side, TestNet, BIN, SWEEP_V4};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The delay program that `cargo test` builds beside the binary.
fn nfq_delay_bin() -> PathBuf {
    let bin = PathBuf::from(BIN);
    let path = bin
        .parent()
        .expect("target dir")
        .join("examples")
        .join("nfq_delay");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds it (examples/nfq_delay.rs)",
        path.display()
    );
    path
}

/// RTT emulation: the scanner's ingress held `ms` milliseconds, ended by
/// PID when dropped.
struct Delay {
    child: Child,
}

impl Delay {
    fn start(net: &TestNet, ms: u64) -> Delay {
        let log = std::env::temp_dir().join(format!("nfq-delay-{}.log", std::process::id()));
        let child = Command::new("ip")
            .args(["netns", "exec", net.ns(Side::Scanner)])
            .arg(nfq_delay_bin())
            .args(["0", &ms.to_string()])
            .stderr(std::fs::File::create(&log).expect("delay log"))
            .stdout(Stdio::null())
            .spawn()
            .expect("start nfq_delay");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("ready")
        {
            assert!(
                Instant::now() < deadline,
                "nfq_delay never got ready: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        net.run_in_scanner(&[
            "iptables",
            "-w",
            "-t",
            "raw",
            "-A",
            "PREROUTING",
            "-i",
            net.dev(Side::Scanner),
            "-j",
            "NFQUEUE",
            "--queue-num",
            "0",
        ]);
        Delay { child }
    }
}

impl Drop for Delay {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Packets counted by the target's first INPUT rule.
fn first_rule_packets(net: &TestNet) -> u64 {
    let out = net.run_in_target(&["iptables", "-w", "-L", "INPUT", "1", "-v", "-x", "-n"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {text:?}"))
}

fn scan(net: &TestNet, args: &[&str]) -> super::netns::Ndjson {
    let mut all = vec![
        "--ndjson",
        "--no-fingerprint",
        "--fail-on",
        "none",
        "--show",
        "filtered",
    ];
    all.extend_from_slice(args);
    let out = net.exposecheck(&all);
    expect_exit(&out, 0);
    parse_ndjson(&out.stdout)
}

/// A host that answers nothing: with the default timing each port gets one
/// long-lived socket (its SYN and the kernel's retransmission) and a
/// sibling, three SYNs in all; with `--retries 1` the sibling is left out.
#[test]
fn a_silent_hosts_ports_get_the_kernels_retransmission_and_a_sibling() {
    let net = TestNet::new();
    net.iptables("-A INPUT -p tcp --syn --dport 3000:3099 -j DROP");
    net.iptables("-P INPUT DROP");
    let target = net.target_v4().to_string();
    for (extra, syns) in [(None, 3u64), (Some("1"), 2u64)] {
        net.run_in_target(&["iptables", "-w", "-Z", "INPUT"]);
        let mut args = vec!["-p", "3000-3099", &target];
        if let Some(r) = extra {
            args.extend(["--retries", r]);
        }
        let nd = scan(&net, &args);
        let ports = port_map(&nd.ports);
        assert_eq!(ports.len(), 100, "{}", nd.summary);
        for p in ports.values() {
            assert_eq!(
                (p.state.as_str(), p.reason.as_str(), p.tries),
                ("filtered", "no-response", syns),
                "{p:?}"
            );
        }
        assert_eq!(first_rule_packets(&net), 100 * syns, "retries {extra:?}");
    }
}

/// A silent host with more ports than the window holds (`--concurrency
/// 20`): each first try is a plain 1 s connect, and each port gets one short
/// rescue once every port has had its first try — two SYNs, both with room
/// for an answer, instead of a long socket whose kernel retransmission
/// leaves with every other socket's at once.
#[test]
fn a_crowded_silent_sweep_gives_each_port_a_rescue() {
    let net = TestNet::new();
    net.iptables("-A INPUT -p tcp --syn --dport 3000:3099 -j DROP");
    net.iptables("-P INPUT DROP");
    let target = net.target_v4().to_string();
    let nd = scan(&net, &["-p", "3000-3099", "--concurrency", "20", &target]);
    let ports = port_map(&nd.ports);
    assert_eq!(ports.len(), 100, "{}", nd.summary);
    let tries: std::collections::BTreeMap<u64, usize> =
        ports.values().fold(Default::default(), |mut m, p| {
            assert_eq!(
                (p.state.as_str(), p.reason.as_str()),
                ("filtered", "no-response"),
                "{p:?}"
            );
            *m.entry(p.tries).or_default() += 1;
            m
        });
    // The last ports drawn find the window no longer crowded and get the
    // full blind plan (three SYNs); the rest two.
    assert!(tries.keys().all(|t| *t == 2 || *t == 3), "{tries:?}");
    assert!(tries.get(&2).copied().unwrap_or(0) >= 70, "{tries:?}");
    let syns: u64 = ports.values().map(|p| p.tries).sum();
    assert_eq!(first_rule_packets(&net), syns);
}

/// A slow host (300 ms RTT) behind DROP with 5% loss: its one open port
/// among 1,500 is found in every run, with the RTT it really has.
#[test]
fn a_slow_lossy_hosts_one_open_port_is_found_every_time() {
    let mut net = TestNet::new();
    net.listen(&[31337]);
    net.iptables("-A INPUT -m statistic --mode random --probability 0.05 -j DROP");
    net.iptables("-A INPUT -p tcp --dport 31337 -j ACCEPT");
    net.iptables("-P INPUT DROP");
    let _delay = Delay::start(&net, 300);
    let target = net.target_v4().to_string();
    for run in 0..3 {
        let nd = scan(&net, &["-p", "1-1500,31337", &target]);
        let ports = port_map(&nd.ports);
        let open: Vec<_> = ports.values().filter(|p| p.state == "open").collect();
        assert_eq!(open.len(), 1, "run {run}: {}", nd.summary);
        assert_eq!(open[0].port, 31337);
        let rtt = open[0].rtt_ms.expect("an open port has an RTT");
        assert!((295.0..1400.0).contains(&rtt), "run {run}: rtt {rtt}");
        assert_eq!(ports.len(), 1501, "run {run}: every port concluded");
    }
}

/// Sixteen silent hosts, two of which accept two ports: every open port is
/// found, every other port concluded filtered.
#[test]
fn a_net_of_silent_hosts_with_a_few_open_ones() {
    let mut net = TestNet::new();
    net.route_sweep();
    net.listen(&[2003, 2011]);
    let base = SWEEP_V4.0.octets();
    let host = |i: u8| Ipv4Addr::new(base[0], base[1], base[2], i);
    for i in [0u8, 8] {
        for p in [2003, 2011] {
            net.iptables(&format!(
                "-A INPUT -d {} -p tcp --dport {p} -j ACCEPT",
                host(i)
            ));
        }
    }
    net.iptables("-P INPUT DROP");
    let range = format!("{}/28", host(0));
    let nd = scan(&net, &["-p", "2000-2020", &range]);
    let ports = port_map(&nd.ports);
    assert_eq!(ports.len(), 16 * 21, "{}", nd.summary);
    let open: Vec<(IpAddr, u16)> = ports
        .values()
        .filter(|p| p.state == "open")
        .map(|p| (p.ip, p.port))
        .collect();
    let want: Vec<(IpAddr, u16)> = [0u8, 8]
        .iter()
        .flat_map(|&i| [2003, 2011].map(|p| (IpAddr::V4(host(i)), p)))
        .collect();
    assert_eq!(open, want);
    assert!(ports
        .values()
        .filter(|p| p.state != "open")
        .all(|p| p.state == "filtered" && p.reason == "no-response"));
}
