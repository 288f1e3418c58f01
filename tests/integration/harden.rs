//! Issue 15, proven by a rescan: a target with real services (sshd, nginx,
//! MariaDB, Redis, memcached) over IPv4 and IPv6 and no firewall; the script
//! `exposecheck fix` writes for each firewall family is applied inside the
//! target namespace while an established SSH session is held open; the
//! session survives, the rescan shows only the policy's ports, default-deny,
//! the SSH rate limit, and nothing open over IPv6 that is closed over IPv4.
//! Then the article's own iptables script, applied as written, is recognised
//! the same way, and what `--hitcount 4` lets through is measured on the wire.
//!
//! ufw writes /etc/ufw, /lib/ufw and /etc/default/ufw: it runs in a private
//! mount namespace (inside the target network namespace) over copies of
//! those, so the host's files and firewall are never touched.

use super::netns::{
    findings_of, host_firewall, open_ports, open_ports_of, parse_json_doc, service_name, show,
    TestNet,
};
use super::servers::{allow_low_ports, MariaAccounts, Place, RedisMode, Servers};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The ports scanned: the services, and closed ones for the posture.
const PORTS: &str = "20-23,25,80,443,3306,6379,8080,11211";

/// Every port a service listens on.
const SERVICES: [u16; 6] = [22, 80, 443, 3306, 6379, 11211];

/// The ports the policy expects.
const POLICY_PORTS: [u16; 3] = [22, 80, 443];

/// A target namespace with the five services on both families.
struct Lab {
    net: TestNet,
    _servers: Vec<Servers>,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let net = TestNet::new();
        allow_low_ports(&net.target_ns);
        let ns = Some(net.target_ns.clone());
        let mut servers: Vec<Servers> = Vec::new();
        for addr in [IpAddr::from(net.target_v4()), IpAddr::from(net.target_v6())] {
            let mut s = Servers::new(Place {
                ns: ns.clone(),
                addr,
            });
            s.sshd(&[22]);
            s.nginx(&[80], &[443]);
            s.redis(RedisMode::Open, &[6379]);
            s.memcached(&[11211]);
            servers.push(s);
        }
        // One MariaDB bound to both addresses.
        let bind = format!("{},{}", net.target_v4(), net.target_v6());
        servers[0].mariadb_on(MariaAccounts::AnyHost, 3306, None, &bind);
        Lab {
            net,
            _servers: servers,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn v4(&self) -> String {
        self.net.target_v4().to_string()
    }

    fn v6(&self) -> String {
        self.net.target_v6().to_string()
    }

    /// A policy expecting 22, 80 and 443 on both addresses.
    fn policy(&self) -> PathBuf {
        let mut text = String::new();
        for host in [self.v4(), self.v6()] {
            for p in POLICY_PORTS {
                text +=
                    &format!("[[expect]]\nhost = \"{host}\"\nport = {p}\nreason = \"public\"\n\n");
            }
        }
        let path = self.dir.path().join("exposecheck.toml");
        std::fs::write(&path, text).expect("policy");
        path
    }

    /// Scans both addresses (one dual-stack host) as JSON.
    fn scan(&self, extra: &[&str]) -> Value {
        parse_json_doc(&self.scan_bytes(extra))
    }

    /// The `--json` document of a scan of both addresses, as written.
    fn scan_bytes(&self, extra: &[&str]) -> Vec<u8> {
        let mut args = vec![
            "--json",
            "-q",
            "--no-policy",
            "--fail-on",
            "none",
            "-p",
            PORTS,
        ];
        args.extend(extra);
        let (v4, v6) = (self.v4(), self.v6());
        args.extend([v4.as_str(), v6.as_str()]);
        let out = self.net.exposecheck(&args);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        out.stdout
    }

    /// `exposecheck fix` with `args`; the script it printed, saved.
    fn fix(&self, args: &[&str], name: &str) -> PathBuf {
        let mut all = vec!["fix", "--no-reset-guard"];
        all.extend(args);
        let out = self.net.exposecheck(&all);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let path = self.dir.path().join(name);
        std::fs::write(&path, &out.stdout).expect("script");
        path
    }

    /// A plain TCP session to the target's SSH port from the scanner, its
    /// banner read.
    fn hold_ssh(&self) -> TcpStream {
        let addr = SocketAddr::new(self.net.target_v4().into(), 22);
        let place = Place {
            ns: Some(self.net.scanner_ns.clone()),
            addr: addr.ip(),
        };
        place.within(move || {
            let mut s =
                TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("ssh session");
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut buf = [0u8; 255];
            let n = s.read(&mut buf).expect("banner");
            assert!(buf[..n].starts_with(b"SSH-"), "banner {:?}", &buf[..n]);
            s
        })
    }
}

/// The session still carries data both ways: our identification goes out
/// and sshd's key exchange offer comes back.
fn session_survives(mut s: TcpStream) {
    s.write_all(b"SSH-2.0-harden-test\r\n")
        .expect("write after the firewall");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).expect("read after the firewall");
    assert!(n > 0, "the held SSH session was closed");
}

/// Before: every service open on both families, identified, no firewall.
fn check_exposed(lab: &Lab, doc: &Value) {
    for ip in [lab.v4(), lab.v6()] {
        for p in SERVICES {
            assert!(
                open_ports(doc).contains(&(ip.clone(), p)),
                "{ip} {p} not open: {doc:#}"
            );
        }
        for (p, name) in [
            (22, "ssh"),
            (3306, "mysql"),
            (6379, "redis"),
            (11211, "memcached"),
        ] {
            assert_eq!(service_name(doc, &ip, p), name, "{ip} {p}");
        }
        assert_eq!(host_firewall(doc, &ip), "none", "{ip}");
        assert_eq!(findings_of(doc, "no-default-deny-firewall", &ip).len(), 1);
    }
}

/// After: only the policy's ports, default-deny, SSH limited by the
/// firewall (its refusal showing `refusal`), and IPv6 open nowhere IPv4 is
/// not.
fn check_hardened(lab: &Lab, doc: &Value, refusal: &str) {
    for ip in [lab.v4(), lab.v6()] {
        let here = open_ports_of(doc, &ip);
        assert_eq!(here, POLICY_PORTS, "{ip}: {doc:#}");
        assert_eq!(host_firewall(doc, &ip), "drop", "{ip}: default-deny");
        let limited = findings_of(doc, "ssh-rate-limited", &ip);
        assert_eq!(limited.len(), 1, "{ip}: {doc:#}");
        let evidence = limited[0]["evidence"].as_str().unwrap();
        eprintln!("{ip}: {evidence}");
        assert!(
            evidence.contains("opted in") && evidence.contains(refusal),
            "{evidence}"
        );
        assert!(findings_of(doc, "ssh-no-rate-limit", &ip).is_empty());
    }
    let v4 = open_ports_of(doc, &lab.v4());
    for p in open_ports_of(doc, &lab.v6()) {
        assert!(v4.contains(&p), "{p} open over IPv6 only");
    }
    let v6 = lab.v6();
    assert!(
        findings_of(doc, "dual-stack-mismatch", &v6).is_empty(),
        "{doc:#}"
    );
}

/// Sequential connects from the scanner (one SYN each: 300 ms, under the
/// kernel's 1 s retransmission) until one gets no answer; how many got
/// through, at most `max`.
fn admitted(lab: &Lab, max: usize) -> usize {
    let addr = SocketAddr::new(lab.net.target_v4().into(), 22);
    let place = Place {
        ns: Some(lab.net.scanner_ns.clone()),
        addr: addr.ip(),
    };
    place.within(move || {
        for n in 0..max {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err() {
                return n;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        max
    })
}

fn run_script(lab: &Lab, script: &Path) {
    lab.net
        .run_in_target(&["sh", &script.display().to_string()]);
}

#[test]
fn iptables_script_from_a_report_hardens_and_keeps_the_session() {
    let lab = Lab::new();
    let report = lab.dir.path().join("before.json");
    let bytes = lab.scan_bytes(&[]);
    check_exposed(&lab, &parse_json_doc(&bytes));
    std::fs::write(&report, &bytes).expect("report");
    let policy = lab.policy();
    let dir = lab.dir.path().join("scripts");
    std::fs::create_dir(&dir).unwrap();
    let out = lab.net.exposecheck(&[
        "fix",
        "--no-reset-guard",
        &report.display().to_string(),
        "--firewall",
        "iptables",
        "--policy",
        &policy.display().to_string(),
        "--dir",
        &dir.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v4 = lab.v4();
    let v6_file = format!("harden-{}.iptables.sh", lab.v6().replace(':', "_"));
    assert!(
        dir.join(&v6_file).is_file(),
        "one script per host: {}",
        show(&out)
    );
    let script = dir.join(format!("harden-{v4}.iptables.sh"));
    // With the reset guard (the default) and no `at` here, the script
    // refuses before it changes anything.
    let guarded = lab.net.exposecheck(&[
        "fix",
        &report.display().to_string(),
        "--policy",
        &policy.display().to_string(),
        "--dir",
        &lab.dir.path().display().to_string(),
    ]);
    assert_eq!(guarded.status.code(), Some(0), "{}", show(&guarded));
    let guarded = lab.dir.path().join(format!("harden-{v4}.iptables.sh"));
    let refused = lab.net.try_in(
        super::netns::Side::Target,
        &[
            "env",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "sh",
            &guarded.display().to_string(),
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", show(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("'at' is not installed"));
    let rules = lab.net.run_in_target(&["iptables", "-S", "INPUT"]);
    assert_eq!(
        String::from_utf8_lossy(&rules.stdout).trim(),
        "-P INPUT ACCEPT",
        "nothing was changed"
    );
    let session = lab.hold_ssh();
    run_script(&lab, &script);
    session_survives(session);
    check_hardened(&lab, &lab.scan(&["--check-ssh-rate"]), "no SYN-ACK");
    lab.net
        .run_in_target(&["sh", "-c", "echo / > /proc/net/xt_recent/SSH"]);
    let through = admitted(&lab, 6);
    eprintln!("generated iptables rules: {through} new connections per 60 s, then dropped");
    assert_eq!(through, 3);
}

#[test]
fn nftables_script_from_a_scan_hardens_and_keeps_the_session() {
    let lab = Lab::new();
    check_exposed(&lab, &lab.scan(&[]));
    let policy = lab.policy();
    let v4 = lab.v4();
    let script = lab.fix(
        &[
            "--firewall",
            "nftables",
            "--policy",
            &policy.display().to_string(),
            "-p",
            PORTS,
            &v4,
        ],
        "harden.nft.sh",
    );
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("nft -f -"), "{text}");
    let session = lab.hold_ssh();
    run_script(&lab, &script);
    session_survives(session);
    check_hardened(&lab, &lab.scan(&["--check-ssh-rate"]), "no SYN-ACK");
    lab.net
        .run_in_target(&["nft", "flush", "set", "inet", "exposecheck", "ssh_meter4"]);
    let through = admitted(&lab, 6);
    eprintln!("generated nftables meter: {through} new connections per 60 s, then dropped");
    assert_eq!(through, 3);
}

/// Runs `script` with ufw confined: inside the target network namespace, in
/// a private mount namespace where /etc/ufw, /lib/ufw and /etc/default/ufw
/// are copies (module loading and sysctl files switched off in the copy:
/// those reach past a network namespace).
fn run_ufw_confined(lab: &Lab, script: &Path) {
    let root = lab.dir.path().join("ufw-root");
    std::fs::create_dir(&root).unwrap();
    let (etc, lib, default) = (
        root.join("etc-ufw"),
        root.join("lib-ufw"),
        root.join("default-ufw"),
    );
    for (from, to) in [("/etc/ufw", &etc), ("/lib/ufw", &lib)] {
        let st = std::process::Command::new("cp")
            .args(["-a", from])
            .arg(to)
            .status()
            .unwrap();
        assert!(st.success(), "cp {from}");
    }
    let conf = std::fs::read_to_string("/etc/default/ufw").expect("/etc/default/ufw");
    let conf: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("IPT_MODULES=") {
                "IPT_MODULES=\"\"".to_owned()
            } else if l.starts_with("IPT_SYSCTL=") {
                "IPT_SYSCTL=/dev/null".to_owned()
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(&default, conf).unwrap();
    let inner = format!(
        "mount --bind {} /etc/ufw && mount --bind {} /lib/ufw && mount --bind {} /etc/default/ufw && sh {}",
        etc.display(),
        lib.display(),
        default.display(),
        script.display()
    );
    lab.net.run_in_target(&[
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        &inner,
    ]);
}

#[test]
fn ufw_script_confined_to_the_namespace_hardens_and_keeps_the_session() {
    let lab = Lab::new();
    let host_before = std::fs::read("/etc/ufw/user.rules").ok();
    let host_conf = std::fs::read_to_string("/etc/ufw/ufw.conf").unwrap_or_default();
    let bytes = lab.scan_bytes(&[]);
    check_exposed(&lab, &parse_json_doc(&bytes));
    let report = lab.dir.path().join("before.json");
    std::fs::write(&report, &bytes).unwrap();
    let policy = lab.policy();
    lab.fix(
        &[
            &report.display().to_string(),
            "--firewall",
            "ufw",
            "--policy",
            &policy.display().to_string(),
            "--dir",
            &lab.dir.path().display().to_string(),
        ],
        "stdout.txt",
    );
    let script = lab.dir.path().join(format!("harden-{}.ufw.sh", lab.v4()));
    let session = lab.hold_ssh();
    run_ufw_confined(&lab, &script);
    session_survives(session);
    // ufw's `limit` rejects the 6th new connection in 30 s.
    check_hardened(&lab, &lab.scan(&["--check-ssh-rate"]), "was refused");
    assert_eq!(
        std::fs::read("/etc/ufw/user.rules").ok(),
        host_before,
        "the host's ufw rules changed"
    );
    assert_eq!(
        std::fs::read_to_string("/etc/ufw/ufw.conf").unwrap_or_default(),
        host_conf
    );
}

/// The article's script as written: IPv4 only, MySQL and Redis from
/// 127.0.0.1 only.
const ARTICLE: &str = "
iptables -F
iptables -P INPUT DROP
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -p tcp --dport 22 -m state --state NEW -m recent --set --name SSH
iptables -A INPUT -p tcp --dport 22 -m state --state NEW -m recent --update --seconds 60 --hitcount 4 --name SSH -j DROP
iptables -A INPUT -p tcp --dport 22 -j ACCEPT
iptables -A INPUT -p tcp --dport 80 -j ACCEPT
iptables -A INPUT -p tcp --dport 443 -j ACCEPT
iptables -A INPUT -p icmp --icmp-type echo-request -j ACCEPT
iptables -A INPUT -p tcp -s 127.0.0.1 --dport 3306 -j ACCEPT
iptables -A INPUT -p tcp -s 127.0.0.1 --dport 6379 -j ACCEPT
iptables -A INPUT -m limit --limit 5/min -j LOG --log-prefix \"iptables-dropped: \"
";

#[test]
fn the_article_s_script_is_recognised_and_its_hitcount_measured() {
    let lab = Lab::new();
    let script = lab.dir.path().join("article.sh");
    std::fs::write(&script, format!("set -e\n{ARTICLE}")).unwrap();
    let session = lab.hold_ssh();
    run_script(&lab, &script);
    session_survives(session);
    // The held session's first packet after the rules counts as NEW (the
    // connection tracker picks it up mid-stream) and so as one `--set` hit:
    // the list starts empty for the measurement.
    lab.net
        .run_in_target(&["sh", "-c", "echo / > /proc/net/xt_recent/SSH"]);
    let through = admitted(&lab, 6);
    eprintln!("--hitcount 4 --seconds 60: {through} new connections got through, then a SYN went unanswered");
    assert_eq!(through, 3, "--hitcount 4 admits 3 new connections per 60 s");
    // The measurement filled the window: a fresh source is needed for the
    // scan, which IPv4 cannot give here; the list is cleared instead.
    lab.net
        .run_in_target(&["sh", "-c", "echo / > /proc/net/xt_recent/SSH"]);
    let doc = lab.scan(&["--check-ssh-rate"]);
    let v4 = lab.v4();
    let open = open_ports(&doc);
    for p in [22, 80, 443] {
        assert!(open.contains(&(v4.clone(), p)), "{p}: {doc:#}");
    }
    for p in [3306, 6379, 11211] {
        assert!(!open.contains(&(v4.clone(), p)), "{p} open: {doc:#}");
        let r = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ip"] == v4.as_str() && r["port"] == p);
        assert!(r.is_none_or(|r| r["state"] == "filtered"), "{p}: {r:?}");
    }
    assert_eq!(host_firewall(&doc, &v4), "drop");
    assert_eq!(
        findings_of(&doc, "ssh-rate-limited", &v4).len(),
        1,
        "{doc:#}"
    );
    // Written for IPv4 only: over IPv6 everything stays open, and the scan says so.
    let v6 = lab.v6();
    assert!(open.contains(&(v6.clone(), 6379)));
    assert!(
        !findings_of(&doc, "dual-stack-mismatch", &v6).is_empty(),
        "{doc:#}"
    );
}

#[test]
fn the_block_is_seen_to_lift_within_a_short_window() {
    let net = TestNet::new();
    allow_low_ports(&net.target_ns);
    let mut s = Servers::new(Place {
        ns: Some(net.target_ns.clone()),
        addr: net.target_v4().into(),
    });
    s.sshd(&[22]);
    for rule in [
        "-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --set --name SSH",
        "-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --update --seconds 2 --hitcount 5 --name SSH -j DROP",
    ] {
        net.iptables(rule);
    }
    let start = Instant::now();
    let v4 = net.target_v4().to_string();
    let out = net.exposecheck(&[
        "--json",
        "-q",
        "--fail-on",
        "none",
        "--no-policy",
        "-p",
        "20-23",
        "--check-ssh-rate",
        "--ssh-rate-wait",
        "3",
        &v4,
    ]);
    let doc = parse_json_doc(&out.stdout);
    let f = findings_of(&doc, "ssh-rate-limited", &v4);
    assert_eq!(f.len(), 1, "{doc:#}");
    let evidence = f[0]["evidence"].as_str().unwrap();
    assert!(evidence.contains("lifts within 3 s"), "{evidence}");
    assert!(start.elapsed() < Duration::from_secs(30));
}
