//! The README's alert recipes (`<!-- alerts -->`), run as written with
//! `sh`: a scan of real loopback Redis servers with a baseline in which one
//! finding has since gone, its Slack body and PagerDuty events POSTed with
//! curl to a loopback receiver that records them, and its Alertmanager body
//! POSTed to a real Alertmanager (Debian `prometheus-alertmanager`, started
//! here on loopback), whose API is then read back. Checks what each service
//! would keep: Slack's blocks, PagerDuty's trigger and resolve events keyed
//! by the findings' fingerprints, Alertmanager's active alerts and labels.

use super::hostile_servers::{self as hs, Kind};
use super::netns::BIN;
use super::recipes::readme_block;
use super::servers::{free_port, Place, RedisMode, Servers};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The Debian package's binary.
const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// A loopback HTTP endpoint that answers every request `202` and keeps
/// `(path, body)` of each, standing in for Slack's and PagerDuty's
/// endpoints (no local server of theirs exists).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start() -> Receiver {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let (got, stop) = (Arc::default(), Arc::new(AtomicBool::new(false)));
        let (keep, flag): (Arc<Mutex<Vec<_>>>, Arc<AtomicBool>) = (Arc::clone(&got), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        if let Some(req) = read_request(c) {
                            keep.lock().expect("lock").push(req);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver { port, got, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn bodies(&self, path: &str) -> Vec<Value> {
        let got = self.got.lock().expect("lock");
        got.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| serde_json::from_str(b).unwrap_or_else(|e| panic!("{e}: {b}")))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One request (at most 1 MiB, 5 s), answered `202`: its path and body.
fn read_request(mut c: TcpStream) -> Option<(String, String)> {
    c.set_nonblocking(false).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head, len) = loop {
        let n = c.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 1 << 20 {
            return None;
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            buf.drain(..end + 4);
            break (head, len);
        }
    };
    while buf.len() < len.min(1 << 20) {
        let n = c.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    let _ = c.write_all(
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{\"status\":\"success\"}",
    );
    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
    Some((path, String::from_utf8_lossy(&buf).into_owned()))
}

/// A real Alertmanager on a loopback port, ended by its PID on drop.
struct Alertmanager {
    port: u16,
    child: Child,
}

impl Alertmanager {
    fn start(dir: &Path) -> Alertmanager {
        assert!(
            Path::new(ALERTMANAGER).exists(),
            "{ALERTMANAGER} is missing: run .ci/run (it installs prometheus-alertmanager)"
        );
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: none\nreceivers:\n  - name: none\n",
        )
        .expect("config");
        let port = free_port();
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager");
        let am = Alertmanager { port, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !get_ok(&am.url("/-/ready")) {
            assert!(Instant::now() < deadline, "Alertmanager never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `curl` GETs `url` with a 2xx.
fn get_ok(url: &str) -> bool {
    Command::new("curl")
        .args(["-fsS", "-m", "2", "-o", "/dev/null", url])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `exposecheck --json` on `ports` of loopback.
pub fn scan_json(ports: &str) -> Value {
    let out = Command::new(BIN)
        .args([
            "--json",
            "-q",
            "--no-canary",
            "--fail-on",
            "none",
            "-p",
            ports,
        ])
        .arg("127.0.0.1")
        .output()
        .expect("run exposecheck");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The `fingerprint`s of a JSON document's findings.
fn fingerprints(doc: &Value) -> BTreeSet<String> {
    doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["fingerprint"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_readme_alert_recipes_post_what_each_service_keeps() {
    let mut servers = Servers::new(Place {
        ns: None,
        addr: Ipv4Addr::LOCALHOST.into(),
    });
    let (open, locked) = (free_port(), free_port());
    servers.redis(RedisMode::Open, &[open]);
    servers.redis(RedisMode::Password, &[locked]);
    let dir = servers.dir().to_path_buf();

    // The baseline saw a third open port, since closed: its finding resolves.
    let gone = hs::loopback(Kind::Rst, 1);
    let ports = format!("{open},{locked},{}", gone.ports[0]);
    let last = scan_json(&ports);
    drop(gone);
    std::fs::write(dir.join("last.json"), last.to_string()).expect("baseline");
    let now = scan_json(&ports);
    let firing = fingerprints(&now);
    let resolved: BTreeSet<String> = fingerprints(&last).difference(&firing).cloned().collect();
    assert!(
        firing.len() >= 2 && resolved.len() == 1,
        "{now:#}\n{last:#}"
    );

    // `exposecheck` on PATH: the binary under test, on the test's ports.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let shim = bin.join("exposecheck");
    std::fs::write(
        &shim,
        format!("#!/bin/sh\nexec '{BIN}' --no-canary -p {ports} \"$@\"\n"),
    )
    .expect("shim");
    std::fs::set_permissions(&shim, PermissionsExt::from_mode(0o755)).expect("chmod");
    std::fs::write(dir.join("hosts.txt"), "127.0.0.1\n").expect("hosts");

    let hooks = Receiver::start();
    let am = Alertmanager::start(&dir);
    let recipes = readme_block("alerts", "exposecheck ");
    assert_eq!(recipes.len(), 3, "{recipes:?}");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for r in &recipes {
        let run = Command::new("sh")
            .arg("-c")
            .arg(r)
            .current_dir(&dir)
            .env("PATH", &path)
            .env("SLACK_WEBHOOK_URL", hooks.url("/slack"))
            .env("PAGERDUTY_EVENTS_URL", hooks.url("/v2/enqueue"))
            .env("PAGERDUTY_ROUTING_KEY", "R0123456789abcdef0123456789abcdef")
            .env("ALERTMANAGER_URL", am.url(""))
            .output()
            .expect("sh");
        assert!(
            run.status.success(),
            "recipe {r:?}: exit {:?}\n{}{}",
            run.status.code(),
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }

    let slack = hooks.bodies("/slack");
    assert_eq!(slack.len(), 1, "one message: {slack:#?}");
    let blocks = slack[0]["blocks"].as_array().expect("blocks");
    assert!(
        blocks.len() >= 3 && slack[0]["text"].is_string(),
        "{slack:#?}"
    );
    assert!(
        slack[0].to_string().contains("redis-unauthenticated"),
        "{slack:#?}"
    );

    let events = hooks.bodies("/v2/enqueue");
    let keyed = |action: &str| -> BTreeSet<String> {
        events
            .iter()
            .filter(|e| e["event_action"] == action)
            .filter_map(|e| e["dedup_key"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(keyed("trigger"), firing, "{events:#?}");
    assert_eq!(keyed("resolve"), resolved, "{events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e["routing_key"] == "R0123456789abcdef0123456789abcdef"),
        "{events:#?}"
    );

    // Alertmanager accepted the array (curl -f) and holds the firing ones.
    let out = Command::new("curl")
        .args(["-fsS", "-m", "5", &am.url("/api/v2/alerts")])
        .output()
        .expect("curl");
    let held: Value = serde_json::from_slice(&out.stdout).expect("Alertmanager's JSON");
    let active: BTreeSet<String> = held
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"]["state"] == "active")
        .filter_map(|a| a["labels"]["fingerprint"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(active, firing, "{held:#}");
    // The open Redis may carry more than one alert (Debian's 7.0 is past
    // its end of life too): the exposure one is looked up by its rule.
    let instance = format!("127.0.0.1:{open}");
    let of_redis: Vec<&Value> = held
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["labels"]["instance"] == instance.as_str())
        .collect();
    let redis = of_redis
        .iter()
        .find(|x| x["labels"]["rule"] == "redis-unauthenticated")
        .unwrap_or_else(|| panic!("no redis-unauthenticated alert for the open Redis: {held:#}"));
    assert_eq!(redis["labels"]["severity"], "critical", "{held:#}");
    assert_eq!(
        redis["labels"]["alertname"], "RedisUnauthenticated",
        "{held:#}"
    );
}
