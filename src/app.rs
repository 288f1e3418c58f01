//! One command-line run: resolve targets, build the plan, stream results into
//! the chosen output, draw progress on stderr, handle Ctrl-C, pick the exit code.
//!
//! This is the only module that writes to the terminal; the engine and the
//! pipeline report through values.

use crate::cli::{Config, PortChoice};
use crate::error::{exit, Error};
use crate::model::{Coverage, PortState};
use crate::output::{self, AtomicFile, Format, ScanMeta, Summary};
use crate::pipeline::{self, Output, Plan};
use crate::ports::{self, PortList};
use crate::scan::{limits, Progress, SweepConfig};
use crate::targets::{self, Resolved, TargetSet, TargetSpec};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ipnet::IpNet;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Most addresses scanned without `--allow-large`.
pub const MAX_ADDRESSES: u128 = 65_536;

/// Ranges never scanned, whatever a CIDR covers: unspecified, multicast, broadcast.
const NEVER: [&str; 5] = ["0.0.0.0/32", "224.0.0.0/4", "255.255.255.255/32", "::/128", "ff00::/8"];

/// Ports named by the service catalogue (the default port set, with 22, 80, 443).
fn catalog_ports() -> Vec<u16> {
    crate::catalog::default_ports()
}

fn warn(quiet: bool, bar: Option<&ProgressBar>, msg: &str) {
    if quiet {
        return;
    }
    let line = format!("exposecheck: warning: {}", output::terminal_safe(msg));
    match bar {
        Some(b) => b.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

fn derive_seed(cfg: &Config, ports: &PortList) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut t = cfg.target_text.clone();
    t.sort();
    h.update(t.join("\n"));
    h.update([0]);
    h.update(ports.to_spec());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// Resolves targets and exclusions and builds the address set.
async fn build_targets(cfg: &Config) -> Result<(TargetSet, Vec<String>, Vec<String>), Error> {
    let res = targets::resolve(cfg.targets.clone(), cfg.dns_timeout, cfg.max_addrs_per_name).await;
    let mut warnings = Vec::new();
    for (name, cap) in &res.truncated {
        warnings.push(format!("{name} resolves to more than {cap} addresses; scanning the first {cap}"));
    }
    let mut unresolved = Vec::new();
    for (name, why) in &res.unresolved {
        warnings.push(format!("cannot resolve {name}: {why}; scanning the rest"));
        unresolved.push(name.clone());
    }
    let ex = targets::resolve(cfg.excludes.clone(), cfg.dns_timeout, cfg.max_addrs_per_name).await;
    for (name, why) in &ex.unresolved {
        warnings.push(format!("cannot resolve excluded name {name}: {why}"));
    }
    let mut exclude: Vec<IpNet> = NEVER.iter().map(|n| n.parse().expect("valid constant")).collect();
    for r in ex.resolved {
        match r {
            Resolved::Addr(ip, _) => exclude.push(IpNet::from(ip)),
            Resolved::Net(n) => exclude.push(n),
        }
    }
    let mut include = Vec::new();
    for r in res.resolved {
        if let Resolved::Addr(ip, Some(name)) = &r {
            if let Some(why) = targets::refuse_reason(*ip) {
                warnings.push(format!("{name} resolves to {ip} ({why}); not scanned"));
                continue;
            }
        }
        include.push(r);
    }
    let set = TargetSet::build(&include, &exclude);
    Ok((set, warnings, unresolved))
}

/// Runs a whole scan as the command line asked; returns the exit code.
pub async fn run(cfg: Config) -> Result<u8, Error> {
    let budget = limits::raise_and_budget();
    let ports = Arc::new(match &cfg.ports {
        PortChoice::List(l) => l.clone(),
        PortChoice::Default => ports::default_ports(catalog_ports()),
    });
    // Open the output first: an unwritable -o fails before any packet leaves.
    let (file, writer): (Option<AtomicFile>, Box<dyn Write>) = match &cfg.output {
        Some(p) => {
            let (f, w) = AtomicFile::create(p).map_err(|source| Error::Write {
                path: p.clone(),
                source,
            })?;
            (Some(f), Box::new(w))
        }
        None => (None, Box::new(io::LineWriter::new(io::stdout()))),
    };
    let (set, warnings, unresolved_hosts) = build_targets(&cfg).await?;
    if set.len() > MAX_ADDRESSES && !cfg.allow_large {
        return Err(Error::Scope(format!(
            "{} addresses to scan is more than {MAX_ADDRESSES}; narrow the targets or pass --allow-large",
            set.len()
        )));
    }
    let stderr_tty = io::stderr().is_terminal();
    let bar = (!cfg.quiet && stderr_tty).then(|| {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} ports · {msg} · {per_sec} · ETA {eta}",
            )
            .expect("valid template"),
        );
        b
    });
    for w in &warnings {
        warn(cfg.quiet, bar.as_ref(), w);
    }
    let seed = cfg.seed.unwrap_or_else(|| {
        if cfg.shard.count > 1 {
            derive_seed(&cfg, &ports)
        } else {
            random_seed()
        }
    });
    let concurrency = cfg.concurrency.unwrap_or(budget.connect_window);
    let sweep = SweepConfig {
        concurrency,
        max_per_host: cfg.max_per_host.unwrap_or(concurrency),
        timing: cfg.timing,
        rate: cfg.rate,
        host_rate: cfg.host_rate,
        seed,
        shard: cfg.shard,
        keep_open: cfg.fingerprint,
    };
    let identify: Option<Arc<dyn pipeline::Identify>> = if cfg.fingerprint {
        Some(crate::catalog::identifier())
    } else {
        None
    };
    let plan = Plan {
        targets: Arc::new(set),
        ports: ports.clone(),
        sweep,
        identify,
        fingerprint_window: budget.fingerprint_window,
        judge: None,
    };
    let start = SystemTime::now();
    let mut meta = ScanMeta {
        version: env!("CARGO_PKG_VERSION").into(),
        targets: cfg.target_text.clone(),
        ports: ports.to_spec(),
        start: output::rfc3339(start),
        end: None,
        seed,
        shard: format!("{}/{}", cfg.shard.index, cfg.shard.count),
        interrupted: false,
    };
    let color = cfg.format == Format::Human
        && cfg.output.is_none()
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let mut sink = output::sink_for(cfg.format, writer, cfg.show, color);

    let (cancel_tx, cancel_rx) = watch::channel(false);
    let cancel_tx = Arc::new(cancel_tx);
    let signals = {
        let tx = cancel_tx.clone();
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            let _ = tx.send(true);
        })
    };
    let progress = Arc::new(Progress::default());
    let ticker = bar.clone().map(|b| {
        let p = progress.clone();
        tokio::spawn(async move {
            loop {
                b.set_length(p.total.load(Ordering::Relaxed));
                b.set_position(p.done.load(Ordering::Relaxed));
                b.set_message(format!("{} open", p.open.load(Ordering::Relaxed)));
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
        })
    });

    let mut coverage = Coverage {
        unresolved_hosts,
        ..Coverage::default()
    };
    let mut write_error: Option<io::Error> = None;
    let stats = pipeline::run(plan, progress, cancel_rx, |out| match out {
        Output::Warning(w) => warn(cfg.quiet, bar.as_ref(), &w),
        Output::Port(r) => {
            coverage.attempted += 1;
            match r.state {
                PortState::Open => coverage.open += 1,
                PortState::Closed => coverage.closed += 1,
                PortState::Filtered => coverage.filtered += 1,
            }
            if write_error.is_none() {
                if let Err(e) = sink.port(&r) {
                    write_error = Some(e);
                    let _ = cancel_tx.send(true);
                }
            }
        }
    })
    .await;
    signals.abort();
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    coverage.planned = stats.planned;
    coverage.unresolved = stats.planned.saturating_sub(coverage.attempted);
    coverage.requeued = stats.requeued;
    coverage.retries = stats.retries;
    let broken_pipe = matches!(&write_error, Some(e) if e.kind() == io::ErrorKind::BrokenPipe);
    let interrupted = stats.interrupted && !broken_pipe && write_error.is_none();
    meta.interrupted = interrupted;
    meta.end = Some(output::rfc3339(SystemTime::now()));
    let summary = Summary::new(meta, coverage);
    let out_path = cfg.output.clone().unwrap_or_else(|| PathBuf::from("-"));
    if let Some(e) = write_error {
        if broken_pipe {
            return Ok(exit::CLEAN);
        }
        return Err(Error::Write { path: out_path, source: e });
    }
    if let Err(e) = sink.finish(&summary) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(exit::CLEAN);
        }
        return Err(Error::Write { path: out_path, source: e });
    }
    drop(sink);
    if let Some(f) = file {
        f.commit().map_err(|source| Error::Write { path: out_path, source })?;
    }
    Ok(if interrupted { exit::INTERRUPTED } else { exit::CLEAN })
}

/// A target list's specs, for callers that build a [`Config`] by hand.
pub fn specs(list: &str) -> Result<Vec<TargetSpec>, Error> {
    Ok(targets::parse_list(list)?)
}
