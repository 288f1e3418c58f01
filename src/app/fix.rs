//! `exposecheck fix REPORT.json|TARGET --firewall iptables|nftables|ufw`:
//! one hardening script per host ([`crate::verdict::script`]), from a JSON
//! report written by `--format json`, or from a scan of the targets run
//! first. The policy (`--policy`, or ./exposecheck.toml when present)
//! decides which open ports stay open; it is applied afresh to a report.
//! One host's script goes to stdout; several need `--dir`.

use super::report::SinkMaker;
use crate::cli::{Config, FixArgs, Reporting};
use crate::error::Error;
use crate::model::{FailOn, Finding, HostRecord, PolicyStatus, PortResult, PortState};
use crate::output::{Sink, Summary};
use crate::reader::Source;
use crate::verdict::policy::Policy;
use crate::verdict::script::{self, Host, OpenPort, Options};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The part of a `--format json` document `fix` reads.
#[derive(Deserialize)]
struct Report {
    results: Vec<PortResult>,
}

/// Open ports by host, as they come.
type Collected = Arc<Mutex<BTreeMap<IpAddr, Host>>>;

/// A sink that keeps each host's open ports (with the policy's mark).
struct Collect(Collected);

fn add(hosts: &Collected, r: &PortResult, expected: bool) {
    if r.state != PortState::Open {
        return;
    }
    let mut map = hosts.lock().unwrap_or_else(|p| p.into_inner());
    let h = map.entry(r.ip).or_insert_with(|| Host {
        ip: r.ip,
        name: r.host.clone(),
        open: Vec::new(),
    });
    h.open.retain(|p| p.port != r.port);
    h.open.push(OpenPort {
        port: r.port,
        service: r
            .service
            .as_ref()
            .and_then(|s| s.identified())
            .map(str::to_owned),
        expected,
    });
}

impl Sink for Collect {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        add(
            &self.0,
            r,
            r.finding.as_ref().is_some_and(Finding::is_expected),
        );
        Ok(())
    }

    fn host(&mut self, _record: &HostRecord) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, _s: &Summary) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `fix`; returns the exit code.
pub fn run(
    args: FixArgs,
    block_on: impl FnOnce(Config, SinkMaker) -> Result<u8, Error>,
) -> Result<u8, Error> {
    let hosts: Collected = Arc::default();
    let targets = &args.scan.targets;
    let report = match targets.as_slice() {
        [one] if Path::new(one).is_file() => Some(PathBuf::from(one)),
        _ => None,
    };
    let reporting = Reporting::from_args(&args.scan.report)?;
    let policy = reporting.policy.is_some();
    let family = args.scan.report.firewall;
    let source = match &report {
        Some(p) => p.display().to_string(),
        None => format!("a scan of {}", targets.join(" ")),
    };
    match &report {
        Some(path) => {
            super::release_signals();
            from_report(path, &reporting, &hosts)?;
        }
        None => {
            let mut cfg = Config::from_args(args.scan.clone())?;
            cfg.report.fail_on = Some(FailOn::Never);
            cfg.report.output = None;
            cfg.report.also.clear();
            let sink = hosts.clone();
            block_on(cfg, Box::new(move |_| Box::new(Collect(sink))))?;
        }
    }
    let options = Options {
        family,
        reset_guard: !args.no_reset_guard,
        policy,
        source,
    };
    let hosts = std::mem::take(&mut *hosts.lock().unwrap_or_else(|p| p.into_inner()));
    write_scripts(hosts.into_values().collect(), &options, args.dir.as_deref())
}

/// Reads a report's open ports, the policy applied afresh.
fn from_report(path: &Path, reporting: &Reporting, hosts: &Collected) -> Result<(), Error> {
    let policy = reporting.policy.as_deref().map(Policy::load).transpose()?;
    let read_err = |e: String| Error::Read {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    };
    let mut src = Source::open(path).map_err(|e| Error::Read {
        path: path.to_owned(),
        source: e,
    })?;
    let report: Report = src
        .values::<Report>()
        .next()
        .ok_or_else(|| read_err("empty file: expected a --format json report".into()))?
        .map_err(|e| read_err(format!("{e} (expected a --format json report)")))?;
    for r in &report.results {
        let expected = policy.as_ref().is_some_and(|p| {
            let mut f = Finding::default();
            p.apply(r, r.service.as_ref().and_then(|s| s.identified()), &mut f);
            f.policy == Some(PolicyStatus::Expected)
        });
        add(hosts, r, expected);
    }
    Ok(())
}

/// Writes one script per host: to stdout for one host, else into `dir`.
fn write_scripts(hosts: Vec<Host>, o: &Options, dir: Option<&Path>) -> Result<u8, Error> {
    if hosts.is_empty() {
        return Err(Error::Usage(
            "no open port was found: there is nothing to write a script for".into(),
        ));
    }
    let Some(dir) = dir else {
        if hosts.len() > 1 {
            return Err(Error::Usage(format!(
                "{} hosts have open ports: give --dir DIR to write one script each",
                hosts.len()
            )));
        }
        let text = script::script(&hosts[0], o);
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::Write {
                path: "-".into(),
                source: e,
            })?;
        return Ok(crate::error::exit::CLEAN);
    };
    for h in &hosts {
        let path = dir.join(script::file_name(h.ip, o.family));
        write_executable(&path, &script::script(h, o)).map_err(|e| Error::Write {
            path: path.clone(),
            source: e,
        })?;
        let c = script::choose(h, o.policy);
        eprintln!(
            "exposecheck: wrote {} ({} ports kept open, {} closed)",
            crate::output::terminal_safe(&path.display().to_string()),
            c.allowed.len(),
            c.closed.len()
        );
    }
    Ok(crate::error::exit::CLEAN)
}

/// Writes `text` to `path`, readable and runnable by its owner only.
fn write_executable(path: &Path, text: &str) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
