//! One TCP connect attempt and the classification of its outcome.
//!
//! The socket is made with socket2 (non-blocking, `IP_RECVERR`/`IPV6_RECVERR`
//! set) and driven by tokio. `IP_RECVERR` makes the kernel queue the ICMP error
//! behind a failed connect, so an ICMP port-unreachable from a REJECT rule can be
//! told apart from a real RST, and admin-prohibited from host-unreachable, the
//! way a raw-socket scanner would. Local errors (EMFILE, ENFILE,
//! EADDRNOTAVAIL, ENOBUFS, ENOMEM, EINVAL...) are returned as such: they say
//! nothing about the port. [`local_class`] tells the ones that may clear
//! (retried within a bound) from the ones that cannot (unresolved at once).
//! A connect that reached its own socket (TCP self-connect: on a local
//! address, the kernel picked the destination port as the source port) is
//! never open.

use crate::model::Reason;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The outcome of one connect attempt.
#[derive(Debug)]
pub enum Attempt {
    /// Handshake completed.
    Open {
        /// The connected stream, for fingerprinting.
        stream: TcpStream,
        /// Time to complete the handshake.
        rtt: Duration,
    },
    /// The target (or a firewall in front of it) answered with an error.
    Answered {
        /// closed/conn-refused, or a filtered ICMP reason.
        reason: Reason,
        /// Time until the answer.
        rtt: Duration,
    },
    /// No answer within the timeout.
    TimedOut,
    /// A local error; says nothing about the port.
    Local(io::Error),
    /// The connect reached its own socket (local address = peer address):
    /// nothing listens there, but it is not an answer either; try again.
    SelfConnect,
}

/// What a local error means for the probe that met it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalClass {
    /// May clear (a descriptor or buffer freed, a local port released):
    /// retry with back-off, within a bound; then unresolved for this reason.
    Transient(Reason),
    /// Cannot clear for this address: unresolved at once, for this reason.
    Permanent(Reason),
}

/// Classifies a local error met connecting to `addr`.
///
/// EADDRNOTAVAIL means either "no free local port" (transient) or "no source
/// address of this family toward `addr`" (IPv6 disabled: permanent); a UDP
/// `connect`, which picks a route and a source address without sending
/// anything, tells them apart.
pub fn local_class(e: &io::Error, addr: &SocketAddr) -> LocalClass {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => LocalClass::Transient(Reason::FdLimit),
        Some(libc::EINVAL) => LocalClass::Permanent(Reason::InvalidAddress),
        Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT) => {
            LocalClass::Permanent(Reason::NoSourceAddress)
        }
        Some(libc::EADDRNOTAVAIL) if !has_route_and_source(addr) => {
            LocalClass::Permanent(Reason::NoSourceAddress)
        }
        _ => LocalClass::Transient(Reason::LocalError),
    }
}

/// Whether the kernel has a route and a source address toward `addr` (a UDP
/// `connect` sends no packet).
fn has_route_and_source(addr: &SocketAddr) -> bool {
    let Ok(sock) = Socket::new(Domain::for_address(*addr), Type::DGRAM.cloexec(), None) else {
        return false;
    };
    sock.connect(&(*addr).into()).is_ok()
}

/// True when a connected socket is connected to itself (TCP self-connect).
pub fn is_self_connect<S: std::os::fd::AsFd>(sock: &S) -> bool {
    let s = SockRef::from(sock);
    matches!((s.local_addr(), s.peer_addr()), (Ok(l), Ok(p)) if l == p)
}

/// Whether an errno is a local resource problem rather than an answer.
pub fn is_local_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EMFILE
                | libc::ENFILE
                | libc::EADDRNOTAVAIL
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::EAGAIN
                | libc::EADDRINUSE
        )
    )
}

/// Closes a stream with an immediate RST (`SO_LINGER` = 0).
///
/// A scanner that closes with FIN leaves every open port it touched in
/// TIME_WAIT on its own side for 60 s; a full sweep of a busy host, or repeated
/// fingerprint connections to one service, then exhausts ephemeral ports and
/// fails with EADDRNOTAVAIL. Resetting costs the target nothing (the connection
/// carried no data it needs) and keeps the scanner's port table clean.
pub fn abort<S: std::os::fd::AsFd>(stream: S) {
    let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// A non-blocking, close-on-exec TCP socket for `addr`'s family with
/// `IP_RECVERR`/`IPV6_RECVERR` set (no other option: each costs a syscall per
/// probe).
pub(crate) fn probe_socket(addr: &SocketAddr) -> io::Result<Socket> {
    recverr_socket(addr, Type::STREAM, Protocol::TCP)
}

/// A non-blocking, close-on-exec socket of type `ty` for `addr`'s family
/// with `IP_RECVERR`/`IPV6_RECVERR` set, so ICMP errors are queued whole.
pub(crate) fn recverr_socket(addr: &SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(*addr),
        ty.nonblocking().cloexec(),
        Some(proto),
    )?;
    let one: libc::c_int = 1;
    let (level, name) = if addr.is_ipv4() {
        (libc::SOL_IP, libc::IP_RECVERR)
    } else {
        (libc::SOL_IPV6, libc::IPV6_RECVERR)
    };
    // SAFETY: valid fd, option value points at a live c_int of the right size.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    Ok(sock)
}

/// Connects to `addr`, giving up after `timeout`.
pub async fn attempt(addr: SocketAddr, timeout: Duration) -> Attempt {
    let sock = match probe_socket(&addr).and_then(|s| s.set_tcp_nodelay(true).map(|()| s)) {
        Ok(s) => s,
        Err(e) => return Attempt::Local(e),
    };
    let start = Instant::now();
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return classify_error(e, &sock, start.elapsed()),
    }
    let std_stream: std::net::TcpStream = sock.into();
    let stream = match TcpStream::from_std(std_stream) {
        Ok(s) => s,
        Err(e) => return Attempt::Local(e),
    };
    match tokio::time::timeout(timeout, stream.writable()).await {
        Err(_) => Attempt::TimedOut,
        Ok(Err(e)) => Attempt::Local(e),
        Ok(Ok(())) => {
            let rtt = start.elapsed();
            match stream.take_error() {
                Ok(None) if is_self_connect(&stream) => {
                    abort(stream);
                    Attempt::SelfConnect
                }
                Ok(None) => match stream.peer_addr() {
                    Ok(_) => Attempt::Open { stream, rtt },
                    // Writable but not connected: reset in between (open, see
                    // below), or the error was already consumed.
                    Err(e) => match stream.take_error() {
                        Ok(Some(r)) if r.raw_os_error() == Some(libc::ECONNRESET) => {
                            Attempt::Open { stream, rtt }
                        }
                        _ => classify_error(e, &stream, rtt),
                    },
                },
                // ECONNRESET is only ever set after the handshake completed
                // (a refused SYN gives ECONNREFUSED): the port is open and
                // reset at once (tcpwrapped), which the fingerprinter reports.
                Ok(Some(e)) if e.raw_os_error() == Some(libc::ECONNRESET) => {
                    Attempt::Open { stream, rtt }
                }
                Ok(Some(e)) | Err(e) => classify_error(e, &stream, rtt),
            }
        }
    }
}

pub(crate) fn classify_error<S: AsRawFd>(e: io::Error, sock: &S, rtt: Duration) -> Attempt {
    if is_local_error(&e) {
        return Attempt::Local(e);
    }
    let icmp = read_icmp_error(sock.as_raw_fd());
    let reason = match (e.raw_os_error(), icmp) {
        (_, Some(kind)) => kind,
        (Some(libc::ECONNREFUSED), None) => Reason::ConnRefused,
        (Some(libc::EHOSTUNREACH | libc::EHOSTDOWN), None) => Reason::HostUnreach,
        (Some(libc::ENETUNREACH | libc::ENETDOWN | libc::ENONET), None) => Reason::NetUnreach,
        (Some(libc::EACCES | libc::EPERM), None) => Reason::AdminProhibited,
        (Some(libc::ETIMEDOUT), None) => return Attempt::TimedOut,
        (Some(libc::ECONNRESET | libc::ECONNABORTED), None) => Reason::ConnRefused,
        _ => return Attempt::Local(e),
    };
    Attempt::Answered { reason, rtt }
}

/// Reads one queued ICMP error (if any) and names it.
pub(crate) fn read_icmp_error(fd: std::os::fd::RawFd) -> Option<Reason> {
    let mut data = [0u8; 64];
    let mut control = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; all pointers refer to live local buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: fd is a valid socket; MSG_DONTWAIT makes this non-blocking.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        return None;
    }
    // SAFETY: iterating the control buffer the kernel just filled, with libc's CMSG macros.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let is_err = (c.cmsg_level == libc::SOL_IP && c.cmsg_type == libc::IP_RECVERR)
                || (c.cmsg_level == libc::SOL_IPV6 && c.cmsg_type == libc::IPV6_RECVERR);
            if is_err {
                let ee = std::ptr::read_unaligned(
                    libc::CMSG_DATA(cmsg) as *const libc::sock_extended_err
                );
                return icmp_reason(ee.ee_origin, ee.ee_type, ee.ee_code);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    None
}

/// Maps an ICMP/ICMPv6 destination-unreachable (type, code) to a reason.
pub fn icmp_reason(origin: u8, ty: u8, code: u8) -> Option<Reason> {
    const ORIGIN_ICMP: u8 = 2;
    const ORIGIN_ICMP6: u8 = 3;
    match (origin, ty, code) {
        // ICMP type 3 (destination unreachable).
        (ORIGIN_ICMP, 3, 0 | 6 | 11) => Some(Reason::NetUnreach),
        (ORIGIN_ICMP, 3, 1 | 7 | 12) => Some(Reason::HostUnreach),
        (ORIGIN_ICMP, 3, 3) => Some(Reason::PortUnreach),
        (ORIGIN_ICMP, 3, 9 | 10 | 13) => Some(Reason::AdminProhibited),
        (ORIGIN_ICMP, 3, _) => Some(Reason::HostUnreach),
        // ICMPv6 type 1 (destination unreachable).
        (ORIGIN_ICMP6, 1, 0) => Some(Reason::NetUnreach),
        (ORIGIN_ICMP6, 1, 1 | 5 | 6) => Some(Reason::AdminProhibited),
        (ORIGIN_ICMP6, 1, 3) => Some(Reason::HostUnreach),
        (ORIGIN_ICMP6, 1, 4) => Some(Reason::PortUnreach),
        (ORIGIN_ICMP6, 1, _) => Some(Reason::HostUnreach),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_codes_map_to_reasons() {
        assert_eq!(icmp_reason(2, 3, 3), Some(Reason::PortUnreach));
        assert_eq!(icmp_reason(2, 3, 13), Some(Reason::AdminProhibited));
        assert_eq!(icmp_reason(2, 3, 1), Some(Reason::HostUnreach));
        assert_eq!(icmp_reason(2, 3, 0), Some(Reason::NetUnreach));
        assert_eq!(icmp_reason(3, 1, 4), Some(Reason::PortUnreach));
        assert_eq!(icmp_reason(3, 1, 1), Some(Reason::AdminProhibited));
        assert_eq!(icmp_reason(3, 1, 3), Some(Reason::HostUnreach));
        assert_eq!(icmp_reason(3, 1, 0), Some(Reason::NetUnreach));
        assert_eq!(icmp_reason(1, 0, 0), None);
    }

    #[tokio::test]
    async fn loopback_open_and_closed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        match attempt(addr, Duration::from_secs(2)).await {
            Attempt::Open { stream, .. } => abort(stream),
            other => panic!("expected open, got {other:?}"),
        }
        drop(l);
        match attempt(addr, Duration::from_secs(2)).await {
            Attempt::Answered { reason, .. } => assert_eq!(reason, Reason::ConnRefused),
            other => panic!("expected refused, got {other:?}"),
        }
    }
}
