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
pub mod udp;

use crate::model::{PortResult, PortState, Proto, Reason};
use crate::ports::PortList;
use crate::targets::TargetSet;
use connect::{Attempt, LocalClass};
use order::{Order, Shard};
use reactor::{ConnectEnd, ConnectSet};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timing::{HostTiming, Sample, SynSchedule, TimingProfile};
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
    /// UDP ports left `open|filtered` on hosts that answered other closed
    /// ports with ICMP: the target's ICMP rate limit may have held them back.
    pub udp_rate_limited: u64,
    /// True when cancelled before the end.
    pub interrupted: bool,
}

impl SweepStats {
    fn add(&mut self, s: SweepStats) {
        self.planned += s.planned;
        self.concluded += s.concluded;
        self.requeued += s.requeued;
        self.retries += s.retries;
        self.udp_rate_limited += s.udp_rate_limited;
        self.interrupted |= s.interrupted;
    }

    /// Adds a UDP sweep's counts.
    pub fn add_udp(&mut self, s: udp::UdpStats) {
        self.planned += s.planned;
        self.concluded += s.concluded;
        self.retries += s.retries;
        self.udp_rate_limited += s.rate_limited;
        self.interrupted |= s.interrupted;
    }
}

#[derive(Clone, Copy, Debug)]
struct Probe {
    ip: IpAddr,
    port: u16,
    /// The number of this connect's first SYN among the port's SYNs.
    try_no: u8,
    /// Local errors (or self-connects) this probe has met.
    local_tries: u8,
    /// How long this connect may wait (set when it starts; brought forward
    /// by [`ConnectSet::tighten`]).
    life: Duration,
    /// A blind try: sent before the host gave any RTT sample, waiting past
    /// the kernel's SYN retransmission.
    blind: bool,
    /// The overlapping second connect of a blind try.
    sibling: bool,
    /// The [`Twin`] this connect belongs to (0: none).
    twin: u32,
    /// A blind port's last, short try.
    rescue: bool,
}

impl Probe {
    /// A first try of `ip`:`port`.
    fn first(ip: IpAddr, port: u16) -> Probe {
        Probe {
            ip,
            port,
            try_no: 1,
            local_tries: 0,
            life: Duration::ZERO,
            blind: false,
            sibling: false,
            twin: 0,
            rescue: false,
        }
    }
}

/// The connects of one blind try: the long-lived first and, when the
/// window had room, its overlapping sibling. The port concludes when one of
/// them is answered, or when both have ended unanswered.
#[derive(Debug)]
struct Twin {
    /// Matches [`Probe::twin`] (a port probed again gets a new id).
    id: u32,
    /// When the first connect's wait ends.
    until: Instant,
    /// The first connect is in flight.
    first_live: bool,
    /// The sibling is in flight.
    sibling_live: bool,
    /// SYNs sent so far by both.
    syns: u8,
    /// The port has been concluded (by an answer).
    done: bool,
}

/// What a connect's end means for its twin.
enum TwinStep {
    /// Nothing to conclude: the port was concluded already, or the other
    /// connect is still in flight.
    Wait,
    /// Conclude the port from this outcome, the port's SYNs so far.
    Go(u8),
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
    let shared = SliceShared {
        syn: SynSchedule::of_this_host(),
        targets,
        ports,
        slices: n,
        group,
        events,
        progress,
        cancel,
    };
    if n == 1 {
        return sweep_slice(shared, cfg).await;
    }
    // Slice `j` of `n`, as a future that owns what it needs.
    let slice = |j: usize| sweep_slice(shared.clone(), cfg.worker(j, n));
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

/// What every slice of one sweep shares.
#[derive(Clone)]
struct SliceShared {
    /// The kernel's SYN retransmission schedule.
    syn: SynSchedule,
    /// Addresses to sweep.
    targets: Arc<TargetSet>,
    /// Ports to sweep on each address.
    ports: Arc<PortList>,
    /// Slices the sweep runs in (they share out [`HOST_MEMORY`]).
    slices: usize,
    /// The scan-wide RTT estimate.
    group: SharedTiming,
    /// Where results and warnings go.
    events: mpsc::Sender<Event>,
    /// Live counters.
    progress: Arc<Progress>,
    /// Set when the run is cancelled.
    cancel: watch::Receiver<bool>,
}

/// Sends due within this go out now; a gate that fell behind may catch up by
/// at most this, so rates hold on average without long bursts.
const SLACK: Duration = Duration::from_millis(1);

/// How a probe concluded its port: state, reason, RTT, and the open stream.
type Conclusion = (
    PortState,
    Reason,
    Option<Duration>,
    Option<std::net::TcpStream>,
);

/// The connect window: shrunk, with a growing back-off, when local errors
/// come back, and regrown one step at a time once conclusions are calm again.
struct Window {
    /// The window asked for.
    max: usize,
    /// The window in force.
    size: usize,
    /// Pause after the last local error.
    backoff: Duration,
    /// Conclusions since the last local error.
    calm: u32,
    /// No connect starts before this.
    not_before: Option<Instant>,
}

impl Window {
    /// Shrinks the window below the `inflight` connects after a local error
    /// and pauses new connects for a doubled back-off.
    fn shrink(&mut self, inflight: usize) {
        self.size = (inflight * 3 / 4).max(1);
        self.backoff =
            (self.backoff * 2).clamp(Duration::from_millis(5), Duration::from_millis(500));
        self.calm = 0;
        self.not_before = Some(Instant::now() + self.backoff);
    }

    /// Counts a conclusion; past 16 calm ones a shrunk window grows by one.
    fn concluded(&mut self) {
        if self.size < self.max {
            self.calm += 1;
            if self.calm > 16 {
                self.size += 1;
                self.backoff = Duration::ZERO;
            }
        }
    }
}

/// One slice's sweep in progress.
struct Slice {
    shared: SliceShared,
    stats: SweepStats,
    order: Order,
    nports: u128,
    hosts: HashMap<IpAddr, HostState>,
    /// Probes to send again (retransmissions, local errors), first.
    retry: VecDeque<Probe>,
    /// A probe drawn but not sendable yet (its host is full or gated).
    held: Option<Probe>,
    /// Results not yet handed on.
    batch: Vec<Hit>,
    /// Idle hosts remembered by this slice.
    host_memory: usize,
    inflight: ConnectSet<Probe>,
    window: Window,
    /// Connects in flight at most to one host.
    per_host: usize,
    /// Least gap between two connects to one host (`--host-rate`).
    host_gap: Duration,
    /// The `--rate` gate.
    global: Option<Gate>,
    warned: LocalWarnings,
    stuck: Stuck,
    /// Every pair of the slice has been drawn.
    exhausted: bool,
    /// Blind tries in flight, by port.
    twins: HashMap<(IpAddr, u16), Twin>,
    /// Siblings waiting for their time (and for spare room), in time order.
    siblings: VecDeque<(Instant, Probe)>,
    /// The last [`Twin::id`] given.
    last_twin: u32,
    /// Blind ports' rescues, sent once nothing else waits.
    rescues: VecDeque<Probe>,
    /// Pairs drawn from the order so far.
    drawn: u64,
}

/// Feeds an answer's RTT to the host's timing and to the scan-wide estimate.
fn record_answer(timing: &mut HostTiming, group: &SharedTiming, rtt: Duration, try_no: u8) {
    let s = Sample::Answered { rtt, try_no };
    timing.record(s);
    lock(group).record(s);
}

/// Sweeps one slice (`cfg.shard`) of `shared.slices` on the current thread.
async fn sweep_slice(shared: SliceShared, cfg: SweepConfig) -> SweepStats {
    let nports = shared.ports.len() as u128;
    let total = shared.targets.len().saturating_mul(nports);
    let planned = cfg.shard.size_of(total);
    let stats = SweepStats {
        planned: u64::try_from(planned).unwrap_or(u64::MAX),
        ..SweepStats::default()
    };
    let inflight = match ConnectSet::new(cfg.keep_open) {
        Ok(set) => set,
        Err(e) => {
            // Not an interruption: the pairs stay unconcluded, which the
            // coverage counts as unresolved (exit 3).
            let _ = shared
                .events
                .send(Event::Warning(format!(
                    "cannot start the sweep ({e}): its {planned} probes are unresolved"
                )))
                .await;
            return stats;
        }
    };
    let max = cfg.concurrency.max(1);
    let slice = Slice {
        stats,
        order: Order::new(total, cfg.seed, cfg.shard),
        nports,
        hosts: HashMap::new(),
        retry: VecDeque::new(),
        held: None,
        batch: Vec::with_capacity(HIT_BATCH),
        host_memory: HOST_MEMORY / shared.slices.max(1),
        inflight,
        window: Window {
            max,
            size: max,
            backoff: Duration::ZERO,
            calm: 0,
            not_before: None,
        },
        per_host: cfg.max_per_host.max(1),
        host_gap: cfg
            .host_rate
            .filter(|r| *r > 0.0)
            .map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r)),
        global: cfg.rate.filter(|r| *r > 0.0).map(|r| Gate {
            gap: Duration::from_secs_f64(1.0 / r),
            next: Instant::now(),
        }),
        warned: LocalWarnings::default(),
        stuck: Stuck::default(),
        exhausted: false,
        twins: HashMap::new(),
        siblings: VecDeque::new(),
        last_twin: 0,
        rescues: VecDeque::new(),
        drawn: 0,
        shared,
    };
    slice.run().await
}

impl Slice {
    /// Sends, reads completions and hands results on until the slice is
    /// done, the consumer is gone, or the run is cancelled.
    async fn run(mut self) -> SweepStats {
        if *self.shared.cancel.borrow() {
            self.stats.interrupted = true;
            return self.stats;
        }
        loop {
            let wake = self.fill_window();
            if self.inflight.is_empty()
                && self.held.is_none()
                && self.retry.is_empty()
                && self.rescues.is_empty()
                && self.exhausted
            {
                break;
            }
            if !self.batch.is_empty()
                && (self.batch.len() >= HIT_BATCH || !self.inflight.has_ready())
            {
                let hits = std::mem::replace(&mut self.batch, Vec::with_capacity(HIT_BATCH));
                if self.shared.events.send(Event::Hits(hits)).await.is_err() {
                    self.stats.interrupted = true;
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
                _ = self.shared.cancel.changed() => {
                    self.stats.interrupted = true;
                    break;
                }
                Some((probe, outcome)) = self.inflight.next(), if !self.inflight.is_empty() => {
                    if let Some((probe, c)) = self.conclude(probe, outcome).await {
                        self.deliver(probe, c);
                    }
                }
                _ = sleep => {}
            }
        }
        // Results concluded before an interruption are still delivered.
        let batch = std::mem::take(&mut self.batch);
        if !batch.is_empty() && self.shared.events.send(Event::Hits(batch)).await.is_err() {
            self.stats.interrupted = true;
        }
        self.stats
    }

    /// The next pair in the slice's order, if any is left.
    fn next_probe(&mut self) -> Option<Probe> {
        let nports = self.nports;
        let i = self.order.next()?;
        self.drawn += 1;
        let ip = self
            .shared
            .targets
            .get(i / nports)
            .expect("index within target set");
        Some(Probe::first(
            ip,
            self.shared.ports.as_slice()[(i % nports) as usize],
        ))
    }

    /// Starts connects while the window, the hosts' windows, the pacing and
    /// the rates allow; returns when to wake up to send more.
    fn fill_window(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let floor = now.checked_sub(SLACK).unwrap_or(now);
        let mut wake: Option<Instant> = None;
        let mut burst = 0;
        // Completions already read are concluded before more connects go
        // out: when answers come back at once (RST over a fast link) the
        // sockets in flight stay a burst's worth, not the whole window, which
        // keeps the kernel's working set (and the sweep) fast.
        let may_send = !self.inflight.has_ready();
        while may_send && self.inflight.len() < self.window.size {
            if burst == SEND_BURST {
                // Let completions be read (and timed) before sending more.
                wake = Some(now);
                break;
            }
            burst += 1;
            if let Some(t) = self.window.not_before {
                if now < t {
                    wake = Some(t);
                    break;
                }
                self.window.not_before = None;
            }
            let Some(probe) = self.next_to_send(now, &mut wake) else {
                break;
            };
            match self.try_send(probe, now, floor) {
                Ok(()) => {}
                Err(later) => {
                    if let Some(at) = later {
                        wake = Some(at);
                    }
                    break;
                }
            }
        }
        wake
    }

    /// The next connect to start: one held back, a retransmission, a new
    /// pair, or, only once every pair is drawn and nothing else waits, a
    /// sibling that is due, else a rescue.
    fn next_to_send(&mut self, now: Instant, wake: &mut Option<Instant>) -> Option<Probe> {
        if let Some(p) = self.held.take().or_else(|| self.retry.pop_front()) {
            return Some(p);
        }
        if !self.exhausted {
            match self.next_probe() {
                Some(p) => return Some(p),
                None => self.exhausted = true,
            }
        }
        self.due_sibling(now, wake)
            .or_else(|| self.rescues.pop_front())
    }

    /// The first sibling that is due and still worth sending: its port is
    /// unconcluded and its first connect in flight with long enough left to
    /// live to catch an answer: the blind grace (the blind life past the
    /// kernel's retransmission), or the host's timeout once it has answered.
    fn due_sibling(&mut self, now: Instant, wake: &mut Option<Instant>) -> Option<Probe> {
        while let Some(&(due, probe)) = self.siblings.front() {
            if due > now {
                *wake = Some(wake.map_or(due, |w| w.min(due)));
                return None;
            }
            self.siblings.pop_front();
            let Some(host) = self.hosts.get(&probe.ip) else {
                continue;
            };
            let timing = &host.timing;
            let grace = timing.profile().blind_grace();
            let needed = if timing.blind() {
                grace
            } else {
                timing.timeout().min(grace)
            };
            let Some(twin) = self.twins.get(&(probe.ip, probe.port)) else {
                continue;
            };
            let left = twin.until.saturating_duration_since(now);
            if twin.id == probe.twin && twin.first_live && !twin.done && left >= needed {
                return Some(Probe {
                    life: left,
                    ..probe
                });
            }
        }
        None
    }

    /// Starts `probe` unless its host is full or its send time (pacing,
    /// rates) is still to come; then it is held and `Err` says when to wake.
    fn try_send(
        &mut self,
        mut probe: Probe,
        now: Instant,
        floor: Instant,
    ) -> Result<(), Option<Instant>> {
        let group = &self.shared.group;
        let host = self.hosts.entry(probe.ip).or_insert_with(|| HostState {
            timing: HostTiming::seeded_from(&lock(group)),
            inflight: 0,
        });
        if host.timing.blind() {
            // No answer from this host on this thread yet: start from
            // what every thread has learned so far.
            host.timing.seed_rtt(&lock(group));
        }
        if host.inflight >= self.per_host {
            self.held = Some(probe);
            return Err(None);
        }
        // The loss-driven per-host delay paces new probes; a
        // retransmission goes out at once (within --host-rate and
        // --rate), so a burst of early loss is re-probed and answered
        // quickly instead of feeding the delay it caused — unless the
        // delay is in force (answers keep coming late: a SYN rate
        // limit), when a burst of retransmissions would meet the same
        // limit and only paced ones get through.
        let paced = probe.try_no == 1 || !self.host_gap.is_zero() || host.timing.pacing();
        let mut at = if paced {
            host.timing.next_send(floor, self.host_gap)
        } else {
            floor
        };
        if let Some(g) = &self.global {
            at = at.max(g.next).max(floor);
        }
        if at > now + SLACK {
            self.held = Some(probe);
            return Err(Some(at));
        }
        if paced {
            host.timing.commit_send(at, self.host_gap);
        }
        if let Some(g) = &mut self.global {
            g.next = at + g.gap;
        }
        host.inflight += 1;
        if probe.try_no > 1 {
            host.timing.sent_retransmission();
        }
        let profile = *host.timing.profile();
        let blind = probe.try_no == 1 && !probe.sibling && host.timing.wants_blind_plan();
        let near = host.timing.srtt().is_some_and(|d| d < NEAR_RTT);
        // More pairs wait than the window holds: descriptors, not connects,
        // bound the sweep, and a short rescue later costs less of them than
        // a long first try (whose kernel retransmission, due with every
        // other socket's at once, comes too late to rely on).
        let left = self.stats.planned.saturating_sub(self.drawn);
        let crowded = left.saturating_add(self.inflight.len() as u64) > self.window.size as u64;
        if probe.sibling {
            if let Some(t) = self.twins.get_mut(&(probe.ip, probe.port)) {
                t.sibling_live = true;
            }
        } else if blind && crowded {
            probe = Probe {
                life: profile.initial_timeout,
                blind: true,
                twin: 0,
                ..probe
            };
        } else if probe.rescue && host.timing.blind() {
            probe = Probe {
                life: profile.rescue_life,
                blind: true,
                twin: 0,
                ..probe
            };
        } else if blind {
            self.last_twin = self.last_twin.wrapping_add(1).max(1);
            probe = Probe {
                life: profile.blind_life,
                blind: true,
                twin: self.last_twin,
                ..probe
            };
            let twin = Twin {
                id: probe.twin,
                until: now + probe.life,
                first_live: true,
                sibling_live: false,
                syns: 0,
                done: false,
            };
            self.twins.insert((probe.ip, probe.port), twin);
            if profile.overlap() {
                let sibling = Probe {
                    sibling: true,
                    try_no: 2,
                    ..probe
                };
                self.siblings
                    .push_back((now + profile.overlap_after, sibling));
            }
        } else {
            probe = Probe {
                life: host.timing.timeout(),
                blind: false,
                twin: 0,
                ..probe
            };
        }
        probe.life = self.shared.syn.clear_of_retransmission(probe.life);
        self.inflight.start_near(
            SocketAddr::new(probe.ip, probe.port),
            probe.life,
            probe,
            near,
        );
        Ok(())
    }

    /// Reads one completed connect: the probe as concluded (its `try_no`
    /// the port's SYN count) and its conclusion, or `None` when nothing is
    /// concluded yet (a retransmission or a local error queued it again,
    /// its twin is still in flight, or its port was concluded already).
    async fn conclude(&mut self, probe: Probe, outcome: ConnectEnd) -> Option<(Probe, Conclusion)> {
        let syn = self.shared.syn;
        let host = self
            .hosts
            .get_mut(&probe.ip)
            .expect("host state exists while in flight");
        host.inflight -= 1;
        let idle = host.inflight == 0;
        let answer_rtt = match &outcome {
            ConnectEnd::Open { rtt, .. }
            | ConnectEnd::Ended(Attempt::Open { rtt, .. } | Attempt::Answered { rtt, .. }) => {
                Some(*rtt)
            }
            _ => None,
        };
        let syns_here = match (&outcome, answer_rtt) {
            (_, Some(rtt)) => syn.syns_by(rtt),
            (ConnectEnd::Ended(Attempt::TimedOut), _) => syn.syns_by(probe.life),
            _ => 0,
        };
        let tries = if probe.twin == 0 {
            probe.try_no.saturating_add(syns_here.max(1)) - 1
        } else {
            match self.twin_step(&probe, answer_rtt.is_some(), syns_here) {
                TwinStep::Wait => return None,
                TwinStep::Go(n) => n,
            }
        };
        let host = self.hosts.get_mut(&probe.ip).expect("host state");
        let group = &self.shared.group;
        let mut rtt = None;
        if let Some(measured) = answer_rtt {
            // Timed from the SYN it most likely answers.
            let sample = measured - syn.last_syn_before(measured);
            let was_blind = host.timing.blind();
            let answering = probe.try_no.saturating_add(syns_here) - 1;
            record_answer(&mut host.timing, group, sample, answering);
            if was_blind && !host.timing.blind() {
                let (ip, t) = (probe.ip, syn.clear_of_retransmission(host.timing.timeout()));
                self.inflight.tighten(|p| {
                    let shorter = p.ip == ip && p.blind && t < p.life;
                    if shorter {
                        p.blind = false;
                        p.life = t;
                    }
                    shorter.then_some(t)
                });
            }
            rtt = Some(sample);
        }
        let concluded = Probe {
            try_no: tries.max(1),
            ..probe
        };
        let conclusion = match outcome {
            ConnectEnd::Open { stream, .. } => Some((PortState::Open, Reason::SynAck, rtt, stream)),
            ConnectEnd::Ended(Attempt::Open { stream, .. }) => {
                let stream = stream.into_std().ok();
                Some((PortState::Open, Reason::SynAck, rtt, stream))
            }
            ConnectEnd::Ended(Attempt::Answered { reason, .. }) => {
                let state = if reason == Reason::ConnRefused {
                    PortState::Closed
                } else {
                    PortState::Filtered
                };
                Some((state, reason, rtt, None))
            }
            ConnectEnd::Ended(Attempt::TimedOut) => self.silence(concluded),
            ConnectEnd::Ended(Attempt::SelfConnect) if probe.sibling => self.silence(concluded),
            ConnectEnd::Ended(Attempt::Local(_)) if probe.sibling => self.silence(concluded),
            ConnectEnd::Ended(Attempt::SelfConnect) => {
                // Our own socket answered: ask again from another local port.
                if requeue_local(probe, &mut self.retry, &mut self.stats) {
                    None
                } else {
                    Some((PortState::Unresolved, Reason::LocalError, None, None))
                }
            }
            ConnectEnd::Ended(Attempt::Local(e)) => self.local_error(probe, &e).await,
        };
        if idle && self.hosts.len() > self.host_memory {
            self.hosts.remove(&probe.ip);
        }
        conclusion.map(|c| (concluded, c))
    }

    /// The port of `probe` had no answer after `probe.try_no` SYNs. A blind
    /// port of a host that has still given no RTT sample is concluded once
    /// it has had [`TimingProfile::blind_syns`] SYNs (the kernel's
    /// retransmission and the sibling count), else given one short rescue,
    /// queued behind every port not yet tried. Any other port is probed
    /// again while retransmissions are allowed, else concluded.
    fn silence(&mut self, probe: Probe) -> Option<Conclusion> {
        let timing = &self.hosts.get(&probe.ip).expect("host state").timing;
        let cancelled = *self.shared.cancel.borrow();
        let blind = probe.blind && timing.blind();
        let again = if blind {
            !probe.rescue && probe.try_no < timing.profile().blind_syns()
        } else {
            timing.may_retry(probe.try_no)
        };
        if again && !cancelled {
            self.stats.retries += 1;
            let next = Probe {
                try_no: probe.try_no.saturating_add(1),
                sibling: false,
                twin: 0,
                rescue: blind,
                ..probe
            };
            if blind {
                self.rescues.push_back(next);
            } else {
                self.retry.push_back(next);
            }
            None
        } else if timing.silence_unproven(probe.try_no) {
            Some((PortState::Unresolved, Reason::RateLimited, None, None))
        } else {
            Some((PortState::Filtered, Reason::NoResponse, None, None))
        }
    }

    /// Books the end of one connect of a blind try: an answer concludes the
    /// port (once), silence waits for the other connect; a first connect
    /// that failed locally drops the twin, its sibling's end then counting
    /// for nothing.
    fn twin_step(&mut self, probe: &Probe, answered: bool, syns: u8) -> TwinStep {
        let key = (probe.ip, probe.port);
        let Some(t) = self.twins.get_mut(&key).filter(|t| t.id == probe.twin) else {
            return TwinStep::Wait;
        };
        t.syns = t.syns.saturating_add(syns);
        if probe.sibling {
            t.sibling_live = false;
        } else {
            t.first_live = false;
        }
        let both_ended = !t.first_live && !t.sibling_live;
        let step = if t.done {
            TwinStep::Wait
        } else if answered {
            t.done = true;
            TwinStep::Go(t.syns)
        } else if !probe.sibling && syns == 0 {
            // A local error on the first connect: it is queued again as a
            // fresh try, with a twin of its own.
            self.twins.remove(&key);
            return TwinStep::Go(1);
        } else if both_ended {
            TwinStep::Go(t.syns)
        } else {
            TwinStep::Wait
        };
        if both_ended {
            self.twins.remove(&key);
        }
        step
    }

    /// A connect that failed locally: warns once per kind, then concludes the
    /// port unresolved (a permanent error, or transient ones gone on too
    /// long) or shrinks the window, backs off and queues the probe again.
    async fn local_error(&mut self, probe: Probe, e: &std::io::Error) -> Option<Conclusion> {
        let addr = SocketAddr::new(probe.ip, probe.port);
        let class = connect::local_class(e, &addr);
        if let Some(w) = self.warned.first_time(class, e, addr) {
            let _ = self.shared.events.send(Event::Warning(w)).await;
        }
        match class {
            LocalClass::Permanent(reason) => Some((PortState::Unresolved, reason, None, None)),
            LocalClass::Transient(reason) if self.stuck.hopeless(Instant::now()) => {
                if let Some(w) = self.warned.gave_up(reason) {
                    let _ = self.shared.events.send(Event::Warning(w)).await;
                }
                Some((PortState::Unresolved, reason, None, None))
            }
            LocalClass::Transient(reason) => {
                self.window.shrink(self.inflight.len());
                if requeue_local(probe, &mut self.retry, &mut self.stats) {
                    None
                } else {
                    Some((PortState::Unresolved, reason, None, None))
                }
            }
        }
    }

    /// Counts a concluded port and adds its result to the batch.
    fn deliver(&mut self, probe: Probe, (state, reason, rtt, stream): Conclusion) {
        if state != PortState::Unresolved {
            self.stuck.since = None;
        }
        self.window.concluded();
        self.stats.concluded += 1;
        let progress = &self.shared.progress;
        progress.done.fetch_add(1, Ordering::Relaxed);
        if state == PortState::Open {
            progress.open.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(s) = &stream {
            let _ = s.set_nodelay(true);
        }
        let result = PortResult {
            ip: probe.ip,
            host: self.shared.targets.name(&probe.ip).map(str::to_owned),
            port: probe.port,
            proto: Proto::Tcp,
            state,
            reason,
            rtt_ms: rtt.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
            tries: probe.try_no,
            udp: None,
            service: None,
            finding: None,
        };
        self.batch.push(Hit { result, stream });
    }
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
