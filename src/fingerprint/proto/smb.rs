//! SMB: one SMB2 NEGOTIATE over direct TCP (port 445).
//!
//! [MS-SMB2] 2.1 (direct TCP transport: `00 | length u24 BE`), 2.2.1 (SMB2
//! header, 64 bytes, `FE 'SMB'`), 2.2.3 (NEGOTIATE request, with the
//! PREAUTH_INTEGRITY context 2.2.3.1.1 that dialect 3.1.1 requires) and
//! 2.2.4 (NEGOTIATE response: security mode, dialect revision). A server
//! that only speaks SMB1 may answer with an SMB1 header (`FF 'SMB'`,
//! [MS-CIFS] 2.2.3.1).
//!
//! Negotiation happens before any authentication, so auth stays unknown;
//! whether signing is required is reported.

use super::util::{add_info, matched, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};

/// Dialects offered: 2.0.2, 2.1, 3.0, 3.0.2, 3.1.1.
const DIALECTS: [u16; 5] = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];
/// Largest NEGOTIATE response accepted.
pub const MAX_RESPONSE: usize = 64 * 1024;

/// The SMB dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Smb;

/// The 64-byte SMB2 header of a NEGOTIATE request (message id 0).
fn smb2_header() -> Vec<u8> {
    let mut h = vec![0xfe, b'S', b'M', b'B'];
    h.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    h.extend_from_slice(&0u16.to_le_bytes()); // CreditCharge
    h.extend_from_slice(&0u32.to_le_bytes()); // Status
    h.extend_from_slice(&0u16.to_le_bytes()); // Command NEGOTIATE
    h.extend_from_slice(&1u16.to_le_bytes()); // CreditRequest
    h.extend_from_slice(&0u32.to_le_bytes()); // Flags
    h.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    h.extend_from_slice(&0u64.to_le_bytes()); // MessageId
    h.extend_from_slice(&0u32.to_le_bytes()); // Reserved (ProcessId)
    h.extend_from_slice(&0u32.to_le_bytes()); // TreeId
    h.extend_from_slice(&0u64.to_le_bytes()); // SessionId
    h.extend_from_slice(&[0; 16]); // Signature
    h
}

/// NEGOTIATE request with one PREAUTH_INTEGRITY (SHA-512) context.
pub fn negotiate() -> Vec<u8> {
    let mut m = smb2_header();
    let ctx_offset = (64 + 36 + DIALECTS.len() * 2).next_multiple_of(8);
    m.extend_from_slice(&36u16.to_le_bytes()); // StructureSize
    m.extend_from_slice(&(DIALECTS.len() as u16).to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    m.extend_from_slice(&0u16.to_le_bytes()); // Reserved
    m.extend_from_slice(&0u32.to_le_bytes()); // Capabilities
    m.extend_from_slice(b"exposecheck-smb2"); // ClientGuid (16 bytes)
    m.extend_from_slice(&(ctx_offset as u32).to_le_bytes()); // NegotiateContextOffset
    m.extend_from_slice(&1u16.to_le_bytes()); // NegotiateContextCount
    m.extend_from_slice(&0u16.to_le_bytes()); // Reserved2
    for d in DIALECTS {
        m.extend_from_slice(&d.to_le_bytes());
    }
    m.resize(ctx_offset, 0);
    m.extend_from_slice(&1u16.to_le_bytes()); // SMB2_PREAUTH_INTEGRITY_CAPABILITIES
    m.extend_from_slice(&38u16.to_le_bytes()); // DataLength
    m.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    m.extend_from_slice(&1u16.to_le_bytes()); // HashAlgorithmCount
    m.extend_from_slice(&32u16.to_le_bytes()); // SaltLength
    m.extend_from_slice(&1u16.to_le_bytes()); // SHA-512
    m.extend_from_slice(&[0x5a; 32]); // Salt
    let mut v = vec![0x00];
    v.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(&m);
    v
}

/// What the server answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Negotiated {
    /// SMB2/3 NEGOTIATE response.
    Smb2 {
        /// NT status.
        status: u32,
        /// Dialect revision (e.g. 0x0311).
        dialect: u16,
        /// SecurityMode bits (1 enabled, 2 required).
        security_mode: u16,
    },
    /// An SMB1 reply.
    Smb1 {
        /// NT status.
        status: u32,
    },
}

/// Parses the NEGOTIATE response.
pub fn parse(buf: &[u8]) -> Res<Negotiated> {
    let mut c = Cur::new(buf);
    if c.u8()? != 0 {
        return Err(Bad::Invalid);
    }
    let hi = usize::from(c.u8()?);
    let len = (hi << 16) | usize::from(c.u16_be()?);
    if !(36..=MAX_RESPONSE).contains(&len) {
        return Err(Bad::Invalid);
    }
    let magic = c.take(4)?;
    let smb2 = match magic {
        b"\xfeSMB" => true,
        b"\xffSMB" => false,
        _ => return Err(Bad::Invalid),
    };
    let msg = Cur::new(buf).rest().get(4..4 + len).ok_or(Bad::Short)?;
    let mut m = Cur::new(msg);
    let whole = |_: Bad| Bad::Invalid;
    m.skip(4).map_err(whole)?;
    if !smb2 {
        let cmd = m.u8().map_err(whole)?;
        if cmd != 0x72 {
            return Err(Bad::Invalid);
        }
        return Ok(Negotiated::Smb1 {
            status: m.u32_le().map_err(whole)?,
        });
    }
    if m.u16_le().map_err(whole)? != 64 {
        return Err(Bad::Invalid);
    }
    m.skip(2).map_err(whole)?;
    let status = m.u32_le().map_err(whole)?;
    if m.u16_le().map_err(whole)? != 0 {
        return Err(Bad::Invalid); // not a NEGOTIATE
    }
    let mut body = Cur::new(msg.get(64..).ok_or(Bad::Invalid)?);
    if status != 0 {
        return Ok(Negotiated::Smb2 {
            status,
            dialect: 0,
            security_mode: 0,
        });
    }
    if body.u16_le().map_err(whole)? != 65 {
        return Err(Bad::Invalid);
    }
    let security_mode = body.u16_le().map_err(whole)?;
    let dialect = body.u16_le().map_err(whole)?;
    Ok(Negotiated::Smb2 {
        status,
        dialect,
        security_mode,
    })
}

fn dialect_name(d: u16) -> String {
    match d {
        0x0202 => "2.0.2".into(),
        0x0210 => "2.1".into(),
        0x0300 => "3.0".into(),
        0x0302 => "3.0.2".into(),
        0x0311 => "3.1.1".into(),
        0x02ff => "2.??".into(),
        other => format!("0x{other:04x}"),
    }
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    matched_parse(parse(buf)?, ident);
    Ok(Step::Done)
}

fn matched_parse(n: Negotiated, ident: &mut Ident) {
    matched(ident, "smb");
    match n {
        Negotiated::Smb2 {
            status: 0,
            dialect,
            security_mode,
        } => {
            add_info(ident, "dialect", &dialect_name(dialect));
            let signing = if security_mode & 2 != 0 {
                "required"
            } else if security_mode & 1 != 0 {
                "enabled"
            } else {
                "disabled"
            };
            add_info(ident, "signing", signing);
        }
        Negotiated::Smb2 { status, .. } => add_info(ident, "status", &format!("0x{status:08x}")),
        Negotiated::Smb1 { status } => {
            add_info(ident, "dialect", "smb1");
            add_info(ident, "status", &format!("0x{status:08x}"));
        }
    }
}

super::util::one_shot!(Smb, "smb", |_ctx| negotiate(), judge);

/// NEGOTIATE response builder for tests and fuzz seeds.
#[cfg(test)]
pub(crate) fn response(dialect: u16, security_mode: u16) -> Vec<u8> {
    let mut m = smb2_header();
    m[12] = 0; // command NEGOTIATE
    m[16] = 1; // flags: server to redirector
    m.extend_from_slice(&65u16.to_le_bytes());
    m.extend_from_slice(&security_mode.to_le_bytes());
    m.extend_from_slice(&dialect.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes()); // NegotiateContextCount
    m.extend_from_slice(&[0x11; 16]); // ServerGuid
    m.extend_from_slice(&[0; 4 + 4 + 4 + 4 + 8 + 8]); // caps, max sizes, times
    m.extend_from_slice(&128u16.to_le_bytes()); // SecurityBufferOffset
    m.extend_from_slice(&0u16.to_le_bytes()); // SecurityBufferLength
    m.extend_from_slice(&0u32.to_le_bytes()); // NegotiateContextOffset
    let mut v = vec![0x00];
    v.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(&m);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;
    use crate::model::AuthState;

    #[test]
    fn request_layout() {
        let r = negotiate();
        let len = u32::from_be_bytes([0, r[1], r[2], r[3]]) as usize;
        assert_eq!(len, r.len() - 4);
        let ctx = u32::from_le_bytes(r[4 + 64 + 28..4 + 64 + 32].try_into().unwrap()) as usize;
        assert_eq!(ctx % 8, 0);
        assert_eq!(&r[4 + ctx..4 + ctx + 2], &[1, 0]);
        assert_eq!(r.len() - 4, ctx + 8 + 38);
    }

    #[test]
    fn smb3_signing_required() {
        let mut id = Ident::default();
        assert_eq!(Smb.step(0, &response(0x0311, 3), &mut id), Step::Done);
        assert_eq!(id.service, "smb");
        assert_eq!(id.auth, AuthState::Unknown);
        assert_eq!(id.info.as_deref(), Some("dialect=3.1.1; signing=required"));
    }

    #[test]
    fn smb1_reply() {
        let mut m = b"\xffSMB\x72\x00\x00\x00\x00".to_vec();
        m.extend_from_slice(&[0; 27]);
        let mut v = vec![0, 0, 0, m.len() as u8];
        v.extend_from_slice(&m);
        let mut id = Ident::default();
        assert_eq!(Smb.step(0, &v, &mut id), Step::Done);
        assert!(id.info.unwrap().contains("smb1"));
    }

    #[test]
    fn truncated_and_garbage() {
        let f = response(0x0210, 1);
        for n in 0..f.len() {
            let mut id = Ident::default();
            assert_eq!(Smb.step(0, &f[..n], &mut id), Step::NeedMore, "prefix {n}");
        }
        let mut id = Ident::default();
        assert_eq!(Smb.step(0, b"\x00\xff\xff\xff\xfeSMB", &mut id), Step::Stop);
        assert_eq!(Smb.step(0, b"HTTP/1.1 400", &mut id), Step::Stop);
        assert_eq!(Smb.step(0, b"\x00\x00\x00\x40GARB", &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
