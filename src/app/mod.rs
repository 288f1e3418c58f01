//! One command-line run: resolve targets, build the plan and the run's judge,
//! stream results into the chosen output, draw progress on stderr, handle
//! Ctrl-C; the judge's decision gives the exit code.
//!
//! This is the only module that writes to the terminal; the engine and the
//! pipeline report through values.

pub mod describe;
pub mod docs;
pub mod fix;
pub mod merge;
pub mod policy_init;
pub mod progress;
pub mod report;

use crate::catalog::Catalog;
use crate::cli::{Config, PortChoice, UdpChoice};
use crate::error::Error;
use crate::model::Coverage;
use crate::output::{self, ScanMeta};
use crate::pipeline::{self, Output, Plan};
use crate::ports::{self, PortList};
use crate::scan::{limits, Progress, SweepStats};
use crate::targets::{self, TargetSet, TargetSpec};
use crate::verdict::policy::{Entry, HostMatch};
use crate::verdict::{rules, Judge, Settings};
use indicatif::ProgressBar;
use report::{Ending, Reporter};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::watch;

/// Most addresses scanned without `--allow-large`.
pub const MAX_ADDRESSES: u128 = 65_536;

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

fn derive_seed(cfg: &Config, ports: &ports::PortSpec) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut t = cfg.target_text.clone();
    t.sort();
    h.update(t.join("\n"));
    h.update([0]);
    h.update(ports.tcp.to_spec());
    if !ports.udp.is_empty() {
        h.update(ports.to_spec());
    }
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// Resolves targets and exclusions and builds the address set (see
/// [`targets::scope`]); a scope error stops the run before any packet.
async fn build_targets(cfg: &Config) -> Result<(TargetSet, Vec<String>, Vec<String>), Error> {
    let rules = targets::ScopeRules {
        timeout: cfg.dns_timeout,
        cap: cfg.max_addrs_per_name,
        allow_loopback: cfg.allow_loopback,
    };
    let scope = targets::scope(&targets::SystemResolver, &cfg.targets, &cfg.excludes, rules)
        .await
        .map_err(|e| Error::Scope(e.to_string()))?;
    Ok((scope.set, scope.warnings, scope.unresolved))
}

/// Runs a whole scan as the command line asked; returns the exit code.
pub async fn run(cfg: Config) -> Result<u8, Error> {
    run_with(cfg, None).await
}

/// `exposecheck policy init`: scans, then writes a policy listing what is open.
pub async fn policy_init(mut cfg: Config) -> Result<u8, Error> {
    cfg.report.fail_on = Some(crate::model::FailOn::Never);
    cfg.report.policy = None;
    run_with(
        cfg,
        Some(Box::new(|w| Box::new(policy_init::PolicyInit::new(w)))),
    )
    .await
}

/// A scan whose results go to `sink` only (`fix` collects them).
pub async fn scan_into(cfg: Config, sink: report::SinkMaker) -> Result<u8, Error> {
    run_with(cfg, Some(sink)).await
}

/// Holds SIGINT and SIGTERM back (they stay pending) until
/// [`release_signals`]: called first thing in `main`, so that a Ctrl-C in the
/// milliseconds before a scan's own handlers exist ends the scan with valid
/// output instead of killing the process.
pub fn hold_signals() {
    signal_mask(libc::SIG_BLOCK);
}

/// Lets SIGINT and SIGTERM through again (pending ones are delivered now).
pub fn release_signals() {
    signal_mask(libc::SIG_UNBLOCK);
}

fn signal_mask(how: libc::c_int) {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls
    // only change this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// Turns SIGINT and SIGTERM into the cancel signal.
fn catch_signals(tx: Arc<watch::Sender<bool>>) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::spawn(async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(int.take()) => {}
            _ = wait(term.take()) => {}
        }
        let _ = tx.send(true);
    })
}

/// The built-in catalogue, or the one `--services-dir` names.
fn load_catalog(cfg: &Config) -> Result<Arc<Catalog>, Error> {
    Ok(match &cfg.services_dir {
        None => Catalog::builtin(),
        Some(dir) => Arc::new(Catalog::load(Some(dir)).map_err(|e| Error::Catalog(e.to_string()))?),
    })
}

/// The addresses to scan, with the warnings to show and the names that did
/// not resolve; too large a set without `--allow-large` stops the run.
async fn scan_scope(cfg: &Config) -> Result<(TargetSet, Vec<String>, Vec<String>), Error> {
    let (set, mut warnings, unresolved_hosts) = build_targets(cfg).await?;
    if set.is_empty() {
        warnings.push("no address is left to scan after resolution and exclusions; the scan is incomplete (exit 3)".into());
    }
    if set.len() > MAX_ADDRESSES && !cfg.allow_large {
        return Err(Error::Scope(format!(
            "{} addresses to scan is more than {MAX_ADDRESSES}; narrow the targets or pass --allow-large",
            set.len()
        )));
    }
    Ok((set, warnings, unresolved_hosts))
}

/// The run's judge and its output: the policy and baseline are read and the
/// output opened before scanning (an unwritable `-o` fails before any
/// packet leaves), and `[severity]` overrides are checked against the rules.
fn judge_and_reporter(
    cfg: &Config,
    catalog: &Catalog,
    sink: Option<report::SinkMaker>,
) -> Result<(Judge, Reporter), Error> {
    let (policy, baseline) = report::verdict_inputs(&cfg.report)?;
    let reporter = Reporter::for_run(&cfg.report, sink)?;
    if let Some(p) = &policy {
        p.check_rules(&rules::catalogue(
            catalog.services().iter().map(|d| d.id.as_str()),
        ))?;
    }
    let settings = Settings {
        fail_on: cfg.report.fail_on,
        only_new: cfg.report.only_new,
        all_hosts: cfg.sweep.shard.count > 1,
        pairs: dual_stack_pair(&cfg.targets),
    };
    Ok((Judge::new(catalog, policy, baseline, settings), reporter))
}

/// The scan's seed: `--seed`, one derived from the scan for shards (all
/// shards must agree), else a random one.
fn scan_seed(cfg: &Config, ports: &ports::PortSpec) -> u64 {
    cfg.sweep.seed.unwrap_or_else(|| {
        if cfg.sweep.shard.count > 1 {
            derive_seed(cfg, ports)
        } else {
            random_seed()
        }
    })
}

/// What was covered: the sweep's counts and the judge's tally of states;
/// pairs never concluded (an interruption, a sweep that could not start)
/// are unresolved too.
fn coverage(stats: &SweepStats, judge: &Judge, unresolved_hosts: Vec<String>) -> Coverage {
    let mut c = Coverage {
        planned: stats.planned,
        unresolved_hosts,
        requeued: stats.requeued,
        retries: stats.retries,
        udp_rate_limited: stats.udp_rate_limited,
        ..Coverage::default()
    };
    c.add_states(&judge.states());
    c.unresolved += stats.planned.saturating_sub(c.attempted);
    c
}

/// The UDP side of the plan, when UDP ports are asked for, with `sockets`
/// descriptors of its own (the TCP sweep runs beside it).
fn udp_plan(
    cfg: &Config,
    catalog: &Arc<Catalog>,
    ports: PortList,
    sockets: usize,
) -> Option<pipeline::UdpPlan> {
    if ports.is_empty() {
        return None;
    }
    let shard = (cfg.sweep.shard.index as u32, cfg.sweep.shard.count as u32);
    Some(pipeline::UdpPlan {
        config: crate::scan::udp::UdpConfig {
            ports: Arc::new(ports.as_slice().to_vec()),
            wait: cfg.udp_wait,
            retries: (cfg.udp_wait.as_millis() / crate::scan::udp::ROUND.as_millis()).min(10) as u8,
            sockets: sockets.max(1),
            shard,
        },
        identify: Arc::new(crate::fingerprint::udp::UdpIdentify::new(
            catalog.clone(),
            cfg.dns_canary.as_deref(),
        )),
    })
}

/// Runs a scan whose output goes through `sink` instead of the format's.
async fn run_with(cfg: Config, sink: Option<report::SinkMaker>) -> Result<u8, Error> {
    // Signals are caught from the very start (held back by `main` until the
    // handlers exist), so Ctrl-C at any moment, even during DNS, still ends
    // with valid output and exit 130.
    // `main` has checked the descriptor headroom before building the runtime.
    let budget = limits::raise_and_budget();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let cancel_tx = Arc::new(cancel_tx);
    let signals = catch_signals(cancel_tx.clone());
    // The handlers exist: a signal held back since `main` started is taken now.
    release_signals();
    let catalog = load_catalog(&cfg)?;
    let ports = Arc::new(match &cfg.ports {
        PortChoice::List(l) => l.clone(),
        PortChoice::Default => ports::default_ports(catalog.default_ports()),
    });
    let udp_ports = match &cfg.udp {
        UdpChoice::None => PortList::default(),
        UdpChoice::Default => PortList::from_ports(catalog.default_udp_ports()),
        UdpChoice::List(l) => l.clone(),
    };
    let spec = ports::PortSpec {
        tcp: (*ports).clone(),
        udp: udp_ports.clone(),
    };
    let (set, warnings, unresolved_hosts) = scan_scope(&cfg).await?;
    let mut display = progress::Display::new(cfg.quiet);
    for w in &warnings {
        warn(cfg.quiet, display.bar(), w);
    }
    let seed = scan_seed(&cfg, &spec);
    let identify: Option<Arc<dyn crate::fingerprint::Identify>> = if cfg.fingerprint {
        Some(Arc::new(crate::fingerprint::Engine::new(
            catalog.clone(),
            cfg.probe.clone(),
        )))
    } else {
        None
    };
    let (mut judge, mut reporter) = judge_and_reporter(&cfg, &catalog, sink)?;
    let targets = Arc::new(set);
    // The UDP sweep's sockets come out of the connect window, so both
    // together stay within the descriptor limit (EMFILE would slow both).
    let udp_share = if udp_ports.is_empty() {
        0
    } else {
        (budget.connect_window / 4)
            .max(64)
            .min(budget.connect_window / 2)
    };
    let plan = Plan {
        targets: targets.clone(),
        ports: ports.clone(),
        sweep: cfg
            .sweep
            .sweep_config(budget.connect_window - udp_share, seed, cfg.fingerprint),
        identify,
        fingerprint_window: budget.fingerprint_window,
        canary: cfg.canary,
        service_ports: Arc::new(ports::default_ports(catalog.default_ports())),
        udp: udp_plan(&cfg, &catalog, udp_ports, udp_share),
        ssh_rate: cfg.ssh_rate,
    };
    let meta = ScanMeta {
        version: env!("CARGO_PKG_VERSION").into(),
        targets: cfg.target_text.clone(),
        ports: spec.to_spec(),
        start: output::rfc3339(SystemTime::now()),
        end: None,
        seed,
        shard: format!("{}/{}", cfg.sweep.shard.index, cfg.sweep.shard.count),
        interrupted: false,
    };
    let progress = Arc::new(Progress::default());
    display.start(progress.clone());
    let stats = pipeline::run(plan, &mut judge, progress, cancel_rx, |out| match out {
        Output::Warning(w) => warn(cfg.quiet, display.bar(), &w),
        Output::Port { result, listed } => {
            if !reporter.port(&result, listed) {
                let _ = cancel_tx.send(true);
            }
        }
    })
    .await;
    signals.abort();
    display.finish();
    let coverage = coverage(&stats, &judge, unresolved_hosts);
    let in_scope = |e: &Entry| {
        e.ports_in(&spec)
            && match &e.host {
                HostMatch::Addr(a) => targets.contains(*a),
                HostMatch::Net(n) => {
                    targets.contains(n.network()) || targets.contains(n.broadcast())
                }
                HostMatch::Name(n) => cfg.targets.contains(&TargetSpec::Name(n.clone())),
            }
    };
    reporter.finish(
        judge,
        Ending {
            meta,
            coverage,
            interrupted: stats.interrupted,
            in_scope: &in_scope,
            warn: &|m| warn(cfg.quiet, None, m),
        },
    )
}

/// Exactly one IPv4 and one IPv6 address given as targets are taken to be
/// one dual-stack host.
pub(crate) fn dual_stack_pair(specs: &[TargetSpec]) -> Vec<BTreeSet<IpAddr>> {
    let addrs: Vec<IpAddr> = specs
        .iter()
        .filter_map(|s| match s {
            TargetSpec::Addr(a) => Some(*a),
            _ => None,
        })
        .collect();
    let v4 = addrs.iter().filter(|a| a.is_ipv4()).count();
    if v4 == 1 && addrs.len() == 2 {
        vec![addrs.into_iter().collect()]
    } else {
        Vec::new()
    }
}

/// A target list's specs, for callers that build a [`Config`] by hand.
pub fn specs(list: &str) -> Result<Vec<TargetSpec>, Error> {
    Ok(targets::parse_list(list)?)
}
