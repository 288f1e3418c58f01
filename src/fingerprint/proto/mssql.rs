//! Microsoft SQL Server: TDS PRELOGIN.
//!
//! [MS-TDS] 2.2.3.1 (packet header: `type[1] | status[1] | length u16 BE |
//! SPID u16 | PacketID[1] | Window[1]`) and 2.2.6.5 (PRELOGIN, type 0x12:
//! option tokens `token[1] | offset u16 BE | length u16 BE` ended by 0xFF,
//! then the option data; VERSION is `major[1] minor[1] build u16 BE
//! sub-build u16`, ENCRYPTION one byte). The server answers with a tabular
//! response packet (type 0x04) in the same PRELOGIN format.
//!
//! PRELOGIN happens before LOGIN7; SQL Server always authenticates the
//! login that follows, so auth is `required`.

use super::util::{add_info, matched, set_auth, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// Largest TDS packet accepted (the protocol's own ceiling is 32 KiB).
pub const MAX_PACKET: usize = 32 * 1024;

/// The TDS dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Mssql;

/// PRELOGIN with VERSION, ENCRYPTION (off), INSTOPT (""), THREADID, MARS (off).
pub fn prelogin() -> Vec<u8> {
    // (token, data)
    let opts: [(u8, &[u8]); 5] = [
        (0x00, &[0x0f, 0x00, 0x07, 0xd0, 0x00, 0x00]), // VERSION 15.0.2000.0
        (0x01, &[0x00]),                               // ENCRYPTION: ENCRYPT_OFF
        (0x02, &[0x00]),                               // INSTOPT: default instance
        (0x03, &[0x00, 0x00, 0x00, 0x00]),             // THREADID
        (0x04, &[0x00]),                               // MARS off
    ];
    let mut head = Vec::new();
    let mut data = Vec::new();
    let mut offset = opts.len() * 5 + 1;
    for (token, d) in opts {
        head.push(token);
        head.extend_from_slice(&(offset as u16).to_be_bytes());
        head.extend_from_slice(&(d.len() as u16).to_be_bytes());
        data.extend_from_slice(d);
        offset += d.len();
    }
    head.push(0xff);
    let len = 8 + head.len() + data.len();
    let mut v = vec![0x12, 0x01];
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v.extend_from_slice(&[0x00, 0x00, 0x01, 0x00]); // SPID, PacketID 1, Window
    v.extend_from_slice(&head);
    v.extend_from_slice(&data);
    v
}

/// What PRELOGIN reveals.
#[derive(Debug, PartialEq, Eq)]
pub struct Prelogin {
    /// `major.minor.build`.
    pub version: Option<(u8, u8, u16)>,
    /// ENCRYPTION option value.
    pub encryption: Option<u8>,
}

/// Parses the PRELOGIN response packet.
pub fn parse(buf: &[u8]) -> Res<Prelogin> {
    let mut c = Cur::new(buf);
    if c.u8()? != 0x04 {
        return Err(Bad::Invalid);
    }
    if c.u8()? & !0x1f != 0 {
        return Err(Bad::Invalid); // status bits
    }
    let len = usize::from(c.u16_be()?);
    if !(9..=MAX_PACKET).contains(&len) {
        return Err(Bad::Invalid);
    }
    c.skip(4)?;
    let payload = c.take(len - 8)?;
    options(payload).map_err(|_| Bad::Invalid)
}

fn options(payload: &[u8]) -> Res<Prelogin> {
    let mut c = Cur::new(payload);
    let mut out = Prelogin {
        version: None,
        encryption: None,
    };
    for _ in 0..32 {
        let token = c.u8()?;
        if token == 0xff {
            if out.version.is_none() {
                return Err(Bad::Invalid);
            }
            return Ok(out);
        }
        let off = usize::from(c.u16_be()?);
        let len = usize::from(c.u16_be()?);
        let data = payload.get(off..off + len).ok_or(Bad::Invalid)?;
        match token {
            0x00 if len >= 4 => {
                let mut d = Cur::new(data);
                out.version = Some((d.u8()?, d.u8()?, d.u16_be()?));
            }
            0x01 if len >= 1 => out.encryption = Some(data[0]),
            _ => {}
        }
    }
    Err(Bad::Invalid)
}

/// Marketing name for a major.minor version.
pub fn release(major: u8, minor: u8) -> Option<&'static str> {
    Some(match (major, minor) {
        (17, _) => "2025",
        (16, _) => "2022",
        (15, _) => "2019",
        (14, _) => "2017",
        (13, _) => "2016",
        (12, _) => "2014",
        (11, _) => "2012",
        (10, 50) => "2008 R2",
        (10, _) => "2008",
        (9, _) => "2005",
        (8, _) => "2000",
        _ => return None,
    })
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let p = parse(buf)?;
    matched(ident, "mssql");
    ident.product = Some("Microsoft SQL Server".into());
    if let Some((major, minor, build)) = p.version {
        ident.version = Some(format!("{major}.{minor}.{build}"));
        if let Some(r) = release(major, minor) {
            add_info(ident, "release", r);
        }
    }
    if let Some(e) = p.encryption {
        let name = match e {
            0 => "off",
            1 => "on",
            2 => "not-supported",
            3 => "required",
            _ => "other",
        };
        add_info(ident, "encryption", name);
    }
    set_auth(
        ident,
        AuthState::Required,
        "TDS PRELOGIN answered; LOGIN7 needs credentials",
    );
    Ok(Step::Done)
}

super::util::one_shot!(Mssql, "mssql", |_ctx| prelogin(), judge);

/// PRELOGIN response builder for tests and fuzz seeds.
#[cfg(test)]
pub(crate) fn response(version: [u8; 6], encryption: u8) -> Vec<u8> {
    let mut r = prelogin();
    r[0] = 0x04;
    r[8 + 26..8 + 32].copy_from_slice(&version);
    r[8 + 32] = encryption;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    #[test]
    fn request_layout() {
        let r = prelogin();
        assert_eq!(usize::from(u16::from_be_bytes([r[2], r[3]])), r.len());
        assert_eq!(r.len(), 47);
    }

    #[test]
    fn sql_server_2019() {
        let mut id = Ident::default();
        let r = response([15, 0, 0x10, 0x2a, 0, 0], 2);
        assert_eq!(Mssql.step(0, &r, &mut id), Step::Done);
        assert_eq!(id.service, "mssql");
        assert_eq!(id.version.as_deref(), Some("15.0.4138"));
        assert_eq!(id.auth, AuthState::Required);
        assert_eq!(
            id.info.as_deref(),
            Some("release=2019; encryption=not-supported")
        );
    }

    #[test]
    fn truncated_and_lies() {
        let f = response([16, 0, 0x03, 0xe8, 0, 0], 0);
        for n in 0..f.len() {
            let mut id = Ident::default();
            assert_eq!(
                Mssql.step(0, &f[..n], &mut id),
                Step::NeedMore,
                "prefix {n}"
            );
        }
        let mut id = Ident::default();
        let mut lie = f.clone();
        lie[8 + 1..8 + 3].copy_from_slice(&0xfff0u16.to_be_bytes()); // VERSION offset
        assert_eq!(Mssql.step(0, &lie, &mut id), Step::Stop);
        let mut no_end = f.clone();
        no_end[8 + 25] = 0x05;
        assert_eq!(Mssql.step(0, &no_end, &mut id), Step::Stop);
        assert_eq!(Mssql.step(0, b"\x04\x01\xff\xff", &mut id), Step::Stop);
        assert_eq!(Mssql.step(0, b"HTTP/1.1", &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
