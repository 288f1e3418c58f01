//! Bounded I/O for probing hostile peers: every read is capped by the port's
//! byte budget, an idle window and the port's absolute deadline (a tarpit that
//! drips a byte a second cannot extend it); every write has a deadline.
//! Silence after a probe counts only once the peer has the probe: while the
//! kernel still retransmits a lost segment, [`read_reply`] waits on, and the
//! time a lost segment or SYN costs moves the deadline by as much, up to a
//! credit of half the port's time (a peer that never acknowledges cannot
//! stretch it further).

use socket2::SockRef;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A probing connection, plain or TLS, that can reach its TCP socket.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {
    /// The underlying TCP stream.
    fn tcp(&self) -> &TcpStream;
}

impl Io for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// Makes dropping `s` send a RST instead of a FIN (see [`crate::scan::connect::abort`]).
pub fn rst_on_close(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
}

/// Sends our FIN ahead of the RST that dropping `s` then sends (see
/// [`rst_on_close`]). A RST is never retransmitted: when it is lost, a server
/// that serves one connection at a time (Tomcat's shutdown port, a Zabbix
/// agent's few workers) waits out its own read timeout on a dead connection
/// and refuses the next one. The FIN is a second, independent packet that
/// tells it the same.
pub fn hang_up(s: &TcpStream) {
    let _ = SockRef::from(s).shutdown(std::net::Shutdown::Write);
}

/// What is left of one port's budget.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Absolute end of the port's identification.
    pub deadline: Instant,
    /// Bytes that may still be read.
    pub bytes_left: usize,
    /// How much further the link's retransmissions may still move the
    /// deadline ([`Budget::extend`]).
    pub credit: Duration,
}

impl Budget {
    /// A budget of `time` from now and `bytes`, with a credit of `time / 2`
    /// for retransmissions.
    pub fn new(time: Duration, bytes: usize) -> Budget {
        Budget {
            deadline: Instant::now() + time,
            bytes_left: bytes,
            credit: time / 2,
        }
    }

    /// Moves the deadline by `lost` (time the link's retransmissions cost,
    /// not the peer's), as far as the credit allows.
    pub fn extend(&mut self, lost: Duration) {
        let by = lost.min(self.credit);
        self.deadline += by;
        self.credit -= by;
    }

    /// Takes in what a copy of this budget, used by a parallel exchange, was
    /// extended by (the later deadline, the smaller credit).
    pub fn join(&mut self, copy: &Budget) {
        self.deadline = self.deadline.max(copy.deadline);
        self.credit = self.credit.min(copy.credit);
    }

    /// Whether time or bytes have run out.
    pub fn spent(&self) -> bool {
        self.bytes_left == 0 || Instant::now() >= self.deadline
    }

    /// Time left.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Why a read stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The `done` predicate accepted the data.
    Done,
    /// The peer closed (FIN, or TLS EOF without close_notify).
    Eof,
    /// The peer reset the connection (it closed with our bytes unread).
    Reset,
    /// No data for the idle window.
    Idle,
    /// The port's deadline passed.
    Deadline,
    /// The port's byte budget is used up.
    Full,
}

impl End {
    /// Whether the port's budget ran out.
    pub fn exhausted(self) -> bool {
        matches!(self, End::Deadline | End::Full)
    }

    /// Whether the peer closed, by FIN or by RST.
    pub fn closed(self) -> bool {
        matches!(self, End::Eof | End::Reset)
    }
}

/// Reads into `buf` until `done(buf)`, EOF, `first` without any byte (or
/// `gap` after the last byte), the deadline, or the byte budget.
pub async fn read_until<S: AsyncRead + Unpin + ?Sized>(
    s: &mut S,
    buf: &mut Vec<u8>,
    budget: &mut Budget,
    first: Duration,
    gap: Duration,
    mut done: impl FnMut(&[u8]) -> bool,
) -> End {
    let start_len = buf.len();
    let mut checked = buf.len();
    let mut chunk = [0u8; 4096];
    loop {
        if budget.bytes_left == 0 {
            return End::Full;
        }
        let wait = if buf.len() == start_len { first } else { gap };
        let until = (Instant::now() + wait).min(budget.deadline);
        let want = chunk.len().min(budget.bytes_left);
        let read = tokio::time::timeout_at(until.into(), s.read(&mut chunk[..want])).await;
        match read {
            Err(_) if Instant::now() >= budget.deadline => return End::Deadline,
            Err(_) => return End::Idle,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => return End::Reset,
            Ok(Ok(0)) | Ok(Err(_)) => return End::Eof,
            Ok(Ok(n)) => {
                budget.bytes_left -= n;
                buf.extend_from_slice(&chunk[..n]);
                // Matching on every dripped byte would be quadratic: check on
                // line ends, every 512 bytes, or while the reply is short.
                let fresh = &buf[checked..];
                if buf.len() < 512 || fresh.contains(&b'\n') || fresh.len() >= 512 {
                    checked = buf.len();
                    if done(&buf[start_len..]) {
                        return End::Done;
                    }
                }
            }
        }
    }
}

/// Most times [`read_reply`] waits on for a probe still being retransmitted.
const LOSS_WAITS: usize = 3;

/// The kernel's current retransmission timeout when bytes sent on `s` are
/// not yet acknowledged (a lost segment being resent), else `None`.
pub fn unacked_rto(s: &TcpStream) -> Option<Duration> {
    // SAFETY: tcp_info is plain old data; the kernel writes at most `len`
    // bytes into it, and the descriptor belongs to the live stream `s`.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    (rc == 0 && info.tcpi_unacked > 0).then(|| Duration::from_micros(u64::from(info.tcpi_rto)))
}

/// [`read_until`] on a probing connection, except that a first window that
/// ends in silence while the peer has not acknowledged our bytes is extended
/// by the retransmission timeout (Linux resends after ≥ 200 ms, longer than
/// a reply window on a fast link), at most [`LOSS_WAITS`] times, and the
/// deadline with it ([`Budget::extend`]). Also says whether it waited so,
/// when the reply's latency is the loss's, not the peer's.
pub async fn read_reply(
    io: &mut dyn Io,
    buf: &mut Vec<u8>,
    budget: &mut Budget,
    first: Duration,
    gap: Duration,
    mut done: impl FnMut(&[u8]) -> bool,
) -> (End, bool) {
    let start_len = buf.len();
    let mut wait = first;
    let mut resent = false;
    for _ in 0..=LOSS_WAITS {
        let end = read_until(&mut *io, buf, budget, wait, gap, &mut done).await;
        if end != End::Idle || buf.len() > start_len {
            return (end, resent);
        }
        let Some(rto) = unacked_rto(io.tcp()) else {
            return (end, resent);
        };
        resent = true;
        budget.extend(rto);
        wait = rto + first;
    }
    (End::Idle, resent)
}

/// Writes all of `data` and flushes, giving up at `timeout` or the deadline.
pub async fn send<S: AsyncWrite + Unpin + ?Sized>(
    s: &mut S,
    data: &[u8],
    budget: &Budget,
    timeout: Duration,
) -> bool {
    let until = (Instant::now() + timeout).min(budget.deadline);
    let write = async {
        s.write_all(data).await?;
        s.flush().await
    };
    matches!(
        tokio::time::timeout_at(until.into(), write).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_peer_that_never_reads_cannot_block_a_write() {
        // A zero-window tarpit: the peer's buffer fills and stays full.
        let (mut a, _never_read) = tokio::io::duplex(64);
        let big = vec![0u8; 1 << 20];
        let budget = Budget::new(Duration::from_secs(30), 1000);
        let t = Instant::now();
        assert!(!send(&mut a, &big, &budget, Duration::from_millis(100)).await);
        let short = Budget::new(Duration::from_millis(100), 1000);
        assert!(!send(&mut a, &big, &short, Duration::from_secs(30)).await);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn retransmissions_move_the_deadline_within_the_credit() {
        let mut b = Budget::new(Duration::from_secs(4), 10);
        let end = b.deadline;
        b.extend(Duration::from_millis(1500));
        assert_eq!(b.deadline, end + Duration::from_millis(1500));
        let mut copy = b;
        copy.extend(Duration::from_secs(5));
        assert_eq!(
            copy.deadline,
            end + Duration::from_secs(2),
            "capped at half"
        );
        assert_eq!(copy.credit, Duration::ZERO);
        b.join(&copy);
        assert_eq!((b.deadline, b.credit), (copy.deadline, Duration::ZERO));
        b.extend(Duration::from_secs(1));
        assert_eq!(b.deadline, end + Duration::from_secs(2));
    }

    #[tokio::test]
    async fn stops_on_done_budget_and_deadline() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        b.write_all(b"hello\r\nworld").await.unwrap();
        let mut budget = Budget::new(Duration::from_secs(5), 1000);
        let mut buf = Vec::new();
        let d = Duration::from_millis(200);
        let end = read_until(&mut a, &mut buf, &mut budget, d, d, |b| {
            b.starts_with(b"hello\r\n")
        })
        .await;
        assert_eq!(end, End::Done);
        assert_eq!(budget.bytes_left, 1000 - buf.len());

        b.write_all(&[b'x'; 100]).await.unwrap();
        let mut small = Budget::new(Duration::from_secs(5), 10);
        let mut buf = Vec::new();
        assert_eq!(
            read_until(&mut a, &mut buf, &mut small, d, d, |_| false).await,
            End::Full
        );
        assert_eq!(buf.len(), 10);

        let mut short = Budget::new(Duration::from_millis(50), 1000);
        let mut buf = Vec::new();
        let long = Duration::from_secs(5);
        let (mut c, _keep) = tokio::io::duplex(64);
        assert_eq!(
            read_until(&mut c, &mut buf, &mut short, long, long, |_| false).await,
            End::Deadline
        );
        drop(b);
        let mut buf = Vec::new();
        let mut budget = Budget::new(Duration::from_secs(5), 1000);
        let end = read_until(&mut a, &mut buf, &mut budget, d, d, |_| false).await;
        assert_eq!(end, End::Eof, "{buf:?}");
    }
}
