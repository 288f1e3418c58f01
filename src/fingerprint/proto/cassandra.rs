//! Cassandra (and ScyllaDB): CQL native protocol v4, OPTIONS then STARTUP.
//!
//! `native_protocol_v4.spec` (Apache Cassandra), sections 2 (frame header:
//! `version[1] | flags[1] | stream i16 | opcode[1] | length u32`, all
//! big-endian; responses set bit 0x80 of the version), 4.1.1 STARTUP, 4.1.3
//! OPTIONS, 4.2.2 READY, 4.2.3 AUTHENTICATE, 4.2.4 SUPPORTED (a string
//! multimap) and 9 (error codes).
//!
//! 1. `OPTIONS` → `SUPPORTED {CQL_VERSION: [...], PROTOCOL_VERSIONS: [...]}`.
//!    A server that does not speak v4 answers an `ERROR` frame instead
//!    ("Invalid or unsupported protocol version"): still CQL.
//! 2. `STARTUP {CQL_VERSION: <first offered>}` (no credentials; read-only) →
//!    `READY` means no authenticator, `AUTHENTICATE <class>` means one is
//!    configured. The SASL exchange that would follow is never started.

use super::util::{add_info, by_stage, matched, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use crate::model::AuthState;

/// Largest frame body accepted (SUPPORTED and errors are small).
pub const MAX_BODY: usize = 64 * 1024;

const OP_ERROR: u8 = 0x00;
const OP_STARTUP: u8 = 0x01;
const OP_READY: u8 = 0x02;
const OP_AUTHENTICATE: u8 = 0x03;
const OP_OPTIONS: u8 = 0x05;
const OP_SUPPORTED: u8 = 0x06;

/// The CQL dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Cassandra;

fn frame(stream: u16, opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x04, 0x00];
    v.extend_from_slice(&stream.to_be_bytes());
    v.push(opcode);
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// `OPTIONS`, v4, stream 1: `04 00 00 01 05 00 00 00 00`.
pub fn options() -> Vec<u8> {
    frame(1, OP_OPTIONS, &[])
}

/// `STARTUP {CQL_VERSION: cql}` on stream 2.
pub fn startup(cql: &str) -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    for s in ["CQL_VERSION", cql] {
        body.extend_from_slice(&(s.len() as u16).to_be_bytes());
        body.extend_from_slice(s.as_bytes());
    }
    frame(2, OP_STARTUP, &body)
}

/// A response frame: opcode and body.
#[derive(Debug)]
pub struct Frame<'a> {
    /// Response opcode.
    pub opcode: u8,
    /// Frame body.
    pub body: &'a [u8],
}

/// Parses one response frame (any protocol version 1–6).
pub fn parse_frame(buf: &[u8]) -> Res<Frame<'_>> {
    let mut c = Cur::new(buf);
    let version = c.u8()?;
    if !(0x81..=0x86).contains(&version) {
        return Err(Bad::Invalid);
    }
    let flags = c.u8()?;
    if flags & 0xf0 != 0 {
        return Err(Bad::Invalid);
    }
    // v1/v2 use a one-byte stream id.
    c.skip(if version <= 0x82 { 1 } else { 2 })?;
    let opcode = c.u8()?;
    if opcode > 0x10 {
        return Err(Bad::Invalid);
    }
    let len = c.u32_be()? as usize;
    if len > MAX_BODY {
        return Err(Bad::Invalid);
    }
    let body = c.take(len)?;
    Ok(Frame { opcode, body })
}

fn string<'a>(c: &mut Cur<'a>) -> Res<&'a [u8]> {
    let n = usize::from(c.u16_be()?);
    c.take(n)
}

/// The SUPPORTED string multimap, bounded in keys and values.
pub fn multimap(body: &[u8]) -> Res<Vec<(String, Vec<String>)>> {
    let mut c = Cur::new(body);
    let n = c.u16_be()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let key = text(string(&mut c)?, 64);
        let m = c.u16_be()?;
        let mut vals = Vec::new();
        for _ in 0..m {
            let v = string(&mut c)?;
            if vals.len() < 16 {
                vals.push(text(v, 64));
            }
        }
        if out.len() < 32 {
            out.push((key, vals));
        }
    }
    Ok(out)
}

/// Cassandra release line for a CQL version (from each release's CQL spec).
pub fn release_for_cql(cql: &str) -> Option<&'static str> {
    Some(match cql {
        "3.4.7" => "5.0",
        "3.4.6" => "4.1",
        "3.4.5" => "4.0",
        "3.4.4" => "3.11",
        "3.4.0" | "3.4.1" | "3.4.2" | "3.4.3" => "3.x",
        v if v.starts_with("3.3.") => "2.2",
        v if v.starts_with("3.2.") => "2.1",
        v if v.starts_with("3.1.") => "2.0",
        _ => return None,
    })
}

fn error_message(body: &[u8]) -> Res<(u32, String)> {
    let mut c = Cur::new(body);
    let code = c.u32_be()?;
    let msg = text(string(&mut c)?, 200);
    Ok((code, msg))
}

fn judge_options(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let f = parse_frame(buf)?;
    let whole = |e: Bad| if e == Bad::Short { Bad::Invalid } else { e };
    match f.opcode {
        OP_SUPPORTED => {
            let map = multimap(f.body).map_err(whole)?;
            let get = |k: &str| map.iter().find(|(key, _)| key == k).map(|(_, v)| v);
            let cql = get("CQL_VERSION").and_then(|v| v.first()).cloned();
            matched(ident, "cassandra");
            let scylla = map.iter().any(|(k, _)| k.starts_with("SCYLLA"));
            ident.product = Some(
                if scylla {
                    "ScyllaDB"
                } else {
                    "Apache Cassandra"
                }
                .into(),
            );
            if let Some(cql) = &cql {
                add_info(ident, "cql_version", cql);
                if !scylla {
                    ident.version = release_for_cql(cql).map(str::to_string);
                }
            }
            if let Some(p) = get("PROTOCOL_VERSIONS") {
                add_info(ident, "protocol_versions", &p.join(","));
            }
            if let Some(p) = get("COMPRESSION") {
                add_info(ident, "compression", &p.join(","));
            }
            Ok(Step::Send(startup(cql.as_deref().unwrap_or("3.0.0"))))
        }
        OP_ERROR => {
            let (code, msg) = error_message(f.body).map_err(whole)?;
            matched(ident, "cassandra");
            add_info(ident, "error", &format!("0x{code:04x} {msg}"));
            Ok(Step::Done)
        }
        _ => Err(Bad::Invalid),
    }
}

fn judge_startup(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let f = parse_frame(buf)?;
    match f.opcode {
        OP_READY => set_auth(
            ident,
            AuthState::None,
            "STARTUP answered READY without credentials",
        ),
        OP_AUTHENTICATE => {
            let class = string(&mut Cur::new(f.body))
                .map(|s| text(s, 100))
                .unwrap_or_default();
            add_info(ident, "authenticator", &class);
            set_auth(
                ident,
                AuthState::Required,
                format!("STARTUP answered AUTHENTICATE {class}"),
            );
        }
        OP_ERROR => {
            if let Ok((code, msg)) = error_message(f.body) {
                set_auth(
                    ident,
                    AuthState::Unknown,
                    format!("STARTUP error 0x{code:04x}: {msg}"),
                );
            }
        }
        _ => return Err(Bad::Invalid),
    }
    Ok(Step::Done)
}

impl Dialogue for Cassandra {
    fn name(&self) -> &'static str {
        "cassandra"
    }

    fn first(&self, _ctx: &ProbeCtx) -> Option<Vec<u8>> {
        Some(options())
    }

    fn step(&self, stage: usize, reply: &[u8], ident: &mut Ident) -> Step {
        by_stage(&[judge_options, judge_startup], stage, reply, ident)
    }
}

/// Response builders shared by tests and fuzz seeds.
#[cfg(test)]
pub(crate) mod build {
    /// A v4 response frame.
    pub(crate) fn response(opcode: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![0x84, 0x00, 0x00, 0x01, opcode];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// A SUPPORTED body.
    pub(crate) fn supported(entries: &[(&str, &[&str])]) -> Vec<u8> {
        let mut b = (entries.len() as u16).to_be_bytes().to_vec();
        for (k, vals) in entries {
            b.extend_from_slice(&(k.len() as u16).to_be_bytes());
            b.extend_from_slice(k.as_bytes());
            b.extend_from_slice(&(vals.len() as u16).to_be_bytes());
            for v in *vals {
                b.extend_from_slice(&(v.len() as u16).to_be_bytes());
                b.extend_from_slice(v.as_bytes());
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn supported_frame() -> Vec<u8> {
        response(
            OP_SUPPORTED,
            &supported(&[
                ("PROTOCOL_VERSIONS", &["3/v3", "4/v4", "5/v5"]),
                ("COMPRESSION", &["snappy", "lz4"]),
                ("CQL_VERSION", &["3.4.5"]),
            ]),
        )
    }

    #[test]
    fn options_frame_bytes() {
        assert_eq!(options(), [0x04, 0, 0, 1, 0x05, 0, 0, 0, 0]);
    }

    #[test]
    fn supported_then_ready_or_authenticate() {
        let mut id = Ident::default();
        let s = Cassandra.step(0, &supported_frame(), &mut id);
        assert_eq!(s, Step::Send(startup("3.4.5")));
        assert_eq!(id.product.as_deref(), Some("Apache Cassandra"));
        assert_eq!(id.version.as_deref(), Some("4.0"));
        let mut ready = id.clone();
        assert_eq!(
            Cassandra.step(1, &response(OP_READY, &[]), &mut ready),
            Step::Done
        );
        assert_eq!(ready.auth, AuthState::None);
        let class = "org.apache.cassandra.auth.PasswordAuthenticator";
        let mut body = (class.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(class.as_bytes());
        assert_eq!(
            Cassandra.step(1, &response(OP_AUTHENTICATE, &body), &mut id),
            Step::Done
        );
        assert_eq!(id.auth, AuthState::Required);
        assert!(id.auth_evidence.unwrap().contains("PasswordAuthenticator"));
    }

    #[test]
    fn protocol_error_is_cql() {
        let msg = "Invalid or unsupported protocol version (4); supported versions are (3/v3)";
        let mut body = 0x000Au32.to_be_bytes().to_vec();
        body.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        body.extend_from_slice(msg.as_bytes());
        let mut f = response(OP_ERROR, &body);
        f[0] = 0x83;
        let mut id = Ident::default();
        assert_eq!(Cassandra.step(0, &f, &mut id), Step::Done);
        assert_eq!(id.service, "cassandra");
        assert_eq!(id.auth, AuthState::Unknown);
    }

    #[test]
    fn truncated_and_garbage() {
        let f = supported_frame();
        for n in 0..f.len() {
            let mut id = Ident::default();
            assert_eq!(
                Cassandra.step(0, &f[..n], &mut id),
                Step::NeedMore,
                "prefix {n}"
            );
        }
        let mut id = Ident::default();
        assert_eq!(
            Cassandra.step(0, b"HTTP/1.1 400 Bad Request\r\n", &mut id),
            Step::Stop
        );
        assert_eq!(
            Cassandra.step(0, b"\x84\x00\x00\x01\x06\xff\xff\xff\xff", &mut id),
            Step::Stop
        );
        // Multimap claiming more entries than present.
        assert_eq!(
            Cassandra.step(0, &response(OP_SUPPORTED, &[0xff, 0xff]), &mut id),
            Step::Stop
        );
        assert!(!id.matched());
    }
}
