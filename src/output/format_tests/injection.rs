//! One injection test per format: a service whose every string is
//! [`PAYLOAD`] (a newline and a JSON record, `</state>`, `|`, `<script>`,
//! backticks, a mention, a link, terminal escapes, NUL, C1) must not forge a
//! record, line, element or row, and the machine formats must stay valid.

use super::fixtures::{hostile, render, PAYLOAD};
use super::validate;
use crate::output::{Format, Show};
use serde_json::Value;

fn out(format: Format, color: bool) -> String {
    let (results, summary) = hostile();
    render(format, Show::default(), color, &results, &summary)
}

#[test]
fn json_keeps_the_payload_as_one_string() {
    let doc: Value = serde_json::from_str(&out(Format::Json, false)).expect("one JSON document");
    validate::validate_json(&doc);
    assert_eq!(doc["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(doc["results"][0]["service"]["banner"], PAYLOAD, "lossless");
}

#[test]
fn ndjson_lines_cannot_be_forged() {
    let text = out(Format::Ndjson, false);
    validate::validate_ndjson(&text);
    let types = super::record_types(&text);
    assert_eq!(types, ["port", "host", "finding", "summary"]);
}

#[test]
fn sarif_messages_are_plain_and_the_log_valid() {
    let log: Value = serde_json::from_str(&out(Format::Sarif, false)).expect("JSON");
    validate::validate_sarif(&log);
    let results = log["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for r in results {
        let text = r["message"]["text"].as_str().expect("message");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "control character in {text:?}"
        );
        assert!(
            !text.contains("\n{\"type\""),
            "a raw banner newline in {text:?}"
        );
        assert!(!text.contains("[link]"), "unescaped brackets in {text:?}");
    }
    let help = log["runs"][0]["tool"]["driver"]["rules"][0]["help"]["text"]
        .as_str()
        .expect("help");
    assert!(
        !help.chars().any(|c| c.is_control() && c != '\n'),
        "{help:?}"
    );
}

#[test]
fn nmap_xml_attributes_cannot_close_elements() {
    let text = out(Format::NmapXml, false);
    let doc = super::parse_xml(&text);
    let count = |tag: &str| doc.descendants().filter(|n| n.has_tag_name(tag)).count();
    assert_eq!(
        (
            count("host"),
            count("port"),
            count("state"),
            count("service")
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(
        count("script"),
        2,
        "the port's finding and the host finding"
    );
    let product = doc
        .descendants()
        .find(|n| n.has_tag_name("service"))
        .and_then(|n| n.attribute("product"))
        .expect("product");
    assert!(
        product.contains("</state></port><port protocol=\"tcp\""),
        "{product}"
    );
    assert!(
        product.contains("\\x1b[2J") && product.contains("\\x00") && product.contains("\\x9b"),
        "{product}"
    );
    assert!(
        product.contains("\n{\"type\""),
        "newline kept as a character reference: {product:?}"
    );
}

#[test]
fn markdown_cannot_add_rows_or_html() {
    let full = out(Format::Markdown, false);
    let mut fence: Option<String> = None;
    let mut prose = Vec::new();
    for line in full.lines() {
        match &fence {
            Some(f) if line == f => fence = None,
            Some(_) => {}
            None if line.starts_with("```") => fence = Some(line.to_string()),
            None => prose.push(line),
        }
    }
    assert!(fence.is_none(), "unclosed code fence:\n{full}");
    let text = prose.join("\n");
    for bad in [
        "<script",
        "</details></details>",
        "@admins",
        "[link](",
        "\x1b",
        "\x00",
        "\r",
    ] {
        assert!(!text.contains(bad), "{bad:?} got through:\n{text}");
    }
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(
        rows.len(),
        2 + 2 + 2 + 1,
        "findings table (header, rule, 2 rows), hosts table (header, rule, 1 row):\n{text}"
    );
    for row in rows {
        let bars = row
            .match_indices('|')
            .filter(|(i, _)| !row[..*i].ends_with('\\'))
            .count();
        assert!(bars == 6 || bars == 7, "a cell was split: {row}");
    }
    assert!(!text.lines().any(|l| l.starts_with("{\"type\"")));
}

#[test]
fn human_output_is_terminal_safe() {
    for color in [false, true] {
        let text = out(Format::Human, color);
        assert!(
            !text.contains('\r')
                && !text.contains('\x07')
                && !text.contains('\x00')
                && !text.contains('\u{9b}')
        );
        assert!(!text.lines().any(|l| l.starts_with("{\"type\"")), "{text}");
        for (i, _) in text.match_indices('\x1b') {
            let rest = &text[i + 1..];
            let end = rest.find('m').expect("SGR ends with m");
            assert!(
                rest.starts_with('[')
                    && rest[1..end].chars().all(|c| c.is_ascii_digit() || c == ';'),
                "a non-colour escape: {:?}",
                &rest[..end.min(20)]
            );
        }
        if !color {
            assert!(!text.contains('\x1b'));
        }
    }
}
