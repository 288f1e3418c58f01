//! The output side of a run, shared by scans and `merge`: judged results
//! stream into the chosen sink; at the end the run's [`Judge`] hands over its
//! host records and [`Decision`](crate::verdict::Decision) (the exit code is
//! the judge's), the summary is written and an `-o` file put in place
//! ([`OutputFile`]).
//!
//! A closed pipe (`| head`, a FIFO reader gone) stops the writing, not the
//! run: the scan and the verdicts go on to the end, one line on stderr says
//! the output was cut, and the exit code is still the one the findings
//! deserve, so CI gating survives `| head -n 1`.

use crate::cli::Reporting;
use crate::error::Error;
use crate::model::{Coverage, HostRecord, PortResult};
use crate::output::{self, Format, OutputFile, ScanMeta, Sink, Summary};
use crate::verdict::baseline::Baseline;
use crate::verdict::hosts::MAX_TRACKED_HOSTS;
use crate::verdict::policy::{Entry, Policy};
use crate::verdict::{Judge, RunEnd};
use std::io::IsTerminal;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Reads the policy and baseline a run judges with.
pub fn verdict_inputs(r: &Reporting) -> Result<(Option<Policy>, Option<Baseline>), Error> {
    let policy = r.policy.as_deref().map(Policy::load).transpose()?;
    let baseline = r.baseline.as_deref().map(Baseline::load).transpose()?;
    Ok((policy, baseline))
}

/// Builds a sink over a writer.
pub type SinkMaker = Box<dyn FnOnce(Box<dyn Write>) -> Box<dyn Sink>>;

/// Streams results to an output and writes the end of the run.
pub struct Reporter {
    sink: Box<dyn Sink>,
    file: Option<OutputFile>,
    out_path: PathBuf,
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
    /// Whether a policy entry's host and port were scanned.
    pub in_scope: &'a dyn Fn(&Entry) -> bool,
    /// Shows a warning to the user.
    pub warn: &'a dyn Fn(&str),
}

impl Reporter {
    /// Opens the output `r` asks for (an `-o` path is opened now, before any
    /// scanning; `-` is stdout); `sink` replaces the format's sink when given
    /// (`policy init`).
    pub fn for_run(r: &Reporting, sink: Option<SinkMaker>) -> Result<Reporter, Error> {
        let color = r.format == Format::Human
            && r.color.enabled(
                r.output.as_deref().is_none_or(|p| p.as_os_str() == "-")
                    && io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            );
        let style = output::HumanStyle {
            color,
            firewall: r.firewall,
            verbose: r.verbose,
        };
        let (format, show) = (r.format, r.show);
        let make =
            sink.unwrap_or_else(|| Box::new(move |w| output::sink_for(format, w, show, style)));
        Reporter::open(make, r.output.as_deref())
    }

    /// Opens `output` (stdout when `None`) with the sink `make` builds.
    pub fn open(make: SinkMaker, output: Option<&Path>) -> Result<Reporter, Error> {
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
            write_error: None,
            closed: false,
        })
    }

    /// Takes one judged result (written when `listed`); false once the
    /// output failed (the scan should stop). A closed pipe is not a failure:
    /// the results are still judged, just not written.
    pub fn port(&mut self, r: &PortResult, listed: bool) -> bool {
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

    /// Lets `judge` finish the run, writes its host records and the summary,
    /// commits the file; returns the exit code.
    pub fn finish(mut self, judge: Judge, end: Ending<'_>) -> Result<u8, Error> {
        if let Some(e) = self.write_error.take() {
            return Err(write_failed(self.out_path, e));
        }
        let mut meta = end.meta;
        meta.interrupted = end.interrupted;
        meta.end = Some(output::rfc3339(std::time::SystemTime::now()));
        let policy = judge.policy().map(|p| p.file.clone());
        // A streaming sink writes each host record now; the others get them
        // all in the summary.
        let (mut hosts, mut findings) = (Vec::new(), Vec::new());
        let streams = self.sink.streams_hosts();
        let run_end = RunEnd {
            interrupted: end.interrupted,
            coverage: &end.coverage,
            in_scope: end.in_scope,
        };
        let decision = judge.finish(run_end, |rec| match rec {
            rec if streams => {
                if self.write_error.is_none() && !self.closed {
                    if let Err(e) = self.sink.host(&rec) {
                        self.failed(e);
                    }
                }
            }
            HostRecord::Verdict(h) => hosts.push(h),
            HostRecord::Finding(f) => findings.push(*f),
        });
        if let (n @ 1.., exact) = decision.untracked_hosts {
            (end.warn)(&format!(
                "more than {MAX_TRACKED_HOSTS} hosts answered: host verdicts cover the first {MAX_TRACKED_HOSTS}, {}{n} more got none; split the range (--shards) for full host verdicts",
                if exact { "" } else { "at least " }
            ));
        }
        if let Some(e) = self.write_error.take() {
            return Err(write_failed(self.out_path, e));
        }
        let code = decision.exit.code();
        let mut summary = Summary::new(meta, end.coverage);
        summary.hosts = hosts;
        summary.findings = findings;
        summary.counts = decision.counts;
        summary.resolved = decision.resolved;
        summary.fail_on = decision.fail_on;
        summary.exit_code = code;
        summary.policy = policy;
        if !self.closed {
            if let Err(e) = self.sink.finish(&summary) {
                self.failed(e);
            }
            if let Some(e) = self.write_error.take() {
                return Err(write_failed(self.out_path, e));
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
