//! Validation of outputs against the schemas: exposecheck's own (draft
//! 2020-12, derived from the output types) and the official SARIF 2.1.0
//! schema in `tests/data/`.
//! Shared with the integration tests (tests/integration/schema.rs includes
//! this file), so both check outputs the same way.

use exposecheck::output::schema::SchemaKind;
use jsonschema::Validator;
use serde_json::Value;
use std::sync::OnceLock;

fn compile(text: &str) -> Validator {
    compile_value(serde_json::from_str(text).expect("schema is JSON"))
}

fn compile_value(schema: Value) -> Validator {
    jsonschema::meta::validate(&schema).expect("schema is a valid JSON Schema");
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
        V.get_or_init(|| compile_value(SchemaKind::Json.value())),
        "json document",
        doc,
    );
}

/// Panics unless every line of `text` is a valid `--format ndjson` record,
/// the summary is last and only last, and the text ends with a newline.
pub fn validate_ndjson(text: &str) {
    static V: OnceLock<Validator> = OnceLock::new();
    let v = V.get_or_init(|| compile_value(SchemaKind::Ndjson.value()));
    assert!(text.ends_with('\n'), "ndjson does not end with a newline");
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let rec: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", i + 1));
        check(v, &format!("ndjson line {}", i + 1), &rec);
        let is_summary = rec["type"] == "summary";
        assert_eq!(
            is_summary,
            i + 1 == lines.len(),
            "summary must be the last line only (line {})",
            i + 1
        );
    }
}

/// Panics unless `log` is valid against the official SARIF 2.1.0 schema.
pub fn validate_sarif(log: &Value) {
    static V: OnceLock<Validator> = OnceLock::new();
    let v = V.get_or_init(|| {
        compile(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/sarif-schema-2.1.0.json"
        )))
    });
    check(v, "SARIF log", log);
}
