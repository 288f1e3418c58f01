//! The contract for coded probes: binary or multi-step protocols that a
//! `services/*.toml` regex cannot express (MySQL greeting, PostgreSQL
//! SSLRequest, MongoDB OP_MSG, CQL OPTIONS, ...).
//!
//! A [`Dialogue`] never touches a socket. The fingerprint engine sends what it
//! asks for and feeds back what arrives (already capped in bytes and time), so
//! every dialogue is a pure function of bytes: unit-testable against captured
//! exchanges and fuzzable. A dialogue must never allocate from a length field
//! it read off the network and must never panic on any input.

/// What a dialogue has established so far: the catalogue's identification
/// record, the same one its regex rules fill.
pub use crate::catalog::matcher::Ident;

/// The dialogue's decision after reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The reply is incomplete: keep reading (within the port's budget).
    NeedMore,
    /// Not this protocol (if nothing was matched yet) or nothing more to learn.
    Stop,
    /// Send these bytes next on the same connection and keep going.
    Send(Vec<u8>),
    /// Identification complete.
    Done,
}

/// Context a dialogue may use to shape its requests.
#[derive(Clone, Debug, Default)]
pub struct ProbeCtx {
    /// The hostname the user gave, if any (for SNI, Host headers).
    pub host: Option<String>,
    /// The target port.
    pub port: u16,
}

/// A coded probe. Implementations are stateless; per-connection state lives in
/// `stage` (0 for the first reply, +1 after each `Send`) and in the `Ident`
/// being built.
pub trait Dialogue: Send + Sync {
    /// Name that `services/*.toml` refers to with `code = "..."`.
    fn name(&self) -> &'static str;
    /// The first request, or `None` when the server speaks first.
    fn first(&self, ctx: &ProbeCtx) -> Option<Vec<u8>>;
    /// Judges `reply` (all bytes received since the last request) at `stage`,
    /// filling `ident` as facts are learned. Once `ident` is matched, a later
    /// `Stop` or an exhausted budget still reports the match.
    fn step(&self, stage: usize, reply: &[u8], ident: &mut Ident) -> Step;
    /// The peer closed cleanly (FIN, not RST: it had read all we sent)
    /// without a byte after the request of `stage`. A dialogue for which
    /// that silent close is the answer fills `ident` and returns true; the
    /// default learns nothing from it.
    fn closed(&self, stage: usize, ident: &mut Ident) -> bool {
        let _ = (stage, ident);
        false
    }
    /// True for a protocol never carried inside TLS: the engine does not
    /// replay it there.
    fn plain_only(&self) -> bool {
        false
    }
    /// True for a dialogue that a server may answer only once the walk's
    /// other connections are gone (one whose workers block reading each
    /// of them to a complete message): the walk runs it on its own
    /// connection after the batch, not inside it.
    fn alone(&self) -> bool {
        false
    }
}
