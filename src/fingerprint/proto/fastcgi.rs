//! FastCGI (9000): an `FCGI_GET_VALUES` management record.
//!
//! FastCGI Specification 1.0, section 4.1: a record of type 9
//! (`FCGI_GET_VALUES`) with request id 0 (a management record, no request)
//! asks for `FCGI_MAX_CONNS`, `FCGI_MAX_REQS` and `FCGI_MPXS_CONNS`; the
//! application answers type 10 (`FCGI_GET_VALUES_RESULT`) with the values
//! it knows (PHP-FPM: only `FCGI_MPXS_CONNS`). No request is begun, so no
//! script runs.

use super::util::{add_info, matched, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// The variables asked for.
const NAMES: [&[u8]; 3] = [b"FCGI_MAX_CONNS", b"FCGI_MAX_REQS", b"FCGI_MPXS_CONNS"];
/// Most pairs read.
const MAX_PAIRS: usize = 8;

/// The FastCGI dialogue.
#[derive(Debug, Clone, Copy)]
pub struct FastCgi;

/// The `FCGI_GET_VALUES` record, padded to 8 bytes.
pub fn request() -> Vec<u8> {
    let body: Vec<u8> = NAMES
        .iter()
        .flat_map(|n| {
            let mut p = vec![n.len() as u8, 0];
            p.extend_from_slice(n);
            p
        })
        .collect();
    let pad = (8 - body.len() % 8) % 8;
    let mut r = vec![1, 9, 0, 0];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(&[pad as u8, 0]);
    r.extend_from_slice(&body);
    r.extend(std::iter::repeat_n(0, pad));
    r
}

/// A name-value length: one byte, or four with the top bit set.
fn nv_len(c: &mut Cur) -> Res<usize> {
    let b = c.u8()?;
    if b & 0x80 == 0 {
        return Ok(usize::from(b));
    }
    let rest = [c.u8()?, c.u8()?, c.u8()?];
    Ok(u32::from_be_bytes([b & 0x7f, rest[0], rest[1], rest[2]]) as usize)
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let mut c = Cur::new(buf);
    let (version, kind) = (c.u8()?, c.u8()?);
    let request_id = c.u16_be()?;
    let len = usize::from(c.u16_be()?);
    if version != 1 || kind != 10 || request_id != 0 || len > 1024 {
        return Err(Bad::Invalid);
    }
    c.skip(2)?;
    let mut body = Cur::new(c.take(len)?);
    let mut pairs = Vec::new();
    while body.remaining() > 0 && pairs.len() < MAX_PAIRS {
        let (nl, vl) = (nv_len(&mut body)?, nv_len(&mut body)?);
        let name = text(body.take(nl).map_err(|_| Bad::Invalid)?, 32);
        let value = text(body.take(vl).map_err(|_| Bad::Invalid)?, 32);
        pairs.push((name, value));
    }
    matched(ident, "fastcgi");
    ident.info = None;
    for (name, value) in &pairs {
        add_info(ident, name, value);
    }
    set_auth(
        ident,
        AuthState::None,
        "FCGI_GET_VALUES answered: any client can send FastCGI requests (and name the script to run)",
    );
    Ok(Step::Done)
}

super::util::one_shot!(FastCgi, "fastcgi", |_ctx| request(), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    #[test]
    fn request_bytes() {
        let r = request();
        assert_eq!(r.len(), 56);
        assert_eq!(&r[..8], b"\x01\x09\x00\x00\x00\x30\x00\x00");
    }

    #[test]
    fn php_fpm_result() {
        let r = b"\x01\n\x00\x00\x00\x12\x06\x00\x0f\x01FCGI_MPXS_CONNS0\x00\x00\x00\x00\x00\x00";
        let mut id = Ident::default();
        assert_eq!(FastCgi.step(0, &r[..12], &mut id), Step::NeedMore);
        assert_eq!(FastCgi.step(0, r, &mut id), Step::Done);
        assert_eq!(id.info.as_deref(), Some("FCGI_MPXS_CONNS=0"));
    }

    #[test]
    fn garbage() {
        crate::fingerprint::proto::assert_rejects(
            &FastCgi,
            &[
                &b"HTTP/1.1 400 Bad"[..],
                b"\x01\x06\x00\x01\x00\x00\x00\x00",
                b"\x01\x0a\x00\x00\x00\x02\x00\x00\x05\x05",
            ],
        );
    }
}
