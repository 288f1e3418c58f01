//! NRPE (5666, inside TLS): the built-in `_NRPE_CHECK` version query.
//!
//! NRPE's `common.h`: a version 2 packet is `version i16 = 2 | type i16
//! (1 query, 2 response) | crc32 u32 | result_code i16 | buffer[1024] |
//! 2 bytes of padding`, 1036 bytes, all big-endian; the CRC-32 (IEEE) is
//! taken over the packet with its crc field zero. The query `_NRPE_CHECK`
//! is answered by the daemon itself with `NRPE v4.1.0`: no command or
//! plugin runs, no argument is passed. NRPE 4 still answers version 2.
//! An address missing from `allowed_hosts` is closed before any reply.

use super::util::{matched, numeric_version, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// The query: NRPE's own version check.
pub const QUERY: &[u8] = b"_NRPE_CHECK";
/// Size of a version 2 packet.
pub const PACKET_LEN: usize = 1036;
const BUFFER: usize = 1024;

/// The NRPE dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Nrpe;

/// CRC-32 (IEEE 802.3, reflected, as NRPE's `calculate_crc32`).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A version 2 query packet for `_NRPE_CHECK`.
pub fn request() -> Vec<u8> {
    let mut p = vec![0, 2, 0, 1, 0, 0, 0, 0, 0, 0];
    p.extend_from_slice(QUERY);
    p.resize(PACKET_LEN, 0);
    let crc = crc32(&p);
    p[4..8].copy_from_slice(&crc.to_be_bytes());
    p
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let head: &[u8] = &[0, 2, 0, 2];
    let n = buf.len().min(4);
    if buf[..n] != head[..n] {
        return Err(Bad::Invalid);
    }
    let packet = Cur::new(buf).take(PACKET_LEN)?;
    let mut zeroed = packet.to_vec();
    zeroed[4..8].fill(0);
    if crc32(&zeroed) != u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]) {
        return Err(Bad::Invalid);
    }
    let body = &packet[10..10 + BUFFER];
    let answer = &body[..body.iter().position(|&b| b == 0).unwrap_or(BUFFER)];
    matched(ident, "nrpe");
    ident.product = Some("NRPE".into());
    let answer = text(answer, 100);
    ident.version = answer.strip_prefix("NRPE v").and_then(numeric_version);
    ident.info = Some(format!("_NRPE_CHECK: {answer}"));
    set_auth(
        ident,
        AuthState::None,
        "answered _NRPE_CHECK (this address is in allowed_hosts)",
    );
    Ok(Step::Done)
}

super::util::one_shot!(Nrpe, "nrpe", |_ctx| request(), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    /// NRPE 4.1.0's answer, as Debian's nagios-nrpe-server sends it.
    fn reply(answer: &[u8]) -> Vec<u8> {
        let mut p = vec![0, 2, 0, 2, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(answer);
        p.resize(PACKET_LEN, 0);
        let crc = crc32(&p);
        p[4..8].copy_from_slice(&crc.to_be_bytes());
        p
    }

    #[test]
    fn request_layout_and_crc() {
        let r = request();
        assert_eq!(r.len(), PACKET_LEN);
        assert_eq!(&r[..4], &[0, 2, 0, 1]);
        assert_eq!(&r[10..21], QUERY);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn version_answer() {
        let r = reply(b"NRPE v4.1.0");
        let mut id = Ident::default();
        assert_eq!(Nrpe.step(0, &r[..500], &mut id), Step::NeedMore);
        assert!(!id.matched());
        assert_eq!(Nrpe.step(0, &r, &mut id), Step::Done);
        assert_eq!(
            (id.service.as_str(), id.version.as_deref()),
            ("nrpe", Some("4.1.0"))
        );
        assert_eq!(id.auth, AuthState::None);
    }

    #[test]
    fn garbage_echo_and_bad_crc() {
        let mut bad = reply(b"NRPE v4.1.0");
        bad[20] ^= 1;
        crate::fingerprint::proto::assert_rejects(&Nrpe, &[&request(), &bad, b"HTTP/1.1 400\r\n"]);
    }
}
