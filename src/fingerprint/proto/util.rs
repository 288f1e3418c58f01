//! Bounded parsing helpers shared by the coded probes.
//!
//! Every reader returns [`Bad::Short`] when the input ends early (the
//! dialogue answers [`Step::NeedMore`]) and [`Bad::Invalid`] when the bytes
//! cannot be this protocol ([`Step::Stop`]). Nothing here allocates from a
//! length read off the wire: lengths are only compared with what is present.

use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// Why a parse did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// The input is a valid prefix; more bytes are needed.
    Short,
    /// The input cannot be this protocol (or breaks a cap).
    Invalid,
}

/// Parse result.
pub type Res<T> = Result<T, Bad>;

/// Maps a parse outcome to the dialogue's decision.
pub(crate) fn conclude(r: Res<Step>) -> Step {
    match r {
        Ok(step) => step,
        Err(Bad::Short) => Step::NeedMore,
        Err(Bad::Invalid) => Step::Stop,
    }
}

/// A dialogue's reading of the reply at one stage.
pub(crate) type Reading = fn(&[u8], &mut Ident) -> Res<Step>;

/// `Dialogue::step` for a dialogue that reads the reply at stage `i` with
/// `stages[i]`; past the last stage there is nothing more to learn.
pub(crate) fn by_stage(stages: &[Reading], stage: usize, reply: &[u8], ident: &mut Ident) -> Step {
    match stages.get(stage) {
        Some(read) => conclude(read(reply, ident)),
        None => Step::Stop,
    }
}

/// Implements `Dialogue` for `$ty`, a client-first dialogue named `$name`
/// that sends `$first` (an expression of the probe context `$ctx`) and reads
/// the one reply with `$judge` (a [`Reading`]); `alone = true` sets
/// [`Dialogue::alone`](crate::fingerprint::dialogue::Dialogue::alone).
macro_rules! one_shot {
    ($ty:ident, $name:literal, |$ctx:ident| $first:expr, $judge:ident) => {
        $crate::fingerprint::proto::util::one_shot!(
            $ty,
            $name,
            |$ctx| $first,
            $judge,
            alone = false
        );
    };
    ($ty:ident, $name:literal, |$ctx:ident| $first:expr, $judge:ident, alone = $alone:expr) => {
        impl $crate::fingerprint::dialogue::Dialogue for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn first(&self, $ctx: &$crate::fingerprint::dialogue::ProbeCtx) -> Option<Vec<u8>> {
                Some($first)
            }

            fn step(
                &self,
                stage: usize,
                reply: &[u8],
                ident: &mut $crate::fingerprint::dialogue::Ident,
            ) -> $crate::fingerprint::dialogue::Step {
                $crate::fingerprint::proto::util::by_stage(&[$judge], stage, reply, ident)
            }

            fn alone(&self) -> bool {
                $alone
            }
        }
    };
}
pub(crate) use one_shot;

/// A forward-only reader over a byte slice.
#[derive(Clone, Debug)]
pub struct Cur<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    /// Reads `buf` from the start.
    pub fn new(buf: &'a [u8]) -> Self {
        Cur { buf, pos: 0 }
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Takes `n` bytes, or `Short` if fewer are left.
    pub fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        if n > self.remaining() {
            return Err(Bad::Short);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Res<()> {
        self.take(n).map(|_| ())
    }

    /// One byte.
    pub fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    fn arr<const N: usize>(&mut self) -> Res<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Big-endian u16.
    pub fn u16_be(&mut self) -> Res<u16> {
        self.arr().map(u16::from_be_bytes)
    }

    /// Little-endian u16.
    pub fn u16_le(&mut self) -> Res<u16> {
        self.arr().map(u16::from_le_bytes)
    }

    /// Big-endian u32.
    pub fn u32_be(&mut self) -> Res<u32> {
        self.arr().map(u32::from_be_bytes)
    }

    /// Little-endian u32.
    pub fn u32_le(&mut self) -> Res<u32> {
        self.arr().map(u32::from_le_bytes)
    }

    /// Little-endian i32.
    pub fn i32_le(&mut self) -> Res<i32> {
        self.arr().map(i32::from_le_bytes)
    }

    /// Big-endian i32.
    pub fn i32_be(&mut self) -> Res<i32> {
        self.arr().map(i32::from_be_bytes)
    }

    /// Bytes up to a NUL (the NUL is consumed, not returned). `Short` if no
    /// NUL is present yet, `Invalid` if none appears within `max` bytes.
    pub fn cstr(&mut self, max: usize) -> Res<&'a [u8]> {
        let rest = self.rest();
        match rest
            .iter()
            .take(max.saturating_add(1))
            .position(|&b| b == 0)
        {
            Some(n) => {
                self.pos += n + 1;
                Ok(&rest[..n])
            }
            None if rest.len() > max => Err(Bad::Invalid),
            None => Err(Bad::Short),
        }
    }
}

/// A short rendering of untrusted text: lossy UTF-8, control characters
/// as `\xNN`, at most `max` source bytes (`...` marks a cut).
pub(crate) fn text(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let s = String::from_utf8_lossy(cut);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", u32::from(c) & 0xff));
        } else {
            out.push(c);
        }
    }
    if bytes.len() > max {
        out.push_str("...");
    }
    out
}

/// Appends `key=value` to `ident.info`, separated by `; `.
pub(crate) fn add_info(ident: &mut Ident, key: &str, value: &str) {
    let item = format!("{key}={value}");
    match &mut ident.info {
        Some(s) if !s.is_empty() => {
            s.push_str("; ");
            s.push_str(&item);
        }
        _ => ident.info = Some(item),
    }
}

/// Records the auth decision and the reply that made it.
pub(crate) fn set_auth(ident: &mut Ident, auth: AuthState, evidence: impl Into<String>) {
    ident.auth = auth;
    ident.auth_evidence = Some(evidence.into());
}

/// Marks `ident` as the service `id` (keeps facts already learned).
pub(crate) fn matched(ident: &mut Ident, id: &str) {
    if ident.service != id {
        ident.service = id.to_string();
    }
}

/// The leading `digits(.digits)*` of a version string, if any.
pub(crate) fn numeric_version(s: &str) -> Option<String> {
    let end = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
        .map_or(s.len(), |(i, _)| i);
    let v = s[..end].trim_end_matches('.');
    (!v.is_empty() && v.starts_with(|c: char| c.is_ascii_digit())).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_reports_short_and_invalid() {
        let mut c = Cur::new(b"ab\0cd");
        assert_eq!(c.cstr(8), Ok(&b"ab"[..]));
        assert_eq!(c.clone().cstr(8), Err(Bad::Short));
        assert_eq!(c.clone().cstr(1), Err(Bad::Invalid));
        assert_eq!(c.u16_be(), Ok(0x6364));
        assert_eq!(c.u8(), Err(Bad::Short));
    }

    #[test]
    fn text_escapes_and_cuts() {
        assert_eq!(text(b"a\x1b[", 10), "a\\x1b[");
        assert_eq!(text(b"abcdef", 3), "abc...");
        assert_eq!(text("é\n".as_bytes(), 10), "é\\x0a");
    }

    #[test]
    fn numeric_version_prefix() {
        assert_eq!(numeric_version("8.0.36-0ubuntu").as_deref(), Some("8.0.36"));
        assert_eq!(numeric_version("x1"), None);
    }
}
