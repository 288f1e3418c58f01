//! Format tests: golden snapshots of the fixture scan in every format, schema
//! validation of the machine-readable ones, XML structure checks, one
//! injection test per format, and the human report's layout (`human`).

mod alerts;
mod banners;
mod fixtures;
mod golden;
mod human;
mod injection;
mod sarif_github;
mod udp;
mod validate;

use super::{Format, Show};
use fixtures::{render, results, summary};
use serde_json::Value;

/// Parses nmap XML (which has a DOCTYPE, so DTDs must be allowed).
pub fn parse_xml(text: &str) -> roxmltree::Document<'_> {
    let opt = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, opt)
        .unwrap_or_else(|e| panic!("not well-formed XML ({e}):\n{text}"))
}

fn fixture(format: Format) -> String {
    render(format, Show::default(), false, &results(), &summary())
}

#[test]
fn human_golden() {
    golden::check("fixture.txt", &fixture(Format::Human));
}

#[test]
fn human_colour_marks_severities_and_honours_off() {
    let coloured = render(Format::Human, Show::default(), true, &results(), &summary());
    assert!(coloured.contains("\x1b[1;31mCRITICAL"), "{coloured}");
    assert!(coloured.contains("\x1b[33mMEDIUM"), "{coloured}");
    assert!(!fixture(Format::Human).contains('\x1b'));
}

#[test]
fn human_orders_hosts_and_findings_worst_first() {
    let text = fixture(Format::Human);
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{text}"))
    };
    assert!(pos("203.0.113.7 (db1") < pos("198.51.100.20"));
    assert!(pos("\n198.51.100.20\n") < pos("\n2001:db8::7 ("));
    assert!(pos("redis-unauthenticated") < pos("mysql-reachable"));
    assert!(pos("mysql-reachable") < pos("dual-stack-mismatch"));
    assert!(text.contains("warning: answers every port"));
    assert!(text.ends_with(
        "findings: 1 critical, 1 high, 3 medium, 2 low; fail-on high: exit 1; \
         18 ports attempted: 6 open, 11 closed, 1 filtered\n"
    ));
}

#[test]
fn markdown_golden() {
    let text = fixture(Format::Markdown);
    golden::check("fixture.md", &text);
    assert!(text.contains(
        "| 🔴 critical | 203.0.113.7:6379 | redis Redis 7.2.4 | `redis-unauthenticated` |"
    ));
    assert_eq!(
        text.matches("<details>").count(),
        7,
        "one per finding the policy does not expect"
    );
    assert_eq!(
        text.matches("<details>").count(),
        text.matches("</details>").count()
    );
}

#[test]
fn json_golden_and_schema() {
    let text = fixture(Format::Json);
    golden::check("fixture.json", &text);
    let doc: Value = serde_json::from_str(&text).expect("one JSON document");
    validate::validate_json(&doc);
    assert_eq!(
        doc["results"].as_array().map(Vec::len),
        Some(6),
        "open ports only by default"
    );
    assert_eq!(doc["hosts"].as_array().map(Vec::len), Some(3));
    // Every finding, port (6) and host (3) ones, flat and worst first.
    let findings = doc["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 9);
    let critical: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] == "critical")
        .collect();
    assert_eq!(critical.len(), 1);
    assert_eq!(critical[0]["port"], 6379);
    assert_eq!(critical[0]["service"], "redis");
    assert!(critical[0]["remediation"]["iptables"].is_array());
    let rank =
        |f: &Value| crate::model::Severity::parse(f["severity"].as_str().unwrap_or_default());
    assert!(
        findings.windows(2).all(|w| rank(&w[0]) >= rank(&w[1])),
        "worst first"
    );
    assert_eq!(doc["counts"]["medium"], 3);
}

/// The `type` of every NDJSON line, in order.
fn record_types(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON")["type"]
                .as_str()
                .expect("type")
                .to_string()
        })
        .collect()
}

#[test]
fn ndjson_golden_and_schema() {
    let text = fixture(Format::Ndjson);
    validate::validate_ndjson(&text);
    // Each line's `time` is when it was written: checked here, fixed for the golden.
    let time = regex::Regex::new(r#","time":"([0-9T:Z-]+)"\}$"#).expect("regex");
    let mut fixed = String::new();
    for line in text.lines() {
        let at = time
            .captures(line)
            .unwrap_or_else(|| panic!("no time last: {line}"));
        assert!(crate::text::parse_rfc3339(&at[1]).is_some(), "{line}");
        fixed.push_str(&time.replace(line, r#","time":"2026-01-01T00:00:00Z"}"#));
        fixed.push('\n');
    }
    golden::check("fixture.ndjson", &fixed);
    let types = record_types(&text);
    let n = |t: &str| types.iter().filter(|x| *x == t).count();
    assert_eq!(
        (n("port"), n("host"), n("finding"), n("summary")),
        (6, 3, 3, 1),
        "{types:?}"
    );
}

#[test]
fn listed_closed_ports_validate() {
    let show = Show {
        closed: true,
        filtered: true,
    };
    let doc: Value =
        serde_json::from_str(&render(Format::Json, show, false, &results(), &summary()))
            .expect("JSON");
    validate::validate_json(&doc);
    assert_eq!(doc["results"].as_array().map(Vec::len), Some(18));
    validate::validate_ndjson(&render(Format::Ndjson, show, false, &results(), &summary()));
    let xml = render(Format::NmapXml, show, false, &results(), &summary());
    let tree = parse_xml(&xml);
    assert_eq!(
        tree.descendants()
            .filter(|n| n.has_tag_name("port"))
            .count(),
        18
    );
    assert_eq!(
        tree.descendants()
            .filter(|n| n.has_tag_name("extraports"))
            .count(),
        0
    );
}

#[test]
fn empty_scan_outputs_validate() {
    let s = super::Summary::new(summary().scan, summary().coverage);
    for format in [Format::Json, Format::Ndjson, Format::Sarif] {
        let text = render(format, Show::default(), false, &[], &s);
        match format {
            Format::Ndjson => validate::validate_ndjson(&text),
            Format::Sarif => validate::validate_sarif(&serde_json::from_str(&text).expect("JSON")),
            _ => validate::validate_json(&serde_json::from_str(&text).expect("JSON")),
        }
    }
    parse_xml(&render(Format::NmapXml, Show::default(), false, &[], &s));
    assert!(render(Format::Markdown, Show::default(), false, &[], &s).contains("No findings."));
}

#[test]
fn sarif_golden_and_schema() {
    let text = fixture(Format::Sarif);
    golden::check("fixture.sarif", &text);
    let log: Value = serde_json::from_str(&text).expect("JSON");
    validate::validate_sarif(&log);
    let run = &log["runs"][0];
    let results = run["results"].as_array().expect("results");
    assert_eq!(
        results.len(),
        7,
        "the two policy-expected SSH findings are left out"
    );
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 7);
    for r in rules {
        for k in ["id", "name"] {
            assert!(r[k].is_string(), "{k} in {r}");
        }
        for k in ["shortDescription", "fullDescription", "help"] {
            assert!(r[k]["text"].is_string(), "{k} in {r}");
        }
        let tags = r["properties"]["tags"].as_array().expect("tags");
        assert_eq!(
            tags[..2],
            [serde_json::json!("security"), serde_json::json!("exposure")]
        );
        // A rule of the table says what it is about and where to read more.
        if crate::verdict::rules::kind_of(r["id"].as_str().expect("id")).is_some() {
            assert!(tags.len() == 3, "{r}");
        }
    }
    let redis_rule = rules
        .iter()
        .find(|r| r["id"] == "redis-unauthenticated")
        .expect("redis rule");
    assert_eq!(
        redis_rule["shortDescription"]["text"],
        crate::verdict::rules::RuleKind::ServiceUnauthenticated
            .rule()
            .title
    );
    assert!(redis_rule["helpUri"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://")));
    let redis = results
        .iter()
        .find(|r| r["ruleId"] == "redis-unauthenticated")
        .expect("redis");
    assert_eq!(redis["level"], "error");
    assert_eq!(
        redis["partialFingerprints"]["primaryLocationLineHash"],
        "3b1f0c9a7d2e4f60"
    );
    assert_eq!(redis["properties"]["port"], 6379);
    let loc = &redis["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "exposecheck.toml");
    assert_eq!(loc["region"]["startLine"], 1);
    let stale = results
        .iter()
        .find(|r| r["ruleId"] == "policy-entry-unused")
        .expect("stale");
    assert_eq!(
        stale["locations"][0]["physicalLocation"]["region"]["startLine"],
        12
    );
    let sev = |id: &str| {
        rules.iter().find(|r| r["id"] == id).expect("rule")["properties"]["security-severity"]
            .clone()
    };
    assert_eq!(sev("redis-unauthenticated"), "9.5");
    assert_eq!(sev("mysql-reachable"), "8.0");
    assert_eq!(sev("dev-server-exposed"), "5.5");
    assert_eq!(sev("unknown-open-port"), "3.0");
    assert_eq!(
        run["automationDetails"]["id"],
        crate::output::sarif::automation_id(&summary().scan)
    );
    for r in results {
        let m = r["message"]["text"].as_str().expect("message");
        assert!(!m.contains('\n'), "one line: {m:?}");
    }
    assert_eq!(
        redis["message"]["text"],
        "Redis accepts commands without authentication on 203.0.113.7:6379 (db1.example.com)"
    );
    let fix = redis["fixes"][0]["description"]["text"]
        .as_str()
        .expect("fix");
    assert!(
        fix.starts_with("Configuration:\n  bind 127.0.0.1 -::1\n"),
        "{fix}"
    );
    let help = redis_rule["help"]["text"].as_str().expect("help");
    assert!(
        help.contains("  bind 127.0.0.1 -::1"),
        "the fix is in the rule's help: {help}"
    );
    assert!(redis_rule["help"]["markdown"]
        .as_str()
        .is_some_and(|m| m.contains("**Fix** for ` 203.0.113.7:6379 `:")
            && m.contains("```\nbind 127.0.0.1 -::1\n")));
}

#[test]
fn sarif_schema_rejects_a_broken_log() {
    let mut log: Value = serde_json::from_str(&fixture(Format::Sarif)).expect("JSON");
    log["runs"][0]["results"][0]["level"] = "fatal".into();
    let r = std::panic::catch_unwind(|| validate::validate_sarif(&log));
    assert!(r.is_err(), "the SARIF schema must reject level \"fatal\"");
}

/// The fixture scan with the CPE names the fingerprint engine gives its
/// products (only nmap XML's golden shows them).
fn results_with_cpe() -> Vec<crate::model::PortResult> {
    let mut rs = results();
    for r in &mut rs {
        if let Some(s) = &mut r.service {
            let prefix = match s.product.as_deref() {
                Some("Redis") => "cpe:2.3:a:redis:redis",
                Some("MariaDB") => "cpe:2.3:a:mariadb:mariadb",
                Some("OpenSSH") => "cpe:2.3:a:openbsd:openssh",
                _ => continue,
            };
            s.cpe = Some(crate::catalog::cpe_name(prefix, s.version.as_deref()));
        }
    }
    rs
}

#[test]
fn nmap_xml_golden_and_structure() {
    let text = render(
        Format::NmapXml,
        Show::default(),
        false,
        &results_with_cpe(),
        &summary(),
    );
    golden::check("fixture.xml", &text);
    assert!(text.contains(
        "\n<?xml-stylesheet href=\"file:///usr/share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n"
    ));
    assert!(!text.contains("Nmap 7."), "no claim to be nmap");
    let doc = parse_xml(&text);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "nmaprun");
    for a in [
        "scanner",
        "args",
        "start",
        "startstr",
        "version",
        "xmloutputversion",
    ] {
        assert!(root.attribute(a).is_some(), "nmaprun@{a}");
    }
    assert_eq!(root.attribute("scanner"), Some("exposecheck"));
    assert_eq!(
        root.attribute("version"),
        Some(summary().scan.version.as_str())
    );
    let required: &[(&str, &[&str])] = &[
        ("scaninfo", &["type", "protocol", "numservices", "services"]),
        ("host", &["starttime", "endtime"]),
        ("times", &["srtt", "rttvar", "to"]),
        ("status", &["state", "reason", "reason_ttl"]),
        ("address", &["addr", "addrtype"]),
        ("extraports", &["state", "count"]),
        ("port", &["protocol", "portid"]),
        ("state", &["state", "reason", "reason_ttl"]),
        ("service", &["name", "method", "conf"]),
        ("script", &["id", "output"]),
        ("finished", &["time", "timestr", "elapsed", "exit"]),
        ("hosts", &["up", "down", "total"]),
    ];
    for (tag, attrs) in required {
        let nodes: Vec<_> = doc.descendants().filter(|n| n.has_tag_name(*tag)).collect();
        assert!(!nodes.is_empty(), "no <{tag}>");
        for n in nodes {
            for a in *attrs {
                assert!(n.attribute(*a).is_some(), "<{tag}> lacks {a}");
            }
        }
    }
    assert_eq!(root.attribute("start"), Some("1795600800"));
    let hosts: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("host"))
        .collect();
    assert_eq!(hosts.len(), 3);
    let v6 = hosts
        .iter()
        .find(|h| {
            h.descendants()
                .any(|n| n.attribute("addrtype") == Some("ipv6"))
        })
        .expect("ipv6 host");
    let extra: Vec<_> = v6
        .descendants()
        .filter(|n| n.has_tag_name("extraports"))
        .collect();
    assert_eq!(extra.len(), 1, "one <extraports> (libnmap keeps the last)");
    assert_eq!(extra[0].attribute("state"), Some("closed"));
    let listed: Vec<_> = v6
        .descendants()
        .filter(|n| n.has_tag_name("state"))
        .filter_map(|n| n.attribute("state"))
        .collect();
    assert_eq!(
        listed,
        ["open", "filtered"],
        "the lone filtered port is listed"
    );
    let cpes: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("cpe"))
        .filter_map(|n| n.text())
        .collect();
    assert!(cpes.contains(&"cpe:/a:redis:redis:7.2.4"), "{cpes:?}");
    assert!(cpes.contains(&"cpe:/a:openbsd:openssh:9.6p1"), "{cpes:?}");
    let scripts: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("script"))
        .collect();
    assert!(scripts
        .iter()
        .all(|n| n.attribute("id") != Some("exposecheck")));
    let dual = scripts
        .iter()
        .find(|n| n.attribute("id") == Some("dual-stack-mismatch"))
        .expect("the dual-stack finding");
    assert!(
        dual.parent().is_some_and(|p| p.has_tag_name("port")),
        "a host finding about a listed port sits on that port"
    );
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("postscript"))
            .count(),
        1
    );
    let stats = doc
        .descendants()
        .find(|n| n.has_tag_name("hosts"))
        .expect("runstats hosts");
    assert_eq!(stats.attribute("up"), Some("3"));
}

#[test]
fn schemas_come_from_the_types_and_hold_every_vocabulary() {
    use super::schema::SchemaKind;
    let doc = SchemaKind::Json.text();
    let nd = SchemaKind::Ndjson.text();
    for text in [&doc, &nd] {
        // Every closed vocabulary of the model is listed in full.
        for word in [
            "\"stale\"",
            "\"expired\"",
            "\"unchanged\"",
            "\"host-answers-every-port\"",
            "\"rate-limited\"",
            "\"unresolved\"",
            "\"critical\"",
        ] {
            assert!(text.contains(word), "{word} missing from a schema");
        }
    }
    let nd: Value = serde_json::from_str(&nd).expect("JSON");
    let kinds: Vec<&str> = nd["oneOf"]
        .as_array()
        .expect("one of the line types")
        .iter()
        .filter_map(|v| v["properties"]["type"]["const"].as_str())
        .collect();
    assert_eq!(kinds, ["port", "host", "finding", "summary"]);
}
