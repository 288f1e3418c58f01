//! The UDP sweep end to end, against real daemons in a target namespace
//! scanned from the scanner namespace: Memcached with UDP on, snmpd, ntpsec,
//! chrony, BIND, Unbound and dnsmasq as open and as closed services (each on
//! its default port, and on a moved one where the daemon allows it); the
//! firewall cases (no rule, DROP, REJECT with port-unreachable and with
//! admin-prohibited); the target kernel's ICMP rate limit, at its default
//! and lifted; and the default audit's UDP set, `--no-udp` and `-sU`.

use super::identify::testnet;
use super::netns::{parse_ndjson, show, TestNet};
use super::servers::{Place, Servers};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Waits until something in `place`'s namespace is bound to UDP `port`.
fn wait_udp(place: &Place, servers: &Servers, label: &str, port: u16) {
    let start = Instant::now();
    loop {
        let out = place
            .command("ss")
            .args(["-Hnlu", &format!("sport = :{port}")])
            .output()
            .expect("ss");
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{label} never bound UDP {port}:\n{}",
            servers.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `cmd` as a foreground child that binds UDP `ports`.
fn start(servers: &mut Servers, label: &str, cmd: Command, dir: &Path, ports: &[u16]) {
    servers.spawn(label, cmd, dir, &[], libc::SIGTERM);
    let place = servers.place.clone();
    for &p in ports {
        wait_udp(&place, servers, label, p);
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config");
    p
}

/// The UDP port lines of an NDJSON scan of `spec`, keyed by port, and the
/// summary.
fn scan(net: &TestNet, args: &[&str]) -> (Vec<Value>, Value) {
    let target = net.target_v4().to_string();
    let mut a = vec!["--ndjson", "-q", "--show", "closed,filtered"];
    a.extend_from_slice(args);
    a.push(&target);
    let out = net.exposecheck(&a);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exposecheck failed\n{}",
        show(&out)
    );
    let nd = parse_ndjson(&out.stdout);
    (nd.ports, nd.summary)
}

fn udp_line(lines: &[Value], port: u16) -> Value {
    lines
        .iter()
        .find(|l| l["proto"] == "udp" && l["port"] == port)
        .cloned()
        .unwrap_or_else(|| panic!("no udp line for {port}: {lines:?}"))
}

/// What one answering UDP port must show.
struct Want<'a> {
    service: &'a str,
    product: Option<&'a str>,
    rule: &'a str,
    severity: &'a str,
}

fn check(line: &Value, w: &Want<'_>) {
    let ctx = || format!("{line}");
    assert_eq!(line["state"], "open", "{}", ctx());
    assert_eq!(line["reason"], "udp-response", "{}", ctx());
    assert_eq!(line["service"]["name"], w.service, "{}", ctx());
    assert_eq!(line["service"]["confidence"], "probed", "{}", ctx());
    if let Some(p) = w.product {
        assert_eq!(line["service"]["product"], p, "{}", ctx());
        assert!(
            line["service"]["version"]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "a version: {}",
            ctx()
        );
    }
    assert_eq!(line["finding"]["rule"], w.rule, "{}", ctx());
    assert_eq!(line["finding"]["severity"], w.severity, "{}", ctx());
    assert!(
        line["udp"]["received_bytes"].as_u64().unwrap_or(0) > 0,
        "{}",
        ctx()
    );
    let fw = line["finding"]["remediation"]["iptables"]
        .as_array()
        .cloned();
    assert!(
        fw.unwrap_or_default()
            .iter()
            .all(|x| x.as_str().unwrap_or("").contains("-p udp")),
        "{}",
        ctx()
    );
}

fn memcached(s: &mut Servers, port: u16) {
    let dir = s.subdir(&format!("memcached-udp-{port}"));
    let mut cmd = s.place.command("memcached");
    let p = port.to_string();
    let addr = s.place.addr.to_string();
    cmd.args(["-u", "root", "-m", "16", "-l", &addr, "-p", &p, "-U", &p]);
    start(s, "memcached", cmd, &dir, &[port]);
}

#[test]
fn memcached_with_udp_on_is_a_critical_reflector_on_its_port_and_a_moved_one() {
    let (net, place) = testnet();
    let mut s = Servers::new(place);
    memcached(&mut s, 11211);
    memcached(&mut s, 21211);
    let (lines, _) = scan(&net, &["-p", "U:11211,21211"]);
    for port in [11211, 21211] {
        let l = udp_line(&lines, port);
        check(
            &l,
            &Want {
                service: "memcached",
                product: Some("Memcached"),
                rule: "udp-amplifier",
                severity: "critical",
            },
        );
        assert_eq!(
            l["udp"]["published"],
            "x10,000-51,000 (US-CERT TA14-017A; 1.7 Tbps in 2018)"
        );
    }
    assert!(
        lines.iter().all(|l| l["proto"] == "udp"),
        "a U: list scans UDP only: {lines:?}"
    );
}

fn snmpd(s: &mut Servers, port: u16, community: &str) {
    let dir = s.subdir(&format!("snmpd-{port}"));
    let conf = write(
        &dir,
        "snmpd.conf",
        &format!(
            "agentaddress udp:{}:{port}\nrocommunity {community} default -V systemonly\nview systemonly included .1.3.6.1.2.1.1\n",
            s.place.addr
        ),
    );
    let mut cmd = s.place.command("snmpd");
    cmd.args(["-f", "-Lo", "-C", "-c"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.join("snmpd.pid"))
        .args(["-I", "-smux,mteTrigger,mteTriggerConf"]);
    start(s, "snmpd", cmd, &dir, &[port]);
}

#[test]
fn snmpd_with_public_is_flagged_and_with_a_private_community_stays_silent() {
    let (net, place) = testnet();
    let mut s = Servers::new(place);
    snmpd(&mut s, 161, "public");
    snmpd(&mut s, 1161, "public");
    snmpd(&mut s, 2161, "n0t-the-default-8c1f");
    let (lines, _) = scan(&net, &["-p", "U:161,1161,2161"]);
    for port in [161, 1161] {
        let l = udp_line(&lines, port);
        check(
            &l,
            &Want {
                service: "snmp",
                product: None,
                rule: "snmp-public-community",
                severity: "high",
            },
        );
        let info = l["service"]["info"].as_str().unwrap_or("");
        assert!(info.contains("sysDescr: Linux"), "{l}");
    }
    let quiet = udp_line(&lines, 2161);
    assert_eq!(quiet["state"], "open|filtered", "{quiet}");
    assert!(quiet.get("finding").is_none(), "{quiet}");
}

#[test]
fn ntpsec_answering_mode_6_is_a_reflector_and_with_noquery_only_public() {
    for (restrict, rule, severity) in [
        (
            // ntpsec 1.2.2 answers mode 6 only to an address an explicit
            // `restrict` line names (the operator's "let our network
            // query it"), not under `restrict default` alone; `limited`
            // would drop the mode 6 query that follows mode 3 at once.
            "restrict default kod nomodify limited noquery\nrestrict 198.18.0.0 mask 255.254.0.0 nomodify",
            "udp-amplifier",
            "high",
        ),
        (
            "restrict default kod nomodify limited noquery",
            "ntp-public",
            "info",
        ),
    ] {
        let (net, place) = testnet();
        let mut s = Servers::new(place);
        let dir = s.subdir("ntpsec");
        let conf = write(
            &dir,
            "ntp.conf",
            &format!("{restrict}\ndriftfile {}\n", dir.join("drift").display()),
        );
        let mut cmd = s.place.command("/usr/sbin/ntpd");
        cmd.args(["-n", "-c"])
            .arg(&conf)
            .arg("-p")
            .arg(dir.join("ntpd.pid"))
            .args(["-I", &s.place.addr.to_string()]);
        start(&mut s, "ntpsec", cmd, &dir, &[123]);
        let (lines, _) = scan(&net, &["-p", "U:123"]);
        let l = udp_line(&lines, 123);
        let product = (rule == "udp-amplifier").then_some("ntpsec");
        check(
            &l,
            &Want {
                service: "ntp",
                product,
                rule,
                severity,
            },
        );
    }
}

/// chronyd from the Debian package, unpacked by `.ci/run` (chrony conflicts
/// with ntpsec, so it is not installed).
fn chronyd() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chrony/usr/sbin/chronyd");
    assert!(
        root.exists(),
        "{} missing: .ci/run unpacks Debian's chrony package there",
        root.display()
    );
    root
}

#[test]
fn chrony_serving_time_is_public_on_its_port_and_a_moved_one() {
    let (net, place) = testnet();
    let mut s = Servers::new(place);
    for port in [123u16, 11123] {
        let dir = s.subdir(&format!("chrony-{port}"));
        let conf = write(
            &dir,
            "chrony.conf",
            &format!(
                "port {port}\nbindaddress {}\nallow all\ncmdport 0\nuser root\npidfile {}\ndriftfile {}\n",
                s.place.addr,
                dir.join("chronyd.pid").display(),
                dir.join("drift").display()
            ),
        );
        let mut cmd = s.place.command(chronyd().to_str().expect("path"));
        cmd.args(["-d", "-x", "-f"]).arg(&conf);
        start(&mut s, "chronyd", cmd, &dir, &[port]);
    }
    let (lines, _) = scan(&net, &["-p", "U:123,11123"]);
    for port in [123, 11123] {
        check(
            &udp_line(&lines, port),
            &Want {
                service: "ntp",
                product: None,
                rule: "ntp-public",
                severity: "info",
            },
        );
    }
}

fn named(s: &mut Servers, port: u16, recursion: &str) {
    let dir = s.subdir(&format!("named-{port}"));
    let conf = write(
        &dir,
        "named.conf",
        &format!(
            "options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; listen-on port {port} {{ {a}; }}; listen-on-v6 {{ none; }}; recursion yes; allow-recursion {{ {recursion}; }}; allow-query-cache {{ {recursion}; }}; dnssec-validation no; }};\n",
            d = dir.display(),
            a = s.place.addr,
        ),
    );
    let mut cmd = s.place.command("named");
    cmd.args(["-g", "-4", "-u", "root", "-c"]).arg(&conf);
    start(s, "named", cmd, &dir, &[port]);
}

fn unbound(s: &mut Servers, port: u16, access: &str) {
    let dir = s.subdir(&format!("unbound-{port}"));
    let conf = write(
        &dir,
        "unbound.conf",
        &format!(
            "server:\n  interface: {a}\n  port: {port}\n  do-ip6: no\n  chroot: \"\"\n  username: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  access-control: 0.0.0.0/0 {access}\n",
            a = s.place.addr,
            d = dir.display(),
        ),
    );
    let mut cmd = s.place.command("unbound");
    cmd.args(["-d", "-c"]).arg(&conf);
    start(s, "unbound", cmd, &dir, &[port]);
}

#[test]
fn resolvers_open_and_closed_are_told_apart() {
    let (net, place) = testnet();
    let mut s = Servers::new(place);
    named(&mut s, 53, "any");
    named(&mut s, 1053, "none");
    unbound(&mut s, 2053, "allow");
    unbound(&mut s, 3053, "refuse");
    let dir = s.subdir("dnsmasq");
    let mut cmd = s.place.command("dnsmasq");
    let addr = s.place.addr.to_string();
    cmd.args([
        "-k",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "-u",
        "root",
        &format!("--listen-address={addr}"),
        "--port=4053",
    ])
    .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()));
    start(&mut s, "dnsmasq", cmd, &dir, &[4053]);
    let (lines, _) = scan(&net, &["-p", "U:53,1053,2053,3053,4053"]);
    let open = |port: u16, product: &str| {
        check(
            &udp_line(&lines, port),
            &Want {
                service: "dns",
                product: Some(product),
                rule: "dns-open-resolver",
                severity: "high",
            },
        );
    };
    open(53, "BIND");
    open(2053, "Unbound");
    open(4053, "dnsmasq");
    for (port, product) in [(1053, Some("BIND")), (3053, None)] {
        check(
            &udp_line(&lines, port),
            &Want {
                service: "dns",
                product,
                rule: "exposed-udp-service",
                severity: "medium",
            },
        );
        assert_eq!(udp_line(&lines, port)["service"]["auth"], "protected");
    }
}

#[test]
fn firewall_rules_give_closed_filtered_and_open_filtered() {
    let (net, place) = testnet();
    let mut s = Servers::new(place);
    memcached(&mut s, 11211);
    net.sysctl_target("net.ipv4.icmp_ratelimit", "0");
    net.iptables("-A INPUT -p udp --dport 40001 -j DROP");
    net.iptables("-A INPUT -p udp --dport 40002 -j REJECT --reject-with icmp-port-unreachable");
    net.iptables("-A INPUT -p udp --dport 40003 -j REJECT --reject-with icmp-admin-prohibited");
    net.iptables("-A INPUT -p udp --dport 40004 -j REJECT --reject-with icmp-host-prohibited");
    let (lines, _) = scan(&net, &["-p", "U:11211,40000-40004"]);
    let st = |p: u16| {
        let l = udp_line(&lines, p);
        (
            l["state"].as_str().unwrap_or("").to_string(),
            l["reason"].as_str().unwrap_or("").to_string(),
        )
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(st(11211), pair("open", "udp-response"));
    assert_eq!(st(40000), pair("closed", "port-unreach"), "no rule");
    assert_eq!(st(40001), pair("open|filtered", "no-response"), "DROP");
    assert_eq!(
        st(40002),
        pair("closed", "port-unreach"),
        "REJECT port-unreachable"
    );
    assert_eq!(st(40003), pair("filtered", "admin-prohibited"));
    assert_eq!(st(40004), pair("filtered", "admin-prohibited"));
}

/// Closed ports beyond the target's ICMP burst: at the default limit the
/// set ends in time, every service found, the unresolved ones counted; with
/// the limit lifted every closed port is `closed`.
#[test]
fn the_icmp_rate_limit_is_paced_and_counted_not_hidden() {
    let closed = "U:40100-40119";
    for (limit, lifted) in [("1000", false), ("0", true)] {
        let (net, place) = testnet();
        let mut s = Servers::new(place);
        memcached(&mut s, 11211);
        net.sysctl_target("net.ipv4.icmp_ratelimit", limit);
        let t0 = Instant::now();
        let (lines, summary) = scan(&net, &["-p", &format!("{closed},11211")]);
        let took = t0.elapsed();
        assert_eq!(udp_line(&lines, 11211)["state"], "open");
        let count = |st: &str| {
            lines
                .iter()
                .filter(|l| l["proto"] == "udp" && l["state"] == st)
                .count()
        };
        let limited = summary["coverage"]["udp_rate_limited"]
            .as_u64()
            .unwrap_or(99);
        eprintln!(
            "icmp_ratelimit={limit}: {} closed, {} open|filtered, {limited} counted, {took:?}",
            count("closed"),
            count("open|filtered")
        );
        assert_eq!(count("closed") + count("open|filtered"), 20);
        if lifted {
            assert_eq!((count("closed"), limited), (20, 0));
        } else {
            assert!(count("closed") >= 6, "the burst answers at least");
            assert!(count("open|filtered") > 0, "the limit held some back");
            assert_eq!(limited as usize, count("open|filtered"));
            assert!(took < Duration::from_millis(4500), "{took:?}");
        }
    }
}

#[test]
fn the_default_audit_includes_the_udp_set_and_no_udp_and_su_choose() {
    let (net, place) = testnet();
    let mut s = Servers::new(place);
    memcached(&mut s, 11211);
    let (all, summary) = scan(&net, &[]);
    let udp: Vec<&Value> = all.iter().filter(|l| l["proto"] == "udp").collect();
    assert!(udp.len() >= 4, "the UDP exposure set: {udp:?}");
    assert!(udp
        .iter()
        .any(|l| l["port"] == 11211 && l["state"] == "open"));
    assert!(all
        .iter()
        .any(|l| l["proto"] == "tcp" && l["port"] == 11211));
    assert!(
        summary["scan"]["ports"]
            .as_str()
            .unwrap_or("")
            .contains("U:"),
        "{summary}"
    );
    let (no_udp, _) = scan(&net, &["--no-udp"]);
    assert!(no_udp.iter().all(|l| l["proto"] == "tcp"));
    let (only, _) = scan(&net, &["-sU"]);
    assert!(!only.is_empty() && only.iter().all(|l| l["proto"] == "udp"));
}
