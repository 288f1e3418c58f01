//! Faithful fake servers for products that have no Debian package.
//!
//! EVERY SERVER HERE IS A FAKE, written from the product's documented API and
//! its published example responses (status lines, header names, JSON shapes,
//! taglines), not from captures of a running instance. They speak real
//! HTTP/1.1 (Content-Length, keep-alive, `Connection: close` honoured, HTTP/1.0
//! closes) over a small thread-per-connection std server with bounded reads,
//! optionally under TLS (rustls, certificates from rcgen). A few speak their
//! own line protocols (ZooKeeper four-letter words, NATS), and two are
//! deliberately nothing at all (echo, random bytes) for the confusion matrix.
//!
//! Self-contained (no `super::` imports) so `examples/fixture_host.rs` can
//! include it with `#[path]`. Sockets are bound by the caller (in whatever
//! network namespace it likes) and handed to [`serve`].

#![allow(dead_code)] // tests and the fixture host use different parts

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Elasticsearch version the fakes announce.
pub const ES_VERSION: &str = "8.13.4";
/// OpenSearch version.
pub const OPENSEARCH_VERSION: &str = "2.14.0";
/// Docker Engine version and API version.
pub const DOCKER_VERSION: &str = "26.1.4";
/// Docker API version.
pub const DOCKER_API: &str = "1.45";
/// etcd server version.
pub const ETCD_VERSION: &str = "3.5.14";
/// Grafana version.
pub const GRAFANA_VERSION: &str = "10.4.2";
/// Kubernetes (apiserver and kubelet) version.
pub const K8S_VERSION: &str = "v1.30.2";
/// Consul version.
pub const CONSUL_VERSION: &str = "1.18.2";
/// CouchDB version.
pub const COUCHDB_VERSION: &str = "3.3.3";
/// InfluxDB version (2.x reports it with a leading `v`).
pub const INFLUX_VERSION: &str = "v2.7.6";
/// ZooKeeper version.
pub const ZK_VERSION: &str = "3.8.4";
/// NATS server version.
pub const NATS_VERSION: &str = "2.10.16";
/// jupyter_server version (`/api`).
pub const JUPYTER_VERSION: &str = "2.14.1";
/// Tornado version in Jupyter's Server header.
pub const TORNADO_VERSION: &str = "6.4.1";
/// Werkzeug version.
pub const WERKZEUG_VERSION: &str = "3.0.3";
/// webpack-dev-server version.
pub const WDS_VERSION: &str = "5.0.4";

/// One parsed HTTP request (body read and discarded).
#[derive(Debug)]
pub struct Request {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Query string (after `?`), possibly empty.
    pub query: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Header (lower-cased name, value) pairs.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// First value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP response; the server adds Content-Length and Connection.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Close the connection after this response (the product does).
    pub close: bool,
    /// Send the body with `Transfer-Encoding: chunked`, one chunk per line
    /// (Node.js does this for `res.write()` without a length).
    pub chunked: bool,
}

impl Response {
    fn new(status: u16, ctype: &str, body: impl Into<Vec<u8>>) -> Response {
        let mut r = Response {
            status,
            headers: Vec::new(),
            body: body.into(),
            close: false,
            chunked: false,
        };
        if !ctype.is_empty() {
            r = r.h("Content-Type", ctype);
        }
        r
    }
    /// A JSON response.
    pub fn json(status: u16, body: &str) -> Response {
        Response::new(status, "application/json", body)
    }
    /// A text/plain response.
    pub fn text(status: u16, body: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body)
    }
    /// An HTML response.
    pub fn html(status: u16, body: &str) -> Response {
        Response::new(status, "text/html; charset=utf-8", body)
    }
    /// Adds a header.
    pub fn h(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    /// Adds `Date` (every product here sends one).
    fn dated(self) -> Response {
        let d = http_date(SystemTime::now());
        self.h("Date", &d)
    }
}

/// How a fake handles a connection.
#[derive(Clone, Copy)]
pub enum Kind {
    /// HTTP/1.1 over plain TCP.
    Http(fn(&Request) -> Response),
    /// HTTP/1.1 over TLS with a self-signed certificate for these names
    /// (first name = subject CN).
    Https(fn(&Request) -> Response, &'static [&'static str]),
    /// A raw protocol handler that owns the connection.
    Raw(fn(TcpStream)),
}

/// One fake product.
#[derive(Clone, Copy)]
pub struct Fake {
    /// Fixture id, e.g. `elasticsearch-secured`.
    pub id: &'static str,
    /// The product's default port.
    pub port: u16,
    /// A non-default port for the same fake.
    pub moved: u16,
    /// Behaviour.
    pub kind: Kind,
}

/// Every fake, with its product's default port (variants share it) and a
/// moved port unique across the catalogue.
pub fn catalogue() -> Vec<Fake> {
    use Kind::*;
    let f = |id, port, moved, kind| Fake {
        id,
        port,
        moved,
        kind,
    };
    vec![
        f("elasticsearch-secured", 9200, 19200, Http(es_secured)),
        f("elasticsearch-open", 9200, 19201, Http(es_open)),
        f("opensearch", 9200, 19202, Http(opensearch)),
        f("docker", 2375, 12375, Http(docker)),
        f("etcd", 2379, 12379, Http(etcd)),
        f(
            "kube-apiserver",
            6443,
            16443,
            Https(
                kube_apiserver,
                &["kube-apiserver", "kubernetes", "kubernetes.default"],
            ),
        ),
        f(
            "kubelet-secured",
            10250,
            20250,
            Https(kubelet_secured, &["node-1@1717000000", "node-1"]),
        ),
        f(
            "kubelet-open",
            10250,
            20251,
            Https(kubelet_open, &["node-2@1717000000", "node-2"]),
        ),
        f("kubelet-readonly", 10255, 20255, Http(kubelet_readonly)),
        f("consul", 8500, 18500, Http(consul)),
        f("couchdb-admin-party", 5984, 15984, Http(couchdb_open)),
        f("couchdb-secured", 5984, 15985, Http(couchdb_secured)),
        f("influxdb", 8086, 18086, Http(influxdb)),
        f("zookeeper", 2181, 12181, Raw(zookeeper_default)),
        f(
            "zookeeper-restricted",
            2181,
            12182,
            Raw(zookeeper_restricted),
        ),
        f("nats", 4222, 14222, Raw(nats_open)),
        f("nats-auth", 4222, 14223, Raw(nats_auth)),
        f("jupyter", 8888, 18888, Http(jupyter)),
        f("werkzeug-debug", 5000, 15000, Http(werkzeug)),
        f("vite", 5173, 15173, Http(vite)),
        f("webpack-dev-server", 8080, 18080, Http(webpack_dev_server)),
        f("express", 3000, 13000, Http(express)),
        f("grafana", 3000, 13030, Http(grafana)),
        f("echo", 7, 17007, Raw(echo)),
        f("random-bytes", 19999, 29999, Raw(random_bytes)),
    ]
}

/// The catalogue entry `id`.
pub fn fake(id: &str) -> Fake {
    catalogue()
        .into_iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no fake {id:?}"))
}

/// Running fakes; [`Running::stop`] (or drop) ends the accept loops.
pub struct Running {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting and joins the accept threads (open connections end
    /// at their own read timeouts).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Most connections one fake serves at a time; more are closed at once.
const MAX_CONNS: usize = 256;
/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Idle time after which a connection is dropped.
const IDLE: Duration = Duration::from_secs(10);

/// Serves `fake` on already-bound `listeners` until the result is dropped.
pub fn serve(fake: Fake, listeners: Vec<TcpListener>) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let tls = match fake.kind {
        Kind::Https(_, names) => Some(tls_config(names)),
        _ => None,
    };
    let live = Arc::new(AtomicUsize::new(0));
    let threads = listeners
        .into_iter()
        .map(|l| {
            let (stop, tls, live) = (stop.clone(), tls.clone(), live.clone());
            l.set_nonblocking(true).expect("nonblocking");
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match l.accept() {
                        Ok((s, _)) => {
                            if live.load(Ordering::SeqCst) >= MAX_CONNS {
                                continue;
                            }
                            live.fetch_add(1, Ordering::SeqCst);
                            let (tls, live) = (tls.clone(), live.clone());
                            std::thread::spawn(move || {
                                handle(fake.kind, tls, s);
                                live.fetch_sub(1, Ordering::SeqCst);
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        })
        .collect();
    Running { stop, threads }
}

fn handle(kind: Kind, tls: Option<Arc<rustls::ServerConfig>>, s: TcpStream) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(IDLE));
    let _ = s.set_write_timeout(Some(IDLE));
    let _ = s.set_nodelay(true);
    match (kind, tls) {
        (Kind::Raw(f), _) => f(s),
        (Kind::Https(h, _), Some(cfg)) => {
            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                return;
            };
            http_session(rustls::StreamOwned::new(conn, s), h);
        }
        (Kind::Http(h), _) | (Kind::Https(h, _), None) => http_session(s, h),
    }
}

/// Serves requests on one connection until close, error or idle timeout.
fn http_session<S: Read + Write>(stream: S, handler: fn(&Request) -> Response) {
    let mut r = BufReader::new(stream);
    for _ in 0..1000 {
        let req = match read_request(&mut r) {
            Ok(Some(req)) => req,
            Ok(None) => return,
            Err(_) => {
                let _ = r
                    .get_mut()
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
                return;
            }
        };
        let client_close = match req.header("connection").map(str::to_ascii_lowercase) {
            Some(c) if c.contains("close") => true,
            Some(c) if c.contains("keep-alive") => false,
            _ => req.version != "HTTP/1.1",
        };
        let resp = handler(&req);
        let close = client_close || resp.close;
        let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
        for (n, v) in &resp.headers {
            head += &format!("{n}: {v}\r\n");
        }
        if resp.chunked {
            head += "Transfer-Encoding: chunked\r\n";
        } else if resp.status != 204 && resp.status != 304 {
            head += &format!("Content-Length: {}\r\n", resp.body.len());
        }
        head += if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        };
        let w = r.get_mut();
        let mut out = head.into_bytes();
        if req.method != "HEAD" && resp.status != 204 {
            if resp.chunked {
                for chunk in resp.body.split_inclusive(|&b| b == b'>') {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            } else {
                out.extend_from_slice(&resp.body);
            }
        }
        if w.write_all(&out).and_then(|_| w.flush()).is_err() || close {
            return;
        }
    }
}

/// Reads one request head (bounded) and discards its body. `Ok(None)` on a
/// clean EOF before any byte.
fn read_request<R: BufRead>(r: &mut R) -> io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let n = r
            .by_ref()
            .take((MAX_HEAD - head.len()) as u64 + 1)
            .read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if head.len() > MAX_HEAD {
            return Err(io::ErrorKind::InvalidData.into());
        }
        if head == b"\r\n" || head == b"\n" {
            head.clear(); // tolerate leading blank lines (RFC 9112 §2.2)
            continue;
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines();
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return Err(io::ErrorKind::InvalidData.into());
    };
    if !version.starts_with("HTTP/1.")
        || method.is_empty()
        || !method.chars().all(|c| c.is_ascii_uppercase())
    {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let req = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        version: version.to_string(),
        headers,
    };
    if let Some(len) = req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        io::copy(&mut r.by_ref().take(len.min(1 << 20)), &mut io::sink())?;
    }
    Ok(Some(req))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Unknown",
    }
}

/// RFC 9110 IMF-fixdate.
fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        WD[days.rem_euclid(7) as usize],
        MO[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn tls_config(names: &[&str]) -> Arc<rustls::ServerConfig> {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("cert params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed cert");
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .expect("tls config");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

// ---------------------------------------------------------------------------
// Elasticsearch / OpenSearch (REST API reference: "Root API", security docs)
// ---------------------------------------------------------------------------

fn es_headers(r: Response) -> Response {
    r.h("X-elastic-product", "Elasticsearch")
}

fn es_secured(req: &Request) -> Response {
    let reason = format!(
        "missing authentication credentials for REST request [{}]",
        req.path
    );
    let body = format!(
        r#"{{"error":{{"root_cause":[{{"type":"security_exception","reason":"{reason}","header":{{"WWW-Authenticate":["Basic realm=\"security\" charset=\"UTF-8\"","Bearer realm=\"security\"","ApiKey"]}}}}],"type":"security_exception","reason":"{reason}","header":{{"WWW-Authenticate":["Basic realm=\"security\" charset=\"UTF-8\"","Bearer realm=\"security\"","ApiKey"]}}}},"status":401}}"#
    );
    es_headers(Response::new(401, "application/json", body))
        .h(
            "WWW-Authenticate",
            "Basic realm=\"security\" charset=\"UTF-8\"",
        )
        .h("WWW-Authenticate", "Bearer realm=\"security\"")
        .h("WWW-Authenticate", "ApiKey")
}

fn es_open(req: &Request) -> Response {
    match req.path.as_str() {
        "/" => es_headers(Response::json(
            200,
            &format!(
                r#"{{
  "name" : "es-node-1",
  "cluster_name" : "docker-cluster",
  "cluster_uuid" : "tq4Gm9XgTGWZ0mJbAHOQ2A",
  "version" : {{
    "number" : "{ES_VERSION}",
    "build_flavor" : "default",
    "build_type" : "docker",
    "build_hash" : "48a287ab9497e852de30327444b0809e55d46466",
    "build_date" : "2024-05-06T22:04:45.107454559Z",
    "build_snapshot" : false,
    "lucene_version" : "9.10.0",
    "minimum_wire_compatibility_version" : "7.17.0",
    "minimum_index_compatibility_version" : "7.0.0"
  }},
  "tagline" : "You Know, for Search"
}}
"#
            ),
        )),
        "/_cat/indices" => es_headers(Response::text(200, "")),
        _ => es_headers(Response::json(
            400,
            &format!(
                r#"{{"error":"no handler found for uri [{}] and method [{}]"}}"#,
                req.path, req.method
            ),
        )),
    }
}

fn opensearch(req: &Request) -> Response {
    if req.path != "/" {
        return Response::json(
            400,
            &format!(
                r#"{{"error":"no handler found for uri [{}] and method [{}]"}}"#,
                req.path, req.method
            ),
        );
    }
    Response::json(
        200,
        &format!(
            r#"{{
  "name" : "opensearch-node1",
  "cluster_name" : "opensearch-cluster",
  "cluster_uuid" : "vXqKa6WmRZ2h0WbK3h5kjg",
  "version" : {{
    "distribution" : "opensearch",
    "number" : "{OPENSEARCH_VERSION}",
    "build_type" : "tar",
    "build_hash" : "e61d8c6e6f2d1b9d4ecb9f4c5a0d9b1f3e7f5f2a",
    "build_date" : "2024-05-09T18:51:00.973564994Z",
    "build_snapshot" : false,
    "lucene_version" : "9.10.0",
    "minimum_wire_compatibility_version" : "7.10.0",
    "minimum_index_compatibility_version" : "7.0.0"
  }},
  "tagline" : "The OpenSearch Project: https://opensearch.org/"
}}
"#
        ),
    )
}

// ---------------------------------------------------------------------------
// Docker Engine API (docs.docker.com/engine/api/v1.45: /_ping, /version)
// ---------------------------------------------------------------------------

fn docker(req: &Request) -> Response {
    let path = req
        .path
        .strip_prefix(&format!("/v{DOCKER_API}"))
        .unwrap_or(&req.path);
    let r = match path {
        "/_ping" => Response::text(200, "OK")
            .h("Cache-Control", "no-cache, no-store, must-revalidate")
            .h("Pragma", "no-cache"),
        "/version" => Response::json(
            200,
            &format!(
                r#"{{"Platform":{{"Name":"Docker Engine - Community"}},"Components":[{{"Name":"Engine","Version":"{DOCKER_VERSION}","Details":{{"ApiVersion":"{DOCKER_API}","Arch":"amd64","BuildTime":"2024-06-06T11:40:10.000000000+00:00","Experimental":"false","GitCommit":"de5c9cf","GoVersion":"go1.21.11","KernelVersion":"6.1.0-21-amd64","MinAPIVersion":"1.24","Os":"linux"}}}}],"Version":"{DOCKER_VERSION}","ApiVersion":"{DOCKER_API}","MinAPIVersion":"1.24","GitCommit":"de5c9cf","GoVersion":"go1.21.11","Os":"linux","Arch":"amd64","KernelVersion":"6.1.0-21-amd64","BuildTime":"2024-06-06T11:40:10.000000000+00:00"}}
"#
            ),
        ),
        _ => Response::json(404, "{\"message\":\"page not found\"}\n"),
    };
    r.h("Api-Version", DOCKER_API)
        .h("Docker-Experimental", "false")
        .h("Ostype", "linux")
        .h("Server", &format!("Docker/{DOCKER_VERSION} (linux)"))
        .dated()
}

// ---------------------------------------------------------------------------
// etcd (etcd.io/docs/v3.5: /version, /health; Go net/http 404s)
// ---------------------------------------------------------------------------

fn go_404() -> Response {
    Response::text(404, "404 page not found\n")
        .h("X-Content-Type-Options", "nosniff")
        .dated()
}

/// Grafana (no package installs here): `/api/health` as its HTTP API
/// documentation shows it (keys sorted, as Go marshals a map), the front page
/// redirecting to /login with the `redirect_to` cookie, the login page.
fn grafana(req: &Request) -> Response {
    match req.path.as_str() {
        "/api/health" => Response::new(
            200,
            "application/json",
            format!(
                "{{\n  \"commit\": \"03f502a94d\",\n  \"database\": \"ok\",\n  \"version\": \"{GRAFANA_VERSION}\"\n}}"
            ),
        )
        .dated(),
        "/" => Response::html(302, "<a href=\"/login\">Found</a>.\n\n")
            .h("Location", "/login")
            .h("Set-Cookie", "redirect_to=%2F; Path=/; HttpOnly; SameSite=Lax")
            .dated(),
        "/login" => Response::html(
            200,
            "<!DOCTYPE html><html lang=\"en-US\"><head><title>Grafana</title></head><body></body></html>",
        )
        .dated(),
        _ => Response::json(404, r#"{"message":"Not found"}"#).dated(),
    }
}

fn etcd(req: &Request) -> Response {
    match req.path.as_str() {
        "/version" => Response::new(
            200,
            "application/json",
            format!(r#"{{"etcdserver":"{ETCD_VERSION}","etcdcluster":"3.5.0"}}"#),
        )
        .dated(),
        "/health" => {
            Response::new(200, "application/json", r#"{"health":"true","reason":""}"#).dated()
        }
        _ => go_404(),
    }
}

// ---------------------------------------------------------------------------
// Kubernetes (apiserver: system:public-info-viewer allows /version to
// anonymous users; kubelet: /pods behind authn on 10250, open on 10255)
// ---------------------------------------------------------------------------

fn k8s_version_json() -> String {
    format!(
        r#"{{
  "major": "1",
  "minor": "30",
  "gitVersion": "{K8S_VERSION}",
  "gitCommit": "39683505b630ff2121012f3c5b16215a1449d5ed",
  "gitTreeState": "clean",
  "buildDate": "2024-06-11T20:21:00Z",
  "goVersion": "go1.22.4",
  "compiler": "gc",
  "platform": "linux/amd64"
}}"#
    )
}

fn k8s_status(code: u16, reason: &str, message: &str) -> Response {
    Response::json(
        code,
        &format!(
            r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{message}","reason":"{reason}","details":{{}},"code":{code}}}
"#
        ),
    )
    .h("Cache-Control", "no-cache, private")
    .h("X-Content-Type-Options", "nosniff")
    .dated()
}

fn kube_apiserver(req: &Request) -> Response {
    match req.path.as_str() {
        "/version" => Response::json(200, &k8s_version_json())
            .h("Audit-Id", "5e2c3f0a-4b0f-4a51-9a51-0c1e0b8f3c11")
            .h("Cache-Control", "no-cache, private")
            .h(
                "X-Kubernetes-Pf-Flowschema-Uid",
                "0f8a9d2c-1a4e-4a0e-9d6b-3b1c2d4e5f60",
            )
            .dated(),
        "/healthz" | "/livez" | "/readyz" => Response::text(200, "ok").dated(),
        p => k8s_status(
            403,
            "Forbidden",
            &format!(r#"forbidden: User \"system:anonymous\" cannot get path \"{p}\""#),
        ),
    }
}

fn pod_list() -> String {
    r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"web-7d4b9c8f5-x2x9k","namespace":"default","uid":"0c5b6f1e-5d6a-4d2b-8f3e-1a2b3c4d5e6f"},"spec":{"containers":[{"name":"web","image":"nginx:1.27"}],"nodeName":"node-1"},"status":{"phase":"Running"}}]}
"#
    .to_string()
}

fn kubelet_common(req: &Request, open: bool) -> Response {
    match req.path.as_str() {
        "/healthz" => Response::text(200, "ok").dated(),
        "/pods" | "/runningpods/" | "/stats/summary" | "/spec/" | "/metrics" | "/configz" => {
            if open {
                Response::json(200, &pod_list()).dated()
            } else {
                Response::text(401, "Unauthorized").dated()
            }
        }
        _ => go_404(),
    }
}

fn kubelet_secured(req: &Request) -> Response {
    kubelet_common(req, false)
}

fn kubelet_open(req: &Request) -> Response {
    kubelet_common(req, true)
}

fn kubelet_readonly(req: &Request) -> Response {
    kubelet_common(req, true)
}

// ---------------------------------------------------------------------------
// Consul (developer.hashicorp.com/consul/api-docs/agent: /v1/agent/self)
// ---------------------------------------------------------------------------

fn consul(req: &Request) -> Response {
    let r = match req.path.as_str() {
        "/" => Response::new(301, "text/html; charset=utf-8", "<a href=\"/ui/\">Moved Permanently</a>.\n\n").h("Location", "/ui/"),
        "/v1/agent/self" => Response::json(
            200,
            &format!(
                r#"{{"Config":{{"Datacenter":"dc1","PrimaryDatacenter":"dc1","NodeName":"consul-server-1","NodeID":"8d3c5e8a-51b3-5bd2-b7f8-3e5b4c0e7a11","Revision":"9f62fb41","Server":true,"Version":"{CONSUL_VERSION}","BuildDate":"2024-05-21T14:07:52Z"}},"DebugConfig":{{"ACLsEnabled":false}},"Coord":{{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":1e-05}},"Member":{{"Name":"consul-server-1","Addr":"10.0.0.5","Port":8301,"Tags":{{"build":"{CONSUL_VERSION}:9f62fb41","dc":"dc1","role":"consul"}},"Status":1}},"Stats":{{}},"Meta":{{"consul-network-segment":"","consul-version":"{CONSUL_VERSION}"}},"xDS":{{"SupportedProxies":{{"envoy":["1.28.3"]}},"Port":8502,"Ports":{{"Plaintext":8502,"TLS":-1}}}}}}"#
            ),
        )
        .h("X-Consul-Default-Acl-Policy", "allow")
        .h("X-Consul-Effective-Consistency", "leader")
        .h("Vary", "Accept-Encoding"),
        "/v1/status/leader" => Response::json(200, "\"10.0.0.5:8300\""),
        _ => Response::text(404, "404 page not found\n").h("X-Content-Type-Options", "nosniff"),
    };
    r.dated()
}

// ---------------------------------------------------------------------------
// CouchDB (docs.couchdb.org/en/stable/api/server/common.html: GET /, /_all_dbs)
// ---------------------------------------------------------------------------

fn couch(r: Response) -> Response {
    r.h("Cache-Control", "must-revalidate")
        .h(
            "Server",
            &format!("CouchDB/{COUCHDB_VERSION} (Erlang OTP/24)"),
        )
        .h("X-Couch-Request-ID", "5a7c1e9b2d")
        .h("X-CouchDB-Body-Time", "0")
        .dated()
}

fn couch_root() -> Response {
    couch(Response::json(
        200,
        &format!(
            r#"{{"couchdb":"Welcome","version":"{COUCHDB_VERSION}","git_sha":"40afbcfc7","uuid":"f7c0a2c4d9a1f1e6e0b9a8d7c6b5a4f3","features":["access-ready","partitioned","pluggable-storage-engines","reshard","scheduler"],"vendor":{{"name":"The Apache Software Foundation"}}}}
"#
        ),
    ))
}

fn couch_not_found() -> Response {
    couch(Response::json(
        404,
        "{\"error\":\"not_found\",\"reason\":\"Database does not exist.\"}\n",
    ))
}

fn couchdb_open(req: &Request) -> Response {
    match req.path.as_str() {
        "/" => couch_root(),
        "/_all_dbs" => couch(Response::json(200, "[\"_replicator\",\"_users\"]\n")),
        _ => couch_not_found(),
    }
}

fn couchdb_secured(req: &Request) -> Response {
    match req.path.as_str() {
        "/" => couch_root(),
        "/_all_dbs" => couch(Response::json(
            401,
            "{\"error\":\"unauthorized\",\"reason\":\"You are not a server admin.\"}\n",
        )),
        _ => couch_not_found(),
    }
}

// ---------------------------------------------------------------------------
// InfluxDB 2 (docs.influxdata.com/influxdb/v2/api: /ping, /health)
// ---------------------------------------------------------------------------

fn influxdb(req: &Request) -> Response {
    let r = match req.path.as_str() {
        "/ping" => Response::new(204, "", ""),
        "/health" => Response::json(
            200,
            &format!(r#"{{"name":"influxdb","message":"ready for queries and writes","status":"pass","checks":[],"version":"{INFLUX_VERSION}","commit":"3c58c06206"}}"#),
        ),
        "/" => Response::new(200, "text/html; charset=utf-8", "<!DOCTYPE html><html><head><title>InfluxDB</title></head><body><div id=\"react-root\"></div></body></html>"),
        _ => Response::json(401, r#"{"code":"unauthorized","message":"unauthorized access"}"#),
    };
    r.h("X-Influxdb-Build", "OSS")
        .h("X-Influxdb-Version", INFLUX_VERSION)
        .dated()
}

// ---------------------------------------------------------------------------
// ZooKeeper four-letter words (zookeeper.apache.org/doc/r3.8.4/zookeeperAdmin.html
// "The Four Letter Words"; 3.5+ allow-lists only `srvr` by default)
// ---------------------------------------------------------------------------

const ZK_WORDS: [&str; 14] = [
    "conf", "cons", "crst", "dump", "envi", "ruok", "srst", "srvr", "stat", "wchs", "wchc", "wchp",
    "mntr", "isro",
];

fn zookeeper(mut s: TcpStream, allowed: &[&str]) {
    let mut cmd = [0u8; 4];
    if s.read_exact(&mut cmd).is_err() {
        return;
    }
    let word = String::from_utf8_lossy(&cmd).to_string();
    let reply = if !ZK_WORDS.contains(&word.as_str()) {
        // Not a 4lw: ZooKeeper reads the 4 bytes as a packet length and,
        // for anything implausible, logs and closes.
        return;
    } else if !allowed.contains(&word.as_str()) {
        format!("{word} is not executed because it is not in the whitelist.\n")
    } else {
        match word.as_str() {
            "ruok" => "imok".to_string(),
            _ => format!(
                "Zookeeper version: {ZK_VERSION}-7e3a62ac5b6e54d3f6ba0bc4c3ad3d2f9a1b0f24, built on 2024-02-12 22:16 UTC\n\
                 Latency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\nZxid: 0x0\n\
                 Mode: standalone\nNode count: 5\n"
            ),
        }
    };
    let _ = s.write_all(reply.as_bytes());
}

fn zookeeper_default(s: TcpStream) {
    zookeeper(s, &["srvr"]);
}

fn zookeeper_restricted(s: TcpStream) {
    zookeeper(s, &["ruok"]);
}

// ---------------------------------------------------------------------------
// NATS (docs.nats.io/reference/reference-protocols/nats-protocol: INFO first)
// ---------------------------------------------------------------------------

fn nats(mut s: TcpStream, auth: bool) {
    let info = format!(
        "INFO {{\"server_id\":\"NCXVQ6TQ3Y2M2W7HNOKGQ5DBGQHWXPAHXIA3XC2RWRYOTX3CFOIHUTAC\",\"server_name\":\"nats-1\",\"version\":\"{NATS_VERSION}\",\"proto\":1,\"git_commit\":\"80d7ba7\",\"go\":\"go1.22.3\",\"host\":\"0.0.0.0\",\"port\":4222,\"headers\":true,{}\"max_payload\":1048576,\"client_id\":5,\"client_ip\":\"{}\",\"xkey\":\"XDMAQ3ZZVKH4ZGPZ4Y6NZBDX4HI2Y5WG2KSIPOZ3SUXKKUQX2LRQIFVO\"}} \r\n",
        if auth { "\"auth_required\":true," } else { "" },
        s.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default()
    );
    if s.write_all(info.as_bytes()).is_err() {
        return;
    }
    let _ = s.set_read_timeout(Some(Duration::from_secs(2))); // NATS' default auth_timeout
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        match r.by_ref().take(4096).read_line(&mut line) {
            Ok(0) | Err(_) => {
                if auth {
                    let _ = s.write_all(b"-ERR 'Authentication Timeout'\r\n");
                }
                return;
            }
            Ok(_) => {}
        }
        let op = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match op.as_str() {
            "PING" if !auth => b"PONG\r\n",
            "PONG" => continue,
            "CONNECT" if auth => b"-ERR 'Authorization Violation'\r\n",
            "CONNECT" => continue,
            _ if auth => b"-ERR 'Authorization Violation'\r\n",
            _ => b"-ERR 'Unknown Protocol Operation'\r\n",
        };
        if s.write_all(reply).is_err() || reply.starts_with(b"-ERR") {
            return;
        }
    }
}

fn nats_open(s: TcpStream) {
    nats(s, false);
}

fn nats_auth(s: TcpStream) {
    nats(s, true);
}

// ---------------------------------------------------------------------------
// Jupyter Server (jupyter-server.readthedocs.io REST API: GET /api; Tornado)
// ---------------------------------------------------------------------------

fn jupyter(req: &Request) -> Response {
    let r = match req.path.as_str() {
        "/" | "/tree" => Response::new(302, "text/html; charset=UTF-8", "").h("Location", "/login?next=%2Ftree%3F"),
        "/api" => Response::new(200, "application/json", format!("{{\"version\": \"{JUPYTER_VERSION}\"}}")),
        "/login" => Response::new(
            200,
            "text/html; charset=UTF-8",
            "<!DOCTYPE HTML>\n<html>\n<head>\n<title>Jupyter Server</title>\n</head>\n<body>\n<form action=\"/login?next=%2Ftree%3F\" method=\"post\">\n<label for=\"password_input\"><strong>Password or token:</strong></label>\n</form>\n</body>\n</html>\n",
        ),
        p if p.starts_with("/api/") => Response::new(403, "application/json", "{\"message\": \"Forbidden\", \"reason\": null}"),
        _ => Response::new(404, "text/html; charset=UTF-8", "<html><title>404: Not Found</title><body>404: Not Found</body></html>"),
    };
    r.h("Server", &format!("TornadoServer/{TORNADO_VERSION}"))
        .h("X-Content-Type-Options", "nosniff")
        .h(
            "Content-Security-Policy",
            "frame-ancestors 'self'; report-uri /api/security/csp-report; default-src 'none'",
        )
        .dated()
}

// ---------------------------------------------------------------------------
// Werkzeug / Flask debug server (werkzeug.palletsprojects.com "Debugging
// Applications": /console, __debugger__ resources)
// ---------------------------------------------------------------------------

fn werkzeug(req: &Request) -> Response {
    let r = if req.query.contains("__debugger__=yes") && req.query.contains("cmd=resource") {
        Response::new(
            200,
            "text/css; charset=utf-8",
            "body, input { font-family: sans-serif; }\n",
        )
    } else {
        match req.path.as_str() {
            "/" => Response::html(200, "<p>Hello, World!</p>"),
            "/console" => Response::html(
                200,
                "<!doctype html>\n<html lang=en>\n  <head>\n    <title>Console // Werkzeug Debugger</title>\n    <link rel=\"stylesheet\" href=\"?__debugger__=yes&amp;cmd=resource&amp;f=style.css\">\n    <script src=\"?__debugger__=yes&amp;cmd=resource&amp;f=debugger.js\"></script>\n    <script>\n      var CONSOLE_MODE = true,\n          EVALEX = true,\n          EVALEX_TRUSTED = false,\n          SECRET = \"Xq3vYbW1kLmN8pRtZs2d\";\n    </script>\n  </head>\n  <body style=\"background-color: #fff\">\n    <div class=\"debugger\">\n<h1>Interactive Console</h1>\n</div>\n  </body>\n</html>\n",
            ),
            _ => Response::html(
                404,
                "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n",
            ),
        }
    };
    let mut r = r
        .h(
            "Server",
            &format!("Werkzeug/{WERKZEUG_VERSION} Python/3.11.2"),
        )
        .dated();
    r.close = true; // the dev server closes after each response
    r
}

// ---------------------------------------------------------------------------
// Vite dev server (vitejs.dev/guide: index.html gets /@vite/client injected)
// ---------------------------------------------------------------------------

fn node_style(r: Response) -> Response {
    r.dated().h("Keep-Alive", "timeout=5")
}

fn vite(req: &Request) -> Response {
    let r = match req.path.as_str() {
        "/" | "/index.html" => Response::html(
            200,
            "<!doctype html>\n<html lang=\"en\">\n  <head>\n    <script type=\"module\" src=\"/@vite/client\"></script>\n\n    <meta charset=\"UTF-8\" />\n    <title>Vite App</title>\n  </head>\n  <body>\n    <div id=\"app\"></div>\n    <script type=\"module\" src=\"/src/main.ts\"></script>\n  </body>\n</html>\n",
        )
        .h("Cache-Control", "no-cache")
        .h("Etag", "W/\"1a5-Yb0Qq3m2xH9c9V2kq1S0u2w0b1c\""),
        "/@vite/client" => Response::new(
            200,
            "text/javascript",
            "import \"/node_modules/vite/dist/client/env.mjs\";\n\nconsole.debug(\"[vite] connecting...\");\nconst importMetaUrl = new URL(import.meta.url);\n",
        )
        .h("Cache-Control", "no-cache"),
        _ => Response::new(404, "", ""),
    };
    node_style(r.h("Vary", "Origin"))
}

// ---------------------------------------------------------------------------
// webpack-dev-server (webpack.js.org/configuration/dev-server: Express-based,
// `/webpack-dev-server` lists the in-memory assets)
// ---------------------------------------------------------------------------

fn webpack_dev_server(req: &Request) -> Response {
    let r = match req.path.as_str() {
        "/" | "/index.html" => Response::html(
            200,
            "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Webpack App</title></head>\n<body><script defer src=\"main.js\"></script></body>\n</html>\n",
        )
        .h("Accept-Ranges", "bytes"),
        // lib/Server.js writes this page piecewise with res.write(): no
        // <title>, chunked transfer coding.
        "/webpack-dev-server" => {
            let mut page = Response::html(
                200,
                "<!DOCTYPE html><html><head><meta charset=\"utf-8\"/></head><body><h1>Assets Report:</h1><div><h2>Compilation: unnamed</h2><ul><li>\n              <strong><a href=\"main.js\" target=\"_blank\">main.js</a></strong>\n            </li></ul></div></body></html>",
            );
            page.chunked = true;
            page
        }
        "/main.js" => Response::new(200, "application/javascript; charset=utf-8", "/******/ (() => { // webpackBootstrap\n/******/ \t\"use strict\";\n/******/ })();\n"),
        p => express_404(&req.method, p),
    };
    node_style(r.h("X-Powered-By", "Express"))
}

// ---------------------------------------------------------------------------
// Express (expressjs.com "Hello world example"; finalhandler's 404 page)
// ---------------------------------------------------------------------------

fn express_404(method: &str, path: &str) -> Response {
    Response::html(
        404,
        &format!("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot {method} {path}</pre>\n</body>\n</html>\n"),
    )
    .h("Content-Security-Policy", "default-src 'none'")
    .h("X-Content-Type-Options", "nosniff")
}

fn express(req: &Request) -> Response {
    let r = match req.path.as_str() {
        "/" => Response::html(200, "Hello World!").h("ETag", "W/\"c-Lve95gjOVATpfV8EL5X4nxwjKHE\""),
        p => express_404(&req.method, p),
    };
    node_style(r.h("X-Powered-By", "Express"))
}

// ---------------------------------------------------------------------------
// Echo, and noise that is no service at all (it must stay `unknown`).
// ---------------------------------------------------------------------------

/// Reflects every byte back (RFC 862), bounded in bytes and time: a fake
/// for a moved port (inetd's internal echo takes port 7 only).
fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    while total < 1 << 20 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                total += n;
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends 2 KiB of pseudo-random bytes on connect, then drains input.
fn random_bytes(mut s: TcpStream) {
    let mut x: u64 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let bytes: Vec<u8> = (0..2048)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    if s.write_all(&bytes).is_err() {
        return;
    }
    let _ = io::copy(&mut s.take(1 << 20), &mut io::sink());
}

#[cfg(test)]
mod selftest {
    use super::*;

    #[test]
    fn fakes_http_date_is_imf_fixdate() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(1_717_171_717)),
            "Fri, 31 May 2024 16:08:37 GMT"
        );
    }

    #[test]
    fn fakes_http_keepalive_and_close() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let _run = serve(fake("elasticsearch-open"), vec![l]);
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        for close in [false, true] {
            let conn = if close { "Connection: close\r\n" } else { "" };
            write!(s, "GET / HTTP/1.1\r\nHost: x\r\n{conn}\r\n").unwrap();
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.strip_prefix("Content-Length: ") {
                    len = v.trim().parse().unwrap();
                }
                head += &line;
                if line == "\r\n" {
                    break;
                }
            }
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            assert_eq!(head.contains("Connection: close"), close, "{head}");
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            assert!(String::from_utf8_lossy(&body).contains("You Know, for Search"));
        }
        let mut rest = Vec::new();
        assert_eq!(
            r.read_to_end(&mut rest).unwrap(),
            0,
            "server must close after Connection: close"
        );
    }
}
