//! A stand-in for `tc qdisc ... netem delay` on kernels built without
//! `sch_netem`: every packet sent to NFQUEUE queue `QUEUE` is held for
//! `DELAY_MS` and then accepted, in arrival order. Loss is left to the
//! kernel (`iptables -m statistic`). The benchmarks and the namespace tests
//! send one direction of a veth link here, for example the scanner's
//! ingress:
//!
//! ```sh
//! ip netns exec SCANNER iptables -t raw -A PREROUTING -i VETH -j NFQUEUE --queue-num 0
//! ip netns exec SCANNER target/release/examples/nfq_delay 0 300 &
//! ```
//!
//! It prints `ready` on stderr once bound. It ends on SIGTERM or SIGINT,
//! accepting what it still holds so that nothing stays stuck in the kernel's
//! queue. Only packet metadata is copied to userspace.
//!
//! Usage: `nfq_delay QUEUE DELAY_MS`

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// How long the loop sleeps at most between two reads of the queue (the
/// crate exposes no descriptor to poll): the delay's resolution.
const TICK: Duration = Duration::from_micros(500);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parsed = match args.as_slice() {
        [_, q, d] => q.parse::<u16>().ok().zip(d.parse::<u64>().ok()),
        _ => None,
    };
    let Some((queue_num, delay_ms)) = parsed else {
        eprintln!("usage: nfq_delay QUEUE DELAY_MS");
        std::process::exit(2);
    };
    if let Err(e) = run(queue_num, Duration::from_millis(delay_ms)) {
        eprintln!("nfq_delay: {e}");
        std::process::exit(1);
    }
}

fn run(queue_num: u16, delay: Duration) -> std::io::Result<()> {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let mut queue = nfq::Queue::open()?;
    queue.bind(queue_num)?;
    queue.set_copy_range(queue_num, 0)?;
    queue.set_queue_max_len(queue_num, 200_000)?;
    queue.set_fail_open(queue_num, true)?;
    queue.set_nonblocking(true);
    eprintln!(
        "nfq_delay: queue {queue_num}, {} ms: ready",
        delay.as_millis()
    );
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    let (mut total, mut peak) = (0u64, 0usize);
    while !STOP.load(Ordering::Relaxed) {
        loop {
            match queue.recv() {
                Ok(msg) => {
                    held.push_back((Instant::now() + delay, msg));
                    total += 1;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => break,
                Err(e) => return Err(e),
            }
        }
        peak = peak.max(held.len());
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            let (_, mut msg) = held.pop_front().expect("front exists");
            msg.set_verdict(nfq::Verdict::Accept);
            queue.verdict(msg)?;
        }
        let wait = held.front().map_or(TICK, |(due, _)| {
            due.saturating_duration_since(now).min(TICK)
        });
        std::thread::sleep(wait);
    }
    for (_, mut msg) in held {
        msg.set_verdict(nfq::Verdict::Accept);
        queue.verdict(msg)?;
    }
    eprintln!("nfq_delay: exit after {total} packets (at most {peak} held at once)");
    Ok(())
}
