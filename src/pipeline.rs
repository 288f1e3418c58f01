//! The pipeline that joins the stages: sweep → fingerprint → verdict → caller.
//!
//! Open ports found by the sweep are handed, with their live connection, to
//! the fingerprinter (at most `fingerprint_window` at once); every result then
//! passes the verdict and reaches the caller's closure exactly once. On
//! cancellation, ports still being fingerprinted are delivered without a
//! service rather than lost.

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
}

/// What the pipeline hands its caller.
#[derive(Debug)]
pub enum Output {
    /// A finished port result.
    Port(Box<PortResult>),
    /// A warning for the user (the caller decides how to show it).
    Warning(String),
}

/// Runs a plan; `on` receives every result as it completes.
pub async fn run(
    plan: Plan,
    progress: Arc<Progress>,
    cancel: watch::Receiver<bool>,
    mut on: impl FnMut(Output),
) -> SweepStats {
    let (tx, mut rx) = mpsc::channel::<Event>(4096);
    let mut sweep_cfg = plan.sweep.clone();
    sweep_cfg.keep_open = plan.identify.is_some();
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
    let mut in_progress: HashMap<(IpAddr, u16), PortResult> = HashMap::new();
    let mut waiting: VecDeque<(TcpStream, PortResult)> = VecDeque::new();
    let window = plan.fingerprint_window.max(1);
    let mut sweep_done = false;
    let mut cancel_rx = cancel.clone();
    let mut cancelled = *cancel.borrow();
    while !cancelled {
        while identifying.len() < window {
            let Some((stream, result)) = waiting.pop_front() else { break };
            let id = plan.identify.clone().expect("streams are kept only with an identifier");
            in_progress.insert((result.ip, result.port), result.clone());
            let fallback = result.clone();
            identifying.push(async move {
                match std::panic::AssertUnwindSafe(id.identify(stream, result)).catch_unwind().await {
                    Ok(r) => r,
                    Err(_) => with_note(fallback, "internal-error"),
                }
            });
        }
        if sweep_done && identifying.is_empty() && waiting.is_empty() {
            break;
        }
        tokio::select! {
            _ = cancel_rx.changed() => cancelled = *cancel_rx.borrow(),
            ev = rx.recv(), if !sweep_done => match ev {
                None => sweep_done = true,
                Some(Event::Warning(w)) => on(Output::Warning(w)),
                Some(Event::Hit(hit)) => match hit.stream {
                    Some(stream) if hit.result.state == PortState::Open => {
                        waiting.push_back((stream, hit.result));
                    }
                    Some(stream) => {
                        scan::connect::abort(stream);
                        on(judge(hit.result));
                    }
                    None => on(judge(hit.result)),
                },
            },
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
    for (_, r) in in_progress {
        on(judge(with_note(r, "interrupted")));
    }
    for (stream, r) in waiting {
        scan::connect::abort(stream);
        on(judge(with_note(r, "interrupted")));
    }
    // The sweep stops on the same signal and then drops its sender; draining
    // until then keeps it from blocking on a full channel.
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Warning(w) => on(Output::Warning(w)),
            Event::Hit(hit) => {
                if let Some(s) = hit.stream {
                    scan::connect::abort(s);
                }
                on(judge(hit.result));
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

