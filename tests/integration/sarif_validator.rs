//! `--format sarif` checked by Microsoft's SARIF validator (the
//! `@microsoft/sarif-multitool` npm package, `validate --rule-kind
//! "Sarif;Ghas"`: the specification's rules and GitHub code scanning's
//! ingestion rules; the JSON schema itself is checked by the unit tests in
//! `output/format_tests`). `.ci/run` installs it under
//! `target/sarif-multitool`. Real loopback daemons (an open Redis, a Redis
//! with a password), a listener that resets and a closed port, scanned from
//! a checkout with and without a policy file and with a baseline; every
//! file must validate with no error and no warning. Two broken files prove
//! the validator reports what it finds.

use super::hostile_servers::{self as hs, Kind};
use super::netns::BIN;
use super::servers::{free_port, Place, RedisMode, Servers};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The validator's self-contained Linux binary inside the npm package.
const MULTITOOL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/sarif-multitool/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
);

/// What the validator said about one file: `(rule id, level, message)`
/// for every result, from its own SARIF report.
fn validate(file: &Path) -> Vec<(String, String, String)> {
    assert!(
        Path::new(MULTITOOL).exists(),
        "{MULTITOOL} is missing: the SARIF check needs Microsoft's validator; \
         run .ci/run (it installs @microsoft/sarif-multitool under target/)"
    );
    let report = file.with_extension("validation.sarif");
    let out = Command::new(MULTITOOL)
        .args([
            "validate",
            "--rule-kind",
            "Sarif;Ghas",
            "--log",
            "ForceOverwrite",
        ])
        .arg("--output")
        .arg(&report)
        .arg(file)
        .output()
        .expect("run Sarif.Multitool");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|e| {
        panic!(
            "the validator wrote no report ({e}):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let v: Value = serde_json::from_str(&text).expect("the validator's report is JSON");
    let run = &v["runs"][0];
    assert_ne!(
        run["invocations"][0]["executionSuccessful"], false,
        "the validator did not run to the end:\n{text}"
    );
    run["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap_or_default().to_string(),
                r["level"].as_str().unwrap_or("warning").to_string(),
                r["message"]["text"]
                    .as_str()
                    .or(r["message"]["arguments"][0].as_str())
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// Runs a SARIF scan from `cwd` and writes it to `cwd/NAME`.
fn scan(cwd: &Path, name: &str, extra: &[&str], ports: &[u16]) -> PathBuf {
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let out = Command::new(BIN)
        .current_dir(cwd)
        .args(["--format", "sarif", "--no-canary", "--fail-on", "none"])
        .args(extra)
        .args(["-p", &list.join(","), "127.0.0.1"])
        .output()
        .expect("run exposecheck");
    assert!(
        out.status.success(),
        "exposecheck failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = cwd.join(name);
    std::fs::write(&file, &out.stdout).expect("write the SARIF file");
    file
}

#[test]
fn microsoft_validator_accepts_every_sarif_shape() {
    let mut servers = Servers::new(Place {
        ns: None,
        addr: Ipv4Addr::LOCALHOST.into(),
    });
    let (open, locked, closed) = (free_port(), free_port(), free_port());
    servers.redis(RedisMode::Open, &[open]);
    servers.redis(RedisMode::Password, &[locked]);
    let rst = hs::loopback(Kind::Rst, 1);
    let ports = [open, locked, rst.ports[0], closed];

    // A checkout: `.git` marks the root; no policy file, no README at first.
    let repo = servers.dir().join("repo");
    std::fs::create_dir_all(repo.join(".git")).expect("repo");
    let mut files = vec![scan(&repo, "bare.sarif", &[], &ports)];
    std::fs::write(repo.join("README.md"), "# hosts\n").expect("README");
    files.push(scan(&repo, "readme.sarif", &[], &ports));
    std::fs::write(
        repo.join("policy.toml"),
        format!("[[expect]]\nhost = \"127.0.0.1\"\nport = {locked}\nreason = \"the cache\"\n"),
    )
    .expect("policy");
    let policy = repo.join("policy.toml");
    let policy = policy.to_str().expect("UTF-8 path");
    files.push(scan(&repo, "policy.sarif", &["--policy", policy], &ports));
    let json = Command::new(BIN)
        .current_dir(&repo)
        .args(["--json", "--no-canary", "--fail-on", "none", "-p"])
        .arg(format!("{open},{closed}"))
        .arg("127.0.0.1")
        .output()
        .expect("baseline scan");
    std::fs::write(repo.join("baseline.json"), &json.stdout).expect("baseline");
    files.push(scan(
        &repo,
        "baseline.sarif",
        &["--baseline", "baseline.json"],
        &ports,
    ));

    let homepage = !env!("CARGO_PKG_HOMEPAGE").is_empty();
    for file in &files {
        let sarif = std::fs::read_to_string(file).expect("read");
        let doc: Value = serde_json::from_str(&sarif).expect("SARIF is JSON");
        assert!(
            doc["runs"][0]["results"]
                .as_array()
                .is_some_and(|r| r.len() >= 2),
            "{sarif}"
        );
        let found: Vec<_> = validate(file)
            .into_iter()
            .filter(|(id, level, _)| {
                level != "note" && !(id == "SARIF2005" && !homepage && level == "warning")
            })
            .collect();
        assert!(
            found.is_empty(),
            "{}: the validator found {found:#?}\n{sarif}",
            file.display()
        );
    }

    // The validator is not silent: an absolute uri under `%SRCROOT%` is an
    // error (SARIF1004), a location without a region a warning (SARIF2017).
    for rule in ["SARIF1004", "SARIF2017"] {
        let mut doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&files[0]).expect("read")).expect("JSON");
        let place = &mut doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        if rule == "SARIF1004" {
            place["artifactLocation"]["uri"] = "file:///abs/policy.toml".into();
        } else if let Some(p) = place.as_object_mut() {
            p.remove("region");
        }
        let broken = repo.join(format!("broken-{rule}.sarif"));
        std::fs::write(&broken, doc.to_string()).expect("write");
        let found = validate(&broken);
        assert!(
            found.iter().any(|(id, _, _)| id == rule),
            "the validator missed {rule}: {found:#?}"
        );
    }
}
