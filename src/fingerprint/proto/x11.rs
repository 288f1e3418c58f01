//! X11 (6000 + display): the connection setup request, without authorization.
//!
//! X Window System Protocol, "Connection Setup": the client sends byte order
//! `l` (LSB first), protocol 11.0, empty authorization name and data (12
//! bytes). The server answers status 1 (Success: an open server, with
//! release number and vendor string), 0 (Failed, with a reason) or 2
//! (Authenticate). A client that closes after the reply creates no window
//! and sends no request.

use super::util::{add_info, matched, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// `l`, pad, major 11, minor 0, auth name/data lengths 0, pad.
pub const SETUP: [u8; 12] = [b'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// The X11 dialogue.
#[derive(Debug, Clone, Copy)]
pub struct X11;

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    if buf.first().is_some_and(|&s| s > 2) {
        return Err(Bad::Invalid);
    }
    let mut c = Cur::new(buf);
    let status = c.u8()?;
    let reason_len = usize::from(c.u8()?);
    let (major, minor) = (c.u16_le()?, c.u16_le()?);
    let extra = usize::from(c.u16_le()?) * 4;
    if status > 2 || major != 11 || minor > 99 || extra > 65_536 {
        return Err(Bad::Invalid);
    }
    // Only the fixed part and the vendor string are read: the formats and
    // screens after them (kilobytes) are not needed.
    let data = c.rest();
    let data = &data[..data.len().min(extra)];
    let (release, vendor) = match status {
        1 => {
            let mut d = Cur::new(data);
            let release = d.u32_le()?;
            d.skip(12)?;
            let vendor_len = usize::from(d.u16_le()?);
            d.skip(14)?;
            if 32 + vendor_len > extra {
                return Err(Bad::Invalid);
            }
            (release, text(d.take(vendor_len)?, 64))
        }
        0 if data.len() < reason_len.min(extra) => return Err(Bad::Short),
        _ => (0, String::new()),
    };
    matched(ident, "x11");
    ident.info = None;
    add_info(ident, "protocol", &format!("{major}.{minor}"));
    match status {
        1 => {
            ident.product = Some(vendor);
            add_info(ident, "release", &release.to_string());
            set_auth(
                ident,
                AuthState::None,
                "connection setup accepted without authorization (any client may open windows and read input)",
            );
        }
        0 => {
            let reason = text(data.get(..reason_len).unwrap_or(data), 80);
            add_info(ident, "refused", &reason);
            set_auth(
                ident,
                AuthState::Protected,
                format!("setup failed: {reason}"),
            );
        }
        _ => set_auth(ident, AuthState::Required, "setup answered Authenticate"),
    }
    Ok(Step::Done)
}

super::util::one_shot!(X11, "x11", |_ctx| SETUP.to_vec(), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    fn success(vendor: &[u8]) -> Vec<u8> {
        let mut d = 12_101_011u32.to_le_bytes().to_vec();
        d.extend_from_slice(&[0; 12]);
        d.extend_from_slice(&(vendor.len() as u16).to_le_bytes());
        d.extend_from_slice(&[0; 14]);
        d.extend_from_slice(vendor);
        while d.len() % 4 != 0 {
            d.push(0);
        }
        let mut r = vec![1, 0, 11, 0, 0, 0];
        r.extend_from_slice(&((d.len() / 4) as u16).to_le_bytes());
        r.extend_from_slice(&d);
        r
    }

    #[test]
    fn open_and_refused() {
        let r = success(b"The X.Org Foundation");
        let mut id = Ident::default();
        assert_eq!(X11.step(0, &r[..20], &mut id), Step::NeedMore);
        assert_eq!(X11.step(0, &r, &mut id), Step::Done);
        assert_eq!(id.product.as_deref(), Some("The X.Org Foundation"));
        assert_eq!(id.auth, AuthState::None);
        let mut r = vec![0, 10, 11, 0, 0, 0, 3, 0];
        r.extend_from_slice(b"No protocol");
        r.push(0);
        let mut id = Ident::default();
        assert_eq!(X11.step(0, &r, &mut id), Step::Done);
        assert_eq!(id.auth, AuthState::Protected);
    }

    #[test]
    fn garbage() {
        crate::fingerprint::proto::assert_rejects(
            &X11,
            &[
                &b"HTTP/1.1 400 Bad"[..],
                b"\x01\x00\x0c\x00\x00\x00\x00\x00",
                b"\x05\x00\x0b\x00\x00\x00\x00\x00",
            ],
        );
    }
}
