//! Schema checks for any test that runs the binary: `validate_json` for a
//! `--format json` document, `validate_ndjson` for a `--format ndjson`
//! stream, `validate_sarif` for a `--format sarif` log (official SARIF
//! 2.1.0 schema in tests/data). Each panics with every violation listed.

use serde_json::Value;

#[path = "../../src/output/format_tests/validate.rs"]
mod validate;
pub use validate::{validate_json, validate_ndjson, validate_sarif};

#[test]
fn print_schema_prints_the_schemas_derived_from_the_types() {
    use exposecheck::output::schema::SchemaKind;
    for (flag, kind) in [("json", SchemaKind::Json), ("ndjson", SchemaKind::Ndjson)] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_exposecheck"))
            .args(["--print-schema", flag])
            .output()
            .expect("run exposecheck");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), kind.text());
    }
}

/// Runs the binary against one listening loopback port in `format` (no
/// fingerprinting, so it is quick); returns stdout.
fn scan_loopback(extra: &[&str], env: &[(&str, &str)]) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let out = scan_ports(&port, extra, env);
    drop(listener);
    out
}

/// Runs the binary against `ports` of 127.0.0.1; returns stdout.
fn scan_ports(ports: &str, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_exposecheck"));
    cmd.args(["-q", "--no-fingerprint", "-p", ports, "127.0.0.1"])
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run exposecheck");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn every_format_is_valid_end_to_end() {
    let doc: Value =
        serde_json::from_str(&scan_loopback(&["--format", "json"], &[])).expect("JSON");
    validate_json(&doc);
    assert_eq!(doc["results"][0]["state"], "open", "{doc:#}");
    validate_ndjson(&scan_loopback(&["--ndjson"], &[]));
    let log: Value =
        serde_json::from_str(&scan_loopback(&["--format", "sarif"], &[])).expect("JSON");
    validate_sarif(&log);
    let xml = scan_loopback(&["--format", "nmap-xml"], &[]);
    let opt = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let tree = roxmltree::Document::parse_with_options(&xml, opt)
        .unwrap_or_else(|e| panic!("XML: {e}\n{xml}"));
    assert_eq!(
        tree.root_element().attribute("scanner"),
        Some("exposecheck")
    );
    assert!(scan_loopback(&["--format", "markdown"], &[]).starts_with("## exposecheck report"));
}

#[test]
fn a_run_with_a_stale_entry_and_a_baseline_is_valid_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let open = listener.local_addr().expect("addr").port();
    // A port that was free a moment ago: closed when scanned.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let ports = format!("{open},{gone}");
    let policy = dir.path().join("exposecheck.toml");
    std::fs::write(
        &policy,
        format!("[[expect]]\nhost = \"127.0.0.1\"\nport = {gone}\nreason = \"retired service\"\nexpires = 2999-12-31\n"),
    )
    .expect("policy");
    let baseline = dir.path().join("baseline.ndjson");
    let mut previous = scan_ports(&ports, &["--ndjson"], &[]);
    previous.insert_str(0, "{\"type\":\"port\",\"ip\":\"127.0.0.1\",\"port\":1,\"finding\":{\"rule\":\"redis-unauthenticated\",\"severity\":\"critical\",\"fingerprint\":\"00ff00ff00ff00ff\"}}\n");
    std::fs::write(&baseline, previous).expect("baseline");
    let (p, b) = (
        policy.to_str().expect("utf-8"),
        baseline.to_str().expect("utf-8"),
    );
    let with = |format: &str| {
        scan_ports(
            &ports,
            &["--format", format, "--policy", p, "--baseline", b],
            &[],
        )
    };
    let doc: Value = serde_json::from_str(&with("json")).expect("JSON");
    validate_json(&doc);
    let stale = &doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "policy-stale-entry")
        .unwrap_or_else(|| panic!("no stale entry: {doc:#}"));
    assert_eq!(stale["policy"], "stale");
    // Port 1 was not probed by this run: not known fixed.
    assert_eq!(
        doc["not_scanned"][0]["fingerprint"], "00ff00ff00ff00ff",
        "{doc:#}"
    );
    assert!(doc
        .get("resolved")
        .is_none_or(|r| r.as_array().is_some_and(Vec::is_empty)));
    assert_eq!(
        doc["results"][0]["finding"]["baseline"], "unchanged",
        "{doc:#}"
    );
    let nd = with("ndjson");
    validate_ndjson(&nd);
    assert!(nd.contains("\"policy\":\"stale\""), "{nd}");
    let log: Value = serde_json::from_str(&with("sarif")).expect("JSON");
    validate_sarif(&log);
    drop(listener);
}

#[test]
fn color_flag_beats_no_color_and_auto_stays_plain_in_a_pipe() {
    let plain = scan_loopback(&[], &[]);
    assert!(
        !plain.contains('\x1b') && plain.contains("ports attempted"),
        "{plain}"
    );
    let forced = scan_loopback(&["--color", "always"], &[("NO_COLOR", "1")]);
    assert!(forced.contains("\x1b["), "{forced}");
    assert!(!scan_loopback(&["--color", "never"], &[]).contains('\x1b'));
}
