//! JSON: one [`Document`] written when the scan ends (or is interrupted); its
//! schema is derived from that type (`--print-schema json`):
//! `schema`, `scan`, `coverage`, the listed `results` (sorted by address and
//! port), the per-host verdicts `hosts`, the host-level `findings`, the
//! per-severity `counts`, baseline entries no longer seen (`resolved`), the
//! `fail_on` threshold, the `exit_code`, and the `policy` file when one was used.

use super::{ScanMeta, Show, Sink, Summary};
use crate::model::FailOn;
use crate::model::{
    Coverage, FindingCounts, HostFinding, HostVerdict, PortResult, ResolvedFinding,
};
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{self, Write};

/// Buffering JSON document writer.
pub struct Json {
    out: Box<dyn Write>,
    show: Show,
    results: Vec<PortResult>,
}

/// The `--format json` document.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "exposecheck --format json")]
pub struct Document<'a> {
    /// Document schema version (`exposecheck/1`).
    pub schema: &'a str,
    /// Scan facts.
    pub scan: &'a ScanMeta,
    /// What was covered.
    pub coverage: &'a Coverage,
    /// The listed port results, by address and port.
    pub results: &'a [PortResult],
    /// Per-host verdicts.
    pub hosts: &'a [HostVerdict],
    /// Findings about hosts or policy entries rather than one scanned port.
    pub findings: &'a [HostFinding],
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
            fail_on: s.fail_on,
            exit_code: s.exit_code,
            policy: s.policy.as_deref(),
        };
        serde_json::to_writer_pretty(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
