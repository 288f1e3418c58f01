//! Running a port's [`Plan`]: probes, follow-ups, narrowing, dialogues.
//!
//! The first hard match of a specific service wins. A generic service's
//! match (plain HTTP, Express) on a port it does not name, or a soft match,
//! replaces the rest of the plan with the steps that can name it more
//! precisely ([`Session::narrowed`]); the generic match is the answer only if
//! none of them does. A service identified without a version also gets its
//! other probes. A reply that reflects the probe (an echo) ends the walk:
//! nothing such a peer says is a response-side signature.

use super::conn::reflects;
use super::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use super::io::{self, Budget, End, Io};
use super::plan::Plan;
use super::{tls, Conn, Found, Layer, Session};
use crate::catalog::matcher::fill;
use crate::catalog::ProbeKey;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Most follow-up probes after one match (and most extra probes of the
/// identified service).
const MAX_FOLLOW_UPS: usize = 4;
/// Most steps of one dialogue.
const MAX_DIALOGUE_STEPS: usize = 8;
/// Most dialogues of a batch connected at once: what a small server takes
/// at a time (Knot's listen backlog and Unbound's `incoming-num-tcp` are
/// 10; DNS goes alone before the batch, since Unbound past half of its
/// slots closes idle clients after 200 ms for the next 30 s), in two
/// rounds for the walk's nineteen dialogues.
const BATCH_WIDTH: usize = 10;

impl Session<'_> {
    /// Runs `queue` until a hit, the end, a budget or connection failure, an
    /// echo, or (clear text) a reason to try TLS first.
    pub(super) async fn walk(&mut self, queue: &mut VecDeque<Plan>) -> Option<Found> {
        loop {
            if let Some(si) = self.pending.take() {
                if !self.narrowed {
                    self.narrowed = true;
                    *queue = self.narrowed(si);
                }
            }
            if self.exhausted || self.dead || self.echo {
                return None;
            }
            if self.layer == Layer::Plain
                && (self.tls_hint || (self.wants_tls() && !self.sent.is_empty()))
            {
                return None;
            }
            let hit = match queue.pop_front()? {
                Plan::Probe(i) => self.run_probe(i).await,
                Plan::Code(d) => match d.first(&self.ctx) {
                    Some(first) => {
                        let conn = self.fresh().await;
                        self.drive(d, conn, 0, Ident::default(), first).await
                    }
                    None => None,
                },
                // A port that spoke first is not waiting for a client's hello.
                Plan::Batch(ds) if !self.spoke => self.batch(&ds).await,
                Plan::Batch(_) => None,
            };
            if hit.is_some() {
                return hit;
            }
        }
    }

    /// Sends probe `i`, after its guard unless the port already spoke.
    async fn run_probe(&mut self, i: usize) -> Option<Found> {
        if self.sent.contains(&i) {
            return None;
        }
        if let Some(g) = self.cat.probes()[i].guard {
            if !self.spoke && !self.sent.contains(&g) {
                if let Some(hit) = self.send_probe(g).await {
                    return Some(hit);
                }
                if self.exhausted
                    || self.dead
                    || self.echo
                    || (self.layer == Layer::Plain && self.tls_hint)
                {
                    return None;
                }
            }
        }
        self.send_probe(i).await
    }

    /// Hinted probes and those sent after a match get the full reply
    /// window; the rest of the walk a shorter one.
    fn window_for(&self, i: usize) -> Duration {
        if self.narrowed || self.cat.probes()[i].hint_ports.contains(&self.ctx.port) {
            self.reply_window()
        } else {
            self.walk_window()
        }
    }

    async fn send_probe(&mut self, i: usize) -> Option<Found> {
        let conn = self.acquire().await?;
        let key = ProbeKey::Probe(i);
        let window = self.window_for(i);
        let reply = self
            .exchange(conn, i, window, move |b, s| {
                s.cat.match_reply(key, b).settled()
            })
            .await;
        if reply.is_empty() || self.echo {
            return None;
        }
        if let Some(hit) = self.late_greeting(&reply).await {
            return hit;
        }
        let o = self.cat.match_reply(key, &reply);
        self.tls_hint |= o.tls_hint && self.layer == Layer::Plain;
        if let Some(id) = o.hard {
            return self.settle(id, o.then, reply).await;
        }
        if let Some(s) = o.soft {
            self.note_soft(s, reply);
        }
        None
    }

    /// A greeting that came after the greeting window, in front of the first
    /// reply of a port that had said nothing (ProFTPD greets ~300 ms after
    /// connect on a loopback link; any server does 1 s late when the last ACK
    /// of our handshake was lost): the server spoke first after all, and the
    /// greeting rules judge what it said. A coded protocol's greeting (MySQL's
    /// handshake) is judged on a new connection, its dialogue needing a
    /// stream our probe has not been sent on. `None` when it is not one.
    async fn late_greeting(&mut self, reply: &[u8]) -> Option<Option<Found>> {
        if self.spoke {
            return None;
        }
        let o = self.cat.match_reply(ProbeKey::Greeting, reply);
        if let Some(id) = o.hard {
            self.spoke = true;
            self.late = true;
            return Some(self.settle(id, o.then, reply.to_vec()).await);
        }
        if !self.coded_greeting(reply) {
            return None;
        }
        self.late = true;
        self.conn = None;
        let Some(conn) = self.connect().await else {
            return Some(None);
        };
        let (greeting, _) = self.read_greeting(conn, self.greeting_window()).await;
        Some(self.judge_greeting(greeting).await)
    }

    /// A hard match: follow it up; a generic one is kept and narrows the
    /// walk unless its service names this port.
    pub(super) async fn settle(
        &mut self,
        mut id: Ident,
        then: Option<usize>,
        reply: Vec<u8>,
    ) -> Option<Found> {
        let si = self.cat.services().iter().position(|s| s.id == id.service);
        self.follow(&mut id, then).await;
        if let Some(si) = si {
            if self.cat.service_at(si).generic && !self.cat.names_port(si, self.ctx.port) {
                self.generic.get_or_insert((id, reply));
                self.pending.get_or_insert(si);
                return None;
            }
            if id.version.is_none() {
                self.complete(&mut id, si).await;
            }
        }
        Some(Found::Hit(id, reply))
    }

    /// A soft match: kept (the first one) and the walk narrowed to it.
    pub(super) fn note_soft(&mut self, id: Ident, reply: Vec<u8>) {
        if let Some(si) = self.cat.services().iter().position(|s| s.id == id.service) {
            self.pending.get_or_insert(si);
        }
        if self.soft.is_none() {
            self.soft = Some((id, reply));
        }
    }

    /// Sends the follow-up probes a match asks for, refining `id`.
    async fn follow(&mut self, id: &mut Ident, mut next: Option<usize>) {
        let Some(svc) = self.cat.services().iter().position(|s| s.id == id.service) else {
            return;
        };
        for _ in 0..MAX_FOLLOW_UPS {
            let Some(fi) = next.filter(|fi| !self.sent.contains(fi)) else {
                return;
            };
            if self.exhausted || self.dead {
                return;
            }
            let Some(conn) = self.acquire().await else {
                return;
            };
            let key = ProbeKey::Probe(fi);
            let window = self.reply_window();
            let reply = self
                .exchange(conn, fi, window, move |b, s| {
                    s.cat
                        .rules()
                        .iter()
                        .any(|r| r.probe == key && r.service == svc && r.regex.is_match(b))
                })
                .await;
            if reply.is_empty() {
                return;
            }
            next = self.cat.refine(svc, fi, &reply, id);
        }
    }

    /// Sends the identified service's other probes (not yet sent) and fills
    /// the fields still empty from their matches (Jupyter named by a
    /// redirect gets its version from `/api`).
    async fn complete(&mut self, id: &mut Ident, si: usize) {
        let cat = self.cat;
        let probes = cat.probes();
        let mut own: Vec<usize> = (0..probes.len())
            .filter(|&i| !probes[i].follow_up && !self.sent.contains(&i))
            .filter(|&i| cat.probe_names(i, si))
            .collect();
        own.sort_by_key(|&i| probes[i].rank);
        for i in own.into_iter().take(MAX_FOLLOW_UPS) {
            if self.exhausted || self.dead {
                return;
            }
            let Some(conn) = self.acquire().await else {
                return;
            };
            let key = ProbeKey::Probe(i);
            let window = self.reply_window();
            let reply = self
                .exchange(conn, i, window, move |b, s| {
                    s.cat.match_reply(key, b).settled()
                })
                .await;
            let o = self.cat.match_reply(key, &reply);
            if let Some(more) = o.hard.filter(|m| m.service == id.service) {
                fill(id, more);
                self.follow(id, o.then).await;
            }
        }
    }

    /// Runs dialogue `d` on `conn` from `stage`, sending `send` first.
    pub(super) async fn drive(
        &mut self,
        d: &'static dyn Dialogue,
        conn: Option<Conn>,
        stage: usize,
        id: Ident,
        send: Vec<u8>,
    ) -> Option<Found> {
        let mut conn = conn?;
        let w = Windows {
            first: self.reply_window(),
            next: self.reply_window(),
            gap: self.gap(),
        };
        let mut budget = self.budget;
        let (from, mut settled) = ((stage, id), Settled(None));
        let talk = converse(
            conn.io.as_mut(),
            d,
            from,
            send,
            &mut budget,
            w,
            &mut settled,
        )
        .await;
        self.budget = budget;
        self.absorb(&talk);
        talk.hit().map(|(id, last)| Found::Hit(id, last))
    }

    /// Folds what one dialogue saw into the session.
    fn absorb(&mut self, t: &Talk) {
        if t.end.is_some_and(End::exhausted) && self.budget.spent() {
            self.exhausted = true;
        }
        if let Some(first) = &t.first {
            self.any_bytes = true;
            self.first_reply.get_or_insert_with(|| first.clone());
            if self.layer == Layer::Plain && tls::looks_like_tls(first) {
                self.tls_hint = true;
            }
        }
        if let Some(l) = t.latency {
            self.slowest = self.slowest.max(l);
        }
        self.echo |= t.echo;
    }

    /// Runs `ds`, each on its own new connection (TLS inside a TLS layer)
    /// with an equal share of the byte budget, at most [`BATCH_WIDTH`] at a
    /// time; the first to identify its service wins and the others are
    /// dropped (their connections, made or still being attempted, count).
    ///
    /// Places are filled in rounds: the next round starts once every
    /// dialogue of this one has had its first exchange (a reply, a close,
    /// its window, or no connection at all), and a dialogue still talking
    /// keeps its place. The connections a port takes so depend on the round
    /// its service is in, not on which wrong guess the server closed a
    /// moment sooner or which SYN the link lost, and a wrong guess that
    /// talks on holds no round back.
    async fn batch(&mut self, ds: &[&'static dyn Dialogue]) -> Option<Found> {
        self.conn = None;
        if ds.is_empty() || self.budget.spent() {
            self.exhausted |= self.budget.spent();
            return None;
        }
        let share = self.budget.bytes_left / ds.len();
        let (settle, mut settled) = mpsc::unbounded_channel();
        let lanes = Arc::new(Lanes {
            ctx: self.ctx.clone(),
            addr: self.addr,
            tls: (self.layer == Layer::Tls).then(|| self.ctx.host.clone()),
            w: Windows {
                first: self.walk_window(),
                next: self.reply_window(),
                gap: self.gap(),
            },
            opened: AtomicU32::new(0),
            settle,
            share,
        });
        let mut queue = ds.iter();
        let mut running = FuturesUnordered::new();
        let mut found = None;
        for round in 0.. {
            if self.budget.spent() {
                break;
            }
            let room = BATCH_WIDTH.saturating_sub(running.len());
            let mut launched = 0;
            for &d in queue.by_ref().take(room) {
                let budget = Budget {
                    bytes_left: share,
                    ..self.budget
                };
                running.push(solo(d, round, budget, lanes.clone()));
                launched += 1;
            }
            if running.is_empty() {
                break;
            }
            let (hit, failed) = self
                .round(&mut running, &mut settled, (round, launched), &lanes)
                .await;
            // A round whose every new connection failed: the port no
            // longer accepts, and the rest would fail the same way.
            if hit.is_some() || (launched > 0 && failed == launched) {
                found = hit;
                break;
            }
        }
        drop(running);
        self.connections += lanes.opened.load(Ordering::Relaxed);
        if found.is_none() && Instant::now() >= self.budget.deadline {
            self.exhausted = true;
        }
        found
    }

    /// Waits until the `launched` dialogues of round `round` have each had
    /// their first exchange and then, if the server answered one of them,
    /// for one more first window at most until they have all ended (a
    /// PostgreSQL startup after its SSL refusal; a wrong guess kept in
    /// silence, Tomcat's 1023 bytes, just keeps its place). With none
    /// launched, until every dialogue has ended. Folds in each dialogue
    /// that ends meanwhile; returns the hit, if one was, and how many of
    /// this round's ended without a conversation.
    async fn round<F: Future<Output = Lane>>(
        &mut self,
        running: &mut FuturesUnordered<F>,
        settled: &mut mpsc::UnboundedReceiver<FirstExchange>,
        (round, launched): (usize, usize),
        lanes: &Lanes,
    ) -> (Option<Found>, usize) {
        let (mut firsts, mut ended, mut failed) = (0, 0, 0);
        let mut talking = false;
        let mut grace = None;
        loop {
            if launched == 0 {
                if running.is_empty() {
                    break;
                }
            } else if firsts >= launched {
                if !talking || ended >= launched {
                    break;
                }
                grace.get_or_insert_with(|| tokio::time::Instant::now() + lanes.w.first);
            }
            let until = grace.unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                Some((r, heard)) = settled.recv() => if r == round {
                    firsts += 1;
                    talking |= heard == Some(true);
                    failed += usize::from(heard.is_none());
                },
                Some(lane) = running.next() => {
                    let used = lanes.share.saturating_sub(lane.budget.bytes_left);
                    self.budget.bytes_left = self.budget.bytes_left.saturating_sub(used);
                    self.budget.join(&lane.budget);
                    ended += usize::from(lane.round == round);
                    let Some(t) = lane.talk else { continue };
                    self.absorb(&t);
                    if let Some((id, last)) = t.hit() {
                        return (Some(Found::Hit(id, last)), failed);
                    }
                }
                _ = tokio::time::sleep_until(until), if grace.is_some() => break,
                else => break,
            }
        }
        (None, failed)
    }
}

/// Reply windows of one dialogue: the first reply, later ones, and the
/// silence that ends a reply.
#[derive(Clone, Copy)]
struct Windows {
    first: Duration,
    next: Duration,
    gap: Duration,
}

/// What every dialogue of one batch shares.
struct Lanes {
    ctx: ProbeCtx,
    addr: SocketAddr,
    /// `Some(SNI host)` inside a TLS layer.
    tls: Option<Option<String>>,
    w: Windows,
    /// Connections attempted, so that the count does not depend on how many
    /// connects a one-at-a-time server let through before the winner.
    opened: AtomicU32,
    /// One message per dialogue once its first exchange is over: its
    /// round, and whether the server answered (`None`: no conversation).
    settle: mpsc::UnboundedSender<FirstExchange>,
    /// Each dialogue's share of the byte budget.
    share: usize,
}

/// One dialogue of a batch, ended: its round, its budget after (bytes
/// left, the deadline as retransmissions moved it), and the conversation
/// if one took place.
struct Lane {
    round: usize,
    budget: Budget,
    talk: Option<Talk>,
}

/// A batch dialogue's round, and whether the server answered its first
/// request (`None`: no conversation).
type FirstExchange = (usize, Option<bool>);

/// Says once that a dialogue's first exchange is over, and whether the
/// server answered it: at [`Settled::now`], or when dropped first (no
/// connection, or none that took the first request).
struct Settled(Option<(mpsc::UnboundedSender<FirstExchange>, usize)>);

impl Settled {
    fn now(&mut self, heard: Option<bool>) {
        if let Some((tx, round)) = self.0.take() {
            let _ = tx.send((round, heard));
        }
    }
}

impl Drop for Settled {
    fn drop(&mut self) {
        self.now(None);
    }
}

/// What one dialogue's conversation established.
struct Talk {
    id: Ident,
    last: Vec<u8>,
    /// First non-empty reply.
    first: Option<Vec<u8>>,
    /// How the last read ended (None: nothing could be sent).
    end: Option<End>,
    /// Time to the first reply (or close).
    latency: Option<Duration>,
    echo: bool,
}

impl Talk {
    fn hit(&self) -> Option<(Ident, Vec<u8>)> {
        (self.id.matched() && !self.echo).then(|| (self.id.clone(), self.last.clone()))
    }
}

/// Plays dialogue `d` over `io` from `(stage, what is known)`, sending
/// `send` first; says `settled` once the first reply is in.
async fn converse(
    io: &mut dyn Io,
    d: &'static dyn Dialogue,
    (mut stage, mut id): (usize, Ident),
    mut send: Vec<u8>,
    budget: &mut Budget,
    w: Windows,
    settled: &mut Settled,
) -> Talk {
    let mut t = Talk {
        id: Ident::default(),
        last: Vec::new(),
        first: None,
        end: None,
        latency: None,
        echo: false,
    };
    for n in 0..MAX_DIALOGUE_STEPS {
        let window = if n == 0 { w.first } else { w.next };
        if !io::send(&mut *io, &send, budget, window).await {
            break;
        }
        let mut reply = Vec::new();
        let (st, probe_id) = (stage, id.clone());
        let start = Instant::now();
        let (end, resent) = io::read_reply(&mut *io, &mut reply, budget, window, w.gap, |b| {
            let mut scratch = probe_id.clone();
            b == send.as_slice() || d.step(st, b, &mut scratch) != Step::NeedMore
        })
        .await;
        t.end = Some(end);
        settled.now(Some(!reply.is_empty()));
        if n == 0 && !resent && (end == End::Done || end.closed() || !reply.is_empty()) {
            t.latency = Some(start.elapsed());
        }
        if reflects(&send, &reply) {
            t.echo = true;
            t.first.get_or_insert(reply);
            break;
        }
        if !reply.is_empty() {
            t.last = reply.clone();
            t.first.get_or_insert_with(|| reply.clone());
        }
        if end == End::Eof && reply.is_empty() && d.closed(stage, &mut id) {
            break;
        }
        match d.step(stage, &reply, &mut id) {
            Step::Send(next) if !end.closed() && !end.exhausted() => {
                send = next;
                stage += 1;
            }
            _ => break,
        }
    }
    t.id = id;
    t
}

/// Dialogue `d` of a batch's round `round` on its own connection.
async fn solo(
    d: &'static dyn Dialogue,
    round: usize,
    mut budget: Budget,
    lanes: Arc<Lanes>,
) -> Lane {
    let mut settled = Settled(Some((lanes.settle.clone(), round)));
    let lane = |budget, talk| Lane {
        round,
        budget,
        talk,
    };
    let Some(first) = d.first(&lanes.ctx) else {
        return lane(budget, None);
    };
    let Some(stream) = super::conn::probe_connect(lanes.addr, &mut budget, &lanes.opened).await
    else {
        return lane(budget, None);
    };
    let io: Box<dyn Io> = match &lanes.tls {
        None => Box::new(stream),
        Some(host) => {
            let mut hs = budget;
            hs.deadline = hs.deadline.min(Instant::now() + lanes.w.next);
            let res = tls::handshake(stream, host.as_deref(), lanes.addr.ip(), &mut hs).await;
            budget.bytes_left = hs.bytes_left;
            match res {
                tls::Handshake::Up(s, _) => s,
                _ => return lane(budget, None),
            }
        }
    };
    let mut conn = Conn::new(io);
    let from = (0, Ident::default());
    let talk = converse(
        conn.io.as_mut(),
        d,
        from,
        first,
        &mut budget,
        lanes.w,
        &mut settled,
    )
    .await;
    lane(budget, Some(talk))
}
