//! The hostile-target catalogue (reliability notes §1.6), end to end: the real
//! binary against many copies of one misbehaving server at once, in one run.
//!
//! Loopback cases put [`COPIES`] listeners of a kind on 127.0.0.1 (random
//! ports, so the engine's unhinted path runs); protocol cases bind the
//! service's own port (6379, 5432, 443...) inside a [`TestNet`] target
//! namespace and scan 256 addresses of it (`route_sweep`). Every case checks:
//! bounded wall time, bounded peak RSS (`VmHWM` of the exposecheck process),
//! exactly one NDJSON port record per scanned port, schema-valid UTF-8
//! output, exit 0/1 and no panic; then its own outcome.
//!
//! `HOSTILE_REPORT=1 cargo test --release --test integration hostile_catalogue
//! -- --nocapture` prints the table of wall time, peak RSS and outcome;
//! `HOSTILE_CASES=echo,accept-then-rst` runs only those cases; `HOSTILE_DUMP=1`
//! prints one sample record per outcome.

use super::hostile_servers::{self as hs, Farm, Kind};
use super::netns::{self, parse_ndjson, Ndjson, TestNet, BIN};
use super::schema::validate_ndjson;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Copies of a loopback case (listeners, one exposecheck run).
pub const COPIES: usize = 200;
/// `--probe-timeout` of every case, in ms.
const PROBE_MS: u64 = 2000;
/// Wall-time bound of one run: the sweep, one probe budget per port (every
/// port is fingerprinted at once) and slack for a loaded 2-core machine.
const WALL_LIMIT: Duration = Duration::from_secs(15);
/// Peak-RSS bound of one run (200-256 ports × 64 KiB budgets plus the
/// runtime); an unbounded reader of any case reaches gigabytes.
const RSS_LIMIT_KIB: u64 = 64 * 1024;
/// Sweep range inside a namespace: 256 addresses answered by one listener.
const NS_RANGE: &str = "198.19.1.0/24";

/// One exposecheck process: output, wall time and peak RSS.
pub struct Measured {
    /// What it printed and how it exited.
    pub out: Output,
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// Peak resident set (sampled `VmHWM`), KiB.
    pub peak_kib: u64,
}

/// Runs `cmd` to completion (killing it and failing after `limit`), sampling
/// its peak RSS (`VmHWM`) every 5 ms.
pub fn measure(mut cmd: Command, limit: Duration) -> Measured {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    // Reaped by the waitpid loop below, not by Child::wait.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let read = |r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut r = r;
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out_t = read(Box::new(child.stdout.take().expect("stdout")));
    let err_t = read(Box::new(child.stderr.take().expect("stderr")));
    let mut killed = false;
    let mut peak_kib = 0;
    let status = loop {
        peak_kib = peak_kib.max(vm_hwm(pid));
        let mut st = 0;
        let flags = if killed { 0 } else { libc::WNOHANG };
        // SAFETY: waitpid on our own child; `child` is never waited on elsewhere.
        let r = unsafe { libc::waitpid(pid, &mut st, flags) };
        if r == pid {
            break std::process::ExitStatus::from_raw(st);
        }
        assert_eq!(r, 0, "waitpid: {}", std::io::Error::last_os_error());
        if start.elapsed() > limit && !killed {
            let _ = child.kill();
            killed = true;
            continue;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed();
    let out = Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    };
    assert!(
        !killed,
        "{cmd:?} still running after {limit:?}; killed it\n{}",
        netns::show(&out)
    );
    Measured {
        out,
        wall,
        peak_kib,
    }
}

/// `VmHWM` (peak RSS of the current image) of a live process, KiB; 0 once
/// it has exited. wait4's `ru_maxrss` is no use here: it keeps the forking
/// parent's RSS (the test process) from before the exec.
fn vm_hwm(pid: libc::pid_t) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The checks every run must pass; returns the parsed stream.
pub fn check_run(m: &Measured, expected: &BTreeSet<(IpAddr, u16)>) -> Result<Ndjson, String> {
    let out = &m.out;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !matches!(out.status.code(), Some(0 | 1)) {
        return Err(format!("exit {:?}\n{}", out.status, netns::show(out)));
    }
    if stderr.contains("panicked") {
        return Err(format!("panic on stderr: {stderr}"));
    }
    if m.wall > WALL_LIMIT {
        return Err(format!("took {:?} (limit {WALL_LIMIT:?})", m.wall));
    }
    if m.peak_kib > RSS_LIMIT_KIB {
        return Err(format!(
            "peak RSS {} KiB (limit {RSS_LIMIT_KIB})",
            m.peak_kib
        ));
    }
    let text = std::str::from_utf8(&out.stdout).map_err(|e| format!("not UTF-8: {e}"))?;
    std::panic::catch_unwind(|| validate_ndjson(text)).map_err(|_| "schema".to_string())?;
    let nd = parse_ndjson(&out.stdout);
    let mut seen = BTreeSet::new();
    for p in &nd.ports {
        let l = netns::port_line(p);
        if !seen.insert((l.ip, l.port)) {
            return Err(format!("two records for {}:{}", l.ip, l.port));
        }
        if l.state != "open" {
            return Err(format!("{}:{} is {} ({})", l.ip, l.port, l.state, l.reason));
        }
    }
    if &seen != expected {
        let missing = expected.difference(&seen).count();
        let extra: Vec<_> = seen.difference(expected).take(3).collect();
        return Err(format!(
            "{} port records, {missing} missing, extra {extra:?}",
            seen.len()
        ));
    }
    Ok(nd)
}

/// `name/note` of a port record.
fn label(p: &Value) -> String {
    let s = &p["service"];
    let mut name = s["name"].as_str().unwrap_or("-").to_string();
    if s["confidence"] == "guessed" && name != "unknown" {
        name.push_str("(guessed)");
    }
    match s["note"].as_str() {
        Some(n) => format!("{name}/{n}"),
        None => name.to_string(),
    }
}

/// Counts of each `name/note` (by port with `by_port`), most common first.
fn outcome(ports: &[Value], by_port: bool) -> String {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for p in ports {
        let l = if by_port {
            format!("{}: {}", p["port"], label(p))
        } else {
            label(p)
        };
        *m.entry(l).or_default() += 1;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    if std::env::var_os("HOSTILE_DUMP").is_some() {
        let mut shown = BTreeSet::new();
        for p in ports {
            if shown.insert(label(p)) {
                eprintln!("sample {}: {p}", label(p));
            }
        }
    }
    v.iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fails unless every record satisfies `f`.
fn all(ports: &[Value], what: &str, f: impl Fn(&Value) -> bool) -> Result<(), String> {
    match ports.iter().find(|p| !f(p)) {
        None => Ok(()),
        Some(p) => Err(format!("not every port {what}: {p}")),
    }
}

fn all_named(ports: &[Value], name: &str) -> Result<(), String> {
    all(ports, &format!("is {name}"), |p| {
        p["service"]["name"] == name
    })
}

fn ports_arg(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Base flags of every run.
fn flags() -> Vec<String> {
    [
        "--ndjson",
        "--probe-timeout",
        &PROBE_MS.to_string(),
        "--fail-on",
        "none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// One row of the report table.
struct Row {
    case: &'static str,
    wall: Duration,
    peak_kib: u64,
    outcome: String,
    failure: Option<String>,
}

type Check = fn(&Ndjson) -> Result<(), String>;

/// Where a case runs.
enum Place {
    /// [`COPIES`] listeners on 127.0.0.1.
    Loopback,
    /// One listener per port inside a namespace, scanned over [`NS_RANGE`].
    Netns(Vec<u16>),
}

struct Case {
    name: &'static str,
    kind: fn() -> Vec<Kind>,
    place: Place,
    check: Check,
}

fn one(k: Kind) -> Vec<Kind> {
    vec![k]
}

fn cases() -> Vec<Case> {
    use Place::{Loopback, Netns};
    let c = |name, kind, place, check| Case {
        name,
        kind,
        place,
        check,
    };
    vec![
        c(
            "silent-accept",
            || one(Kind::Silent),
            Loopback,
            |n| all_named(&n.ports, "unknown"),
        ),
        c(
            "drip-1-byte-per-s",
            || one(Kind::Drip),
            Loopback,
            |n| all_named(&n.ports, "unknown"),
        ),
        c(
            "zero-window",
            || one(Kind::ZeroWindow),
            Loopback,
            |n| all_named(&n.ports, "unknown"),
        ),
        c(
            "accept-then-rst",
            || one(Kind::Rst),
            Loopback,
            |n| {
                all(&n.ports, "tcpwrapped", |p| {
                    p["service"]["note"] == "tcpwrapped"
                })
            },
        ),
        c(
            "accept-then-fin",
            || one(Kind::Fin),
            Loopback,
            |n| {
                all(&n.ports, "tcpwrapped", |p| {
                    p["service"]["note"] == "tcpwrapped"
                })
            },
        ),
        c(
            "truncated-frame-fin",
            || one(Kind::Truncated),
            Loopback,
            |n| {
                all(&n.ports, "keeping the partial banner", |p| {
                    p["service"]["banner"]
                        .as_str()
                        .is_some_and(|b| b.contains("5.7.99"))
                })
            },
        ),
        c(
            "endless-stream",
            || one(Kind::Endless),
            Loopback,
            |n| all_named(&n.ports, "unknown"),
        ),
        c(
            "huge-content-length",
            || one(Kind::HugeLength),
            Loopback,
            |n| all_named(&n.ports, "http"),
        ),
        c(
            "endless-chunked",
            || one(Kind::EndlessChunked),
            Loopback,
            |n| all_named(&n.ports, "http"),
        ),
        c(
            "garbage-banner",
            || one(Kind::Garbage),
            Loopback,
            |n| {
                all(&n.ports, "escaping the banner", |p| {
                    p["service"]["banner"]
                        .as_str()
                        .is_some_and(|b| b.contains("\\x1b[2J") && !b.contains('\x1b'))
                })
            },
        ),
        c(
            "output-injection",
            || one(Kind::Injection),
            Loopback,
            |n| {
                all(&n.ports, "keeping the banner in one field", |p| {
                    p["service"]["banner"]
                        .as_str()
                        .is_some_and(|b| b.contains("6.6.6.6") && !b.contains('\n'))
                })
            },
        ),
        c(
            "dribble-redis-pong",
            || one(Kind::DribbleRedis),
            Loopback,
            |n| {
                all(&n.ports, "redis, auth none", |p| {
                    p["service"]["name"] == "redis" && p["service"]["auth"] == "none"
                })
            },
        ),
        c(
            "dribble-ssh-banner",
            || one(Kind::DribbleSsh),
            Loopback,
            |n| {
                all(&n.ports, "OpenSSH 9.6p1", |p| {
                    p["service"]["name"] == "ssh"
                        && p["service"]["version"]
                            .as_str()
                            .is_some_and(|v| v.contains("9.6p1"))
                })
            },
        ),
        c(
            "echo",
            || one(Kind::Echo),
            Loopback,
            |n| all_named(&n.ports, "echo"),
        ),
        c(
            "mysql-length-lie",
            || one(Kind::MysqlLie),
            Netns(vec![3306]),
            |n| {
                all(&n.ports, "not mysql", |p| {
                    p["service"]["name"] != "mysql" || p["service"]["confidence"] == "guessed"
                })
            },
        ),
        c(
            "resp-lies",
            || one(Kind::RespLie),
            Netns(vec![6379]),
            |n| {
                all(&n.ports, "not an open redis", |p| {
                    p["service"]["auth"] != "none"
                })
            },
        ),
        c(
            "mongodb-length-lies",
            || one(Kind::MongoLie),
            Netns(vec![27017]),
            |n| {
                all(&n.ports, "not an open mongodb", |p| {
                    p["service"]["auth"] != "none"
                })
            },
        ),
        c(
            "postgresql-flood",
            || one(Kind::PgFlood),
            Netns(vec![5432]),
            |n| {
                all(&n.ports, "not an open postgresql", |p| {
                    p["service"]["auth"] != "none"
                })
            },
        ),
        c(
            "memcached-endless",
            || one(Kind::MemcachedEndless),
            Netns(vec![11211]),
            |_| Ok(()),
        ),
        c(
            "json-bomb-9200",
            || one(Kind::JsonBomb),
            Netns(vec![9200]),
            |n| {
                all(&n.ports, "http or elasticsearch", |p| {
                    matches!(
                        p["service"]["name"].as_str(),
                        Some("http" | "elasticsearch")
                    )
                })
            },
        ),
        c(
            "tls-black-hole-443",
            || one(Kind::TlsBlackHole),
            Netns(vec![443]),
            |n| all_named(&n.ports, "unknown"),
        ),
        c(
            "plaintext-on-443",
            || one(Kind::SshBanner),
            Netns(vec![443]),
            |n| all_named(&n.ports, "ssh"),
        ),
        c(
            "tls-100-cert-chain-443+1mb-cert-8443",
            || {
                vec![
                    Kind::Tls(hs::tls_chain(100, 0)),
                    Kind::Tls(hs::tls_chain(1, 1 << 20)),
                ]
            },
            Netns(vec![443, 8443]),
            |n| {
                all(&n.ports, "tls facts or a tls error", |p| {
                    let t = &p["service"]["tls"];
                    if p["port"] == 443 {
                        t["subject"]
                            .as_str()
                            .is_some_and(|s| s.contains("hostile-99"))
                    } else {
                        t.is_object() || p["service"]["note"] == "budget-exhausted"
                    }
                })
            },
        ),
    ]
}

fn expected_loopback(ports: &[u16]) -> BTreeSet<(IpAddr, u16)> {
    let lo: IpAddr = "127.0.0.1".parse().expect("ip");
    ports.iter().map(|p| (lo, *p)).collect()
}

fn expected_range(ports: &[u16]) -> BTreeSet<(IpAddr, u16)> {
    let mut s = BTreeSet::new();
    for last in 0..=255u8 {
        for p in ports {
            s.insert((IpAddr::from([198, 19, 1, last]), *p));
        }
    }
    s
}

/// Extra checks on the human and nmap-xml renderings of two cases.
fn render_checks(case: &str, farm: &Farm) -> Result<(), String> {
    let ports = ports_arg(&farm.ports);
    let run = |format: &str| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--format", format, "--no-canary", "--fail-on", "none"])
            .args(["--probe-timeout", "1000", "-p", &ports, "127.0.0.1"]);
        measure(cmd, WALL_LIMIT).out
    };
    match case {
        "garbage-banner" => {
            let out = run("human");
            if out
                .stdout
                .iter()
                .any(|&b| b == 0x1b || b == 0x9b || b == 0x07)
            {
                return Err("human output holds a raw ESC/CSI/BEL byte".into());
            }
            String::from_utf8(out.stdout).map_err(|_| "human output is not UTF-8".to_string())?;
        }
        "output-injection" => {
            let out = run("nmap-xml");
            let xml = String::from_utf8(out.stdout).map_err(|_| "xml is not UTF-8".to_string())?;
            let opt = roxmltree::ParsingOptions {
                allow_dtd: true,
                ..roxmltree::ParsingOptions::default()
            };
            let doc = roxmltree::Document::parse_with_options(&xml, opt)
                .map_err(|e| format!("nmap-xml does not parse: {e}"))?;
            let nodes = |tag: &str| doc.descendants().filter(|n| n.has_tag_name(tag)).count();
            // A finding's <script id="RULE"> names a rule of the table, one
            // per port at most; anything else was forged by a banner.
            let scripts: Vec<_> = doc
                .descendants()
                .filter(|n| n.has_tag_name("script"))
                .collect();
            let forged = scripts
                .iter()
                .filter(|n| {
                    n.attribute("id")
                        .is_none_or(|id| exposecheck::verdict::rules::kind_of(id).is_none())
                })
                .count()
                + scripts.len().saturating_sub(farm.ports.len());
            if nodes("port") != farm.ports.len() || forged != 0 {
                return Err(format!(
                    "nmap-xml has {} <port> (want {}) and {forged} forged <script>",
                    nodes("port"),
                    farm.ports.len(),
                ));
            }
            let states: BTreeSet<_> = doc
                .descendants()
                .filter(|n| n.has_tag_name("state"))
                .filter_map(|n| n.attribute("state"))
                .collect();
            if states != BTreeSet::from(["open"]) {
                return Err(format!("nmap-xml states {states:?}"));
            }
        }
        _ => {}
    }
    Ok(())
}

fn run_case(case: &Case) -> Row {
    let kinds = (case.kind)();
    let started = |m: &Measured, outcome: String, failure: Option<String>| Row {
        case: case.name,
        wall: m.wall,
        peak_kib: m.peak_kib,
        outcome,
        failure,
    };
    match &case.place {
        Place::Loopback => {
            let farm = hs::loopback(kinds.into_iter().next().expect("a kind"), COPIES);
            let mut cmd = Command::new(BIN);
            cmd.args(flags())
                .args(["--no-canary", "-p", &ports_arg(&farm.ports), "127.0.0.1"]);
            let m = measure(cmd, WALL_LIMIT * 2);
            let res = check_run(&m, &expected_loopback(&farm.ports));
            let (outcome, failure) = match res {
                Ok(nd) => (
                    outcome(&nd.ports, false),
                    (case.check)(&nd)
                        .and_then(|_| render_checks(case.name, &farm))
                        .err(),
                ),
                Err(e) => (String::new(), Some(e)),
            };
            started(&m, outcome, failure)
        }
        Place::Netns(ports) => {
            let net = TestNet::new();
            net.route_sweep();
            let _farms: Vec<Farm> = kinds
                .into_iter()
                .zip(ports)
                .map(|(k, p)| hs::in_netns(&net.target_ns, k, *p))
                .collect();
            let mut args = flags();
            args.extend(["-p".into(), ports_arg(ports), NS_RANGE.into()]);
            let m = measure(net.exposecheck_cmd(&args), WALL_LIMIT * 2);
            let (outcome, failure) = match check_run(&m, &expected_range(ports)) {
                Ok(nd) => (outcome(&nd.ports, ports.len() > 1), (case.check)(&nd).err()),
                Err(e) => (String::new(), Some(e)),
            };
            started(&m, outcome, failure)
        }
    }
}

/// "Accepts on every port" (a REDIRECT of every TCP port to one silent
/// listener): the canary check marks the host, one host finding is raised,
/// the ports get info-level findings only and are not fingerprinted.
fn every_port_case() -> Row {
    let net = TestNet::new();
    let farm = hs::in_netns(&net.target_ns, Kind::Silent, 9);
    let _ = &farm;
    net.run_in_target(&[
        "iptables",
        "-w",
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-p",
        "tcp",
        "-j",
        "REDIRECT",
        "--to-ports",
        "9",
    ]);
    let target = IpAddr::V4(net.target_v4());
    let mut args = flags();
    args.extend(["-p".into(), "1-200".into(), target.to_string()]);
    let m = measure(net.exposecheck_cmd(&args), WALL_LIMIT * 2);
    let expected = (1..=200).map(|p| (target, p)).collect();
    let res = check_run(&m, &expected).and_then(|nd| {
        let host_findings: Vec<&Value> = nd
            .other
            .iter()
            .filter(|v| v["type"] == "finding")
            .filter(|v| v["finding"]["rule"] == "host-answers-every-port")
            .collect();
        let marked = nd
            .other
            .iter()
            .any(|v| v["type"] == "host" && v["answers_every_port"] == true);
        let loud = nd.ports.iter().find(|p| {
            p["finding"]["severity"]
                .as_str()
                .is_some_and(|s| s != "info")
        });
        let o = outcome(&nd.ports, false);
        if host_findings.len() != 1 || !marked {
            return Err(format!(
                "{} host-answers-every-port findings, host marked: {marked}",
                host_findings.len()
            ));
        }
        if let Some(p) = loud {
            return Err(format!("a port finding above info: {p}"));
        }
        all(&nd.ports, "noted", |p| {
            p["service"]["note"] == "host-answers-every-port"
        })?;
        Ok(o)
    });
    let (outcome, failure) = match res {
        Ok(o) => (o, None),
        Err(e) => (String::new(), Some(e)),
    };
    Row {
        case: "answers-every-port",
        wall: m.wall,
        peak_kib: m.peak_kib,
        outcome,
        failure,
    }
}

/// Runs the catalogue (three cases at a time) and checks every row; prints
/// the table with `HOSTILE_REPORT=1`.
#[test]
fn hostile_catalogue() {
    let only: Option<Vec<String>> = std::env::var("HOSTILE_CASES")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let wanted = |n: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == n));
    let list: Vec<Case> = cases().into_iter().filter(|c| wanted(c.name)).collect();
    let rows = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let (name, f): (&str, Box<dyn Fn() -> Row>) = match list.get(i) {
                    Some(c) => (c.name, Box::new(|| run_case(c))),
                    None if i == list.len() && wanted("answers-every-port") => {
                        ("answers-every-port", Box::new(every_port_case))
                    }
                    None => break,
                };
                let row =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|e| {
                        Row {
                            case: name,
                            wall: Duration::ZERO,
                            peak_kib: 0,
                            outcome: String::new(),
                            failure: Some(format!(
                                "panicked: {}",
                                e.downcast_ref::<String>().map_or("?", String::as_str)
                            )),
                        }
                    });
                rows.lock().unwrap().push(row);
            });
        }
    });
    let rows = rows.into_inner().unwrap();
    if std::env::var_os("HOSTILE_REPORT").is_some() {
        println!("| case | wall | peak RSS | outcome (service/note × ports) |");
        println!("|---|---|---|---|");
        for r in &rows {
            println!(
                "| {} | {:.1} s | {:.1} MiB | {}{} |",
                r.case,
                r.wall.as_secs_f64(),
                r.peak_kib as f64 / 1024.0,
                r.outcome,
                r.failure
                    .as_ref()
                    .map_or(String::new(), |f| format!(" **FAILED**: {f}"))
            );
        }
    }
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| format!("{}: {f}", r.case)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} hostile case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(!rows.is_empty(), "no case ran (HOSTILE_CASES={only:?})");
}
