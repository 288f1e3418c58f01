//! Connections of one port's session: opening (TCP, TLS, greeting drained),
//! reuse, bounded reads and one probe's exchange.
//!
//! A text probe reuses the current connection when the last exchange left
//! the stream clean (a reply read to its end, an HTTP response framed and
//! kept alive); after silence or a close it gets a new one, and a dialogue
//! always does. Every new TCP connection is counted, from its attempt.

use super::io::{self, End};
use super::{http, tls, Conn, Layer, Session};
use crate::scan::connect::{attempt, Attempt};
use crate::scan::timing::SynSchedule;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Longest wait for a TCP connect: past the third SYN, so that two lost
/// SYNs in a row do not end the walk.
pub(super) fn connect_limit(budget: &io::Budget) -> Duration {
    budget
        .remaining()
        .min(SynSchedule::third_syn() + Duration::from_millis(500))
}

/// A probing connection to `addr` under `budget`, each connect counted in
/// `opened` as it starts. A connect that times out is made once more: three
/// SYNs lost in a row happen once in 8,000 connects behind 5% loss, and a
/// whole-host walk makes thousands. The time lost SYNs cost moves the
/// deadline ([`io::Budget::extend`]).
pub(super) async fn probe_connect(
    addr: SocketAddr,
    budget: &mut io::Budget,
    opened: &AtomicU32,
) -> Option<TcpStream> {
    for _ in 0..2 {
        if budget.spent() {
            break;
        }
        opened.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        match attempt(addr, connect_limit(budget)).await {
            Attempt::Open { stream, .. } => {
                io::rst_on_close(&stream);
                let lost = SynSchedule::of_this_host().lost_to_retransmission(start.elapsed());
                budget.extend(lost);
                return Some(stream);
            }
            Attempt::TimedOut => budget.extend(start.elapsed()),
            _ => break,
        }
    }
    None
}

impl Session<'_> {
    /// A new TCP connection for this port ([`probe_connect`]); without one
    /// the port is exhausted (no budget left) or dead.
    pub(super) async fn connect_tcp(&mut self) -> Option<TcpStream> {
        let opened = AtomicU32::new(0);
        let stream = probe_connect(self.addr, &mut self.budget, &opened).await;
        self.connections += opened.into_inner();
        if stream.is_none() {
            if self.budget.spent() {
                self.exhausted = true;
            } else {
                self.dead = true;
            }
        }
        stream
    }

    /// A TLS handshake under the port's budget; with `window`, a handshake
    /// still unfinished after it counts as "not TLS" (a silent peer), not as
    /// the budget running out.
    pub(super) async fn handshake(
        &mut self,
        tcp: TcpStream,
        window: Option<Duration>,
    ) -> tls::Handshake {
        let mut budget = self.budget;
        if let Some(w) = window {
            budget.deadline = budget.deadline.min(Instant::now() + w);
        }
        let host = self.ctx.host.clone();
        let res = tls::handshake(tcp, host.as_deref(), self.addr.ip(), &mut budget).await;
        self.budget.bytes_left = budget.bytes_left;
        match res {
            tls::Handshake::Exhausted if window.is_some() && !self.budget.spent() => {
                tls::Handshake::NotTls(Vec::new())
            }
            other => other,
        }
    }

    /// A new connection in the current layer (greeting drained, if the port speaks first).
    pub(super) async fn connect(&mut self) -> Option<Conn> {
        let tcp = self.connect_tcp().await?;
        let mut conn = match self.layer {
            Layer::Plain => Conn::new(Box::new(tcp)),
            Layer::Tls => match self.handshake(tcp, None).await {
                tls::Handshake::Up(s, _) => Conn::new(s),
                tls::Handshake::Exhausted => {
                    self.exhausted = true;
                    return None;
                }
                _ => {
                    self.dead = true;
                    return None;
                }
            },
        };
        if self.spoke
            && !(self.layer == Layer::Tls && self.tls.as_ref().is_some_and(|t| t.alpn.is_some()))
        {
            // The port is known to greet: wait for the greeting as long as
            // a lost handshake ACK can delay it (a forking server under load,
            // munin-node's Perl, greets a second connection late too); the
            // read ends as soon as the greeting is whole.
            let mut drain = Vec::new();
            let w = self.greeting_window().max(super::GREETING_LOSS_FLOOR);
            let end = self
                .read(&mut conn, &mut drain, w, |b, s| s.greeting_done(b))
                .await;
            if end.closed() {
                return None;
            }
        }
        Some(conn)
    }

    /// The connection for a text probe: the current one if it is unused or
    /// was left clean, else a new one.
    pub(super) async fn acquire(&mut self) -> Option<Conn> {
        if let Some(c) = self.conn.take() {
            if c.family.is_none() || c.reusable {
                return Some(c);
            }
        }
        self.fresh().await
    }

    /// An unused connection (for a dialogue): the current one if nothing was
    /// sent on it, else a new one.
    pub(super) async fn fresh(&mut self) -> Option<Conn> {
        if let Some(c) = self.conn.take().filter(|c| c.family.is_none()) {
            return Some(c);
        }
        if self.dead || self.exhausted {
            return None;
        }
        self.connect().await
    }

    pub(super) async fn read<F>(
        &mut self,
        conn: &mut Conn,
        buf: &mut Vec<u8>,
        first: Duration,
        done: F,
    ) -> End
    where
        F: Fn(&[u8], &Session<'_>) -> bool,
    {
        let gap = self.gap();
        let mut budget = self.budget;
        let start = Instant::now();
        let me: &Session<'_> = self;
        let (end, resent) = io::read_reply(conn.io.as_mut(), buf, &mut budget, first, gap, |b| {
            done(b, me)
        })
        .await;
        self.budget = budget;
        if (end == End::Done || end.closed()) && !resent {
            self.slowest = self.slowest.max(start.elapsed());
        }
        if end.exhausted() {
            self.exhausted = true;
        }
        if !buf.is_empty() {
            self.any_bytes = true;
            if self.layer == Layer::Plain && tls::looks_like_tls(buf) {
                self.tls_hint = true;
            }
        }
        end
    }

    /// A probe's payload with `{host}` replaced.
    pub(super) fn payload(&self, raw: &[u8]) -> Vec<u8> {
        if !raw.windows(super::HOST.len()).any(|w| w == super::HOST) {
            return raw.to_vec();
        }
        let host = match &self.ctx.host {
            Some(h) => format!("{h}:{}", self.ctx.port),
            None => self.addr.to_string(),
        };
        super::with_host(raw, &host)
    }

    /// Sends probe `probe` on `conn` and reads its reply (first byte within
    /// `window`) until it is complete: a whole HTTP response for the `http`
    /// family, otherwise when `done` says so. Keeps the connection when the
    /// stream is still clean. A reply that only reflects the payload marks
    /// the port an echo.
    pub(super) async fn exchange(
        &mut self,
        mut conn: Conn,
        probe: usize,
        window: Duration,
        done: impl Fn(&[u8], &Session<'_>) -> bool,
    ) -> Vec<u8> {
        let p = &self.cat.probes()[probe];
        let family = p.family.clone();
        let data = self.payload(&p.payload);
        self.sent.insert(probe);
        conn.family = Some(family.clone());
        if !io::send(conn.io.as_mut(), &data, &self.budget, window).await {
            if self.budget.spent() {
                self.exhausted = true;
            }
            return Vec::new();
        }
        let mut reply = Vec::new();
        let http = family == "http";
        let sent = data.as_slice();
        let end = self
            .read(&mut conn, &mut reply, window, |b, s| {
                b == sent
                    || if http {
                        http::complete(b).is_some()
                    } else {
                        done(b, s)
                    }
            })
            .await;
        if !reply.is_empty() && self.first_reply.is_none() {
            self.first_reply = Some(reply.clone());
        }
        if reflects(&data, &reply) {
            self.echo = true;
        }
        conn.reusable = match end {
            End::Done | End::Idle if http && reply.starts_with(b"HTTP/") => {
                http::complete(&reply).is_some_and(|f| f.keep_alive)
            }
            // Silence: the peer may still hold our bytes, to be read with
            // the next probe's; only a new connection is clean.
            End::Done | End::Idle => !reply.is_empty(),
            _ => false,
        };
        if !end.closed() && !end.exhausted() {
            self.conn = Some(conn);
        }
        reply
    }
}

/// Whether `reply` is our own `sent` bytes coming back (an echo service),
/// whole or the first part of them.
pub(super) fn reflects(sent: &[u8], reply: &[u8]) -> bool {
    !reply.is_empty() && reply.len() >= sent.len().min(4) && sent.starts_with(reply)
}
