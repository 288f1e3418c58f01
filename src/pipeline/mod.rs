//! The pipeline that joins the stages: sweep → fingerprint → verdict → caller.
//!
//! The first open port of a host triggers its [`canary`] check; the host's open
//! ports wait (with their live connections, up to a cap) until it says whether
//! the host answers on every port. Then they are handed to the fingerprinter
//! (at most `fingerprint_window` at once), or, on an every-port host, delivered
//! unfingerprinted. Every result passes the verdict and reaches the caller's
//! closure exactly once. On cancellation, ports still waiting or being
//! fingerprinted are delivered without a service rather than lost.

pub mod canary;

use crate::model::{PortResult, PortState};
use crate::ports::PortList;
use crate::scan::{self, Event, Progress, SweepConfig, SweepStats};
use crate::targets::TargetSet;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// A stage that identifies what answers on an open port.
pub trait Identify: Send + Sync {
    /// Fills `result.service`, using (and finally closing) the sweep's connection.
    fn identify(&self, stream: TcpStream, result: PortResult) -> BoxFuture<'static, PortResult>;
}

/// A stage that judges a result (adds `finding`).
pub trait Judge: Send + Sync {
    /// Adds the verdict to a result.
    fn judge(&self, result: &mut PortResult);
}

/// Everything one scan needs.
pub struct Plan {
    /// Addresses to scan.
    pub targets: Arc<TargetSet>,
    /// Ports to scan on each address.
    pub ports: Arc<PortList>,
    /// Sweep settings.
    pub sweep: SweepConfig,
    /// The fingerprinter, unless `--no-fingerprint`.
    pub identify: Option<Arc<dyn Identify>>,
    /// Ports fingerprinted at once.
    pub fingerprint_window: usize,
    /// The verdict stage, if any.
    pub judge: Option<Arc<dyn Judge>>,
    /// Try canary ports on each host with an open port.
    pub canary: bool,
}

/// What the pipeline hands its caller.
#[derive(Debug)]
pub enum Output {
    /// A finished port result.
    Port(Box<PortResult>),
    /// A warning for the user (the caller decides how to show it).
    Warning(String),
    /// This host accepted connections on its canary ports.
    EveryPort(IpAddr),
}

/// Note set on results of a host that answers on every port.
pub const EVERY_PORT_NOTE: &str = "host-answers-every-port";

/// Live connections held per host while its canary check runs; later open
/// ports of that host are reconnected for fingerprinting instead.
const HELD_PER_HOST: usize = 32;

/// Live connections held across all hosts waiting for their canary check, so
/// that a range full of open ports cannot starve the sweep of descriptors.
const HELD_TOTAL: usize = 512;

/// Canary checks run at once (three connects each); further hosts queue.
const CANARY_WINDOW: usize = 64;

/// Concluded canary verdicts remembered; past it the clean ones are forgotten
/// (a later open port of such a host is checked again), keeping memory flat.
const CANARY_MEMORY: usize = 65_536;

enum Canary {
    Pending(Vec<(Option<TcpStream>, PortResult)>),
    Clean,
    EveryPort,
}

/// Runs a plan; `on` receives every result as it completes.
pub async fn run(
    plan: Plan,
    progress: Arc<Progress>,
    cancel: watch::Receiver<bool>,
    mut on: impl FnMut(Output),
) -> SweepStats {
    let (tx, mut rx) = mpsc::channel::<Event>(16);
    let mut sweep_cfg = plan.sweep.clone();
    sweep_cfg.keep_open = plan.identify.is_some();
    let seed = sweep_cfg.seed;
    let sweep = tokio::spawn(scan::sweep(
        plan.targets.clone(),
        plan.ports.clone(),
        sweep_cfg,
        tx,
        progress,
        cancel.clone(),
    ));
    let judge = |mut r: PortResult| {
        if let Some(j) = &plan.judge {
            j.judge(&mut r);
        }
        Output::Port(Box::new(r))
    };
    let mut identifying = FuturesUnordered::new();
    let mut canaries = FuturesUnordered::new();
    let mut hosts: HashMap<IpAddr, Canary> = HashMap::new();
    let mut unchecked: VecDeque<(IpAddr, std::time::Duration)> = VecDeque::new();
    let mut held_streams = 0usize;
    let mut in_progress: HashMap<(IpAddr, u16), PortResult> = HashMap::new();
    let mut waiting: VecDeque<(Option<TcpStream>, PortResult)> = VecDeque::new();
    let window = plan.fingerprint_window.max(1);
    let mut sweep_done = false;
    let mut cancel_rx = cancel.clone();
    let mut cancelled = *cancel.borrow();
    while !cancelled {
        while identifying.len() < window {
            let Some((stream, result)) = waiting.pop_front() else {
                break;
            };
            let Some(id) = plan.identify.clone() else {
                on(judge(result));
                continue;
            };
            in_progress.insert((result.ip, result.port), result.clone());
            let fallback = result.clone();
            identifying.push(async move {
                let stream = match stream {
                    Some(s) => s,
                    None => {
                        let addr = std::net::SocketAddr::new(result.ip, result.port);
                        match scan::connect::attempt(addr, canary::timeout_for(result.rtt_ms)).await
                        {
                            scan::connect::Attempt::Open { stream, .. } => stream,
                            _ => return with_note(result, "reconnect-failed"),
                        }
                    }
                };
                match std::panic::AssertUnwindSafe(id.identify(stream, result))
                    .catch_unwind()
                    .await
                {
                    Ok(r) => r,
                    Err(_) => with_note(fallback, "internal-error"),
                }
            });
        }
        while canaries.len() < CANARY_WINDOW {
            let Some((ip, timeout)) = unchecked.pop_front() else {
                break;
            };
            let ports = canary::ports_for(ip, seed, &plan.ports);
            canaries
                .push(async move { (ip, canary::answers_every_port(ip, ports, timeout).await) });
        }
        if sweep_done && identifying.is_empty() && waiting.is_empty() && canaries.is_empty() {
            break;
        }
        tokio::select! {
            _ = cancel_rx.changed() => cancelled = *cancel_rx.borrow(),
            ev = rx.recv(), if !sweep_done => match ev {
                None => sweep_done = true,
                Some(Event::Warning(w)) => on(Output::Warning(w)),
                Some(Event::Hits(hits)) => for hit in hits {
                    if hit.result.state != PortState::Open {
                        if let Some(s) = hit.stream {
                            scan::connect::abort(s);
                        }
                        on(judge(hit.result));
                        continue;
                    }
                    let ip = hit.result.ip;
                    let result = hit.result;
                    // An open socket this runtime cannot take is delivered
                    // without its stream; the fingerprinter reconnects.
                    let stream = hit.stream.and_then(|s| TcpStream::from_std(s).ok());
                    if !plan.canary {
                        waiting.push_back((stream, result));
                        continue;
                    }
                    let mut hold = |stream: Option<TcpStream>, held_here: usize| match stream {
                        Some(s) if held_here >= HELD_PER_HOST || held_streams >= HELD_TOTAL => {
                            scan::connect::abort(s);
                            None
                        }
                        Some(s) => {
                            held_streams += 1;
                            Some(s)
                        }
                        None => None,
                    };
                    match hosts.get_mut(&ip) {
                        None => {
                            unchecked.push_back((ip, canary::timeout_for(result.rtt_ms)));
                            let stream = hold(stream, 0);
                            if hosts.len() >= CANARY_MEMORY {
                                hosts.retain(|_, c| !matches!(c, Canary::Clean));
                            }
                            hosts.insert(ip, Canary::Pending(vec![(stream, result)]));
                        }
                        Some(Canary::Pending(held)) => {
                            let stream = hold(stream, held.iter().filter(|(s, _)| s.is_some()).count());
                            held.push((stream, result));
                        }
                        Some(Canary::Clean) => waiting.push_back((stream, result)),
                        Some(Canary::EveryPort) => {
                            if let Some(s) = stream {
                                scan::connect::abort(s);
                            }
                            on(judge(with_note(result, EVERY_PORT_NOTE)));
                        }
                    }
                },
            },
            Some((ip, every)) = canaries.next(), if !canaries.is_empty() => {
                let verdict = if every { Canary::EveryPort } else { Canary::Clean };
                if let Some(Canary::Pending(held)) = hosts.insert(ip, verdict) {
                    held_streams -= held.iter().filter(|(s, _)| s.is_some()).count();
                    if every {
                        on(Output::EveryPort(ip));
                    }
                    for (stream, r) in held {
                        if every {
                            if let Some(s) = stream {
                                scan::connect::abort(s);
                            }
                            on(judge(with_note(r, EVERY_PORT_NOTE)));
                        } else {
                            waiting.push_back((stream, r));
                        }
                    }
                }
            }
            Some(r) = identifying.next(), if !identifying.is_empty() => {
                in_progress.remove(&(r.ip, r.port));
                on(judge(r));
            }
        }
    }
    if !cancelled {
        return sweep.await.unwrap_or_default();
    }
    // Interrupted: everything already concluded is still delivered, without a
    // service where identification had not finished.
    drop(identifying);
    let interrupted = |r: PortResult| {
        if plan.identify.is_some() {
            with_note(r, "interrupted")
        } else {
            r
        }
    };
    for (_, r) in in_progress {
        on(judge(interrupted(r)));
    }
    let held = hosts.into_values().flat_map(|c| match c {
        Canary::Pending(h) => h,
        _ => Vec::new(),
    });
    for (stream, r) in waiting.into_iter().chain(held) {
        if let Some(s) = stream {
            scan::connect::abort(s);
        }
        on(judge(interrupted(r)));
    }
    // The sweep stops on the same signal and then drops its sender; draining
    // until then keeps it from blocking on a full channel.
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Warning(w) => on(Output::Warning(w)),
            Event::Hits(hits) => {
                for hit in hits {
                    if let Some(s) = hit.stream {
                        scan::connect::abort(s);
                    }
                    on(judge(hit.result));
                }
            }
        }
    }
    let mut stats = sweep.await.unwrap_or_default();
    stats.interrupted = true;
    stats
}

fn with_note(mut r: PortResult, note: &str) -> PortResult {
    let svc = r.service.get_or_insert_with(Default::default);
    if svc.name.is_empty() {
        svc.name = "unknown".into();
    }
    svc.note = Some(note.into());
    r
}
