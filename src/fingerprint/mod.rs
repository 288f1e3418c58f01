//! The fingerprint engine: identifies what answers on an open port using the
//! [`Catalog`] (text probes and regex rules) and the coded [`Dialogue`]s.
//!
//! Per port: read the greeting (RTT-derived window, longer where a
//! server-speaks-first service is expected), send the probes and dialogues
//! the port hints, then walk the fallback steps ([`plan`]): RESP PING, the
//! line probes, then every client-first dialogue, each on its own
//! connection, a few at a time. A port silent to the first probe gets a TLS ClientHello, and
//! the same logic runs inside the tunnel. A soft or generic match (plain
//! HTTP, Express) narrows the rest to the probes that can name that service
//! more precisely, on the same keep-alive connection ([`walk`]). Every port
//! has a byte budget and an absolute deadline; running out is a result
//! (`budget-exhausted`), never an error. Connections are reused where the
//! stream is still clean ([`conn`]) and every connection is counted. An
//! identified product gets its CPE 2.3 name from the service's catalogue
//! entry ([`crate::catalog::ServiceDef::cpe_name`]).

mod conn;
pub mod dialogue;
pub mod fuzzing;
pub mod http;
pub mod io;
mod plan;
pub mod proto;
pub mod tls;
pub mod udp;
mod walk;

use crate::catalog::matcher::escape;
use crate::catalog::{load, Catalog, LoadErrors, ProbeKey};
use crate::model::{Confidence, PortResult, Service, ServiceNote, TlsInfo};
use dialogue::{Dialogue, Ident, ProbeCtx, Step};
use futures::future::BoxFuture;
use io::{Budget, End, Io};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Longest banner excerpt, in characters.
pub const BANNER_MAX: usize = 256;
/// Ports of printers that print whatever they receive (nmap excludes them too).
pub const PRINTER_PORTS: std::ops::RangeInclusive<u16> = 9100..=9107;

/// Every registered dialogue.
pub fn dialogues() -> &'static [&'static dyn Dialogue] {
    proto::all()
}

/// Loading the catalogue against the registered dialogues: the loader checks
/// every `code = "..."` name against the list handed to it.
impl Catalog {
    /// Loads the embedded files plus `dir`, checking `code` names against the
    /// registered dialogues.
    pub fn load(dir: Option<&Path>) -> Result<Catalog, LoadErrors> {
        let names: Vec<&str> = dialogues().iter().map(|d| d.name()).collect();
        load::load(dir, &names)
    }

    /// The embedded catalogue, loaded once. Panics only if a built-in file is
    /// broken, which the catalogue test rules out.
    pub fn builtin() -> Arc<Catalog> {
        static BUILTIN: OnceLock<Arc<Catalog>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Arc::new(Catalog::load(None).unwrap_or_else(|e| panic!("built-in services: {e}")))
            })
            .clone()
    }
}

/// The placeholder a payload names the target by (HTTP's Host, SIP's
/// Request-URI).
pub(crate) const HOST: &[u8] = b"{host}";

/// Shortest wait for an expected greeting: when the last ACK of our
/// handshake is lost, the server accepts (and greets) only after it resends
/// its SYN-ACK, 1 s later on Linux, and our kernel ACKs again.
const GREETING_LOSS_FLOOR: Duration = Duration::from_millis(1300);

/// `raw` with every `{host}` replaced by `host` (`ip:port`, `[v6]:port`).
pub(crate) fn with_host(raw: &[u8], host: &str) -> Vec<u8> {
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

/// Fills `svc` from what the replies established (name, product, version,
/// info, auth and the product's CPE name), as probed.
pub(crate) fn apply_ident(cat: &Catalog, svc: &mut Service, id: Ident) {
    svc.cpe = cat
        .service(&id.service)
        .and_then(|d| d.cpe_name(id.product.as_deref(), id.version.as_deref()));
    svc.name = id.service;
    svc.product = id.product;
    svc.version = id.version;
    svc.info = id.info;
    svc.auth = id.auth;
    svc.auth_evidence = id.auth_evidence;
    svc.confidence = Confidence::Probed;
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

/// A stage that identifies what answers on an open port.
pub trait Identify: Send + Sync {
    /// Fills `result.service`, using (and finally closing) the sweep's connection.
    fn identify(&self, stream: TcpStream, result: PortResult) -> BoxFuture<'static, PortResult>;
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
    /// The last exchange left the stream clean: a text probe may follow.
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

impl Drop for Conn {
    fn drop(&mut self) {
        io::hang_up(self.io.tcp());
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
    /// Its greeting came after the greeting window (see `walk::late_greeting`):
    /// new connections wait the long window for it.
    late: bool,
    /// Probes sent in the current layer.
    sent: HashSet<usize>,
    any_bytes: bool,
    banner: Option<Vec<u8>>,
    /// First reply to a probe, kept as the banner of an unidentified port.
    first_reply: Option<Vec<u8>>,
    soft: Option<(Ident, Vec<u8>)>,
    /// A generic service's match, kept while more specific probes run.
    generic: Option<(Ident, Vec<u8>)>,
    /// Service (index) a soft or generic match wants the walk narrowed to.
    pending: Option<usize>,
    /// The walk of the current layer was narrowed already.
    narrowed: bool,
    /// Slowest reply (first byte or close) seen on this port.
    slowest: Duration,
    /// The peer reflected a probe verbatim: nothing it says can identify it.
    echo: bool,
    tls: Option<TlsInfo>,
    tls_hint: bool,
    tls_tried: bool,
    exhausted: bool,
    dead: bool,
    /// The port closed a silent connection after a wait, not at once.
    idle_closes: bool,
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
            late: false,
            sent: HashSet::new(),
            any_bytes: false,
            banner: None,
            first_reply: None,
            soft: None,
            generic: None,
            pending: None,
            narrowed: false,
            slowest: Duration::ZERO,
            echo: false,
            tls: None,
            tls_hint: false,
            tls_tried: false,
            exhausted: false,
            dead: false,
            idle_closes: false,
        }
    }

    // ---- windows -------------------------------------------------------

    /// How long to wait for a greeting: 300 ms + 8×RTT within 300..1500 ms;
    /// where a server-speaks-first service is expected, or once this port's
    /// greeting came late, twice that within [`GREETING_LOSS_FLOOR`]..2.5 s.
    fn greeting_window(&self) -> Duration {
        let base = Duration::from_millis(300 + 8 * ms(self.rtt)).min(Duration::from_millis(1500));
        let first: Vec<&str> = dialogues()
            .iter()
            .filter(|d| d.first(&self.ctx).is_none())
            .map(|d| d.name())
            .collect();
        if self.late || self.cat.greeting_port(self.ctx.port, &first) {
            (base * 2).clamp(GREETING_LOSS_FLOOR, Duration::from_millis(2500))
        } else {
            base
        }
    }

    /// How long to wait for the first byte of a reply to a probe the port
    /// hints (or one sent after a match).
    fn reply_window(&self) -> Duration {
        Duration::from_millis(500 + 8 * ms(self.rtt)).min(Duration::from_millis(2000))
    }

    /// How long a fallback step waits for a first byte: 300 ms + 8×RTT, or
    /// three times the slowest reply this port gave, within 300..1500 ms.
    fn walk_window(&self) -> Duration {
        Duration::from_millis(300 + 8 * ms(self.rtt))
            .max(self.slowest * 3)
            .min(Duration::from_millis(1500))
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
        let cat = self.cat;
        let set = |svc: &mut Service, id: Ident| apply_ident(cat, svc, id);
        let banner = |b: &[u8]| Some(escape(b, BANNER_MAX)).filter(|s| !s.is_empty());
        svc.banner = self.banner.as_deref().and_then(banner);
        let silent = !self.any_bytes && self.tls.is_none();
        let found = match found {
            // It closed every connection, probed or not, without a byte.
            Found::Nothing | Found::NotTls if self.idle_closes && silent => Found::Wrapped,
            other => other,
        };
        match found {
            Found::Hit(id, reply) => {
                if svc.banner.is_none() {
                    svc.banner = banner(&reply);
                }
                set(&mut svc, id);
                if self.exhausted {
                    svc.note = Some(ServiceNote::BudgetExhausted);
                }
                return svc;
            }
            Found::Wrapped => {
                svc.name = "unknown".into();
                svc.note = Some(ServiceNote::Tcpwrapped);
                return svc;
            }
            Found::Nothing | Found::NotTls => {}
        }
        if let Some((id, reply)) = self.soft {
            if svc.banner.is_none() {
                svc.banner = banner(&reply);
            }
            set(&mut svc, id);
        } else if let Some(r) = cat.reflector().filter(|_| self.echo) {
            svc.name = r.id.clone();
            svc.info = Some("sent back the probe verbatim".into());
            svc.confidence = Confidence::Probed;
        } else if self.exhausted {
            svc.name = "unknown".into();
        } else if self.tls.is_some() {
            svc.name = "tls".into();
            svc.confidence = Confidence::Probed;
        } else if let Some(g) = self.cat.guess(self.ctx.port).filter(|_| !self.echo) {
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
            Some(ServiceNote::BudgetExhausted)
        } else if svc.tls.as_ref().is_some_and(|t| t.error.is_some()) {
            Some(ServiceNote::TlsError)
        } else if printer {
            Some(ServiceNote::PrinterPortNotProbed)
        } else if !self.any_bytes && svc.tls.is_none() {
            Some(ServiceNote::NoResponse)
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
        self.narrowed = false;
        self.conn = match stream {
            Some(s) => Some(Conn::new(Box::new(s))),
            None => self.connect().await,
        };
        let Some(conn) = self.conn.take() else {
            return Found::Nothing;
        };
        let (mut greeting, end) = self.read_greeting(conn, self.greeting_window()).await;
        if greeting.is_empty() && end.closed() {
            match self.second_look().await {
                Some(g) => greeting = g,
                None => return Found::Wrapped,
            }
        }
        if let Some(hit) = self.judge_greeting(greeting).await {
            return hit;
        }
        if printer || self.exhausted {
            return Found::Nothing;
        }
        let mut queue = self.plan();
        loop {
            if let Some(hit) = self.walk(&mut queue).await {
                return hit;
            }
            if !self.wants_tls() {
                return self.generic_hit();
            }
            // Silent to clear text: try TLS, and resume the walk if it is not.
            self.conn = None;
            match self.tls_layer(None).await {
                Found::NotTls => self.layer = Layer::Plain,
                other => return other,
            }
        }
    }

    /// After a close without a word on the first connection: a wrapper that
    /// refuses this client closes at once, a server with a short idle
    /// timeout (Unbound after a burst of connections: 200 ms) only after
    /// waiting for a request, and the sweep's connection may have waited
    /// in a queue for longer than that. A new connection, timed from its
    /// handshake, tells them apart: `None` for a wrapper, else what it
    /// greeted with (the walk follows, every probe on a new connection).
    async fn second_look(&mut self) -> Option<Vec<u8>> {
        let conn = self.connect().await?;
        let start = Instant::now();
        let (greeting, end) = self.read_greeting(conn, self.greeting_window()).await;
        let at_once = Duration::from_millis(100) + self.rtt * 2;
        if greeting.is_empty() && end.closed() {
            if start.elapsed() < at_once {
                return None;
            }
            self.idle_closes = true;
        }
        Some(greeting)
    }

    /// Whether the clear-text walk should stop for a TLS attempt: the port
    /// said nothing yet (or looked like TLS) and none was made.
    fn wants_tls(&self) -> bool {
        self.layer == Layer::Plain
            && !self.tls_tried
            && !self.exhausted
            && !self.dead
            && !self.echo
            && (self.tls_hint || !self.any_bytes)
    }

    /// The generic match kept while more specific probes ran, if any.
    fn generic_hit(&mut self) -> Found {
        match self.generic.take() {
            Some((id, reply)) => Found::Hit(id, reply),
            None => Found::Nothing,
        }
    }

    /// TLS identification: handshake, then the same logic inside the tunnel.
    /// Without `stream` (a check on a port that was silent in clear text) the
    /// handshake gets a reply window, not the whole budget.
    async fn tls_layer(&mut self, stream: Option<TcpStream>) -> Found {
        self.tls_tried = true;
        let bounded = stream.is_none();
        let tcp = match stream {
            Some(s) => s,
            None => match self.connect_tcp().await {
                Some(s) => s,
                None => return Found::NotTls,
            },
        };
        let window = bounded.then(|| self.reply_window());
        match self.handshake(tcp, window).await {
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
                self.narrowed = false;
                let window = self.greeting_window().min(Duration::from_millis(1000));
                let (greeting, _) = self.read_greeting(Conn::new(stream), window).await;
                if let Some(hit) = self.judge_greeting(greeting).await {
                    return hit;
                }
                if self.exhausted {
                    return Found::Nothing;
                }
                let mut queue = self.plan();
                match self.walk(&mut queue).await {
                    Some(hit) => hit,
                    None => self.generic_hit(),
                }
            }
        }
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

    /// Reads `conn`'s greeting for up to `window`, keeping the connection
    /// for the probes that follow unless the peer closed it.
    async fn read_greeting(&mut self, mut conn: Conn, window: Duration) -> (Vec<u8>, End) {
        let mut greeting = Vec::new();
        let end = self
            .read(&mut conn, &mut greeting, window, |b, s| s.greeting_done(b))
            .await;
        if !end.closed() {
            self.conn = Some(conn);
        }
        (greeting, end)
    }

    fn greeting_done(&self, b: &[u8]) -> bool {
        self.cat.match_reply(ProbeKey::Greeting, b).settled() || self.coded_greeting(b)
    }

    /// Whether a server-first dialogue takes `b` for its protocol's greeting.
    fn coded_greeting(&self, b: &[u8]) -> bool {
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
        if let Some(id) = o.hard {
            return self.settle(id, o.then, greeting).await;
        }
        for d in self.server_first() {
            let mut id = Ident::default();
            match d.step(0, &greeting, &mut id) {
                Step::Send(next) => {
                    let Some(conn) = self.conn.take() else {
                        // Closed after the greeting: what it said stands.
                        if id.matched() {
                            return Some(Found::Hit(id, greeting));
                        }
                        continue;
                    };
                    if let Some(hit) = self.drive(d, Some(conn), 1, id, next).await {
                        return Some(hit);
                    }
                }
                _ if id.matched() => return Some(Found::Hit(id, greeting)),
                _ => {}
            }
        }
        if let Some(s) = o.soft {
            self.note_soft(s, greeting);
        }
        None
    }
}
