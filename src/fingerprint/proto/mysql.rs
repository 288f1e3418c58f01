//! MySQL / MariaDB: the server speaks first.
//!
//! Client/server protocol, "Protocol::Packet" and "Protocol::HandshakeV10"
//! (MySQL internals manual): every packet is `len[3] LE | seq[1] | payload`.
//! The greeting (seq 0) starts with protocol version 10 (or 9 on very old
//! servers), then the NUL-terminated server version, connection id, the
//! first 8 bytes of the scramble, a filler, capability flags and, when
//! `CLIENT_PLUGIN_AUTH` is set, the default auth plugin name. A server that
//! refuses the client before the handshake sends an ERR packet
//! (`0xff | code[2] LE | message`), with seq 0 (MySQL) or seq 1 (MariaDB
//! ≥ 10.3.24).
//!
//! Nothing is ever sent: the greeting alone identifies the server.

use super::util::{add_info, conclude, matched, numeric_version, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use crate::model::AuthState;

/// Largest packet accepted (19 bits, as zgrab2 does); a bigger length is a lie.
pub const MAX_PACKET: usize = 512 * 1024;

/// `CLIENT_SSL` capability bit.
const CLIENT_SSL: u32 = 0x0800;
/// `CLIENT_PLUGIN_AUTH` capability bit.
const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;

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
    })
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

impl Dialogue for Mysql {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn first(&self, _ctx: &ProbeCtx) -> Option<Vec<u8>> {
        None
    }

    fn step(&self, stage: usize, reply: &[u8], ident: &mut Ident) -> Step {
        if stage > 0 {
            return Step::Stop;
        }
        conclude(judge(reply, ident))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a packet: `len[3] LE | seq | payload`.
    pub(crate) fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len() as u32;
        let mut v = n.to_le_bytes()[..3].to_vec();
        v.push(seq);
        v.extend_from_slice(payload);
        v
    }

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
        assert_eq!(s, Step::Done);
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
}
