//! Schema checks for any test that runs the binary: `validate_json` for a
//! `--format json` document, `validate_ndjson` for a `--format ndjson`
//! stream, `validate_sarif` for a `--format sarif` log (official SARIF
//! 2.1.0 schema in tests/data). Each panics with every violation listed.

use serde_json::Value;

#[path = "../../src/output/format_tests/validate.rs"]
mod validate;
pub use validate::{validate_json, validate_ndjson, validate_sarif};

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
