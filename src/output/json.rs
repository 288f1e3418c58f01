//! JSON: one document written when the scan ends (or is interrupted), valid
//! against `schema/exposecheck.schema.json` (`--print-schema json`):
//! `schema`, `scan`, `coverage`, the listed `results` (sorted by address and
//! port), the per-host verdicts `hosts`, the host-level `findings`, the
//! per-severity `counts`, baseline entries no longer seen (`resolved`), the
//! `fail_on` threshold, the `exit_code`, and the `policy` file when one was used.

use super::{ScanMeta, Show, Sink, Summary};
use crate::model::{Coverage, FindingCounts, HostFinding, HostVerdict, PortResult};
use serde::Serialize;
use std::io::{self, Write};

/// Buffering JSON document writer.
pub struct Json {
    out: Box<dyn Write>,
    show: Show,
    results: Vec<PortResult>,
}

#[derive(Serialize)]
struct Document<'a> {
    schema: &'a str,
    scan: &'a ScanMeta,
    coverage: &'a Coverage,
    results: &'a [PortResult],
    hosts: &'a [HostVerdict],
    findings: &'a [HostFinding],
    counts: &'a FindingCounts,
    resolved: &'a [serde_json::Value],
    fail_on: &'a str,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
}

impl Json {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write>, show: Show) -> Json {
        Json {
            out,
            show,
            results: Vec::new(),
        }
    }
}

impl Sink for Json {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if self.show.lists(r) {
            self.results.push(r.clone());
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        self.results.sort_by_key(|r| (r.ip, r.port));
        let doc = Document {
            schema: &s.schema,
            scan: &s.scan,
            coverage: &s.coverage,
            results: &self.results,
            hosts: &s.hosts,
            findings: &s.findings,
            counts: &s.counts,
            resolved: &s.resolved,
            fail_on: &s.fail_on,
            exit_code: s.exit_code,
            policy: s.policy.as_deref(),
        };
        serde_json::to_writer_pretty(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
