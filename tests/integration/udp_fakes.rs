//! The UDP probes end to end against the faithful fakes (protocols with no
//! Debian daemon: SQL Server Browser, IPMI, WS-Discovery, ARD, Ubiquiti,
//! CLDAP), each in a target namespace on its default port and on a moved
//! one, scanned from the scanner namespace; and hostile UDP servers (a flood
//! of replies, the largest datagram, replies from another source port),
//! bounded in bytes and time.

use crate::fakes::udp::{spawn_udp, UdpFake, UdpKind};
use crate::netns::*;
use exposecheck::scan::udp::DATAGRAMS_MAX;
use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Starts `kind` inside `net`'s target namespace on `port`.
fn fake(net: &TestNet, kind: UdpKind, port: u16) -> UdpFake {
    let addr = SocketAddr::new(net.target_v4().into(), port);
    let (sock, other) = in_netns(&net.target_ns, move || {
        let s = UdpSocket::bind(addr).expect("bind fake udp");
        let o = UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).expect("bind other port");
        (s, o)
    });
    spawn_udp(kind, sock, Some(other))
}

/// Scans `U:port` of the target; the port line, the summary and the time.
fn scan(net: &TestNet, port: u16, extra: &[&str]) -> (Value, Value, Duration) {
    let (line, summary, took) = scan_quiet(net, port, extra);
    (
        line.unwrap_or_else(|| panic!("no result for {port}: {summary}")),
        summary,
        took,
    )
}

/// Like [`scan`]; the port line is absent when the port did not answer
/// (ndjson lists open ports only).
fn scan_quiet(net: &TestNet, port: u16, extra: &[&str]) -> (Option<Value>, Value, Duration) {
    let target = net.target_v4().to_string();
    let spec = format!("U:{port}");
    let mut args = vec!["--format", "ndjson", "-p", &spec];
    args.extend_from_slice(extra);
    args.push(&target);
    let t0 = Instant::now();
    let out = net.exposecheck(&args);
    let took = t0.elapsed();
    let nd = parse_ndjson(&out.stdout);
    let line = nd.ports.iter().find(|v| v["port"] == port).cloned();
    (line, nd.summary, took)
}

/// What a protocol fake must be reported as.
struct Want {
    kind: UdpKind,
    port: u16,
    service: &'static str,
    product: Option<&'static str>,
    version: Option<&'static str>,
    info: &'static str,
    rule: &'static str,
    severity: &'static str,
}

fn check(w: &Want) {
    for port in [w.port, 40_000 + w.port % 10_000] {
        let net = TestNet::new();
        let f = fake(&net, w.kind, port);
        let (v, _, _) = scan(&net, port, &[]);
        let at = format!("{} on {port}: {v}", w.service);
        assert_eq!(v["proto"], "udp", "{at}");
        assert_eq!(v["state"], "open", "{at}");
        assert_eq!(v["reason"], "udp-response", "{at}");
        assert_eq!(v["service"]["name"], w.service, "{at}");
        if let Some(p) = w.product {
            assert_eq!(v["service"]["product"], p, "{at}");
        }
        if let Some(x) = w.version {
            assert_eq!(v["service"]["version"], x, "{at}");
        }
        let info = v["service"]["info"].as_str().unwrap_or("");
        assert!(info.contains(w.info), "info {info:?}: {at}");
        assert_eq!(v["finding"]["rule"], w.rule, "{at}");
        assert_eq!(v["finding"]["severity"], w.severity, "{at}");
        assert!(v["udp"]["received_bytes"].as_u64().unwrap_or(0) > 0, "{at}");
        assert!(
            f.requests() >= 1 && f.sent() >= 1,
            "fake saw {} sent {}",
            f.requests(),
            f.sent()
        );
    }
}

#[test]
fn udp_fake_mssql_browser() {
    check(&Want {
        kind: UdpKind::MssqlBrowser,
        port: 1434,
        service: "mssql",
        product: Some("Microsoft SQL Server"),
        version: Some("16.0.1000.6"),
        info: "instance MSSQLSERVER on WINSQL01",
        rule: "udp-amplifier",
        severity: "critical",
    });
}

#[test]
fn udp_fake_ipmi_follow_up_reads_login_methods() {
    check(&Want {
        kind: UdpKind::Ipmi { anonymous: true },
        port: 623,
        service: "ipmi",
        product: None,
        version: None,
        info: "anonymous login enabled",
        rule: "exposed-udp-service",
        severity: "medium",
    });
    let net = TestNet::new();
    let _f = fake(&net, UdpKind::Ipmi { anonymous: false }, 623);
    let (v, _, _) = scan(&net, 623, &[]);
    assert_eq!(v["service"]["auth"], "required", "{v}");
    assert_eq!(v["udp"]["sent_datagrams"], 2, "ping then auth caps: {v}");
}

#[test]
fn udp_fake_ws_discovery() {
    check(&Want {
        kind: UdpKind::WsDiscovery,
        port: 3702,
        service: "ws-discovery",
        product: None,
        version: None,
        info: "Types: dn:NetworkVideoTransmitter",
        rule: "udp-amplifier",
        severity: "high",
    });
}

#[test]
fn udp_fake_ard() {
    check(&Want {
        kind: UdpKind::Ard,
        port: 3283,
        service: "ard",
        product: None,
        version: None,
        info: "ARMS status record",
        rule: "udp-amplifier",
        severity: "high",
    });
}

#[test]
fn udp_fake_ubiquiti() {
    check(&Want {
        kind: UdpKind::Ubiquiti,
        port: 10001,
        service: "ubiquiti",
        product: Some("Ubiquiti UAP-AC-Lite"),
        version: Some("6.5.28"),
        info: "firmware BZ.qca956x",
        rule: "udp-amplifier",
        severity: "high",
    });
}

#[test]
fn udp_fake_cldap() {
    check(&Want {
        kind: UdpKind::Cldap,
        port: 389,
        service: "ldap",
        product: None,
        version: None,
        info: "dnsHostName: dc1.corp.example",
        rule: "udp-amplifier",
        severity: "high",
    });
}

#[test]
fn udp_hostile_flood_stops_at_the_datagram_cap() {
    let net = TestNet::new();
    let f = fake(&net, UdpKind::Flood(5000), 4444);
    let (v, _, took) = scan(&net, 4444, &["--udp-wait", "1500"]);
    let got = v["udp"]["received_datagrams"]
        .as_u64()
        .expect("received_datagrams");
    println!("flood: {} sent by the fake, {got} read, {took:?}", f.sent());
    assert_eq!(v["state"], "open", "{v}");
    assert!(
        got >= 1 && got <= u64::from(DATAGRAMS_MAX),
        "read {got}: {v}"
    );
    assert_eq!(v["udp"]["received_bytes"].as_u64(), Some(got * 64), "{v}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(
        f.sent() > DATAGRAMS_MAX as usize,
        "the fake flooded past the cap: {}",
        f.sent()
    );
}

#[test]
fn udp_hostile_largest_datagram_is_bounded_and_escaped() {
    let net = TestNet::new();
    let _f = fake(&net, UdpKind::Giant, 4445);
    let (v, _, took) = scan(&net, 4445, &["--udp-wait", "1500"]);
    assert_eq!(v["state"], "open", "{v}");
    let n = v["udp"]["received_datagrams"].as_u64().unwrap_or(0);
    let sent = v["udp"]["sent_datagrams"].as_u64().unwrap_or(0);
    assert!(
        n >= 1 && n <= sent,
        "one giant per probe at most: {n} for {sent}"
    );
    assert_eq!(
        v["udp"]["received_bytes"].as_u64(),
        Some(n * 65_507),
        "whole datagrams"
    );
    let banner = v["service"]["banner"].as_str().unwrap_or("");
    assert!(
        !banner.contains('\u{1b}') && !banner.contains('\u{7}'),
        "raw control bytes in banner"
    );
    assert!(banner.len() < 8 * 1024, "banner {} bytes", banner.len());
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[test]
fn udp_hostile_reply_from_another_port_is_not_open() {
    let net = TestNet::new();
    let f = fake(&net, UdpKind::OtherPort, 11211);
    let (v, summary, took) = scan_quiet(&net, 11211, &["--udp-wait", "1500"]);
    assert!(
        f.requests() >= 1 && f.sent() >= 1,
        "the fake answered from its other port"
    );
    assert!(v.is_none(), "a reply from another port made it open: {v:?}");
    assert_eq!(cov(&summary, "open"), 0, "{summary}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

/// A real OpenVPN server (Debian's openvpn) in the target namespace, with a
/// throw-away self-signed certificate; killed by its pid on drop.
struct OpenVpn {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl OpenVpn {
    fn start(net: &TestNet, port: u16, tls_crypt: bool) -> OpenVpn {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
        run_ok(std::process::Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=exposecheck-test",
            "-keyout",
            &p("key.pem"),
            "-out",
            &p("cert.pem"),
        ]));
        let port_s = port.to_string();
        let local = net.target_v4().to_string();
        let mut args = vec![
            "netns",
            "exec",
            &net.target_ns,
            "openvpn",
            "--dev",
            "null",
            "--proto",
            "udp",
            "--local",
            &local,
            "--lport",
            &port_s,
            "--tls-server",
            "--dh",
            "none",
            "--verb",
            "1",
        ];
        let (ca, cert, key, ta) = (p("cert.pem"), p("cert.pem"), p("key.pem"), p("ta.key"));
        args.extend(["--ca", &ca, "--cert", &cert, "--key", &key]);
        if tls_crypt {
            run_ok(std::process::Command::new("openvpn").args(["--genkey", "tls-crypt", &ta]));
            args.extend(["--tls-crypt", &ta]);
        }
        let child = std::process::Command::new("ip")
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start openvpn");
        let addr = format!("{local}:{port}");
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            let o = net.run_in_target(&["ss", "-Hlun", "sport", "=", &format!(":{port}")]);
            if String::from_utf8_lossy(&o.stdout).contains(&addr) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        OpenVpn { child, _dir: dir }
    }
}

impl Drop for OpenVpn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn udp_real_openvpn_answers_the_reset_unless_tls_crypt() {
    for port in [1194, 41194] {
        let net = TestNet::new();
        let _vpn = OpenVpn::start(&net, port, false);
        let (v, _, _) = scan(&net, port, &[]);
        assert_eq!(v["state"], "open", "{v}");
        assert_eq!(v["service"]["name"], "openvpn", "{v}");
        assert_eq!(v["finding"]["rule"], "openvpn-public", "{v}");
        assert_eq!(v["finding"]["severity"], "info", "{v}");
        assert!(v["udp"]["received_bytes"].as_u64().unwrap_or(0) > 0, "{v}");
    }
    let net = TestNet::new();
    let _vpn = OpenVpn::start(&net, 1194, true);
    let (v, summary, _) = scan_quiet(&net, 1194, &["--udp-wait", "1500"]);
    assert!(v.is_none(), "tls-crypt drops unsigned packets: {v:?}");
    assert_eq!(cov(&summary, "open"), 0, "{summary}");
}

/// A real Kamailio (Debian's kamailio, its packaged default configuration)
/// in the target namespace; killed by its pid on drop.
struct Kamailio {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    fn start(net: &TestNet, port: u16) -> Kamailio {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().to_string_lossy().into_owned();
        let pid = dir.path().join("k.pid").to_string_lossy().into_owned();
        let listen = format!("udp:{}:{port}", net.target_v4());
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &net.target_ns, "kamailio"])
            .args(["-f", "/etc/kamailio/kamailio.cfg", "-DD", "-E", "-n", "1"])
            .args(["-l", &listen, "-Y", &run, "-P", &pid])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start kamailio");
        wait_udp_listen(net, port);
        Kamailio { child, _dir: dir }
    }
}

impl Drop for Kamailio {
    /// SIGTERM first: Kamailio then stops its worker processes (a SIGKILL
    /// would leave them running); SIGKILL only if it is still up after 5 s.
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (10 s at most) until something listens on UDP `port` in the target.
fn wait_udp_listen(net: &TestNet, port: u16) {
    let t0 = Instant::now();
    let want = format!(":{port}");
    while t0.elapsed() < Duration::from_secs(10) {
        let o = net.run_in_target(&["ss", "-Hlun"]);
        if String::from_utf8_lossy(&o.stdout).contains(&want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on udp {port} in the target after 10 s");
}

#[test]
fn udp_real_kamailio_answers_options() {
    for port in [5060, 45060] {
        let net = TestNet::new();
        let _k = Kamailio::start(&net, port);
        let (v, _, _) = scan(&net, port, &[]);
        assert_eq!(v["state"], "open", "{v}");
        assert_eq!(v["service"]["name"], "sip", "{v}");
        assert_eq!(v["service"]["product"], "Kamailio", "{v}");
        let ver = v["service"]["version"].as_str().unwrap_or("");
        assert!(ver.starts_with("5."), "version {ver:?}: {v}");
        let banner = v["service"]["banner"].as_str().unwrap_or("");
        assert!(
            banner.contains(&format!("sip:probe@{}:{port}", net.target_v4())),
            "To names the target: {banner}"
        );
        assert_eq!(v["finding"]["rule"], "exposed-udp-service", "{v}");
        assert_eq!(v["finding"]["severity"], "medium", "{v}");
        assert!(v["udp"]["received_bytes"].as_u64().unwrap_or(0) > 0, "{v}");
    }
}
