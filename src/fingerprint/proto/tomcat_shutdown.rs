//! The Tomcat shutdown port (8005): named by how it reads, never by the word.
//!
//! Tomcat's `StandardServer.await` takes one connection at a time and
//! never writes. It reads characters until a control character, EOF or
//! 1024 of them (when the configured word is shorter), closes, and then
//! compares what it read with the shutdown word. So a port that keeps
//! 1023 printable bytes open in silence and closes cleanly (FIN: it read
//! them all), without a byte, once the 1024th arrives is reading exactly
//! that way. A server that rejects the text after reading part of it
//! closes with bytes unread, which is a reset, and is not named. One that
//! only accepts late (preforked distccd with all its children busy, a
//! refusing Zabbix agent) would look the same, so the 1023 bytes must meet
//! [`SILENT_WINDOWS`] reply windows of silence first: such a server closes
//! within them.
//!
//! The text sent is [`FILL`] repeated: it is not `SHUTDOWN` (the default
//! word) nor any word a person would configure, and it holds no control
//! character, so Tomcat compares all 1024 characters. Tomcat logs one
//! "Invalid shutdown command" warning. A server whose word is longer than
//! 1024 characters reads on and is not named.

use super::util::{add_info, matched, set_auth};
use crate::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use crate::model::AuthState;

/// Characters Tomcat reads before it compares (its `expected`).
pub const READ_LIMIT: usize = 1024;
/// Reply windows of silence required after the 1023 bytes, before the last
/// byte: a server that only accepts late (a refusing Zabbix agent accepts
/// about once a second per listener) closes within them.
pub const SILENT_WINDOWS: usize = 4;
/// The repeated text sent (printable ASCII, no control character).
pub const FILL: &[u8] = b"exposecheck-probe-not-the-word-of-any-tomcat.";

/// The Tomcat shutdown port dialogue.
#[derive(Debug, Clone, Copy)]
pub struct TomcatShutdown;

/// The first `n` bytes of [`FILL`] repeated.
pub fn text(n: usize) -> Vec<u8> {
    FILL.iter().copied().cycle().take(n).collect()
}

impl Dialogue for TomcatShutdown {
    fn name(&self) -> &'static str {
        "tomcat-shutdown"
    }

    /// 1023 bytes: one short of what Tomcat reads before it compares.
    fn first(&self, _ctx: &ProbeCtx) -> Option<Vec<u8>> {
        Some(text(READ_LIMIT - 1))
    }

    /// Silence after 1023 bytes: wait [`SILENT_WINDOWS`] windows (sending
    /// nothing), then send the 1024th. Any byte from the server, or
    /// silence after the 1024th, is not this port.
    fn step(&self, stage: usize, reply: &[u8], _ident: &mut Ident) -> Step {
        if !reply.is_empty() || stage >= SILENT_WINDOWS {
            return Step::Stop;
        }
        if stage + 1 < SILENT_WINDOWS {
            return Step::Send(Vec::new());
        }
        Step::Send(text(READ_LIMIT)[READ_LIMIT - 1..].to_vec())
    }

    /// Tomcat's shutdown listener is a plain socket.
    fn plain_only(&self) -> bool {
        true
    }

    /// A silent close right after the 1024th byte (not before) is the answer.
    fn closed(&self, stage: usize, ident: &mut Ident) -> bool {
        if stage != SILENT_WINDOWS {
            return false;
        }
        matched(ident, "tomcat-shutdown");
        ident.product = Some("Apache Tomcat".into());
        ident.info = None;
        add_info(
            ident,
            "shutdown-port",
            &format!("closed after {READ_LIMIT} bytes, silent"),
        );
        set_auth(
            ident,
            AuthState::Unknown,
            "silent until the 1024th byte, then closed: Tomcat's shutdown listener (the word itself was never sent)",
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_printable_and_not_the_word() {
        let first = TomcatShutdown.first(&ProbeCtx::default()).unwrap();
        assert_eq!(first.len(), READ_LIMIT - 1);
        assert!(first.iter().all(|&b| (32..127).contains(&b)));
        assert!(!first
            .windows(8)
            .any(|w| w.eq_ignore_ascii_case(b"SHUTDOWN")));
        let mut id = Ident::default();
        let mut sent = first;
        for stage in 0..SILENT_WINDOWS {
            let Step::Send(more) = TomcatShutdown.step(stage, b"", &mut id) else {
                panic!("no send after stage {stage}");
            };
            sent.extend(more);
        }
        assert_eq!(sent, text(READ_LIMIT));
    }

    #[test]
    fn only_a_close_after_the_last_byte_names_it() {
        let mut id = Ident::default();
        for stage in 0..SILENT_WINDOWS {
            assert!(!TomcatShutdown.closed(stage, &mut id));
        }
        assert!(!id.matched());
        assert_eq!(
            TomcatShutdown.step(SILENT_WINDOWS, b"", &mut id),
            Step::Stop
        );
        assert!(!id.matched());
        assert!(TomcatShutdown.closed(SILENT_WINDOWS, &mut id));
        assert_eq!(id.service, "tomcat-shutdown");
    }

    #[test]
    fn any_reply_is_not_tomcat() {
        crate::fingerprint::proto::assert_rejects(&TomcatShutdown, &[b"x", b"HTTP/1.1 400\r\n"]);
        let mut id = Ident::default();
        assert_eq!(TomcatShutdown.step(1, b"y", &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
