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

/// One destination: a sink over stdout or a file.
struct Out {
    sink: Box<dyn Sink>,
    file: Option<OutputFile>,
    path: PathBuf,
    /// The reader went away (EPIPE): nothing more is written here.
    closed: bool,
}

/// Streams results to the outputs and writes the end of the run.
pub struct Reporter {
    /// The main output first, then each `--write` (`-oX`, `-oN`, `-oA`).
    outs: Vec<Out>,
    write_error: Option<(PathBuf, io::Error)>,
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

/// The sink for `format` as `r` styles it; `terminal` says whether it
/// writes to a terminal (colour `auto`).
fn maker(r: &Reporting, format: Format, terminal: bool) -> SinkMaker {
    let style = output::HumanStyle {
        color: format == Format::Human
            && r.color
                .enabled(terminal, std::env::var_os("NO_COLOR").as_deref()),
        firewall: r.firewall,
        verbose: r.verbose,
    };
    let show = r.show;
    Box::new(move |w| output::sink_for(format, w, show, style))
}

impl Reporter {
    /// Opens the outputs `r` asks for (`-o` and `--write` paths are opened
    /// now, before any scanning; `-` is stdout); `sink` replaces the main
    /// format's sink when given (`policy init`).
    pub fn for_run(r: &Reporting, sink: Option<SinkMaker>) -> Result<Reporter, Error> {
        let stdout = |p: Option<&Path>| p.is_none_or(|p| p.as_os_str() == "-");
        let main = sink.unwrap_or_else(|| {
            maker(
                r,
                r.format,
                stdout(r.output.as_deref()) && io::stdout().is_terminal(),
            )
        });
        let mut outs = vec![Reporter::open_one(main, r.output.as_deref())?];
        for (format, path) in &r.also {
            let terminal = stdout(Some(path)) && io::stdout().is_terminal();
            outs.push(Reporter::open_one(maker(r, *format, terminal), Some(path))?);
        }
        Ok(Reporter {
            outs,
            write_error: None,
        })
    }

    /// Opens `output` (stdout when `None`) with the sink `make` builds.
    pub fn open(make: SinkMaker, output: Option<&Path>) -> Result<Reporter, Error> {
        Ok(Reporter {
            outs: vec![Reporter::open_one(make, output)?],
            write_error: None,
        })
    }

    fn open_one(make: SinkMaker, output: Option<&Path>) -> Result<Out, Error> {
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
        Ok(Out {
            sink: make(writer),
            file,
            path: output.map_or_else(|| PathBuf::from("-"), Path::to_path_buf),
            closed: false,
        })
    }

    /// Runs `write` on every output still open; a closed pipe closes that
    /// output, any other error is kept (the run then fails).
    fn each(&mut self, mut write: impl FnMut(&mut dyn Sink) -> io::Result<()>) {
        for o in self.outs.iter_mut().filter(|o| !o.closed) {
            if self.write_error.is_some() {
                return;
            }
            match write(o.sink.as_mut()) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => o.closed = true,
                Err(e) => self.write_error = Some((o.path.clone(), e)),
                Ok(()) => {}
            }
        }
    }

    /// Takes one judged result (written when `listed`); false once an
    /// output failed (the scan should stop). A closed pipe is not a
    /// failure: the results are still judged, just not written there.
    pub fn port(&mut self, r: &PortResult, listed: bool) -> bool {
        if listed {
            self.each(|s| s.port(r));
        }
        self.write_error.is_none()
    }

    /// The error kept by [`Reporter::each`], if any.
    fn check(&mut self) -> Result<(), Error> {
        match self.write_error.take() {
            Some((path, source)) => Err(Error::Write { path, source }),
            None => Ok(()),
        }
    }

    /// Lets `judge` finish the run, writes its host records and the summary,
    /// commits the files; returns the exit code.
    pub fn finish(mut self, judge: Judge, end: Ending<'_>) -> Result<u8, Error> {
        self.check()?;
        let mut meta = end.meta;
        meta.interrupted = end.interrupted;
        meta.end = Some(output::rfc3339(std::time::SystemTime::now()));
        let policy = judge.policy().map(|p| p.file.clone());
        // A streaming sink writes each host record now; the others get them
        // all in the summary.
        let (mut hosts, mut findings) = (Vec::new(), Vec::new());
        let collect = self.outs.iter().any(|o| !o.sink.streams_hosts());
        let run_end = RunEnd {
            interrupted: end.interrupted,
            coverage: &end.coverage,
            in_scope: end.in_scope,
        };
        let decision = judge.finish(run_end, |rec| {
            self.each(|s| {
                if s.streams_hosts() {
                    s.host(&rec)
                } else {
                    Ok(())
                }
            });
            if collect {
                match rec {
                    HostRecord::Verdict(h) => hosts.push(h),
                    HostRecord::Finding(f) => findings.push(*f),
                }
            }
        });
        if let (n @ 1.., exact) = decision.untracked_hosts {
            (end.warn)(&format!(
                "more than {MAX_TRACKED_HOSTS} hosts answered: host verdicts cover the first {MAX_TRACKED_HOSTS}, {}{n} more got none; split the range (--shards) for full host verdicts",
                if exact { "" } else { "at least " }
            ));
        }
        self.check()?;
        let code = decision.exit.code();
        let mut streamed = Summary::new(meta, end.coverage);
        streamed.counts = decision.counts;
        streamed.resolved = decision.resolved;
        streamed.not_scanned = decision.not_scanned;
        streamed.fail_on = decision.fail_on;
        streamed.exit_code = code;
        streamed.policy = policy;
        let mut full = streamed.clone();
        full.hosts = hosts;
        full.findings = findings;
        self.each(|s| s.finish(if s.streams_hosts() { &streamed } else { &full }));
        self.check()?;
        self.commit(code)
    }

    /// Puts the files in place; says which outputs a closed pipe cut short.
    fn commit(self, code: u8) -> Result<u8, Error> {
        for o in self.outs {
            drop(o.sink);
            if o.closed {
                // An error line whatever -q says: the report is incomplete.
                eprintln!(
                    "exposecheck: {} was closed before the report was complete (broken pipe); the scan ran to the end, exit {code}",
                    output_name(&o.path)
                );
                continue;
            }
            if let Some(f) = o.file {
                f.commit().map_err(|source| Error::Write {
                    path: o.path,
                    source,
                })?;
            }
        }
        Ok(code)
    }
}

/// The output as the user knows it.
fn output_name(p: &Path) -> String {
    if p.as_os_str() == "-" {
        "stdout".into()
    } else {
        output::terminal_safe(&p.display().to_string())
    }
}
