//! UDP results through every format: the transport is carried everywhere
//! (`PORT/udp`, nmap's `protocol="udp"`, JSON's `proto`), `open|filtered`
//! is a state of its own, and a TCP and a UDP result on the same port stay
//! two rows and two findings.

use super::fixtures::{render, results, summary};
use super::validate;
use crate::model::*;
use crate::output::{Format, Show};
use serde_json::Value;

fn memcached(proto: Proto) -> PortResult {
    let mut r = PortResult::open("203.0.113.7".parse().expect("address"), 11211);
    r.proto = proto;
    r.service = Some(Service {
        name: "memcached".into(),
        product: Some("Memcached".into()),
        version: Some("1.6.18".into()),
        auth: AuthState::None,
        confidence: Confidence::Probed,
        ..Service::default()
    });
    let (rule, fp) = match proto {
        Proto::Udp => ("udp-amplifier", "9e8d7c6b5a493827"),
        Proto::Tcp => ("memcached-unauthenticated", "1e8d7c6b5a493827"),
    };
    if proto == Proto::Udp {
        r.reason = Reason::UdpResponse;
        r.udp = Some(UdpExchange {
            sent_datagrams: 1,
            sent_bytes: 17,
            received_datagrams: 1,
            received_bytes: 24,
            amplification: Some(1.4),
            probe: Some("memcached-udp-version".into()),
            published: Some("x10,000-51,000 (US-CERT TA14-017A)".into()),
        });
    }
    r.finding = Some(Finding {
        rule: rule.into(),
        severity: Severity::Critical,
        title: format!("Memcached over {}", proto.as_str()),
        evidence: "answers as Memcached 1.6.18".into(),
        fingerprint: fp.into(),
        policy: Some(PolicyStatus::Unexpected),
        ..Finding::default()
    });
    r
}

fn run(format: Format) -> String {
    let mut rs = results();
    rs.push(memcached(Proto::Udp));
    rs.push(memcached(Proto::Tcp));
    let mut silent = PortResult::open("198.51.100.20".parse().expect("address"), 53);
    silent.proto = Proto::Udp;
    silent.state = PortState::OpenFiltered;
    silent.reason = Reason::NoResponse;
    rs.push(silent);
    let mut s = summary();
    s.scan.ports.push_str(",11211,U:53,11211");
    s.coverage.open_filtered = 1;
    s.coverage.udp_rate_limited = 1;
    let show = Show {
        closed: false,
        filtered: true,
    };
    render(format, show, false, &rs, &s)
}

#[test]
fn json_and_ndjson_carry_the_transport_and_validate() {
    let doc: Value = serde_json::from_str(&run(Format::Json)).expect("JSON");
    validate::validate_json(&doc);
    let rows = doc["results"].as_array().expect("results");
    let at = |proto: &str, port: u64| {
        rows.iter()
            .filter(|r| r["proto"] == proto && r["port"] == port)
            .count()
    };
    assert_eq!(
        (at("udp", 11211), at("tcp", 11211)),
        (1, 1),
        "two rows, not one"
    );
    assert!(rows
        .iter()
        .any(|r| r["proto"] == "udp" && r["state"] == "open|filtered"));
    let udp = rows
        .iter()
        .find(|r| r["proto"] == "udp" && r["port"] == 11211)
        .expect("udp row");
    assert_eq!(udp["udp"]["received_bytes"], 24);
    assert_eq!(udp["reason"], "udp-response");
    assert_eq!(doc["coverage"]["udp_rate_limited"], 1);
    let nd = run(Format::Ndjson);
    validate::validate_ndjson(&nd);
    assert!(nd.contains("\"proto\":\"udp\""));
}

#[test]
fn nmap_xml_writes_udp_ports_and_scaninfo() {
    let x = run(Format::NmapXml);
    assert!(
        x.contains("<port protocol=\"udp\" portid=\"11211\">"),
        "{x}"
    );
    assert!(x.contains("<port protocol=\"tcp\" portid=\"11211\">"));
    assert!(x.contains("state=\"open|filtered\" reason=\"no-response\""));
    assert!(x.contains(
        "<scaninfo type=\"udp\" protocol=\"udp\" numservices=\"2\" services=\"53,11211\"/>"
    ));
    super::parse_xml(&x);
}

#[test]
fn every_other_format_names_the_udp_port() {
    for f in [
        Format::Human,
        Format::Markdown,
        Format::Sarif,
        Format::Slack,
        Format::Pagerduty,
        Format::Alertmanager,
    ] {
        let text = run(f);
        assert!(text.contains("11211/udp"), "{f:?}: {text}");
    }
    let sarif: Value = serde_json::from_str(&run(Format::Sarif)).expect("SARIF");
    validate::validate_sarif(&sarif);
    let human = run(Format::Human);
    assert!(human.contains("open|filtered"), "{human}");
    assert!(human.contains("behind the ICMP rate limit"), "{human}");
}
