//! Starved and impossible local conditions end the run: descriptor limits
//! too low to scan, threads that cannot be made, addresses the kernel
//! refuses, a family with no source address. Each ends within a bound, never
//! panics, never claims an interruption that no signal caused, and names the
//! problem in one line.

use crate::netns::*;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long a starved run may take before it counts as a hang.
const BOUND: Duration = Duration::from_secs(40);

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Checks the common promises of a starved run and returns its exit code.
fn ended_cleanly(out: &Output, took: Duration, what: &str) -> i32 {
    let err = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    assert!(took < BOUND, "{what}: took {took:?}\n{}", show(out));
    assert!(!err.contains("panicked"), "{what}: panic\n{err}");
    assert!(
        [0, 1, 2, 3].contains(&code),
        "{what}: exit {code} (130 is for signals only)\n{}",
        show(out)
    );
    code
}

fn timed(cmd: Command) -> (Output, Duration) {
    let start = Instant::now();
    let out = run_limited(cmd, None, BOUND + Duration::from_secs(20));
    (out, start.elapsed())
}

/// Descriptor limits from "cannot even start" to "one socket at a time":
/// each run ends with 2 (the limit named) or a complete or incomplete (3)
/// result, on the default ports and on `-p-`.
#[test]
fn low_descriptor_limits_end_the_run() {
    let mut net = TestNet::new();
    net.listen(&[22, 6379]);
    let target = net.target_v4().to_string();
    for nofile in [8u32, 10, 11, 12, 16, 24] {
        for ports in [None, Some("-p-")] {
            let mut a = args(&[
                &target,
                "--ndjson",
                "--fail-on",
                "none",
                "--probe-timeout",
                "800",
            ]);
            a.extend(ports.map(String::from));
            let (out, took) = timed(net.exposecheck_cmd_nofile(nofile, &a));
            let what = format!("nofile {nofile} {ports:?}");
            match ended_cleanly(&out, took, &what) {
                2 => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    assert!(err.contains("ulimit -n"), "{what}: {err}");
                    assert_eq!(err.lines().count(), 1, "{what}: {err}");
                }
                code => {
                    let nd = parse_ndjson(&out.stdout);
                    let unresolved = cov(&nd.summary, "unresolved");
                    assert_eq!(code == 3, unresolved > 0, "{what}\n{}", show(&out));
                    assert_eq!(nd.summary["interrupted"], false, "{what}");
                }
            }
        }
    }
}

/// A family the scanner cannot reach from here (IPv6 switched off in the
/// scanner's namespace): its ports are unresolved at once with the reason,
/// the other family is scanned as usual, and the run says it is incomplete.
#[test]
fn a_family_with_no_source_address_is_unresolved_at_once() {
    let mut net = TestNet::new();
    net.listen(&[22]);
    let (v4, v6) = (net.target_v4().to_string(), net.target_v6().to_string());
    net.run_in_scanner(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    let (out, took) = timed(net.exposecheck_cmd(&args(&[
        &v4,
        &v6,
        "-p",
        "1-200",
        "--ndjson",
        "--no-fingerprint",
        "--fail-on",
        "none",
        "--show",
        "closed,filtered",
    ])));
    assert_eq!(ended_cleanly(&out, took, "ipv6 off"), 3, "{}", show(&out));
    let nd = parse_ndjson(&out.stdout);
    let v6_ports: Vec<_> = nd.ports.iter().filter(|p| p["ip"] == v6.as_str()).collect();
    assert_eq!(v6_ports.len(), 200, "{}", show(&out));
    for p in &v6_ports {
        assert_eq!(p["state"], "unresolved", "{p}");
    }
    let v4_open = nd
        .ports
        .iter()
        .filter(|p| p["ip"] == v4.as_str() && p["state"] == "open")
        .count();
    assert_eq!(v4_open, 1);
    assert_eq!(cov(&nd.summary, "unresolved"), 200);
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// A link-local address without a zone: the kernel refuses every connect
/// (EINVAL). Refused up front (exit 2) or concluded unresolved (exit 3), it
/// ends at once rather than being retried forever.
#[test]
fn a_link_local_address_without_a_zone_ends() {
    let net = TestNet::new();
    let (out, took) = timed(net.exposecheck_cmd(&args(&[
        "fe80::1",
        "-p",
        "1-50",
        "--ndjson",
        "--fail-on",
        "none",
    ])));
    let code = ended_cleanly(&out, took, "fe80::1");
    assert!(code == 2 || code == 3, "{}", show(&out));
    if code == 3 {
        let nd = parse_ndjson(&out.stdout);
        assert_eq!(cov(&nd.summary, "unresolved"), 50);
    }
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// No thread to be had (RLIMIT_NPROC, which root ignores: the binary runs as
/// `nobody`): the sweep's threads fall back to the main thread and a name is
/// resolved or refused without a panic.
#[test]
fn no_thread_to_spare_is_no_panic() {
    let mut net = TestNet::new();
    net.listen(&[22]);
    let target = net.target_v4().to_string();
    for nproc in [1u32, 2, 3] {
        for t in [target.as_str(), "localhost"] {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &net.scanner_ns, "prlimit"])
                .arg(format!("--nproc={nproc}:{nproc}"))
                .args([
                    "setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "--",
                    BIN,
                    t,
                    "-p-",
                    "--ndjson",
                    "--fail-on",
                    "none",
                    "--no-policy",
                    "--allow-loopback",
                ]);
            let (out, took) = timed(cmd);
            let what = format!("nproc {nproc} {t}");
            ended_cleanly(&out, took, &what);
        }
    }
}
