//! The physical floor for a TCP connect sweep: libc epoll, non-blocking
//! connects, `N` sockets in flight, one fixed timeout, no retries, no
//! classification beyond "connected or not"; one thread, or `THREADS`
//! threads each with its own epoll and an interleaved share of the pairs.
//! `benches/sweep.sh` times it beside exposecheck; nothing else uses it.
//!
//! ```text
//! raw_connect ADDR[/PREFIX] FIRST-LAST [INFLIGHT] [TIMEOUT_MS] [THREADS]
//! ```
//!
//! Scans every address of the IPv4 network (or the one IPv4/IPv6 address)
//! on ports FIRST..=LAST, host-major, and prints the open `addr:port` pairs,
//! then one `probes N open N timeouts N secs S` line on stderr.

use std::collections::VecDeque;
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

struct Slot {
    fd: RawFd,
    seq: u64,
    addr: SocketAddr,
    deadline: Instant,
}

fn usage() -> ! {
    eprintln!("usage: raw_connect ADDR[/PREFIX] FIRST-LAST [INFLIGHT] [TIMEOUT_MS] [THREADS]");
    std::process::exit(2)
}

fn check(rc: libc::c_int, what: &str) -> libc::c_int {
    if rc < 0 {
        eprintln!("raw_connect: {what}: {}", io::Error::last_os_error());
        std::process::exit(1);
    }
    rc
}

/// Every address of `spec` (an address, or an IPv4 network with `/PREFIX`).
fn addresses(spec: &str) -> Box<dyn Iterator<Item = IpAddr>> {
    match spec.split_once('/') {
        None => Box::new(std::iter::once(spec.parse().unwrap_or_else(|_| usage()))),
        Some((a, p)) => {
            let base: Ipv4Addr = a.parse().unwrap_or_else(|_| usage());
            let prefix: u32 = p
                .parse()
                .ok()
                .filter(|p| *p <= 32)
                .unwrap_or_else(|| usage());
            let size = 1u64 << (32 - prefix);
            let first = u64::from(u32::from(base)) & !(size - 1);
            Box::new((first..first + size).map(|a| IpAddr::V4(Ipv4Addr::from(a as u32))))
        }
    }
}

/// A raw sockaddr for `addr`.
fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; every field written below fits in it.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// Closes with RST so no TIME_WAIT builds up on the scanner.
fn abort_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid fd, option points at a live linger struct.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const _ as *const libc::c_void,
            size_of::<libc::linger>() as libc::socklen_t,
        );
        libc::close(fd);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        usage();
    }
    let (first, last) = args[1]
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
        .unwrap_or_else(|| usage());
    let inflight: usize = args
        .get(2)
        .map_or(4096, |s| s.parse().unwrap_or_else(|_| usage()));
    let timeout = Duration::from_millis(
        args.get(3)
            .map_or(500, |s| s.parse().unwrap_or_else(|_| usage())),
    );
    let threads: usize = args
        .get(4)
        .map_or(1, |s| s.parse().unwrap_or_else(|_| usage()))
        .max(1);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|k| {
            let net = args[0].clone();
            std::thread::spawn(move || {
                let targets = addresses(&net)
                    .flat_map(|ip| (first..=last).map(move |p| SocketAddr::new(ip, p)))
                    .skip(k)
                    .step_by(threads);
                sweep(targets, inflight.div_ceil(threads), timeout)
            })
        })
        .collect();
    let (mut probes, mut open, mut timeouts) = (0u64, 0u64, 0u64);
    for w in workers {
        let (p, o, t) = w.join().expect("sweep thread");
        probes += p;
        open += o;
        timeouts += t;
    }
    eprintln!(
        "probes {probes} open {open} timeouts {timeouts} secs {:.3}",
        start.elapsed().as_secs_f64()
    );
}

/// Sweeps `targets` with `inflight` connects at once; (probes, open, timeouts).
fn sweep(
    mut targets: impl Iterator<Item = SocketAddr>,
    inflight: usize,
    timeout: Duration,
) -> (u64, u64, u64) {
    // SAFETY: plain syscalls on descriptors this function owns.
    let ep = check(
        unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) },
        "epoll_create1",
    );
    let mut slots: Vec<Option<Slot>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut order: VecDeque<(usize, u64)> = VecDeque::new();
    let mut live = 0usize;
    let (mut probes, mut open, mut timeouts) = (0u64, 0u64, 0u64);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut exhausted = false;
    loop {
        while live < inflight && !exhausted {
            let Some(addr) = targets.next() else {
                exhausted = true;
                break;
            };
            let family = if addr.is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            };
            // SAFETY: plain socket/connect/epoll_ctl calls with valid arguments.
            let fd = unsafe {
                libc::socket(
                    family,
                    libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    0,
                )
            };
            let fd = check(fd, "socket");
            let (ss, len) = sockaddr(&addr);
            probes += 1;
            // SAFETY: ss holds a valid sockaddr of length len.
            let rc = unsafe { libc::connect(fd, &ss as *const _ as *const libc::sockaddr, len) };
            if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINPROGRESS) {
                // SAFETY: fd is ours.
                unsafe { libc::close(fd) };
                continue;
            }
            let idx = free.pop().unwrap_or_else(|| {
                slots.push(None);
                slots.len() - 1
            });
            slots[idx] = Some(Slot {
                fd,
                seq: probes,
                addr,
                deadline: Instant::now() + timeout,
            });
            order.push_back((idx, probes));
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLOUT | libc::EPOLLONESHOT) as u32,
                u64: idx as u64,
            };
            // SAFETY: ep and fd are valid; ev lives across the call.
            check(
                unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) },
                "epoll_ctl",
            );
            live += 1;
        }
        if live == 0 && exhausted {
            break;
        }
        let now = Instant::now();
        let mut wait = order
            .iter()
            .find_map(|&(i, seq)| {
                slots[i]
                    .as_ref()
                    .filter(|s| s.seq == seq)
                    .map(|s| s.deadline.saturating_duration_since(now))
            })
            .map_or(100, |d| d.as_millis() as libc::c_int + 1);
        // Drain the ready list completely before timing anything out: an
        // answered socket not yet read must not count as a timeout.
        loop {
            // SAFETY: events has room for the count passed.
            let n = unsafe {
                libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as libc::c_int, wait)
            };
            if n < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                check(n, "epoll_wait");
            }
            for ev in &events[..n.max(0) as usize] {
                let idx = ev.u64 as usize;
                let Some(slot) = slots[idx].take() else {
                    continue;
                };
                let mut err: libc::c_int = 0;
                let mut len = size_of::<libc::c_int>() as libc::socklen_t;
                // SAFETY: err/len are live locals of the right size.
                unsafe {
                    libc::getsockopt(
                        slot.fd,
                        libc::SOL_SOCKET,
                        libc::SO_ERROR,
                        &mut err as *mut _ as *mut libc::c_void,
                        &mut len,
                    );
                }
                if err == 0 {
                    open += 1;
                    println!("{}", slot.addr);
                    abort_close(slot.fd);
                } else {
                    // SAFETY: fd is ours.
                    unsafe { libc::close(slot.fd) };
                }
                free.push(idx);
                live -= 1;
            }
            if (n.max(0) as usize) < events.len() {
                break;
            }
            wait = 0;
        }
        let now = Instant::now();
        while let Some(&(i, seq)) = order.front() {
            match &slots[i] {
                Some(s) if s.seq != seq => {
                    order.pop_front();
                }
                None => {
                    order.pop_front();
                }
                Some(s) if s.deadline <= now => {
                    // SAFETY: fd is ours.
                    unsafe { libc::close(s.fd) };
                    slots[i] = None;
                    free.push(i);
                    order.pop_front();
                    live -= 1;
                    timeouts += 1;
                }
                Some(_) => break,
            }
        }
    }
    // SAFETY: ep is ours.
    unsafe { libc::close(ep) };
    (probes, open, timeouts)
}
