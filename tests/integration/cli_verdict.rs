//! The verdict's command-line contract on loopback: exit codes and
//! `--fail-on`, baselines (`new`/`unchanged`/resolved, `--only-new`),
//! `policy init` writing a policy that the next run accepts, and `merge` of
//! shard outputs reproducing the single run.

use super::schema::{validate_json, validate_ndjson};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A fake Redis without auth (written from the RESP spec): PING → +PONG,
/// INFO → a bulk string with `redis_version`. Stops when dropped.
struct FakeRedis {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeRedis {
    fn start() -> FakeRedis {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        std::thread::spawn(move || {
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                            let mut buf = [0u8; 4096];
                            while let Ok(n) = s.read(&mut buf) {
                                if n == 0 {
                                    break;
                                }
                                let req = String::from_utf8_lossy(&buf[..n]).to_ascii_uppercase();
                                let reply: &[u8] = if req.contains("INFO") {
                                    b"$48\r\n# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n\r\n"
                                } else if req.contains("PING") {
                                    b"+PONG\r\n"
                                } else {
                                    b"-ERR unknown command\r\n"
                                };
                                if s.write_all(reply).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeRedis { port, stop }
    }
}

impl Drop for FakeRedis {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_exposecheck"));
    let rest = match args.first() {
        Some(&"merge") => {
            cmd.arg("merge");
            &args[1..]
        }
        _ => args,
    };
    cmd.args(["-q", "--no-policy"])
        .args(rest)
        .output()
        .expect("run exposecheck")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn json(o: &Output) -> Value {
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    validate_json(&v);
    v
}

fn finding(doc: &Value, port: u16) -> &Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["port"] == port)
        .map(|r| &r["finding"])
        .unwrap_or_else(|| panic!("no result for {port}: {doc}"))
}

fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn exit_codes_follow_fail_on() {
    let redis = FakeRedis::start();
    let ports = redis.port.to_string();
    let out = run(&["--json", "-p", &ports, "127.0.0.1"]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json(&out);
    assert_eq!(finding(&doc, redis.port)["rule"], "redis-unauthenticated");
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(
        code(&run(&[
            "--json",
            "--fail-on",
            "none",
            "-p",
            &ports,
            "127.0.0.1"
        ])),
        0
    );
    assert_eq!(
        code(&run(&[
            "--json",
            "--fail-on",
            "critical",
            "-p",
            &ports,
            "127.0.0.1"
        ])),
        1
    );
    let closed = closed_port().to_string();
    assert_eq!(
        code(&run(&["--json", "-p", &closed, "127.0.0.1"])),
        0,
        "nothing open: clean"
    );
    let out = run(&["--json", "-p", &closed, "127.0.0.1", "nonexistent.invalid"]);
    assert_eq!(
        code(&out),
        3,
        "an unresolved host makes the scan incomplete"
    );
    assert_eq!(
        json(&out)["coverage"]["unresolved_hosts"][0],
        "nonexistent.invalid"
    );
    let out = run(&["--json", "--fail-on", "severe", "-p", &closed, "127.0.0.1"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("severe"));
}

#[test]
fn baseline_marks_new_unchanged_and_resolved() {
    let redis = FakeRedis::start();
    let gone = FakeRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let ports = format!("{},{}", redis.port, gone.port);
    let out = run(&[
        "--json",
        "-o",
        base.to_str().unwrap(),
        "-p",
        &ports,
        "127.0.0.1",
    ]);
    assert_eq!(code(&out), 1);
    drop(gone);
    std::thread::sleep(Duration::from_millis(50));
    let out = run(&[
        "--json",
        "--baseline",
        base.to_str().unwrap(),
        "-p",
        &ports,
        "127.0.0.1",
    ]);
    let doc = json(&out);
    assert_eq!(finding(&doc, redis.port)["baseline"], "unchanged");
    let resolved = doc["resolved"].as_array().expect("resolved list");
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0]["rule"], "redis-unauthenticated");
    let out = run(&[
        "--ndjson",
        "--only-new",
        "--baseline",
        base.to_str().unwrap(),
        "-p",
        &ports,
        "127.0.0.1",
    ]);
    assert_eq!(
        code(&out),
        0,
        "unchanged findings do not gate with --only-new"
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    validate_ndjson(&text);
    assert!(
        !text.contains("\"type\":\"port\""),
        "unchanged findings are not listed: {text}"
    );
    let out = run(&[
        "--json",
        "--baseline",
        "/nonexistent/base.json",
        "-p",
        &ports,
        "127.0.0.1",
    ]);
    assert_eq!(code(&out), 2);
}

#[test]
fn policy_init_writes_a_policy_the_next_run_accepts() {
    let redis = FakeRedis::start();
    let web = TcpListener::bind("127.0.0.1:0").unwrap();
    let web_port = web.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("exposecheck.toml");
    let ports = format!("{},{}", redis.port, web_port);
    let out = Command::new(env!("CARGO_BIN_EXE_exposecheck"))
        .args([
            "policy",
            "init",
            "-q",
            "-o",
            policy.to_str().unwrap(),
            "-p",
            &ports,
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(text.contains(&format!("port = {web_port}")), "{text}");
    assert!(
        text.contains(&format!("# port = {}", redis.port)),
        "critical entries commented out: {text}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_exposecheck"))
        .args([
            "-q",
            "--json",
            "--policy",
            policy.to_str().unwrap(),
            "-p",
            &ports,
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(finding(&doc, web_port)["policy"], "expected");
    assert_eq!(finding(&doc, redis.port)["policy"], "unexpected");
    assert_eq!(
        code(&out),
        1,
        "the commented-out Redis entry still fails the run"
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[expect]]\nhost = \"127.0.0.1\"\nport = \"x\"\nreason = \"r\"\n",
    )
    .unwrap();
    let out = run_with_policy(&bad, &ports);
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

fn run_with_policy(policy: &Path, ports: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exposecheck"))
        .args([
            "-q",
            "--json",
            "--policy",
            policy.to_str().unwrap(),
            "-p",
            ports,
            "127.0.0.1",
        ])
        .output()
        .unwrap()
}

#[test]
fn merge_reproduces_the_single_run() {
    let redis = FakeRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let ports = format!("{},{}-{}", redis.port, 40000, 40040);
    let mut files = Vec::new();
    for k in 0..3 {
        let f = dir.path().join(format!("shard-{k}.ndjson"));
        let out = run(&[
            "--ndjson",
            "--shard",
            &format!("{k}/3"),
            "--seed",
            "7",
            "-o",
            f.to_str().unwrap(),
            "-p",
            &ports,
            "127.0.0.1",
        ]);
        assert!(
            matches!(code(&out), 0 | 1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        files.push(f.to_str().unwrap().to_string());
    }
    let single = json(&run(&["--json", "--seed", "7", "-p", &ports, "127.0.0.1"]));
    let mut args = vec!["merge", "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = run(&args);
    assert_eq!(code(&out), 1);
    let merged = json(&out);
    assert_eq!(
        merged["coverage"]["attempted"],
        single["coverage"]["attempted"]
    );
    assert_eq!(merged["coverage"]["open"], single["coverage"]["open"]);
    assert_eq!(
        finding(&merged, redis.port)["fingerprint"],
        finding(&single, redis.port)["fingerprint"]
    );
    assert_eq!(merged["counts"], single["counts"]);
    let out = run(&["merge", "--json", &files[0], &files[2]]);
    assert_eq!(code(&out), 3, "a missing shard");
}
