//! AJP13 (8009): CPing / CPong, the connector's own keep-alive check.
//!
//! Apache JServ Protocol 1.3 ("AJPv13" in the Tomcat connector docs): a
//! packet from the web server is `0x12 0x34 | length u16 BE | payload`, one
//! from the container `'A' 'B' | length u16 BE | payload`. CPing is the
//! one-byte payload `10`; the container answers CPong, payload `9`. Tomcat
//! answers it before it reads any request or checks the connector's
//! `secret`, so it names the port without forwarding a request: no servlet
//! runs and no file is read. The wire gives no product or version.

use super::util::{matched, set_auth, Bad, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// CPing: magic `12 34`, length 1, type 10 (`JK_AJP13_CPING_REQUEST`).
pub const CPING: [u8; 5] = [0x12, 0x34, 0x00, 0x01, 0x0a];
/// CPong: magic `AB`, length 1, type 9 (`JK_AJP13_CPONG_REPLY`).
pub const CPONG: [u8; 5] = [b'A', b'B', 0x00, 0x01, 0x09];

/// The AJP13 dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Ajp;

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let n = buf.len().min(CPONG.len());
    if buf[..n] != CPONG[..n] {
        return Err(Bad::Invalid);
    }
    if n < CPONG.len() {
        return Err(Bad::Short);
    }
    matched(ident, "ajp13");
    ident.product = Some("AJP13 connector".into());
    // CPong comes before the secret check: whether forwarded requests need
    // the secret is not on the wire.
    set_auth(
        ident,
        AuthState::Unknown,
        "CPing answered with CPong (before any secret check)",
    );
    Ok(Step::Done)
}

super::util::one_shot!(Ajp, "ajp13", |_ctx| CPING.to_vec(), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    #[test]
    fn cpong() {
        let mut id = Ident::default();
        assert_eq!(Ajp.step(0, &CPONG[..3], &mut id), Step::NeedMore);
        assert!(!id.matched());
        assert_eq!(Ajp.step(0, &CPONG, &mut id), Step::Done);
        assert_eq!(id.service, "ajp13");
        assert_eq!(id.auth, AuthState::Unknown);
    }

    #[test]
    fn garbage_and_echo() {
        crate::fingerprint::proto::assert_rejects(
            &Ajp,
            &[
                &CPING,
                b"HTTP/1.1 400 Bad Request\r\n",
                b"AB\x00\x02\x09\x00",
                b"AB\x00\x01\x04",
            ],
        );
    }
}
