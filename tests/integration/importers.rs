//! `--format nmap-xml` read by the importers people feed it to: a real scan
//! of real loopback daemons (an open Redis, a Redis with a password, a
//! Memcached the policy expects), an nginx-like HTTP listener, a listener
//! that resets at once and a closed port, then faraday-plugins (Faraday's
//! nmap plugin, found the way `faraday-plugins process-report` finds it) and
//! python-libnmap read the file in the CI virtualenv (`.ci/run` installs
//! both from PyPI into `target/ci-venv`). Checks hosts, ports, service names,
//! CPE, extraports, times, and the rank Faraday gives each severity.

use super::hostile_servers::{self as hs, Kind};
use super::netns::BIN;
use super::servers::{free_port, Place, RedisMode, Servers};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The CI virtualenv's interpreter.
const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/ci-venv/bin/python");

/// Reads the report at `argv[1]` with Faraday's plugin and with libnmap and
/// prints what each kept, as JSON.
const READER: &str = r#"
import json, sys
from pathlib import Path
from faraday_plugins.plugins.manager import PluginsManager, ReportAnalyzer
from libnmap.parser import NmapParser

path = sys.argv[1]
plugin = ReportAnalyzer(PluginsManager(hostname_resolution=False)).get_plugin(path)
out = {"plugin": plugin.id if plugin else None, "faraday": []}
if plugin:
    plugin.processReport(Path(path), "exposecheck")
    for h in plugin.get_data()["hosts"]:
        out["faraday"].append({"ip": h["ip"], "services": [{
            "port": s["port"], "name": s["name"], "status": s["status"], "version": s["version"],
            "vulns": [{"name": v["name"], "severity": v["severity"], "desc": v["desc"],
                       "resolution": v["resolution"], "refs": [r["name"] for r in v["refs"]]}
                      for v in s["vulnerabilities"]],
        } for s in h["services"]]})
report = NmapParser.parse_fromstring(Path(path).read_text())
out["libnmap"] = {"scanner": report._nmaprun.get("scanner"), "version": report.version, "hosts": [{
    "ip": h.address, "up": h.is_up(), "starttime": h.starttime, "endtime": h.endtime,
    "times": h._extras.get("times"), "extraports": h.extraports_state,
    "ports": [{"port": s.port, "state": s.state, "service": s.service, "product": s.service_dict.get("product"),
               "cpe": [[c.cpestring, c.get_part(), c.get_vendor(), c.get_product(), c.get_version()] for c in s.cpelist],
               "scripts": [x["id"] for x in s.scripts_results]} for s in h.services],
} for h in report.hosts]}
print(json.dumps(out))
"#;

/// An nginx-like HTTP/1.1 server on loopback: `GET` gets 200, anything else
/// 400, both with `Server: nginx/1.24.0`; stops when the flag is dropped.
struct Nginx {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Nginx {
    fn start() -> Nginx {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        std::thread::spawn(move || {
                            let _ = c.set_nonblocking(false);
                            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                            let mut buf = [0u8; 4096];
                            let n = c.read(&mut buf).unwrap_or(0);
                            let status = if buf[..n].starts_with(b"GET ") {
                                "200 OK"
                            } else {
                                "400 Bad Request"
                            };
                            let reply = format!(
                                "HTTP/1.1 {status}\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            );
                            let _ = c.write_all(reply.as_bytes());
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Nginx { port, stop }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Runs the importers on `xml` (written to `dir`) and returns what they read.
fn import(dir: &Path, xml: &str) -> Value {
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is missing: the importer check needs the CI virtualenv with \
         faraday-plugins and python-libnmap; run .ci/run (it creates target/ci-venv)"
    );
    let file = dir.join("scan.xml");
    std::fs::write(&file, xml).expect("write scan.xml");
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(READER)
        .arg(&file)
        .output()
        .expect("run the virtualenv's python");
    assert!(
        out.status.success(),
        "the importers failed on our XML:\n{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "reader output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The object in `list` whose `key` is `port`.
fn by_port<'a>(list: &'a Value, key: &str, port: u16) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|v| v[key] == port))
        .unwrap_or_else(|| panic!("no port {port} in {list:#}"))
}

#[test]
fn faraday_and_libnmap_read_hosts_ports_cpe_and_ranks() {
    let mut servers = Servers::new(Place {
        ns: None,
        addr: Ipv4Addr::LOCALHOST.into(),
    });
    let (open, locked, memcached, closed) = (free_port(), free_port(), free_port(), free_port());
    servers.redis(RedisMode::Open, &[open]);
    servers.redis(RedisMode::Password, &[locked]);
    servers.memcached(&[memcached]);
    let nginx = Nginx::start();
    let rst = hs::loopback(Kind::Rst, 1);
    let policy = servers.dir().join("policy.toml");
    std::fs::write(
        &policy,
        format!("[[expect]]\nhost = \"127.0.0.1\"\nport = {memcached}\nreason = \"cache for the test\"\n"),
    )
    .expect("policy");
    let ports = [open, locked, memcached, nginx.port, rst.ports[0], closed];
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let out = Command::new(BIN)
        .args(["--format", "nmap-xml", "--no-canary", "--fail-on", "none"])
        .arg("--policy")
        .arg(&policy)
        .args(["-p", &list.join(","), "127.0.0.1"])
        .output()
        .expect("run exposecheck");
    let xml = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        out.status.success(),
        "exposecheck failed:\n{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = import(servers.dir(), &xml);
    let ctx = format!("{got:#}\n{xml}");

    // libnmap: one host, every open port with its service, CPE as nmap writes it.
    let lib = &got["libnmap"];
    assert_eq!(lib["scanner"], "exposecheck", "{ctx}");
    assert_eq!(lib["version"], env!("CARGO_PKG_VERSION"), "{ctx}");
    let host = &lib["hosts"][0];
    assert_eq!(lib["hosts"].as_array().map(Vec::len), Some(1), "{ctx}");
    assert_eq!(host["ip"], "127.0.0.1", "{ctx}");
    assert_eq!(host["up"], true, "{ctx}");
    assert!(
        host["starttime"].as_str().is_some_and(|t| !t.is_empty()),
        "{ctx}"
    );
    assert!(host["times"]["srtt"].as_str().is_some(), "{ctx}");
    assert_eq!(host["extraports"]["state"]["state"], "closed", "{ctx}");
    for (port, name) in [
        (open, "redis"),
        (locked, "redis"),
        (memcached, "memcached"),
        (nginx.port, "http"),
        (rst.ports[0], "unknown"),
    ] {
        let p = by_port(&host["ports"], "port", port);
        assert_eq!(p["state"], "open", "{port}: {ctx}");
        assert_eq!(p["service"], name, "{port}: {ctx}");
    }
    let cpe = &by_port(&host["ports"], "port", open)["cpe"][0];
    let cpe: Vec<&str> = cpe
        .as_array()
        .expect("a CPE")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(cpe[0].starts_with("cpe:/a:redis:redis:"), "{ctx}");
    assert_eq!(&cpe[1..4], ["/a", "redis", "redis"], "{ctx}");
    assert!(
        cpe[4].starts_with(|c: char| c.is_ascii_digit()),
        "a version: {ctx}"
    );
    let web = &by_port(&host["ports"], "port", nginx.port)["cpe"][0];
    assert_eq!(web[0], "cpe:/a:f5:nginx:1.24.0", "{ctx}");

    // Faraday: the vulnerability is named after the rule, ranked by severity,
    // with the fix in its description (the nmap plugin passes no resolution).
    assert_eq!(got["plugin"], "Nmap", "{ctx}");
    let services = &got["faraday"][0]["services"];
    let vuln = |port: u16| by_port(services, "port", port)["vulns"][0].clone();
    let critical = vuln(open);
    assert_eq!(critical["name"], "redis-unauthenticated", "{ctx}");
    assert_eq!(critical["severity"], "high", "critical ranks high: {ctx}");
    let desc = critical["desc"].as_str().unwrap_or_default();
    assert!(
        desc.contains("State: VULNERABLE") && desc.contains("Risk factor: Critical"),
        "{ctx}"
    );
    assert!(
        desc.contains("    Fix:\n      bind 127.0.0.1 -::1"),
        "the fix: {ctx}"
    );
    assert!(desc.contains("requirepass"), "{ctx}");
    assert!(
        critical["refs"].as_array().is_some_and(|r| r
            .iter()
            .any(|u| u == "https://cwe.mitre.org/data/definitions/306.html")),
        "{ctx}"
    );
    let high = vuln(locked);
    assert_eq!(high["name"], "redis-exposed", "{ctx}");
    assert_eq!(high["severity"], "high", "{ctx}");
    let expected = vuln(memcached);
    assert_eq!(expected["name"], "memcached-unauthenticated", "{ctx}");
    assert_eq!(
        expected["severity"], "info",
        "expected by the policy: {ctx}"
    );
    assert!(
        !expected["desc"]
            .as_str()
            .unwrap_or_default()
            .contains("VULNERABLE"),
        "{ctx}"
    );
    let public = vuln(nginx.port);
    assert_eq!(public["name"], "http-public", "{ctx}");
    assert_eq!(public["severity"], "info", "{ctx}");
    let low = vuln(rst.ports[0]);
    assert_eq!(low["name"], "unexpected-open-port", "{ctx}");
    assert_eq!(low["severity"], "info", "low ranks info: {ctx}");
    assert_eq!(
        by_port(services, "port", nginx.port)["version"],
        "nginx 1.24.0",
        "{ctx}"
    );
    drop(nginx);
}
