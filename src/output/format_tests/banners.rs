//! Hostile banners a CI page or code-scanning viewer would interpret: every
//! network string of one service (and its host finding, host verdict and
//! summary) is one of [`BANNERS`] in turn, and every format must stay valid
//! and literal: no Markdown link, strike, emoji, math, mention or HTML; no
//! SARIF placeholder or embedded link; no terminal escape.

use super::fixtures::{hostile_with, render};
use super::validate;
use crate::output::{Format, Show};
use serde_json::Value;

/// What a banner can carry that some renderer acts on.
pub const BANNERS: &[&str] = &[
    "see http://evil.test/x and https://evil.test/y?a=b",
    "www.evil.test and WWW.Evil.test/path",
    "mail root@evil.test or xmpp:me@evil.test or mailto:a@b.test",
    "~~struck~~ and ~one~",
    ":rocket: :+1: :100: and 2001:ab:cd::1",
    "<img src=x onerror=alert(1)> <a href=//evil.test>x</a> &lt;b&gt; &amp; &#64;",
    "{0} {1}{{2}} }{",
    "a | b || c \\| d",
    "`code` ``two`` ```fence",
    "line1\nline2\r\n- item\n# head\n> quote",
    "\x1b[31mred\x1b[0m \x1b]8;;http://evil.test\x07link\x1b]8;;\x07 \u{9b}2J \u{202e}txet",
    "$x^2$ and $$y$$ \\(z\\)",
    "@admins @org/team #1 GH-2 [x](http://evil.test) ![i](http://evil.test/i.png) [^1]",
    "*b* **c** _d_ __e__",
    "1. first",
    "- dash",
    "+ plus",
];

fn outputs(banner: &str) -> Vec<(Format, String)> {
    let (results, summary) = hostile_with(banner);
    [
        Format::Human,
        Format::Json,
        Format::Ndjson,
        Format::Sarif,
        Format::NmapXml,
        Format::Markdown,
        Format::Slack,
        Format::Pagerduty,
        Format::Alertmanager,
    ]
    .into_iter()
    .map(|f| (f, render(f, Show::default(), false, &results, &summary)))
    .collect()
}

/// The Markdown outside fenced code blocks (which render nothing).
fn prose(md: &str) -> String {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for line in md.lines() {
        match fence {
            Some(f) if line == f => fence = None,
            Some(_) => {}
            None if line.starts_with("```") => fence = Some(line),
            None => out.push(line),
        }
    }
    assert!(fence.is_none(), "unclosed fence:\n{md}");
    out.join("\n")
}

/// The HTML tags the report itself writes.
const OUR_TAGS: [&str; 9] = [
    "<details>",
    "</details>",
    "<summary>",
    "</summary>",
    "<b>",
    "</b>",
    "<sub>",
    "</sub>",
    "<!-- -->",
];

fn check_markdown(banner: &str, md: &str) {
    let text = prose(md);
    let fail = |why: &str| panic!("{why} for banner {banner:?}:\n{text}");
    for (i, _) in text.match_indices('<') {
        if !OUR_TAGS.iter().any(|t| text[i..].starts_with(t)) {
            fail("raw HTML");
        }
    }
    let plain = text.replace("<!-- -->", "\u{0}");
    let lower = plain.to_lowercase();
    for bad in ["://", "www.", ":rocket:", ":100:", ":ab:", ":+1:", "~~"] {
        if lower.contains(bad) {
            fail(&format!("{bad:?} left intact"));
        }
    }
    for (i, _) in plain.match_indices('@') {
        if plain[i + 1..].starts_with(|n: char| n != '\u{0}' && !n.is_whitespace()) {
            fail("a mention or email");
        }
    }
    if text.contains('\x1b') || text.contains('\r') || text.contains('\u{202e}') {
        fail("a control character");
    }
    let rows = text.lines().filter(|l| l.starts_with('|')).count();
    if rows != 2 + 2 + 2 + 1 {
        fail(&format!("{rows} table rows"));
    }
}

/// Whether a SARIF message string has a lone brace or an unescaped bracket.
fn sarif_literal(s: &str) -> Result<(), String> {
    let undoubled = s.replace("{{", "").replace("}}", "");
    if undoubled.contains(['{', '}']) {
        return Err(format!("a brace not doubled in {s:?}"));
    }
    for (i, c) in s.char_indices() {
        if matches!(c, '[' | ']') && !s[..i].ends_with('\\') {
            return Err(format!("unescaped {c:?} in {s:?}"));
        }
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("a control character in {s:?}"));
    }
    Ok(())
}

fn check_sarif(banner: &str, text: &str) {
    let log: Value = serde_json::from_str(text).expect("SARIF is JSON");
    validate::validate_sarif(&log);
    let run = &log["runs"][0];
    let mut strings = Vec::new();
    for r in run["results"].as_array().expect("results") {
        strings.push(r["message"]["text"].as_str().expect("message").to_string());
        if let Some(fix) = r["fixes"][0]["description"]["text"].as_str() {
            if let Err(e) = sarif_literal(fix) {
                panic!("{e} in a fix for banner {banner:?}");
            }
        }
    }
    for rule in run["tool"]["driver"]["rules"].as_array().expect("rules") {
        for k in ["shortDescription", "fullDescription", "help"] {
            strings.push(rule[k]["text"].as_str().expect("text").to_string());
        }
    }
    assert_eq!(strings.len(), 2 + 3 * 2);
    for s in strings {
        if let Err(e) = sarif_literal(&s) {
            panic!("{e} for banner {banner:?}");
        }
    }
}

#[test]
fn every_format_stays_valid_and_literal_for_every_banner() {
    for banner in BANNERS {
        for (format, text) in outputs(banner) {
            match format {
                Format::Json => {
                    let doc: Value = serde_json::from_str(&text).expect("JSON");
                    validate::validate_json(&doc);
                    assert_eq!(doc["results"][0]["service"]["banner"], *banner, "lossless");
                }
                Format::Ndjson => {
                    validate::validate_ndjson(&text);
                    let types = super::record_types(&text);
                    assert_eq!(types, ["port", "host", "finding", "summary"], "{banner:?}");
                }
                Format::Sarif => check_sarif(banner, &text),
                Format::NmapXml => {
                    let doc = super::parse_xml(&text);
                    let hosts = doc.descendants().filter(|n| n.has_tag_name("host")).count();
                    assert_eq!(hosts, 1, "{banner:?}");
                }
                Format::Markdown => check_markdown(banner, &text),
                Format::Slack => {
                    super::alerts::check_slack(&text);
                }
                Format::Pagerduty => {
                    let events = super::alerts::check_pagerduty(&text);
                    assert_eq!(events.len(), 2, "{banner:?}");
                }
                Format::Alertmanager => {
                    let alerts = super::alerts::check_alertmanager(&text);
                    assert_eq!(alerts.len(), 2, "{banner:?}");
                }
                Format::Human => {
                    assert!(
                        !text.contains('\x1b')
                            && !text.contains('\r')
                            && !text.contains('\u{202e}'),
                        "{banner:?}: {text}"
                    );
                }
            }
        }
    }
}

/// Every Markdown-active character of each banner comes out escaped.
#[test]
fn md_escape_leaves_no_active_character() {
    use crate::output::markdown::md_escape;
    for banner in BANNERS {
        let e = md_escape(banner);
        let plain = e.replace("<!-- -->", "\u{0}");
        for (i, c) in plain.char_indices() {
            let before = &plain[..i];
            let backslashes = before.len() - before.trim_end_matches('\\').len();
            let escaped = backslashes % 2 == 1;
            if matches!(
                c,
                '~' | '$' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '<' | '>'
            ) && !escaped
            {
                panic!("unescaped {c:?} at {i} of {e:?}");
            }
            if c == '\\'
                && !escaped
                && !plain[i + 1..].starts_with(|n: char| n.is_ascii_punctuation())
            {
                panic!("a backslash that escapes nothing at {i} of {e:?}");
            }
        }
        assert!(!e.contains(['\n', '\r', '\x1b']), "{e:?}");
    }
}

#[test]
fn sarif_doubles_braces_and_escapes_brackets() {
    use crate::output::sarif::{literal, plain};
    assert_eq!(plain("{0} [x](1) \x1b"), "{{0}} \\[x\\](1) \\x1b");
    assert_eq!(
        literal("nft '{ type filter; }'"),
        "nft '{{ type filter; }}'"
    );
}

#[test]
fn markdown_escapes_render_the_same_text() {
    use crate::output::markdown::{html_escape, md_escape};
    assert_eq!(md_escape("a@b.test"), "a@<!-- -->b.test");
    assert_eq!(md_escape("http://x"), "http:<!-- -->//x");
    assert_eq!(md_escape(":rocket:"), ":<!-- -->rocket:");
    assert_eq!(
        md_escape("10.0.0.1:6379"),
        "10.0.0.1:6379",
        "no noise without need"
    );
    assert_eq!(md_escape("www.x"), "www\\.x");
    assert_eq!(md_escape("awww.x"), "awww.x");
    assert_eq!(md_escape("~~x~~ $y$"), "\\~\\~x\\~\\~ \\$y\\$");
    assert_eq!(md_escape("#1 # x"), "\\#<!-- -->1 \\# x");
    assert_eq!(md_escape("1. a"), "1\\. a");
    assert_eq!(md_escape("1.5"), "1.5");
    assert_eq!(md_escape("- a-b"), "\\- a-b");
    assert_eq!(md_escape("<i>&"), "&lt;i&gt;&amp;");
    assert_eq!(html_escape("<b>\"*_@x"), "&lt;b&gt;&quot;*_@<!-- -->x");
}
