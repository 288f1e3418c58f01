//! The connect sweep: walks the (address × port) space in keyed random order,
//! keeps a bounded window of connects in flight, and turns every pair into
//! exactly one [`PortResult`].
//!
//! The engine never prints. It sends [`Event`]s down a channel and counts
//! progress in shared atomics. Timed-out probes are retried under the adaptive
//! timing in [`timing`]; local resource errors (EMFILE, EADDRNOTAVAIL...) shrink
//! the window, back off and re-queue the probe: they never become port states.

pub mod connect;
pub mod limits;
pub mod order;
pub mod reactor;
pub mod timing;

use crate::model::{PortResult, PortState, Proto, Reason};
use crate::ports::PortList;
use crate::targets::TargetSet;
use connect::Attempt;
use order::{Order, Shard};
use reactor::{ConnectSet, Outcome};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timing::{HostTiming, Sample, TimingProfile};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// How the sweep runs.
#[derive(Clone, Debug)]
pub struct SweepConfig {
    /// Connects in flight at most, across all hosts.
    pub concurrency: usize,
    /// Connects in flight at most to one host.
    pub max_per_host: usize,
    /// Timeout bounds and retry ceiling.
    pub timing: TimingProfile,
    /// Global connect attempts per second, if limited.
    pub rate: Option<f64>,
    /// Connect attempts per second to one host, if limited.
    pub host_rate: Option<f64>,
    /// Permutation key.
    pub seed: u64,
    /// Which slice of the space to scan.
    pub shard: Shard,
    /// Hand open streams to the consumer (for fingerprinting) instead of closing them.
    pub keep_open: bool,
}

/// One concluded (address, port), with the open stream when asked for.
#[derive(Debug)]
pub struct Hit {
    /// The connect-level result.
    pub result: PortResult,
    /// The connected stream, for open ports when `keep_open` is set.
    pub stream: Option<TcpStream>,
}

/// What the sweep reports while it runs.
#[derive(Debug)]
pub enum Event {
    /// A pair has concluded.
    Hit(Box<Hit>),
    /// A local condition worth one warning (sent once per kind).
    Warning(String),
}

/// Live counters, shared with the progress display.
#[derive(Debug, Default)]
pub struct Progress {
    /// Pairs planned.
    pub total: AtomicU64,
    /// Pairs concluded.
    pub done: AtomicU64,
    /// Open ports found.
    pub open: AtomicU64,
}

/// Totals when the sweep ends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepStats {
    /// Pairs planned for this shard.
    pub planned: u64,
    /// Pairs concluded.
    pub concluded: u64,
    /// Probes re-queued after local resource errors.
    pub requeued: u64,
    /// Retransmissions after timeouts.
    pub retries: u64,
    /// True when cancelled before the end.
    pub interrupted: bool,
}

#[derive(Clone, Copy, Debug)]
struct Probe {
    ip: IpAddr,
    port: u16,
    try_no: u8,
}

struct HostState {
    timing: HostTiming,
    inflight: usize,
}

/// Most idle hosts whose timing is remembered; beyond it idle hosts are
/// forgotten (and re-seeded from the scan-wide estimate), keeping memory flat.
const HOST_MEMORY: usize = 16_384;

/// Most connects started between two reads of completions.
const SEND_BURST: usize = 256;

struct Gate {
    gap: Duration,
    next: Instant,
}

/// Runs the sweep to completion or cancellation.
pub async fn sweep(
    targets: Arc<TargetSet>,
    ports: Arc<PortList>,
    cfg: SweepConfig,
    events: mpsc::Sender<Event>,
    progress: Arc<Progress>,
    mut cancel: watch::Receiver<bool>,
) -> SweepStats {
    let nports = ports.len() as u128;
    let total = targets.len().saturating_mul(nports);
    let planned = cfg.shard.size_of(total);
    let mut stats = SweepStats {
        planned: u64::try_from(planned).unwrap_or(u64::MAX),
        ..SweepStats::default()
    };
    progress.total.store(stats.planned, Ordering::Relaxed);
    let mut order = Order::new(total, cfg.seed, cfg.shard);
    let next_probe = |order: &mut Order| {
        order.next().map(|i| Probe {
            ip: targets.get(i / nports).expect("index within target set"),
            port: ports.as_slice()[(i % nports) as usize],
            try_no: 1,
        })
    };

    let mut hosts: HashMap<IpAddr, HostState> = HashMap::new();
    let mut group = HostTiming::new(cfg.timing);
    let mut retry: VecDeque<Probe> = VecDeque::new();
    let mut held: Option<Probe> = None;
    let mut inflight = match ConnectSet::new(cfg.keep_open) {
        Ok(set) => set,
        Err(e) => {
            let _ = events
                .send(Event::Warning(format!("cannot start the sweep: {e}")))
                .await;
            stats.interrupted = true;
            return stats;
        }
    };
    let max_window = cfg.concurrency.max(1);
    let mut window = max_window;
    let per_host = cfg.max_per_host.max(1);
    let host_gap = cfg
        .host_rate
        .filter(|r| *r > 0.0)
        .map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r));
    let mut global = cfg.rate.filter(|r| *r > 0.0).map(|r| Gate {
        gap: Duration::from_secs_f64(1.0 / r),
        next: Instant::now(),
    });
    let mut not_before: Option<Instant> = None;
    let mut backoff = Duration::ZERO;
    let mut calm_since_backoff = 0u32;
    let mut warned_local = false;
    let mut exhausted = false;
    // Sends due within SLACK go out now; a gate that fell behind may catch
    // up by at most SLACK, so rates hold on average without long bursts.
    const SLACK: Duration = Duration::from_millis(1);

    if *cancel.borrow() {
        stats.interrupted = true;
        return stats;
    }
    loop {
        let now = Instant::now();
        let floor = now.checked_sub(SLACK).unwrap_or(now);
        let mut wake: Option<Instant> = None;
        let mut burst = 0;
        while inflight.len() < window {
            if burst == SEND_BURST {
                // Let completions be read (and timed) before sending more.
                wake = Some(now);
                break;
            }
            burst += 1;
            if let Some(t) = not_before {
                if now < t {
                    wake = Some(t);
                    break;
                }
                not_before = None;
            }
            let probe = match held.take().or_else(|| retry.pop_front()) {
                Some(p) => p,
                None => match next_probe(&mut order) {
                    Some(p) => p,
                    None => {
                        exhausted = true;
                        break;
                    }
                },
            };
            let host = hosts.entry(probe.ip).or_insert_with(|| HostState {
                timing: HostTiming::seeded_from(&group),
                inflight: 0,
            });
            if host.inflight >= per_host {
                held = Some(probe);
                break;
            }
            // The loss-driven per-host delay paces new probes only: a
            // retransmission goes out at once (within --host-rate and
            // --rate), so a burst of early loss is re-probed and answered
            // quickly instead of feeding the delay it caused.
            let paced = probe.try_no == 1 || !host_gap.is_zero();
            let mut at = if paced {
                host.timing.next_send(floor, host_gap)
            } else {
                floor
            };
            if let Some(g) = &global {
                at = at.max(g.next).max(floor);
            }
            if at > now + SLACK {
                held = Some(probe);
                wake = Some(at);
                break;
            }
            if paced {
                host.timing.commit_send(at, host_gap);
            }
            if let Some(g) = &mut global {
                g.next = at + g.gap;
            }
            host.inflight += 1;
            let timeout = host.timing.timeout();
            inflight.start(SocketAddr::new(probe.ip, probe.port), timeout, probe);
        }
        if inflight.is_empty() && held.is_none() && retry.is_empty() && exhausted {
            break;
        }
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = cancel.changed() => {
                stats.interrupted = true;
                break;
            }
            Some((probe, outcome)) = inflight.next(), if !inflight.is_empty() => {
                let host = hosts.get_mut(&probe.ip).expect("host state exists while in flight");
                host.inflight -= 1;
                let conclusion = match outcome {
                    Outcome::Open { stream, rtt } => {
                        let s = Sample::Answered { rtt, try_no: probe.try_no };
                        host.timing.record(s);
                        group.record(s);
                        Some((PortState::Open, Reason::SynAck, Some(rtt), stream))
                    }
                    Outcome::Ended(Attempt::Open { stream, rtt }) => {
                        let s = Sample::Answered { rtt, try_no: probe.try_no };
                        host.timing.record(s);
                        group.record(s);
                        Some((PortState::Open, Reason::SynAck, Some(rtt), stream.into_std().ok()))
                    }
                    Outcome::Ended(Attempt::Answered { reason, rtt }) => {
                        let s = Sample::Answered { rtt, try_no: probe.try_no };
                        host.timing.record(s);
                        group.record(s);
                        let state = if reason == Reason::ConnRefused { PortState::Closed } else { PortState::Filtered };
                        Some((state, reason, Some(rtt), None))
                    }
                    Outcome::Ended(Attempt::TimedOut) => {
                        if host.timing.may_retry(probe.try_no) && !*cancel.borrow() {
                            stats.retries += 1;
                            retry.push_back(Probe { try_no: probe.try_no.saturating_add(1), ..probe });
                            None
                        } else {
                            Some((PortState::Filtered, Reason::NoResponse, None, None))
                        }
                    }
                    Outcome::Ended(Attempt::Local(e)) => {
                        stats.requeued += 1;
                        retry.push_front(probe);
                        window = (inflight.len() * 3 / 4).max(1);
                        backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_millis(500));
                        calm_since_backoff = 0;
                        not_before = Some(Instant::now() + backoff);
                        if !warned_local {
                            warned_local = true;
                            let _ = events.send(Event::Warning(format!(
                                "local resource limit hit ({e}); slowing down and retrying, no port is lost"
                            ))).await;
                        }
                        None
                    }
                };
                if host.inflight == 0 && hosts.len() > HOST_MEMORY {
                    hosts.remove(&probe.ip);
                }
                if let Some((state, reason, rtt, stream)) = conclusion {
                    if window < max_window {
                        calm_since_backoff += 1;
                        if calm_since_backoff > 16 {
                            window += 1;
                            backoff = Duration::ZERO;
                        }
                    }
                    stats.concluded += 1;
                    progress.done.fetch_add(1, Ordering::Relaxed);
                    if state == PortState::Open {
                        progress.open.fetch_add(1, Ordering::Relaxed);
                    }
                    // An open socket tokio cannot take is delivered without
                    // its stream; the fingerprinter then reconnects.
                    let stream = stream.and_then(|s| {
                        let _ = s.set_nodelay(true);
                        TcpStream::from_std(s).ok()
                    });
                    let result = PortResult {
                        ip: probe.ip,
                        host: targets.name(&probe.ip).map(str::to_owned),
                        port: probe.port,
                        proto: Proto::Tcp,
                        state,
                        reason,
                        rtt_ms: rtt.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
                        tries: probe.try_no,
                        service: None,
                        finding: None,
                    };
                    if events.send(Event::Hit(Box::new(Hit { result, stream }))).await.is_err() {
                        stats.interrupted = true;
                        break;
                    }
                }
            }
            _ = sleep => {}
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::Resolved;

    #[tokio::test]
    async fn loopback_sweep_concludes_every_pair_once() {
        let listeners: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let open: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        let mut ports: Vec<u16> = open.clone();
        ports.extend(1..=200u16);
        let ports = Arc::new(PortList::from_ports(ports));
        let targets = Arc::new(TargetSet::build(
            &[Resolved::Addr(
                "127.0.0.1".parse().unwrap(),
                Some("localhost".into()),
            )],
            &[],
        ));
        let (tx, mut rx) = mpsc::channel(1024);
        let (_ctx, crx) = watch::channel(false);
        let cfg = SweepConfig {
            concurrency: 16,
            max_per_host: 8,
            timing: TimingProfile::FAST,
            rate: None,
            host_rate: None,
            seed: 1,
            shard: Shard::default(),
            keep_open: false,
        };
        let progress = Arc::new(Progress::default());
        let handle = tokio::spawn(sweep(
            targets,
            ports.clone(),
            cfg,
            tx,
            progress.clone(),
            crx,
        ));
        let mut seen = HashMap::new();
        while let Some(ev) = rx.recv().await {
            if let Event::Hit(h) = ev {
                assert_eq!(h.result.host.as_deref(), Some("localhost"));
                assert!(
                    seen.insert(h.result.port, h.result.state).is_none(),
                    "port reported twice"
                );
            }
        }
        let stats = handle.await.unwrap();
        assert_eq!(stats.planned as usize, ports.len());
        assert_eq!(seen.len(), ports.len());
        for p in &open {
            assert_eq!(seen[p], PortState::Open);
        }
        assert!(progress.open.load(Ordering::Relaxed) as usize >= open.len());
    }
}
