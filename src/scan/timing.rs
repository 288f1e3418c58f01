//! Adaptive per-host timing, after nmap's `timing.cc` and TCP's RTO estimator.
//!
//! Every answered connect (open, RST or ICMP) is an RTT sample. The probe
//! timeout is `srtt + 4·rttvar`, clamped to the profile's bounds. A timed-out
//! probe is retransmitted only while retransmissions are seen to pay off: the
//! profile's `initial_retries` at first (nmap allows one; the default allows
//! two, so that behind a DROP firewall with 5% loss an open port is missed with
//! probability 0.05³ rather than 0.05²), and more once a probe is answered on
//! a later try (nmap's `max_successful_tryno`). When answers increasingly
//! come only on retransmission (loss or a rate limit), a per-host send delay
//! grows, as nmap's `boostScanDelay` does, and shrinks again once answers
//! come on time.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answers per judgement of the loss-driven send delay.
pub const DELAY_WINDOW: u32 = 16;

/// Bounds and defaults for the adaptive timing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimingProfile {
    /// Timeout before any RTT sample exists.
    pub initial_timeout: Duration,
    /// Lower clamp on the adaptive timeout.
    pub min_timeout: Duration,
    /// Upper clamp on the adaptive timeout.
    pub max_timeout: Duration,
    /// Ceiling on retransmissions of a timed-out probe.
    pub max_retries: u8,
    /// Retransmissions allowed before any retransmission has paid off.
    pub initial_retries: u8,
    /// Ceiling on the per-host send delay that loss can build up.
    pub max_scan_delay: Duration,
    /// How long a first try to a host that has given no RTT sample yet (a
    /// *blind* try) waits: past the kernel's own SYN retransmission at
    /// [`KERNEL_SYN_RTO`], by as much again as the slowest answer it is
    /// meant to catch, so one socket carries two SYNs.
    pub blind_life: Duration,
    /// When a blind try's overlapping second connect (its *sibling*, a
    /// third SYN from another source port) may leave: only into spare room
    /// in the window, and only while the first still has this long to live.
    pub overlap_after: Duration,
    /// How long a blind port's last try (its *rescue*) waits: a short
    /// fresh connect, sent once every new port has had its first try,
    /// when the first try did not get its sibling (the window was full) or
    /// was a plain one (the window was crowded: see `scan::Slice`).
    pub rescue_life: Duration,
}

impl TimingProfile {
    /// Gentle: long timeouts, many retries allowed (nmap T2-like without the fixed delay).
    pub const POLITE: TimingProfile = TimingProfile {
        initial_timeout: Duration::from_millis(1000),
        min_timeout: Duration::from_millis(100),
        max_timeout: Duration::from_millis(10_000),
        max_retries: 10,
        initial_retries: 2,
        max_scan_delay: Duration::from_millis(1000),
        blind_life: Duration::from_millis(2000),
        overlap_after: Duration::from_millis(1000),
        rescue_life: Duration::from_millis(1000),
    };
    /// The default (nmap T3 bounds with a tighter ceiling).
    pub const NORMAL: TimingProfile = TimingProfile {
        initial_timeout: Duration::from_millis(1000),
        min_timeout: Duration::from_millis(100),
        max_timeout: Duration::from_millis(3000),
        max_retries: 6,
        initial_retries: 2,
        max_scan_delay: Duration::from_millis(1000),
        blind_life: Duration::from_millis(1350),
        overlap_after: Duration::from_millis(350),
        rescue_life: Duration::from_millis(450),
    };
    /// Aggressive (nmap T4 bounds).
    pub const FAST: TimingProfile = TimingProfile {
        initial_timeout: Duration::from_millis(500),
        min_timeout: Duration::from_millis(50),
        max_timeout: Duration::from_millis(1250),
        max_retries: 6,
        initial_retries: 1,
        max_scan_delay: Duration::from_millis(10),
        blind_life: Duration::from_millis(1250),
        overlap_after: Duration::from_millis(250),
        rescue_life: Duration::from_millis(300),
    };

    /// Whether blind tries follow the blind plan (one long-lived socket,
    /// the kernel's retransmission as its second try): only when the blind
    /// life reaches past that retransmission and a retransmission is
    /// allowed at all. Otherwise a blind try is an ordinary one.
    pub fn blind_plan(&self) -> bool {
        self.blind_life > KERNEL_SYN_RTO + Duration::from_millis(50) && self.max_retries >= 1
    }

    /// How much of the blind life is left after the kernel's retransmission
    /// at [`KERNEL_SYN_RTO`]: the slowest answer to that SYN it can catch.
    pub fn blind_grace(&self) -> Duration {
        self.blind_life.saturating_sub(KERNEL_SYN_RTO)
    }

    /// SYNs after which a blind port is concluded: its first try and up to
    /// two retransmissions (the kernel's, the sibling's or the rescue's).
    pub fn blind_syns(&self) -> u8 {
        1 + self.max_retries.min(2)
    }

    /// Whether a blind try may get its overlapping sibling (it stands for
    /// the second retransmission).
    pub fn overlap(&self) -> bool {
        self.blind_plan() && self.max_retries >= 2 && self.overlap_after < self.blind_life
    }
}

/// The kernel's initial SYN retransmission timeout (`TCP_TIMEOUT_INIT`,
/// RFC 6298): a connect still unanswered after it sends its SYN again.
pub const KERNEL_SYN_RTO: Duration = Duration::from_secs(1);

/// The kernel's SYN retransmission schedule: when each SYN of one connect
/// leaves, counted from the first. `linear` is
/// `net.ipv4.tcp_syn_linear_timeouts` (Linux 6.11+, default 4: the first
/// four retransmissions 1 s apart, then doubling; 0 on older kernels, which
/// double from the start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynSchedule {
    linear: u32,
}

impl SynSchedule {
    /// The schedule of this machine's network namespace (0 linear timeouts
    /// when the sysctl is absent), read once per process.
    pub fn of_this_host() -> SynSchedule {
        static LINEAR: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let linear = *LINEAR.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syn_linear_timeouts")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        });
        SynSchedule { linear }
    }

    /// A schedule with `linear` linear timeouts.
    pub fn with_linear(linear: u32) -> SynSchedule {
        SynSchedule { linear }
    }

    /// SYNs one connect has sent by `elapsed` after its start (1 at once,
    /// then one per retransmission; a retransmission due within 5 ms of
    /// `elapsed` is not counted, timers being coarse).
    pub fn syns_by(&self, elapsed: Duration) -> u8 {
        let slack = Duration::from_millis(5);
        let (mut at, mut rto, mut syns) = (Duration::ZERO, KERNEL_SYN_RTO, 1u8);
        for retransmission in 1..=6u32 {
            at += rto;
            if at + slack > elapsed {
                break;
            }
            syns += 1;
            if retransmission > self.linear {
                rto *= 2;
            }
        }
        syns
    }

    /// When this host's third SYN of a connect leaves: a connect that waits
    /// past it outlasts two lost SYNs in a row (one connect in 400 behind
    /// 5% loss, and one port's walk makes dozens).
    pub fn third_syn() -> Duration {
        SynSchedule::of_this_host().retransmission_at(2)
    }

    /// What lost SYNs cost a connect that took `elapsed`: the time until the
    /// last retransmission it had sent by then left.
    pub fn lost_to_retransmission(&self, elapsed: Duration) -> Duration {
        (1..=6)
            .map(|n| self.retransmission_at(n))
            .take_while(|at| *at <= elapsed)
            .last()
            .unwrap_or(Duration::ZERO)
    }

    /// When retransmission `n` (1: the first) leaves, counted from the start.
    pub fn retransmission_at(&self, n: u32) -> Duration {
        let (mut at, mut rto) = (Duration::ZERO, KERNEL_SYN_RTO);
        for retransmission in 1..=n {
            at += rto;
            if retransmission > self.linear {
                rto *= 2;
            }
        }
        at
    }

    /// `life`, moved to 50 ms before a retransmission that would otherwise
    /// fall within 50 ms of it: whether the kernel's timer or our deadline
    /// fires first is a race there, and the SYN count must not depend on it.
    pub fn clear_of_retransmission(&self, life: Duration) -> Duration {
        let margin = Duration::from_millis(50);
        let (mut at, mut rto) = (Duration::ZERO, KERNEL_SYN_RTO);
        for retransmission in 1..=6u32 {
            at += rto;
            if at > life + margin {
                break;
            }
            if at + margin > life {
                return at - margin;
            }
            if retransmission > self.linear {
                rto *= 2;
            }
        }
        life
    }

    /// When the last SYN sent by `elapsed` left, counted from the start: an
    /// answer after it is most likely to it (Karn's ambiguity resolved
    /// towards the later SYN, the one a lossy path lets through).
    pub fn last_syn_before(&self, elapsed: Duration) -> Duration {
        let (mut at, mut rto, mut last) = (Duration::ZERO, KERNEL_SYN_RTO, Duration::ZERO);
        for retransmission in 1..=6u32 {
            at += rto;
            if at >= elapsed {
                break;
            }
            last = at;
            if retransmission > self.linear {
                rto *= 2;
            }
        }
        last
    }
}

/// What the timing learned from one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sample {
    /// Answered after `rtt`, on try number `try_no` (1-based).
    Answered {
        /// Measured round trip.
        rtt: Duration,
        /// Which try it was.
        try_no: u8,
    },
    /// No answer within the timeout.
    TimedOut,
}

/// Per-host RTT estimate and retransmission allowance.
#[derive(Clone, Debug)]
pub struct HostTiming {
    /// Shared by every host of a scan: one host's state stays small.
    profile: Arc<TimingProfile>,
    srtt_us: Option<f64>,
    rttvar_us: f64,
    max_successful_try: u8,
    answers: u32,
    late_answers: u32,
    retransmissions: u32,
    window_answers: u32,
    window_late: u32,
    scan_delay: Duration,
    next_send: Option<Instant>,
}

impl HostTiming {
    /// Fresh state under `profile`.
    pub fn new(profile: TimingProfile) -> HostTiming {
        HostTiming::fresh(Arc::new(profile))
    }

    fn fresh(profile: Arc<TimingProfile>) -> HostTiming {
        HostTiming {
            profile,
            srtt_us: None,
            rttvar_us: 0.0,
            max_successful_try: 0,
            answers: 0,
            late_answers: 0,
            retransmissions: 0,
            window_answers: 0,
            window_late: 0,
            scan_delay: Duration::ZERO,
            next_send: None,
        }
    }

    /// The timeout to give the next probe.
    pub fn timeout(&self) -> Duration {
        let p = &self.profile;
        let t = match self.srtt_us {
            None => p.initial_timeout,
            Some(srtt) => Duration::from_micros((srtt + 4.0 * self.rttvar_us) as u64),
        };
        t.clamp(p.min_timeout, p.max_timeout.max(p.min_timeout))
    }

    /// Whether this host has given no RTT sample yet: its probes are blind.
    pub fn blind(&self) -> bool {
        self.srtt_us.is_none()
    }

    /// Whether this host's first tries follow the blind plan: it has given
    /// no RTT sample, or its RTT fits the blind grace while its adaptive
    /// timeout is at least half the blind life (a slow host: one socket
    /// carrying the kernel's retransmission then holds a descriptor for
    /// less time per SYN than two sockets would).
    pub fn wants_blind_plan(&self) -> bool {
        let p = &self.profile;
        if !p.blind_plan() {
            return false;
        }
        let grace = p.blind_grace();
        match self.srtt() {
            None => true,
            Some(srtt) => srtt <= grace && self.timeout() * 2 >= p.blind_life,
        }
    }

    /// The profile this state runs under.
    pub fn profile(&self) -> &TimingProfile {
        &self.profile
    }

    /// Smoothed RTT, once a sample exists.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt_us.map(|s| Duration::from_micros(s as u64))
    }

    /// Whether a probe that timed out on try `try_no` (1-based) may be sent again.
    pub fn may_retry(&self, try_no: u8) -> bool {
        let retransmissions_done = try_no.saturating_sub(1);
        let allowed = self
            .max_successful_try
            .max(self.profile.initial_retries)
            .min(self.profile.max_retries);
        retransmissions_done < allowed
    }

    /// Whether silence after `tries` tries proves nothing about a port: the
    /// host is lossy (of at least two answers, one or more, and more than a
    /// quarter, came only on a retransmission: a SYN rate limit rather than
    /// random loss) and this probe either used every retransmission the
    /// ceiling allows or ran out while answers still came as late as its
    /// last try.
    pub fn silence_unproven(&self, tries: u8) -> bool {
        let lossy =
            self.answers >= 2 && self.late_answers >= 1 && self.late_answers * 4 > self.answers;
        let at_ceiling = tries > self.profile.max_retries;
        lossy && (at_ceiling || self.max_successful_try >= tries)
    }

    /// Counts a retransmission sent to this host.
    pub fn sent_retransmission(&mut self) {
        self.retransmissions = self.retransmissions.saturating_add(1);
    }

    /// Whether retransmissions are paced like new probes: loss has built up
    /// a send delay and fewer than half the retransmissions were answered, so
    /// bursts of them meet the same limit again (a SYN rate limit). After a
    /// burst of loss that has passed (a quota, a cold neighbour cache) they
    /// are answered, and go out at once.
    pub fn pacing(&self) -> bool {
        !self.scan_delay.is_zero() && self.late_answers.saturating_mul(2) < self.retransmissions
    }

    /// Feeds one outcome into the estimate.
    pub fn record(&mut self, s: Sample) {
        let Sample::Answered { rtt, try_no } = s else {
            return;
        };
        self.window_answers += 1;
        self.answers = self.answers.saturating_add(1);
        if try_no > 1 {
            self.window_late += 1;
            self.late_answers = self.late_answers.saturating_add(1);
            self.max_successful_try = self.max_successful_try.max(try_no);
        }
        if self.window_answers >= DELAY_WINDOW {
            self.adjust_delay();
        }
        let delta = rtt.as_micros() as f64;
        if delta >= 8_000_000.0 {
            return;
        }
        match self.srtt_us {
            None => {
                self.srtt_us = Some(delta);
                self.rttvar_us = delta.clamp(5_000.0, 2_000_000.0);
            }
            Some(srtt) => {
                let d = delta - srtt;
                if d > 1_500_000.0 && d > 3.0 * srtt + 2.0 * self.rttvar_us {
                    return;
                }
                self.srtt_us = Some(srtt + d / 8.0);
                self.rttvar_us += (d.abs() - self.rttvar_us) / 4.0;
                if self.rttvar_us > 2_300_000.0 {
                    self.rttvar_us = 2_000_000.0;
                }
            }
        }
    }

    /// Judges the last [`DELAY_WINDOW`] answers: more than 30% answered only
    /// on a retransmission (and more than 5) means loss or a rate limit, so
    /// the delay doubles (0 → 5 ms → ... → the profile's ceiling), as nmap's
    /// `boostScanDelay` does; a window with at most one late answer quarters
    /// it again, so a burst of early loss does not slow the rest of the scan
    /// for good (nmap never lowers it).
    fn adjust_delay(&mut self) {
        let (n, late) = (self.window_answers, self.window_late);
        self.window_answers = 0;
        self.window_late = 0;
        if late > 5 && late * 10 > n * 3 {
            self.scan_delay = if self.scan_delay.is_zero() {
                Duration::from_millis(5)
            } else {
                (self.scan_delay * 2).min(self.profile.max_scan_delay)
            };
        } else if late <= 1 {
            self.scan_delay /= 4;
            if self.scan_delay < Duration::from_millis(1) {
                self.scan_delay = Duration::ZERO;
            }
        }
    }

    /// Current per-host send delay (zero unless loss was detected).
    pub fn scan_delay(&self) -> Duration {
        self.scan_delay
    }

    /// When the next probe to this host may leave, given the loss-driven delay
    /// and a per-host rate gap `min_gap` (does not reserve the slot).
    pub fn next_send(&self, now: Instant, min_gap: Duration) -> Instant {
        if self.scan_delay.max(min_gap).is_zero() {
            return now;
        }
        self.next_send.map_or(now, |t| t.max(now))
    }

    /// Reserves the send slot at `at` (as returned by [`HostTiming::next_send`]).
    pub fn commit_send(&mut self, at: Instant, min_gap: Duration) {
        let gap = self.scan_delay.max(min_gap);
        if !gap.is_zero() {
            self.next_send = Some(at + gap);
        }
    }

    /// Takes another state's RTT estimate while this one has none.
    pub fn seed_rtt(&mut self, group: &HostTiming) {
        if self.srtt_us.is_none() {
            self.srtt_us = group.srtt_us;
            self.rttvar_us = group.rttvar_us;
        }
    }

    /// A fresh state that starts from another state's RTT estimate (used to
    /// seed a new host from what the scan has learned so far).
    pub fn seeded_from(group: &HostTiming) -> HostTiming {
        HostTiming {
            srtt_us: group.srtt_us,
            rttvar_us: group.rttvar_us,
            ..HostTiming::fresh(group.profile.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn timeout_follows_samples_and_clamps() {
        let mut t = HostTiming::new(TimingProfile::NORMAL);
        assert_eq!(t.timeout(), ms(1000));
        for _ in 0..50 {
            t.record(Sample::Answered {
                rtt: ms(20),
                try_no: 1,
            });
        }
        let to = t.timeout();
        assert!(to >= ms(100) && to < ms(200), "{to:?}");
        let mut slow = HostTiming::new(TimingProfile::NORMAL);
        slow.record(Sample::Answered {
            rtt: ms(2900),
            try_no: 1,
        });
        assert_eq!(slow.timeout(), ms(3000));
    }

    #[test]
    fn syn_schedule_counts_the_kernels_retransmissions() {
        let linear = SynSchedule::with_linear(4);
        let doubling = SynSchedule::with_linear(0);
        assert_eq!(linear.retransmission_at(2), Duration::from_secs(2));
        assert_eq!(doubling.retransmission_at(2), Duration::from_secs(3));
        assert_eq!(doubling.retransmission_at(1), KERNEL_SYN_RTO);
        assert_eq!(doubling.lost_to_retransmission(ms(3)), Duration::ZERO);
        assert_eq!(doubling.lost_to_retransmission(ms(1004)), KERNEL_SYN_RTO);
        assert_eq!(doubling.lost_to_retransmission(ms(3100)), ms(3000));
        assert_eq!(linear.syns_by(ms(999)), 1);
        assert_eq!(linear.syns_by(ms(1400)), 2);
        assert_eq!(doubling.syns_by(ms(1400)), 2);
        assert_eq!(linear.syns_by(ms(2400)), 3);
        assert_eq!(doubling.syns_by(ms(2400)), 2);
        assert_eq!(doubling.syns_by(ms(3100)), 3);
        assert_eq!(linear.syns_by(ms(5100)), 6);
        assert_eq!(linear.syns_by(ms(7100)), 7);
        assert_eq!(linear.clear_of_retransmission(ms(1000)), ms(950));
        assert_eq!(linear.clear_of_retransmission(ms(1040)), ms(950));
        assert_eq!(linear.clear_of_retransmission(ms(960)), ms(950));
        assert_eq!(linear.clear_of_retransmission(ms(900)), ms(900));
        assert_eq!(linear.clear_of_retransmission(ms(1350)), ms(1350));
        assert_eq!(doubling.clear_of_retransmission(ms(2000)), ms(2000));
        assert_eq!(doubling.clear_of_retransmission(ms(3020)), ms(2950));
        assert_eq!(linear.last_syn_before(ms(1300)), ms(1000));
        assert_eq!(linear.last_syn_before(ms(300)), Duration::ZERO);
        assert_eq!(doubling.last_syn_before(ms(3300)), ms(3000));
        assert!(TimingProfile::NORMAL.blind_plan() && TimingProfile::NORMAL.overlap());
        let short = TimingProfile {
            blind_life: ms(200),
            ..TimingProfile::NORMAL
        };
        assert!(!short.blind_plan() && !short.overlap());
        let one_retry = TimingProfile {
            max_retries: 1,
            ..TimingProfile::NORMAL
        };
        assert!(one_retry.blind_plan() && !one_retry.overlap());
        let mut slow = HostTiming::new(TimingProfile::NORMAL);
        assert!(slow.wants_blind_plan(), "no sample yet");
        slow.record(Sample::Answered {
            rtt: ms(300),
            try_no: 1,
        });
        assert!(slow.wants_blind_plan(), "one slow answer: timeout 1.5 s");
        for _ in 0..20 {
            slow.record(Sample::Answered {
                rtt: ms(300),
                try_no: 1,
            });
        }
        assert!(!slow.wants_blind_plan(), "settled: {:?}", slow.timeout());
        let mut near = HostTiming::new(TimingProfile::NORMAL);
        near.record(Sample::Answered {
            rtt: ms(20),
            try_no: 1,
        });
        assert!(!near.wants_blind_plan());
        let mut far = HostTiming::new(TimingProfile::NORMAL);
        far.record(Sample::Answered {
            rtt: ms(900),
            try_no: 1,
        });
        assert!(!far.wants_blind_plan(), "beyond the grace");
    }

    #[test]
    fn retries_grow_only_when_they_pay_off() {
        let n = HostTiming::new(TimingProfile::NORMAL);
        assert!(n.may_retry(2));
        assert!(!n.may_retry(3));
        let mut t = HostTiming::new(TimingProfile::FAST);
        assert!(t.may_retry(1));
        assert!(!t.may_retry(2));
        t.record(Sample::Answered {
            rtt: ms(20),
            try_no: 2,
        });
        assert!(t.may_retry(2));
        assert!(!t.may_retry(3));
        t.record(Sample::Answered {
            rtt: ms(20),
            try_no: 3,
        });
        assert!(t.may_retry(3));
        let mut capped = HostTiming::new(TimingProfile {
            max_retries: 0,
            ..TimingProfile::NORMAL
        });
        assert!(!capped.may_retry(1));
        capped.record(Sample::Answered {
            rtt: ms(1),
            try_no: 4,
        });
        assert!(!capped.may_retry(1));
    }

    #[test]
    fn silence_proves_nothing_only_on_a_lossy_host_out_of_retries() {
        let answer = |t: &mut HostTiming, try_no| t.record(Sample::Answered { rtt: ms(1), try_no });
        let mut random_loss = HostTiming::new(TimingProfile::NORMAL);
        for i in 0..40 {
            answer(&mut random_loss, if i % 20 == 0 { 2 } else { 1 });
        }
        assert!(!random_loss.silence_unproven(3));
        assert!(!random_loss.silence_unproven(7));
        let mut limited = HostTiming::new(TimingProfile::NORMAL);
        for i in 0..12 {
            answer(&mut limited, 1 + (i % 3));
        }
        assert!(limited.silence_unproven(3), "answers came on try 3");
        assert!(!limited.silence_unproven(4), "none came on try 4");
        assert!(limited.silence_unproven(7), "the ceiling");
        let mut one_late = HostTiming::new(TimingProfile::NORMAL);
        answer(&mut one_late, 2);
        assert!(!one_late.silence_unproven(7), "too few answers to judge");
        let mut on_time = HostTiming::new(TimingProfile::NORMAL);
        for _ in 0..10 {
            answer(&mut on_time, 1);
        }
        assert!(!on_time.silence_unproven(7), "no late answer at all");
    }

    #[test]
    fn loss_builds_a_send_delay() {
        let mut t = HostTiming::new(TimingProfile::NORMAL);
        for _ in 0..20 {
            t.record(Sample::Answered {
                rtt: ms(20),
                try_no: 1,
            });
        }
        assert!(t.scan_delay().is_zero());
        for _ in 0..12 {
            t.record(Sample::Answered {
                rtt: ms(20),
                try_no: 2,
            });
        }
        assert_eq!(t.scan_delay(), ms(5));
        assert!(!t.pacing(), "no retransmission has gone unanswered");
        for _ in 0..30 {
            t.sent_retransmission();
        }
        assert!(t.pacing(), "12 of 30 retransmissions answered");
        let now = Instant::now();
        let a = t.next_send(now, Duration::ZERO);
        t.commit_send(a, Duration::ZERO);
        let b = t.next_send(now, Duration::ZERO);
        assert_eq!(b - a, ms(5));
    }

    #[test]
    fn the_delay_decays_once_answers_come_on_time_again() {
        let mut t = HostTiming::new(TimingProfile::NORMAL);
        for _ in 0..(DELAY_WINDOW * 6) {
            t.record(Sample::Answered {
                rtt: ms(1),
                try_no: 2,
            });
        }
        assert!(t.scan_delay() >= ms(80), "{:?}", t.scan_delay());
        for _ in 0..(DELAY_WINDOW * 6) {
            t.record(Sample::Answered {
                rtt: ms(1),
                try_no: 1,
            });
        }
        assert!(t.scan_delay().is_zero(), "{:?}", t.scan_delay());
    }
}
