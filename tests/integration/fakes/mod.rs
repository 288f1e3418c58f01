//! Faithful fake servers for the coded probes' protocols that have no
//! Debian package to test against.
//!
//! Every fake here is a FAKE written from the protocol's specification (the
//! section is cited in each module), not from a real server's code. Each one
//! answers the exchanges a scanner can start (and a little more, so that a
//! client going further sees plausible bytes), handles many connections at
//! once (one thread per connection) and stops accepting when its
//! [`FakeHandle`] is dropped. Fakes bind wherever they are told: pass a
//! [`TcpListener`] (e.g. one opened inside a network namespace) to
//! [`spawn_on`], or a [`SocketAddr`] to [`spawn_at`].

#![allow(dead_code)] // each test module uses a different part of the fakes

mod erlang;
mod mongo;
mod rdp_smb;
mod simple;
#[cfg(test)]
mod tests;
pub mod udp;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which fake to run, and how it is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// MongoDB 7.0 (OP_MSG and OP_QUERY; `auth` = access control on).
    Mongo {
        /// Access control enabled.
        auth: bool,
    },
    /// MongoDB 4.0-like: OP_MSG works, `hello` is an unknown command.
    MongoOld {
        /// Access control enabled.
        auth: bool,
    },
    /// Cassandra 4.0 CQL (`auth` = PasswordAuthenticator).
    Cassandra {
        /// Authenticator configured.
        auth: bool,
    },
    /// Kafka broker (ApiVersions).
    Kafka,
    /// RabbitMQ AMQP 0-9-1 listener.
    Amqp,
    /// SQL Server 2022 TDS listener.
    Mssql,
    /// RDP listener (`nla` = CredSSP required).
    Rdp {
        /// Network Level Authentication required.
        nla: bool,
    },
    /// SMB2/3 server.
    Smb,
    /// VNC server, RFB 3.8 (`auth` = VNC authentication, else None).
    Vnc {
        /// VNC password set.
        auth: bool,
    },
    /// Telnet server with option negotiation and a login prompt.
    Telnet,
    /// EPMD with two registered nodes.
    Epmd,
    /// Erlang distribution listener of node `rabbit@fake`.
    ErlangDist,
}

/// A running fake; dropping it stops the accept loop and every connection.
pub struct FakeHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FakeHandle {
    /// Where the fake listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FakeHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `kind` on a fresh 127.0.0.1 port.
pub fn spawn(kind: Kind) -> FakeHandle {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    spawn_on(kind, l)
}

/// Runs `kind` on `addr`.
pub fn spawn_at(kind: Kind, addr: SocketAddr) -> io::Result<FakeHandle> {
    Ok(spawn_on(kind, TcpListener::bind(addr)?))
}

/// Runs `kind` on an already bound listener.
pub fn spawn_on(kind: Kind, listener: TcpListener) -> FakeHandle {
    let addr = listener.local_addr().expect("listener address");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (s, a) = (stop.clone(), accepted.clone());
    let thread = std::thread::spawn(move || {
        let mut conns: Vec<JoinHandle<()>> = Vec::new();
        while !s.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    a.fetch_add(1, Ordering::SeqCst);
                    let s = s.clone();
                    conns.push(std::thread::spawn(move || {
                        let mut c = Conn::new(stream, s);
                        serve(kind, &mut c);
                    }));
                    conns.retain(|h| !h.is_finished());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        for c in conns {
            let _ = c.join();
        }
    });
    FakeHandle {
        addr,
        stop,
        accepted,
        thread: Some(thread),
    }
}

fn serve(kind: Kind, c: &mut Conn) {
    let _ = match kind {
        Kind::Mongo { auth } => mongo::serve(c, auth, true),
        Kind::MongoOld { auth } => mongo::serve(c, auth, false),
        Kind::Cassandra { auth } => simple::cassandra(c, auth),
        Kind::Kafka => simple::kafka(c),
        Kind::Amqp => simple::amqp(c),
        Kind::Mssql => simple::mssql(c),
        Kind::Rdp { nla } => rdp_smb::rdp(c, nla),
        Kind::Smb => rdp_smb::smb(c),
        Kind::Vnc { auth } => simple::vnc(c, auth),
        Kind::Telnet => simple::telnet(c),
        Kind::Epmd => erlang::epmd(c),
        Kind::ErlangDist => erlang::dist(c),
    };
}

/// Longest a connection waits for the client before giving up.
const IDLE: Duration = Duration::from_secs(10);
/// Largest message a fake accepts from a client.
pub(crate) const MAX_IN: usize = 1 << 20;

/// One accepted connection: blocking reads that notice the stop flag.
pub(crate) struct Conn {
    stream: TcpStream,
    stop: Arc<AtomicBool>,
}

impl Conn {
    fn new(stream: TcpStream, stop: Arc<AtomicBool>) -> Conn {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
        let _ = stream.set_nodelay(true);
        Conn { stream, stop }
    }

    /// Reads exactly `n` bytes (`n` ≤ [`MAX_IN`]).
    pub(crate) fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n > MAX_IN {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "too large"));
        }
        let mut buf = vec![0; n];
        let mut got = 0;
        let start = Instant::now();
        while got < n {
            if self.stop.load(Ordering::SeqCst) || start.elapsed() > IDLE {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(k) => got += k,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(buf)
    }

    /// Reads whatever arrives within `wait` (possibly nothing).
    pub(crate) fn read_for(&mut self, wait: Duration) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let start = Instant::now();
        while start.elapsed() < wait && !self.stop.load(Ordering::SeqCst) {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    out.extend_from_slice(&buf[..k]);
                    if out.len() > MAX_IN {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if !out.is_empty() {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Writes all of `b`.
    pub(crate) fn write(&mut self, b: &[u8]) -> io::Result<()> {
        self.stream.write_all(b)
    }

    /// Waits until the client closes (or the fake stops), discarding input.
    pub(crate) fn drain(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let start = Instant::now();
        while !self.stop.load(Ordering::SeqCst) && start.elapsed() < IDLE {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
