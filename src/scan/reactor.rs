//! Many connects in flight without a future, a timer or a tokio registration
//! per socket: the sweep's hot path.
//!
//! Each probe socket goes into one private epoll instance (`EPOLLOUT |
//! EPOLLONESHOT`, so closing the socket is its only deregistration), and that
//! epoll descriptor is the single thing tokio watches. Completions are taken
//! up to [`BATCH`] per `epoll_wait`; timeouts live in one binary heap and are
//! served by one tokio sleep. Per probe that leaves `socket`, `setsockopt`
//! (`IP_RECVERR`), `connect`, `epoll_ctl`, `getsockopt` (`SO_ERROR`) and
//! `close`, plus one error-queue read for refusals; the raw epoll loop in
//! `examples/raw_connect.rs` makes all but the `IP_RECVERR` ones too.
//! Outcomes are classified exactly as [`connect::attempt`] classifies them.
//!
//! A socket whose connect timed out is not closed but disconnected
//! (`connect(AF_UNSPEC)`: from `SYN_SENT` no segment leaves) and kept for
//! the next probe of its family, still in the epoll set: that probe costs a
//! `connect` and an `EPOLL_CTL_MOD` instead of a new socket, its option and
//! a close, about a third less kernel time per SYN behind a DROP firewall.
//! The kept sockets replace the ones that timed out, so descriptors in use
//! never exceed the window.

use super::connect::{self, Attempt};
use socket2::{SockAddr, Socket};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::time::Sleep;

/// Most completions taken per `epoll_wait`.
pub const BATCH: usize = 512;

/// Most disconnected sockets kept per family for reuse.
const SPARE_MAX: usize = BATCH;

/// How one connect ended.
#[derive(Debug)]
pub enum ConnectEnd {
    /// Handshake completed. The socket is handed over only when the set keeps
    /// open sockets; otherwise it has been closed with RST.
    Open {
        /// The connected socket (non-blocking), if kept.
        stream: Option<std::net::TcpStream>,
        /// Time to complete the handshake.
        rtt: Duration,
    },
    /// Anything else, as [`connect::attempt`] would report it (never `Open`).
    Ended(Attempt),
}

struct Slot<T> {
    sock: Option<Socket>,
    v6: bool,
    generation: u32,
    start: Instant,
    deadline: Instant,
    token: Option<T>,
}

/// A set of connects in flight, each carrying a caller's token `T`.
pub struct ConnectSet<T> {
    epoll: AsyncFd<OwnedFd>,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    ready: VecDeque<(T, ConnectEnd)>,
    events: Vec<libc::epoll_event>,
    sleep: Pin<Box<Sleep>>,
    live: usize,
    keep_open: bool,
    /// Disconnected sockets for reuse, IPv4 then IPv6; still registered in
    /// the epoll set (disarmed by the wake-up the disconnect caused).
    spare: [Vec<Socket>; 2],
}

impl<T> ConnectSet<T> {
    /// An empty set; `keep_open` hands open sockets to the caller instead of
    /// resetting them. Must be called inside a tokio runtime.
    pub fn new(keep_open: bool) -> io::Result<ConnectSet<T>> {
        // SAFETY: epoll_create1 has no preconditions; the fd is checked and owned below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open
        // and the same for the AsyncFd's whole life.
        let epoll =
            unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?;
        Ok(ConnectSet {
            epoll,
            slots: Vec::new(),
            free: Vec::new(),
            deadlines: BinaryHeap::new(),
            ready: VecDeque::new(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; BATCH],
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            live: 0,
            keep_open,
            spare: [Vec::new(), Vec::new()],
        })
    }

    /// Connects in flight plus outcomes not yet taken.
    pub fn len(&self) -> usize {
        self.live + self.ready.len()
    }

    /// True when nothing is in flight and nothing is waiting to be taken.
    /// Whether [`ConnectSet::next`] has a completion to return without waiting.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts a connect to `addr` that times out after `timeout`. Failures
    /// known at once (EMFILE, ENETUNREACH...) come back from [`Self::next`]
    /// like any other outcome.
    pub fn start(&mut self, addr: SocketAddr, timeout: Duration, token: T) {
        self.start_near(addr, timeout, token, false);
    }

    /// Like [`ConnectSet::start`]; with `near` (a peer a fraction of a
    /// millisecond away: loopback, a veth or bridge on this machine) the
    /// answer has often been processed inside `connect` itself, so the
    /// socket's error is read before registering it: a refusal then costs
    /// neither the `epoll_ctl` nor the epoll removal at `close`.
    pub fn start_near(&mut self, addr: SocketAddr, timeout: Duration, token: T, near: bool) {
        let v6 = addr.is_ipv6();
        let reused = self.spare[usize::from(v6)].pop();
        if reused.is_none() {
            // Keep descriptors within the window: a spare of the other
            // family gives its place to this new socket.
            drop(self.spare[usize::from(!v6)].pop());
        }
        let registered = reused.is_some();
        let sock = match reused.map_or_else(|| connect::probe_socket(&addr), Ok) {
            Ok(s) => s,
            Err(e) => {
                return self
                    .ready
                    .push_back((token, ConnectEnd::Ended(Attempt::Local(e))))
            }
        };
        let start = Instant::now();
        match sock.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                if near {
                    if let Ok(Some(e)) = sock.take_error() {
                        let a = connect::classify_error(e, &sock, start.elapsed());
                        return self.ready.push_back((token, ConnectEnd::Ended(a)));
                    }
                }
            }
            Err(e) => {
                let a = connect::classify_error(e, &sock, start.elapsed());
                return self.ready.push_back((token, ConnectEnd::Ended(a)));
            }
        }
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                sock: None,
                v6,
                generation: 0,
                start,
                deadline: start,
                token: None,
            });
            (self.slots.len() - 1) as u32
        });
        let slot = &mut self.slots[idx as usize];
        slot.generation = slot.generation.wrapping_add(1);
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLOUT | libc::EPOLLONESHOT) as u32,
            u64: u64::from(idx) | (u64::from(slot.generation) << 32),
        };
        let op = if registered {
            libc::EPOLL_CTL_MOD
        } else {
            libc::EPOLL_CTL_ADD
        };
        // SAFETY: both descriptors are open; ev lives across the call.
        let rc = unsafe {
            libc::epoll_ctl(
                self.epoll.get_ref().as_raw_fd(),
                op,
                sock.as_raw_fd(),
                &mut ev,
            )
        };
        if rc != 0 {
            self.free.push(idx);
            let e = io::Error::last_os_error();
            return self
                .ready
                .push_back((token, ConnectEnd::Ended(Attempt::Local(e))));
        }
        slot.sock = Some(sock);
        slot.v6 = v6;
        slot.start = start;
        slot.deadline = start + timeout;
        slot.token = Some(token);
        self.deadlines
            .push(Reverse((slot.deadline, idx, slot.generation)));
        self.live += 1;
    }

    /// The next outcome, waiting for one if need be; `None` when the set is
    /// empty. Cancel-safe: an outcome is only taken out when it is returned.
    pub async fn next(&mut self) -> Option<(T, ConnectEnd)> {
        loop {
            if let Some(done) = self.ready.pop_front() {
                return Some(done);
            }
            if self.live == 0 {
                return None;
            }
            self.harvest();
            if !self.ready.is_empty() {
                continue;
            }
            let timed = match self.deadlines.peek() {
                Some(Reverse((deadline, _, _))) => {
                    self.sleep.as_mut().reset((*deadline).into());
                    true
                }
                None => false,
            };
            tokio::select! {
                biased;
                guard = self.epoll.readable() => match guard {
                    Ok(mut g) => g.clear_ready(),
                    Err(e) => self.fail_all(e),
                },
                _ = self.sleep.as_mut(), if timed => {}
            }
        }
    }

    /// Takes every completion the kernel has, then every expired timeout.
    /// The kernel's ready list is drained before any timeout is declared: a
    /// socket that was answered but not yet read must not time out.
    fn harvest(&mut self) {
        let mut now;
        loop {
            // SAFETY: events has room for the count passed; the epoll fd is open.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.get_ref().as_raw_fd(),
                    self.events.as_mut_ptr(),
                    self.events.len() as libc::c_int,
                    0,
                )
            };
            now = Instant::now();
            for i in 0..n.max(0) as usize {
                let ev = self.events[i];
                let (idx, generation) = (ev.u64 as u32, (ev.u64 >> 32) as u32);
                let Some((sock, start, token)) = self.take(idx, generation) else {
                    continue;
                };
                let outcome = conclude(sock, ev.events, now - start, self.keep_open);
                self.ready.push_back((token, outcome));
            }
            if (n.max(0) as usize) < self.events.len() {
                break;
            }
        }
        while let Some(&Reverse((deadline, idx, generation))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            let current = self
                .slots
                .get(idx as usize)
                .is_some_and(|s| s.generation == generation && s.deadline <= now);
            if !current {
                continue;
            }
            let v6 = self.slots[idx as usize].v6;
            if let Some((sock, _, token)) = self.take(idx, generation) {
                self.recycle(sock, v6);
                self.ready
                    .push_back((token, ConnectEnd::Ended(Attempt::TimedOut)));
            }
        }
    }

    /// Brings deadlines forward: `pick` sees each connect in flight (and may
    /// change its token) and returns the timeout, counted from the connect's
    /// start, that it should have instead; only a shorter one is applied.
    /// Used when a host that gave no RTT sample yet answers at last, so that
    /// the connects sent to it blind stop waiting the long timeout.
    pub fn tighten(&mut self, mut pick: impl FnMut(&mut T) -> Option<Duration>) {
        for (idx, slot) in self.slots.iter_mut().enumerate() {
            let (Some(_), Some(token)) = (&slot.sock, &mut slot.token) else {
                continue;
            };
            let Some(timeout) = pick(token) else {
                continue;
            };
            let deadline = slot.start + timeout;
            if deadline < slot.deadline {
                slot.deadline = deadline;
                self.deadlines
                    .push(Reverse((deadline, idx as u32, slot.generation)));
            }
        }
    }

    /// Keeps a socket whose connect timed out for the next probe of its
    /// family: disconnected (`connect` with `AF_UNSPEC`), its error (the
    /// disconnect's `ECONNRESET`) cleared. Closed instead when the pool is
    /// full or the disconnect fails.
    fn recycle(&mut self, sock: Socket, v6: bool) {
        let pool = &mut self.spare[usize::from(v6)];
        if pool.len() >= SPARE_MAX {
            return;
        }
        // SAFETY: an all-zero sockaddr is valid; only its family is read.
        let mut unspec: libc::sockaddr = unsafe { std::mem::zeroed() };
        unspec.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        // SAFETY: the socket is open; the address lives across the call.
        let rc = unsafe {
            libc::connect(
                sock.as_raw_fd(),
                &unspec,
                std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
            )
        };
        if rc == 0 && sock.take_error().is_ok() {
            pool.push(sock);
        }
    }

    /// Frees slot `idx` if it still holds the connect of `generation`.
    fn take(&mut self, idx: u32, generation: u32) -> Option<(Socket, Instant, T)> {
        let slot = self.slots.get_mut(idx as usize)?;
        if slot.generation != generation || slot.sock.is_none() {
            return None;
        }
        let sock = slot.sock.take()?;
        let token = slot.token.take()?;
        self.free.push(idx);
        self.live -= 1;
        Some((sock, slot.start, token))
    }

    /// Ends every connect in flight with a local error (the epoll
    /// registration itself failed: nothing can be learnt about them).
    fn fail_all(&mut self, e: io::Error) {
        for idx in 0..self.slots.len() as u32 {
            let generation = self.slots[idx as usize].generation;
            if let Some((_, _, token)) = self.take(idx, generation) {
                let err = io::Error::new(e.kind(), e.to_string());
                self.ready
                    .push_back((token, ConnectEnd::Ended(Attempt::Local(err))));
            }
        }
        self.deadlines.clear();
    }
}

/// Classifies a socket the kernel reported on (`events`), as
/// [`connect::attempt`] does.
fn conclude(sock: Socket, events: u32, rtt: Duration, keep_open: bool) -> ConnectEnd {
    let open = |sock: Socket| {
        let stream = if keep_open {
            Some(sock.into())
        } else {
            let _ = sock.set_linger(Some(Duration::ZERO));
            None
        };
        ConnectEnd::Open { stream, rtt }
    };
    match sock.take_error() {
        Ok(None) if connect::is_self_connect(&sock) => {
            connect::abort(sock);
            ConnectEnd::Ended(Attempt::SelfConnect)
        }
        Ok(None) if events & libc::EPOLLOUT as u32 != 0 => open(sock),
        // No error and not writable: connected only if the peer is known.
        Ok(None) => match sock.peer_addr() {
            Ok(_) => open(sock),
            Err(e) => ConnectEnd::Ended(connect::classify_error(e, &sock, rtt)),
        },
        // Set only after the handshake completed (a refused SYN gives
        // ECONNREFUSED): open, and reset at once.
        Ok(Some(e)) if e.raw_os_error() == Some(libc::ECONNRESET) => open(sock),
        Ok(Some(e)) | Err(e) => ConnectEnd::Ended(connect::classify_error(e, &sock, rtt)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Reason;

    #[tokio::test(flavor = "current_thread")]
    async fn loopback_open_closed_and_timeout() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = l.local_addr().unwrap();
        let closed = {
            let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            t.local_addr().unwrap()
        };
        let mut set = ConnectSet::new(true).unwrap();
        set.start(open, Duration::from_secs(2), 1u32);
        set.start(closed, Duration::from_secs(2), 2u32);
        let mut seen = Vec::new();
        while let Some((token, outcome)) = set.next().await {
            match (token, outcome) {
                (
                    1,
                    ConnectEnd::Open {
                        stream: Some(_), ..
                    },
                ) => seen.push(1),
                (2, ConnectEnd::Ended(Attempt::Answered { reason, .. })) => {
                    assert_eq!(reason, Reason::ConnRefused);
                    seen.push(2);
                }
                (t, o) => panic!("token {t}: unexpected {o:?}"),
            }
        }
        seen.sort();
        assert_eq!(seen, [1, 2]);
        assert!(set.is_empty());
    }

    /// A loopback port that drops SYNs: a listener with a backlog of 0
    /// whose one queue place is taken, so the kernel drops further SYNs.
    fn silent_port() -> (socket2::Socket, std::net::TcpStream, SocketAddr) {
        let l = Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        l.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))
            .unwrap();
        l.listen(0).unwrap();
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        let filler = std::net::TcpStream::connect(addr).unwrap();
        (l, filler, addr)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn tighten_brings_a_deadline_forward_and_only_forward() {
        let (_l, _filler, addr) = silent_port();
        let mut set = ConnectSet::new(false).unwrap();
        set.start(addr, Duration::from_secs(30), 1u32);
        set.start(addr, Duration::from_millis(100), 2u32);
        set.tighten(|t| {
            *t += 10;
            Some(Duration::from_millis(300))
        });
        let first = tokio::time::timeout(Duration::from_secs(5), set.next())
            .await
            .expect("the tightened deadline fired, not the 30 s one");
        assert!(
            matches!(first, Some((12, ConnectEnd::Ended(Attempt::TimedOut)))),
            "{first:?}"
        );
        let second = tokio::time::timeout(Duration::from_secs(5), set.next())
            .await
            .expect("the tightened deadline fired");
        assert!(
            matches!(second, Some((11, ConnectEnd::Ended(Attempt::TimedOut)))),
            "{second:?}"
        );
        assert!(set.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_timed_out_socket_is_reused_and_classifies_like_a_new_one() {
        let (_l, _filler, silent) = silent_port();
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = {
            let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            t.local_addr().unwrap()
        };
        let mut set = ConnectSet::new(true).unwrap();
        for t in 0..3u32 {
            set.start(silent, Duration::from_millis(50), t);
        }
        for _ in 0..3 {
            let end = set.next().await;
            assert!(matches!(
                end,
                Some((_, ConnectEnd::Ended(Attempt::TimedOut)))
            ));
        }
        assert_eq!((set.spare[0].len(), set.spare[1].len()), (3, 0));
        set.start(open.local_addr().unwrap(), Duration::from_secs(2), 10);
        set.start(closed, Duration::from_secs(2), 11);
        set.start(silent, Duration::from_millis(50), 12);
        let mut seen = Vec::new();
        while let Some((t, end)) = set.next().await {
            match (t, end) {
                (
                    10,
                    ConnectEnd::Open {
                        stream: Some(s), ..
                    },
                ) => {
                    assert_eq!(s.peer_addr().unwrap(), open.local_addr().unwrap());
                    seen.push(10);
                }
                (11, ConnectEnd::Ended(Attempt::Answered { reason, .. })) => {
                    assert_eq!(reason, Reason::ConnRefused);
                    seen.push(11);
                }
                (12, ConnectEnd::Ended(Attempt::TimedOut)) => seen.push(12),
                (t, o) => panic!("token {t}: unexpected {o:?}"),
            }
        }
        seen.sort();
        assert_eq!(seen, [10, 11, 12]);
        assert_eq!(set.spare[0].len(), 1, "the silent one came back");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn slots_are_reused_and_every_token_comes_back_once() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let mut set = ConnectSet::new(false).unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut back = vec![0u8; 300];
        let mut next = 0usize;
        while next < 300 || !set.is_empty() {
            while next < 300 && set.len() < 16 {
                set.start(addr, Duration::from_secs(2), next);
                next += 1;
            }
            let (t, _) = set.next().await.unwrap();
            back[t] += 1;
        }
        assert!(back.iter().all(|&c| c == 1));
        assert!(set.slots.len() <= 16);
    }
}
