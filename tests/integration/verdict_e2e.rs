//! The verdict end to end (issue #4): a namespace host runs open Redis (over
//! IPv4 and IPv6), MariaDB refusing the scanner (error 1130), SSH and nginx;
//! a policy allows 22 and 80.
//! 1. The scan exits 1 with exactly the expected findings and fixes.
//! 2. The iptables/ip6tables rules from exposecheck's own remediation, applied
//!    inside the namespace, close the exposures: the same scan exits 0.
//! 3. The same rules for IPv4 only, with the host given by both addresses:
//!    the IPv6-only exposure is found, as its own dual-stack finding whose fix
//!    names ip6tables.

use super::netns::{parse_json_doc, show, TestNet};
use super::schema::validate_json;
use super::servers::{allow_low_ports, MariaAccounts, Place, RedisMode, Servers};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Output;

const PORTS: &str = "22,80,3306,6379,8080";

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_string()
}

/// (ip, port, rule, severity, policy) of every port finding.
fn port_findings(doc: &Value) -> BTreeSet<(String, u64, String, String, String)> {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["finding"].is_object())
        .map(|r| {
            let f = &r["finding"];
            (
                s(r, "ip"),
                r["port"].as_u64().unwrap_or(0),
                s(f, "rule"),
                s(f, "severity"),
                s(f, "policy"),
            )
        })
        .collect()
}

/// The remediation commands of the unexpected port findings, in order.
fn fixes(doc: &Value) -> Vec<String> {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["finding"]["policy"] == "unexpected")
        .flat_map(|r| {
            r["finding"]["remediation"]["iptables"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect()
}

fn apply(net: &TestNet, rules: &[String]) {
    for rule in rules {
        net.run_in_target(&["sh", "-c", rule]);
    }
}

fn scan(net: &TestNet, policy: &std::path::Path, targets: &[String]) -> (Value, Output) {
    let mut args: Vec<String> = ["--json", "-q", "--show", "closed,filtered", "--policy"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.push(policy.display().to_string());
    args.extend(["-p".to_string(), PORTS.to_string()]);
    args.extend(targets.iter().cloned());
    let out = net.exposecheck(&args);
    let doc = parse_json_doc(&out.stdout);
    validate_json(&doc);
    (doc, out)
}

#[test]
fn policy_gate_remediation_and_dual_stack_parity() {
    let net = TestNet::new();
    allow_low_ports(&net.target_ns);
    let (v4, v6) = (net.target_v4().to_string(), net.target_v6().to_string());
    let ns = Some(net.target_ns.clone());
    let mut s4 = Servers::new(Place {
        ns: ns.clone(),
        addr: net.target_v4().into(),
    });
    s4.redis(RedisMode::Open, &[6379]);
    s4.mariadb(MariaAccounts::LocalOnly, 3306, None);
    s4.sshd(&[22]);
    s4.nginx(&[80], &[]);
    let mut s6 = Servers::new(Place {
        ns,
        addr: net.target_v6().into(),
    });
    s6.redis(RedisMode::Open, &[6379]);

    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("exposecheck.toml");
    std::fs::write(
        &policy,
        format!(
            "[[expect]]\nhost = \"{v4}\"\nport = 22\nreason = \"bastion\"\n\n[[expect]]\nhost = \"{v4}\"\nport = 80\nreason = \"public web\"\n"
        ),
    )
    .expect("write policy");

    // 1. Exposed: exit 1, exactly these findings.
    let (doc, out) = scan(&net, &policy, std::slice::from_ref(&v4));
    assert_eq!(code(&out), 1, "{}", show(&out));
    let want: BTreeSet<_> = [
        (22, "ssh-public", "info", "expected"),
        (80, "http-public", "info", "expected"),
        (3306, "mysql-exposed", "high", "unexpected"),
        (6379, "redis-unauthenticated", "critical", "unexpected"),
    ]
    .into_iter()
    .map(|(p, r, sev, pol)| {
        (
            v4.clone(),
            p,
            r.to_string(),
            sev.to_string(),
            pol.to_string(),
        )
    })
    .collect();
    assert_eq!(port_findings(&doc), want, "{}", show(&out));
    let redis = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["port"] == 6379)
        .unwrap();
    let config: Vec<&str> = redis["finding"]["remediation"]["config"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        config.iter().any(|c| c.contains("bind 127.0.0.1")),
        "{config:?}"
    );
    let mysql = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["port"] == 3306)
        .unwrap();
    assert_eq!(
        mysql["service"]["auth"], "protected",
        "MariaDB 1130: {mysql}"
    );
    assert_eq!(doc["exit_code"], 1);
    let all_fixes = fixes(&doc);
    assert!(
        all_fixes
            .iter()
            .any(|l| l.starts_with("iptables ") && l.contains("--dport 6379 -j DROP")),
        "{all_fixes:?}"
    );
    assert!(
        all_fixes
            .iter()
            .any(|l| l.starts_with("ip6tables ") && l.contains("--dport 3306 -j DROP")),
        "{all_fixes:?}"
    );

    // 2. Our own rules, both families: the same scan exits 0.
    apply(&net, &all_fixes);
    let (closed, out) = scan(&net, &policy, std::slice::from_ref(&v4));
    assert_eq!(code(&out), 0, "{}", show(&out));
    for r in closed["results"].as_array().unwrap() {
        if r["port"] == 6379 || r["port"] == 3306 {
            assert_eq!(
                (s(r, "state"), s(r, "reason")),
                ("filtered".into(), "no-response".into()),
                "{r}"
            );
        }
    }

    // 3. IPv4 rules only, host given by both addresses: the IPv6 hole is found.
    net.run_in_target(&["iptables", "-F", "INPUT"]);
    net.run_in_target(&["ip6tables", "-F", "INPUT"]);
    let v4_only: Vec<String> = all_fixes
        .iter()
        .filter(|l| l.starts_with("iptables "))
        .cloned()
        .collect();
    apply(&net, &v4_only);
    let (both, out) = scan(&net, &policy, &[v4.clone(), v6.clone()]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let found = port_findings(&both);
    assert!(
        found.contains(&(
            v6.clone(),
            6379,
            "redis-unauthenticated".into(),
            "critical".into(),
            "unexpected".into()
        )),
        "{found:?}"
    );
    assert!(
        !found
            .iter()
            .any(|f| f.0 == v4 && (f.1 == 6379 || f.1 == 3306)),
        "IPv4 is closed: {found:?}"
    );
    let parity: Vec<&Value> = both["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "dual-stack-mismatch")
        .collect();
    assert_eq!(parity.len(), 1, "exactly the Redis port: {parity:?}");
    assert_eq!(parity[0]["ip"], v6.as_str());
    assert_eq!(parity[0]["port"], 6379);
    assert_eq!(parity[0]["severity"], "critical");
    let fix: Vec<&str> = parity[0]["remediation"]["iptables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !fix.is_empty() && fix.iter().all(|l| l.starts_with("ip6tables ")),
        "{fix:?}"
    );
    assert!(
        parity[0]["remediation"]["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap_or("").contains("inet")),
        "{}",
        parity[0]
    );
}
