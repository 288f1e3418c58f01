//! A server whose greeting comes after the greeting window: ProFTPD (Debian
//! `proftpd-core`) on a moved loopback port greets ~300 ms after connect
//! from the second connection on, so the first probe of the walk goes out
//! before the greeting arrives and its reply starts with the greeting. The
//! port must still be named `ftp`/ProFTPD, run after run.

use super::netns::BIN;
use super::servers::{free_port, Place, Servers};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::process::Command;

#[test]
fn a_late_greeting_still_names_proftpd() {
    let mut servers = Servers::new(Place {
        ns: None,
        addr: Ipv4Addr::LOCALHOST.into(),
    });
    let port = free_port();
    let dir = servers.subdir("proftpd");
    let conf = dir.join("proftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerName \"exposecheck test\"\nServerType standalone\nDefaultServer on\n\
             Port {port}\nDefaultAddress 127.0.0.1\nSocketBindTight on\nUser nobody\nGroup nogroup\n\
             PidFile {d}/proftpd.pid\nScoreboardFile {d}/scoreboard\nWtmpLog off\nUseIPv6 off\n\
             DelayTable none\n",
            d = dir.display()
        ),
    )
    .expect("proftpd.conf");
    let mut cmd = Command::new("/usr/sbin/proftpd");
    cmd.arg("-n").arg("-c").arg(&conf);
    servers.spawn("proftpd", cmd, &dir, &[port], libc::SIGTERM);
    for run in 0..5 {
        let out = Command::new(BIN)
            .args(["--ndjson", "-q", "--no-canary", "--fail-on", "none", "-p"])
            .arg(port.to_string())
            .arg("127.0.0.1")
            .output()
            .expect("run exposecheck");
        let text = String::from_utf8_lossy(&out.stdout);
        let line: Value = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["type"] == "port")
            .unwrap_or_else(|| panic!("run {run}: no port line:\n{text}"));
        let s = &line["service"];
        assert_eq!(
            (s["name"].as_str(), s["product"].as_str()),
            (Some("ftp"), Some("ProFTPD")),
            "run {run}: {line:#}\n{}",
            servers.logs()
        );
    }
}
