//! The connect sweep: walks the (address × port) space in keyed random order,
//! keeps a bounded window of connects in flight, and turns every pair into
//! exactly one [`PortResult`]. Large sweeps run on one thread per core, each
//! walking an interleaved slice of the shard with its own connect set: the
//! kernel's connect work is what bounds a sweep, and it spreads over cores.
//!
//! The engine never prints. It sends [`Event`]s down a channel and counts
//! progress in shared atomics. Timed-out probes are retried under the adaptive
//! timing in [`timing`]; local errors that may clear (EMFILE, no free local
//! port...) shrink the window, back off and re-queue the probe, at most
//! [`MAX_LOCAL_TRIES`] times; those that cannot (EINVAL, no source address of
//! the family) and those that did not clear conclude the port `unresolved`,
//! with the reason: the run always ends, and never calls such a port closed.

pub mod connect;
pub mod limits;
pub mod order;
pub mod reactor;
pub mod timing;

use crate::model::{PortResult, PortState, Proto, Reason};
use crate::ports::PortList;
use crate::targets::TargetSet;
use connect::{Attempt, LocalClass};
use order::{Order, Shard};
use reactor::{ConnectSet, Outcome};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timing::{HostTiming, Sample, TimingProfile};
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
    /// Sweep threads: each walks its own slice of the shard with its own
    /// connect set, so the kernel's connect work spreads over the cores.
    pub threads: usize,
}

/// The sweep settings the command line fixes. The rest of a [`SweepConfig`]
/// is known only when the run starts: the connect window the descriptor
/// budget allows, the derived order key, and whether streams are kept open.
#[derive(Clone, Debug)]
pub struct SweepSettings {
    /// Connect window override (`--concurrency`).
    pub concurrency: Option<usize>,
    /// Per-host window override (`--max-per-host`).
    pub max_per_host: Option<usize>,
    /// Sweep threads.
    pub threads: usize,
    /// Timing bounds.
    pub timing: TimingProfile,
    /// Global rate.
    pub rate: Option<f64>,
    /// Per-host rate.
    pub host_rate: Option<f64>,
    /// Order key (None: derive one).
    pub seed: Option<u64>,
    /// Shard.
    pub shard: Shard,
}

impl SweepSettings {
    /// The sweep's configuration: `connect_window` is the window used when
    /// `--concurrency` is not given, `seed` the order key, `keep_open` whether
    /// open streams go to the fingerprinter.
    pub fn sweep_config(&self, connect_window: usize, seed: u64, keep_open: bool) -> SweepConfig {
        let concurrency = self.concurrency.unwrap_or(connect_window);
        SweepConfig {
            concurrency,
            max_per_host: self.max_per_host.unwrap_or(concurrency),
            timing: self.timing,
            rate: self.rate,
            host_rate: self.host_rate,
            seed,
            shard: self.shard,
            keep_open,
            threads: self.threads,
        }
    }
}

/// Fewest probes per sweep thread: below this a second thread costs more
/// than it saves.
const PROBES_PER_THREAD: u128 = 4096;

impl SweepConfig {
    /// How many threads sweep `planned` probes: never more than there are
    /// probes for, connects in the window, or connects allowed per host (so
    /// that `--max-per-host 1` still means one).
    fn threads_for(&self, planned: u128) -> usize {
        let by_size = usize::try_from(planned / PROBES_PER_THREAD).unwrap_or(usize::MAX);
        self.threads
            .min(by_size)
            .min(self.concurrency)
            .min(self.max_per_host)
            .max(1)
    }

    /// Worker `j` of `n`: every `n`-th index of this shard, with an `n`-th
    /// of the window and of the rates.
    fn worker(&self, j: usize, n: usize) -> SweepConfig {
        let share = |x: usize| x.div_ceil(n).max(1);
        let count = self.shard.count.max(1);
        SweepConfig {
            concurrency: share(self.concurrency),
            max_per_host: share(self.max_per_host),
            rate: self.rate.map(|r| r / n as f64),
            host_rate: self.host_rate.map(|r| r / n as f64),
            shard: Shard {
                index: self.shard.index + count * j as u64,
                count: count * n as u64,
            },
            threads: 1,
            ..self.clone()
        }
    }
}

/// One concluded (address, port), with the open stream when asked for.
#[derive(Debug)]
pub struct Hit {
    /// The connect-level result.
    pub result: PortResult,
    /// The connected socket, for open ports when `keep_open` is set; the
    /// consumer registers it with its own runtime.
    pub stream: Option<std::net::TcpStream>,
}

/// What the sweep reports while it runs.
#[derive(Debug)]
pub enum Event {
    /// Pairs that concluded, in order (batched: one channel hand-off, and
    /// one wake-up of the consumer, per round of completions).
    Hits(Vec<Hit>),
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

impl SweepStats {
    fn add(&mut self, s: SweepStats) {
        self.planned += s.planned;
        self.concluded += s.concluded;
        self.requeued += s.requeued;
        self.retries += s.retries;
        self.interrupted |= s.interrupted;
    }
}

#[derive(Clone, Copy, Debug)]
struct Probe {
    ip: IpAddr,
    port: u16,
    try_no: u8,
    /// Local errors (or self-connects) this probe has met.
    local_tries: u8,
}

/// Local errors one probe may meet before its port is concluded
/// `unresolved` while other probes still get through (with the back-off, 5 ms
/// doubling to 500 ms, up to half a minute); when nothing gets through,
/// [`LOCAL_GIVE_UP`] ends the wait sooner.
pub const MAX_LOCAL_TRIES: u8 = 64;

struct HostState {
    timing: HostTiming,
    inflight: usize,
}

/// Most idle hosts whose timing is remembered, shared out between the sweep
/// threads; beyond it idle hosts are forgotten (and re-seeded from the
/// scan-wide estimate), keeping memory flat.
const HOST_MEMORY: usize = 16_384;

/// Most connects started between two reads of completions.
const SEND_BURST: usize = 256;

/// Hosts answering faster than this are "near" (see [`ConnectSet::start_near`]).
const NEAR_RTT: Duration = Duration::from_micros(300);

/// Most results in one [`Event::Hits`].
const HIT_BATCH: usize = 256;

struct Gate {
    gap: Duration,
    next: Instant,
}

/// Re-queues a probe that met a local error (or reached its own socket);
/// false once it has met [`MAX_LOCAL_TRIES`] of them.
fn requeue_local(probe: Probe, retry: &mut VecDeque<Probe>, stats: &mut SweepStats) -> bool {
    if probe.local_tries.saturating_add(1) >= MAX_LOCAL_TRIES {
        return false;
    }
    stats.requeued += 1;
    retry.push_front(Probe {
        local_tries: probe.local_tries + 1,
        ..probe
    });
    true
}

/// How long local errors may go on with no answer from any target before
/// the sweep stops waiting for them to clear: past it, each probe that meets
/// one is concluded unresolved at once, so a descriptor limit too low for
/// even one socket ends the run in seconds instead of backing off forever.
pub const LOCAL_GIVE_UP: Duration = Duration::from_secs(5);

/// Since when only local errors have come back.
#[derive(Default)]
struct Stuck {
    since: Option<Instant>,
}

impl Stuck {
    /// Notes a local error at `now`; true once they have gone on for
    /// [`LOCAL_GIVE_UP`] with nothing else concluded in between.
    fn hopeless(&mut self, now: Instant) -> bool {
        now.duration_since(*self.since.get_or_insert(now)) >= LOCAL_GIVE_UP
    }
}

/// The local-error warnings already given: one per class and reason.
#[derive(Default)]
struct LocalWarnings(Vec<LocalClass>, bool);

impl LocalWarnings {
    /// The warning that local errors are no longer waited out, once.
    fn gave_up(&mut self, reason: Reason) -> Option<String> {
        if std::mem::replace(&mut self.1, true) {
            return None;
        }
        Some(format!(
            "local errors did not clear for {} s: the ports still to probe are reported unresolved ({})",
            LOCAL_GIVE_UP.as_secs(),
            reason.as_str()
        ))
    }

    /// The warning for `class`, the first time it is met.
    fn first_time(
        &mut self,
        class: LocalClass,
        e: &std::io::Error,
        addr: SocketAddr,
    ) -> Option<String> {
        if self.0.contains(&class) {
            return None;
        }
        self.0.push(class);
        Some(match class {
            LocalClass::Permanent(reason) => format!(
                "cannot connect to {addr} ({e}): its ports are reported unresolved ({})",
                reason.as_str()
            ),
            LocalClass::Transient(reason) => format!(
                "local resource limit hit ({e}); slowing down and retrying; a port still failing after {MAX_LOCAL_TRIES} tries is reported unresolved ({})",
                reason.as_str()
            ),
        })
    }
}

/// Runs the sweep to completion or cancellation, on `cfg.threads` threads
/// when the space is large enough (each with its own current-thread runtime
/// and connect set, walking an interleaved slice of the shard).
pub async fn sweep(
    targets: Arc<TargetSet>,
    ports: Arc<PortList>,
    cfg: SweepConfig,
    events: mpsc::Sender<Event>,
    progress: Arc<Progress>,
    cancel: watch::Receiver<bool>,
) -> SweepStats {
    let total = targets.len().saturating_mul(ports.len() as u128);
    let planned = cfg.shard.size_of(total);
    progress.total.store(
        u64::try_from(planned).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    let n = cfg.threads_for(planned);
    let group: SharedTiming = Arc::new(std::sync::Mutex::new(HostTiming::new(cfg.timing)));
    if n == 1 {
        return sweep_slice(targets, ports, cfg, 1, group, events, progress, cancel).await;
    }
    // Slice `j` of `n`, as a future that owns what it needs.
    let slice = |j: usize| {
        sweep_slice(
            targets.clone(),
            ports.clone(),
            cfg.worker(j, n),
            n,
            group.clone(),
            events.clone(),
            progress.clone(),
            cancel.clone(),
        )
    };
    let mut done = Vec::with_capacity(n);
    let mut inline = Vec::new();
    for j in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel::<Option<SweepStats>>();
        let job = slice(j);
        // The runtime is built on the new thread: one that could not be
        // made must not be dropped here, inside async code.
        let spawned = std::thread::Builder::new()
            .name(format!("sweep-{j}"))
            .spawn(move || {
                let ran = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()
                    .map(|rt| rt.block_on(job));
                let _ = tx.send(ran);
            });
        match spawned {
            Ok(_) => done.push((j, rx)),
            // No thread to be had: this slice runs here instead.
            Err(_) => inline.push(j),
        }
    }
    let mut stats = SweepStats::default();
    let run_here = |slices: Vec<usize>| futures::future::join_all(slices.into_iter().map(&slice));
    for s in run_here(inline).await {
        stats.add(s);
    }
    let mut late = Vec::new();
    for (j, rx) in done {
        match rx.await {
            Ok(Some(s)) => stats.add(s),
            // The thread started but could not make its runtime: the slice
            // runs here.
            Ok(None) => late.push(j),
            // A sweep thread that died leaves its slice unconcluded: the
            // coverage counts it unresolved (not interrupted: no signal came).
            Err(_) => {}
        }
    }
    for s in run_here(late).await {
        stats.add(s);
    }
    stats
}

/// The scan-wide RTT estimate every sweep thread feeds and seeds new hosts
/// from, so that a thread whose slice has seen no answer yet still uses the
/// timeout the others have learned.
type SharedTiming = Arc<std::sync::Mutex<HostTiming>>;

fn lock(g: &SharedTiming) -> std::sync::MutexGuard<'_, HostTiming> {
    g.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sweeps one slice (`cfg.shard`) of `slices` on the current thread.
#[allow(clippy::too_many_arguments)]
async fn sweep_slice(
    targets: Arc<TargetSet>,
    ports: Arc<PortList>,
    cfg: SweepConfig,
    slices: usize,
    group: SharedTiming,
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
    let mut order = Order::new(total, cfg.seed, cfg.shard);
    let next_probe = |order: &mut Order| {
        order.next().map(|i| Probe {
            ip: targets.get(i / nports).expect("index within target set"),
            port: ports.as_slice()[(i % nports) as usize],
            try_no: 1,
            local_tries: 0,
        })
    };

    let mut hosts: HashMap<IpAddr, HostState> = HashMap::new();
    let mut retry: VecDeque<Probe> = VecDeque::new();
    let mut held: Option<Probe> = None;
    let mut batch: Vec<Hit> = Vec::with_capacity(HIT_BATCH);
    let host_memory = HOST_MEMORY / slices.max(1);
    let mut inflight = match ConnectSet::new(cfg.keep_open) {
        Ok(set) => set,
        Err(e) => {
            // Not an interruption: the pairs stay unconcluded, which the
            // coverage counts as unresolved (exit 3).
            let _ = events
                .send(Event::Warning(format!(
                    "cannot start the sweep ({e}): its {planned} probes are unresolved"
                )))
                .await;
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
    let mut warned = LocalWarnings::default();
    let mut stuck = Stuck::default();
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
        // Completions already read are concluded before more connects go
        // out: when answers come back at once (RST over a fast link) the
        // sockets in flight stay a burst's worth, not the whole window, which
        // keeps the kernel's working set (and the sweep) fast.
        let may_send = !inflight.has_ready();
        while may_send && inflight.len() < window {
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
                timing: HostTiming::seeded_from(&lock(&group)),
                inflight: 0,
            });
            if host.timing.srtt().is_none() {
                // No answer from this host on this thread yet: start from
                // what every thread has learned so far.
                host.timing.seed_rtt(&lock(&group));
            }
            if host.inflight >= per_host {
                held = Some(probe);
                break;
            }
            // The loss-driven per-host delay paces new probes; a
            // retransmission goes out at once (within --host-rate and
            // --rate), so a burst of early loss is re-probed and answered
            // quickly instead of feeding the delay it caused — unless the
            // delay is in force (answers keep coming late: a SYN rate
            // limit), when a burst of retransmissions would meet the same
            // limit and only paced ones get through.
            let paced = probe.try_no == 1 || !host_gap.is_zero() || host.timing.pacing();
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
            if probe.try_no > 1 {
                host.timing.sent_retransmission();
            }
            let timeout = host.timing.timeout();
            let near = host.timing.srtt().is_some_and(|d| d < NEAR_RTT);
            inflight.start_near(SocketAddr::new(probe.ip, probe.port), timeout, probe, near);
        }
        if inflight.is_empty() && held.is_none() && retry.is_empty() && exhausted {
            break;
        }
        if !batch.is_empty() && (batch.len() >= HIT_BATCH || !inflight.has_ready()) {
            let hits = std::mem::replace(&mut batch, Vec::with_capacity(HIT_BATCH));
            if events.send(Event::Hits(hits)).await.is_err() {
                stats.interrupted = true;
                break;
            }
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
                        lock(&group).record(s);
                        Some((PortState::Open, Reason::SynAck, Some(rtt), stream))
                    }
                    Outcome::Ended(Attempt::Open { stream, rtt }) => {
                        let s = Sample::Answered { rtt, try_no: probe.try_no };
                        host.timing.record(s);
                        lock(&group).record(s);
                        Some((PortState::Open, Reason::SynAck, Some(rtt), stream.into_std().ok()))
                    }
                    Outcome::Ended(Attempt::Answered { reason, rtt }) => {
                        let s = Sample::Answered { rtt, try_no: probe.try_no };
                        host.timing.record(s);
                        lock(&group).record(s);
                        let state = if reason == Reason::ConnRefused { PortState::Closed } else { PortState::Filtered };
                        Some((state, reason, Some(rtt), None))
                    }
                    Outcome::Ended(Attempt::TimedOut) => {
                        if host.timing.may_retry(probe.try_no) && !*cancel.borrow() {
                            stats.retries += 1;
                            retry.push_back(Probe { try_no: probe.try_no.saturating_add(1), ..probe });
                            None
                        } else if host.timing.silence_unproven(probe.try_no) {
                            Some((PortState::Unresolved, Reason::RateLimited, None, None))
                        } else {
                            Some((PortState::Filtered, Reason::NoResponse, None, None))
                        }
                    }
                    Outcome::Ended(Attempt::SelfConnect) => {
                        // Our own socket answered: ask again from another local port.
                        if requeue_local(probe, &mut retry, &mut stats) {
                            None
                        } else {
                            Some((PortState::Unresolved, Reason::LocalError, None, None))
                        }
                    }
                    Outcome::Ended(Attempt::Local(e)) => {
                        let addr = SocketAddr::new(probe.ip, probe.port);
                        let class = connect::local_class(&e, &addr);
                        if let Some(w) = warned.first_time(class, &e, addr) {
                            let _ = events.send(Event::Warning(w)).await;
                        }
                        match class {
                            LocalClass::Permanent(reason) => {
                                Some((PortState::Unresolved, reason, None, None))
                            }
                            LocalClass::Transient(reason) if stuck.hopeless(Instant::now()) => {
                                if let Some(w) = warned.gave_up(reason) {
                                    let _ = events.send(Event::Warning(w)).await;
                                }
                                Some((PortState::Unresolved, reason, None, None))
                            }
                            LocalClass::Transient(reason) => {
                                window = (inflight.len() * 3 / 4).max(1);
                                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_millis(500));
                                calm_since_backoff = 0;
                                not_before = Some(Instant::now() + backoff);
                                if requeue_local(probe, &mut retry, &mut stats) {
                                    None
                                } else {
                                    Some((PortState::Unresolved, reason, None, None))
                                }
                            }
                        }
                    }
                };
                if host.inflight == 0 && hosts.len() > host_memory {
                    hosts.remove(&probe.ip);
                }
                if let Some((state, reason, rtt, stream)) = conclusion {
                    if state != PortState::Unresolved {
                        stuck.since = None;
                    }
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
                    if let Some(s) = &stream {
                        let _ = s.set_nodelay(true);
                    }
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
                    batch.push(Hit { result, stream });
                }
            }
            _ = sleep => {}
        }
    }
    // Results concluded before an interruption are still delivered.
    if !batch.is_empty() && events.send(Event::Hits(batch)).await.is_err() {
        stats.interrupted = true;
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::Resolved;

    /// Sweeps 127.0.0.1 on three listeners plus `1..=extra` with `threads`
    /// and checks every pair concludes exactly once, the listeners open.
    async fn loopback_sweep(extra: u16, threads: usize, keep_open: bool) {
        let listeners: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let open: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        let mut ports: Vec<u16> = open.clone();
        ports.extend(1..=extra);
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
            keep_open,
            threads,
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
            for h in match ev {
                Event::Hits(h) => h,
                Event::Warning(_) => Vec::new(),
            } {
                assert_eq!(h.result.host.as_deref(), Some("localhost"));
                assert_eq!(
                    h.stream.is_some(),
                    keep_open && h.result.state == PortState::Open
                );
                assert!(
                    seen.insert(h.result.port, h.result.state).is_none(),
                    "port reported twice"
                );
            }
        }
        let stats = handle.await.unwrap();
        assert_eq!(stats.planned as usize, ports.len());
        assert_eq!(stats.concluded as usize, ports.len());
        assert!(!stats.interrupted);
        assert_eq!(progress.total.load(Ordering::Relaxed) as usize, ports.len());
        assert_eq!(seen.len(), ports.len());
        for p in &open {
            assert_eq!(seen[p], PortState::Open);
        }
        assert!(progress.open.load(Ordering::Relaxed) as usize >= open.len());
    }

    #[tokio::test]
    async fn loopback_sweep_concludes_every_pair_once() {
        loopback_sweep(200, 1, false).await;
    }

    #[tokio::test]
    async fn threaded_sweep_concludes_every_pair_once_and_hands_over_streams() {
        loopback_sweep(12_000, 3, true).await;
    }

    #[test]
    fn worker_slices_partition_the_shard() {
        let cfg = SweepConfig {
            concurrency: 1000,
            max_per_host: 7,
            timing: TimingProfile::NORMAL,
            rate: Some(90.0),
            host_rate: None,
            seed: 5,
            shard: Shard { index: 1, count: 3 },
            keep_open: false,
            threads: 4,
        };
        assert_eq!(cfg.threads_for(100), 1, "small sweeps stay on one thread");
        assert_eq!(cfg.threads_for(1 << 20), 4);
        let one_per_host = SweepConfig {
            max_per_host: 1,
            ..cfg.clone()
        };
        assert_eq!(
            one_per_host.threads_for(1 << 20),
            1,
            "--max-per-host 1 means one"
        );
        let total = 10_000u128;
        let whole: Vec<u128> = Order::new(total, 5, cfg.shard).collect();
        let mut union: Vec<u128> = (0..3)
            .flat_map(|j| {
                let w = cfg.worker(j, 3);
                assert_eq!(w.concurrency, 334);
                assert_eq!(w.max_per_host, 3);
                assert_eq!(w.rate, Some(30.0));
                Order::new(total, 5, w.shard)
            })
            .collect();
        union.sort_unstable();
        let mut sorted = whole.clone();
        sorted.sort_unstable();
        assert_eq!(union, sorted, "the slices cover the shard exactly once");
    }
}
