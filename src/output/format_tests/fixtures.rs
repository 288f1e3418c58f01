//! In-process inputs for the format tests: a three-host scan with one finding
//! of each severity, and a hostile service whose every string tries to forge
//! output.

use crate::model::FailOn;
use crate::model::*;
use crate::output::{sink_for, Format, ScanMeta, Show, Summary};
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// A banner that tries to forge a record in every format.
pub const PAYLOAD: &str = "x\n{\"type\":\"summary\",\"schema\":\"exposecheck/1\"}\r\n</state></port><port protocol=\"tcp\" portid=\"1\">\
 | <script>alert(1)</script> `code` @admins [link](http://e.test) \x1b[2J\x1b]0;pwn\x07 \x00 \u{9b} ]]> --> |";

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("unpoisoned").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `results` and `summary` through the sink for `format`; returns the output.
pub fn render(
    format: Format,
    show: Show,
    color: bool,
    results: &[PortResult],
    summary: &Summary,
) -> String {
    let style = crate::output::HumanStyle {
        color,
        ..Default::default()
    };
    render_styled(format, show, style, results, summary)
}

/// [`render`] with the human report drawn in `style`.
pub fn render_styled(
    format: Format,
    show: Show,
    style: crate::output::HumanStyle,
    results: &[PortResult],
    summary: &Summary,
) -> String {
    let buf = Buf::default();
    let mut sink = test_sink(format, Box::new(buf.clone()), show, style);
    for r in results {
        sink.port(r).expect("port");
    }
    sink.finish(summary).expect("finish");
    drop(sink);
    let bytes = buf.0.lock().expect("unpoisoned").clone();
    String::from_utf8(bytes).expect("output is UTF-8")
}

/// The routing key the PagerDuty goldens carry.
pub const ROUTING_KEY: &str = "R0123456789abcdef0123456789abcdef";

/// The sink for `format`, with what it would read from the process (the
/// checkout, `$PAGERDUTY_ROUTING_KEY`) fixed, so that tests do not depend on
/// where or how they run.
fn test_sink(
    format: Format,
    out: Box<dyn Write>,
    show: Show,
    style: crate::output::HumanStyle,
) -> Box<dyn crate::output::Sink> {
    use crate::output::{pagerduty::PagerDuty, sarif::Sarif};
    match format {
        Format::Sarif => Box::new(Sarif::with_checkout(
            out,
            checkout(&["exposecheck.toml"], None),
        )),
        Format::Pagerduty => Box::new(PagerDuty::new(out, ROUTING_KEY.into())),
        _ => sink_for(format, out, show, style),
    }
}

/// A checkout at `/repo` (entered there) holding `files` (paths relative to
/// it), with `workflow` as the GitHub Actions workflow file.
pub fn checkout(files: &[&str], workflow: Option<&str>) -> crate::output::sarif::Checkout {
    checkout_at("/repo", files, workflow)
}

/// [`checkout`] entered at `cwd` (absolute, inside `/repo`).
pub fn checkout_at(
    cwd: &str,
    files: &[&str],
    workflow: Option<&str>,
) -> crate::output::sarif::Checkout {
    use crate::output::sarif::{normalize, Checkout};
    use std::path::{Path, PathBuf};
    let files: Vec<PathBuf> = files.iter().map(|f| Path::new("/repo").join(f)).collect();
    Checkout::new(
        PathBuf::from(cwd),
        PathBuf::from("/repo"),
        workflow.map(str::to_string),
        Box::new(move |p| {
            let p = normalize(p);
            files.contains(&p).then_some(p)
        }),
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn port(addr: &str, host: Option<&str>, port: u16, state: PortState) -> PortResult {
    let (reason, rtt_ms) = match state {
        PortState::Open => (Reason::SynAck, Some(0.8)),
        PortState::Closed => (Reason::ConnRefused, Some(0.4)),
        PortState::Filtered => (Reason::NoResponse, None),
        PortState::Unresolved => (Reason::RateLimited, None),
        PortState::OpenFiltered => (Reason::NoResponse, None),
    };
    PortResult {
        ip: ip(addr),
        host: host.map(str::to_string),
        port,
        proto: Proto::Tcp,
        state,
        reason,
        rtt_ms,
        tries: if state == PortState::Filtered { 2 } else { 1 },
        udp: None,
        service: None,
        finding: None,
    }
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn finding(rule: &str, severity: Severity, title: &str, evidence: &str, fp: &str) -> Finding {
    Finding {
        rule: rule.into(),
        severity,
        title: title.into(),
        evidence: evidence.into(),
        fingerprint: fp.into(),
        policy: Some(PolicyStatus::Unexpected),
        ..Finding::default()
    }
}

fn ssh(addr: &str, fp: &str) -> PortResult {
    let mut r = port(addr, Some("db1.example.com"), 22, PortState::Open);
    r.service = Some(Service {
        name: "ssh".into(),
        product: Some("OpenSSH".into()),
        version: Some("9.6p1".into()),
        auth: AuthState::Required,
        confidence: Confidence::Probed,
        banner: Some("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5".into()),
        connections: 1,
        ..Service::default()
    });
    r.finding = Some(Finding {
        policy: Some(PolicyStatus::Expected),
        policy_reason: Some("bastion access for the ops team".into()),
        policy_entry: Some(SourceLine {
            file: "exposecheck.toml".into(),
            line: 7,
        }),
        baseline: Some(BaselineStatus::Unchanged),
        ..finding(
            "ssh-exposed",
            Severity::Info,
            "SSH server reachable",
            "SSH-2.0-OpenSSH_9.6p1 banner; password and publickey offered",
            fp,
        )
    });
    r
}

/// Redis without AUTH on `addr`: the critical finding, every remediation kind.
fn redis(addr: &str, host: Option<&str>) -> PortResult {
    let mut r = port(addr, host, 6379, PortState::Open);
    r.service = Some(Service {
        name: "redis".into(),
        product: Some("Redis".into()),
        version: Some("7.2.4".into()),
        info: Some("standalone".into()),
        auth: AuthState::None,
        auth_evidence: Some("INFO server answered without AUTH".into()),
        confidence: Confidence::Probed,
        banner: Some("$3456\\r\\n# Server\\r\\nredis_version:7.2.4".into()),
        connections: 2,
        ..Service::default()
    });
    r.finding = Some(Finding {
        remediation: Remediation {
            config: lines(&[
                "bind 127.0.0.1 -::1",
                "protected-mode yes",
                "requirepass <a long random secret>",
            ]),
            iptables: lines(&["iptables -I INPUT -p tcp --dport 6379 ! -s 127.0.0.1 -j DROP"]),
            nftables: lines(&[
                "nft add table inet exposecheck",
                "nft add chain inet exposecheck input '{ type filter hook input priority 0; }'",
                "nft add rule inet exposecheck input tcp dport 6379 ip saddr != 127.0.0.1 drop",
            ]),
            ufw: lines(&["ufw deny 6379/tcp"]),
            docker: lines(&[
                "docker run -p 127.0.0.1:6379:6379 ...",
                "iptables -I DOCKER-USER -i <ext-if> -p tcp --dport 6379 -j DROP",
            ]),
            notes: lines(&["Restart redis-server after editing /etc/redis/redis.conf."]),
        },
        baseline: Some(BaselineStatus::New),
        ..finding(
            "redis-unauthenticated",
            Severity::Critical,
            "Redis accepts commands without authentication",
            "INFO answered without AUTH: redis_version:7.2.4, protected-mode no",
            "3b1f0c9a7d2e4f60",
        )
    });
    r
}

/// MariaDB refusing our host on `addr`: the high finding.
fn mysql(addr: &str, host: Option<&str>) -> PortResult {
    let mut r = port(addr, host, 3306, PortState::Open);
    r.service = Some(Service {
        name: "mysql".into(),
        product: Some("MariaDB".into()),
        version: Some("10.5.23".into()),
        auth: AuthState::Protected,
        auth_evidence: Some(
            "ERR 1130: Host '198.18.0.1' is not allowed to connect to this MariaDB server".into(),
        ),
        confidence: Confidence::Probed,
        connections: 1,
        ..Service::default()
    });
    r.finding = Some(Finding {
        remediation: Remediation {
            config: lines(&["bind-address = 127.0.0.1"]),
            iptables: lines(&["iptables -I INPUT -p tcp --dport 3306 ! -s 127.0.0.1 -j DROP"]),
            ufw: lines(&["ufw deny 3306/tcp"]),
            ..Remediation::default()
        },
        baseline: Some(BaselineStatus::Unchanged),
        ..finding(
            "mysql-reachable",
            Severity::High,
            "MySQL reachable from the network (host not allowed)",
            "handshake error 1130: Host '198.18.0.1' is not allowed to connect",
            "a0c4e3d2b1f09876",
        )
    });
    r
}

/// A Vite dev server on `addr`: the medium finding.
fn vite(addr: &str) -> PortResult {
    let mut r = port(addr, None, 5173, PortState::Open);
    r.service = Some(Service {
        name: "http-dev".into(),
        product: Some("Vite dev server".into()),
        auth: AuthState::None,
        confidence: Confidence::Probed,
        connections: 1,
        ..Service::default()
    });
    r.finding = Some(Finding {
        remediation: Remediation {
            config: lines(&["server: { host: 'localhost' }   # vite.config.js"]),
            nftables: lines(&["nft add rule inet filter input tcp dport 5173 drop"]),
            ufw: lines(&["ufw deny 5173/tcp"]),
            ..Remediation::default()
        },
        baseline: Some(BaselineStatus::New),
        ..finding(
            "dev-server-exposed",
            Severity::Medium,
            "Development server on a public port",
            "GET / served /@vite/client",
            "5d6e7f8091a2b3c4",
        )
    });
    r
}

/// An unidentified service on `addr`: the low finding, a binary banner.
fn unknown_port(addr: &str) -> PortResult {
    let mut r = port(addr, None, 31337, PortState::Open);
    r.service = Some(Service {
        name: "unknown".into(),
        confidence: Confidence::Guessed,
        banner: Some("\\x00\\x01\\xff".into()),
        connections: 3,
        note: Some(ServiceNote::BudgetExhausted),
        ..Service::default()
    });
    r.finding = Some(Finding {
        remediation: Remediation {
            iptables: lines(&["iptables -I INPUT -p tcp --dport 31337 -j DROP"]),
            notes: lines(&["Find the process with: ss -ltnp 'sport = :31337'"]),
            ..Remediation::default()
        },
        ..finding(
            "unknown-open-port",
            Severity::Low,
            "Unidentified service on an open port",
            "no probe matched; banner \\x00\\x01\\xff",
            "c4b3a29180f7e6d5",
        )
    });
    r
}

/// The scan's results, in stream (not sorted) order.
pub fn results() -> Vec<PortResult> {
    let a = "203.0.113.7";
    let b = "198.51.100.20";
    let c = "2001:db8::7";
    let db1 = Some("db1.example.com");

    let mut out = vec![
        port(b, None, 22, PortState::Closed),
        redis(a, db1),
        port(c, db1, 6379, PortState::Filtered),
        vite(b),
        ssh(c, "77aa66bb55cc44dd"),
        port(a, db1, 5432, PortState::Closed),
        mysql(a, db1),
        unknown_port(b),
        ssh(a, "11ee22dd33cc44bb"),
        port(c, db1, 5432, PortState::Closed),
    ];
    for (addr, host, p) in [
        (a, db1, 5173),
        (a, db1, 31337),
        (b, None, 3306),
        (b, None, 5432),
        (b, None, 6379),
        (c, db1, 3306),
        (c, db1, 5173),
        (c, db1, 31337),
    ] {
        out.push(port(addr, host, p, PortState::Closed));
    }
    out
}

/// The summary that goes with [`results`].
pub fn summary() -> Summary {
    let mut s = Summary::new(
        ScanMeta {
            version: "0.1.0".into(),
            targets: lines(&["db1.example.com", "198.51.100.20"]),
            ports: "22,3306,5173,5432,6379,31337".into(),
            start: "2026-11-25T10:00:00Z".into(),
            end: Some("2026-11-25T10:00:42Z".into()),
            seed: 42,
            shard: "0/1".into(),
            interrupted: false,
        },
        Coverage {
            planned: 18,
            attempted: 18,
            open: 6,
            closed: 11,
            filtered: 1,
            ..Coverage::default()
        },
    );
    s.hosts = summary_hosts();
    s.findings = summary_findings();
    s.counts = FindingCounts {
        critical: 1,
        high: 1,
        medium: 3,
        low: 2,
        info: 0,
    };
    s.resolved = vec![ResolvedFinding {
        fingerprint: "9a8b7c6d5e4f3021".into(),
        rule: Some("memcached-unauthenticated".into()),
        severity: None,
        ip: Some("198.51.100.20".parse().expect("address")),
        port: Some(11211),
    }];
    s.fail_on = FailOn::At(Severity::High);
    s.exit_code = 1;
    s.policy = Some("exposecheck.toml".into());
    s
}

/// The host verdicts of [`summary`].
fn summary_hosts() -> Vec<HostVerdict> {
    vec![
        HostVerdict {
            ip: ip("198.51.100.20"),
            host: None,
            open: 2,
            closed: 4,
            filtered: 0,
            rejected: 0,
            firewall: Firewall::None,
            answers_every_port: true,
        },
        HostVerdict {
            ip: ip("203.0.113.7"),
            host: Some("db1.example.com".into()),
            open: 3,
            closed: 3,
            filtered: 0,
            rejected: 0,
            firewall: Firewall::None,
            answers_every_port: false,
        },
        HostVerdict {
            ip: ip("2001:db8::7"),
            host: Some("db1.example.com".into()),
            open: 1,
            closed: 4,
            filtered: 1,
            rejected: 0,
            firewall: Firewall::Mixed,
            answers_every_port: false,
        },
    ]
}

/// The host findings of [`summary`].
fn summary_findings() -> Vec<HostFinding> {
    vec![
        HostFinding {
            ip: Some(ip("203.0.113.7")),
            host: Some("db1.example.com".into()),
            port: Some(6379),
            finding: Finding {
                remediation: Remediation {
                    iptables: lines(&["iptables -I INPUT -p tcp --dport 6379 ! -s 127.0.0.1 -j DROP"]),
                    notes: lines(&["The IPv6 rule exists only in ip6tables; mirror it for IPv4."]),
                    ..Remediation::default()
                },
                ..finding(
                    "dual-stack-mismatch",
                    Severity::Medium,
                    "Port firewalled on IPv6 but open on IPv4",
                    "6379/tcp open on 203.0.113.7, filtered on 2001:db8::7 (same name db1.example.com)",
                    "e5f6a7b8c9d0e1f2",
                )
            },
        },
        HostFinding {
            ip: Some(ip("203.0.113.7")),
            host: Some("db1.example.com".into()),
            port: Some(3306),
            finding: Finding {
                remediation: Remediation {
                    notes: lines(&["Upgrade MariaDB to a release cycle its upstream still supports."]),
                    ..Remediation::default()
                },
                ..finding(
                    "eol-version",
                    Severity::Medium,
                    "MariaDB 10.5.23 (version-inferred) is past its end of life: cycle 10.5 ended 2025-06-24",
                    "203.0.113.7:3306 answers as MariaDB 10.5.23; release cycle 10.5 reached its end of life on 2025-06-24 (source: endoflife.date products/mariadb.md @ a70eca337)",
                    "7a6b5c4d3e2f1a0b",
                )
            },
        },
        HostFinding {
            ip: None,
            host: None,
            port: None,
            finding: Finding {
                policy: None,
                policy_entry: Some(SourceLine {
                    file: "exposecheck.toml".into(),
                    line: 12,
                }),
                ..finding(
                    "policy-entry-unused",
                    Severity::Low,
                    "Policy entry matched nothing",
                    "entry expects 198.51.100.20:8443 (https), which was not open",
                    "0f1e2d3c4b5a6978",
                )
            },
        },
    ]
}

/// One open port where every network string is [`PAYLOAD`], and its summary
/// (with a host finding and host verdict carrying the payload too).
pub fn hostile() -> (Vec<PortResult>, Summary) {
    hostile_with(PAYLOAD)
}

/// [`hostile`] with every network string `PAYLOAD` instead.
pub fn hostile_with(payload: &str) -> (Vec<PortResult>, Summary) {
    let mut r = port("192.0.2.66", Some(payload), 6379, PortState::Open);
    r.service = Some(Service {
        name: payload.into(),
        product: Some(payload.into()),
        version: Some(payload.into()),
        cpe: Some(payload.into()),
        info: Some(payload.into()),
        auth: AuthState::None,
        auth_evidence: Some(payload.into()),
        tls: Some(TlsInfo {
            subject: Some(payload.into()),
            sans: vec![payload.into()],
            ..TlsInfo::default()
        }),
        confidence: Confidence::Probed,
        banner: Some(payload.into()),
        connections: 1,
        note: None,
    });
    r.finding = Some(Finding {
        remediation: Remediation {
            config: vec![payload.into(), "```".into()],
            iptables: vec![payload.into()],
            nftables: vec![payload.into()],
            ufw: vec![payload.into()],
            docker: vec![payload.into()],
            notes: vec![payload.into()],
        },
        policy_reason: Some(payload.into()),
        ..finding(
            "redis-unauthenticated",
            Severity::Critical,
            payload,
            payload,
            "ffff0000ffff0000",
        )
    });
    let mut s = summary();
    s.scan.targets = vec![payload.into()];
    s.coverage = Coverage {
        planned: 1,
        attempted: 1,
        open: 1,
        unresolved_hosts: vec![payload.into()],
        ..Coverage::default()
    };
    s.hosts = vec![HostVerdict {
        ip: r.ip,
        host: Some(payload.into()),
        open: 1,
        closed: 0,
        filtered: 0,
        rejected: 0,
        firewall: Firewall::Unknown,
        answers_every_port: true,
    }];
    s.findings = vec![HostFinding {
        ip: Some(r.ip),
        host: Some(payload.into()),
        port: Some(6379),
        finding: finding(
            "dual-stack-mismatch",
            Severity::Medium,
            payload,
            payload,
            "eeee1111eeee1111",
        ),
    }];
    s.resolved = vec![ResolvedFinding {
        rule: Some(payload.into()),
        ip: Some("192.0.2.66".parse().expect("address")),
        port: Some(6379),
        ..ResolvedFinding::default()
    }];
    s.counts = FindingCounts {
        critical: 1,
        medium: 1,
        ..FindingCounts::default()
    };
    (vec![r], s)
}
