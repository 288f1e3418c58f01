//! Command-line and input-file handling through the binary (loopback only):
//! numeric flags at their extremes, oversized `-p`, `-iL` and policies,
//! messages for `host:port`, URLs and zone ids, control characters from
//! files, one reader of stdin, unknown `[severity]` rules, and names that
//! lead to loopback (`localhost`).

use super::hostile::measure;
use super::hostile_servers::{self as hs, Kind};
use super::netns::{self, parse_ndjson, BIN};
use std::io::Write;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs exposecheck with `args` (stdin closed), at most 60 s.
fn run(args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    measure(c, Duration::from_secs(60)).out
}

/// Runs exposecheck with `input` on stdin.
fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    netns::run_limited(c, Some(input.to_vec()), Duration::from_secs(60))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 2 with one stderr line containing every one of `want`, no panic.
fn refused(out: &Output, want: &[&str]) -> Result<(), String> {
    let err = stderr(out);
    let mut why = Vec::new();
    if out.status.code() != Some(2) {
        why.push(format!("exit {:?}", out.status.code()));
    }
    if err.lines().count() != 1 {
        why.push(format!("{} stderr lines", err.lines().count()));
    }
    if err.contains("panicked") {
        why.push("panicked".into());
    }
    for w in want {
        if !err.contains(w) {
            why.push(format!("stderr does not say {w:?}"));
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(format!("{}; stderr: {err:?}", why.join(", ")))
    }
}

/// Every numeric flag at its extremes: a one-line usage error naming the
/// flag and its range, never a panic, nothing reaches the target; values at
/// the edges of the ranges run.
#[test]
fn numeric_flags_at_their_extremes() {
    let farm = hs::loopback(Kind::Silent, 1);
    let port = farm.ports[0].to_string();
    let (u64max, usizemax) = (u64::MAX.to_string(), usize::MAX.to_string());
    let mut failures = Vec::new();
    for (flag, v) in [
        ("--rate", "1e-20"),
        ("--rate", "5e-324"),
        ("--rate", "inf"),
        ("--rate", "-inf"),
        ("--rate", "NaN"),
        ("--rate", "-3"),
        ("--rate", "1e308"),
        ("--host-rate", "1e-20"),
        ("--host-rate", "5e-324"),
        ("--host-rate", "0"),
        ("--timeout", "0"),
        ("--timeout", &u64max),
        ("--probe-timeout", &u64max),
        ("--probe-timeout", "99"),
        ("--dns-timeout", "0"),
        ("--dns-timeout", &u64max),
        ("--probe-bytes", &usizemax),
        ("--probe-bytes", "255"),
        ("--concurrency", "0"),
        ("--concurrency", &usizemax),
        ("--max-per-host", "0"),
        ("--max-per-host", &usizemax),
        ("--threads", "0"),
        ("--threads", &usizemax),
        ("--max-addrs-per-name", "0"),
        ("--max-addrs-per-name", &usizemax),
    ] {
        let out = run(&["--ndjson", "-p", &port, &format!("{flag}={v}"), "127.0.0.1"]);
        if let Err(e) = refused(&out, &[flag, " to "]) {
            failures.push(format!("{flag} {v}: {e}"));
        }
    }
    assert_eq!(farm.accepts(), 0, "a refused run connected");
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The edges of the ranges are accepted and the run ends normally.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    for extra in [
        &["--rate", "10000000", "--host-rate", "10000000"][..],
        &["--retries", "255", "--timeout", "1"],
        &["--timeout", "3600000", "--probe-timeout", "3600000"],
        &["--dns-timeout", "600000", "--probe-bytes", "67108864"],
        &["--concurrency", "1000000", "--max-per-host", "1000000"],
        &["--threads", "256", "--max-addrs-per-name", "1000000"],
        &[
            "--seed",
            &u64max,
            "--top-ports",
            "65535",
            "--shard",
            "0/65535",
        ],
    ] {
        let mut args = vec!["--ndjson", "--no-fingerprint", "--fail-on", "none"];
        if !extra.contains(&"--top-ports") {
            args.extend(["-p", &closed_port]);
        }
        args.extend(extra);
        args.push("127.0.0.1");
        let out = run(&args);
        assert!(
            !stderr(&out).contains("panicked"),
            "{extra:?}: {}",
            netns::show(&out)
        );
        netns::expect_exit(&out, 0);
        parse_ndjson(&out.stdout);
    }
}

/// `-p` of 60,000 items that each name every port (120 KB, the size of
/// argument Linux allows) parses in bounded memory and time.
#[test]
fn a_huge_port_list_stays_small() {
    let spec = vec!["-"; 60_000].join(",");
    let mut c = Command::new(BIN);
    c.args([
        "--ndjson",
        "--no-fingerprint",
        "--fail-on",
        "none",
        "--shard",
        "0/4096",
        "-p",
        &spec,
        "127.0.0.1",
    ]);
    let m = measure(c, Duration::from_secs(30));
    netns::expect_exit(&m.out, 0);
    let nd = parse_ndjson(&m.out.stdout);
    assert_eq!(nd.summary["scan"]["ports"], "1-65535", "{}", nd.summary);
    assert!(m.peak_kib < 100 * 1024, "peak RSS {} KiB", m.peak_kib);
    assert!(m.wall < Duration::from_secs(20), "{:?}", m.wall);
}

/// `-iL` files past the bounds (64 MiB, 2^20 targets) fail early with one
/// line, in bounded memory; a 2^20-line file of comments is read lazily.
#[test]
fn oversized_target_files_are_refused_early() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let line = format!("# {}\n", "x".repeat(1020));
        for _ in 0..(65 << 10) {
            f.write_all(line.as_bytes()).unwrap();
        }
    }
    let many = dir.path().join("many.txt");
    std::fs::write(&many, "127.0.0.1\n".repeat((1 << 20) + 1)).unwrap();
    let big_s = big.to_string_lossy().into_owned();
    let many_s = many.to_string_lossy().into_owned();
    for (flag, file, want) in [
        ("-iL", &big_s, "larger than 64 MiB"),
        ("--exclude-file", &big_s, "larger than 64 MiB"),
        ("-iL", &many_s, "more than 1048576 targets"),
    ] {
        let mut c = Command::new(BIN);
        c.args(["--ndjson", "-p", "9", flag, file, "127.0.0.1"]);
        let m = measure(c, Duration::from_secs(60));
        refused(&m.out, &[file, want]).unwrap_or_else(|e| panic!("{flag} {file}: {e}"));
        assert!(
            m.peak_kib < 256 * 1024,
            "{flag} {file}: peak RSS {} KiB",
            m.peak_kib
        );
    }
}

/// What the user typed and what to write instead.
#[test]
fn misspelled_targets_say_what_to_write() {
    for (token, want) in [
        ("203.0.113.7:80", "use -p 80"),
        ("[2001:db8::1]:443", "use -p 443"),
        ("http://host.example/path", "give the host: host.example"),
        ("fe80::1%eth0", "zone ids"),
    ] {
        for args in [vec![token], vec!["--exclude", token, "127.0.0.1"]] {
            let mut full = vec!["-p", "9"];
            full.extend(&args);
            let out = run(&full);
            refused(&out, &[token, want]).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }
}

/// Control characters from `-iL`, `--exclude-file` and the policy reach
/// stderr escaped, never raw.
#[test]
fn controls_from_files_are_escaped() {
    let farm = hs::loopback(Kind::Silent, 1);
    let port = farm.ports[0].to_string();
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.txt");
    std::fs::write(&evil, "127.0.0.1\n\x1b]0;owned\x07\x1b[2J\n").unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[[expect]]\nhost = \"\\u001b[2Jx\"\nport = 22\nreason = \"r\"\n",
    )
    .unwrap();
    let rule = dir.path().join("rule.toml");
    std::fs::write(&rule, "[severity]\n\"a\\u001b[2J\" = \"low\"\n").unwrap();
    let evil_s = evil.to_string_lossy().into_owned();
    for args in [
        vec!["-iL", evil_s.as_str()],
        vec!["--exclude-file", evil_s.as_str(), "127.0.0.1"],
        vec!["--policy", policy.to_str().unwrap(), "127.0.0.1"],
        vec!["--policy", rule.to_str().unwrap(), "127.0.0.1"],
    ] {
        let mut full = vec!["--ndjson", "-p", &port];
        full.extend(&args);
        let out = run(&full);
        refused(&out, &["\\x1b[2J"]).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(
            !out.stderr.iter().any(|&b| b == 0x1b || b == 0x07),
            "{args:?}: raw control bytes on stderr: {:?}",
            stderr(&out)
        );
    }
    assert_eq!(farm.accepts(), 0);
}

/// One stdin per run: `-iL - --exclude-file -` is refused, not an empty
/// exclusion list.
#[test]
fn stdin_is_read_by_one_flag() {
    let out = run_stdin(
        &["-p", "9", "-iL", "-", "--exclude-file", "-"],
        b"127.0.0.1\n",
    );
    refused(&out, &["-iL and --exclude-file", "once"]).unwrap();
    let out = run_stdin(
        &[
            "--ndjson",
            "--no-fingerprint",
            "-p",
            "9",
            "--exclude-file",
            "-",
            "127.0.0.1",
        ],
        b"127.0.0.1\n",
    );
    netns::expect_exit(&out, 3);
    assert!(
        parse_ndjson(&out.stdout).ports.is_empty(),
        "stdin exclusion ignored"
    );
}

/// A `[severity]` override of a rule that does not exist is exit 2 naming
/// it, before any connection; real rule ids (catalogue and fixed) pass.
#[test]
fn unknown_severity_rules_are_refused() {
    let farm = hs::loopback(Kind::Silent, 1);
    let port = farm.ports[0].to_string();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[severity]\nredis-unauthenticted = \"low\"\n").unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[severity]\nredis-unauthenticated = \"low\"\nunexpected-open-port = \"info\"\n\
         dual-stack-mismatch = \"low\"\npolicy-stale-entry = \"info\"\n",
    )
    .unwrap();
    let out = run(&[
        "--ndjson",
        "-p",
        &port,
        "--policy",
        bad.to_str().unwrap(),
        "127.0.0.1",
    ]);
    refused(&out, &["redis-unauthenticted", "bad.toml:2"]).unwrap();
    assert_eq!(farm.accepts(), 0, "scanned despite the bad policy");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let out = run(&[
        "--ndjson",
        "--no-fingerprint",
        "-p",
        &closed_port,
        "--policy",
        good.to_str().unwrap(),
        "127.0.0.1",
    ]);
    netns::expect_exit(&out, 0);
}

/// `localhost` is refused unless `--allow-loopback` (nothing connects); with
/// it the results carry the name. Literal loopback, also as
/// `::ffff:127.0.0.1`, is scanned as 127.0.0.1.
#[test]
fn loopback_by_name_needs_allow_loopback() {
    let farm = hs::loopback(Kind::Rst, 1);
    let port = farm.ports[0].to_string();
    let base = [
        "--ndjson",
        "--no-fingerprint",
        "--fail-on",
        "none",
        "-p",
        &port,
    ];
    let with = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        run(&args)
    };
    let out = with(&["localhost"]);
    refused(&out, &["localhost", "loopback", "--allow-loopback"]).unwrap();
    assert_eq!(farm.accepts(), 0, "refused, yet connected");

    let out = with(&["--allow-loopback", "localhost"]);
    netns::expect_exit(&out, 0);
    let nd = parse_ndjson(&out.stdout);
    let v4: Vec<_> = nd.ports.iter().filter(|p| p["ip"] == "127.0.0.1").collect();
    assert_eq!(v4.len(), 1, "{}", netns::show(&out));
    assert_eq!(v4[0]["host"], "localhost");
    assert_eq!(v4[0]["state"], "open");

    let t = Instant::now();
    let out = with(&["::ffff:127.0.0.1"]);
    netns::expect_exit(&out, 0);
    let nd = parse_ndjson(&out.stdout);
    assert_eq!(nd.ports.len(), 1, "{}", netns::show(&out));
    assert_eq!(nd.ports[0]["ip"], "127.0.0.1");
    assert!(t.elapsed() < Duration::from_secs(30));
}
