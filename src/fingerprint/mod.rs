//! The fingerprint engine: identifies what answers on an open port using the
//! [`Catalog`] (text probes and regex rules) and the coded [`Dialogue`]s.
//!
//! Per port: read the greeting (RTT-derived window, longer where a
//! server-speaks-first service is expected), send the probes the port hints
//! and then a small fallback set, detect TLS and start over inside it. Every
//! port has a byte budget and an absolute deadline; running out is a result
//! (`budget-exhausted`), never an error. Connections are reused where the
//! protocol allows and every connection is counted.

pub mod dialogue;
pub mod http;
pub mod io;
pub mod proto;
pub mod tls;

use crate::catalog::matcher::escape;
use crate::catalog::{Catalog, ProbeKey};
use crate::model::{AuthState, Confidence, PortResult, Service, TlsInfo};
use crate::pipeline::Identify;
use crate::scan::connect::{attempt, Attempt};
use dialogue::{Dialogue, Ident, ProbeCtx, Step};
use futures::future::BoxFuture;
use io::{Budget, End, Io};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Longest banner excerpt, in characters.
pub const BANNER_MAX: usize = 256;
/// Ports of printers that print whatever they receive (nmap excludes them too).
pub const PRINTER_PORTS: std::ops::RangeInclusive<u16> = 9100..=9107;
/// Most follow-up probes after one match.
const MAX_FOLLOW_UPS: usize = 4;
/// Most steps of one dialogue.
const MAX_DIALOGUE_STEPS: usize = 8;

/// Every registered dialogue.
pub fn dialogues() -> &'static [&'static dyn Dialogue] {
    proto::all()
}

/// Engine settings (from `--probe-timeout`, `--probe-bytes`, `--probe-printers`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Wall-clock budget per port.
    pub timeout: Duration,
    /// Bytes read per port, all connections together.
    pub max_bytes: usize,
    /// Send probes to printer ports 9100-9107 too.
    pub probe_printers: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timeout: Duration::from_secs(5),
            max_bytes: 64 * 1024,
            probe_printers: false,
        }
    }
}

/// The fingerprinter: implements [`Identify`] over a catalogue.
pub struct Engine {
    catalog: Arc<Catalog>,
    settings: Settings,
}

impl Engine {
    /// An engine over `catalog`.
    pub fn new(catalog: Arc<Catalog>, settings: Settings) -> Engine {
        Engine { catalog, settings }
    }
}

impl Identify for Engine {
    fn identify(&self, stream: TcpStream, result: PortResult) -> BoxFuture<'static, PortResult> {
        let catalog = self.catalog.clone();
        let settings = self.settings.clone();
        Box::pin(async move {
            let mut r = result;
            let session = Session::new(&catalog, &settings, &r);
            r.service = Some(session.run(stream).await);
            r
        })
    }
}

/// Whether the session runs in clear text or inside TLS.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layer {
    Plain,
    Tls,
}

/// A connection and what the last exchange left it fit for.
struct Conn {
    io: Box<dyn Io>,
    /// Family of the last probe sent (None: nothing sent yet).
    family: Option<String>,
    /// The last exchange completed cleanly and the protocol keeps the connection.
    reusable: bool,
}

impl Conn {
    fn new(io: Box<dyn Io>) -> Conn {
        Conn {
            io,
            family: None,
            reusable: true,
        }
    }
}

/// How a layer's probing ended.
enum Found {
    /// Identified (ident.service set), with the reply that showed it.
    Hit(Ident, Vec<u8>),
    /// Accepted, then closed with zero bytes.
    Wrapped,
    /// Nothing identified.
    Nothing,
    /// TLS was not what the port speaks (only from a TLS attempt).
    NotTls,
}

/// One step of a port's plan.
#[derive(Clone, Copy)]
enum Plan {
    Probe(usize),
    Code(&'static dyn Dialogue),
}

struct Session<'a> {
    cat: &'a Catalog,
    settings: &'a Settings,
    addr: SocketAddr,
    ctx: ProbeCtx,
    rtt: Duration,
    budget: Budget,
    connections: u32,
    layer: Layer,
    conn: Option<Conn>,
    /// The current layer's server spoke first.
    spoke: bool,
    /// Probes sent in the current layer.
    sent: HashSet<usize>,
    any_bytes: bool,
    banner: Option<Vec<u8>>,
    /// First reply to a probe, kept as the banner of an unidentified port.
    first_reply: Option<Vec<u8>>,
    soft: Option<(Ident, Vec<u8>)>,
    tls: Option<TlsInfo>,
    tls_hint: bool,
    tls_tried: bool,
    exhausted: bool,
    dead: bool,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

impl<'a> Session<'a> {
    fn new(cat: &'a Catalog, settings: &'a Settings, r: &PortResult) -> Session<'a> {
        let rtt = r
            .rtt_ms
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map_or(Duration::from_millis(50), |v| {
                Duration::from_secs_f64((v / 1000.0).min(10.0))
            });
        Session {
            cat,
            settings,
            addr: SocketAddr::new(r.ip, r.port),
            ctx: ProbeCtx {
                host: r.host.clone(),
                port: r.port,
            },
            rtt,
            budget: Budget::new(settings.timeout, settings.max_bytes),
            connections: 1,
            layer: Layer::Plain,
            conn: None,
            spoke: false,
            sent: HashSet::new(),
            any_bytes: false,
            banner: None,
            first_reply: None,
            soft: None,
            tls: None,
            tls_hint: false,
            tls_tried: false,
            exhausted: false,
            dead: false,
        }
    }

    // ---- windows -------------------------------------------------------

    /// How long to wait for a greeting: 300 ms + 8×RTT within 300..1500 ms;
    /// up to 2.5 s where a server-speaks-first service is expected.
    fn greeting_window(&self) -> Duration {
        let base = Duration::from_millis(300 + 8 * ms(self.rtt)).min(Duration::from_millis(1500));
        let first: Vec<&str> = dialogues()
            .iter()
            .filter(|d| d.first(&self.ctx).is_none())
            .map(|d| d.name())
            .collect();
        if self.cat.greeting_port(self.ctx.port, &first) {
            (base * 2).clamp(Duration::from_millis(1000), Duration::from_millis(2500))
        } else {
            base
        }
    }

    /// How long to wait for the first byte of a reply.
    fn reply_window(&self) -> Duration {
        Duration::from_millis(500 + 8 * ms(self.rtt)).min(Duration::from_millis(2000))
    }

    /// Silence that ends a reply once some of it arrived.
    fn gap(&self) -> Duration {
        Duration::from_millis(150 + 4 * ms(self.rtt)).min(Duration::from_millis(750))
    }

    // ---- top level -----------------------------------------------------

    async fn run(mut self, stream: TcpStream) -> Service {
        io::rst_on_close(&stream);
        let port = self.ctx.port;
        let printer = PRINTER_PORTS.contains(&port) && !self.settings.probe_printers;
        let found = if self.cat.is_tls_port(port) && !printer {
            match self.tls_layer(Some(stream)).await {
                Found::NotTls if !self.dead && !self.exhausted => {
                    self.plain_layer(None, false).await
                }
                other => other,
            }
        } else {
            self.plain_layer(Some(stream), printer).await
        };
        self.conn = None;
        self.finish(found, printer)
    }

    fn finish(self, found: Found, printer: bool) -> Service {
        let mut svc = Service {
            tls: self.tls.clone(),
            connections: self.connections,
            ..Service::default()
        };
        let set = |svc: &mut Service, id: Ident| {
            svc.name = id.service;
            svc.product = id.product;
            svc.version = id.version;
            svc.info = id.info;
            svc.auth = id.auth;
            svc.auth_evidence = id.auth_evidence;
            svc.confidence = Confidence::Probed;
        };
        let banner = |b: &[u8]| Some(escape(b, BANNER_MAX)).filter(|s| !s.is_empty());
        svc.banner = self.banner.as_deref().and_then(banner);
        match found {
            Found::Hit(id, reply) => {
                if svc.banner.is_none() {
                    svc.banner = banner(&reply);
                }
                set(&mut svc, id);
                if self.exhausted {
                    svc.note = Some("budget-exhausted".into());
                }
                return svc;
            }
            Found::Wrapped => {
                svc.name = "unknown".into();
                svc.note = Some("tcpwrapped".into());
                return svc;
            }
            Found::Nothing | Found::NotTls => {}
        }
        if let Some((id, reply)) = self.soft {
            if svc.banner.is_none() {
                svc.banner = banner(&reply);
            }
            set(&mut svc, id);
        } else if self.exhausted {
            svc.name = "unknown".into();
        } else if self.tls.is_some() {
            svc.name = "tls".into();
            svc.confidence = Confidence::Probed;
        } else if let Some(g) = self.cat.guess(self.ctx.port) {
            svc.name = g.id.clone();
            svc.confidence = Confidence::Guessed;
        } else {
            svc.name = "unknown".into();
            svc.confidence = if self.any_bytes {
                Confidence::Probed
            } else {
                Confidence::Guessed
            };
        }
        if svc.banner.is_none() {
            svc.banner = self.first_reply.as_deref().and_then(banner);
        }
        svc.note = if self.exhausted {
            Some("budget-exhausted".into())
        } else if svc.tls.as_ref().is_some_and(|t| t.error.is_some()) {
            Some("tls-error".into())
        } else if printer {
            Some("printer-port-not-probed".into())
        } else if !self.any_bytes && svc.tls.is_none() {
            Some("no-response".into())
        } else {
            None
        };
        svc
    }

    // ---- layers --------------------------------------------------------

    /// Clear-text identification, on `stream` (the sweep's) or a new connection.
    async fn plain_layer(&mut self, stream: Option<TcpStream>, printer: bool) -> Found {
        self.layer = Layer::Plain;
        self.spoke = false;
        self.sent.clear();
        self.conn = match stream {
            Some(s) => Some(Conn::new(Box::new(s))),
            None => self.connect().await,
        };
        let Some(mut conn) = self.conn.take() else {
            return Found::Nothing;
        };
        let mut greeting = Vec::new();
        let end = self
            .read(&mut conn, &mut greeting, self.greeting_window(), |b, s| {
                s.greeting_done(b)
            })
            .await;
        if greeting.is_empty() && end == End::Eof {
            return Found::Wrapped;
        }
        if end != End::Eof {
            self.conn = Some(conn);
        }
        if let Some(hit) = self.judge_greeting(greeting).await {
            return hit;
        }
        if printer || self.exhausted {
            return Found::Nothing;
        }
        if let Some(hit) = self.probe_all().await {
            return hit;
        }
        if !self.tls_tried && !self.exhausted && !self.dead && (self.tls_hint || !self.any_bytes) {
            self.conn = None;
            return match self.tls_layer(None).await {
                Found::NotTls => Found::Nothing,
                other => other,
            };
        }
        Found::Nothing
    }

    /// TLS identification: handshake, then the same logic inside the tunnel.
    async fn tls_layer(&mut self, stream: Option<TcpStream>) -> Found {
        self.tls_tried = true;
        let tcp = match stream {
            Some(s) => s,
            None => match self.connect_tcp().await {
                Some(s) => s,
                None => return Found::NotTls,
            },
        };
        match tls::handshake(
            tcp,
            self.ctx.host.as_deref(),
            self.addr.ip(),
            &mut self.budget,
        )
        .await
        {
            tls::Handshake::Exhausted => {
                self.exhausted = true;
                Found::Nothing
            }
            tls::Handshake::Failed(info) => {
                self.any_bytes = true;
                self.tls = Some(info);
                Found::Nothing
            }
            tls::Handshake::NotTls(bytes) => {
                if bytes.is_empty() {
                    return Found::NotTls;
                }
                // Plain text on a TLS port: the peer may have spoken first
                // (SSH, SMTP) or answered our hello in its own protocol.
                self.any_bytes = true;
                self.banner.get_or_insert_with(|| bytes.clone());
                let o = self.cat.match_reply(ProbeKey::Greeting, &bytes);
                if let Some(id) = o.hard {
                    return Found::Hit(id, bytes);
                }
                Found::NotTls
            }
            tls::Handshake::Up(stream, info) => {
                let alpn_http = matches!(info.alpn.as_deref(), Some("http/1.1" | "h2"));
                self.tls = Some(info);
                self.layer = Layer::Tls;
                self.spoke = alpn_http;
                self.sent.clear();
                let mut conn = Conn::new(stream);
                let mut greeting = Vec::new();
                let window = self.greeting_window().min(Duration::from_millis(1000));
                let end = self
                    .read(&mut conn, &mut greeting, window, |b, s| s.greeting_done(b))
                    .await;
                if end != End::Eof {
                    self.conn = Some(conn);
                }
                if let Some(hit) = self.judge_greeting(greeting).await {
                    return hit;
                }
                if self.exhausted {
                    return Found::Nothing;
                }
                self.probe_all().await.unwrap_or(Found::Nothing)
            }
        }
    }

    // ---- connections ---------------------------------------------------

    async fn connect_tcp(&mut self) -> Option<TcpStream> {
        if self.budget.spent() {
            self.exhausted = true;
            return None;
        }
        let timeout = self.budget.remaining().min(Duration::from_secs(3));
        match attempt(self.addr, timeout).await {
            Attempt::Open { stream, .. } => {
                io::rst_on_close(&stream);
                self.connections += 1;
                Some(stream)
            }
            _ => {
                if self.budget.spent() {
                    self.exhausted = true;
                } else {
                    self.dead = true;
                }
                None
            }
        }
    }

    /// A new connection in the current layer (greeting drained, if the port speaks first).
    async fn connect(&mut self) -> Option<Conn> {
        let tcp = self.connect_tcp().await?;
        let mut conn = match self.layer {
            Layer::Plain => Conn::new(Box::new(tcp)),
            Layer::Tls => match tls::handshake(
                tcp,
                self.ctx.host.as_deref(),
                self.addr.ip(),
                &mut self.budget,
            )
            .await
            {
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
            let mut drain = Vec::new();
            let w = self.greeting_window();
            let end = self
                .read(&mut conn, &mut drain, w, |b, s| s.greeting_done(b))
                .await;
            if end == End::Eof {
                return None;
            }
        }
        Some(conn)
    }

    /// The connection for a probe of `family`: the current one if it is fresh
    /// or was left clean by the same family, else a new one.
    async fn acquire(&mut self, family: &str) -> Option<Conn> {
        if let Some(c) = self.conn.take() {
            match &c.family {
                None => return Some(c),
                Some(f) if c.reusable && f == family => return Some(c),
                _ => {}
            }
        }
        if self.dead || self.exhausted {
            return None;
        }
        self.connect().await
    }

    async fn read<F>(&mut self, conn: &mut Conn, buf: &mut Vec<u8>, first: Duration, done: F) -> End
    where
        F: Fn(&[u8], &Session<'_>) -> bool,
    {
        let gap = self.gap();
        let mut budget = self.budget;
        let me: &Session<'_> = self;
        let end = io::read_until(conn.io.as_mut(), buf, &mut budget, first, gap, |b| {
            done(b, me)
        })
        .await;
        self.budget = budget;
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

    // ---- greeting ------------------------------------------------------

    fn server_first(&self) -> Vec<&'static dyn Dialogue> {
        let port = self.ctx.port;
        let hinted = |d: &&'static dyn Dialogue| {
            self.cat.services().iter().any(|s| {
                s.code.as_deref() == Some(d.name())
                    && (s.ports.contains(&port) || s.tls_ports.contains(&port))
            })
        };
        let mut all: Vec<&'static dyn Dialogue> = dialogues()
            .iter()
            .copied()
            .filter(|d| d.first(&self.ctx).is_none())
            .collect();
        all.sort_by_key(|d| !hinted(d));
        all
    }

    fn greeting_done(&self, b: &[u8]) -> bool {
        if self.cat.match_reply(ProbeKey::Greeting, b).hard.is_some() {
            return true;
        }
        self.server_first().iter().any(|d| {
            let mut id = Ident::default();
            matches!(d.step(0, b, &mut id), Step::Done | Step::Send(_))
        })
    }

    async fn judge_greeting(&mut self, greeting: Vec<u8>) -> Option<Found> {
        if greeting.is_empty() {
            return None;
        }
        self.spoke = true;
        if self.layer == Layer::Plain || self.banner.is_none() {
            self.banner = Some(greeting.clone());
        }
        let o = self.cat.match_reply(ProbeKey::Greeting, &greeting);
        self.tls_hint |= o.tls_hint;
        if let Some(mut id) = o.hard {
            self.follow(&mut id, o.then).await;
            return Some(Found::Hit(id, greeting));
        }
        for d in self.server_first() {
            let mut id = Ident::default();
            match d.step(0, &greeting, &mut id) {
                Step::Send(next) => {
                    let conn = self.conn.take();
                    if let Some(hit) = self.drive(d, conn, 1, id, next).await {
                        return Some(hit);
                    }
                }
                _ if id.matched() => return Some(Found::Hit(id, greeting)),
                _ => {}
            }
        }
        if let Some(s) = o.soft {
            self.soft.get_or_insert((s, greeting));
        }
        None
    }

    // ---- probes --------------------------------------------------------

    fn plan(&self) -> Vec<Plan> {
        let port = self.ctx.port;
        let mut hinted: Vec<(u32, Plan)> = Vec::new();
        let mut fallback: Vec<(u32, Plan)> = Vec::new();
        for (i, p) in self.cat.probes().iter().enumerate() {
            if p.follow_up {
                continue;
            }
            if p.hint_ports.contains(&port) {
                hinted.push((p.rank, Plan::Probe(i)));
            } else if p.fallback {
                fallback.push((p.rank, Plan::Probe(i)));
            }
        }
        for s in self.cat.services() {
            let Some(d) = s.code.as_deref().and_then(proto::by_name) else {
                continue;
            };
            if d.first(&self.ctx).is_none() {
                continue;
            }
            let rank = s.code_fallback.unwrap_or(50);
            if s.ports.contains(&port) || s.tls_ports.contains(&port) {
                hinted.push((rank, Plan::Code(d)));
            } else if s.code_fallback.is_some() {
                fallback.push((rank, Plan::Code(d)));
            }
        }
        hinted.sort_by_key(|(r, _)| *r);
        fallback.sort_by_key(|(r, _)| *r);
        let mut plan: Vec<Plan> = hinted.into_iter().chain(fallback).map(|(_, p)| p).collect();
        // ALPN http/1.1 already says HTTP (and rules Redis out): ask HTTP first.
        if self.layer == Layer::Tls
            && self
                .tls
                .as_ref()
                .is_some_and(|t| matches!(t.alpn.as_deref(), Some("http/1.1" | "h2")))
        {
            plan.sort_by_key(
                |p| !matches!(p, Plan::Probe(i) if self.cat.probes()[*i].family == "http"),
            );
        }
        plan
    }

    async fn probe_all(&mut self) -> Option<Found> {
        for step in self.plan() {
            if self.exhausted || self.dead {
                return None;
            }
            if self.layer == Layer::Plain && self.tls_hint {
                return None;
            }
            match step {
                Plan::Probe(i) => {
                    if self.sent.contains(&i) {
                        continue;
                    }
                    if let Some(g) = self.cat.probes()[i].guard {
                        if !self.spoke && !self.sent.contains(&g) {
                            if let Some(hit) = self.send_probe(g).await {
                                return Some(hit);
                            }
                            if self.exhausted
                                || self.dead
                                || (self.layer == Layer::Plain && self.tls_hint)
                            {
                                return None;
                            }
                        }
                    }
                    if let Some(hit) = self.send_probe(i).await {
                        return Some(hit);
                    }
                }
                Plan::Code(d) => {
                    let Some(first) = d.first(&self.ctx) else {
                        continue;
                    };
                    let conn = self.acquire(&format!("code:{}", d.name())).await;
                    if let Some(hit) = self.drive(d, conn, 0, Ident::default(), first).await {
                        return Some(hit);
                    }
                }
            }
        }
        None
    }

    fn payload(&self, raw: &[u8]) -> Vec<u8> {
        const HOST: &[u8] = b"{host}";
        if !raw.windows(HOST.len()).any(|w| w == HOST) {
            return raw.to_vec();
        }
        let host = match &self.ctx.host {
            Some(h) => format!("{h}:{}", self.ctx.port),
            None => self.addr.to_string(),
        };
        let mut out = Vec::with_capacity(raw.len() + host.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i..].starts_with(HOST) {
                out.extend_from_slice(host.as_bytes());
                i += HOST.len();
            } else {
                out.push(raw[i]);
                i += 1;
            }
        }
        out
    }

    /// Sends one probe and reads its reply on `conn`; the connection is kept
    /// when the exchange left it usable.
    async fn exchange(
        &mut self,
        mut conn: Conn,
        probe: usize,
        done: impl Fn(&[u8], &Session<'_>) -> bool,
    ) -> Vec<u8> {
        let p = &self.cat.probes()[probe];
        let family = p.family.clone();
        let data = self.payload(&p.payload);
        self.sent.insert(probe);
        let timeout = self.reply_window();
        if !io::send(conn.io.as_mut(), &data, &self.budget, timeout).await {
            if self.budget.spent() {
                self.exhausted = true;
            }
            return Vec::new();
        }
        let mut reply = Vec::new();
        let http = family == "http";
        let end = self.read(&mut conn, &mut reply, timeout, done).await;
        if !reply.is_empty() && self.first_reply.is_none() {
            self.first_reply = Some(reply.clone());
        }
        let reusable = match end {
            End::Done if http => http::complete(&reply).is_some_and(|f| f.keep_alive),
            End::Done => true,
            _ => false,
        };
        if end != End::Eof && !end.exhausted() {
            conn.family = Some(family);
            conn.reusable = reusable;
            self.conn = Some(conn);
        }
        reply
    }

    async fn send_probe(&mut self, i: usize) -> Option<Found> {
        let p = &self.cat.probes()[i];
        let family = p.family.clone();
        let conn = self.acquire(&family).await?;
        let key = ProbeKey::Probe(i);
        let http = family == "http";
        let reply = self
            .exchange(conn, i, move |b, s| {
                if http {
                    http::complete(b).is_some()
                } else {
                    s.cat.match_reply(key, b).hard.is_some()
                }
            })
            .await;
        if reply.is_empty() {
            return None;
        }
        let o = self.cat.match_reply(key, &reply);
        self.tls_hint |= o.tls_hint && self.layer == Layer::Plain;
        if let Some(mut id) = o.hard {
            self.follow(&mut id, o.then).await;
            return Some(Found::Hit(id, reply));
        }
        if let Some(s) = o.soft {
            if self.soft.is_none() {
                self.soft = Some((s, reply));
            }
        }
        None
    }

    /// Sends the follow-up probes a match asks for, refining `id`.
    async fn follow(&mut self, id: &mut Ident, mut next: Option<usize>) {
        let Some(svc) = self.cat.services().iter().position(|s| s.id == id.service) else {
            return;
        };
        for _ in 0..MAX_FOLLOW_UPS {
            let Some(fi) = next else { return };
            if self.exhausted || self.dead {
                return;
            }
            let family = self.cat.probes()[fi].family.clone();
            let Some(conn) = self.acquire(&family).await else {
                return;
            };
            let http = family == "http";
            let key = ProbeKey::Probe(fi);
            let reply = self
                .exchange(conn, fi, move |b, s| {
                    if http {
                        http::complete(b).is_some()
                    } else {
                        s.cat
                            .rules()
                            .iter()
                            .any(|r| r.probe == key && r.service == svc && r.regex.is_match(b))
                    }
                })
                .await;
            if reply.is_empty() {
                return;
            }
            next = self.cat.refine(svc, fi, &reply, id);
        }
    }

    /// Runs dialogue `d` from `stage`, sending `send` first.
    async fn drive(
        &mut self,
        d: &'static dyn Dialogue,
        conn: Option<Conn>,
        mut stage: usize,
        mut id: Ident,
        mut send: Vec<u8>,
    ) -> Option<Found> {
        let mut conn = conn?;
        let mut last = Vec::new();
        for _ in 0..MAX_DIALOGUE_STEPS {
            let window = self.reply_window();
            if !io::send(conn.io.as_mut(), &send, &self.budget, window).await {
                break;
            }
            let mut reply = Vec::new();
            let st = stage;
            let probe_id = id.clone();
            let end = self
                .read(&mut conn, &mut reply, window, move |b, _| {
                    let mut t = probe_id.clone();
                    d.step(st, b, &mut t) != Step::NeedMore
                })
                .await;
            if !reply.is_empty() {
                last = reply.clone();
                self.first_reply.get_or_insert_with(|| reply.clone());
            }
            match d.step(stage, &reply, &mut id) {
                Step::Send(next) if end != End::Eof && !end.exhausted() => {
                    send = next;
                    stage += 1;
                }
                _ => break,
            }
        }
        conn.family = Some(format!("code:{}", d.name()));
        conn.reusable = false;
        self.conn = Some(conn);
        if id.matched() {
            if id.auth == AuthState::Unknown {
                id.auth_evidence = None;
            }
            return Some(Found::Hit(id, last));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_puts_resp_ping_before_http_on_unknown_ports() {
        let cat = Catalog::builtin();
        let settings = Settings::default();
        let r = PortResult {
            ip: "127.0.0.1".parse().unwrap(),
            host: None,
            port: 41234,
            proto: crate::model::Proto::Tcp,
            state: crate::model::PortState::Open,
            reason: crate::model::Reason::SynAck,
            rtt_ms: Some(0.1),
            tries: 1,
            service: None,
            finding: None,
        };
        let s = Session::new(&cat, &settings, &r);
        let names: Vec<String> = s
            .plan()
            .iter()
            .filter_map(|p| match p {
                Plan::Probe(i) => Some(cat.probes()[*i].name.clone()),
                Plan::Code(_) => None,
            })
            .collect();
        let ping = names
            .iter()
            .position(|n| n == "redis-ping")
            .expect("redis-ping is a fallback");
        let get = names
            .iter()
            .position(|n| n == "http-get")
            .expect("http-get is a fallback");
        assert!(ping < get, "{names:?}");
        assert_eq!(s.payload(b"Host: {host}\r\n"), b"Host: 127.0.0.1:41234\r\n");
    }
}
