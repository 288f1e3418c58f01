//! `--check-ssh-rate` (opt-in): whether a host limits the rate of new SSH
//! connections, seen from outside. A few sequential connects, paced, each
//! reading the banner (bounded in bytes and time), sending an identification
//! line and closing: never a key exchange, never a password, at most
//! [`MAX_CONNECTS`] per host per run.
//!
//! - The first connects read a banner, then a SYN goes unanswered (or is
//!   refused): a netfilter `recent`/`hashlimit` or ufw `limit` rule. With a
//!   wait (`--ssh-rate-wait`), one more connect after it tells whether the
//!   block lifted within that time.
//! - A connect is accepted and closed without a banner, or with the
//!   `Exceeded MaxStartups` text: sshd's own `MaxStartups` or
//!   `PerSourcePenalties`.
//! - Every connect reads a banner: no limit.
//!
//! Each connect's timeout stays under the kernel's first SYN retransmission,
//! so one connect is one SYN: a retransmitted SYN would count against a
//! `recent` rule once more. What it measures is a [`SshRateCheck`]; the
//! verdict turns it into a host finding.

use crate::model::{SshRateCheck, SshRateLimit};
use crate::scan::connect::{self, Attempt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects made at most per host per run, the lift check included.
pub const MAX_CONNECTS: u8 = 10;

/// Time between two connects.
pub const PACE: Duration = Duration::from_millis(200);

/// The identification line sent after the banner (RFC 4253, 4.2).
pub const IDENT: &[u8] = b"SSH-2.0-exposecheck\r\n";

/// Bytes read at most while waiting for the banner line (RFC 4253 caps the
/// identification line at 255).
const BANNER_BYTES: usize = 255;

/// Time allowed for the banner after the handshake.
const BANNER_TIME: Duration = Duration::from_secs(2);

/// Longest wait for the block to lift (`--ssh-rate-wait`).
pub const MAX_WAIT: Duration = Duration::from_secs(120);

/// How the check runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// After a netfilter block, wait this long and connect once more.
    pub wait: Option<Duration>,
}

/// What one connect showed.
#[derive(Debug, PartialEq, Eq)]
enum Try {
    /// The SSH banner was read.
    Banner,
    /// Accepted, then closed or silent without a banner (what was seen).
    Closed(String),
    /// No SYN-ACK within the timeout.
    Silent,
    /// Refused (RST or an ICMP error).
    Refused(&'static str),
    /// A local error: says nothing.
    Local,
}

/// The connect timeout for a host of RTT `rtt_ms`: under the kernel's 1 s
/// SYN retransmission, so that one connect sends one SYN.
pub fn connect_timeout(rtt_ms: Option<f64>) -> Duration {
    let rtt = rtt_ms
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(100.0);
    Duration::from_secs_f64((rtt * 3.0 + 250.0).clamp(300.0, 900.0) / 1000.0)
}

/// Reads the banner line (bounded), sends [`IDENT`] and closes.
async fn banner(mut stream: TcpStream) -> Try {
    let mut buf = Vec::with_capacity(BANNER_BYTES);
    let read = tokio::time::timeout(BANNER_TIME, async {
        let mut chunk = [0u8; BANNER_BYTES];
        while buf.len() < BANNER_BYTES && !buf.contains(&b'\n') {
            let room = BANNER_BYTES - buf.len();
            match stream.read(&mut chunk[..room]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&buf);
    let outcome = classify_banner(&text, read.is_err());
    if outcome == Try::Banner {
        let _ = tokio::time::timeout(BANNER_TIME, stream.write_all(IDENT)).await;
        let _ = stream.shutdown().await;
    }
    outcome
}

/// What the bytes read after a handshake say; `timed_out` when the banner
/// time ran out first.
fn classify_banner(text: &str, timed_out: bool) -> Try {
    if text.contains("Exceeded MaxStartups") {
        Try::Closed("sshd answered 'Exceeded MaxStartups'".into())
    } else if text.starts_with("SSH-") && text.contains('\n') {
        Try::Banner
    } else if text.is_empty() && timed_out {
        Try::Closed(format!(
            "a connect was accepted but sent no banner within {} s",
            BANNER_TIME.as_secs()
        ))
    } else if text.is_empty() {
        Try::Closed("a connect was accepted and closed without a banner".into())
    } else {
        Try::Closed("a connect was accepted and answered without an SSH banner".into())
    }
}

/// One connect.
async fn one(addr: SocketAddr, timeout: Duration) -> Try {
    match connect::attempt(addr, timeout).await {
        Attempt::Open { stream, .. } => banner(stream).await,
        Attempt::TimedOut => Try::Silent,
        Attempt::Answered { reason, .. } => Try::Refused(reason.as_str()),
        Attempt::Local(_) | Attempt::SelfConnect => Try::Local,
    }
}

/// Runs the check on `addr` (an SSH port), for a host of RTT `rtt_ms`.
pub async fn check(addr: SocketAddr, rtt_ms: Option<f64>, settings: Settings) -> SshRateCheck {
    let timeout = connect_timeout(rtt_ms);
    let budget = MAX_CONNECTS - u8::from(settings.wait.is_some());
    let mut c = SshRateCheck {
        port: addr.port(),
        limit: SshRateLimit::None,
        connects: 0,
        answered: 0,
        refusal: String::new(),
        lift: None,
    };
    for i in 0..budget {
        if i > 0 {
            tokio::time::sleep(PACE).await;
        }
        c.connects += 1;
        let (limit, refusal) = match one(addr, timeout).await {
            Try::Banner => {
                c.answered += 1;
                continue;
            }
            Try::Local => (
                SshRateLimit::Inconclusive,
                "a local error stopped the check".into(),
            ),
            Try::Silent if c.answered == 0 => (
                SshRateLimit::Inconclusive,
                "the first connect got no SYN-ACK".into(),
            ),
            Try::Refused(r) if c.answered == 0 => (
                SshRateLimit::Inconclusive,
                format!("the first connect was refused ({r})"),
            ),
            Try::Silent => (
                SshRateLimit::Netfilter,
                format!(
                    "connect {} got no SYN-ACK within {} ms",
                    i + 1,
                    timeout.as_millis()
                ),
            ),
            Try::Refused(r) => (
                SshRateLimit::Netfilter,
                format!("connect {} was refused ({r})", i + 1),
            ),
            Try::Closed(seen) => (SshRateLimit::Sshd, seen),
        };
        c.limit = limit;
        c.refusal = refusal;
        break;
    }
    if let (SshRateLimit::Netfilter, Some(wait)) = (c.limit, settings.wait) {
        tokio::time::sleep(wait).await;
        c.connects += 1;
        c.lift = Some((wait.as_secs(), one(addr, timeout).await == Try::Banner));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_and_refusals_are_told_apart() {
        assert_eq!(
            classify_banner("SSH-2.0-OpenSSH_9.2\r\n", false),
            Try::Banner
        );
        assert!(matches!(
            classify_banner("Exceeded MaxStartups\r\n", false),
            Try::Closed(t) if t.contains("MaxStartups")
        ));
        assert!(
            matches!(classify_banner("", false), Try::Closed(t) if t.contains("without a banner"))
        );
        assert!(
            matches!(classify_banner("", true), Try::Closed(t) if t.contains("no banner within"))
        );
        assert!(matches!(
            classify_banner("HTTP/1.1 400\r\n", false),
            Try::Closed(_)
        ));
    }

    #[test]
    fn one_connect_is_one_syn() {
        assert!(connect_timeout(None) < crate::scan::timing::KERNEL_SYN_RTO);
        assert!(connect_timeout(Some(5000.0)) < crate::scan::timing::KERNEL_SYN_RTO);
        assert_eq!(connect_timeout(Some(0.1)), Duration::from_millis(300));
    }

    /// A listener that gives `banners` banners, then closes at once.
    async fn greeter(banners: usize) -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            for n in 0.. {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                if n < banners {
                    let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
                    let mut b = [0u8; 64];
                    let _ = s.read(&mut b).await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn no_limit_uses_the_whole_budget_and_a_close_is_sshd() {
        let c = check(greeter(100).await, Some(0.1), Settings::default()).await;
        assert_eq!(
            (c.limit, c.connects, c.answered),
            (SshRateLimit::None, MAX_CONNECTS, MAX_CONNECTS)
        );
        let c = check(greeter(3).await, Some(0.1), Settings::default()).await;
        assert_eq!(
            (c.limit, c.connects, c.answered),
            (SshRateLimit::Sshd, 4, 3)
        );
    }
}
