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
//!   `interrupted`, `counts`, `resolved`, `fail_on`, `exit_code`, `policy`.
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
#[schemars(title = "exposecheck --format ndjson (one line)")]
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
    /// Baseline findings no longer present.
    pub resolved: &'a [ResolvedFinding],
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

    fn line(&mut self, line: &Line<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")
    }
}

impl Sink for Ndjson {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if self.show.lists(r) {
            self.line(&Line::Port(r))?;
            self.out.flush()?;
        }
        Ok(())
    }

    fn streams_hosts(&self) -> bool {
        true
    }

    fn host(&mut self, record: &HostRecord) -> io::Result<()> {
        match record {
            HostRecord::Verdict(h) => self.line(&Line::Host(h)),
            HostRecord::Finding(f) => self.line(&Line::Finding(f)),
        }
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        for h in &s.hosts {
            self.line(&Line::Host(h))?;
        }
        for f in &s.findings {
            self.line(&Line::Finding(f))?;
        }
        let summary = SummaryLine {
            schema: &s.schema,
            scan: &s.scan,
            coverage: &s.coverage,
            interrupted: s.interrupted,
            counts: &s.counts,
            resolved: &s.resolved,
            fail_on: s.fail_on,
            exit_code: s.exit_code,
            policy: s.policy.as_deref(),
        };
        self.line(&Line::Summary(summary))?;
        self.out.flush()
    }
}
