//! Property test of the whole command line (issue 18): random flag
//! combinations and random input files (`-iL`, `--exclude-file`,
//! `--policy`, `--baseline`, stdin) through the binary. Every run must end
//! within [`LIMIT`], never panic, stay under a 2 GiB address space, and exit
//! 0, 1, 2, 3 or 130.
//!
//! Each run is in a network namespace of its own with only `lo` up
//! (`unshare -n`): random names cannot reach any resolver, and whatever is
//! scanned is that namespace's loopback, where nothing listens. Generated
//! values that would make a valid run slow (rates under 1,000/s, more than
//! ~100 ports, `--allow-large`) are left out; invalid ones of every kind are in.

use super::netns::BIN;
use proptest::prelude::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a run may take.
const LIMIT: Duration = Duration::from_secs(20);
/// Address-space limit of a run (`prlimit --as`).
const AS_LIMIT: u64 = 2 << 30;
/// Exit codes the binary documents.
const DOCUMENTED: [i32; 5] = [0, 1, 2, 3, 130];

/// A token that can never be a hostname (no resolver is ever asked).
fn garbage() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!-+\\--~]{0,16}".prop_map(|s| format!("{s}!")),
        // Any byte but NUL, which no argument or file line can carry to exec.
        proptest::collection::vec(1u8.., 0..24)
            .prop_map(|b| format!("{}\u{1b}[2J", String::from_utf8_lossy(&b))),
    ]
}

/// One line of a target or exclusion file.
fn target_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("127.0.0.1".to_string()),
        Just("::1".to_string()),
        Just("::ffff:127.0.0.1".to_string()),
        Just("localhost".to_string()),
        (0u8..=255).prop_map(|b| format!("127.0.0.{b}")),
        (0u8..=255, 28u8..=32).prop_map(|(b, p)| format!("127.0.1.{b}/{p}")),
        Just("127.0.0.1:80".to_string()),
        Just("[::1]:443".to_string()),
        Just("http://localhost/x".to_string()),
        Just("fe80::1%lo".to_string()),
        Just("# a comment".to_string()),
        Just(String::new()),
        Just("224.0.0.1".to_string()),
        Just("127.0.0.0/8".to_string()),
        garbage(),
    ]
}

fn target_file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(target_line(), 0..6).prop_map(|l| l.join("\n").into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

fn policy_file() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just("fail_on = \"high\"\n".to_string()),
        Just("fail_on = \"severe\"\n".to_string()),
        (target_line(), 0u32..70_000)
            .prop_map(|(h, p)| format!("[[expect]]\nhost = {h:?}\nport = {p}\nreason = \"r\"\n")),
        Just("[[expect]]\nhost = \"127.0.0.1\"\nport = 22\nreason = \"\"\n".to_string()),
        Just("[severity]\nunexpected-open-port = \"low\"\n".to_string()),
        Just("[severity]\nbogus-rule = \"low\"\n".to_string()),
        garbage().prop_map(|g| format!("{g}\n")),
    ];
    prop_oneof![
        4 => proptest::collection::vec(piece, 0..5).prop_map(|p| p.concat().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

fn baseline_file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"{}".to_vec()),
        Just(b"{\"schema\":\"exposecheck/1\",\"results\":[".to_vec()),
        Just(b"{\"type\":\"summary\"}\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

/// A numeric flag value: small, huge, negative, fractional, or not a number.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..5).prop_map(|n| n.to_string()),
        (0u64..100_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("1e3".to_string()),
        Just(String::new()),
        garbage(),
    ]
}

/// A rate: invalid of every kind, or fast enough for the run to be quick.
fn rate() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e-20".to_string()),
        Just("5e-324".to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("0".to_string()),
        Just("-3".to_string()),
        Just("1e308".to_string()),
        (1_000.0f64..1e7).prop_map(|r| r.to_string()),
        garbage(),
    ]
}

/// A port spec of at most ~100 ports when valid.
fn port_spec() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        (0u32..100).prop_map(|p| p.to_string()),
        (0u32..100, 0u32..100).prop_map(|(a, b)| format!("{a}-{b}")),
        Just(String::new()),
        Just("70000".to_string()),
        garbage(),
    ];
    proptest::collection::vec(item, 1..5).prop_map(|v| v.join(","))
}

/// The input files of one case (None: flag not given; Some: its bytes).
#[derive(Debug, Clone)]
struct Files {
    targets: Option<Vec<u8>>,
    excludes: Option<Vec<u8>>,
    policy: Option<Vec<u8>>,
    baseline: Option<Vec<u8>>,
    stdin: Vec<u8>,
    /// Which list flags read `-` (stdin) instead of a file: bit 0 -iL, bit 1 --exclude-file.
    from_stdin: u8,
}

fn files() -> impl Strategy<Value = Files> {
    (
        proptest::option::of(target_file()),
        proptest::option::of(target_file()),
        proptest::option::of(policy_file()),
        proptest::option::of(baseline_file()),
        target_file(),
        0u8..4,
    )
        .prop_map(
            |(targets, excludes, policy, baseline, stdin, from_stdin)| Files {
                targets,
                excludes,
                policy,
                baseline,
                stdin,
                from_stdin,
            },
        )
}

/// One random flag with its value(s).
fn flag() -> impl Strategy<Value = Vec<String>> {
    let with =
        |f: &'static str, v: BoxedStrategy<String>| v.prop_map(move |v| vec![f.to_string(), v]);
    let one = |f: &'static str| Just(vec![f.to_string()]);
    prop_oneof![
        with("-p", port_spec().boxed()),
        with(
            "--top-ports",
            prop_oneof![
                (0u32..60).prop_map(|n| n.to_string()),
                Just("70000".to_string()),
                garbage()
            ]
            .boxed()
        ),
        with("--rate", rate().boxed()),
        with("--host-rate", rate().boxed()),
        with("--timeout", number().boxed()),
        with("--retries", number().boxed()),
        with("--concurrency", number().boxed()),
        with("--max-per-host", number().boxed()),
        with("--threads", number().boxed()),
        with("--probe-timeout", number().boxed()),
        with("--probe-bytes", number().boxed()),
        with("--dns-timeout", number().boxed()),
        with("--max-addrs-per-name", number().boxed()),
        with("--seed", number().boxed()),
        with(
            "--shard",
            prop_oneof![
                (0u64..5, 0u64..5).prop_map(|(k, n)| format!("{k}/{n}")),
                garbage()
            ]
            .boxed()
        ),
        with(
            "--fail-on",
            prop_oneof![
                Just("none".to_string()),
                Just("info".to_string()),
                garbage()
            ]
            .boxed()
        ),
        with(
            "--format",
            prop_oneof![
                Just("json".to_string()),
                Just("sarif".to_string()),
                Just("nmap-xml".to_string()),
                Just("markdown".to_string()),
                garbage()
            ]
            .boxed()
        ),
        with(
            "--show",
            prop_oneof![
                Just("closed".to_string()),
                Just("all".to_string()),
                garbage()
            ]
            .boxed()
        ),
        with("--exclude", target_line().boxed()),
        with(
            "--timing",
            prop_oneof![
                Just("fast".to_string()),
                Just("normal".to_string()),
                garbage()
            ]
            .boxed()
        ),
        one("--json"),
        one("--ndjson"),
        one("--no-fingerprint"),
        one("--no-canary"),
        one("--allow-loopback"),
        one("--only-new"),
        one("--no-policy"),
        one("--quiet"),
        target_line().prop_map(|t| vec![t]),
    ]
}

/// Exit code of the wrapper when the namespace could not be set up.
const SETUP_FAILED: i32 = 97;

/// Runs one command line in its own network namespace; the exit code, or
/// what went wrong (over `limit`, a panic, a raw ESC, an undocumented exit).
fn check_run(args: &[String], stdin: &[u8], limit: Duration) -> Result<i32, String> {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-n",
        "--",
        "sh",
        "-c",
        "ip link set lo up || exit 97; exec \"$@\"",
        "sh",
    ])
    .args(["prlimit", &format!("--as={AS_LIMIT}"), "--", BIN])
    .args(args)
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let mut input = child.stdin.take().expect("stdin");
    let bytes = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {limit:?}; killed"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = feeder.join();
    let stderr = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    if ["unshare:", "prlimit:", "sh:"]
        .iter()
        .any(|w| stderr.starts_with(w))
        || status.code() == Some(SETUP_FAILED)
    {
        return Err(format!("the namespace wrapper failed: {stderr}"));
    }
    if stderr.contains("panicked") {
        return Err(format!("panicked: {stderr}"));
    }
    if stderr.bytes().any(|b| b == 0x1b) {
        return Err(format!("raw ESC on stderr: {stderr:?}"));
    }
    match status.code() {
        Some(c) if DOCUMENTED.contains(&c) => Ok(c),
        other => Err(format!("exit {other:?} ({status}); stderr: {stderr}")),
    }
}

/// The argument list of one case, with its files written into `dir`.
fn case_args(dir: &std::path::Path, flags: &[Vec<String>], f: &Files) -> Vec<String> {
    // Each flag once (clap refuses repeats: that case is covered by unit
    // tests and would only hide the rest); the quick defaults unless drawn.
    let mut seen = std::collections::BTreeSet::new();
    let mut args: Vec<String> = Vec::new();
    for f in flags {
        if !f[0].starts_with('-') || seen.insert(f[0].clone()) {
            args.extend(f.iter().cloned());
        }
    }
    for (k, v) in [
        ("--timing", "fast"),
        ("--probe-timeout", "500"),
        ("--dns-timeout", "1000"),
    ] {
        if !seen.contains(k) {
            args.extend([k.to_string(), v.to_string()]);
        }
    }
    let mut put = |flag: &str, name: &str, body: &Option<Vec<u8>>, stdin_bit: u8| {
        if let Some(body) = body {
            args.push(flag.into());
            if f.from_stdin & stdin_bit != 0 {
                args.push("-".into());
            } else {
                let p = dir.join(name);
                std::fs::write(&p, body).expect("write case file");
                args.push(p.to_string_lossy().into_owned());
            }
        }
    };
    put("-iL", "targets.txt", &f.targets, 1);
    put("--exclude-file", "excludes.txt", &f.excludes, 2);
    put("--policy", "policy.toml", &f.policy, 0);
    put("--baseline", "baseline.json", &f.baseline, 0);
    if f.targets.is_none() {
        args.push("127.0.0.1".into());
    }
    args.push("-o".into());
    args.push(dir.join("out").to_string_lossy().into_owned());
    args
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 80, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_command_line_ends_cleanly(
        flags in proptest::collection::vec(flag(), 0..6),
        f in files(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = case_args(dir.path(), &flags, &f);
        if let Err(why) = check_run(&args, &f.stdin, LIMIT) {
            prop_assert!(false, "exposecheck {:?}: {}", args, why);
        }
    }
}

/// The harness itself: a plain scan runs (exit 0), a bad flag is exit 2,
/// and a run that would take too long is caught and killed.
#[test]
fn the_harness_tells_runs_apart() {
    let run = |extra: &[&str], limit: Duration| {
        let mut a: Vec<String> = ["--timing", "fast", "--no-fingerprint", "-p", "1-50"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push("127.0.0.1".to_string());
        check_run(&a, b"", limit)
    };
    assert_eq!(run(&[], LIMIT), Ok(0));
    assert_eq!(run(&["--rate", "1e-20"], LIMIT), Ok(2));
    let r = run(&["--rate", "0.001"], Duration::from_secs(2));
    assert!(r.as_ref().is_err_and(|e| e.contains("killed")), "{r:?}");
}
