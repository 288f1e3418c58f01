//! NDJSON: one JSON object per line, each valid against
//! `schema/exposecheck-ndjson.schema.json` (`--print-schema ndjson`) and told
//! apart by its `type`:
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
use crate::model::{Coverage, FindingCounts, HostFinding, HostRecord, HostVerdict, PortResult};
use serde::Serialize;
use std::io::{self, Write};

/// Streaming NDJSON writer.
pub struct Ndjson {
    out: Box<dyn Write>,
    show: Show,
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    schema: &'a str,
    scan: &'a ScanMeta,
    coverage: &'a Coverage,
    interrupted: bool,
    counts: &'a FindingCounts,
    resolved: &'a [serde_json::Value],
    fail_on: &'a str,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
}

impl Ndjson {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write>, show: Show) -> Ndjson {
        Ndjson { out, show }
    }

    fn line<T: Serialize>(&mut self, kind: &'static str, body: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &Tagged { kind, body })?;
        self.out.write_all(b"\n")
    }
}

impl Sink for Ndjson {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if self.show.lists(r) {
            self.line("port", r)?;
            self.out.flush()?;
        }
        Ok(())
    }

    fn streams_hosts(&self) -> bool {
        true
    }

    fn host(&mut self, record: &HostRecord) -> io::Result<()> {
        match record {
            HostRecord::Verdict(h) => self.line::<HostVerdict>("host", h),
            HostRecord::Finding(f) => self.line::<HostFinding>("finding", f),
        }
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        for h in &s.hosts {
            self.line::<HostVerdict>("host", h)?;
        }
        for f in &s.findings {
            self.line::<HostFinding>("finding", f)?;
        }
        let summary = SummaryLine {
            schema: &s.schema,
            scan: &s.scan,
            coverage: &s.coverage,
            interrupted: s.interrupted,
            counts: &s.counts,
            resolved: &s.resolved,
            fail_on: &s.fail_on,
            exit_code: s.exit_code,
            policy: s.policy.as_deref(),
        };
        self.line("summary", &summary)?;
        self.out.flush()
    }
}
