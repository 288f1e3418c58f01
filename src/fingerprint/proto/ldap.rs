//! LDAP (389): an anonymous search of the root DSE.
//!
//! RFC 4511: a SearchRequest (BER) with base `""`, scope baseObject, filter
//! `(objectClass=*)`, for `namingContexts`, `vendorName`, `vendorVersion`
//! and `supportedLDAPVersion`, sent without any bind (so anonymously). The
//! server answers SearchResultEntry then SearchResultDone, or only a
//! SearchResultDone carrying an error when anonymous reads are refused.
//! Nothing is bound, written or compared.

use super::util::{add_info, matched, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// Message id of the search.
const MSG_ID: u8 = 1;
/// Largest LDAPMessage read.
const MAX_MSG: usize = 16_384;
/// Most attribute values kept per attribute.
const MAX_VALUES: usize = 8;
/// The attributes asked for.
const ATTRS: [&[u8]; 4] = [
    b"namingContexts",
    b"vendorName",
    b"vendorVersion",
    b"supportedLDAPVersion",
];

/// The LDAP dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Ldap;

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, body.len() as u8];
    out.extend_from_slice(body);
    out
}

/// The SearchRequest, one LDAPMessage (every part is under 128 bytes).
pub fn request() -> Vec<u8> {
    let attrs: Vec<u8> = ATTRS.iter().flat_map(|a| tlv(0x04, a)).collect();
    let mut search = tlv(0x04, b"");
    // scope baseObject, derefAliases never, sizeLimit 0, timeLimit 0, typesOnly false.
    search.extend_from_slice(b"\x0a\x01\x00\x0a\x01\x00\x02\x01\x00\x02\x01\x00\x01\x01\x00");
    search.extend(tlv(0x87, b"objectClass"));
    search.extend(tlv(0x30, &attrs));
    let mut msg = vec![0x02, 0x01, MSG_ID];
    msg.extend(tlv(0x63, &search));
    tlv(0x30, &msg)
}

/// One BER element: tag and contents.
fn element<'a>(c: &mut Cur<'a>) -> Res<(u8, &'a [u8])> {
    let tag = c.u8()?;
    let first = c.u8()?;
    let len = match first {
        0..=0x7f => usize::from(first),
        0x81..=0x84 => {
            let mut n = 0usize;
            for _ in 0..(first - 0x80) {
                n = (n << 8) | usize::from(c.u8()?);
            }
            n
        }
        _ => return Err(Bad::Invalid),
    };
    if len > MAX_MSG {
        return Err(Bad::Invalid);
    }
    Ok((tag, c.take(len)?))
}

/// An element that must have `tag`.
fn expect<'a>(c: &mut Cur<'a>, tag: u8) -> Res<&'a [u8]> {
    match element(c)? {
        (t, body) if t == tag => Ok(body),
        _ => Err(Bad::Invalid),
    }
}

/// Reads the attributes of a SearchResultEntry into `ident`.
fn entry(body: &[u8], ident: &mut Ident) -> Res<()> {
    let mut c = Cur::new(body);
    expect(&mut c, 0x04)?;
    let mut attrs = Cur::new(expect(&mut c, 0x30)?);
    while attrs.remaining() > 0 {
        let mut a = Cur::new(expect(&mut attrs, 0x30)?);
        let name = text(expect(&mut a, 0x04)?, 40);
        let mut vals = Cur::new(expect(&mut a, 0x31)?);
        let mut list = Vec::new();
        while vals.remaining() > 0 && list.len() < MAX_VALUES {
            list.push(text(expect(&mut vals, 0x04)?, 80));
        }
        match name.to_ascii_lowercase().as_str() {
            "vendorname" => ident.product = list.first().cloned(),
            "vendorversion" => ident.version = list.first().cloned(),
            _ => add_info(ident, &name, &list.join("|")),
        }
    }
    Ok(())
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    if buf.first().is_some_and(|&t| t != 0x30) {
        return Err(Bad::Invalid);
    }
    let mut c = Cur::new(buf);
    let mut msg = Cur::new(expect(&mut c, 0x30)?);
    if expect(&mut msg, 0x02)? != [MSG_ID] {
        return Err(Bad::Invalid);
    }
    let (tag, body) = element(&mut msg)?;
    matched(ident, "ldap");
    ident.info = None;
    match tag {
        0x64 => {
            entry(body, ident)?;
            set_auth(
                ident,
                AuthState::None,
                "root DSE read without a bind (anonymous read allowed)",
            );
            Ok(Step::Done)
        }
        0x65 => {
            let mut d = Cur::new(body);
            let code = expect(&mut d, 0x0a)?.first().copied().unwrap_or(0);
            add_info(ident, "resultCode", &code.to_string());
            if matches!(code, 8 | 13 | 48 | 49 | 50) {
                set_auth(
                    ident,
                    AuthState::Required,
                    format!("anonymous root DSE search refused (resultCode {code})"),
                );
            }
            Ok(Step::Done)
        }
        0x78 => Ok(Step::Done),
        _ => {
            ident.service.clear();
            Err(Bad::Invalid)
        }
    }
}

super::util::one_shot!(Ldap, "ldap", |_ctx| request(), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    const SLAPD: &[u8] = b"0R\x02\x01\x01dM\x04\x000I0*\x04\x0enamingContexts1\x18\x04\x16dc=exposecheck,dc=test0\x1b\x04\x14supportedLDAPVersion1\x03\x04\x013";

    #[test]
    fn request_matches_the_wire() {
        let hex: String = request().iter().map(|b| format!("{b:02x}")).collect();
        assert!(hex.starts_with(
            "3066020101636104000a01000a0100020100020100010100870b6f626a656374436c617373"
        ));
    }

    #[test]
    fn openldap_root_dse() {
        let mut id = Ident::default();
        assert_eq!(Ldap.step(0, &SLAPD[..20], &mut id), Step::NeedMore);
        assert_eq!(Ldap.step(0, SLAPD, &mut id), Step::Done);
        assert_eq!(id.service, "ldap");
        assert_eq!(id.auth, AuthState::None);
        assert_eq!(
            id.info.as_deref(),
            Some("namingContexts=dc=exposecheck,dc=test; supportedLDAPVersion=3")
        );
    }

    #[test]
    fn garbage() {
        crate::fingerprint::proto::assert_rejects(
            &Ldap,
            &[
                &b"HTTP/1.1 400 Bad"[..],
                b"0\x03\x02\x01\x02",
                b"0\x05\x02\x01\x01\x04\x00",
            ],
        );
    }
}
