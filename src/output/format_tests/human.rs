//! The human report of a realistic host: Redis without AUTH, MariaDB
//! refusing this client and a public SSH on one address, each judged by the
//! real verdict (`verdict::port`, so the rules table, `remedy::firewall` and
//! the services' own config lines and notes). It must fit 30 lines of 120
//! columns, print host-wide notes once, show one firewall family unless
//! `-v`, keep its columns aligned with long service names, and colour only
//! when asked.

use super::fixtures::{hostile, render_styled};
use crate::catalog::Catalog;
use crate::model::*;
use crate::output::human::{columns, SAME_FOR_IPV6, SERVICE_MAX, WIDTH};
use crate::output::{Format, HumanStyle, ScanMeta, Show, Summary};
use crate::verdict::{port, ServiceFacts};

const ADDR: &str = "203.0.113.7";

fn service(name: &str, product: &str, version: &str, auth: AuthState, why: &str) -> Service {
    Service {
        name: name.into(),
        product: Some(product.into()),
        version: Some(version.into()),
        auth,
        auth_evidence: Some(why.into()),
        confidence: Confidence::Probed,
        connections: 1,
        ..Service::default()
    }
}

/// An open port on [`ADDR`] answered by `svc`, judged as a run judges it
/// (`svc.name` must be a built-in service, or the port gets no finding).
fn judged(port: u16, rtt_ms: f64, svc: Service) -> PortResult {
    let facts = Catalog::builtin()
        .service(&svc.name)
        .map(ServiceFacts::from);
    let mut r = PortResult {
        ip: ADDR.parse().expect("address"),
        host: Some("db1.example.com".into()),
        port,
        proto: Proto::Tcp,
        state: PortState::Open,
        reason: Reason::SynAck,
        rtt_ms: Some(rtt_ms),
        tries: 1,
        udp: None,
        service: Some(svc),
        finding: None,
    };
    r.finding = port::assess(&r, facts.as_ref());
    r
}

/// The three judged ports.
fn db1() -> Vec<PortResult> {
    vec![
        judged(
            6379,
            0.31,
            service(
                "redis",
                "Redis",
                "7.2.4",
                AuthState::None,
                "INFO server answered without AUTH: redis_mode:standalone, protected-mode no, 14 clients connected",
            ),
        ),
        judged(
            3306,
            12.3456,
            service(
                "mysql",
                "MariaDB",
                "10.11.6",
                AuthState::Protected,
                "ERR 1130: Host '198.18.0.1' is not allowed to connect to this MariaDB server",
            ),
        ),
        judged(
            22,
            1234.5,
            service(
                "ssh",
                "OpenSSH",
                "9.6p1",
                AuthState::Required,
                "publickey,password offered",
            ),
        ),
    ]
}

/// The summary of a full-range scan of [`ADDR`] that found `results`.
fn summary(results: &[PortResult]) -> Summary {
    let mut s = Summary::new(
        ScanMeta {
            version: "0.1.0".into(),
            targets: vec!["db1.example.com".into()],
            ports: "1-65535".into(),
            start: "2026-11-25T10:00:00Z".into(),
            seed: 7,
            shard: "0/1".into(),
            ..ScanMeta::default()
        },
        Coverage {
            planned: 65_535,
            attempted: 65_535,
            open: 3,
            closed: 65_532,
            ..Coverage::default()
        },
    );
    s.hosts = vec![HostVerdict {
        ip: ADDR.parse().expect("address"),
        host: Some("db1.example.com".into()),
        open: 3,
        closed: 65_532,
        filtered: 0,
        rejected: 0,
        firewall: Firewall::None,
        answers_every_port: false,
    }];
    for f in results.iter().filter_map(|r| r.finding.as_ref()) {
        s.counts.add(f.severity);
    }
    s.fail_on = FailOn::At(Severity::High);
    s.exit_code = 1;
    s
}

fn draw(results: &[PortResult], style: HumanStyle) -> String {
    render_styled(
        Format::Human,
        Show::default(),
        style,
        results,
        &summary(results),
    )
}

fn default_style() -> HumanStyle {
    HumanStyle::default()
}

fn verbose() -> HumanStyle {
    HumanStyle {
        verbose: true,
        ..HumanStyle::default()
    }
}

/// Text with every run of whitespace made one space (wrapped lines rejoined).
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The notes that two or more of the findings carry.
fn shared_notes(results: &[PortResult]) -> Vec<String> {
    let all: Vec<&Finding> = results.iter().filter_map(|r| r.finding.as_ref()).collect();
    let mut shared: Vec<String> = Vec::new();
    for f in &all {
        for n in &f.remediation.notes {
            let held = all
                .iter()
                .filter(|o| o.remediation.notes.contains(n))
                .count();
            if held > 1 && !shared.contains(n) {
                shared.push(n.clone());
            }
        }
    }
    shared
}

#[test]
fn the_verdict_gives_the_three_findings_their_real_fixes() {
    let results = db1();
    let rules: Vec<&str> = results
        .iter()
        .map(|r| r.finding.as_ref().expect("a finding").rule.as_str())
        .collect();
    assert_eq!(
        rules,
        ["redis-unauthenticated", "mysql-exposed", "ssh-public"]
    );
    let redis = &results[0].finding.as_ref().expect("finding").remediation;
    assert!(redis.config.iter().any(|c| c.starts_with("bind 127.0.0.1")));
    assert!(redis.iptables.iter().any(|l| l.starts_with("ip6tables ")));
    assert!(!redis.nftables.is_empty() && !redis.ufw.is_empty());
}

#[test]
fn three_findings_fit_thirty_lines_of_120_columns() {
    let text = draw(&db1(), default_style());
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 30, "{} lines:\n{text}", lines.len());
    for l in &lines {
        assert!(columns(l) <= WIDTH, "{} columns: {l:?}", columns(l));
    }
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing:\n{text}"))
    };
    assert!(pos("CRITICAL  6379/tcp") < pos("HIGH      3306/tcp"));
    assert!(pos("HIGH      3306/tcp") < pos("INFO      22/tcp"));
    for rounded in ["0.3 ms", "12 ms", "1.2 s", "65,532 closed"] {
        pos(rounded);
    }
    assert!(!text.contains("12.3"), "{text}");
    assert!(
        lines.last().is_some_and(|l| *l
            == "findings: 1 critical, 1 high, 1 info; fail-on high: exit 1; \
                65,535 ports attempted: 3 open, 65,532 closed, 0 filtered"),
        "{text}"
    );
}

#[test]
fn host_wide_notes_are_printed_once() {
    let results = db1();
    let shared = shared_notes(&results);
    assert!(
        shared.len() >= 2,
        "the firewall notes are on every closing fix: {shared:?}"
    );
    let text = flat(&draw(&results, default_style()));
    for n in &shared {
        assert_eq!(text.matches(&flat(n)).count(), 1, "{n:?} in:\n{text}");
    }
    assert_eq!(text.matches(SAME_FOR_IPV6).count(), 1, "{text}");
    // A note of one finding waits for -v, and the headline says so.
    assert!(!text.contains("Protected mode only helps"), "{text}");
    assert!(
        text.contains("redis-unauthenticated (-v: 2 notes)"),
        "{text}"
    );
    let full = flat(&draw(&results, verbose()));
    for n in &shared {
        assert_eq!(full.matches(&flat(n)).count(), 2, "under each: {n:?}");
    }
    assert!(full.contains("Protected mode only helps"), "{full}");
    assert!(!full.contains(SAME_FOR_IPV6), "{full}");
}

#[test]
fn one_firewall_family_by_default_every_family_with_verbose() {
    let results = db1();
    let has = |text: &str, cmd: &str| text.lines().any(|l| l.contains(cmd));
    let text = draw(&results, default_style());
    assert!(has(
        &text,
        "iptables -I INPUT 1 -i lo -p tcp --dport 6379 -j ACCEPT"
    ));
    assert!(has(
        &text,
        "iptables -I INPUT 2 -p tcp --dport 3306 -j DROP"
    ));
    for absent in ["ip6tables -I", "nft insert", "ufw deny"] {
        assert!(!has(&text, absent), "{absent:?} by default:\n{text}");
    }
    let full = draw(&results, verbose());
    for present in [
        "ip6tables -I INPUT 2 -p tcp --dport 6379 -j DROP",
        "nft insert rule inet filter input tcp dport 3306 drop",
        "ufw deny 6379/tcp",
        "PasswordAuthentication no",
    ] {
        assert!(has(&full, present), "{present:?} with -v:\n{full}");
    }
    let ufw = draw(
        &results,
        HumanStyle {
            firewall: FirewallTool::Ufw,
            ..HumanStyle::default()
        },
    );
    assert!(has(&ufw, "ufw deny 6379/tcp") && has(&ufw, "ufw deny 3306/tcp"));
    assert!(
        !has(&ufw, "iptables -I") && !has(&ufw, "nft insert"),
        "{ufw}"
    );
    assert!(!ufw.contains(SAME_FOR_IPV6), "{ufw}");
    let nft = draw(
        &results,
        HumanStyle {
            firewall: FirewallTool::Nftables,
            ..HumanStyle::default()
        },
    );
    assert!(has(
        &nft,
        "nft insert rule inet filter input tcp dport 6379 drop"
    ));
    assert!(!has(&nft, "iptables -I") && !has(&nft, "ufw deny"), "{nft}");
}

/// An open port on [`ADDR`] with no finding, answered by `name`.
fn row(port: u16, name: &str, tls: bool) -> PortResult {
    let mut svc = service(name, "Some server", "1.0", AuthState::Unknown, "");
    svc.tls = tls.then(TlsInfo::default);
    PortResult {
        finding: None,
        ..judged(port, 0.5, svc)
    }
}

/// Whether a cell starts at column `at` of a table line: two spaces before
/// it, text at it (the cells before it are ASCII, so chars are columns).
fn cell_starts(l: &str, at: usize) -> bool {
    let before: String = l.chars().take(at).collect();
    before.ends_with("  ") && l.chars().nth(at).is_some_and(|c| !c.is_whitespace())
}

#[test]
fn the_service_column_holds_with_long_names() {
    let mut results = db1();
    results.push(row(8000, "python-http-server", false));
    results.push(row(5173, "webpack-dev-server", true));
    results.push(row(9999, &format!("{}数据库", "x".repeat(200)), false));
    let text = draw(&results, default_style());
    let lines: Vec<&str> = text.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.trim_start().starts_with("PORT"))
        .expect("a table");
    let col = |l: &str, name: &str| {
        l.find(name)
            .map(|i| columns(&l[..i]))
            .unwrap_or_else(|| panic!("no {name} in {l:?}"))
    };
    let service_at = col(lines[head], "SERVICE");
    let version_at = col(lines[head], "VERSION");
    let rows = &lines[head + 1..head + 1 + results.len()];
    for l in rows {
        let port = l.trim_start().split('/').next().unwrap_or_default();
        assert!(port.parse::<u16>().is_ok(), "not a row: {l:?}");
        assert!(cell_starts(l, service_at), "SERVICE moved in {l:?}");
        assert!(cell_starts(l, version_at), "VERSION moved in {l:?}");
        assert!(columns(l) <= WIDTH, "{l:?}");
    }
    assert!(text.contains("webpack-dev-server/tls  "), "{text}");
    let cut = format!("{}…", "x".repeat(SERVICE_MAX - 1));
    assert!(text.contains(&cut), "the long name is cut:\n{text}");
    assert!(!text.contains(&"x".repeat(SERVICE_MAX)), "{text}");
}

#[test]
fn verbose_prints_the_evidence_in_full() {
    let results = db1();
    let evidence = &results[0].finding.as_ref().expect("finding").evidence;
    let text = draw(&results, default_style());
    let why = text
        .lines()
        .find(|l| l.contains("answers anyone, without authentication"))
        .expect("the why line");
    assert!(
        why.ends_with('…') && !flat(&text).contains(&flat(evidence)),
        "{why}"
    );
    assert!(flat(&draw(&results, verbose())).contains(&flat(evidence)));
}

#[test]
fn colour_codes_only_when_asked() {
    let results = db1();
    for style in [default_style(), verbose()] {
        assert!(!draw(&results, style).contains('\x1b'));
    }
    let coloured = draw(
        &results,
        HumanStyle {
            color: true,
            ..HumanStyle::default()
        },
    );
    for code in [
        "\x1b[1;31mCRITICAL",
        "\x1b[31mHIGH",
        "\x1b[2mINFO",
        "\x1b[1;31m1 critical\x1b[0m",
        "\x1b[1;31mexit 1\x1b[0m",
    ] {
        assert!(coloured.contains(code), "{code:?} in {coloured}");
    }
}

#[test]
fn hostile_text_stays_inert_with_verbose() {
    let (results, summary) = hostile();
    for color in [false, true] {
        let style = HumanStyle {
            color,
            verbose: true,
            ..HumanStyle::default()
        };
        let text = render_styled(Format::Human, Show::default(), style, &results, &summary);
        for bad in ['\r', '\x07', '\x00', '\u{9b}', '\u{202e}'] {
            assert!(!text.contains(bad), "{bad:?} in {text}");
        }
        assert!(!text.lines().any(|l| l.starts_with("{\"type\"")), "{text}");
        if !color {
            assert!(!text.contains('\x1b'), "{text}");
        }
    }
}

#[test]
fn policy_facts_wait_for_verbose() {
    use super::fixtures::{results, summary};
    let draw = |style| {
        render_styled(
            Format::Human,
            Show::default(),
            style,
            &results(),
            &summary(),
        )
    };
    let text = draw(default_style());
    assert!(
        text.contains("ssh-exposed  [expected]  (-v: policy)"),
        "{text}"
    );
    assert!(!text.contains("bastion access"), "{text}");
    let full = draw(verbose());
    assert!(
        full.contains(
            "    policy    expected, exposecheck.toml:7, bastion access for the ops team"
        ),
        "{full}"
    );
}
