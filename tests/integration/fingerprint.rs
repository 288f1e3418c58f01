//! The fingerprint engine against in-process fake servers on 127.0.0.1:0:
//! greeting and client-first services, connection reuse and counting, the
//! Redis-before-HTTP rule, TLS detection, hostile peers (silent, drip, echo,
//! random bytes, accept-then-close, TLS black hole) and printer ports.

use exposecheck::catalog::load::{compile, embedded_sources, Source};
use exposecheck::catalog::Catalog;
use exposecheck::fingerprint::dialogue::ProbeCtx;
use exposecheck::fingerprint::{dialogues, Engine, Identify, Settings};
use exposecheck::model::{AuthState, Confidence, PortResult, PortState, Proto, Reason, Service};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn settings(ms: u64) -> Settings {
    Settings {
        timeout: Duration::from_millis(ms),
        ..Settings::default()
    }
}

/// A fake server: runs `handler` for every accepted connection; counts them.
struct Fake {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

async fn fake<F, Fut>(handler: F) -> Fake
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    fake_on(l, handler)
}

fn fake_on<F, Fut>(l: TcpListener, handler: F) -> Fake
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handler(s));
        }
    });
    Fake { addr, accepted }
}

async fn identify_with(cat: Arc<Catalog>, s: Settings, addr: SocketAddr) -> Service {
    let stream = TcpStream::connect(addr).await.unwrap();
    let r = PortResult {
        ip: addr.ip(),
        host: None,
        port: addr.port(),
        proto: Proto::Tcp,
        state: PortState::Open,
        reason: Reason::SynAck,
        rtt_ms: Some(0.1),
        tries: 1,
        udp: None,
        service: None,
        finding: None,
    };
    let out = Engine::new(cat, s).identify(stream, r).await;
    assert_eq!(out.state, PortState::Open);
    out.service.expect("a service is always set")
}

async fn identify(addr: SocketAddr) -> Service {
    identify_with(Catalog::builtin(), settings(3000), addr).await
}

/// The built-in catalogue plus one extra file (e.g. to make a port a TLS port).
fn catalog_with(extra: &str) -> Arc<Catalog> {
    let mut sources = embedded_sources();
    sources.push(Source {
        name: "extra.toml".into(),
        text: extra.into(),
        user: true,
    });
    let names: Vec<&str> = dialogues().iter().map(|d| d.name()).collect();
    Arc::new(compile(sources, &names).unwrap_or_else(|e| panic!("{e}")))
}

fn tls_port_file(port: u16) -> String {
    format!(
        "id = \"test-tls\"\nname = \"t\"\ncategory = \"tls\"\nexposure = \"public-ok\"\ntls_ports = [{port}]\n\
         [[match]]\nprobe = \"http-get\"\npattern = '^NEVER-MATCHES'\n"
    )
}

/// Reads one request: waits for its first bytes, then up to a blank line (or
/// whatever arrives within 200 ms for non-HTTP requests).
async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        let wait = if buf.is_empty() { 10_000 } else { 200 };
        let n = match tokio::time::timeout(Duration::from_millis(wait), s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (!buf.is_empty()).then_some(buf),
            Err(_) => return (!buf.is_empty()).then_some(buf),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || !buf.starts_with(b"GET") {
            return Some(buf);
        }
    }
}

fn http_response(status: &str, body: &str, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}", body.len())
        .into_bytes()
}

#[tokio::test]
async fn greeting_service_is_named_from_its_banner() {
    let f = fake(|mut s| async move {
        let _ = s
            .write_all(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")
            .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "ssh", "{svc:?}");
    assert_eq!(svc.product.as_deref(), Some("OpenSSH"));
    assert_eq!(svc.version.as_deref(), Some("9.6p1"));
    assert_eq!(svc.confidence, Confidence::Probed);
    assert_eq!(svc.connections, 1);
    assert!(svc.banner.unwrap().starts_with("SSH-2.0-OpenSSH_9.6p1"));
}

#[tokio::test]
async fn client_first_service_answers_its_probe() {
    let f = fake(|mut s| async move {
        while let Some(req) = read_request(&mut s).await {
            let reply: &[u8] = if req == b"version\r\n" {
                b"VERSION 1.6.21\r\n"
            } else {
                b"ERROR\r\n"
            };
            if s.write_all(reply).await.is_err() {
                return;
            }
        }
    })
    .await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "memcached", "{svc:?}");
    assert_eq!(svc.version.as_deref(), Some("1.6.21"));
    assert_eq!(svc.auth, AuthState::None);
}

/// A keep-alive HTTP server that answers RESP with 400 and closes.
async fn couch(all_dbs_status: &'static str) -> Fake {
    fake(move |mut s| async move {
        while let Some(req) = read_request(&mut s).await {
            let (reply, close) = if !req.starts_with(b"GET ") {
                (
                    http_response("400 Bad Request", "", "Connection: close\r\n"),
                    true,
                )
            } else if req.starts_with(b"GET /_all_dbs ") {
                (http_response(all_dbs_status, "[\"_users\"]", ""), false)
            } else if req.starts_with(b"GET / ") {
                (
                    http_response(
                        "200 OK",
                        r#"{"couchdb":"Welcome","version":"3.3.3"}"#,
                        "Server: CouchDB/3.3.3\r\n",
                    ),
                    false,
                )
            } else {
                (http_response("404 Not Found", "{}", ""), false)
            };
            if s.write_all(&reply).await.is_err() || close {
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn http_keep_alive_is_reused_and_connections_are_counted() {
    let f = couch("200 OK").await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "couchdb", "{svc:?}");
    assert_eq!(svc.version.as_deref(), Some("3.3.3"));
    assert_eq!(svc.auth, AuthState::None, "{svc:?}");
    // The sweep's connection carried the RESP PING (answered 400 + close);
    // one more carried GET / and, kept alive, GET /_all_dbs.
    assert_eq!(svc.connections, 2, "{svc:?}");
    assert_eq!(f.accepted.load(Ordering::SeqCst), 2);

    let f = couch("401 Unauthorized").await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.auth, AuthState::Required, "{svc:?}");
}

/// A fake Redis that, like the real one, drops a client that sends `Host:`.
async fn redis(auth: bool, saw_host: Arc<AtomicBool>) -> Fake {
    fake(move |mut s| {
        let saw_host = saw_host.clone();
        async move {
            while let Some(req) = read_request(&mut s).await {
                if req.windows(5).any(|w| w.eq_ignore_ascii_case(b"host:")) {
                    saw_host.store(true, Ordering::SeqCst);
                    return;
                }
                let reply: &[u8] = if auth {
                    b"-NOAUTH Authentication required.\r\n"
                } else if req.windows(4).any(|w| w == b"PING") {
                    b"+PONG\r\n"
                } else if req.windows(4).any(|w| w == b"INFO") {
                    b"$60\r\n# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n\r\n"
                } else {
                    b"-ERR unknown command\r\n"
                };
                if s.write_all(reply).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

#[tokio::test]
async fn redis_is_ruled_out_before_any_http_request() {
    let saw_host = Arc::new(AtomicBool::new(false));
    let f = redis(false, saw_host.clone()).await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "redis", "{svc:?}");
    assert_eq!(svc.auth, AuthState::None);
    assert_eq!(
        svc.version.as_deref(),
        Some("7.2.4"),
        "INFO server on the same connection"
    );
    assert_eq!(svc.info.as_deref(), Some("mode standalone"));
    assert_eq!(
        svc.connections, 1,
        "PING and INFO share the sweep's connection"
    );
    assert!(
        !saw_host.load(Ordering::SeqCst),
        "an HTTP request reached Redis"
    );

    let saw_host = Arc::new(AtomicBool::new(false));
    let f = redis(true, saw_host.clone()).await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "redis", "{svc:?}");
    assert_eq!(svc.auth, AuthState::Required);
    assert!(svc.auth_evidence.unwrap().contains("NOAUTH"));
    assert!(!saw_host.load(Ordering::SeqCst));
}

#[tokio::test]
async fn redis_protected_mode_greeting() {
    let f = fake(|mut s| async move {
        let _ = s
            .write_all(
                b"-DENIED Redis is running in protected mode because protected mode is enabled\r\n",
            )
            .await;
    })
    .await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "redis", "{svc:?}");
    assert_eq!(svc.auth, AuthState::Protected);
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let ck = rcgen::generate_simple_self_signed(vec!["fake.test".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// HTTPS that serves Elasticsearch's root document.
async fn https_es() -> Fake {
    let acceptor = tls_acceptor();
    fake(move |s| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut t) = acceptor.accept(s).await else { return };
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = t.read(&mut buf).await {
                if n == 0 {
                    return;
                }
                let body = r#"{"name":"n","cluster_name":"c","version":{"number":"8.13.2"},"tagline":"You Know, for Search"}"#;
                let reply = if buf.starts_with(b"GET / ") {
                    http_response("200 OK", body, "")
                } else {
                    http_response("400 Bad Request", "", "Connection: close\r\n")
                };
                if t.write_all(&reply).await.is_err() || !buf.starts_with(b"GET / ") {
                    let _ = t.shutdown().await;
                    return;
                }
            }
        }
    })
    .await
}

#[tokio::test]
async fn tls_is_detected_on_an_unknown_port_and_probed_inside() {
    let f = https_es().await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "elasticsearch", "{svc:?}");
    assert_eq!(svc.version.as_deref(), Some("8.13.2"));
    let tls = svc.tls.expect("tls facts");
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
    assert!(tls.self_signed);
    assert!(tls.sans.contains(&"fake.test".to_string()), "{tls:?}");
    assert!(tls.not_after.is_some());
    assert!(tls.error.is_none());
}

#[tokio::test]
async fn hinted_tls_port_sends_client_hello_first() {
    let f = https_es().await;
    let cat = catalog_with(&tls_port_file(f.addr.port()));
    let svc = identify_with(cat, settings(3000), f.addr).await;
    assert_eq!(svc.name, "elasticsearch", "{svc:?}");
    assert!(svc.tls.is_some());
}

#[tokio::test]
async fn plaintext_on_a_tls_port_is_reported_as_the_real_service() {
    // An SSH server greets at once; our ClientHello gets its banner back.
    let f = fake(|mut s| async move {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(b"Invalid SSH identification string.\r\n").await;
    })
    .await;
    let cat = catalog_with(&tls_port_file(f.addr.port()));
    let svc = identify_with(cat, settings(3000), f.addr).await;
    assert_eq!(svc.name, "ssh", "{svc:?}");
    assert!(svc.tls.is_none());

    // A plain HTTP server answers the ClientHello with 400: probe it in clear.
    let f = couch("200 OK").await;
    let cat = catalog_with(&tls_port_file(f.addr.port()));
    let svc = identify_with(cat, settings(3000), f.addr).await;
    assert_eq!(svc.name, "couchdb", "{svc:?}");
    assert!(svc.tls.is_none());
}

#[tokio::test]
async fn legacy_tls_is_tls_with_an_error() {
    let f = fake(|mut s| async move {
        let mut buf = [0u8; 1024];
        if s.read(&mut buf).await.unwrap_or(0) > 0 {
            // alert(21), TLS 1.0 record, fatal protocol_version(70).
            let _ = s.write_all(b"\x15\x03\x01\x00\x02\x02\x46").await;
        }
    })
    .await;
    let cat = catalog_with(&tls_port_file(f.addr.port()));
    let svc = identify_with(cat, settings(3000), f.addr).await;
    assert_eq!(svc.name, "tls", "{svc:?}");
    let err = svc.tls.and_then(|t| t.error).unwrap_or_default();
    assert!(err.contains("legacy"), "{err}");
    assert_eq!(
        svc.note.map(exposecheck::model::ServiceNote::as_str),
        Some("tls-error")
    );
}

#[tokio::test]
async fn tls_black_hole_ends_at_the_budget() {
    let f = fake(|mut s| async move {
        let mut buf = [0u8; 1024];
        while s.read(&mut buf).await.unwrap_or(0) > 0 {}
    })
    .await;
    let cat = catalog_with(&tls_port_file(f.addr.port()));
    let start = Instant::now();
    let svc = identify_with(cat, settings(700), f.addr).await;
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(svc.name, "unknown", "{svc:?}");
    assert_eq!(
        svc.note.map(exposecheck::model::ServiceNote::as_str),
        Some("budget-exhausted")
    );
}

#[tokio::test]
async fn silent_accept_and_drip_end_at_the_budget() {
    let f = fake(|s| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(s);
    })
    .await;
    let start = Instant::now();
    let svc = identify_with(Catalog::builtin(), settings(1000), f.addr).await;
    assert!(
        start.elapsed() < Duration::from_millis(2000),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(svc.name, "unknown", "{svc:?}");
    assert_eq!(
        svc.note.map(exposecheck::model::ServiceNote::as_str),
        Some("budget-exhausted")
    );

    let f = fake(|mut s| async move {
        for _ in 0..200 {
            if s.write_all(b"z").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    })
    .await;
    let start = Instant::now();
    let svc = identify_with(Catalog::builtin(), settings(1000), f.addr).await;
    assert!(
        start.elapsed() < Duration::from_millis(2000),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(svc.name, "unknown", "{svc:?}");
    assert_eq!(
        svc.note.map(exposecheck::model::ServiceNote::as_str),
        Some("budget-exhausted")
    );
    assert!(svc.banner.unwrap().starts_with("zzz"));
}

#[tokio::test]
async fn byte_budget_stops_an_endless_stream() {
    let f = fake(|mut s| async move {
        let block = [b'A'; 8192];
        while s.write_all(&block).await.is_ok() {}
    })
    .await;
    let s = Settings {
        max_bytes: 4096,
        ..settings(3000)
    };
    let svc = identify_with(Catalog::builtin(), s, f.addr).await;
    assert_eq!(svc.name, "unknown", "{svc:?}");
    assert_eq!(
        svc.note.map(exposecheck::model::ServiceNote::as_str),
        Some("budget-exhausted")
    );
    assert!(svc.banner.unwrap().len() <= 256);
}

#[tokio::test]
async fn accept_then_close_is_tcpwrapped() {
    let f = fake(|s| async move {
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        drop(s);
    })
    .await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "unknown", "{svc:?}");
    assert_eq!(
        svc.note.map(exposecheck::model::ServiceNote::as_str),
        Some("tcpwrapped")
    );
    // The sweep's connection and one more, timed from its handshake: a
    // wrapper closes at once, an idle timeout only after a wait.
    assert_eq!(svc.connections, 2);
}

/// Accepts, answers RESP commands that come within 200 ms with NOAUTH, and
/// closes a connection that stays silent that long (an idle timeout, not
/// a wrapper: Unbound's, after a burst of connections), inside the
/// greeting wait.
async fn idle_closer(mut s: TcpStream, answers: bool) {
    let mut buf = [0u8; 512];
    let wait = Duration::from_millis(200);
    while let Ok(Ok(n)) = tokio::time::timeout(wait, s.read(&mut buf)).await {
        if n == 0 || !answers || buf[0] != b'*' {
            return;
        }
        if s.write_all(b"-NOAUTH Authentication required.\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}

#[tokio::test]
async fn a_short_idle_timeout_is_walked_not_taken_for_a_wrapper() {
    let f = fake(|s| idle_closer(s, true)).await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "redis", "{svc:?}");
    assert_eq!(svc.auth, AuthState::Required, "{svc:?}");
    let mute = fake(|s| idle_closer(s, false)).await;
    let svc = identify(mute.addr).await;
    assert_eq!(
        (
            svc.name.as_str(),
            svc.note.map(exposecheck::model::ServiceNote::as_str)
        ),
        ("unknown", Some("tcpwrapped")),
        "closed every connection without a byte: {svc:?}"
    );
    assert!(svc.connections > 2, "walked: {svc:?}");
}

/// A server that says nothing and counts how many of its connections are
/// open at once (closed when it reads end of stream or an error).
struct Crowd {
    open: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

async fn silent_crowd() -> (Fake, Crowd) {
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (o, m) = (open.clone(), most.clone());
    let f = fake(move |mut s| {
        let (open, most) = (o.clone(), m.clone());
        async move {
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let mut buf = [0u8; 512];
            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            open.fetch_sub(1, Ordering::SeqCst);
        }
    })
    .await;
    (f, Crowd { open, most })
}

/// The walk's dialogues that need a connection each go at most ten at a
/// time (Knot's listen backlog, Unbound's TCP slots), DNS alone before the
/// rest: every one is still tried on a port that answers none of them.
#[tokio::test]
async fn the_walk_never_holds_more_than_ten_connections_at_once() {
    let (f, crowd) = silent_crowd().await;
    let svc = identify_with(Catalog::builtin(), settings(15_000), f.addr).await;
    assert_eq!(svc.name, "unknown", "{svc:?}");
    let ctx = ProbeCtx {
        host: None,
        port: f.addr.port(),
    };
    let batch = dialogues()
        .iter()
        .filter(|d| d.first(&ctx).is_some())
        .count();
    assert!(
        svc.connections as usize > batch,
        "every dialogue had its connection: {batch} dialogues, {svc:?}"
    );
    assert_eq!(svc.connections as usize, f.accepted.load(Ordering::SeqCst));
    // One more than the width: a dropped connection's end of stream can
    // reach the server just after the next one is accepted.
    let most = crowd.most.load(Ordering::SeqCst);
    assert!(most <= 11, "{most} connections open at once");
    let end = Instant::now() + Duration::from_secs(2);
    while crowd.open.load(Ordering::SeqCst) > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(crowd.open.load(Ordering::SeqCst), 0, "all closed");
}

#[tokio::test]
async fn echo_server_is_named_echo() {
    let f = fake(|mut s| async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    })
    .await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "echo", "{svc:?}");
    assert_eq!(svc.confidence, Confidence::Probed);
    assert!(svc.banner.is_some());
}

#[tokio::test]
async fn random_bytes_server_stays_unknown() {
    let f = fake(|mut s| async move {
        // A fixed xorshift stream: binary noise, no protocol.
        let mut x: u32 = 0x9e37_79b9;
        let mut noise = Vec::with_capacity(600);
        for _ in 0..600 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise.push((x >> 8) as u8 | 0x80);
        }
        let _ = s.write_all(&noise).await;
        let mut buf = [0u8; 1024];
        while s.read(&mut buf).await.unwrap_or(0) > 0 {
            let _ = s.write_all(&noise[..64]).await;
        }
    })
    .await;
    let svc = identify(f.addr).await;
    assert_eq!(svc.name, "unknown", "{svc:?}");
    assert_eq!(svc.confidence, Confidence::Probed);
    let banner = svc.banner.unwrap();
    assert!(banner.len() <= 256 && banner.starts_with("\\x"), "{banner}");
}

#[tokio::test]
async fn printer_ports_get_no_payload_unless_asked() {
    let mut bound = None;
    for port in 9100..=9107u16 {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await {
            bound = Some(l);
            break;
        }
    }
    let Some(l) = bound else {
        panic!("no printer port 9100-9107 free on 127.0.0.1");
    };
    let received = Arc::new(Mutex::new(Vec::<u8>::new()));
    let rx = received.clone();
    let f = fake_on(l, move |mut s| {
        let rx = rx.clone();
        async move {
            let mut buf = [0u8; 1024];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    return;
                }
                rx.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }
    });
    let svc = identify_with(Catalog::builtin(), settings(1500), f.addr).await;
    assert_eq!(
        svc.note.map(exposecheck::model::ServiceNote::as_str),
        Some("printer-port-not-probed"),
        "{svc:?}"
    );
    assert_eq!(svc.connections, 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        received.lock().unwrap().is_empty(),
        "a printer was sent a payload"
    );

    let s = Settings {
        probe_printers: true,
        ..settings(1500)
    };
    identify_with(Catalog::builtin(), s, f.addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !received.lock().unwrap().is_empty(),
        "--probe-printers sends probes"
    );
}
