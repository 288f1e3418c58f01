//! Name lookups on a thread of their own, so that a process that cannot
//! make one more thread (RLIMIT_NPROC) gets an error naming the limit
//! instead of a panic in the runtime's blocking pool. `getaddrinfo` cannot
//! be cancelled: a lookup that outlives its caller's timeout finishes on its
//! detached thread and is forgotten.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `name` with the system resolver (every A and AAAA record).
pub async fn lookup_host(name: &str) -> io::Result<Vec<SocketAddr>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let owned = name.to_owned();
    std::thread::Builder::new()
        .name("dns".into())
        .spawn(move || {
            let _ = tx.send((owned.as_str(), 0).to_socket_addrs().map(Iterator::collect));
        })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("no thread for the lookup ({e}); raise the process limit (ulimit -u)"),
            )
        })?;
    rx.await.unwrap_or_else(|_| {
        Err(io::Error::other(
            "the lookup thread ended without an answer",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn localhost_resolves_to_loopback() {
        let addrs = lookup_host("localhost").await.unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
