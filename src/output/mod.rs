//! Output formats. Each format is a [`Sink`] in its own module; they all render
//! the same [`PortResult`]s and [`Summary`]. Data goes to stdout or to an
//! [`OutputFile`] (devices and pipes written through, regular files replaced
//! atomically); progress never comes here.
//!
//! Every string that came from the network (banners, product names, hostnames,
//! evidence) is escaped for the format it lands in, so it can never forge a
//! record, a line, an element or a table row.

pub mod alertmanager;
pub mod collect;
pub mod file;
#[cfg(test)]
mod format_tests;
pub mod human;
pub mod json;
pub mod markdown;
pub mod ndjson;
pub mod nmap_xml;
pub mod pagerduty;
pub mod sarif;
pub mod schema;
pub mod slack;

pub use file::OutputFile;

use crate::model::{
    Coverage, FindingCounts, HostFinding, HostRecord, HostVerdict, PortResult, PortState,
    ResolvedFinding, SCHEMA,
};
use crate::model::{FailOn, FirewallTool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

pub use crate::text::{parse_rfc3339, rfc3339, terminal_safe};

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
    /// Baseline findings gone from places this run probed.
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
    /// Baseline findings at places this run never probed: not seen, and
    /// not known to be fixed either.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_scanned: Vec<ResolvedFinding>,
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
            PortState::Filtered | PortState::OpenFiltered => self.filtered,
            // Counted in the summary; listed beside the filtered ports.
            PortState::Unresolved => self.filtered,
        }
    }
}

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables for people (trivy's and grype's `table`).
    #[value(alias = "table")]
    Human,
    /// One JSON document.
    Json,
    /// One JSON object per line, streamed.
    #[value(alias = "jsonl")]
    Ndjson,
    /// SARIF 2.1.0 for GitHub code scanning.
    Sarif,
    /// nmap's XML, for DefectDojo, Faraday and Metasploit importers.
    #[value(alias = "xml")]
    NmapXml,
    /// A Markdown summary for CI job pages and pull-request comments.
    #[value(alias = "md")]
    Markdown,
    /// A Slack incoming-webhook message (Block Kit), ready to POST.
    Slack,
    /// PagerDuty Events API v2 events, one per line, ready to POST
    /// (routing key from $PAGERDUTY_ROUTING_KEY).
    #[value(alias = "pagerduty-events")]
    Pagerduty,
    /// The Alertmanager POST /api/v2/alerts body.
    Alertmanager,
}

/// How the human report is drawn (the other formats ignore it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HumanStyle {
    /// ANSI colour.
    pub color: bool,
    /// The firewall family whose commands each fix shows.
    pub firewall: FirewallTool,
    /// `-v`: every firewall family, every note and the evidence in full.
    pub verbose: bool,
}

/// Builds the sink for `format` writing to `out`.
pub fn sink_for(
    format: Format,
    out: Box<dyn Write>,
    show: Show,
    style: HumanStyle,
) -> Box<dyn Sink> {
    match format {
        Format::Human => Box::new(human::Human::new(out, show, style)),
        Format::Json => Box::new(json::Json::new(out, show)),
        Format::Ndjson => Box::new(ndjson::Ndjson::new(out, show)),
        Format::Sarif => Box::new(sarif::Sarif::new(out)),
        Format::NmapXml => Box::new(nmap_xml::NmapXml::new(out, show)),
        Format::Markdown => Box::new(markdown::Markdown::new(out, show)),
        Format::Slack => Box::new(slack::Slack::new(out, style.firewall)),
        Format::Pagerduty => Box::new(pagerduty::PagerDuty::from_env(out)),
        Format::Alertmanager => Box::new(alertmanager::Alertmanager::new(out)),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
