//! No lock-outs (issue 10): repeated scans never get the scanner's address
//! blocked by a server that counts failed connections per client address.
//!
//! MariaDB counts every connection that ends before it has read a
//! HandshakeResponse (a "handshake error") against the client's address
//! whenever it resolves client names (no `skip-name-resolve`, the default)
//! and, past `max_connect_errors`, answers every client from that address
//! with ERROR 1129 "Host is blocked" until `FLUSH HOSTS`: the application
//! behind the scanner's NAT included. Here a real mariadbd runs in the
//! target namespace with name resolution on, the scanner's address named in
//! a hosts file that a private mount namespace (`unshare --mount`) binds over
//! /etc/hosts for mariadbd alone (the machine's /etc/hosts is untouched),
//! and `max_connect_errors` = [`LIMIT`]. Then:
//!
//! 1. [`SCANS`] exposecheck runs identify MariaDB (the server named the
//!    scanner `scanner.lockout.test`: the lookup really ran), the server saw
//!    no pre-auth abort and exactly one refused login per scan, and a real
//!    account logs in with the `mariadb` client from the scanner namespace;
//! 2. the control: the old exchange (read the greeting, close with RST),
//!    repeated from the same address, gets it blocked after [`LIMIT`]
//!    connections, and the same client login then fails with 1129. So the
//!    setup does detect a lock-out.
//!
//! A low limit makes the test stronger, not weaker: only a successful login
//! resets the count, so with limit 10 and 200 scans an exchange that leaves
//! one counted error per 20 scans already fails, where the default 100 would
//! let through anything below one per two scans.

use super::netns::{self, parse_ndjson, Side, TestNet};
use super::servers::{self, Place, Servers};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `max_connect_errors` of the test server.
const LIMIT: usize = 10;
/// Consecutive scans; 20 × [`LIMIT`].
const SCANS: usize = 200;
/// The port scanned.
const PORT: u16 = 3306;
/// Name the server's reverse lookup gives the scanner's address.
const SCANNER_NAME: &str = "scanner.lockout.test";
/// Password of the legitimate account `app`@`%`.
const SECRET: &str = "exposecheck-test-secret";

/// mariadbd resolving client names through `hosts` (bind-mounted over
/// /etc/hosts in its own mount namespace), `max_connect_errors` = [`LIMIT`],
/// account `app`@`%`. Returns its directory (socket `mysqld.sock`).
fn start_mariadb(servers: &mut Servers, net: &TestNet) -> PathBuf {
    let dir = servers.subdir("mariadb-resolving");
    let data = dir.join("data");
    let mut install = Command::new("mariadb-install-db");
    install.args([
        "--no-defaults",
        "--user=root",
        "--skip-test-db",
        "--auth-root-authentication-method=normal",
    ]);
    install.arg(format!("--datadir={}", data.display()));
    servers::run_logged(install, &dir.join("install.log"), Duration::from_secs(60));
    let hosts = dir.join("hosts");
    let names = format!(
        "127.0.0.1 localhost\n{} {SCANNER_NAME}\n{} target.lockout.test\n",
        net.scanner_v4(),
        net.target_v4()
    );
    std::fs::write(&hosts, names).expect("hosts file");
    let init = dir.join("init.sql");
    let account = format!("CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '{SECRET}';\n");
    std::fs::write(&init, account).expect("init.sql");
    // `unshare` and `sh` exec in turn: the child pid stays mariadbd's own.
    let mut cmd = servers.place.command("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"]);
    cmd.arg(r#"mount --bind "$0" /etc/hosts && exec "$@""#)
        .arg(&hosts);
    cmd.args([
        "/usr/sbin/mariadbd",
        "--no-defaults",
        "--user=root",
        "--skip-log-bin",
    ]);
    for (k, v) in [
        ("datadir", data),
        ("socket", dir.join("mysqld.sock")),
        ("pid-file", dir.join("mysqld.pid")),
        ("log-error", dir.join("error.log")),
        ("init-file", init),
    ] {
        cmd.arg(format!("--{k}={}", v.display()));
    }
    cmd.arg(format!("--bind-address={}", net.target_v4()));
    cmd.arg(format!("--port={PORT}"));
    cmd.arg(format!("--max-connect-errors={LIMIT}"));
    cmd.arg("--innodb-buffer-pool-size=16M");
    servers.spawn("mariadbd", cmd, &dir, &[PORT], libc::SIGTERM);
    dir
}

/// A global status counter, read as root over the server's socket.
fn status(dir: &Path, name: &str) -> u64 {
    let out = netns::run_ok(
        Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-N", "-B"])
            .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
            .args(["-e", &format!("SHOW GLOBAL STATUS LIKE '{name}'")]),
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("status {name}: {text:?}"))
}

/// The legitimate client: `app` logs in from the scanner namespace.
fn client_login(net: &TestNet) -> std::process::Output {
    let target = net.target_v4().to_string();
    let password = format!("--password={SECRET}");
    net.try_in(
        Side::Scanner,
        &[
            "mariadb",
            "--no-defaults",
            "-h",
            &target,
            "-P",
            "3306",
            "-uapp",
            &password,
            "-N",
            "-B",
            "-e",
            "SELECT CURRENT_USER()",
        ],
    )
}

/// The exchange exposecheck used before: connect, read the greeting's
/// first packet, close with RST. Returns the first byte of its payload
/// (`0x0a` greeting, `0xff` error) and the error code, if any.
fn old_exchange(addr: SocketAddr) -> (u8, u16) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut head = [0u8; 7];
    s.read_exact(&mut head).expect("first packet");
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on our own open socket with a correctly sized struct.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    (head[4], u16::from_le_bytes([head[5], head[6]]))
}

#[test]
fn repeated_scans_never_block_the_scanner_address() {
    let net = TestNet::new();
    let place = Place {
        ns: Some(net.target_ns.clone()),
        addr: net.target_v4().into(),
    };
    let mut servers = Servers::new(place);
    let dir = start_mariadb(&mut servers, &net);
    let target = net.target_v4().to_string();
    // The harness's readiness connect (from the target itself) aborted already.
    let aborted_before = status(&dir, "Aborted_connects_preauth");
    let start = Instant::now();
    for i in 0..SCANS {
        let out = net.exposecheck(&["--ndjson", "--fail-on", "none", "-p", "3306", &target]);
        netns::expect_exit(&out, 0);
        let nd = parse_ndjson(&out.stdout);
        assert_eq!(nd.ports.len(), 1, "scan {i}: {}", netns::show(&out));
        let svc = &nd.ports[0]["service"];
        assert_eq!(svc["name"], "mysql", "scan {i}: {svc}");
        assert_eq!(svc["product"], "MariaDB", "scan {i}: {svc}");
        assert_eq!(svc["auth"], "required", "scan {i}: {svc}");
        if i == 0 {
            // The refusal names the scanner as the server's lookup found it.
            let ev = svc["auth_evidence"].as_str().unwrap_or_default();
            let want = format!("'exposecheck'@'{SCANNER_NAME}' (using password: NO)");
            assert!(ev.contains(&want), "name resolution is not on: {svc}");
        }
    }
    let per_scan = start.elapsed() / SCANS as u32;
    eprintln!("lockout: {SCANS} scans, {per_scan:?} per scan");
    assert_eq!(
        status(&dir, "Aborted_connects_preauth"),
        aborted_before,
        "pre-auth aborts from the scans"
    );
    assert_eq!(
        status(&dir, "Access_denied_errors"),
        SCANS as u64,
        "one refused login per scan"
    );
    let login = client_login(&net);
    assert!(
        login.status.success() && String::from_utf8_lossy(&login.stdout).contains("app@%"),
        "the legitimate client is locked out after {SCANS} scans: {}",
        netns::show(&login)
    );

    // Control: the old exchange blocks the address past the limit.
    let addr = SocketAddr::new(net.target_v4().into(), PORT);
    let replies = netns::in_netns(&net.scanner_ns, move || {
        (0..2 * LIMIT)
            .map(|_| {
                let reply = old_exchange(addr);
                // Let the server thread count this abort before the next
                // connect (on a loaded machine two could slip in).
                std::thread::sleep(Duration::from_millis(50));
                reply
            })
            .collect::<Vec<_>>()
    });
    // MariaDB 10.11 refuses the connection after the LIMIT-th abort. Each
    // abort is counted by its own server thread, so a quick next connect
    // may still slip in: allow one more.
    let blocked_at = replies.iter().position(|&(first, _)| first == 0xff);
    eprintln!("lockout: old exchange blocked at connection {blocked_at:?} (limit {LIMIT})");
    let Some(at) = blocked_at.filter(|n| (LIMIT..=LIMIT + 1).contains(n)) else {
        panic!("the old exchange should be blocked just past the limit: {replies:?}");
    };
    assert!(
        replies[at..].iter().all(|&r| r == (0xff, 1129)),
        "{replies:?}"
    );
    let login = client_login(&net);
    assert!(
        !login.status.success() && String::from_utf8_lossy(&login.stderr).contains("1129"),
        "the control did not lock the client out: {}",
        netns::show(&login)
    );
}
