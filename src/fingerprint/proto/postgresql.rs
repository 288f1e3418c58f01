//! PostgreSQL: SSLRequest, then (in clear text only) a StartupMessage.
//!
//! Frontend/Backend Protocol 3.0 ("Message Flow: Start-up", "SSL Session
//! Encryption", "Message Formats" in the PostgreSQL documentation):
//!
//! 1. `SSLRequest` = `int32 8 | int32 80877103`; the server answers one byte,
//!    `S` (TLS available) or `N`. With `S` the next bytes must be a TLS
//!    handshake, so the dialogue stops there with the match.
//! 2. After `N`: `StartupMessage` = `int32 len | int32 196608 (3.0) |
//!    ("user\0exposecheck\0database\0exposecheck\0...") \0`: a role that
//!    does not exist, so the scanner never opens a session as a real user
//!    (not even on a `trust` server, which answers `AuthenticationOk` and then
//!    "role does not exist"). No password is ever sent: an
//!    `AuthenticationCleartext/MD5/SASL` request is never answered, and
//!    nothing is sent after `AuthenticationOk`.
//!    Each backend message is `type[1] | int32 len (self-inclusive) | body`.
//!    `R` code 0 (AuthenticationOk) means the server let us in.

use super::util::{add_info, by_stage, matched, numeric_version, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use crate::model::AuthState;

/// Largest backend message accepted.
pub const MAX_MESSAGE: usize = 512 * 1024;
/// Most backend messages read in one reply.
pub const MAX_MESSAGES: usize = 64;

/// `SSLRequest`: `00 00 00 08 | 04 d2 16 2f` (length 8, code 80877103).
pub const SSL_REQUEST: [u8; 8] = [0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f];

/// The StartupMessage sent after `N`: protocol 3.0, user and database
/// `exposecheck` (a role no cluster has), application_name `exposecheck`.
pub fn startup_message() -> Vec<u8> {
    let mut body = Vec::with_capacity(96);
    body.extend_from_slice(&196_608u32.to_be_bytes()); // 3.0
    for (k, v) in [
        ("user", "exposecheck"),
        ("database", "exposecheck"),
        ("application_name", "exposecheck"),
    ] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

/// The PostgreSQL dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Postgresql;

/// One backend message.
#[derive(Debug, Clone, Copy)]
struct Msg<'a> {
    kind: u8,
    body: &'a [u8],
}

/// Splits `buf` into complete messages; the second value says why the
/// split stopped early (`Short` for a cut message, `Invalid` for a lie).
fn messages(buf: &[u8]) -> (Vec<Msg<'_>>, Res<()>) {
    let mut c = Cur::new(buf);
    let mut out = Vec::new();
    while c.remaining() > 0 {
        if out.len() >= MAX_MESSAGES {
            return (out, Err(Bad::Invalid));
        }
        match next_message(&mut c) {
            Ok(m) => out.push(m),
            Err(e) => return (out, Err(e)),
        }
    }
    (out, Ok(()))
}

fn next_message<'a>(c: &mut Cur<'a>) -> Res<Msg<'a>> {
    let kind = c.u8()?;
    if !kind.is_ascii_alphabetic() {
        return Err(Bad::Invalid);
    }
    let len = c.u32_be()? as usize;
    if !(4..=MAX_MESSAGE).contains(&len) {
        return Err(Bad::Invalid);
    }
    let body = c.take(len - 4)?;
    Ok(Msg { kind, body })
}

/// ErrorResponse / NoticeResponse fields: severity, SQLSTATE, message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorFields {
    /// `S` (or `V`) field.
    pub severity: String,
    /// `C` field: SQLSTATE.
    pub code: String,
    /// `M` field.
    pub message: String,
}

/// Parses the body of an `E` message.
pub fn error_fields(body: &[u8]) -> Res<ErrorFields> {
    let mut c = Cur::new(body);
    let mut f = ErrorFields::default();
    loop {
        let tag = c.u8().map_err(|_| Bad::Invalid)?;
        if tag == 0 {
            break;
        }
        let value = c.cstr(body.len()).map_err(|_| Bad::Invalid)?;
        match tag {
            b'S' | b'V' => f.severity = text(value, 16),
            b'C' => f.code = text(value, 8),
            b'M' => f.message = text(value, 200),
            _ => {}
        }
    }
    if f.code.is_empty() && f.message.is_empty() {
        return Err(Bad::Invalid);
    }
    Ok(f)
}

fn judge_error(f: &ErrorFields, ident: &mut Ident) {
    let auth = match f.code.as_str() {
        "28000" => AuthState::Protected,
        "28P01" => AuthState::Required,
        _ if f.message.contains("no pg_hba.conf entry") => AuthState::Protected,
        _ => AuthState::Unknown,
    };
    set_auth(
        ident,
        auth,
        format!("{} {}: {}", f.severity, f.code, f.message),
    );
}

fn judge_startup(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    // Learn from every complete message, even if a later one is cut.
    let (list, tail) = messages(buf);
    let mut let_in = false;
    for m in &list {
        match m.kind {
            b'R' => {
                let code = Cur::new(m.body).u32_be().map_err(|_| Bad::Invalid)?;
                matched(ident, "postgresql");
                let method = match code {
                    0 => {
                        let_in = true;
                        set_auth(
                            ident,
                            AuthState::None,
                            "AuthenticationOk to a startup without a password",
                        );
                        continue;
                    }
                    2 => "kerberos",
                    3 => "password",
                    5 => "md5",
                    7 => "gss",
                    9 => "sspi",
                    10 => "sasl",
                    _ => "other",
                };
                let mut evidence = format!("server asks for {method} authentication");
                if code == 10 {
                    let mechs: Vec<String> = m
                        .body
                        .get(4..)
                        .unwrap_or_default()
                        .split(|&b| b == 0)
                        .filter(|s| !s.is_empty())
                        .take(8)
                        .map(|s| text(s, 32))
                        .collect();
                    evidence = format!("{evidence} ({})", mechs.join(","));
                }
                add_info(ident, "auth_method", method);
                set_auth(ident, AuthState::Required, evidence);
                return Ok(Step::Done);
            }
            b'E' => {
                let f = error_fields(m.body)?;
                matched(ident, "postgresql");
                if !let_in {
                    judge_error(&f, ident);
                }
                return Ok(Step::Done);
            }
            b'S' if let_in => {
                let mut parts = m.body.split(|&b| b == 0);
                if parts.next() == Some(b"server_version") {
                    let raw = text(parts.next().unwrap_or_default(), 64);
                    ident.version = numeric_version(&raw).or(Some(raw));
                }
            }
            b'Z' if let_in => return Ok(Step::Done),
            b'v' | b'N' | b'K' | b'S' => {}
            _ => return Err(Bad::Invalid),
        }
    }
    tail.map(|()| Step::NeedMore)
}

fn judge_ssl(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    match buf {
        [] => Err(Bad::Short),
        [b'S'] | [b'N'] => {
            matched(ident, "postgresql");
            ident.product = Some("PostgreSQL".into());
            if buf[0] == b'S' {
                add_info(ident, "ssl", "yes");
                Ok(Step::Done)
            } else {
                add_info(ident, "ssl", "no");
                Ok(Step::Send(startup_message()))
            }
        }
        // Very old servers answer the SSLRequest with an ErrorResponse.
        [b'E', ..] => {
            let m = next_message(&mut Cur::new(buf))?;
            let f = error_fields(m.body)?;
            matched(ident, "postgresql");
            ident.product = Some("PostgreSQL".into());
            judge_error(&f, ident);
            Ok(Step::Done)
        }
        _ => Err(Bad::Invalid),
    }
}

impl Dialogue for Postgresql {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn first(&self, _ctx: &ProbeCtx) -> Option<Vec<u8>> {
        Some(SSL_REQUEST.to_vec())
    }

    fn step(&self, stage: usize, reply: &[u8], ident: &mut Ident) -> Step {
        by_stage(&[judge_ssl, judge_startup], stage, reply, ident)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![kind];
        v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn auth(code: u32, extra: &[u8]) -> Vec<u8> {
        let mut b = code.to_be_bytes().to_vec();
        b.extend_from_slice(extra);
        msg(b'R', &b)
    }

    fn err(code: &str, text: &str) -> Vec<u8> {
        let body = format!("SFATAL\0VFATAL\0C{code}\0M{text}\0Fauth.c\0L500\0\0");
        msg(b'E', body.as_bytes())
    }

    fn stage1(buf: &[u8]) -> (Step, Ident) {
        let mut id = Ident::default();
        assert!(matches!(Postgresql.step(0, b"N", &mut id), Step::Send(_)));
        let s = Postgresql.step(1, buf, &mut id);
        (s, id)
    }

    #[test]
    fn startup_message_layout() {
        let m = startup_message();
        assert_eq!(
            u32::from_be_bytes(m[..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(&m[4..8], &[0, 3, 0, 0]);
        assert!(m.ends_with(b"exposecheck\0\0"));
        assert!(!m.windows(8).any(|w| w == b"password"));
    }

    #[test]
    fn ssl_yes_stops_with_match() {
        let mut id = Ident::default();
        assert_eq!(Postgresql.step(0, b"S", &mut id), Step::Done);
        assert_eq!(id.service, "postgresql");
        assert_eq!(id.info.as_deref(), Some("ssl=yes"));
        assert_eq!(id.auth, AuthState::Unknown);
    }

    #[test]
    fn ssl_garbage() {
        let mut id = Ident::default();
        assert_eq!(Postgresql.step(0, b"", &mut id), Step::NeedMore);
        assert_eq!(Postgresql.step(0, b"SSH-2.0-x\r\n", &mut id), Step::Stop);
        assert_eq!(Postgresql.step(0, b"HTTP/1.1 400", &mut id), Step::Stop);
        assert!(!id.matched());
    }

    #[test]
    fn trust_auth_is_none_and_reads_version() {
        let mut buf = auth(0, &[]);
        buf.extend(msg(b'S', b"application_name\0exposecheck\0"));
        buf.extend(msg(b'S', b"server_version\x0016.4 (Debian 16.4-1)\0"));
        buf.extend(msg(b'K', &[0; 8]));
        let (s, id) = stage1(&buf);
        assert_eq!(s, Step::NeedMore);
        assert_eq!(id.auth, AuthState::None);
        buf.extend(msg(b'Z', b"I"));
        let (s, id) = stage1(&buf);
        assert_eq!(s, Step::Done);
        assert_eq!(id.version.as_deref(), Some("16.4"));
    }

    #[test]
    fn trust_then_missing_role_stays_none() {
        let mut buf = auth(0, &[]);
        buf.extend(err("28000", "role \"exposecheck\" does not exist"));
        let (s, id) = stage1(&buf);
        assert_eq!(s, Step::Done);
        assert_eq!(id.auth, AuthState::None);
    }

    #[test]
    fn password_methods_are_required() {
        for (code, extra) in [
            (3u32, &b""[..]),
            (5, &b"salt"[..]),
            (10, &b"SCRAM-SHA-256\0\0"[..]),
        ] {
            let (s, id) = stage1(&auth(code, extra));
            assert_eq!(s, Step::Done);
            assert_eq!(id.auth, AuthState::Required);
        }
        let (_, id) = stage1(&auth(10, b"SCRAM-SHA-256\0\0"));
        assert!(id.auth_evidence.unwrap().contains("SCRAM-SHA-256"));
    }

    #[test]
    fn pg_hba_rejection_is_protected() {
        let (s, id) = stage1(&err(
            "28000",
            "no pg_hba.conf entry for host \"198.18.0.1\", user \"exposecheck\", database \"exposecheck\", no encryption",
        ));
        assert_eq!(s, Step::Done);
        assert_eq!(id.auth, AuthState::Protected);
        assert!(id.auth_evidence.unwrap().contains("pg_hba"));
        let (_, id) = stage1(&err("53300", "sorry, too many clients already"));
        assert_eq!(id.auth, AuthState::Unknown);
    }

    #[test]
    fn truncated_needs_more() {
        let full = auth(5, b"salt");
        for n in 0..full.len() {
            assert_eq!(stage1(&full[..n]).0, Step::NeedMore, "prefix {n}");
        }
    }

    #[test]
    fn lies_stop() {
        // Huge length.
        assert_eq!(stage1(b"R\x7f\xff\xff\xff\0\0\0\0").0, Step::Stop);
        // Length below 4.
        assert_eq!(stage1(b"R\x00\x00\x00\x02").0, Step::Stop);
        // Endless notices.
        let notice = msg(b'N', b"SNOTICE\0Mhi\0\0");
        let buf: Vec<u8> = notice
            .iter()
            .copied()
            .cycle()
            .take(notice.len() * 65)
            .collect();
        assert_eq!(stage1(&buf).0, Step::Stop);
        // Unknown type.
        assert_eq!(stage1(&msg(b'Q', b"")).0, Step::Stop);
    }

    #[test]
    fn old_server_error_on_ssl_request() {
        let mut id = Ident::default();
        let s = Postgresql.step(
            0,
            &err("08P01", "unsupported frontend protocol 1234.5679"),
            &mut id,
        );
        assert_eq!(s, Step::Done);
        assert_eq!(id.service, "postgresql");
    }
}
