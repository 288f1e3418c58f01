//! `merge` and `--baseline` on hostile or mismatched inputs, on loopback:
//! two different files for one shard, shards started a month apart, shards
//! that read different `-iL` contents at one path, crafted shard markers,
//! files cut short; and the peak memory of a large baseline and a large shard
//! (measured per child with wait4, so parallel tests do not blur it).

use crate::netns::{show, BIN};
use serde_json::Value;
use std::io::{BufWriter, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Loopback ports closed right now (bound, then released).
fn closed_ports(n: usize) -> String {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("addr").port().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    let rest = match args.first() {
        Some(&"merge") => {
            cmd.arg("merge");
            &args[1..]
        }
        _ => args,
    };
    cmd.args(["-q", "--no-policy"])
        .args(rest)
        .stdin(Stdio::null())
        .output()
        .expect("run exposecheck")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit `want`, one `exposecheck: error:` line, no panic.
fn refused(o: &Output, want: i32, says: &str) {
    assert_eq!(code(o), want, "{}", show(o));
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("exposecheck: error: "), "{err}");
    assert!(err.contains(says), "expected {says:?} in: {err}");
}

/// Scans shard `shard` of 127.0.0.1 over `ports` (closed ones listed) into `out`.
fn shard(out: &Path, shard: &str, ports: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec![
        "--ndjson",
        "--no-fingerprint",
        "--no-canary",
        "--show",
        "closed",
        "--timeout",
        "300",
        "-p",
        ports,
        "--shard",
        shard,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    if !extra.contains(&"-iL") {
        args.push("127.0.0.1");
    }
    let o = run(&args);
    assert!(matches!(code(&o), 0 | 1), "shard scan failed\n{}", show(&o));
    out.to_path_buf()
}

/// Copies `from` to `to` with the summary line changed by `edit`.
fn edit_summary(from: &Path, to: &Path, edit: impl Fn(&mut Value)) -> PathBuf {
    let text = std::fs::read_to_string(from).unwrap();
    let out: String = text
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v["type"] == "summary" {
                edit(&mut v);
            }
            format!("{v}\n")
        })
        .collect();
    std::fs::write(to, out).unwrap();
    to.to_path_buf()
}

fn summary(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let last = text.lines().last().expect("a summary line");
    serde_json::from_str(last).unwrap()
}

fn merge(files: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec!["merge", "--ndjson"];
    args.extend(extra);
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    run(&args)
}

#[test]
fn one_shard_given_twice_counts_once_only_when_identical() {
    let dir = tempfile::tempdir().unwrap();
    let ports = closed_ports(4);
    let seed = ["--seed", "11"];
    let s0 = shard(&dir.path().join("s0.ndjson"), "0/2", &ports, &seed);
    let s1 = shard(&dir.path().join("s1.ndjson"), "1/2", &ports, &seed);
    let good = merge(&[&s0, &s1], &[]);
    assert!(matches!(code(&good), 0 | 1), "{}", show(&good));

    let copy = dir.path().join("s0-copy.ndjson");
    std::fs::copy(&s0, &copy).unwrap();
    let o = merge(&[&s0, &s1, &copy], &[]);
    assert_eq!(
        code(&o),
        code(&good),
        "an identical copy counts once\n{}",
        show(&o)
    );
    let merged = crate::netns::parse_ndjson(&o.stdout);
    let single = crate::netns::parse_ndjson(&good.stdout);
    assert_eq!(merged.ports.len(), single.ports.len(), "no record twice");
    assert_eq!(merged.summary["coverage"], single.summary["coverage"]);

    // A retried pod: same shard, another run (here: other retry counts).
    let rerun = edit_summary(&s0, &dir.path().join("s0-rerun.ndjson"), |v| {
        v["coverage"]["retries"] = Value::from(v["coverage"]["retries"].as_u64().unwrap() + 1);
    });
    refused(&merge(&[&s0, &s1, &rerun], &[]), 2, "both shard 0/2");
    refused(&merge(&[&rerun, &s1, &s0], &[]), 2, "both shard 0/2");
}

#[test]
fn shards_started_a_month_apart_need_max_skew() {
    let dir = tempfile::tempdir().unwrap();
    let ports = closed_ports(3);
    let seed = ["--seed", "12"];
    let s0 = shard(&dir.path().join("s0.ndjson"), "0/2", &ports, &seed);
    let s1 = shard(&dir.path().join("s1.ndjson"), "1/2", &ports, &seed);
    let start = summary(&s1)["scan"]["start"].as_str().unwrap().to_string();
    // 30 days earlier, same time of day (month arithmetic on the date only).
    let secs = 30 * 86_400;
    let old = edit_summary(&s1, &dir.path().join("s1-old.ndjson"), |v| {
        v["scan"]["start"] = Value::from(shift(&start, -secs));
    });
    refused(&merge(&[&s0, &old], &[]), 2, "--max-skew");
    let o = merge(&[&s0, &old], &["--max-skew", "31d"]);
    assert!(matches!(code(&o), 0 | 1), "{}", show(&o));
    let nd = crate::netns::parse_ndjson(&o.stdout);
    assert_eq!(
        nd.summary["scan"]["start"],
        shift(&start, -secs),
        "the merged scan starts with its earliest shard"
    );
    refused(
        &merge(&[&s0, &old], &["--max-skew", "29d"]),
        2,
        "--max-skew",
    );
    refused(&merge(&[&s0, &s1], &["--max-skew", "soon"]), 2, "soon");
}

/// `YYYY-MM-DDTHH:MM:SSZ` moved by `by` seconds.
fn shift(t: &str, by: i64) -> String {
    let secs = exposecheck::output::parse_rfc3339(t).expect("rfc3339") + by;
    exposecheck::output::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(secs as u64))
}

#[test]
fn shards_of_changed_input_lists_are_different_scans() {
    let dir = tempfile::tempdir().unwrap();
    let ports = closed_ports(3);
    let list = dir.path().join("hosts.txt");
    let list_s = list.to_str().unwrap();
    for seed in [None, Some("13")] {
        let mut extra = vec!["-iL", list_s];
        if let Some(s) = seed {
            extra.extend(["--seed", s]);
        }
        std::fs::write(&list, "127.0.0.1\n").unwrap();
        let a0 = shard(&dir.path().join("a0.ndjson"), "0/2", &ports, &extra);
        let a1 = shard(&dir.path().join("a1.ndjson"), "1/2", &ports, &extra);
        // Same targets, written differently: still the same scan.
        std::fs::write(&list, "# the same host\n\n127.0.0.1\n").unwrap();
        let c1 = shard(&dir.path().join("c1.ndjson"), "1/2", &ports, &extra);
        std::fs::write(&list, "127.0.0.2\n").unwrap();
        let b1 = shard(&dir.path().join("b1.ndjson"), "1/2", &ports, &extra);

        let o = merge(&[&a0, &a1], &[]);
        assert!(matches!(code(&o), 0 | 1), "{seed:?}\n{}", show(&o));
        let o = merge(&[&a0, &c1], &[]);
        assert!(
            matches!(code(&o), 0 | 1),
            "{seed:?}: reformatted list\n{}",
            show(&o)
        );
        refused(&merge(&[&a0, &b1], &[]), 2, "another scan");
        if seed.is_none() {
            assert_ne!(
                summary(&a0)["scan"]["seed"],
                summary(&b1)["scan"]["seed"],
                "the derived seed follows the list's contents"
            );
            assert_eq!(summary(&a0)["scan"]["seed"], summary(&c1)["scan"]["seed"]);
        }
    }
}

#[test]
fn crafted_markers_and_cut_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let ports = closed_ports(3);
    let whole = shard(
        &dir.path().join("whole.ndjson"),
        "0/1",
        &ports,
        &["--seed", "14"],
    );
    let good = merge(&[&whole], &[]);
    assert!(matches!(code(&good), 0 | 1), "{}", show(&good));
    for (i, m) in [
        "5/2",
        "0/1000000000000",
        "-1/2",
        "1/0",
        "0/0",
        "0/65537",
        "18446744073709551615/18446744073709551615",
        "99999999999999999999999/1",
        "all/1",
        "0/1/2",
        "",
    ]
    .iter()
    .enumerate()
    {
        let bad = edit_summary(&whole, &dir.path().join(format!("m{i}.ndjson")), |v| {
            v["scan"]["shard"] = Value::from(*m);
        });
        refused(&merge(&[&bad], &[]), 2, "shard marker");
        refused(&merge(&[&whole, &bad], &[]), 2, "shard marker");
    }
    let bad = edit_summary(&whole, &dir.path().join("num.ndjson"), |v| {
        v["scan"]["shard"] = Value::from(5);
    });
    refused(&merge(&[&bad], &[]), 2, "not exposecheck NDJSON");

    // Cut inside the summary line, inside a port line, and after a whole line.
    let text = std::fs::read(&whole).unwrap();
    let lines: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect();
    assert!(lines.len() >= 3, "port lines and a summary");
    for (name, at) in [
        ("summary", text.len() - 30),
        ("port", lines[0] - 10),
        ("boundary", lines[1] + 1),
    ] {
        let cut = dir.path().join(format!("cut-{name}.ndjson"));
        std::fs::write(&cut, &text[..at]).unwrap();
        let o = merge(&[&cut], &[]);
        assert_eq!(code(&o), 3, "cut in {name}\n{}", show(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let junk = dir.path().join("junk.ndjson");
    std::fs::write(&junk, b"\x00\xff\xfe garbage\n").unwrap();
    refused(&merge(&[&junk], &[]), 2, "not exposecheck NDJSON");
    refused(
        &merge(&[Path::new("/dev/null")], &[]),
        2,
        "not a regular file",
    );
}

/// Peak RSS (KiB) of `cmd`, which must exit with one of `codes`; its
/// stdout goes to `out`. The child is reaped by `wait4` (which gives its own
/// rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(cmd: Command, out: &Path, codes: &[i32]) -> i64 {
    // GNU time forks the binary from a small process: the child's own
    // `ru_maxrss` would include this (large, multi-threaded) test process,
    // whose memory a vfork-spawned child shares until it execs.
    let rss_file = out.with_extension("rss");
    let mut cmd = {
        let mut t = Command::new("/usr/bin/time");
        t.args(["-f", "%M", "-o"])
            .arg(&rss_file)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        t
    };
    let file = std::fs::File::create(out).unwrap();
    cmd.stdin(Stdio::null()).stdout(file).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let stderr = child.stderr.take().unwrap();
    let err_t = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let start = Instant::now();
    loop {
        // SAFETY: as above; WNOHANG polls so the time limit can be kept.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{cmd:?} still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = err_t.join().unwrap();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    assert!(codes.contains(&code), "{cmd:?} exited {code}: {err}");
    let _ = usage;
    let text = std::fs::read_to_string(&rss_file).unwrap_or_default();
    text.trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {text:?}"))
}

const BOUND_KIB: i64 = 80 * 1024;

#[test]
fn a_large_baseline_and_a_large_shard_stay_small() {
    let dir = tempfile::tempdir().unwrap();
    // 50 MB of NDJSON findings, as a real run writes them.
    let base = dir.path().join("base.ndjson");
    let mut w = BufWriter::new(std::fs::File::create(&base).unwrap());
    let mut n = 0u64;
    let mut size = 0usize;
    while size < 50_000_000 {
        let line = format!(
            concat!(
                r#"{{"type":"port","ip":"10.{}.{}.{}","port":6379,"proto":"tcp","state":"open","reason":"syn-ack","rtt_ms":0.8,"tries":1,"#,
                r#""service":{{"name":"redis","product":"Redis","version":"7.2.4","auth":"none","confidence":"probed","banner":"{}"}},"#,
                r#""finding":{{"rule":"redis-unauthenticated","severity":"critical","title":"Redis accepts commands without authentication","#,
                r#""evidence":"INFO answered without AUTH","fingerprint":"{:032x}","remediation":{{"config":["bind 127.0.0.1 -::1","protected-mode yes"],"#,
                r#""iptables":["iptables -I INPUT -p tcp --dport 6379 ! -s 127.0.0.1 -j DROP"],"ufw":["ufw deny 6379/tcp"]}}}}}}"#,
                "\n"
            ),
            (n >> 16) & 255,
            (n >> 8) & 255,
            n & 255,
            "x".repeat(600),
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        size += line.len();
        w.write_all(line.as_bytes()).unwrap();
        n += 1;
    }
    w.write_all(b"{\"type\":\"summary\",\"schema\":\"exposecheck/1\"}\n")
        .unwrap();
    drop(w);
    let ports = closed_ports(1);
    let mut cmd = Command::new(BIN);
    cmd.args([
        "-q",
        "--no-policy",
        "--json",
        "--no-fingerprint",
        "-p",
        &ports,
    ])
    .args(["--baseline", base.to_str().unwrap(), "127.0.0.1"]);
    let out = dir.path().join("out.json");
    let rss = peak_rss_kib(cmd, &out, &[0]);
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        doc["not_scanned"].as_array().map(Vec::len),
        Some(n as usize),
        "every baseline finding (other hosts) is not scanned, none resolved"
    );
    assert!(
        rss < BOUND_KIB,
        "--baseline of {size} bytes: peak RSS {rss} KiB"
    );

    // A 400,000-record shard (about 45 MB).
    let records = 400_000u64;
    let shard = dir.path().join("shard.ndjson");
    let mut w = BufWriter::new(std::fs::File::create(&shard).unwrap());
    for i in 0..records {
        writeln!(
            w,
            r#"{{"type":"port","ip":"10.0.{}.{}","port":{},"proto":"tcp","state":"closed","reason":"conn-refused","rtt_ms":0.1,"tries":1}}"#,
            i / 65535 / 256,
            i / 65535 % 256,
            i % 65535 + 1
        )
        .unwrap();
    }
    writeln!(
        w,
        r#"{{"type":"summary","schema":"exposecheck/1","scan":{{"version":"0.1.0","targets":["10.0.0.0/29"],"ports":"1-65535","start":"2026-12-01T00:00:00Z","seed":1,"shard":"0/1","interrupted":false}},"coverage":{{"planned":{records},"attempted":{records},"open":0,"closed":{records},"filtered":0,"unresolved":0,"unresolved_hosts":[],"requeued":0,"retries":0}},"interrupted":false}}"#
    )
    .unwrap();
    drop(w);
    let mut cmd = Command::new(BIN);
    cmd.args(["merge", "-q", "--no-policy", "--ndjson", "--show", "closed"])
        .arg(&shard);
    let out = dir.path().join("merged.ndjson");
    let rss = peak_rss_kib(cmd, &out, &[0]);
    let merged = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        merged
            .lines()
            .filter(|l| l.contains("\"type\":\"port\""))
            .count() as u64,
        records
    );
    assert!(
        rss < BOUND_KIB,
        "merge of {records} records: peak RSS {rss} KiB"
    );
}
