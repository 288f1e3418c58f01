//! Shards and `exposecheck merge`, end to end in a network namespace.
//!
//! One seeded scan of two addresses (IPv4 and IPv6 of the target) over 40
//! ports, with listeners, closed ports and a few DROPped ones, is run whole
//! and as N ∈ {1, 2, 5} shards. The shards' port records must partition the
//! whole run's (same records, none twice); merging the shard files must give
//! the whole run's open ports, findings and exit code. A missing shard or an
//! interrupted one makes `merge` exit 3; shards of different seeds exit 2.

use crate::netns::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const PORTS: &str = "3000-3039";
const LISTEN: [u16; 3] = [3003, 3017, 3031];
const SEED: &str = "4242";

/// One record per (ip, port): state, reason, and the finding's rule if any.
type Records = BTreeMap<(IpAddr, u16), (String, String, Option<String>)>;

fn record(v: &Value) -> ((IpAddr, u16), (String, String, Option<String>)) {
    let p = port_line(v);
    let rule = v
        .get("finding")
        .and_then(|f| f.get("rule"))
        .and_then(Value::as_str)
        .map(str::to_string);
    ((p.ip, p.port), (p.state, p.reason, rule))
}

fn records(nd: &Ndjson) -> Records {
    let mut m = Records::new();
    for v in &nd.ports {
        let (k, r) = record(v);
        assert!(
            m.insert(k, r).is_none(),
            "{k:?} reported twice in one output"
        );
    }
    m
}

fn open_ports(r: &Records) -> BTreeSet<(IpAddr, u16)> {
    r.iter()
        .filter(|(_, (state, _, _))| state == "open")
        .map(|(k, _)| *k)
        .collect()
}

fn findings(r: &Records) -> BTreeMap<(IpAddr, u16), String> {
    r.iter()
        .filter_map(|(k, (_, _, rule))| rule.clone().map(|rule| (*k, rule)))
        .collect()
}

struct Setup {
    net: TestNet,
    targets: Vec<String>,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let mut net = TestNet::new();
    net.listen(&LISTEN);
    for tables in ["iptables", "ip6tables"] {
        net.run_in_target(&[
            tables,
            "-w",
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "3020:3022",
            "-j",
            "DROP",
        ]);
    }
    let targets = vec![net.target_v4().to_string(), net.target_v6().to_string()];
    Setup {
        net,
        targets,
        dir: tempfile::tempdir().expect("tempdir"),
    }
}

/// Runs one scan (the whole one when `shard` is None) with `seed`, writing
/// NDJSON to `out`; returns the process output.
fn scan(s: &Setup, seed: &str, shard: Option<String>, out: &Path) -> Output {
    let mut args: Vec<String> = [
        "--ndjson",
        "--show",
        "closed,filtered",
        "--no-fingerprint",
        "--timeout",
        "300",
        "--retries",
        "1",
        "-p",
        PORTS,
        "--seed",
        seed,
        "-o",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.push(out.display().to_string());
    if let Some(k) = shard {
        args.extend(["--shard".to_string(), k]);
    }
    args.extend(s.targets.iter().cloned());
    let o = s.net.exposecheck(&args);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "scan failed\n{}",
        show(&o)
    );
    o
}

fn read(path: &Path) -> Ndjson {
    parse_ndjson(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn merge(files: &[PathBuf]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["merge", "--ndjson", "--show", "closed,filtered"]);
    cmd.args(files);
    run_limited(cmd, None, Duration::from_secs(60))
}

fn shard_files(s: &Setup, seed: &str, n: u64) -> Vec<PathBuf> {
    (0..n)
        .map(|k| {
            let path = s.dir.path().join(format!("seed{seed}-{k}of{n}.ndjson"));
            scan(s, seed, Some(format!("{k}/{n}")), &path);
            path
        })
        .collect()
}

#[test]
fn shards_partition_the_scan_and_merge_matches_the_single_run() {
    let s = setup();
    let whole_path = s.dir.path().join("whole.ndjson");
    let whole_out = scan(&s, SEED, None, &whole_path);
    let whole = records(&read(&whole_path));
    assert_eq!(whole.len(), 80, "2 addresses × 40 ports");
    assert_eq!(open_ports(&whole).len(), 2 * LISTEN.len());
    for n in [1u64, 2, 5] {
        let files = shard_files(&s, SEED, n);
        let mut union = Records::new();
        for f in &files {
            let nd = read(f);
            assert_eq!(
                cov(&nd.summary, "attempted") as usize,
                nd.ports.len(),
                "{}: every concluded pair is listed",
                f.display()
            );
            for (k, r) in records(&nd) {
                assert!(
                    union.insert(k, r).is_none(),
                    "N={n}: {k:?} scanned by two shards"
                );
            }
        }
        assert_eq!(
            union, whole,
            "N={n}: the shards' union differs from the single run"
        );

        let merged_out = merge(&files);
        assert_eq!(
            merged_out.status.code(),
            whole_out.status.code(),
            "N={n}: merge exit code differs\n{}",
            show(&merged_out)
        );
        let merged = records(&parse_ndjson(&merged_out.stdout));
        assert_eq!(open_ports(&merged), open_ports(&whole), "N={n}: open ports");
        assert_eq!(findings(&merged), findings(&whole), "N={n}: findings");
    }
}

#[test]
fn merge_refuses_missing_interrupted_and_foreign_shards() {
    let s = setup();
    let files = shard_files(&s, SEED, 5);

    let missing = merge(&files[..4]);
    expect_exit(&missing, 3);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("missing"),
        "{}",
        show(&missing)
    );

    // Shard 2 as an interrupted run leaves it: its summary says so.
    let text = std::fs::read_to_string(&files[2]).unwrap();
    let cut: String = text
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v["type"] == "summary" {
                v["interrupted"] = Value::Bool(true);
                v["scan"]["interrupted"] = Value::Bool(true);
            }
            format!("{v}\n")
        })
        .collect();
    let cut_path = s.dir.path().join("interrupted-2of5.ndjson");
    std::fs::write(&cut_path, cut).unwrap();
    let mut with_cut = files.clone();
    with_cut[2] = cut_path;
    expect_exit(&merge(&with_cut), 3);

    // A shard that never finished has no summary line at all.
    let text = std::fs::read_to_string(&files[3]).unwrap();
    let truncated: String = text
        .lines()
        .filter(|l| !l.contains("\"type\":\"summary\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let trunc_path = s.dir.path().join("truncated-3of5.ndjson");
    std::fs::write(&trunc_path, truncated).unwrap();
    let mut with_trunc = files.clone();
    with_trunc[3] = trunc_path;
    expect_exit(&merge(&with_trunc), 3);

    let mine = shard_files(&s, SEED, 2);
    let other = shard_files(&s, "4243", 2);
    let mixed = vec![mine[0].clone(), other[1].clone()];
    let foreign = merge(&mixed);
    expect_exit(&foreign, 2);
}
