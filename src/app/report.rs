//! The end of a run, shared by scans and `merge`: results stream into the
//! chosen sink through the verdict tally; at the end the host verdicts, host
//! findings and exit code are settled, the summary written, and an `-o` file
//! put in place ([`OutputFile`]).
//!
//! A closed pipe (`| head`, a FIFO reader gone) stops the writing, not the
//! run: the scan and the verdicts go on to the end, one line on stderr says
//! the output was cut, and the exit code is still the one the findings
//! deserve, so CI gating survives `| head -n 1`.

use crate::cli::Reporting;
use crate::error::{exit, Error};
use crate::model::Severity;
use crate::model::{Coverage, HostRecord, PortResult};
use crate::output::{self, Format, OutputFile, ScanMeta, Sink, Summary};
use crate::verdict::baseline::Baseline;
use crate::verdict::hosts::MAX_TRACKED_HOSTS;
use crate::verdict::policy::{Entry, FailOn, Policy};
use crate::verdict::tally::Tally;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The policy, baseline and output a run reports through.
pub struct Verdicts {
    /// The policy in force.
    pub policy: Option<Arc<Policy>>,
    /// The baseline in force.
    pub baseline: Option<Arc<Baseline>>,
    /// The output.
    pub reporter: Reporter,
}

impl Verdicts {
    /// Reads the policy and baseline and opens the output; `sink` replaces the
    /// format's sink when given (`policy init`).
    pub fn load(r: &Reporting, sink: Option<SinkMaker>) -> Result<Verdicts, Error> {
        let policy = match &r.policy {
            Some(p) => Some(Arc::new(Policy::load(p)?)),
            None => None,
        };
        let baseline = match &r.baseline {
            Some(p) => Some(Arc::new(Baseline::load(p)?)),
            None => None,
        };
        let fail_on = r
            .fail_on
            .or_else(|| policy.as_ref().and_then(|p| p.fail_on))
            .unwrap_or(FailOn::At(Severity::High));
        let color = r.format == Format::Human
            && r.color.enabled(
                r.output.as_deref().is_none_or(|p| p.as_os_str() == "-")
                    && io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            );
        let (format, show) = (r.format, r.show);
        let make =
            sink.unwrap_or_else(|| Box::new(move |w| output::sink_for(format, w, show, color)));
        let reporter = Reporter::open(make, r.output.as_deref(), fail_on, r.only_new)?;
        Ok(Verdicts {
            policy,
            baseline,
            reporter,
        })
    }
}

/// Builds a sink over a writer.
pub type SinkMaker = Box<dyn FnOnce(Box<dyn Write>) -> Box<dyn Sink>>;

/// Streams results to an output and settles the run.
pub struct Reporter {
    sink: Box<dyn Sink>,
    file: Option<OutputFile>,
    out_path: PathBuf,
    tally: Tally,
    fail_on: FailOn,
    write_error: Option<io::Error>,
    /// The reader went away (EPIPE): nothing more is written.
    closed: bool,
}

/// How the run ended, for [`Reporter::finish`].
pub struct Ending<'a> {
    /// Scan facts.
    pub meta: ScanMeta,
    /// Coverage counts.
    pub coverage: Coverage,
    /// Cut short by a signal.
    pub interrupted: bool,
    /// The policy in force.
    pub policy: Option<&'a Policy>,
    /// The baseline in force.
    pub baseline: Option<&'a Baseline>,
    /// Whether a policy entry's host and port were scanned.
    pub in_scope: &'a dyn Fn(&Entry) -> bool,
    /// Shows a warning to the user.
    pub warn: &'a dyn Fn(&str),
}

impl Reporter {
    /// Opens the output (an `-o` path is opened now, before any scanning; `-`
    /// is stdout).
    pub fn open(
        make: SinkMaker,
        output: Option<&Path>,
        fail_on: FailOn,
        only_new: bool,
    ) -> Result<Reporter, Error> {
        let (file, writer): (Option<OutputFile>, Box<dyn Write>) = match output {
            Some(p) => {
                let (f, w) = OutputFile::open(p).map_err(|source| Error::Write {
                    path: p.to_path_buf(),
                    source,
                })?;
                (Some(f), Box::new(w))
            }
            None => (None, Box::new(io::LineWriter::new(io::stdout()))),
        };
        Ok(Reporter {
            sink: make(writer),
            file,
            out_path: output.map_or_else(|| PathBuf::from("-"), Path::to_path_buf),
            tally: Tally::new(fail_on, only_new),
            fail_on,
            write_error: None,
            closed: false,
        })
    }

    /// Declares addresses given together as one dual-stack host.
    pub fn with_pairs(mut self, pairs: Vec<BTreeSet<IpAddr>>) -> Reporter {
        self.tally.pairs(pairs);
        self
    }

    /// Gives every answering host a verdict (shard outputs, for `merge`).
    pub fn with_all_hosts(mut self, all: bool) -> Reporter {
        self.tally = self.tally.with_all_hosts(all);
        self
    }

    /// Takes one judged result; false once the output failed (the scan
    /// should stop). A closed pipe is not a failure: the results are still
    /// judged, just not written.
    pub fn port(&mut self, r: &PortResult) -> bool {
        let listed = self.tally.add(r);
        if listed && self.write_error.is_none() && !self.closed {
            if let Err(e) = self.sink.port(r) {
                self.failed(e);
            }
        }
        self.write_error.is_none()
    }

    /// Records a write error: a closed pipe stops the writing, anything
    /// else ends the run.
    fn failed(&mut self, e: io::Error) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            self.closed = true;
        } else {
            self.write_error = Some(e);
        }
    }

    /// Records a host that answers on every port.
    pub fn every_port(&mut self, ip: IpAddr) {
        self.tally.every_port(ip);
    }

    /// Adds host counts reported by a shard (merge only).
    pub fn host_counts(&mut self, h: &crate::model::HostVerdict) {
        self.tally.host_counts(h);
    }

    /// Settles verdicts and the exit code, writes the summary, commits the file.
    pub fn finish(mut self, end: Ending<'_>) -> Result<u8, Error> {
        if let Some(e) = self.write_error.take() {
            return Err(write_failed(self.out_path, e));
        }
        let mut meta = end.meta;
        meta.interrupted = end.interrupted;
        meta.end = Some(output::rfc3339(std::time::SystemTime::now()));
        let coverage = end.coverage;
        let complete = !end.interrupted && coverage.unresolved == 0;
        // A streaming sink writes each host record now; the others get them
        // all in the summary.
        let (mut hosts, mut findings) = (Vec::new(), Vec::new());
        let (sink, tally) = (&mut self.sink, self.tally);
        let streams = sink.streams_hosts();
        let mut write_error = None;
        let closed = &mut self.closed;
        let outcome = tally.finish(
            complete,
            end.policy,
            end.baseline,
            end.in_scope,
            |rec| match rec {
                rec if streams => {
                    if write_error.is_none() && !*closed {
                        match sink.host(&rec) {
                            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => *closed = true,
                            Err(e) => write_error = Some(e),
                            Ok(()) => {}
                        }
                    }
                }
                HostRecord::Verdict(h) => hosts.push(h),
                HostRecord::Finding(f) => findings.push(*f),
            },
        );
        if let (n @ 1.., exact) = outcome.untracked_hosts {
            (end.warn)(&format!(
                "more than {MAX_TRACKED_HOSTS} hosts answered: host verdicts cover the first {MAX_TRACKED_HOSTS}, {}{n} more got none; split the range (--shards) for full host verdicts",
                if exact { "" } else { "at least " }
            ));
        }
        if let Some(e) = write_error {
            return Err(write_failed(self.out_path, e));
        }
        let incomplete = coverage.unresolved > 0
            || !coverage.unresolved_hosts.is_empty()
            || coverage.attempted == 0;
        let code = if end.interrupted {
            exit::INTERRUPTED
        } else if outcome.fails {
            exit::FINDINGS
        } else if incomplete {
            exit::INCOMPLETE
        } else {
            exit::CLEAN
        };
        let mut summary = Summary::new(meta, coverage);
        summary.hosts = hosts;
        summary.findings = findings;
        summary.counts = outcome.counts;
        summary.resolved = outcome.resolved;
        summary.fail_on = self.fail_on.as_str().into();
        summary.exit_code = code;
        summary.policy = end.policy.map(|p| p.file.clone());
        if !self.closed {
            match self.sink.finish(&summary) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed = true,
                Err(e) => return Err(write_failed(self.out_path, e)),
                Ok(()) => {}
            }
        }
        drop(self.sink);
        if self.closed {
            // An error line whatever -q says: the report is incomplete.
            eprintln!(
                "exposecheck: {} was closed before the report was complete (broken pipe); the scan ran to the end, exit {code}",
                output_name(&self.out_path)
            );
            return Ok(code);
        }
        if let Some(f) = self.file {
            f.commit().map_err(|source| Error::Write {
                path: self.out_path,
                source,
            })?;
        }
        Ok(code)
    }
}

/// The error a failed write of the output (other than a closed pipe) ends
/// the run with.
fn write_failed(path: PathBuf, source: io::Error) -> Error {
    Error::Write { path, source }
}

/// The output as the user knows it.
fn output_name(p: &Path) -> String {
    if p.as_os_str() == "-" {
        "stdout".into()
    } else {
        output::terminal_safe(&p.display().to_string())
    }
}
