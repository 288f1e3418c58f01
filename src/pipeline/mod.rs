//! The pipeline that joins the stages: sweep → fingerprint → verdict → caller.
//!
//! The first open port of a host triggers its [`canary`] check; the host's open
//! ports wait (with their live connections, up to a cap) until it says whether
//! the host answers on every port. Then they are handed to the fingerprinter
//! (at most `fingerprint_window` at once); on an every-port host only its
//! likely service ports are (at most [`EVERY_PORT_FINGERPRINTS`]), and only an
//! answer unlike the canary ports' counts as a service: the rest are judged
//! as ports of an every-port host ([`Context::EveryPortHost`]). Every result
//! is judged once by the run's [`Judge`] and reaches the caller's closure
//! exactly once. On cancellation, ports still waiting or being
//! fingerprinted are delivered without a service rather than lost. With
//! `--check-ssh-rate`, the first SSH port of each host (identified, or port
//! 22 when nothing is fingerprinted) gets its [`ssh_rate`] check, whose
//! measurement goes to the judge.

pub mod canary;
pub mod ssh_rate;

use crate::fingerprint::udp::UdpIdentify;
use crate::fingerprint::Identify;
use crate::model::{PortResult, PortState, ServiceNote};
use crate::ports::PortList;
use crate::scan::udp::{self, HostEnd, UdpConfig};
use crate::scan::{self, Event, Progress, SweepConfig, SweepStats};
use crate::targets::TargetSet;
use crate::verdict::{Context, Judge};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

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
    /// Try canary ports on each host with an open port.
    pub canary: bool,
    /// Ports some `services/` file names: on a host that answers every
    /// port, these are fingerprinted (the rest are skipped).
    pub service_ports: Arc<PortList>,
    /// `--check-ssh-rate`: check each host's first SSH port.
    pub ssh_rate: Option<ssh_rate::Settings>,
    /// The UDP sweep, unless no UDP port is asked for.
    pub udp: Option<UdpPlan>,
}

/// The UDP side of a plan: its ports and pacing, and the catalogue's
/// probes that both send and judge.
pub struct UdpPlan {
    /// Ports, pacing, shard.
    pub config: UdpConfig,
    /// Probes and identification.
    pub identify: Arc<UdpIdentify>,
}

/// What the pipeline hands its caller.
#[derive(Debug)]
pub enum Output {
    /// A finished, judged port result, and whether it is listed.
    Port {
        /// The result.
        result: Box<PortResult>,
        /// Whether the outputs list it (`--only-new` drops unchanged findings).
        listed: bool,
    },
    /// A warning for the user (the caller decides how to show it).
    Warning(String),
}

/// Live connections held per host while its canary check runs; later open
/// ports of that host are reconnected for fingerprinting instead.
const HELD_PER_HOST: usize = 32;

/// Live connections held across all hosts waiting for their canary check, so
/// that a range full of open ports cannot starve the sweep of descriptors.
const HELD_TOTAL: usize = 512;

/// Canary checks run at once (three connects each); further hosts queue.
const CANARY_WINDOW: usize = 64;

/// SSH rate checks run at once (one connection each at a time).
const SSH_RATE_WINDOW: usize = 16;

/// Concluded canary verdicts remembered; past it the clean ones are forgotten
/// (a later open port of such a host is checked again), keeping memory flat.
const CANARY_MEMORY: usize = 65_536;

/// Fingerprints spent at most on one every-port host: its likely service
/// ports (those a `services/` file names) are tried, the rest skipped.
pub const EVERY_PORT_FINGERPRINTS: u32 = 128;

enum Canary {
    Pending(Vec<(Option<TcpStream>, PortResult)>),
    Clean,
    EveryPort(EveryPortHost),
}

/// An every-port host: what its canary ports answered, and what was spent.
struct EveryPortHost {
    reference: Arc<Vec<canary::Identity>>,
    fingerprinted: u32,
    real: u32,
    skipped: u32,
}

/// The pipeline's bookkeeping between the stages.
struct State<'p> {
    plan: &'p Plan,
    judge: &'p mut Judge,
    hosts: HashMap<IpAddr, Canary>,
    unchecked: VecDeque<(IpAddr, std::time::Duration)>,
    held_streams: usize,
    in_progress: HashMap<(IpAddr, u16), PortResult>,
    waiting: VecDeque<(Option<TcpStream>, PortResult)>,
    /// Each host's smallest RTT so far, over every port that answered.
    fastest: HashMap<IpAddr, f64>,
    /// Hosts whose SSH rate check is queued or done (`--check-ssh-rate`).
    ssh_checked: HashSet<IpAddr>,
    /// SSH ports waiting for their rate check.
    ssh_queue: VecDeque<(SocketAddr, Option<f64>)>,
}

impl State<'_> {
    /// A finished result, judged.
    fn judged(&mut self, mut r: PortResult, cx: Context) -> Output {
        self.queue_ssh_rate(&r, cx);
        let listed = self.judge.port(&mut r, cx);
        Output::Port {
            result: Box::new(r),
            listed,
        }
    }

    /// A host's UDP ports: identified from the replies they kept, judged.
    fn udp_host(&mut self, end: HostEnd, on: &mut impl FnMut(Output)) {
        let Some(u) = self.plan.udp.as_ref() else {
            return;
        };
        let identify = u.identify.clone();
        for hit in end.hits {
            let r = identify.identify(hit);
            on(self.judged(r, Context::Plain));
        }
    }

    /// A host's finished SSH rate check: to the judge (an inconclusive one
    /// also as a warning).
    fn rate_checked(
        &mut self,
        ip: IpAddr,
        check: crate::model::SshRateCheck,
        on: &mut impl FnMut(Output),
    ) {
        if check.limit == crate::model::SshRateLimit::Inconclusive {
            on(Output::Warning(format!(
                "--check-ssh-rate on {ip} port {} was inconclusive: {}",
                check.port, check.refusal
            )));
        }
        self.judge.ssh_rate(ip, check);
    }

    /// Queues the SSH rate check of `r`'s host when `r` is its first SSH
    /// port (identified as such, or port 22 when nothing is fingerprinted).
    fn queue_ssh_rate(&mut self, r: &PortResult, cx: Context) {
        let is_ssh = match &r.service {
            Some(s) => s.identified() == Some("ssh"),
            None => self.plan.identify.is_none() && r.port == 22,
        };
        if self.plan.ssh_rate.is_none()
            || r.state != PortState::Open
            || r.proto != crate::model::Proto::Tcp
            || cx != Context::Plain
            || !is_ssh
            || self.ssh_checked.len() >= CANARY_MEMORY
            || !self.ssh_checked.insert(r.ip)
        {
            return;
        }
        let rtt = self.host_rtt(r);
        self.ssh_queue
            .push_back((SocketAddr::new(r.ip, r.port), rtt));
    }

    /// Keeps a live stream for a host whose canary check is pending, within
    /// the per-host and overall caps.
    fn hold(&mut self, stream: Option<TcpStream>, held_here: usize) -> Option<TcpStream> {
        match stream {
            Some(s) if held_here >= HELD_PER_HOST || self.held_streams >= HELD_TOTAL => {
                scan::connect::abort(s);
                None
            }
            Some(s) => {
                self.held_streams += 1;
                Some(s)
            }
            None => None,
        }
    }

    /// Notes the RTT of an answered port as its host's, if it is the
    /// smallest yet (memory bounded like the canary verdicts).
    fn note_rtt(&mut self, r: &PortResult) {
        let Some(rtt) = r.rtt_ms.filter(|v| v.is_finite() && *v >= 0.0) else {
            return;
        };
        if self.fastest.len() >= CANARY_MEMORY && !self.fastest.contains_key(&r.ip) {
            self.fastest.clear();
        }
        let best = self.fastest.entry(r.ip).or_insert(rtt);
        *best = best.min(rtt);
    }

    /// The RTT the fingerprinter should pace a port of `r.ip` by: the
    /// host's smallest, not the port's own sample, which during a large
    /// sweep also holds the time the answer waited in this process.
    fn host_rtt(&self, r: &PortResult) -> Option<f64> {
        let own = r.rtt_ms;
        match (self.fastest.get(&r.ip), own) {
            (Some(best), Some(own)) => Some(best.min(own)),
            (best, own) => best.copied().or(own),
        }
    }

    /// Takes one concluded pair from the sweep.
    fn hit(&mut self, hit: scan::Hit, on: &mut impl FnMut(Output)) {
        self.note_rtt(&hit.result);
        if hit.result.state != PortState::Open {
            if let Some(s) = hit.stream {
                scan::connect::abort(s);
            }
            on(self.judged(hit.result, Context::Plain));
            return;
        }
        let ip = hit.result.ip;
        let result = hit.result;
        // An open socket this runtime cannot take is delivered without its
        // stream; the fingerprinter reconnects.
        let stream = hit.stream.and_then(|s| TcpStream::from_std(s).ok());
        if !self.plan.canary {
            self.waiting.push_back((stream, result));
            return;
        }
        match self.hosts.get_mut(&ip) {
            None => {
                self.unchecked
                    .push_back((ip, canary::timeout_for(result.rtt_ms)));
                let stream = self.hold(stream, 0);
                if self.hosts.len() >= CANARY_MEMORY {
                    self.hosts.retain(|_, c| !matches!(c, Canary::Clean));
                }
                self.hosts
                    .insert(ip, Canary::Pending(vec![(stream, result)]));
            }
            Some(Canary::Pending(held)) => {
                let here = held.iter().filter(|(s, _)| s.is_some()).count();
                let stream = self.hold(stream, here);
                if let Some(Canary::Pending(held)) = self.hosts.get_mut(&ip) {
                    held.push((stream, result));
                }
            }
            Some(Canary::Clean) => self.waiting.push_back((stream, result)),
            Some(Canary::EveryPort(_)) => self.every_port_result(stream, result, on),
        }
    }

    /// An open port of an every-port host: fingerprinted when it is a likely
    /// service port and the host's budget allows, else delivered as such.
    fn every_port_result(
        &mut self,
        stream: Option<TcpStream>,
        result: PortResult,
        on: &mut impl FnMut(Output),
    ) {
        let likely = self.plan.service_ports.contains(result.port) && self.plan.identify.is_some();
        let Some(Canary::EveryPort(h)) = self.hosts.get_mut(&result.ip) else {
            return;
        };
        if likely && h.fingerprinted < EVERY_PORT_FINGERPRINTS {
            h.fingerprinted += 1;
            self.waiting.push_back((stream, result));
            return;
        }
        h.skipped += 1;
        if let Some(s) = stream {
            scan::connect::abort(s);
        }
        on(self.judged(result, Context::EveryPortHost));
    }

    /// A host's canary check is over.
    fn canary_done(
        &mut self,
        ip: IpAddr,
        answer: Option<Vec<canary::Identity>>,
        on: &mut impl FnMut(Output),
    ) {
        let verdict = match answer {
            None => Canary::Clean,
            Some(reference) => Canary::EveryPort(EveryPortHost {
                reference: Arc::new(reference),
                fingerprinted: 0,
                real: 0,
                skipped: 0,
            }),
        };
        let every = matches!(verdict, Canary::EveryPort(_));
        let Some(Canary::Pending(held)) = self.hosts.insert(ip, verdict) else {
            return;
        };
        self.held_streams -= held.iter().filter(|(s, _)| s.is_some()).count();
        if every {
            self.judge.every_port(ip);
            on(Output::Warning(format!(
                "{ip} accepts connections on every port (its canary ports accepted): only its likely service ports are fingerprinted"
            )));
        }
        for (stream, r) in held {
            if every {
                self.every_port_result(stream, r, on);
            } else {
                self.waiting.push_back((stream, r));
            }
        }
    }

    /// A fingerprint finished. On an every-port host, only an answer unlike
    /// the canary ports' is judged as a service.
    fn identified(&mut self, r: PortResult, on: &mut impl FnMut(Output)) {
        self.in_progress.remove(&(r.ip, r.port));
        let cx = match self.hosts.get_mut(&r.ip) {
            Some(Canary::EveryPort(h)) => {
                if canary::is_real_service(r.service.as_ref(), &h.reference) {
                    h.real += 1;
                    Context::Plain
                } else {
                    Context::EveryPortHost
                }
            }
            _ => Context::Plain,
        };
        on(self.judged(r, cx));
    }

    /// One line per every-port host: what was fingerprinted and skipped.
    fn every_port_summaries(&self, on: &mut impl FnMut(Output)) {
        for (ip, c) in &self.hosts {
            if let Canary::EveryPort(h) = c {
                on(Output::Warning(format!(
                    "{ip} accepts connections on every port: {} likely service ports fingerprinted, {} of them answered unlike the canary ports and are judged; {} open ports skipped",
                    h.fingerprinted, h.real, h.skipped
                )));
            }
        }
    }

    /// Interrupted: everything already concluded is still delivered, without
    /// a service where identification had not finished.
    fn deliver_unfinished(&mut self, on: &mut impl FnMut(Output)) {
        let identifying = self.plan.identify.is_some();
        let interrupted = |r: PortResult| {
            if identifying {
                r.with_note(ServiceNote::Interrupted)
            } else {
                r
            }
        };
        let in_progress: Vec<PortResult> = self.in_progress.drain().map(|(_, r)| r).collect();
        for r in in_progress {
            on(self.judged(interrupted(r), Context::Plain));
        }
        let held: Vec<_> = self
            .hosts
            .drain()
            .flat_map(|(_, c)| match c {
                Canary::Pending(h) => h,
                _ => Vec::new(),
            })
            .collect();
        let waiting: Vec<_> = self.waiting.drain(..).chain(held).collect();
        for (stream, r) in waiting {
            if let Some(s) = stream {
                scan::connect::abort(s);
            }
            on(self.judged(interrupted(r), Context::Plain));
        }
    }
}

/// Starts the fingerprint of one waiting port, paced by `host_rtt` (the
/// result keeps its own `rtt_ms`).
fn identify_port(
    id: Arc<dyn Identify>,
    stream: Option<TcpStream>,
    result: PortResult,
    host_rtt: Option<f64>,
) -> BoxFuture<'static, PortResult> {
    let fallback = result.clone();
    let own_rtt = result.rtt_ms;
    let result = PortResult {
        rtt_ms: host_rtt.or(own_rtt),
        ..result
    };
    async move {
        let stream = match stream {
            Some(s) => s,
            None => {
                let addr = std::net::SocketAddr::new(result.ip, result.port);
                // Two lost SYNs in a row must not cost the port its
                // identification.
                let timeout =
                    canary::timeout_for(result.rtt_ms) + scan::timing::SynSchedule::third_syn();
                match scan::connect::attempt(addr, timeout).await {
                    scan::connect::Attempt::Open { stream, .. } => stream,
                    _ => {
                        return PortResult {
                            rtt_ms: own_rtt,
                            ..result
                        }
                        .with_note(ServiceNote::ReconnectFailed)
                    }
                }
            }
        };
        match std::panic::AssertUnwindSafe(id.identify(stream, result))
            .catch_unwind()
            .await
        {
            Ok(r) => PortResult {
                rtt_ms: own_rtt,
                ..r
            },
            Err(_) => fallback.with_note(ServiceNote::InternalError),
        }
    }
    .boxed()
}

/// After a cancellation: every result the sweeps still send, judged (they
/// stop on the same signal and then drop their senders; draining until then
/// keeps them from blocking on a full channel).
async fn drain_cancelled(
    st: &mut State<'_>,
    rx: &mut mpsc::Receiver<Event>,
    udp_rx: &mut mpsc::Receiver<HostEnd>,
    on: &mut impl FnMut(Output),
) {
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Warning(w) => on(Output::Warning(w)),
            Event::Hits(hits) => {
                for hit in hits {
                    if let Some(s) = hit.stream {
                        scan::connect::abort(s);
                    }
                    on(st.judged(hit.result, Context::Plain));
                }
            }
        }
    }
    while let Some(end) = udp_rx.recv().await {
        st.udp_host(end, on);
    }
}

/// Starts the plan's UDP sweep, if it has one; its hosts come down the
/// receiver (closed at once when there is none).
fn spawn_udp(
    plan: &Plan,
    cancel: &watch::Receiver<bool>,
) -> (
    Option<tokio::task::JoinHandle<udp::UdpStats>>,
    mpsc::Receiver<HostEnd>,
) {
    let (tx, rx) = mpsc::channel::<HostEnd>(16);
    let sweep = plan.udp.as_ref().map(|u| {
        let prober: Arc<dyn udp::Prober> = u.identify.clone();
        tokio::spawn(udp::sweep(
            plan.targets.clone(),
            u.config.clone(),
            prober,
            tx,
            cancel.clone(),
        ))
    });
    (sweep, rx)
}

/// Runs a plan, every result judged by `judge`; `on` receives each as it
/// completes.
pub async fn run(
    plan: Plan,
    judge: &mut Judge,
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
    let (udp_sweep, mut udp_rx) = spawn_udp(&plan, &cancel);
    let mut udp_done = udp_sweep.is_none();
    let mut st = State {
        plan: &plan,
        judge,
        hosts: HashMap::new(),
        unchecked: VecDeque::new(),
        held_streams: 0,
        in_progress: HashMap::new(),
        waiting: VecDeque::new(),
        fastest: HashMap::new(),
        ssh_checked: HashSet::new(),
        ssh_queue: VecDeque::new(),
    };
    let mut identifying = FuturesUnordered::new();
    let mut canaries = FuturesUnordered::new();
    let mut rate_checks = FuturesUnordered::new();
    let window = plan.fingerprint_window.max(1);
    let mut sweep_done = false;
    let mut cancel_rx = cancel.clone();
    let mut cancelled = *cancel.borrow();
    while !cancelled {
        while identifying.len() < window {
            let Some((stream, result)) = st.waiting.pop_front() else {
                break;
            };
            let Some(id) = plan.identify.clone() else {
                on(st.judged(result, Context::Plain));
                continue;
            };
            st.in_progress
                .insert((result.ip, result.port), result.clone());
            let rtt = st.host_rtt(&result);
            identifying.push(identify_port(id, stream, result, rtt));
        }
        while canaries.len() < CANARY_WINDOW {
            let Some((ip, timeout)) = st.unchecked.pop_front() else {
                break;
            };
            let ports = canary::ports_for(ip, seed, &plan.ports);
            let id = plan.identify.clone();
            canaries.push(async move { (ip, canary::check(ip, ports, timeout, id).await) });
        }
        while rate_checks.len() < SSH_RATE_WINDOW {
            let (Some((addr, rtt)), Some(settings)) = (st.ssh_queue.pop_front(), plan.ssh_rate)
            else {
                break;
            };
            rate_checks
                .push(async move { (addr.ip(), ssh_rate::check(addr, rtt, settings).await) });
        }
        if sweep_done
            && udp_done
            && identifying.is_empty()
            && st.waiting.is_empty()
            && canaries.is_empty()
            && rate_checks.is_empty()
            && st.ssh_queue.is_empty()
        {
            break;
        }
        tokio::select! {
            _ = cancel_rx.changed() => cancelled = *cancel_rx.borrow(),
            ev = rx.recv(), if !sweep_done => match ev {
                None => sweep_done = true,
                Some(Event::Warning(w)) => on(Output::Warning(w)),
                Some(Event::Hits(hits)) => for hit in hits {
                    st.hit(hit, &mut on);
                },
            },
            end = udp_rx.recv(), if !udp_done => match end {
                None => udp_done = true,
                Some(end) => st.udp_host(end, &mut on),
            },
            Some((ip, answer)) = canaries.next(), if !canaries.is_empty() => {
                st.canary_done(ip, answer, &mut on);
            }
            Some(r) = identifying.next(), if !identifying.is_empty() => st.identified(r, &mut on),
            Some((ip, check)) = rate_checks.next(), if !rate_checks.is_empty() => {
                st.rate_checked(ip, check, &mut on);
            }
        }
    }
    if !cancelled {
        st.every_port_summaries(&mut on);
        let mut stats = sweep.await.unwrap_or_default();
        if let Some(u) = udp_sweep {
            stats.add_udp(u.await.unwrap_or_default());
        }
        return stats;
    }
    drop(identifying);
    st.deliver_unfinished(&mut on);
    drain_cancelled(&mut st, &mut rx, &mut udp_rx, &mut on).await;
    let mut stats = sweep.await.unwrap_or_default();
    if let Some(u) = udp_sweep {
        stats.add_udp(u.await.unwrap_or_default());
    }
    stats.interrupted = true;
    stats
}
