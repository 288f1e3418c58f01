//! Bad input and scope, end to end: every flag of `--help` with a malformed
//! value (exit 2, one stderr line naming the token, nothing scanned), an
//! unwritable `-o` (fails before any connection), the scope guard
//! (`--allow-large`, multicast/broadcast/unspecified, excludes re-applied
//! after DNS, `--dns-timeout`, `--max-addrs-per-name`, with exact exit
//! codes), and Ctrl-C at random moments in every machine format.
//!
//! Name resolution is controlled without touching the host's /etc/hosts:
//! `ip netns exec` bind-mounts `/etc/netns/<ns>/{hosts,resolv.conf}` over
//! the real ones for that process only ([`NsEtc`] writes and removes them).

use super::hostile::measure;
use super::hostile_servers::{self as hs, Kind};
use super::netns::{self, parse_ndjson, TestNet, BIN};
use super::schema::{validate_json, validate_ndjson, validate_sarif};
use serde_json::Value;
use std::io::Read;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn exposecheck(args: &[&str]) -> Output {
    measure(
        {
            let mut c = Command::new(BIN);
            c.args(args);
            c
        },
        Duration::from_secs(30),
    )
    .out
}

/// Fails unless `out` is a usage error: exit 2, one stderr line naming `token`, empty stdout.
fn usage_error(out: &Output, token: &str) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut why = Vec::new();
    if out.status.code() != Some(2) {
        why.push(format!("exit {:?}", out.status.code()));
    }
    if stderr.lines().count() != 1 {
        why.push(format!("{} stderr lines", stderr.lines().count()));
    }
    if !stderr.contains(token) {
        why.push(format!("stderr does not name {token:?}"));
    }
    if !out.stdout.is_empty() {
        why.push("stdout not empty".into());
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(format!("{}; stderr: {stderr:?}", why.join(", ")))
    }
}

/// Every long flag `--help` lists.
fn help_flags() -> Vec<String> {
    let out = exposecheck(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut flags: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l
                .strip_prefix("-")
                .filter(|r| !r.starts_with('-'))
                .map_or(l, |r| r.split_once(", ").map_or(r, |(_, rest)| rest));
            l.strip_prefix("--")
                .map(|f| format!("--{}", f.split([' ', '=', '.']).next().unwrap_or("")))
        })
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// Malformed values for every flag: (flag, arguments, token the error must name).
fn bad_values(dir: &std::path::Path) -> Vec<(&'static str, Vec<String>, String)> {
    let p = |name: &str, body: &[u8]| {
        let f = dir.join(name);
        std::fs::write(&f, body).expect("write");
        f.to_string_lossy().into_owned()
    };
    let bad_targets = p("targets.txt", b"127.0.0.1\n300.1.1.1\n");
    let binary = p("binary.txt", b"\xff\xfe127.0.0.1\n");
    let bad_policy = p(
        "policy.toml",
        b"fail_on = \"severe\"\n[[expect]]\nport = 99999\n",
    );
    let bad_baseline = p("baseline.json", b"{\"not\": \"exposecheck\"}");
    let services = dir.join("services");
    std::fs::create_dir_all(&services).expect("mkdir");
    std::fs::write(
        services.join("broken.toml"),
        "id = \"broken\"\nports = [\"x\"]\n",
    )
    .expect("write");
    let services = services.to_string_lossy().into_owned();
    let missing = "/nonexistent-ec-dir/file".to_string();
    let v = |flag: &'static str, args: &[&str], token: &str| {
        (
            flag,
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            token.to_string(),
        )
    };
    vec![
        v("--input-list", &["--input-list", &missing], &missing),
        v("--input-list", &["--input-list", &bad_targets], "300.1.1.1"),
        v("--input-list", &["--input-list", &binary], &binary),
        v("--exclude", &["--exclude", "300.1.1.1"], "300.1.1.1"),
        v("--exclude-file", &["--exclude-file", &missing], &missing),
        v("--ports", &["--ports", "0"], "0"),
        v("--ports", &["-p", "65536"], "65536"),
        v("--ports", &["-p", "9-1"], "9-1"),
        v("--ports", &["-p", "1,,x"], "x"),
        v("--top-ports", &["--top-ports", "many"], "many"),
        v("--format", &["--format", "yaml"], "yaml"),
        v("--json", &["--json=yes"], "yes"),
        v("--ndjson", &["--ndjson=yes"], "yes"),
        v("--color", &["--color", "rainbow"], "rainbow"),
        v("--print-schema", &["--print-schema", "yaml"], "yaml"),
        v(
            "--output",
            &["-o", "/nonexistent-ec-dir/out.json"],
            "/nonexistent-ec-dir/out.json",
        ),
        v("--show", &["--show", "open,bogus"], "bogus"),
        v("--write", &["--write", "yaml=out.yaml"], "yaml"),
        v("--write", &["--write", "json"], "json"),
        v("--firewall", &["--firewall", "pf"], "pf"),
        v("--verbose", &["--verbose=1"], "1"),
        v("--quiet", &["--quiet=yes"], "yes"),
        v("--concurrency", &["--concurrency", "0"], "0"),
        v("--max-per-host", &["--max-per-host", "x1"], "x1"),
        v("--threads", &["--threads", "0"], "0"),
        v("--timing", &["--timing", "ludicrous"], "ludicrous"),
        v("--timeout", &["--timeout", "1e3"], "1e3"),
        v("--retries", &["--retries", "300"], "300"),
        v("--rate", &["--rate", "NaN"], "NaN"),
        v("--host-rate", &["--host-rate", "-3"], "-3"),
        v("--no-fingerprint", &["--no-fingerprint=1"], "1"),
        v("--services-dir", &["--services-dir", &missing], &missing),
        v(
            "--services-dir",
            &["--services-dir", &services],
            "broken.toml",
        ),
        v("--probe-timeout", &["--probe-timeout", "5"], "5"),
        v("--probe-bytes", &["--probe-bytes", "lots"], "lots"),
        v("--probe-printers", &["--probe-printers=no"], "no"),
        v("--policy", &["--policy", &missing], &missing),
        v("--policy", &["--policy", &bad_policy], &bad_policy),
        v("--no-policy", &["--no-policy=1"], "1"),
        v("--baseline", &["--baseline", &missing], &missing),
        v("--baseline", &["--baseline", &bad_baseline], &bad_baseline),
        v("--only-new", &["--only-new=1"], "1"),
        v("--fail-on", &["--fail-on", "severe"], "severe"),
        v("--no-canary", &["--no-canary=1"], "1"),
        v("--udp", &["--udp=1"], "1"),
        v("--no-udp", &["--no-udp=1"], "1"),
        v("--udp-wait", &["--udp-wait", "50"], "50"),
        v("--dns-canary", &["--dns-canary", "bad name!"], "bad name!"),
        v("--check-ssh-rate", &["--check-ssh-rate=1"], "1"),
        v(
            "--ssh-rate-wait",
            &["--check-ssh-rate", "--ssh-rate-wait", "600"],
            "600",
        ),
        v("--seed", &["--seed", "-1"], "-1"),
        v("--shard", &["--shard", "4/2"], "4/2"),
        v("--shards", &["--shards", "x"], "x"),
        v("--shards", &["--shards", "2"], "JOB_COMPLETION_INDEX"),
        v("--allow-large", &["--allow-large=1"], "1"),
        v("--dns-timeout", &["--dns-timeout", "soon"], "soon"),
        v("--max-addrs-per-name", &["--max-addrs-per-name", "0"], "0"),
        v("--allow-loopback", &["--allow-loopback=1"], "1"),
        v("--help", &["--help=1"], "1"),
        v("--version", &["--version=1"], "1"),
    ]
}

/// Every flag of `--help`, given a malformed value, is a one-line usage
/// error naming the token, and nothing reaches the target.
#[test]
fn every_flag_with_a_malformed_value_is_one_clear_usage_error() {
    let farm = hs::loopback(Kind::Silent, 1);
    let port = farm.ports[0].to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let table = bad_values(dir.path());
    let listed = help_flags();
    assert!(listed.len() >= 35, "--help parsing found {listed:?}");
    let untested: Vec<&String> = listed
        .iter()
        .filter(|f| !table.iter().any(|(t, _, _)| t == f))
        .collect();
    assert!(
        untested.is_empty(),
        "flags of --help without a bad-value case: {untested:?}"
    );
    let mut failures = Vec::new();
    for (flag, args, token) in &table {
        let mut full: Vec<&str> = vec!["--ndjson"];
        if !args.iter().any(|a| a == "-p" || a == "--ports") {
            full.extend(["-p", &port]);
        }
        full.extend(args.iter().map(String::as_str));
        full.push("127.0.0.1");
        let out = exposecheck(&full);
        if let Err(e) = usage_error(&out, token) {
            failures.push(format!("{flag} {args:?}: {e}"));
        }
    }
    let bad_target = exposecheck(&["-p", &port, "300.1.1.1"]);
    if let Err(e) = usage_error(&bad_target, "300.1.1.1") {
        failures.push(format!("target 300.1.1.1: {e}"));
    }
    assert_eq!(
        farm.accepts(),
        0,
        "a usage error still connected to the target"
    );
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases wrong:\n{}",
        failures.len(),
        table.len() + 1,
        failures.join("\n")
    );
}

/// `fix` from a report: one host's script on stdout; a bad family, a file
/// that is no report, several hosts without `--dir` and an unwritable
/// `--dir` are one-line usage errors.
#[test]
fn fix_writes_a_report_s_script_and_refuses_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let result = |ip: &str, port: u16, service: &str| {
        format!(
            r#"{{"ip":"{ip}","port":{port},"proto":"tcp","state":"open","reason":"syn-ack","rtt_ms":0.1,"tries":1,"service":{{"name":"{service}","auth":"unknown","confidence":"probed"}}}}"#
        )
    };
    let write = |name: &str, results: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!(r#"{{"results":[{}]}}"#, results.join(","))).unwrap();
        path.display().to_string()
    };
    let one = write(
        "one.json",
        &[
            result("198.18.0.2", 22, "ssh"),
            result("198.18.0.2", 6379, "redis"),
        ],
    );
    let out = exposecheck(&["fix", &one, "--firewall", "ufw"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("#!/bin/sh\n"), "{text}");
    assert!(
        text.contains("ufw limit 22/tcp") && text.contains("ufw delete allow 6379/tcp"),
        "{text}"
    );
    assert!(
        text.contains("at now + 5 minutes"),
        "the reset guard is on by default"
    );
    let two = write(
        "two.json",
        &[
            result("198.18.0.2", 22, "ssh"),
            result("198.18.0.3", 22, "ssh"),
        ],
    );
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let garbage = garbage.display().to_string();
    let missing = dir.path().join("no-such-dir").display().to_string();
    for (args, token) in [
        (vec!["fix", one.as_str(), "--firewall", "pf"], "pf"),
        (vec!["fix", garbage.as_str()], garbage.as_str()),
        (vec!["fix", two.as_str()], "--dir"),
        (
            vec!["fix", two.as_str(), "--dir", missing.as_str()],
            missing.as_str(),
        ),
    ] {
        let out = exposecheck(&args);
        usage_error(&out, token).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    }
}

/// An unwritable `-o` fails with exit 2 before the scan: no connection.
#[test]
fn unwritable_output_fails_before_any_connection() {
    let farm = hs::loopback(Kind::Silent, 1);
    let port = farm.ports[0].to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let a_dir = dir.path().to_string_lossy().into_owned();
    for path in ["/nonexistent-ec-dir/out.json", "/proc/version", &a_dir] {
        let out = exposecheck(&["--json", "-o", path, "-p", &port, "127.0.0.1"]);
        usage_error(&out, path).unwrap_or_else(|e| panic!("-o {path}: {e}"));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(farm.accepts(), 0, "the scan started before -o failed");
}

/// Runs exposecheck with `args` against `targets` in a scanner namespace
/// whose /etc/hosts is `hosts`; returns the output and wall time.
fn scan_names(net: &TestNet, args: &[&str]) -> (Output, Duration) {
    let m = measure(net.exposecheck_cmd(args), Duration::from_secs(60));
    (m.out, m.wall)
}

/// `/etc/netns/<ns>/{hosts,resolv.conf}` for one namespace, removed on drop.
struct NsEtc(PathBuf);

impl NsEtc {
    fn new(ns: &str, hosts: &str, resolv: &str) -> NsEtc {
        let dir = PathBuf::from("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        std::fs::write(dir.join("hosts"), hosts).expect("hosts");
        std::fs::write(dir.join("resolv.conf"), resolv).expect("resolv.conf");
        NsEtc(dir)
    }
}

impl Drop for NsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn warned(out: &Output, what: &str) -> bool {
    String::from_utf8_lossy(&out.stderr).contains(what)
}

/// Scope after DNS: a name with 10,000 addresses is cut to
/// `--max-addrs-per-name`; names that resolve to an excluded, multicast or
/// unspecified address are not scanned (exit 3 when nothing is left); a
/// resolver that never answers is cut by `--dns-timeout` (exit 3).
#[test]
fn names_are_scoped_after_resolution() {
    let net = TestNet::new();
    net.route_sweep();
    let t = net.target_v4().to_string();
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for i in 0..10_000u32 {
        let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 1)) + i);
        hosts.push_str(&format!("{a} many.test\n"));
    }
    hosts.push_str(&format!(
        "{t} excluded.test\n224.0.0.1 mcast.test\n0.0.0.0 zero.test\n"
    ));
    // A resolver in the target namespace that reads queries and never answers.
    let sink = netns::in_netns(&net.target_ns, {
        let t = t.clone();
        move || UdpSocket::bind((t.as_str(), 53)).expect("udp 53")
    });
    let _etc = NsEtc::new(
        &net.scanner_ns,
        &hosts,
        &format!("nameserver {t}\noptions timeout:30 attempts:1\n"),
    );
    let base = [
        "--ndjson",
        "--no-fingerprint",
        "--show",
        "closed,filtered",
        "-p",
        "9",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        scan_names(&net, &args)
    };

    let (out, _) = run(&["--max-addrs-per-name", "5", "many.test"]);
    netns::expect_exit(&out, 0);
    let nd = parse_ndjson(&out.stdout);
    validate_ndjson(std::str::from_utf8(&out.stdout).unwrap());
    assert_eq!(nd.ports.len(), 5, "{}", netns::show(&out));
    assert!(nd.ports.iter().all(|p| p["host"] == "many.test"));
    assert!(
        warned(&out, "many.test resolves to more than 5"),
        "{}",
        netns::show(&out)
    );

    let (out, _) = run(&["many.test"]);
    netns::expect_exit(&out, 0);
    assert_eq!(parse_ndjson(&out.stdout).ports.len(), 64, "default cap");

    for (name, extra, why) in [
        ("excluded.test", vec!["--exclude", t.as_str()], ""),
        ("mcast.test", vec![], "multicast"),
        ("zero.test", vec![], "unspecified"),
    ] {
        let mut args = extra.clone();
        args.push(name);
        let (out, _) = run(&args);
        netns::expect_exit(&out, 3);
        let nd = parse_ndjson(&out.stdout);
        assert!(
            nd.ports.is_empty(),
            "{name} was scanned: {}",
            netns::show(&out)
        );
        assert_eq!(netns::cov(&nd.summary, "planned"), 0);
        assert!(warned(&out, why), "{name}: {}", netns::show(&out));
    }
    // The rest of the targets are still scanned when one name is refused.
    let (out, _) = run(&["mcast.test", &t]);
    netns::expect_exit(&out, 0);
    assert_eq!(parse_ndjson(&out.stdout).ports.len(), 1);

    let (out, wall) = run(&["--dns-timeout", "500", "hang.test", &t]);
    netns::expect_exit(&out, 3);
    assert!(
        wall < Duration::from_secs(5),
        "DNS timeout 500 ms took {wall:?}"
    );
    let nd = parse_ndjson(&out.stdout);
    assert_eq!(nd.ports.len(), 1, "the other target is scanned");
    assert_eq!(nd.summary["coverage"]["unresolved_hosts"][0], "hang.test");
    assert!(
        warned(&out, "timed out after 500 ms"),
        "{}",
        netns::show(&out)
    );
    drop(sink);
}

/// Exclusions by name, end to end with a namespace /etc/hosts: a name of
/// 100 addresses excludes all 100 (not the first `--max-addrs-per-name`);
/// with a cap of 1 a dual-stack exclusion still removes both families; an
/// exclusion that does not resolve is exit 2 before any packet; a name that
/// leads to loopback (also as `::ffff:127.0.0.1`) needs `--allow-loopback`,
/// and then keeps its name.
#[test]
fn excluded_names_and_loopback_names() {
    let mut net = TestNet::new();
    net.route_sweep();
    net.listen(&[9]);
    let (t4, t6) = (net.target_v4().to_string(), net.target_v6().to_string());
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for i in 0..100u32 {
        let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 0)) + i);
        hosts.push_str(&format!("{a} hundred.test\n"));
    }
    hosts.push_str(&format!(
        "{t4} dual.test\n{t6} dual.test\n127.0.0.1 lo.test\n::ffff:127.0.0.1 lomapped.test\n"
    ));
    // No resolver answers: names outside the hosts file fail at once.
    let _etc = NsEtc::new(&net.scanner_ns, &hosts, "nameserver 127.0.0.1\n");
    let base = [
        "--ndjson",
        "--no-fingerprint",
        "--fail-on",
        "none",
        "--show",
        "closed,filtered",
        "-p",
        "9",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        scan_names(&net, &args).0
    };
    let out = run(&["--exclude", "hundred.test", "198.19.0.0/25"]);
    netns::expect_exit(&out, 0);
    let nd = parse_ndjson(&out.stdout);
    assert_eq!(nd.ports.len(), 28, "{}", netns::show(&out));
    assert!(nd.ports.iter().all(|p| p["ip"]
        .as_str()
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        .is_some_and(|ip| u32::from(ip) >= u32::from(Ipv4Addr::new(198, 19, 0, 100)))));

    let out = run(&[
        "--max-addrs-per-name",
        "1",
        "--exclude",
        "dual.test",
        &t4,
        &t6,
    ]);
    netns::expect_exit(&out, 3);
    assert!(
        parse_ndjson(&out.stdout).ports.is_empty(),
        "{}",
        netns::show(&out)
    );

    let out = run(&["--exclude", "gone.test", &t4]);
    usage_error(&out, "gone.test").unwrap();

    for name in ["lo.test", "lomapped.test", "localhost"] {
        let out = run(&[name]);
        usage_error(&out, "--allow-loopback").unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let out = run(&["--allow-loopback", "lomapped.test"]);
    netns::expect_exit(&out, 0);
    let nd = parse_ndjson(&out.stdout);
    assert_eq!(nd.ports.len(), 1, "{}", netns::show(&out));
    assert_eq!(nd.ports[0]["ip"], "127.0.0.1");
    assert_eq!(nd.ports[0]["host"], "lomapped.test");
}

/// Address-count guard and never-scanned addresses, with exact exit codes
/// (loopback only: shards keep the scans themselves tiny).
#[test]
fn address_scope_guard() {
    let shard = [
        "--no-fingerprint",
        "--ndjson",
        "-p",
        "9",
        "--shard",
        "0/4096",
    ];
    let with = |extra: &[&str]| {
        let args: Vec<&str> = shard.iter().chain(extra).copied().collect();
        exposecheck(&args)
    };
    // 65,536 is allowed, one more is not (without --allow-large).
    netns::expect_exit(&with(&["127.0.0.0/16"]), 0);
    let over = with(&["127.0.0.0/16", "127.1.0.0"]);
    usage_error(&over, "--allow-large").unwrap();
    usage_error(&with(&["127.0.0.0/15"]), "131072").unwrap();
    let big = with(&["--allow-large", "127.0.0.0/15"]);
    netns::expect_exit(&big, 0);
    assert_eq!(
        netns::cov(&parse_ndjson(&big.stdout).summary, "planned"),
        32
    );
    for (t, why) in [
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
    ] {
        let out = exposecheck(&["--no-fingerprint", "-p", "9", t]);
        usage_error(&out, t).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert!(warned(&out, why), "{t}");
    }
    // A network that is only multicast: nothing to scan, exit 3.
    let out = exposecheck(&["--ndjson", "--no-fingerprint", "-p", "9", "224.0.0.0/28"]);
    netns::expect_exit(&out, 3);
    assert_eq!(netns::cov(&parse_ndjson(&out.stdout).summary, "planned"), 0);
    // Excludes apply to what a name resolves to.
    let out = exposecheck(&[
        "--ndjson",
        "--no-fingerprint",
        "-p",
        "9",
        "--exclude",
        "127.0.0.1,::1",
        "localhost",
    ]);
    netns::expect_exit(&out, 3);
    assert!(parse_ndjson(&out.stdout).ports.is_empty());
}

/// Checks one interrupted output of `format`.
fn valid_interrupted(format: &str, out: &Output) -> Result<(), String> {
    let text = std::str::from_utf8(&out.stdout).map_err(|e| format!("not UTF-8: {e}"))?;
    let caught = std::panic::catch_unwind(|| match format {
        "json" => {
            let doc: Value = serde_json::from_str(text).expect("one JSON document");
            validate_json(&doc);
            assert_eq!(doc["scan"]["interrupted"], true, "interrupted flag");
        }
        "ndjson" => {
            validate_ndjson(text);
            assert_eq!(parse_ndjson(text.as_bytes()).summary["interrupted"], true);
        }
        "sarif" => validate_sarif(&serde_json::from_str(text).expect("SARIF is JSON")),
        _ => {
            let opt = roxmltree::ParsingOptions {
                allow_dtd: true,
                ..roxmltree::ParsingOptions::default()
            };
            roxmltree::Document::parse_with_options(text, opt).expect("nmap-xml parses");
        }
    });
    caught.map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "invalid output".into())
    })
}

/// SIGINT 0, 50, 200 and 1000 ms into a scan of 100 silent ports always
/// ends with exit 130 and valid output, in every machine format.
#[test]
fn ctrl_c_at_any_moment_leaves_valid_output() {
    let farm = hs::loopback(Kind::Silent, 100);
    let ports = farm
        .ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut failures = Vec::new();
    for format in ["json", "ndjson", "sarif", "nmap-xml"] {
        for delay in [0u64, 50, 200, 1000] {
            let mut child = Command::new(BIN)
                .args(["--format", format, "--no-canary", "--probe-timeout", "8000"])
                .args(["-p", &ports, "127.0.0.1"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            let drain = |r: Box<dyn Read + Send>| {
                std::thread::spawn(move || {
                    let mut r = r;
                    let mut v = Vec::new();
                    let _ = r.read_to_end(&mut v);
                    v
                })
            };
            let out_t = drain(Box::new(child.stdout.take().expect("stdout")));
            let err_t = drain(Box::new(child.stderr.take().expect("stderr")));
            std::thread::sleep(Duration::from_millis(delay));
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            let sent = Instant::now();
            let status = loop {
                if let Some(st) = child.try_wait().expect("try_wait") {
                    break st;
                }
                if sent.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                    break child.wait().expect("wait");
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let out = Output {
                status,
                stdout: out_t.join().unwrap_or_default(),
                stderr: err_t.join().unwrap_or_default(),
            };
            // At 0 ms the signal can land before the handler exists (the
            // loader, flag parsing): the default action ends the process,
            // and it must not have written anything by then.
            let early =
                delay == 0 && out.status.signal() == Some(libc::SIGINT) && out.stdout.is_empty();
            let res = if early {
                Ok(())
            } else if out.status.code() != Some(130) {
                Err(format!("exit {:?}", out.status))
            } else {
                valid_interrupted(format, &out)
            };
            if let Err(e) = res {
                failures.push(format!(
                    "{format} after {delay} ms: {e}\n{}",
                    netns::show(&out)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
