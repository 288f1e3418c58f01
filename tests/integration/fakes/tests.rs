//! Each coded probe against its fake, through a minimal synchronous driver
//! that follows the `Dialogue` contract (send `first()`, feed every byte
//! received since the last request, honour `NeedMore`/`Send`/`Done`/`Stop`).

use super::{spawn, Kind};
use exposecheck::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use exposecheck::fingerprint::proto;
use exposecheck::model::AuthState;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Per-stage read window.
const WINDOW: Duration = Duration::from_millis(1500);

/// Runs dialogue `name` against `addr`; returns the identification.
fn drive(name: &str, addr: SocketAddr) -> Ident {
    let d: &dyn Dialogue = proto::by_name(name).expect("registered dialogue");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let ctx = ProbeCtx {
        host: None,
        port: addr.port(),
    };
    if let Some(first) = d.first(&ctx) {
        s.write_all(&first).unwrap();
    }
    let mut id = Ident::default();
    let mut stage = 0;
    let mut buf = Vec::new();
    let mut started = Instant::now();
    let mut tmp = [0u8; 4096];
    for _ in 0..1000 {
        let mut eof = false;
        match s.read(&mut tmp) {
            Ok(0) => eof = true,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => eof = true,
        }
        let waiting = !eof && started.elapsed() < WINDOW;
        if waiting && d.step(stage, &buf, &mut id.clone()) == Step::NeedMore {
            continue;
        }
        match d.step(stage, &buf, &mut id) {
            Step::Send(next) if !eof => {
                s.write_all(&next).unwrap();
                stage += 1;
                buf.clear();
                started = Instant::now();
            }
            _ => break,
        }
    }
    id
}

fn check(id: &Ident, service: &str, auth: AuthState) {
    assert_eq!(id.service, service, "{id:?}");
    assert_eq!(id.auth, auth, "{id:?}");
}

#[test]
fn mongodb_auth_off_and_on() {
    let f = spawn(Kind::Mongo { auth: false });
    let id = drive("mongodb", f.addr());
    check(&id, "mongodb", AuthState::None);
    assert_eq!(id.version.as_deref(), Some("7.0.14"));
    assert!(
        id.info.as_deref().unwrap().contains("max_wire_version=21"),
        "{id:?}"
    );
    let f = spawn(Kind::Mongo { auth: true });
    let id = drive("mongodb", f.addr());
    check(&id, "mongodb", AuthState::Required);
    assert!(id.auth_evidence.unwrap().contains("Unauthorized"));
}

#[test]
fn mongodb_without_hello_falls_back() {
    let f = spawn(Kind::MongoOld { auth: true });
    let id = drive("mongodb", f.addr());
    check(&id, "mongodb", AuthState::Required);
    assert_eq!(id.version.as_deref(), Some("4.0.28"));
}

#[test]
fn cassandra_ready_and_authenticate() {
    let f = spawn(Kind::Cassandra { auth: false });
    let id = drive("cassandra", f.addr());
    check(&id, "cassandra", AuthState::None);
    assert_eq!(id.version.as_deref(), Some("4.0"));
    let f = spawn(Kind::Cassandra { auth: true });
    check(
        &drive("cassandra", f.addr()),
        "cassandra",
        AuthState::Required,
    );
}

#[test]
fn kafka_api_versions() {
    let f = spawn(Kind::Kafka);
    let id = drive("kafka", f.addr());
    check(&id, "kafka", AuthState::Unknown);
    assert!(id.info.unwrap().contains("api_versions_max=3"));
}

#[test]
fn amqp_connection_start() {
    let f = spawn(Kind::Amqp);
    let id = drive("amqp", f.addr());
    check(&id, "amqp", AuthState::Required);
    assert_eq!(id.product.as_deref(), Some("RabbitMQ"));
    assert_eq!(id.version.as_deref(), Some("3.12.12"));
    assert!(id.info.unwrap().contains("cluster_name=rabbit@fake-mq"));
}

#[test]
fn mssql_prelogin() {
    let f = spawn(Kind::Mssql);
    let id = drive("mssql", f.addr());
    check(&id, "mssql", AuthState::Required);
    assert_eq!(id.version.as_deref(), Some("16.0.1000"));
    assert_eq!(id.info.as_deref(), Some("release=2022; encryption=off"));
}

#[test]
fn rdp_nla_and_tls() {
    let f = spawn(Kind::Rdp { nla: true });
    check(&drive("rdp", f.addr()), "rdp", AuthState::Required);
    let f = spawn(Kind::Rdp { nla: false });
    let id = drive("rdp", f.addr());
    check(&id, "rdp", AuthState::Unknown);
    assert_eq!(id.info.as_deref(), Some("security=tls"));
}

#[test]
fn smb_negotiate() {
    let f = spawn(Kind::Smb);
    let id = drive("smb", f.addr());
    check(&id, "smb", AuthState::Unknown);
    assert_eq!(id.info.as_deref(), Some("dialect=3.1.1; signing=enabled"));
}

#[test]
fn vnc_none_and_password() {
    let f = spawn(Kind::Vnc { auth: false });
    check(&drive("vnc", f.addr()), "vnc", AuthState::None);
    let f = spawn(Kind::Vnc { auth: true });
    let id = drive("vnc", f.addr());
    check(&id, "vnc", AuthState::Required);
    assert_eq!(id.info.as_deref(), Some("rfb=3.8; security=VNC"));
}

#[test]
fn telnet_login_prompt() {
    let f = spawn(Kind::Telnet);
    let id = drive("telnet", f.addr());
    check(&id, "telnet", AuthState::Required);
    assert!(id.auth_evidence.unwrap().contains("fake-host login:"));
}

#[test]
fn epmd_names() {
    let f = spawn(Kind::Epmd);
    let id = drive("epmd", f.addr());
    check(&id, "epmd", AuthState::None);
    assert_eq!(
        id.info.as_deref(),
        Some("epmd_port=4369; nodes=rabbit:25672,fake:45000")
    );
}

#[test]
fn erlang_distribution_status() {
    let f = spawn(Kind::ErlangDist);
    let id = drive("erlang-dist", f.addr());
    check(&id, "erlang-dist", AuthState::Required);
    assert_eq!(id.info.as_deref(), Some("status=ok; node=rabbit@fake"));
}

#[test]
fn fakes_serve_many_connections_and_stop_on_drop() {
    let f = spawn(Kind::Mongo { auth: true });
    let addr = f.addr();
    let workers: Vec<_> = (0..12)
        .map(|_| std::thread::spawn(move || drive("mongodb", addr).auth))
        .collect();
    for w in workers {
        assert_eq!(w.join().unwrap(), AuthState::Required);
    }
    assert_eq!(f.connections(), 12);
    drop(f);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

#[test]
fn dialogues_do_not_match_the_wrong_fake() {
    let f = spawn(Kind::Kafka);
    for name in ["mongodb", "cassandra", "amqp", "mssql", "rdp", "smb"] {
        let id = drive(name, f.addr());
        assert!(!id.matched(), "{name} matched a Kafka broker: {id:?}");
    }
}
