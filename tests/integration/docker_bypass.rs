//! Issue 15 item 2, end to end: Docker's bypass of a default-deny INPUT
//! chain. The target namespace gets the article's default-deny firewall
//! (only 22 and 80 accepted, for both families) and Docker's own packet path
//! for two published ports, written as dockerd writes it (nat PREROUTING →
//! DOCKER → DNAT to the container; FORWARD → DOCKER-USER, then the
//! conntrack and DOCKER accepts), in front of a third namespace, the
//! "container", where a real Redis listens on 6379. `-p 6379:6379` and
//! `-p 16379:6379` are both published. No dockerd runs: only its netfilter
//! rules matter to what the wire shows, and those are reproduced exactly.
//!
//! The scan must call the host default-deny, name both ports Redis, and
//! raise `default-deny-bypassed` for them (never for the policy's 22 and
//! 80). The port's usual INPUT fix, applied, changes nothing (that is the
//! bypass); the finding's DOCKER-USER lines, applied as printed (iptables in
//! one test, nftables in the other), close both ports over IPv4 and IPv6.

use super::netns::{
    findings_of, host_firewall, open_ports, open_ports_of, parse_json_doc, show, TestNet,
};
use super::servers::{Place, RedisMode, Servers};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::{Duration, Instant};

/// The container's addresses and the target's ("docker0") side of its link.
const CT_V4: Ipv4Addr = Ipv4Addr::new(198, 19, 254, 2);
const GW_V4: &str = "198.19.254.1/24";
const CT_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xe0c, 0xd0c, 0, 0, 0, 0, 2);
const GW_V6: &str = "fd00:e0c:d0c::1/64";

/// Host ports Docker publishes, all to the container's 6379.
const PUBLISHED: [u16; 2] = [6379, 16379];
/// The ports the policy expects (harness listeners on the host itself).
const POLICY_PORTS: [u16; 2] = [22, 80];
const PORTS: &str = "21-23,80,443,3306,6379,16379";

/// The target behind a default-deny firewall, a container namespace with
/// Redis, and Docker's rules publishing it.
struct Lab {
    net: TestNet,
    container: String,
    bridge: String,
    _redis: Vec<Servers>,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        drop(std::mem::take(&mut self._redis));
        let _ = Command::new("ip")
            .args(["netns", "del", &self.container])
            .output();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(out.status.success(), "ip {args:?}: {}", show(&out));
}

impl Lab {
    fn new() -> Lab {
        let mut net = TestNet::new();
        net.listen(&POLICY_PORTS);
        let base = net.target_ns.trim_end_matches('t').to_owned();
        let (container, bridge) = (format!("{base}c"), format!("{base}d"));
        let _ = Command::new("ip")
            .args(["netns", "del", &container])
            .output();
        ip(&["netns", "add", &container]);
        let t = net.target_ns.clone();
        ip(&[
            "link", "add", &bridge, "netns", &t, "type", "veth", "peer", "name", &container,
            "netns", &container,
        ]);
        let c = container.as_str();
        for (ns, dev) in [(t.as_str(), bridge.as_str()), (c, c)] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&["-n", &t, "addr", "add", GW_V4, "dev", &bridge]);
        ip(&["-n", &t, "addr", "add", GW_V6, "dev", &bridge, "nodad"]);
        ip(&["-n", c, "addr", "add", &format!("{CT_V4}/24"), "dev", c]);
        ip(&[
            "-n",
            c,
            "addr",
            "add",
            &format!("{CT_V6}/64"),
            "dev",
            c,
            "nodad",
        ]);
        ip(&["-n", c, "route", "add", "default", "via", "198.19.254.1"]);
        ip(&[
            "-n",
            c,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "fd00:e0c:d0c::1",
        ]);
        for key in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
            net.sysctl_target(key, "1");
        }
        let mut redis = Vec::new();
        for addr in [IpAddr::from(CT_V4), IpAddr::from(CT_V6)] {
            let mut s = Servers::new(Place {
                ns: Some(container.clone()),
                addr,
            });
            s.redis(RedisMode::Open, &[6379]);
            redis.push(s);
        }
        let lab = Lab {
            net,
            container,
            bridge,
            _redis: redis,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        lab.default_deny();
        lab.docker_publishes();
        lab.wait_published();
        lab
    }

    /// Waits (up to 10 s) until the scanner reaches Redis through every
    /// published port over both families: the container's link comes up with
    /// its neighbour entries cold, and a scan begun then would see a SYN
    /// lost to neighbour resolution, not the firewall under test.
    fn wait_published(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in [
            IpAddr::from(self.net.target_v4()),
            self.net.target_v6().into(),
        ] {
            let scanner = Place {
                ns: Some(self.net.scanner_ns.clone()),
                addr,
            };
            for port in PUBLISHED {
                while !scanner.connects(port) {
                    assert!(
                        Instant::now() < deadline,
                        "{addr}:{port} never reached the container's Redis"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// The article's INPUT chain, both families: default DROP, loopback,
    /// established, the policy's ports (and, for IPv6, ICMPv6: neighbour
    /// discovery).
    fn default_deny(&self) {
        self.target("ip6tables -A INPUT -p ipv6-icmp -j ACCEPT");
        for tool in ["iptables", "ip6tables"] {
            for rule in [
                "-A INPUT -i lo -j ACCEPT",
                "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                "-A INPUT -p tcp --dport 22 -j ACCEPT",
                "-A INPUT -p tcp --dport 80 -j ACCEPT",
                "-P INPUT DROP",
            ] {
                self.target(&format!("{tool} {rule}"));
            }
        }
    }

    /// Docker's rules for `-p 6379:6379` and `-p 16379:6379`, as dockerd
    /// writes them (bridge driver, userland proxy off), for both families.
    fn docker_publishes(&self) {
        let br = &self.bridge;
        for (tool, ct) in [
            ("iptables", CT_V4.to_string()),
            ("ip6tables", CT_V6.to_string()),
        ] {
            let dest = |port: u16| {
                if tool == "iptables" {
                    format!("{ct}:{port}")
                } else {
                    format!("[{ct}]:{port}")
                }
            };
            let mut rules = vec![
                "-t nat -N DOCKER".to_owned(),
                "-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER".to_owned(),
                format!("-t nat -A DOCKER -i {br} -j RETURN"),
                "-N DOCKER".to_owned(),
                "-N DOCKER-USER".to_owned(),
                "-P FORWARD DROP".to_owned(),
                "-A FORWARD -j DOCKER-USER".to_owned(),
                format!("-A FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
                format!("-A FORWARD -o {br} -j DOCKER"),
                format!("-A FORWARD -i {br} ! -o {br} -j ACCEPT"),
                format!("-A DOCKER -d {ct} ! -i {br} -o {br} -p tcp -m tcp --dport 6379 -j ACCEPT"),
                "-A DOCKER-USER -j RETURN".to_owned(),
            ];
            for host_port in PUBLISHED {
                rules.push(format!(
                    "-t nat -A DOCKER ! -i {br} -p tcp -m tcp --dport {host_port} -j DNAT --to-destination {}",
                    dest(6379)
                ));
            }
            for rule in rules {
                self.target(&format!("{tool} {rule}"));
            }
        }
    }

    /// Runs one shell line inside the target namespace; it must succeed.
    fn target(&self, line: &str) {
        let out = self.net.run_in_target(&["sh", "-c", line]);
        assert!(out.status.success(), "{line}: {}", show(&out));
    }

    fn addrs(&self) -> [String; 2] {
        [
            self.net.target_v4().to_string(),
            self.net.target_v6().to_string(),
        ]
    }

    /// A policy expecting 22 and 80 on both addresses.
    fn policy(&self) -> String {
        let mut text = String::new();
        for host in self.addrs() {
            for p in POLICY_PORTS {
                text +=
                    &format!("[[expect]]\nhost = \"{host}\"\nport = {p}\nreason = \"public\"\n\n");
            }
        }
        let path = self.dir.path().join("exposecheck.toml");
        std::fs::write(&path, text).expect("policy");
        path.display().to_string()
    }

    fn scan(&self) -> Value {
        let policy = self.policy();
        let [v4, v6] = self.addrs();
        let args = [
            "--json",
            "-q",
            "--policy",
            &policy,
            "--fail-on",
            "none",
            "-p",
            PORTS,
            &v4,
            &v6,
        ];
        let out = self.net.exposecheck(&args);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        parse_json_doc(&out.stdout)
    }

    /// Applies every line of `lines` that starts with one of `tools`, with
    /// the external interface filled in, inside the target namespace.
    fn apply(&self, lines: &[String], tools: &[&str]) -> usize {
        let mut n = 0;
        for l in lines
            .iter()
            .filter(|l| tools.iter().any(|t| l.starts_with(&format!("{t} "))))
        {
            self.target(&l.replace("<ext-if>", self.net.dev(super::netns::Side::Target)));
            n += 1;
        }
        n
    }
}

fn lines(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Before any fix: default-deny, both published ports open and named Redis,
/// the bypass finding for each (with the Docker lines first), none for the
/// policy's ports; the port findings carry the Docker variant.
fn check_bypassed(lab: &Lab, doc: &Value) {
    let open = open_ports(doc);
    for ip in lab.addrs() {
        assert_eq!(host_firewall(doc, &ip), "drop", "{ip}: {doc:#}");
        let bypass = findings_of(doc, "default-deny-bypassed", &ip);
        let ports: Vec<u64> = bypass.iter().filter_map(|f| f["port"].as_u64()).collect();
        assert_eq!(ports, [6379, 16379], "{ip}: open {open:?}, {bypass:#?}");
        for f in &bypass {
            let port = f["port"].as_u64().unwrap();
            assert!(open.contains(&(ip.clone(), port as u16)), "{ip} {port}");
            let ipt = lines(&f["remediation"]["iptables"]);
            assert!(ipt[0].contains("DOCKER-USER"), "{ipt:?}");
            assert!(
                ipt.iter().any(|l| l.starts_with("iptables -I INPUT")),
                "the INPUT fix is kept beside: {ipt:?}"
            );
            let docker = lines(&f["remediation"]["docker"]);
            assert!(
                docker[0].contains(&format!("127.0.0.1:{port}:{port}")),
                "{docker:?}"
            );
        }
        let redis = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ip"] == ip.as_str() && r["port"].as_u64().is_some_and(|p| p > 6000))
            .collect::<Vec<_>>();
        assert_eq!(redis.len(), 2, "{ip}");
        for r in redis {
            assert_eq!(r["service"]["name"], "redis", "{r:#}");
            let docker = lines(&r["finding"]["remediation"]["docker"]);
            assert!(
                docker.iter().any(|l| l.contains("DOCKER-USER")),
                "every port fix carries the Docker variant: {r:#}"
            );
        }
    }
}

/// After the Docker lines: the published ports are closed over both
/// families, the policy's ports still answer, and the bypass finding is gone.
fn check_closed(lab: &Lab, doc: &Value) {
    for ip in lab.addrs() {
        let here = open_ports_of(doc, &ip);
        assert_eq!(here, POLICY_PORTS, "{ip}: {doc:#}");
        assert_eq!(host_firewall(doc, &ip), "drop", "{ip}");
        assert!(findings_of(doc, "default-deny-bypassed", &ip).is_empty());
    }
}

/// The port's usual fix (INPUT rules) leaves a published port open; the
/// finding's DOCKER-USER lines for `tools` close it.
fn input_fix_fails_then_docker_lines_close(tools: &[&str]) {
    let lab = Lab::new();
    let doc = lab.scan();
    check_bypassed(&lab, &doc);
    let redis_fix: Vec<String> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["service"]["name"] == "redis")
        .flat_map(|r| lines(&r["finding"]["remediation"]["iptables"]))
        .collect();
    assert!(lab.apply(&redis_fix, &["iptables", "ip6tables"]) >= 2);
    let after_input = lab.scan();
    for ip in lab.addrs() {
        for p in PUBLISHED {
            assert!(
                open_ports(&after_input).contains(&(ip.clone(), p)),
                "{ip} {p}: the INPUT fix cannot close a port Docker publishes"
            );
        }
    }
    let mut applied = 0;
    for ip in lab.addrs() {
        for f in findings_of(&doc, "default-deny-bypassed", &ip) {
            let docker = lines(&f["remediation"]["docker"]);
            let family: Vec<String> = docker
                .into_iter()
                .filter(|l| {
                    let v6 = l.starts_with("ip6tables ") || l.contains(" ip6 filter ");
                    v6 == ip.contains(':')
                })
                .collect();
            applied += lab.apply(&family, tools);
        }
    }
    assert!(applied >= 4, "{applied} Docker lines applied");
    check_closed(&lab, &lab.scan());
}

#[test]
fn docker_published_ports_are_found_on_a_default_deny_host_and_iptables_docker_user_closes_them() {
    input_fix_fails_then_docker_lines_close(&["iptables", "ip6tables"]);
}

#[test]
fn the_nftables_docker_user_lines_close_them_too() {
    input_fix_fails_then_docker_lines_close(&["nft"]);
}
