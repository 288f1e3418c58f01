//! Hostile servers for `hostile.rs`: in-process tokio listeners that lie,
//! stall, flood or inject, one [`Kind`] per misbehaviour of the hostile-target
//! catalogue (reliability notes §1.6).
//!
//! A [`Farm`] runs one kind on many listeners at once (on 127.0.0.1:0, or on
//! a fixed port inside a network namespace) on its own small tokio runtime.
//! Every connection is bounded: at most [`MAX_CONNS`] live at once (more are
//! closed at accept), and everything stops when the farm is dropped. Nothing
//! here ever connects anywhere.

#![allow(dead_code)] // hostile.rs uses most kinds; some only in one mode

use socket2::{Domain, SockRef, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most connections a farm keeps at once.
pub const MAX_CONNS: u64 = 8192;

/// What a hostile listener does with each connection.
#[derive(Clone)]
pub enum Kind {
    /// Accepts, never sends, never closes (reads and discards).
    Silent,
    /// Sends one byte a second, forever.
    Drip,
    /// Tiny receive buffer and never reads: the window closes (persist state).
    ZeroWindow,
    /// Accepts, then closes at once with RST.
    Rst,
    /// Accepts, then closes at once with FIN.
    Fin,
    /// A MySQL header announcing 80 bytes, 16 of them, then FIN.
    Truncated,
    /// Random bytes at line rate, forever.
    Endless,
    /// `Content-Length: 10737418240` and an endless body.
    HugeLength,
    /// `Transfer-Encoding: chunked`, endless chunks.
    EndlessChunked,
    /// MySQL packet length `ff ff ff`, then silence.
    MysqlLie,
    /// RESP lies by listener: `$999999999`, `*999999999`, `$-5`, `*1` x 10,000.
    RespLie,
    /// MongoDB lies by listener: length 0x7fffffff, -1, 8, deep BSON.
    MongoLie,
    /// PostgreSQL: `N` to SSLRequest, then ParameterStatus messages forever.
    PgFlood,
    /// Memcached: `VERSION 1.` + digits forever, or `STAT` lines forever.
    MemcachedEndless,
    /// HTTP 200 `application/json` with 100,000 nested `[`.
    JsonBomb,
    /// Greets with invalid UTF-8, NULs, terminal escapes and 10 KB of `\r`.
    Garbage,
    /// Greets with a banner that holds a newline, a JSON record and `</state>`.
    Injection,
    /// A Redis that answers PING with `+PONG\r\n`, one byte per 50 ms.
    DribbleRedis,
    /// An SSH banner, one byte per 50 ms.
    DribbleSsh,
    /// Sends back whatever arrives.
    Echo,
    /// Reads the ClientHello, never answers.
    TlsBlackHole,
    /// An SSH banner (for a TLS port).
    SshBanner,
    /// A real TLS server (rustls) with the given configuration.
    Tls(Arc<rustls::ServerConfig>),
}

/// Many listeners of one kind; dropping it stops them all.
pub struct Farm {
    /// The listening ports, in listener order.
    pub ports: Vec<u16>,
    accepts: Arc<AtomicU64>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Farm {
    /// Connections accepted so far.
    pub fn accepts(&self) -> u64 {
        self.accepts.load(Ordering::SeqCst)
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn bind(addr: SocketAddr, zero_window: bool) -> std::net::TcpListener {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    s.set_reuse_address(true).expect("SO_REUSEADDR");
    if zero_window {
        // Inherited by accepted sockets: the window closes after ~2 KB.
        s.set_recv_buffer_size(256).expect("SO_RCVBUF");
    }
    s.bind(&addr.into())
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    s.listen(4096).expect("listen");
    s.set_nonblocking(true).expect("nonblocking");
    s.into()
}

/// `n` listeners of `kind` on 127.0.0.1, each on a port of its own.
pub fn loopback(kind: Kind, n: usize) -> Farm {
    let zw = matches!(kind, Kind::ZeroWindow);
    let ls = (0..n)
        .map(|_| bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0), zw))
        .collect();
    start(kind, ls)
}

/// One listener of `kind` on `0.0.0.0:port` inside network namespace `ns`.
pub fn in_netns(ns: &str, kind: Kind, port: u16) -> Farm {
    let zw = matches!(kind, Kind::ZeroWindow);
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let l = super::netns::in_netns(ns, move || bind(addr, zw));
    start(kind, vec![l])
}

fn start(kind: Kind, listeners: Vec<std::net::TcpListener>) -> Farm {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let accepts = Arc::new(AtomicU64::new(0));
    let live = Arc::new(AtomicU64::new(0));
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect();
    for (idx, l) in listeners.into_iter().enumerate() {
        let (kind, accepts, live) = (kind.clone(), accepts.clone(), live.clone());
        rt.spawn(async move {
            let l = tokio::net::TcpListener::from_std(l).expect("tokio listener");
            loop {
                let Ok((s, _)) = l.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                accepts.fetch_add(1, Ordering::SeqCst);
                if live.fetch_add(1, Ordering::SeqCst) >= MAX_CONNS {
                    live.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
                let (kind, live) = (kind.clone(), live.clone());
                // Inside a namespace one listener answers a whole range: the
                // variant then follows the address's last octet.
                let idx = match s.local_addr().map(|a| a.ip()) {
                    Ok(IpAddr::V4(v4)) if !v4.is_loopback() => usize::from(v4.octets()[3]),
                    _ => idx,
                };
                tokio::spawn(async move {
                    let _ = s.set_nodelay(true);
                    serve(kind, idx, s).await;
                    live.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
    }
    Farm {
        ports,
        accepts,
        rt: Some(rt),
    }
}

/// Reads and discards until EOF or error.
async fn drain<S: AsyncRead + Unpin>(s: &mut S) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Reads one request (whatever arrives first); false on EOF.
async fn request<S: AsyncRead + Unpin>(s: &mut S) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match s.read(&mut buf).await {
        Ok(n) if n > 0 => {
            buf.truncate(n);
            Some(buf)
        }
        _ => None,
    }
}

/// Writes `chunk()` until the peer goes away.
async fn flood<S: AsyncWrite + Unpin>(s: &mut S, mut chunk: impl FnMut() -> Vec<u8>) {
    while s.write_all(&chunk()).await.is_ok() {}
}

/// Writes `data` one byte per `gap`.
async fn dribble<S: AsyncWrite + Unpin>(s: &mut S, data: &[u8], gap: Duration) -> bool {
    for b in data {
        if s.write_all(&[*b]).await.is_err() {
            return false;
        }
        tokio::time::sleep(gap).await;
    }
    true
}

/// A cheap xorshift byte stream (no rand dependency).
fn noise(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        })
        .collect()
}

/// A BSON document nested `depth` levels deep (`{a:{a:{...}}}`).
pub fn deep_bson(depth: usize) -> Vec<u8> {
    let mut doc = vec![5, 0, 0, 0, 0];
    for _ in 0..depth {
        let mut d = Vec::with_capacity(doc.len() + 8);
        d.extend_from_slice(&[0, 0, 0, 0, 0x03, b'a', 0]);
        d.extend_from_slice(&doc);
        d.push(0);
        let n = d.len() as i32;
        d[..4].copy_from_slice(&n.to_le_bytes());
        doc = d;
    }
    doc
}

/// A MongoDB OP_MSG reply (to request 1) carrying `doc`.
fn op_msg(doc: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((16 + 5 + doc.len()) as i32).to_le_bytes());
    v.extend_from_slice(&7i32.to_le_bytes());
    v.extend_from_slice(&1i32.to_le_bytes());
    v.extend_from_slice(&2013i32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.push(0);
    v.extend_from_slice(doc);
    v
}

/// The banner of [`Kind::Garbage`].
pub fn garbage_banner() -> Vec<u8> {
    let mut b = b"\xff\xfe\xfd\xc3\x28 junk \x1b[2J\x1b[31mred\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07 \x00\x9b31m\x07"
        .to_vec();
    b.extend(std::iter::repeat_n(b'\r', 10_000));
    b
}

/// The banner of [`Kind::Injection`].
pub const INJECTION: &[u8] = b"220 mx ESMTP\r\n\n{\"type\":\"port\",\"ip\":\"6.6.6.6\",\"port\":22,\"proto\":\"tcp\",\"state\":\"closed\",\"reason\":\"conn-refused\",\"tries\":1}\n</state><script>alert(1)</script><port portid=\"1\">\"'&\r\n";

async fn serve(kind: Kind, idx: usize, mut s: TcpStream) {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (idx as u64 + 1);
    match kind {
        Kind::Silent | Kind::TlsBlackHole => drain(&mut s).await,
        Kind::Drip => {
            let mut i = 0u8;
            while s.write_all(&[b'a' + i % 26]).await.is_ok() {
                i = i.wrapping_add(1);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Kind::ZeroWindow => std::future::pending::<()>().await,
        Kind::Rst => {
            let _ = SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
        Kind::Fin => {}
        Kind::Truncated => {
            let mut b = vec![80, 0, 0, 0, 10];
            b.extend_from_slice(b"5.7.99\0\x01\x00\x00\x00abcd");
            let _ = s.write_all(&b).await;
            let _ = s.shutdown().await;
            let _ = tokio::time::timeout(Duration::from_secs(10), drain(&mut s)).await;
        }
        Kind::Endless => flood(&mut s, || noise(&mut seed, 16 * 1024)).await,
        Kind::HugeLength | Kind::EndlessChunked => {
            if request(&mut s).await.is_none() {
                return;
            }
            let chunked = matches!(kind, Kind::EndlessChunked);
            let head: &[u8] = if chunked {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\nContent-Type: text/plain\r\n\r\n"
            };
            if s.write_all(head).await.is_err() {
                return;
            }
            flood(&mut s, || {
                if chunked {
                    let mut c = b"1000\r\n".to_vec();
                    c.extend(std::iter::repeat_n(b'x', 0x1000));
                    c.extend_from_slice(b"\r\n");
                    c
                } else {
                    vec![b'x'; 16 * 1024]
                }
            })
            .await;
        }
        Kind::MysqlLie => {
            let _ = s.write_all(b"\xff\xff\xff\x00\x0a5.7.99\x00\x01\x00").await;
            drain(&mut s).await;
        }
        Kind::RespLie => {
            let lie: Vec<u8> = match idx % 4 {
                0 => b"$999999999\r\nabc".to_vec(),
                1 => b"*999999999\r\n".to_vec(),
                2 => b"$-5\r\n".to_vec(),
                _ => b"*1\r\n".repeat(10_000),
            };
            while request(&mut s).await.is_some() {
                if s.write_all(&lie).await.is_err() {
                    return;
                }
            }
        }
        Kind::MongoLie => {
            let lie: Vec<u8> = match idx % 4 {
                0 => [&0x7fff_ffffi32.to_le_bytes()[..], &[0u8; 12]].concat(),
                1 => [&(-1i32).to_le_bytes()[..], &[0u8; 12]].concat(),
                2 => [&8i32.to_le_bytes()[..], &[0u8; 12]].concat(),
                _ => op_msg(&deep_bson(2000)),
            };
            while request(&mut s).await.is_some() {
                if s.write_all(&lie).await.is_err() {
                    return;
                }
            }
        }
        Kind::PgFlood => loop {
            let Some(req) = request(&mut s).await else {
                return;
            };
            if req == [0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f] {
                if s.write_all(b"N").await.is_err() {
                    return;
                }
                continue;
            }
            let mut n = 0u64;
            flood(&mut s, || {
                n += 1;
                let body = format!("key{n}\0value{n}\0");
                let mut m = vec![b'S'];
                m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
                m.extend_from_slice(body.as_bytes());
                m
            })
            .await;
            return;
        },
        Kind::MemcachedEndless => {
            if request(&mut s).await.is_none() {
                return;
            }
            if idx % 2 == 0 {
                if s.write_all(b"VERSION 1.").await.is_ok() {
                    flood(&mut s, || vec![b'7'; 4096]).await;
                }
            } else {
                let mut n = 0u64;
                flood(&mut s, || {
                    n += 1;
                    format!("STAT pid {n}\r\nSTAT uptime {n}\r\n").into_bytes()
                })
                .await;
            }
        }
        Kind::JsonBomb => {
            while request(&mut s).await.is_some() {
                let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: 200000\r\n\r\n";
                if s.write_all(head).await.is_err() {
                    return;
                }
                let _ = s.write_all(&vec![b'['; 100_000]).await;
                let _ = s.write_all(&vec![b']'; 100_000]).await;
            }
        }
        Kind::Garbage => {
            let _ = s.write_all(&garbage_banner()).await;
            drain(&mut s).await;
        }
        Kind::Injection => {
            let _ = s.write_all(INJECTION).await;
            drain(&mut s).await;
        }
        Kind::DribbleRedis => {
            while let Some(req) = request(&mut s).await {
                let has = |w: &[u8]| req.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w));
                if has(b"PING") {
                    if !dribble(&mut s, b"+PONG\r\n", Duration::from_millis(50)).await {
                        return;
                    }
                } else if has(b"INFO") {
                    let body = "# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n";
                    let reply = format!("${}\r\n{body}\r\n", body.len());
                    if s.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        }
        Kind::DribbleSsh => {
            if dribble(
                &mut s,
                b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n",
                Duration::from_millis(50),
            )
            .await
            {
                drain(&mut s).await;
            }
        }
        Kind::Echo => {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
        Kind::SshBanner => {
            let _ = s
                .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
                .await;
            drain(&mut s).await;
        }
        Kind::Tls(cfg) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
            let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(s)).await;
            if let Ok(Ok(mut tls)) = hs {
                drain(&mut tls).await;
            }
        }
    }
}

/// A TLS server configuration whose chain is `len` certificates long (leaf
/// first, each signed by the next) and whose leaf carries `pad` bytes in a
/// private extension (to make a huge certificate).
pub fn tls_chain(len: usize, pad: usize) -> Arc<rustls::ServerConfig> {
    use rcgen::{BasicConstraints, CertificateParams, CustomExtension, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    assert!(len >= 1);
    // Build from the root down: cert i is signed by cert i-1.
    let mut ders: Vec<CertificateDer<'static>> = Vec::new();
    let mut issuer: Option<(CertificateParams, KeyPair)> = None;
    let mut leaf_key = None;
    for i in 0..len {
        let key = KeyPair::generate().expect("key");
        let leaf = i + 1 == len;
        let mut p = CertificateParams::new(if leaf {
            vec!["hostile.example".to_string()]
        } else {
            Vec::new()
        })
        .expect("params");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, format!("hostile-{i}"));
        if !leaf {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        } else if pad > 0 {
            // OCTET STRING with a minimal (DER) long-form length.
            let len = (pad as u32).to_be_bytes();
            let skip = len.iter().take_while(|b| **b == 0).count();
            let mut content = vec![0x04, 0x80 | (4 - skip) as u8];
            content.extend_from_slice(&len[skip..]);
            content.extend(std::iter::repeat_n(b'A', pad));
            p.custom_extensions.push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 99999, 1],
                content,
            ));
        }
        let cert = match &issuer {
            None => p.self_signed(&key).expect("self-signed"),
            Some((ip, ik)) => p
                .signed_by(&key, &Issuer::from_params(ip, ik))
                .expect("signed"),
        };
        ders.push(cert.der().clone());
        if leaf {
            leaf_key = Some(key.serialize_der());
        } else {
            issuer = Some((p, key));
        }
    }
    ders.reverse();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.expect("leaf key")));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signer = provider.key_provider.load_private_key(key).expect("key");
    // `with_single_cert` parses the leaf with webpki, which refuses DER
    // lengths above 64 KiB: a fixed resolver serves any bytes.
    let ck = Arc::new(rustls::sign::CertifiedKey::new(ders, signer));
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(ck)));
    Arc::new(cfg)
}

/// Serves one certified key to every client.
#[derive(Debug)]
struct Fixed(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Fixed {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}
