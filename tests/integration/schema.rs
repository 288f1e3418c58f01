//! Schema checks for any test that runs the binary: `validate_json` for a
//! `--format json` document, `validate_ndjson` for a `--format ndjson`
//! stream, `validate_sarif` for a `--format sarif` log (official SARIF
//! 2.1.0 schema in tests/data). Each panics with every violation listed.

use jsonschema::Validator;
use serde_json::Value;
use std::sync::OnceLock;

fn compile(text: &str) -> Validator {
    let schema: Value = serde_json::from_str(text).expect("schema is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles")
}

fn check(v: &Validator, what: &str, instance: &Value) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} fails its schema:\n{}\n{instance:#}",
        errors.join("\n")
    );
}

/// Panics unless `doc` is a valid `--format json` document.
pub fn validate_json(doc: &Value) {
    static V: OnceLock<Validator> = OnceLock::new();
    check(
        V.get_or_init(|| compile(exposecheck::output::schema::JSON)),
        "json document",
        doc,
    );
}

/// Panics unless every line of `text` is a valid `--format ndjson` record and
/// the one summary line is last.
pub fn validate_ndjson(text: &str) {
    static V: OnceLock<Validator> = OnceLock::new();
    let v = V.get_or_init(|| compile(exposecheck::output::schema::NDJSON));
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let rec: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("ndjson line {} is not JSON ({e}): {line}", i + 1));
        check(v, &format!("ndjson line {}", i + 1), &rec);
        assert_eq!(
            rec["type"] == "summary",
            i + 1 == lines.len(),
            "the summary must be the last line, and only it (line {})",
            i + 1
        );
    }
}

/// Panics unless `log` is valid against the official SARIF 2.1.0 schema.
pub fn validate_sarif(log: &Value) {
    static V: OnceLock<Validator> = OnceLock::new();
    let v = V.get_or_init(|| compile(include_str!("../data/sarif-schema-2.1.0.json")));
    check(v, "SARIF log", log);
}

#[test]
fn print_schema_prints_the_embedded_schemas() {
    for (flag, text) in [
        ("json", exposecheck::output::schema::JSON),
        ("ndjson", exposecheck::output::schema::NDJSON),
    ] {
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
        assert_eq!(String::from_utf8_lossy(&out.stdout), text);
    }
}

/// Runs the binary against one listening loopback port in `format` (no
/// fingerprinting, so it is quick); returns stdout.
fn scan_loopback(extra: &[&str], env: &[(&str, &str)]) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_exposecheck"));
    cmd.args(["-q", "--no-fingerprint", "-p", &port, "127.0.0.1"])
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
    drop(listener);
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
    assert_eq!(tree.root_element().attribute("scanner"), Some("nmap"));
    assert!(scan_loopback(&["--format", "markdown"], &[]).starts_with("## exposecheck report"));
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
