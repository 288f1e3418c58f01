//! JSON: one [`Document`] written when the scan ends (or is interrupted); its
//! schema is derived from that type (`--print-schema json`):
//! `schema`, `scan`, `coverage`, the listed `results` (sorted by address and
//! port), the per-host verdicts `hosts`, `findings` — every finding, port and
//! host ones together, worst first, each flat ([`FlatFinding`]: `ip`, `port`,
//! `service`, `rule`, `severity`, `fingerprint`, `remediation` ... at the top,
//! so `.findings[] | select(.severity == "critical")` works) — the
//! per-severity `counts`, baseline entries gone (`resolved`) and never probed
//! (`not_scanned`), the `fail_on` threshold, the `exit_code`, and the
//! `policy` file when one was used.

use super::{ScanMeta, Show, Sink, Summary};
use crate::model::FailOn;
use crate::model::{
    Coverage, Finding, FindingCounts, HostFinding, HostVerdict, PortResult, ResolvedFinding,
};
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{self, Write};
use std::net::IpAddr;

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
    /// Every finding (port, host and policy), worst first.
    pub findings: Vec<FlatFinding<'a>>,
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

/// One finding with where it was seen, its fields at the top level.
#[derive(Serialize, JsonSchema)]
pub struct FlatFinding<'a> {
    /// The address (absent for a policy entry's finding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The hostname the address was reached through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<&'a str>,
    /// The port (absent for a finding about a whole host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The service identified on the port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'a str>,
    /// The finding: rule, severity, title, evidence, fingerprint, remediation ...
    #[serde(flatten)]
    pub finding: &'a Finding,
}

/// Every finding of `results` and `host`, worst first, then by address and port.
fn flat<'a>(results: &'a [PortResult], host: &'a [HostFinding]) -> Vec<FlatFinding<'a>> {
    let mut out: Vec<FlatFinding<'a>> = results
        .iter()
        .filter_map(|r| {
            r.finding.as_ref().map(|f| FlatFinding {
                ip: Some(r.ip),
                host: r.host.as_deref(),
                port: Some(r.port),
                service: r.service.as_ref().and_then(|s| s.identified()),
                finding: f,
            })
        })
        .chain(host.iter().map(|h| FlatFinding {
            ip: h.ip,
            host: h.host.as_deref(),
            port: h.port,
            service: None,
            finding: &h.finding,
        }))
        .collect();
    out.sort_by(|a, b| {
        b.finding
            .severity
            .cmp(&a.finding.severity)
            .then_with(|| (a.ip, a.port).cmp(&(b.ip, b.port)))
    });
    out
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
            findings: flat(&self.results, &s.findings),
            counts: &s.counts,
            resolved: &s.resolved,
            not_scanned: &s.not_scanned,
            fail_on: s.fail_on,
            exit_code: s.exit_code,
            policy: s.policy.as_deref(),
        };
        serde_json::to_writer_pretty(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
