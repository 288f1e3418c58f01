//! Read-only, proven against real servers: after exposecheck fingerprints
//! them (from the scanner namespace, a remote client), Redis's
//! `INFO commandstats` lists only read commands, and neither MariaDB nor
//! PostgreSQL saw a password (MariaDB: one refused login, for the user
//! `exposecheck` that no server has, "using password: NO", the only
//! "Access denied" in its error log at `log_warnings=4`, and no connection
//! aborted before authentication; PostgreSQL with `log_connections=on`
//! logged our connection and no failed or attempted password
//! authentication).

use super::netns::{self, parse_ndjson, TestNet};
use super::servers::{MariaAccounts, PgHba, Place, RedisMode, Servers};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Redis commands that read (or only describe the connection).
const REDIS_READ_ONLY: &[&str] = &[
    "ping",
    "info",
    "hello",
    "echo",
    "time",
    "command",
    "command|docs",
    "command|count",
    "client|setinfo",
];

fn setup() -> (TestNet, Servers) {
    let net = TestNet::new();
    let place = Place {
        ns: Some(net.target_ns.clone()),
        addr: net.target_v4().into(),
    };
    (net, Servers::new(place))
}

/// Fingerprints `port` of the target from the scanner namespace; returns its record.
fn scan(net: &TestNet, port: u16) -> Value {
    let out = net.exposecheck(&[
        "--ndjson",
        "--fail-on",
        "none",
        "-p",
        &port.to_string(),
        &net.target_v4().to_string(),
    ]);
    netns::expect_exit(&out, 0);
    let nd = parse_ndjson(&out.stdout);
    assert_eq!(nd.ports.len(), 1, "{}", netns::show(&out));
    nd.ports[0].clone()
}

/// One RESP command over a raw socket; returns the reply's bulk text.
fn resp(addr: SocketAddr, args: &[&str]) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // A bulk reply: `$<len>\r\n<len bytes>\r\n`.
    loop {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "redis closed");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n") {
            let len: usize = head.trim_start_matches('$').parse().expect("bulk length");
            if body.len() >= len {
                return body[..len].to_string();
            }
        }
    }
}

#[test]
fn redis_sees_only_read_commands() {
    let (net, mut servers) = setup();
    servers.redis(RedisMode::Open, &[6379]);
    let r = scan(&net, 6379);
    assert_eq!(r["service"]["name"], "redis", "{r}");
    assert_eq!(r["service"]["auth"], "none", "{r}");
    let addr = SocketAddr::new(net.target_v4().into(), 6379);
    let stats = netns::in_netns(&net.target_ns, move || {
        resp(addr, &["INFO", "commandstats"])
    });
    let used: BTreeSet<String> = stats
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect();
    assert!(
        used.contains("ping"),
        "the scanner's PING is missing: {stats}"
    );
    let writes: Vec<&String> = used
        .iter()
        .filter(|c| !REDIS_READ_ONLY.contains(&c.as_str()))
        .collect();
    assert!(
        writes.is_empty(),
        "non-read commands reached Redis: {writes:?}\n{stats}"
    );
}

/// The subdirectory of `servers` whose name ends with `label`.
fn subdir(servers: &Servers, label: &str) -> PathBuf {
    std::fs::read_dir(servers.dir())
        .expect("servers dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(label))
        .unwrap_or_else(|| panic!("no {label} under {}", servers.dir().display()))
}

fn mariadb_sql(dir: &Path, sql: &str) -> String {
    let out = Command::new("mariadb")
        .args(["--no-defaults", "-uroot", "-N", "-B"])
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .args(["-e", sql])
        .output()
        .expect("run mariadb client");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn mariadb_sees_no_password() {
    let (net, mut servers) = setup();
    servers.mariadb(MariaAccounts::AnyHost, 3306, None);
    let dir = subdir(&servers, "mariadb-3306");
    mariadb_sql(&dir, "SET GLOBAL log_warnings = 4");
    let count = |name: &str| -> u64 {
        let v = mariadb_sql(&dir, &format!("SHOW GLOBAL STATUS LIKE '{name}'"));
        v.split_whitespace()
            .last()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: {v}"))
    };
    // The harness's own readiness connect is one pre-auth abort already.
    let aborted_before = count("Aborted_connects_preauth");
    let r = scan(&net, 3306);
    assert_eq!(r["service"]["name"], "mysql", "{r}");
    // One login, refused: the unknown user without a password (services/mysql.toml).
    assert_eq!(count("Access_denied_errors"), 1);
    let log = std::fs::read_to_string(dir.join("error.log")).expect("error.log");
    let denied: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Access denied"))
        .collect();
    assert_eq!(denied.len(), 1, "{log}");
    assert!(
        denied[0].contains("for user 'exposecheck'@") && denied[0].contains("(using password: NO)"),
        "{log}"
    );
    // Nothing left mid-handshake (what max_connect_errors counts).
    assert_eq!(count("Aborted_connects_preauth"), aborted_before, "{log}");
}

#[test]
fn postgresql_sees_no_password_attempt() {
    let (net, mut servers) = setup();
    servers.postgres(PgHba::Md5, 5432);
    let dir = subdir(&servers, "postgres-5432");
    let psql = |sql: &str| {
        // The port accepts before recovery ends ("the database system is
        // starting up"): retry that answer for up to 15 s.
        let mut tries = 0;
        let out = loop {
            let out = Command::new("setpriv")
                .args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--clear-groups",
                    "--",
                ])
                .arg(super::servers::pg_bin().join("psql"))
                .arg("-h")
                .arg(&dir)
                .args([
                    "-p", "5432", "-U", "postgres", "-d", "postgres", "-Atc", sql,
                ])
                .output()
                .expect("psql");
            let starting = String::from_utf8_lossy(&out.stderr).contains("starting up");
            tries += 1;
            if !starting || tries >= 30 {
                break out;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        };
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql("ALTER SYSTEM SET log_connections = on");
    psql("SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(300));
    let r = scan(&net, 5432);
    assert_eq!(r["service"]["name"], "postgresql", "{r}");
    assert_eq!(r["service"]["auth"], "required", "{r}");
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(dir.join("stdout-stderr.log")).expect("postgres log");
    let scanner = net.scanner_v4().to_string();
    assert!(
        log.lines()
            .any(|l| l.contains("connection received") && l.contains(&scanner)),
        "log_connections did not log the scanner:\n{log}"
    );
    for bad in ["password authentication failed", "authentication failed"] {
        assert!(!log.contains(bad), "{bad:?} in the log:\n{log}");
    }
}
