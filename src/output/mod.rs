//! Output formats. Each format is a [`Sink`] in its own module; they all render
//! the same [`PortResult`]s and [`Summary`]. Data goes to stdout or to an
//! [`OutputFile`] (devices and pipes written through, regular files replaced
//! atomically); progress never comes here.
//!
//! Every string that came from the network (banners, product names, hostnames,
//! evidence) is escaped for the format it lands in, so it can never forge a
//! record, a line, an element or a table row.

pub mod collect;
pub mod file;
#[cfg(test)]
mod format_tests;
pub mod human;
pub mod json;
pub mod markdown;
pub mod ndjson;
pub mod nmap_xml;
pub mod reader;
pub mod sarif;
pub mod schema;

pub use file::OutputFile;

use crate::model::{
    Coverage, FindingCounts, HostFinding, HostRecord, HostVerdict, PortResult, PortState,
    ResolvedFinding, SCHEMA,
};
use crate::verdict::policy::FailOn;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// Facts about the scan itself.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct ScanMeta {
    /// exposecheck version.
    pub version: String,
    /// Targets as given.
    pub targets: Vec<String>,
    /// Port specification, compacted.
    pub ports: String,
    /// Start time, RFC 3339 UTC.
    pub start: String,
    /// End time, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Permutation seed.
    pub seed: u64,
    /// `k/N` shard (`all/N` for a merge of every shard).
    pub shard: String,
    /// Whether the scan was cut short.
    pub interrupted: bool,
}

/// The closing record of every output.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct Summary {
    /// Document schema version.
    pub schema: String,
    /// Scan facts.
    pub scan: ScanMeta,
    /// What was covered.
    pub coverage: Coverage,
    /// Whether the scan was cut short (same as `scan.interrupted`).
    pub interrupted: bool,
    /// Per-host verdicts (hosts with at least one open port).
    #[serde(default)]
    pub hosts: Vec<HostVerdict>,
    /// Findings about hosts or policy entries rather than one scanned port.
    #[serde(default)]
    pub findings: Vec<HostFinding>,
    /// Findings per severity, port and host findings together, expected ones excluded.
    #[serde(default)]
    pub counts: FindingCounts,
    /// Baseline findings no longer present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<ResolvedFinding>,
    /// The `--fail-on` threshold in force (`none` never fails).
    #[serde(default)]
    pub fail_on: FailOn,
    /// The exit code this run ends with.
    #[serde(default)]
    pub exit_code: u8,
    /// The policy file in force, as given (SARIF results point into it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl Summary {
    /// A summary for `scan` with `coverage`.
    pub fn new(scan: ScanMeta, coverage: Coverage) -> Summary {
        Summary {
            schema: SCHEMA.into(),
            interrupted: scan.interrupted,
            scan,
            coverage,
            ..Summary::default()
        }
    }
}

/// A destination for results.
pub trait Sink {
    /// One result, as it completes (the sink decides whether to list it).
    fn port(&mut self, r: &PortResult) -> io::Result<()>;
    /// Whether host verdicts and host findings are written one by one through
    /// [`Sink::host`] as the scan ends (a streaming format, whose memory must
    /// not grow with the range) rather than handed over in the [`Summary`].
    fn streams_hosts(&self) -> bool {
        false
    }
    /// One host verdict or host finding, before [`Sink::finish`]; called only
    /// when [`Sink::streams_hosts`] is true.
    fn host(&mut self, _record: &HostRecord) -> io::Result<()> {
        Ok(())
    }
    /// The end of the scan.
    fn finish(&mut self, s: &Summary) -> io::Result<()>;
}

/// Which non-open states are listed (they are always counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Show {
    /// List closed ports.
    pub closed: bool,
    /// List filtered ports.
    pub filtered: bool,
}

impl Show {
    /// Whether a result is listed.
    pub fn lists(&self, r: &PortResult) -> bool {
        match r.state {
            PortState::Open => true,
            PortState::Closed => self.closed,
            PortState::Filtered => self.filtered,
            // Counted in the summary; listed beside the filtered ports.
            PortState::Unresolved => self.filtered,
        }
    }
}

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables for people.
    Human,
    /// One JSON document.
    Json,
    /// One JSON object per line, streamed.
    Ndjson,
    /// SARIF 2.1.0 for GitHub code scanning.
    Sarif,
    /// nmap's XML, for DefectDojo, Faraday and Metasploit importers.
    NmapXml,
    /// A Markdown summary for CI job pages and pull-request comments.
    Markdown,
}

/// Builds the sink for `format` writing to `out` (`color` affects human output only).
pub fn sink_for(format: Format, out: Box<dyn Write>, show: Show, color: bool) -> Box<dyn Sink> {
    match format {
        Format::Human => Box::new(human::Human::new(out, show, color)),
        Format::Json => Box::new(json::Json::new(out, show)),
        Format::Ndjson => Box::new(ndjson::Ndjson::new(out, show)),
        Format::Sarif => Box::new(sarif::Sarif::new(out)),
        Format::NmapXml => Box::new(nmap_xml::NmapXml::new(out, show)),
        Format::Markdown => Box::new(markdown::Markdown::new(out, show)),
    }
}

/// When to colour human output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always, even into a file or pipe.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to colour, given whether the destination is a terminal and the
    /// value of `NO_COLOR` (no-color.org: set and non-empty disables `auto`).
    pub fn enabled(self, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// Formats a time as RFC 3339 UTC with second precision.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses what [`rfc3339`] writes (`YYYY-MM-DDTHH:MM:SSZ`) back to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let (yy, mp) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Unicode's explicit bidirectional formatting characters (UAX #9).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Days since 1970-01-01 to (year, month, day) — Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Makes network text safe for a terminal: control characters (C0, C1, DEL,
/// ESC sequences) become `\xNN` escapes, so a banner cannot move the cursor,
/// recolour the screen or forge a line; bidirectional-text controls become
/// `\u{NNNN}`, so it cannot reorder what is shown either.
pub fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || is_bidi_control(c) {
            let n = c as u32;
            if n <= 0xff {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_000_000)),
            "2026-11-18T11:06:40Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn parse_rfc3339_inverts_rfc3339() {
        for secs in [0u64, 951_782_400, 1_795_000_000, 4_102_444_799] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(secs as i64));
        }
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-25 10:00:00"), None);
    }

    #[test]
    fn color_choice() {
        use std::ffi::OsStr;
        assert!(ColorChoice::Auto.enabled(true, None));
        assert!(ColorChoice::Auto.enabled(true, Some(OsStr::new(""))));
        assert!(!ColorChoice::Auto.enabled(true, Some(OsStr::new("1"))));
        assert!(!ColorChoice::Auto.enabled(false, None));
        assert!(ColorChoice::Always.enabled(false, Some(OsStr::new("1"))));
        assert!(!ColorChoice::Never.enabled(true, None));
    }

    #[test]
    fn terminal_safe_escapes_controls() {
        assert_eq!(terminal_safe("a\x1b[2Jb\nc\u{9b}"), "a\\x1b[2Jb\\x0ac\\x9b");
        assert_eq!(terminal_safe("plain ü"), "plain ü");
        assert_eq!(terminal_safe("a\u{202e}b\u{2066}"), "a\\u{202e}b\\u{2066}");
    }
}
