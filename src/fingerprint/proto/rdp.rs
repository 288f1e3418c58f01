//! RDP: X.224 Connection Request carrying an RDP Negotiation Request.
//!
//! [MS-RDPBCGR] 2.2.1.1 (Client X.224 Connection Request PDU: TPKT header
//! (RFC 1006: `03 00 | length u16 BE`), X.224 CR TPDU (ITU-T X.224 13.3:
//! `LI | 0xE0 | dst-ref | src-ref | class`), RDP_NEG_REQ (2.2.1.1.1)) and
//! 2.2.1.2 (Server X.224 Connection Confirm: CC TPDU `0xD0`, then
//! RDP_NEG_RSP (type 2, selected protocol) or RDP_NEG_FAILURE (type 3,
//! failure code)). A server that predates negotiation answers a bare CC:
//! standard RDP security.
//!
//! NLA (CredSSP) means credentials are checked before any session exists:
//! auth `required`. TLS or standard RDP security show a logon screen to
//! anyone first, so auth stays `unknown` (noted in the evidence).

use super::util::{add_info, matched, set_auth, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// `requestedProtocols`: TLS | CredSSP (NLA).
const REQUESTED: u32 = 0x0000_0003;

/// The RDP dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Rdp;

/// Connection Request, 19 bytes:
/// `03 00 00 13 | 0e e0 00 00 00 00 00 | 01 00 08 00 03 00 00 00`.
pub fn connection_request() -> Vec<u8> {
    let mut v = vec![0x03, 0x00, 0x00, 0x13]; // TPKT, length 19
    v.extend_from_slice(&[0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00]); // X.224 CR
    v.extend_from_slice(&[0x01, 0x00, 0x08, 0x00]); // RDP_NEG_REQ, flags, length 8
    v.extend_from_slice(&REQUESTED.to_le_bytes());
    v
}

/// What the Connection Confirm says.
#[derive(Debug, PartialEq, Eq)]
pub enum Confirm {
    /// No negotiation data: legacy standard RDP security.
    Legacy,
    /// RDP_NEG_RSP with the selected protocol bits.
    Selected(u32),
    /// RDP_NEG_FAILURE with its code.
    Failure(u32),
}

/// Parses the Connection Confirm.
pub fn parse(buf: &[u8]) -> Res<Confirm> {
    let mut c = Cur::new(buf);
    if c.u8()? != 0x03 || c.u8()? != 0x00 {
        return Err(Bad::Invalid);
    }
    let len = usize::from(c.u16_be()?);
    if !(11..=512).contains(&len) {
        return Err(Bad::Invalid);
    }
    let li = usize::from(c.u8()?);
    if li + 5 > len || li < 6 {
        return Err(Bad::Invalid);
    }
    if c.u8()? & 0xf0 != 0xd0 {
        return Err(Bad::Invalid);
    }
    let tpdu = c.take(len - 6)?;
    // dst-ref(2) src-ref(2) class(1), then variable part up to LI.
    let var = tpdu.get(5..li - 1).ok_or(Bad::Invalid)?;
    if var.len() < 8 {
        return Ok(Confirm::Legacy);
    }
    let mut n = Cur::new(var);
    let kind = n.u8()?;
    n.skip(1)?; // flags
    if n.u16_le()? != 8 {
        return Err(Bad::Invalid);
    }
    let value = n.u32_le()?;
    match kind {
        2 => Ok(Confirm::Selected(value)),
        3 => Ok(Confirm::Failure(value)),
        _ => Err(Bad::Invalid),
    }
}

fn protocol_name(p: u32) -> &'static str {
    match p {
        0 => "rdp",
        1 => "tls",
        2 => "nla",
        4 => "rdstls",
        8 => "nla-ex",
        0x10 => "rdsaad",
        _ => "other",
    }
}

fn failure_name(code: u32) -> &'static str {
    match code {
        1 => "SSL_REQUIRED_BY_SERVER",
        2 => "SSL_NOT_ALLOWED_BY_SERVER",
        3 => "SSL_CERT_NOT_ON_SERVER",
        4 => "INCONSISTENT_FLAGS",
        5 => "HYBRID_REQUIRED_BY_SERVER",
        6 => "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
        _ => "unknown failure",
    }
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let confirm = parse(buf)?;
    matched(ident, "rdp");
    match confirm {
        Confirm::Legacy => {
            add_info(ident, "security", "rdp");
            set_auth(
                ident,
                AuthState::Unknown,
                "no negotiation: standard RDP security, logon screen before authentication",
            );
        }
        Confirm::Selected(p) => {
            let name = protocol_name(p);
            add_info(ident, "security", name);
            if p == 2 || p == 8 {
                set_auth(
                    ident,
                    AuthState::Required,
                    "server selected CredSSP (NLA): credentials before a session",
                );
            } else {
                set_auth(
                    ident,
                    AuthState::Unknown,
                    format!(
                        "server selected {name} without NLA: logon screen before authentication"
                    ),
                );
            }
        }
        Confirm::Failure(code) => {
            let name = failure_name(code);
            add_info(ident, "negotiation_failure", name);
            let auth = if code == 5 || code == 6 {
                AuthState::Required
            } else {
                AuthState::Unknown
            };
            set_auth(ident, auth, format!("RDP_NEG_FAILURE {name}"));
        }
    }
    Ok(Step::Done)
}

super::util::one_shot!(Rdp, "rdp", |_ctx| connection_request(), judge);

/// Connection Confirm builder (`neg` = (type, value)) for tests and seeds.
#[cfg(test)]
pub(crate) fn confirm(neg: Option<(u8, u32)>) -> Vec<u8> {
    let mut x224 = vec![0xd0, 0x00, 0x00, 0x12, 0x34, 0x00];
    if let Some((kind, value)) = neg {
        x224.extend_from_slice(&[kind, 0x1f, 0x08, 0x00]);
        x224.extend_from_slice(&value.to_le_bytes());
    }
    let mut v = vec![0x03, 0x00];
    v.extend_from_slice(&((x224.len() + 5) as u16).to_be_bytes());
    v.push(x224.len() as u8);
    v.extend_from_slice(&x224);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    #[test]
    fn request_bytes() {
        let r = connection_request();
        assert_eq!(r.len(), 19);
        assert_eq!(usize::from(r[4]) + 5, r.len());
    }

    #[test]
    fn nla_tls_legacy_failure() {
        let cases = [
            (Some((2, 2)), AuthState::Required, "security=nla"),
            (Some((2, 1)), AuthState::Unknown, "security=tls"),
            (None, AuthState::Unknown, "security=rdp"),
            (Some((3, 5)), AuthState::Required, "HYBRID_REQUIRED"),
            (Some((3, 2)), AuthState::Unknown, "SSL_NOT_ALLOWED"),
        ];
        for (neg, auth, info) in cases {
            let mut id = Ident::default();
            assert_eq!(Rdp.step(0, &confirm(neg), &mut id), Step::Done);
            assert_eq!(id.service, "rdp");
            assert_eq!(id.auth, auth, "{neg:?}");
            assert!(id.info.as_deref().unwrap().contains(info), "{:?}", id.info);
        }
    }

    #[test]
    fn truncated_and_garbage() {
        let f = confirm(Some((2, 2)));
        for n in 0..f.len() {
            let mut id = Ident::default();
            assert_eq!(Rdp.step(0, &f[..n], &mut id), Step::NeedMore, "prefix {n}");
        }
        let mut id = Ident::default();
        assert_eq!(
            Rdp.step(0, b"\x03\x00\xff\xff\x0e\xd0", &mut id),
            Step::Stop
        );
        assert_eq!(
            Rdp.step(0, b"\x03\x00\x00\x13\xff\xd0", &mut id),
            Step::Stop
        );
        assert_eq!(Rdp.step(0, b"SSH-2.0-x\r\n", &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
