//! MySQL / MariaDB: the server speaks first; the client finishes the
//! handshake as a user no server has, so the server counts no connection
//! error against the scanner's address.
//!
//! Client/server protocol, "Protocol::Packet", "Protocol::HandshakeV10" and
//! "Protocol::HandshakeResponse41" (MySQL internals manual): every packet is
//! `len[3] LE | seq[1] | payload`. The greeting (seq 0) starts with protocol
//! version 10 (or 9 on very old servers), then the NUL-terminated server
//! version, connection id, the first 8 bytes of the scramble, a filler,
//! capability flags and, when `CLIENT_PLUGIN_AUTH` is set, the default auth
//! plugin name. A server that refuses the client before the handshake sends
//! an ERR packet (`0xff | code[2] LE | message`), with seq 0 (MySQL) or seq 1
//! (MariaDB ≥ 10.3.24).
//!
//! Why the handshake is finished: a connection that ends before the
//! server has read a HandshakeResponse (a bare connect, reading the greeting
//! and leaving, COM_QUIT, an SSLRequest then a close) is a "handshake error",
//! counted per client address towards `max_connect_errors` whenever the
//! server resolves names (the default); past the limit every client from
//! that address gets ERROR 1129 "Host is blocked" until `FLUSH HOSTS`. A
//! complete HandshakeResponse that fails authentication is counted as an
//! authentication error instead, which never blocks (measured on MariaDB
//! 10.11: `services/mysql.toml`, `tests/integration/lockout.rs`).
//!
//! The exchange (seq numbers continue the greeting's):
//!
//! 1. After a protocol-4.1 greeting, a HandshakeResponse41 for user
//!    [`PROBE_USER`] with an empty auth response (no password, "using
//!    password: NO") and database [`PROBE_USER`], naming the server's
//!    announced plugin when it is `caching_sha2_password` (MySQL 8, saves
//!    a switch) and `mysql_native_password` otherwise.
//! 2. An AuthSwitchRequest (`0xfe`) gets one empty auth response, so the
//!    plugin fails the login instead of seeing the client vanish.
//! 3. ERR 1045 (access denied) is the expected end: a login is required.
//!    ERR 1044 or 1049 (no access to, or no such, database) means an
//!    anonymous account let the unknown user in without a password; the
//!    database name keeps even then from opening a session. An OK packet
//!    (anonymous account with the database granted) gets COM_QUIT at once.
//!
//! An older (protocol 9, pre-4.1) greeting gets nothing: it alone identifies
//! the server.

use super::util::{add_info, conclude, matched, numeric_version, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use crate::model::AuthState;

/// Largest packet accepted (19 bits, as zgrab2 does); a bigger length is a lie.
pub const MAX_PACKET: usize = 512 * 1024;

/// User and database the HandshakeResponse names: no server has them (the
/// PostgreSQL dialogue uses the same role name).
pub const PROBE_USER: &str = "exposecheck";

/// `CLIENT_LONG_PASSWORD` capability bit.
const CLIENT_LONG_PASSWORD: u32 = 0x0001;
/// `CLIENT_CONNECT_WITH_DB` capability bit.
const CLIENT_CONNECT_WITH_DB: u32 = 0x0008;
/// `CLIENT_PROTOCOL_41` capability bit.
const CLIENT_PROTOCOL_41: u32 = 0x0200;
/// `CLIENT_SSL` capability bit.
const CLIENT_SSL: u32 = 0x0800;
/// `CLIENT_SECURE_CONNECTION` capability bit (length-prefixed auth response).
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
/// `CLIENT_PLUGIN_AUTH` capability bit.
const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
/// `utf8mb3_general_ci`, a collation every 4.1+ server knows.
const CHARSET: u8 = 0x21;
/// `COM_QUIT`: ends a session without a reply.
const COM_QUIT: u8 = 0x01;
/// Most replies after the HandshakeResponse that the dialogue reads.
const AUTH_STAGES: usize = 3;

/// The MySQL greeting reader.
#[derive(Debug, Clone, Copy)]
pub struct Mysql;

/// What a greeting or pre-auth error says.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// HandshakeV10 (or V9).
    Greeting {
        /// Raw `server_version`.
        server_version: String,
        /// Default auth plugin, if announced.
        auth_plugin: Option<String>,
        /// Whether `CLIENT_SSL` is offered.
        tls: bool,
        /// Whether `CLIENT_PROTOCOL_41` is offered (a HandshakeResponse41 fits).
        protocol_41: bool,
    },
    /// A pre-auth ERR packet.
    Error {
        /// MySQL error number.
        code: u16,
        /// Server message (printable, bounded).
        message: String,
    },
}

/// Parses the first packet the server sends.
pub fn parse(buf: &[u8]) -> Res<Reply> {
    let mut c = Cur::new(buf);
    let len = u32::from_le_bytes([c.u8()?, c.u8()?, c.u8()?, 0]) as usize;
    if len == 0 || len > MAX_PACKET {
        return Err(Bad::Invalid);
    }
    let seq = c.u8()?;
    let first = c.u8()?;
    let allowed = match first {
        0x0a | 0x09 => seq == 0,
        0xff => seq <= 1,
        _ => false,
    };
    if !allowed {
        return Err(Bad::Invalid);
    }
    // Judge the payload only once it is complete.
    let payload = Cur::new(buf).rest().get(4..4 + len).ok_or(Bad::Short)?;
    let mut p = Cur::new(&payload[1..]);
    let short_is_bad = |e: Bad| match e {
        Bad::Short => Bad::Invalid,
        other => other,
    };
    match first {
        0xff => parse_error(&mut p).map_err(short_is_bad),
        proto => parse_greeting(&mut p, proto).map_err(short_is_bad),
    }
}

fn parse_error(p: &mut Cur<'_>) -> Res<Reply> {
    let code = p.u16_le()?;
    if !(1000..=9999).contains(&code) {
        return Err(Bad::Invalid);
    }
    let mut msg = p.rest();
    if msg.first() == Some(&b'#') && msg.len() >= 6 {
        msg = &msg[6..];
    }
    Ok(Reply::Error {
        code,
        message: text(msg, 160),
    })
}

fn parse_greeting(p: &mut Cur<'_>, proto: u8) -> Res<Reply> {
    let version = p.cstr(100)?;
    if version.is_empty() || !version.iter().all(|b| b.is_ascii_graphic()) {
        return Err(Bad::Invalid);
    }
    let server_version = text(version, 100);
    p.skip(4)?; // connection id
    if proto == 0x09 {
        p.cstr(64)?; // scramble
        return Ok(Reply::Greeting {
            server_version,
            auth_plugin: None,
            tls: false,
            protocol_41: false,
        });
    }
    p.skip(8)?; // auth_plugin_data_part1
    if p.u8()? != 0 {
        return Err(Bad::Invalid); // filler
    }
    let lower = u32::from(p.u16_le()?);
    // Servers may stop after the lower capability flags (protocol docs).
    let Ok(upper) = p.skip(3).and_then(|()| p.u16_le()) else {
        return Ok(Reply::Greeting {
            server_version,
            auth_plugin: None,
            tls: lower & CLIENT_SSL != 0,
            protocol_41: lower & CLIENT_PROTOCOL_41 != 0,
        });
    };
    let caps = lower | (u32::from(upper) << 16);
    let data_len = usize::from(p.u8()?);
    let plugin = (|| {
        p.skip(10)?; // reserved
        p.skip(13.max(data_len.saturating_sub(8)))?;
        if caps & CLIENT_PLUGIN_AUTH == 0 {
            return Err(Bad::Invalid);
        }
        // Some servers omit the trailing NUL: take the rest then.
        let rest = p.rest();
        let name = rest.split(|&b| b == 0).next().unwrap_or(rest);
        Ok(text(name, 64))
    })()
    .ok()
    .filter(|s| !s.is_empty());
    Ok(Reply::Greeting {
        server_version,
        auth_plugin: plugin,
        tls: caps & CLIENT_SSL != 0,
        protocol_41: caps & CLIENT_PROTOCOL_41 != 0,
    })
}

/// `len[3] LE | seq | payload`.
pub fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(payload);
    v
}

/// The HandshakeResponse41 (seq 1) for [`PROBE_USER`]: empty auth response,
/// database [`PROBE_USER`], client plugin chosen from the server's `announced`
/// default (see the module header).
pub fn handshake_response(announced: Option<&str>) -> Vec<u8> {
    let plugin = match announced {
        Some("caching_sha2_password") => "caching_sha2_password",
        _ => "mysql_native_password",
    };
    let caps = CLIENT_LONG_PASSWORD
        | CLIENT_CONNECT_WITH_DB
        | CLIENT_PROTOCOL_41
        | CLIENT_SECURE_CONNECTION
        | CLIENT_PLUGIN_AUTH;
    let mut p = Vec::with_capacity(96);
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(MAX_PACKET as u32).to_le_bytes());
    p.push(CHARSET);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(PROBE_USER.as_bytes());
    p.push(0);
    p.push(0); // auth response length: no password
    for s in [PROBE_USER, plugin] {
        // database, client plugin
        p.extend_from_slice(s.as_bytes());
        p.push(0);
    }
    packet(1, &p)
}

/// One complete packet at the start of `buf`: its seq and payload.
fn one_packet(buf: &[u8]) -> Res<(u8, &[u8])> {
    let mut c = Cur::new(buf);
    let len = u32::from_le_bytes([c.u8()?, c.u8()?, c.u8()?, 0]) as usize;
    if len == 0 || len > MAX_PACKET {
        return Err(Bad::Invalid);
    }
    let seq = c.u8()?;
    Ok((seq, c.take(len)?))
}

/// Product and version from a raw `server_version`
/// (`5.5.5-10.11.6-MariaDB-0+deb12u1` → MariaDB `10.11.6`).
pub fn product_version(raw: &str) -> (&'static str, Option<String>) {
    if raw.contains("MariaDB") {
        let v = raw.strip_prefix("5.5.5-").unwrap_or(raw);
        ("MariaDB", numeric_version(v))
    } else {
        ("MySQL", numeric_version(raw))
    }
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    match parse(buf)? {
        Reply::Greeting {
            server_version,
            auth_plugin,
            tls,
            protocol_41,
        } => {
            matched(ident, "mysql");
            let (product, version) = product_version(&server_version);
            ident.product = Some(product.to_string());
            ident.version = version;
            add_info(ident, "server_version", &server_version);
            if let Some(plugin) = &auth_plugin {
                add_info(ident, "auth_plugin", plugin);
            }
            add_info(ident, "tls", if tls { "offered" } else { "no" });
            let evidence = match &auth_plugin {
                Some(p) => format!("handshake asks for a login ({p})"),
                None => "handshake asks for a login".to_string(),
            };
            set_auth(ident, AuthState::Required, evidence);
            if protocol_41 {
                return Ok(Step::Send(handshake_response(auth_plugin.as_deref())));
            }
        }
        Reply::Error { code, message } => {
            matched(ident, "mysql");
            // "... is not allowed to connect to this MariaDB server" (nmap reads it too).
            for product in ["MariaDB", "MySQL"] {
                if ident.product.is_none() && message.contains(product) {
                    ident.product = Some(product.to_string());
                }
            }
            add_info(ident, "error", &code.to_string());
            let auth = match code {
                1129 | 1130 => AuthState::Protected,
                _ => AuthState::Unknown,
            };
            set_auth(ident, auth, format!("ERROR {code}: {message}"));
        }
    }
    Ok(Step::Done)
}

/// Judges the server's answer to the HandshakeResponse (`stage` 1) or to
/// the empty auth response that followed an AuthSwitchRequest.
fn judge_login(stage: usize, buf: &[u8], ident: &mut Ident) -> Res<Step> {
    if !ident.matched() || ident.auth == AuthState::None {
        // No greeting was read, or COM_QUIT was sent: nothing more to learn.
        return Ok(Step::Done);
    }
    let (seq, payload) = one_packet(buf)?;
    match payload.first() {
        Some(0xff) => {
            let Ok(Reply::Error { code, message }) = parse_error(&mut Cur::new(&payload[1..]))
            else {
                return Ok(Step::Done);
            };
            let evidence = format!("ERROR {code}: {message}");
            match code {
                // Past authentication, stopped at the database: an anonymous account.
                1044 | 1049 => set_auth(ident, AuthState::None, evidence),
                _ => set_auth(ident, AuthState::Required, evidence),
            }
            Ok(Step::Done)
        }
        Some(0x00) => {
            set_auth(
                ident,
                AuthState::None,
                format!("OK to user '{PROBE_USER}' without a password"),
            );
            Ok(Step::Send(packet(0, &[COM_QUIT])))
        }
        // AuthSwitchRequest: one empty auth response, so the plugin fails the login.
        Some(0xfe) if stage == 1 => Ok(Step::Send(packet(seq.wrapping_add(1), &[]))),
        _ => Ok(Step::Done),
    }
}

impl Dialogue for Mysql {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn first(&self, _ctx: &ProbeCtx) -> Option<Vec<u8>> {
        None
    }

    fn step(&self, stage: usize, reply: &[u8], ident: &mut Ident) -> Step {
        match stage {
            0 => conclude(judge(reply, ident)),
            1..=AUTH_STAGES => conclude(judge_login(stage, reply, ident)),
            _ => Step::Stop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A HandshakeV10 payload as in the protocol docs.
    pub(crate) fn greeting(version: &str, plugin: &str) -> Vec<u8> {
        let mut p = vec![0x0a];
        p.extend_from_slice(version.as_bytes());
        p.push(0);
        p.extend_from_slice(&7u32.to_le_bytes()); // connection id
        p.extend_from_slice(b"abcdefgh"); // scramble part 1
        p.push(0); // filler
        p.extend_from_slice(&0xffffu16.to_le_bytes()); // caps lower (incl. CLIENT_SSL)
        p.push(0x21); // charset
        p.extend_from_slice(&2u16.to_le_bytes()); // status
        p.extend_from_slice(&0x00ffu16.to_le_bytes()); // caps upper (incl. PLUGIN_AUTH)
        p.push(21); // auth data len
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(b"ijklmnopqrst\0"); // scramble part 2 (13)
        p.extend_from_slice(plugin.as_bytes());
        p.push(0);
        packet(0, &p)
    }

    fn run(buf: &[u8]) -> (Step, Ident) {
        let mut id = Ident::default();
        let s = Mysql.step(0, buf, &mut id);
        (s, id)
    }

    #[test]
    fn mysql8_greeting() {
        let (s, id) = run(&greeting(
            "8.0.36-0ubuntu0.22.04.1",
            "caching_sha2_password",
        ));
        assert_eq!(
            s,
            Step::Send(handshake_response(Some("caching_sha2_password")))
        );
        assert_eq!(id.service, "mysql");
        assert_eq!(id.product.as_deref(), Some("MySQL"));
        assert_eq!(id.version.as_deref(), Some("8.0.36"));
        assert_eq!(id.auth, AuthState::Required);
        let info = id.info.unwrap();
        assert!(info.contains("auth_plugin=caching_sha2_password"), "{info}");
        assert!(info.contains("tls=offered"), "{info}");
    }

    #[test]
    fn mariadb_prefix() {
        let (_, id) = run(&greeting(
            "5.5.5-10.11.6-MariaDB-0+deb12u1",
            "mysql_native_password",
        ));
        assert_eq!(id.product.as_deref(), Some("MariaDB"));
        assert_eq!(id.version.as_deref(), Some("10.11.6"));
    }

    #[test]
    fn host_not_allowed_is_protected() {
        let mut p = vec![0xff];
        p.extend_from_slice(&1130u16.to_le_bytes());
        p.extend_from_slice(b"Host '198.18.0.1' is not allowed to connect to this MySQL server");
        for seq in [0, 1] {
            let (s, id) = run(&packet(seq, &p));
            assert_eq!(s, Step::Done);
            assert_eq!(id.auth, AuthState::Protected);
            assert_eq!(id.product.as_deref(), Some("MySQL"));
            assert!(id.auth_evidence.unwrap().contains("not allowed"));
        }
        let mut p = vec![0xff];
        p.extend_from_slice(&1130u16.to_le_bytes());
        p.extend_from_slice(b"Host '198.18.0.1' is not allowed to connect to this MariaDB server");
        let (_, id) = run(&packet(1, &p));
        assert_eq!(id.product.as_deref(), Some("MariaDB"));
    }

    #[test]
    fn blocked_and_too_many() {
        let mut p = vec![0xff];
        p.extend_from_slice(&1129u16.to_le_bytes());
        p.extend_from_slice(b"Host 'x' is blocked because of many connection errors");
        assert_eq!(run(&packet(0, &p)).1.auth, AuthState::Protected);
        let mut p = vec![0xff];
        p.extend_from_slice(&1040u16.to_le_bytes());
        p.extend_from_slice(b"Too many connections");
        let (s, id) = run(&packet(1, &p));
        assert_eq!(s, Step::Done);
        assert_eq!(id.service, "mysql");
        assert_eq!(id.auth, AuthState::Unknown);
    }

    #[test]
    fn truncated_needs_more() {
        let g = greeting("8.0.36", "caching_sha2_password");
        for n in 0..g.len() {
            let (s, id) = run(&g[..n]);
            assert_eq!(s, Step::NeedMore, "prefix {n}");
            assert!(!id.matched());
        }
    }

    #[test]
    fn garbage_and_lies_stop() {
        assert_eq!(run(b"SSH-2.0-OpenSSH_9.6\r\n").0, Step::Stop);
        assert_eq!(run(b"\xff\xff\xff\x00\x0a").0, Step::Stop);
        assert_eq!(run(b"\x00\x00\x09\x00\x0a").0, Step::Stop); // 576 KiB
        assert_eq!(run(b"\x05\x00\x00\x00\x0a8.0\x00\x01").0, Step::Stop);
        assert_eq!(run(&packet(3, &[0x0a, b'8', 0])).0, Step::Stop);
    }

    #[test]
    fn old_protocol_9() {
        let mut p = vec![0x09];
        p.extend_from_slice(b"3.22.32\0");
        p.extend_from_slice(&[1, 0, 0, 0]);
        p.extend_from_slice(b"scramble\0");
        let (s, id) = run(&packet(0, &p));
        assert_eq!(s, Step::Done);
        assert_eq!(id.version.as_deref(), Some("3.22.32"));
    }

    #[test]
    fn short_greeting_without_upper_flags() {
        let mut p = vec![0x0a];
        p.extend_from_slice(b"5.0.96\0");
        p.extend_from_slice(&[1, 0, 0, 0]);
        p.extend_from_slice(b"abcdefgh\0");
        p.extend_from_slice(&0u16.to_le_bytes());
        let (s, id) = run(&packet(0, &p));
        assert_eq!(s, Step::Done);
        assert_eq!(id.version.as_deref(), Some("5.0.96"));
    }

    /// An ERR payload: `0xff | code | #state | message`.
    fn err(code: u16, msg: &str) -> Vec<u8> {
        let mut p = vec![0xff];
        p.extend_from_slice(&code.to_le_bytes());
        p.extend_from_slice(b"#28000");
        p.extend_from_slice(msg.as_bytes());
        p
    }

    /// The ident after a MariaDB greeting, and what it sent.
    fn greeted() -> (Ident, Vec<u8>) {
        let (s, id) = run(&greeting(
            "5.5.5-10.11.6-MariaDB-0+deb12u1",
            "mysql_native_password",
        ));
        let Step::Send(sent) = s else {
            panic!("no HandshakeResponse: {s:?}")
        };
        (id, sent)
    }

    #[test]
    fn handshake_response_names_an_unknown_user_without_password() {
        let (_, sent) = greeted();
        let (seq, p) = one_packet(&sent).unwrap();
        assert_eq!((seq, sent.len()), (1, p.len() + 4));
        let caps = u32::from_le_bytes(p[..4].try_into().unwrap());
        for bit in [
            CLIENT_PROTOCOL_41,
            CLIENT_SECURE_CONNECTION,
            CLIENT_PLUGIN_AUTH,
            CLIENT_CONNECT_WITH_DB,
        ] {
            assert_ne!(caps & bit, 0, "capability {bit:#x}");
        }
        assert_eq!(caps & CLIENT_SSL, 0);
        assert!(p[9..32].iter().all(|&b| b == 0), "reserved bytes");
        let fields: Vec<&[u8]> = p[32..].split(|&b| b == 0).collect();
        // user, auth length 0 (an empty field), database, plugin, end.
        assert_eq!(
            fields,
            [
                &b"exposecheck"[..],
                b"",
                b"exposecheck",
                b"mysql_native_password",
                b""
            ]
        );
        let mysql8 = handshake_response(Some("caching_sha2_password"));
        assert!(mysql8.ends_with(b"exposecheck\0caching_sha2_password\0"));
    }

    #[test]
    fn access_denied_is_required() {
        let (mut id, _) = greeted();
        let reply = packet(
            2,
            &err(
                1045,
                "Access denied for user 'exposecheck'@'scanner.test' (using password: NO)",
            ),
        );
        assert_eq!(Mysql.step(1, &reply, &mut id), Step::Done);
        assert_eq!(id.auth, AuthState::Required);
        assert_eq!(id.version.as_deref(), Some("10.11.6"));
        let ev = id.auth_evidence.unwrap();
        assert!(ev.starts_with("ERROR 1045: Access denied"), "{ev}");
        for n in 0..reply.len() {
            let (mut id, _) = greeted();
            assert_eq!(Mysql.step(1, &reply[..n], &mut id), Step::NeedMore, "{n}");
        }
    }

    #[test]
    fn anonymous_account_is_none() {
        for code in [1044, 1049] {
            let (mut id, _) = greeted();
            let reply = packet(2, &err(code, "Access denied for user ''@'%' to database"));
            assert_eq!(Mysql.step(1, &reply, &mut id), Step::Done);
            assert_eq!(id.auth, AuthState::None, "{code}");
        }
        let (mut id, _) = greeted();
        let ok = packet(2, &[0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(Mysql.step(1, &ok, &mut id), Step::Send(vec![1, 0, 0, 0, 1]));
        assert_eq!(id.auth, AuthState::None);
        // Nothing follows COM_QUIT.
        assert_eq!(Mysql.step(2, &ok, &mut id), Step::Done);
    }

    #[test]
    fn auth_switch_gets_one_empty_answer() {
        let (mut id, _) = greeted();
        let mut switch = vec![0xfe];
        switch.extend_from_slice(b"client_ed25519\0nonce-nonce-nonce-nonce-nonce-32b");
        let sw = packet(2, &switch);
        assert_eq!(Mysql.step(1, &sw, &mut id), Step::Send(vec![0, 0, 0, 3]));
        assert_eq!(Mysql.step(2, &packet(4, &switch), &mut id), Step::Done);
        let denied = packet(4, &err(1045, "Access denied"));
        assert_eq!(Mysql.step(2, &denied, &mut id), Step::Done);
        assert_eq!(id.auth, AuthState::Required);
    }

    #[test]
    fn login_stage_without_greeting_learns_nothing() {
        let mut id = Ident::default();
        let reply = packet(2, &err(1045, "Access denied"));
        assert_eq!(Mysql.step(1, &reply, &mut id), Step::Done);
        assert!(!id.matched());
        assert_eq!(Mysql.step(AUTH_STAGES + 1, &reply, &mut id), Step::Stop);
    }
}
