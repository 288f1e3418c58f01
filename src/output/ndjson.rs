//! NDJSON: one JSON object per line, a [`Line`] (its schema is derived from
//! that type, `--print-schema ndjson`), told apart by its `type`:
//!
//! - `port`: one [`PortResult`], written and flushed as each listed result
//!   completes (so `tail -f` and pipes see them live);
//! - `host`: one [`HostVerdict`] per host with an open port, when the scan ends,
//!   each followed by that host's `finding` records;
//! - `finding`: one [`HostFinding`] (dual-stack mismatch, stale policy entry...),
//!   when the scan ends;
//! - `summary`: always last and exactly once: `schema`, `scan`, `coverage`,
//!   `interrupted`, `counts`, `resolved`, `not_scanned`, `fail_on`,
//!   `exit_code`, `policy`.
//!
//! Every line also has a `time`: when it was written (RFC 3339, UTC).
//!
//! Every string is JSON-escaped by serde_json, so a banner holding a newline
//! and a JSON object cannot forge a record.

use super::{ScanMeta, Show, Sink, Summary};
use crate::model::FailOn;
use crate::model::{
    Coverage, FindingCounts, HostFinding, HostRecord, HostVerdict, PortResult, ResolvedFinding,
};
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{self, Write};

/// Streaming NDJSON writer.
pub struct Ndjson {
    out: Box<dyn Write>,
    show: Show,
}

/// One `--format ndjson` line, told apart by its `type`.
#[derive(Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line<'a> {
    /// A listed port result, as it completes.
    Port(&'a PortResult),
    /// A host verdict, when the scan ends.
    Host(&'a HostVerdict),
    /// A finding about a host or a policy entry, when the scan ends.
    Finding(&'a HostFinding),
    /// The closing line, always last and exactly once.
    Summary(SummaryLine<'a>),
}

/// A line as written: the record and when it was written.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "exposecheck --format ndjson (one line)")]
pub struct Stamped<'a> {
    /// The record.
    #[serde(flatten)]
    pub line: Line<'a>,
    /// When the line was written, RFC 3339 UTC.
    pub time: String,
}

/// The closing line's fields.
#[derive(Serialize, JsonSchema)]
pub struct SummaryLine<'a> {
    /// Document schema version (`exposecheck/1`).
    pub schema: &'a str,
    /// Scan facts.
    pub scan: &'a ScanMeta,
    /// What was covered.
    pub coverage: &'a Coverage,
    /// Whether the scan was cut short.
    pub interrupted: bool,
    /// Findings per severity, expected ones excluded.
    pub counts: &'a FindingCounts,
    /// Baseline findings gone from places this run probed.
    pub resolved: &'a [ResolvedFinding],
    /// Baseline findings at places this run never probed (not known fixed).
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub not_scanned: &'a [ResolvedFinding],
    /// The `--fail-on` threshold in force.
    pub fail_on: FailOn,
    /// The exit code this run ends with.
    pub exit_code: u8,
    /// The policy file in force, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'a str>,
}

impl Ndjson {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write>, show: Show) -> Ndjson {
        Ndjson { out, show }
    }

    fn line(&mut self, line: Line<'_>) -> io::Result<()> {
        let time = crate::text::rfc3339(std::time::SystemTime::now());
        serde_json::to_writer(&mut self.out, &Stamped { line, time })?;
        self.out.write_all(b"\n")
    }
}

impl Sink for Ndjson {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if self.show.lists(r) {
            self.line(Line::Port(r))?;
            self.out.flush()?;
        }
        Ok(())
    }

    fn streams_hosts(&self) -> bool {
        true
    }

    fn host(&mut self, record: &HostRecord) -> io::Result<()> {
        match record {
            HostRecord::Verdict(h) => self.line(Line::Host(h)),
            HostRecord::Finding(f) => self.line(Line::Finding(f)),
        }
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        for h in &s.hosts {
            self.line(Line::Host(h))?;
        }
        for f in &s.findings {
            self.line(Line::Finding(f))?;
        }
        let summary = SummaryLine {
            schema: &s.schema,
            scan: &s.scan,
            coverage: &s.coverage,
            interrupted: s.interrupted,
            counts: &s.counts,
            resolved: &s.resolved,
            not_scanned: &s.not_scanned,
            fail_on: s.fail_on,
            exit_code: s.exit_code,
            policy: s.policy.as_deref(),
        };
        self.line(Line::Summary(summary))?;
        self.out.flush()
    }
}
