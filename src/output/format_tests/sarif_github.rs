//! SARIF for its two consumers: where GitHub code scanning results point
//! (relative paths of existing files, in the order the `sarif` module
//! documents), the `automationDetails.id` category per target set, the 25,000
//! result cap, GitHub's security-severity ranges, and the fields DefectDojo's
//! SARIF importer reads (severity from the rule's `security-severity`, the
//! mitigation from `fixes[].description.text`, the id from
//! `partialFingerprints`), read here the way its parser reads them.

use super::fixtures::{checkout, checkout_at, results, summary};
use super::validate;
use crate::model::{PortResult, Severity, SourceLine};
use crate::output::collect::Collector;
use crate::output::sarif::{self, Checkout};
use crate::output::{Show, Summary};
use serde_json::Value;

fn log(rs: &[PortResult], s: &Summary, c: &Checkout) -> Value {
    let mut hosts = Collector::new(Show::default());
    for r in rs.iter().filter(|r| r.finding.is_some()) {
        hosts.add(r);
    }
    let log = sarif::log(&hosts.take(), s, c);
    validate::validate_sarif(&log);
    log
}

/// Every result's (uri, line), after checking it is relative to %SRCROOT%.
fn places(log: &Value) -> Vec<(String, u64)> {
    log["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            let a = &loc["artifactLocation"];
            assert_eq!(a["uriBaseId"], "%SRCROOT%", "{a}");
            let uri = a["uri"].as_str().expect("uri").to_string();
            assert!(
                !uri.contains(':') && !uri.starts_with('/'),
                "relative: {uri}"
            );
            (uri, loc["region"]["startLine"].as_u64().expect("line"))
        })
        .collect()
}

/// The uris of the results that have no policy entry.
fn run_uris(log: &Value) -> Vec<String> {
    let mut u: Vec<String> = places(log)
        .into_iter()
        .filter(|(_, line)| *line == 1)
        .map(|(u, _)| u)
        .collect();
    u.dedup();
    u
}

#[test]
fn results_point_at_the_policy_file_in_force_and_its_entries() {
    let log = log(
        &results(),
        &summary(),
        &checkout(&["exposecheck.toml"], None),
    );
    let p = places(&log);
    assert!(
        p.contains(&("exposecheck.toml".into(), 12)),
        "the stale entry's line: {p:?}"
    );
    assert_eq!(run_uris(&log), ["exposecheck.toml"]);
    let why = &log["runs"][0]["results"][0]["locations"][0]["message"]["text"];
    assert!(
        why.as_str()
            .is_some_and(|w| w.starts_with("The policy file in force")),
        "{why}"
    );
}

#[test]
fn an_absolute_policy_path_inside_the_checkout_becomes_relative() {
    let mut s = summary();
    s.policy = Some("/repo/conf/prod policy.toml".into());
    let c = checkout(&["conf/prod policy.toml"], None);
    assert_eq!(
        run_uris(&log(&results(), &s, &c)),
        ["conf/prod%20policy.toml"]
    );
    // From a subdirectory, paths the user gave are taken from there.
    s.policy = Some("../conf/./prod policy.toml".into());
    let c = checkout_at("/repo/infra", &["conf/prod policy.toml"], None);
    assert_eq!(
        run_uris(&log(&results(), &s, &c)),
        ["conf/prod%20policy.toml"]
    );
}

#[test]
fn a_missing_or_outside_policy_falls_through_to_the_target_list() {
    let mut s = summary();
    s.policy = Some("/etc/exposecheck/policy.toml".into());
    s.scan.targets = vec!["@lists/hosts.txt (sha256:0011223344556677)".into()];
    for f in &mut s.findings {
        f.finding.policy_entry = None;
    }
    let c = checkout(&["lists/hosts.txt"], Some(".github/workflows/scan.yml"));
    let l = log(&results(), &s, &c);
    assert_eq!(run_uris(&l), ["lists/hosts.txt"]);
    // stdin is no file.
    s.scan.targets = vec!["@- (sha256:0011223344556677)".into()];
    assert_eq!(
        run_uris(&log(&results(), &s, &c)),
        [".github/workflows/scan.yml"]
    );
}

#[test]
fn without_policy_or_list_results_point_at_the_workflow_then_the_readme() {
    let mut s = summary();
    s.policy = None;
    for f in &mut s.findings {
        f.finding.policy_entry = None;
    }
    let wf = checkout(&["README.md"], Some(".github/workflows/scan.yml"));
    assert_eq!(
        run_uris(&log(&results(), &s, &wf)),
        [".github/workflows/scan.yml"]
    );
    let readme = checkout(&["README.md", "exposecheck.toml"], None);
    assert_eq!(run_uris(&log(&results(), &s, &readme)), ["README.md"]);
    let bare = checkout(&[], None);
    let l = log(&results(), &s, &bare);
    assert_eq!(run_uris(&l), [sarif::DEFAULT_POLICY]);
    let why = l["runs"][0]["results"][0]["locations"][0]["message"]["text"]
        .as_str()
        .expect("why");
    assert!(
        why.contains("no policy file, target list, workflow file or README"),
        "{why}"
    );
}

#[test]
fn a_policy_entry_outside_the_checkout_is_not_pointed_at() {
    let mut s = summary();
    s.findings[1].finding.policy_entry = Some(SourceLine {
        file: "../../../etc/passwd".into(),
        line: 3,
    });
    let l = log(&results(), &s, &checkout(&["exposecheck.toml"], None));
    assert!(
        places(&l).iter().all(|(u, _)| u == "exposecheck.toml"),
        "{:?}",
        places(&l)
    );
}

#[test]
fn workflow_refs_and_target_lists_parse() {
    use sarif::{target_lists, workflow_path};
    assert_eq!(
        workflow_path("octo/repo/.github/workflows/scan.yml@refs/heads/main").as_deref(),
        Some(".github/workflows/scan.yml")
    );
    assert_eq!(workflow_path("octo/repo/../x.yml@refs/heads/main"), None);
    assert_eq!(workflow_path("octo/repo/.github/../../x.yml@r"), None);
    assert_eq!(workflow_path("nonsense"), None);
    let t = vec![
        "10.0.0.0/24".to_string(),
        "@a b.txt (sha256:00ff00ff00ff00ff)".into(),
        "@weird".into(),
    ];
    assert_eq!(target_lists(&t), ["a b.txt"]);
}

#[test]
fn each_target_set_is_its_own_category() {
    use sarif::automation_id;
    let base = summary().scan;
    let id = automation_id(&base);
    assert!(id.starts_with("exposecheck/") && id.ends_with('/'), "{id}");
    assert_eq!(id.len(), "exposecheck/".len() + 16 + 1, "{id}");
    let mut same = base.clone();
    same.targets = vec!["198.51.100.20".into(), "DB1.example.com".into()];
    same.ports = "1-65535".into();
    assert_eq!(
        automation_id(&same),
        id,
        "order, case and ports do not matter"
    );
    let mut other = base.clone();
    other.targets.push("192.0.2.1".into());
    assert_ne!(automation_id(&other), id);
    let mut shard = base.clone();
    shard.shard = "2/4".into();
    assert_eq!(automation_id(&shard), format!("{id}shard-2-of-4/"));
    shard.shard = "all/4".into();
    assert_eq!(
        automation_id(&shard),
        id,
        "a merge of every shard is the whole set"
    );
}

/// GitHub's reading of a `security-severity` (sarif-support.md).
fn github(score: f64) -> &'static str {
    match score {
        s if s > 9.0 => "critical",
        s if (7.0..9.0).contains(&s) => "high",
        s if (4.0..7.0).contains(&s) => "medium",
        s if (0.1..4.0).contains(&s) => "low",
        _ => "none",
    }
}

/// DefectDojo's `cvss_to_severity` (dojo/tools/sarif/parser.py).
fn defectdojo(cvss: f64) -> &'static str {
    match cvss {
        c if c >= 9.0 => "Critical",
        c if c >= 7.0 => "High",
        c if c >= 4.0 => "Medium",
        c if c > 0.0 => "Low",
        _ => "Info",
    }
}

#[test]
fn security_severity_reads_as_our_severity_in_github_and_defectdojo() {
    for (s, gh, dd) in [
        (Severity::Critical, "critical", "Critical"),
        (Severity::High, "high", "High"),
        (Severity::Medium, "medium", "Medium"),
        (Severity::Low, "low", "Low"),
        (Severity::Info, "none", "Info"),
    ] {
        let score: f64 = sarif::security_severity(s).parse().expect("a number");
        assert_eq!((github(score), defectdojo(score)), (gh, dd), "{s:?}");
    }
}

/// What DefectDojo's SARIF parser makes of each result: (severity,
/// mitigation, unique_id_from_tool, vuln_id_from_tool).
fn as_defectdojo(log: &Value) -> Vec<(String, String, String, String)> {
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    run["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let rule = rules
                .iter()
                .find(|x| x["id"] == r["ruleId"])
                .expect("its rule");
            let cvss: f64 = rule["properties"]["security-severity"]
                .as_str()
                .expect("security-severity")
                .parse()
                .expect("float");
            let mitigation: Vec<&str> = r["fixes"]
                .as_array()
                .map(|fx| {
                    fx.iter()
                        .filter_map(|f| f["description"]["text"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let mut fps: Vec<String> = r["partialFingerprints"]
                .as_object()
                .expect("partialFingerprints")
                .iter()
                .map(|(k, v)| {
                    let method = k.rsplit('/').nth(1).unwrap_or(k);
                    format!("{method}:{}", v.as_str().expect("value"))
                })
                .collect();
            fps.sort();
            (
                defectdojo(cvss).to_string(),
                mitigation.join("\n"),
                fps.join("|"),
                r["ruleId"].as_str().expect("ruleId").to_string(),
            )
        })
        .collect()
}

#[test]
fn defectdojo_gets_each_findings_severity_and_fix() {
    let l = log(
        &results(),
        &summary(),
        &checkout(&["exposecheck.toml"], None),
    );
    let dd = as_defectdojo(&l);
    let sev: Vec<&str> = dd.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(
        sev,
        ["Critical", "High", "Medium", "Medium", "Medium", "Low", "Low"]
    );
    let (_, mitigation, id, rule) = &dd[0];
    assert_eq!(rule, "redis-unauthenticated");
    for line in [
        "bind 127.0.0.1 -::1",
        "iptables -I INPUT -p tcp --dport 6379 ! -s 127.0.0.1 -j DROP",
        "ufw deny 6379/tcp",
    ] {
        assert!(
            mitigation.contains(line),
            "{line} missing from {mitigation}"
        );
    }
    assert!(id.contains("3b1f0c9a7d2e4f60"), "{id}");
    assert!(dd[6].1.is_empty(), "a policy entry has nothing to close");
}

#[test]
fn a_dual_stack_finding_keeps_its_own_severity() {
    let mut s = summary();
    let mut low = s.findings[0].clone();
    low.finding.severity = Severity::Low;
    low.finding.fingerprint = "1111222233334444".into();
    low.port = Some(3306);
    let mut crit = s.findings[0].clone();
    crit.finding.severity = Severity::Critical;
    crit.finding.fingerprint = "5555666677778888".into();
    crit.port = Some(5173);
    s.findings.extend([low, crit]);
    let l = log(&results(), &s, &checkout(&["exposecheck.toml"], None));
    let rules = l["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    let sev = |id: &str| {
        rules
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no rule {id}"))["properties"]["security-severity"]
            .clone()
    };
    assert_eq!(sev("dual-stack-mismatch"), "5.5");
    assert_eq!(sev("dual-stack-mismatch/low"), "3.0");
    assert_eq!(sev("dual-stack-mismatch/critical"), "9.5");
    let dd = as_defectdojo(&l);
    let of = |rule: &str| dd.iter().find(|d| d.3 == rule).expect("result").0.clone();
    assert_eq!(of("dual-stack-mismatch/critical"), "Critical");
    assert_eq!(of("dual-stack-mismatch/low"), "Low");
}

#[test]
fn at_most_25000_results_the_worst_kept() {
    let (one, mut s) = super::fixtures::hostile_with("x");
    s.findings.clear();
    let n = sarif::MAX_RESULTS + 7;
    let rs: Vec<PortResult> = (0..n)
        .map(|i| {
            let mut r = one[0].clone();
            r.ip = std::net::IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i as u32));
            let f = r.finding.as_mut().expect("finding");
            f.fingerprint = format!("{i:016x}");
            f.severity = if i < 7 {
                Severity::Low
            } else {
                Severity::Critical
            };
            f.remediation = Default::default();
            r
        })
        .collect();
    let mut hosts = Collector::new(Show::default());
    for r in &rs {
        hosts.add(r);
    }
    let l = sarif::log(&hosts.take(), &s, &checkout(&[], None));
    let results = l["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), sarif::MAX_RESULTS);
    assert!(
        results.iter().all(|r| r["level"] == "error"),
        "the low ones are left out"
    );
    let note = &l["runs"][0]["invocations"][0]["toolExecutionNotifications"][0];
    assert!(
        note["message"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("7 findings")),
        "{note}"
    );
}
