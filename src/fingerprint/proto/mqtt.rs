//! MQTT brokers: CONNECT without credentials, read CONNACK.
//!
//! MQTT 3.1.1 (OASIS standard), section 3.1 CONNECT (`0x10 | remaining
//! length | 00 04 "MQTT" | level 4 | flags | keep-alive | client id`),
//! 3.2 CONNACK (`0x20 0x02 | ack flags | return code`) and 3.14
//! DISCONNECT (`e0 00`). A v5-only broker answers with an MQTT 5 CONNACK
//! (section 3.2 of MQTT 5.0: variable-length header, reason code 0x84).
//!
//! A CONNECT with neither username nor password is not a login attempt:
//! it asks whether anonymous clients are allowed. Return code 0 means they
//! are (the dialogue then sends DISCONNECT at once, before subscribing or
//! publishing anything); 4/5 (v5: 0x86/0x87/0x8C) mean credentials are
//! required.

use super::util::{add_info, conclude, matched, set_auth, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use crate::model::AuthState;
use std::hash::{BuildHasher, Hasher};

/// `DISCONNECT`: `e0 00`.
pub const DISCONNECT: [u8; 2] = [0xe0, 0x00];

/// The MQTT dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Mqtt;

/// A CONNECT (3.1.1, clean session, keep-alive 30 s, no credentials) with
/// client id `client_id`.
pub fn connect(client_id: &str) -> Vec<u8> {
    let id = client_id.as_bytes();
    let mut var = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 30];
    var.extend_from_slice(&(id.len() as u16).to_be_bytes());
    var.extend_from_slice(id);
    let mut v = vec![0x10];
    let mut n = var.len();
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        v.push(byte);
        if n == 0 {
            break;
        }
    }
    v.extend_from_slice(&var);
    v
}

/// A fresh `exposecheck-xxxx` client id, so two scans never collide.
pub fn client_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("exposecheck-{:04x}", h.finish() & 0xffff)
}

/// CONNACK: MQTT level (4 or 5) and return/reason code.
pub fn parse_connack(buf: &[u8]) -> Res<(u8, u8)> {
    let mut c = Cur::new(buf);
    if c.u8()? != 0x20 {
        return Err(Bad::Invalid);
    }
    let mut len = 0usize;
    for i in 0..4 {
        let b = c.u8()?;
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
        if i == 3 {
            return Err(Bad::Invalid);
        }
    }
    if !(2..=1024).contains(&len) {
        return Err(Bad::Invalid);
    }
    let body = c.take(len)?;
    let (flags, code) = (body[0], body[1]);
    if flags > 1 {
        return Err(Bad::Invalid);
    }
    let level = if len == 2 { 4 } else { 5 };
    if (level == 4 && code > 5) || (level == 5 && code != 0 && code < 0x80) {
        return Err(Bad::Invalid);
    }
    Ok((level, code))
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let (level, code) = parse_connack(buf)?;
    matched(ident, "mqtt");
    add_info(ident, "connack", &format!("0x{code:02x}"));
    if level == 5 {
        add_info(ident, "protocol", "5");
    }
    let (auth, what) = match code {
        0 => (AuthState::None, "accepted"),
        4 | 0x86 => (AuthState::Required, "bad user name or password"),
        5 | 0x87 => (AuthState::Required, "not authorized"),
        0x8C => (AuthState::Required, "bad authentication method"),
        1 | 0x84 => (AuthState::Unknown, "unacceptable protocol version"),
        2 | 0x85 => (AuthState::Unknown, "client identifier rejected"),
        3 | 0x88 => (AuthState::Unknown, "server unavailable"),
        _ => (AuthState::Unknown, "refused"),
    };
    set_auth(
        ident,
        auth,
        format!("CONNACK {code} ({what}) to a CONNECT without credentials"),
    );
    Ok(if code == 0 {
        Step::Send(DISCONNECT.to_vec())
    } else {
        Step::Done
    })
}

impl Dialogue for Mqtt {
    fn name(&self) -> &'static str {
        "mqtt"
    }

    fn first(&self, _ctx: &ProbeCtx) -> Option<Vec<u8>> {
        Some(connect(&client_id()))
    }

    fn step(&self, stage: usize, reply: &[u8], ident: &mut Ident) -> Step {
        match stage {
            0 => conclude(judge(reply, ident)),
            _ => Step::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_layout() {
        let c = connect("exposecheck-abcd");
        assert_eq!(c[0], 0x10);
        assert_eq!(usize::from(c[1]), c.len() - 2);
        assert_eq!(&c[2..10], b"\x00\x04MQTT\x04\x02");
        assert!(client_id().starts_with("exposecheck-"));
        assert_eq!(client_id().len(), "exposecheck-".len() + 4);
    }

    #[test]
    fn connack_codes() {
        let mut id = Ident::default();
        assert_eq!(
            Mqtt.step(0, &[0x20, 2, 0, 0], &mut id),
            Step::Send(vec![0xe0, 0])
        );
        assert_eq!(id.auth, AuthState::None);
        assert_eq!(Mqtt.step(1, &[], &mut id), Step::Done);
        for code in [4, 5] {
            let mut id = Ident::default();
            assert_eq!(Mqtt.step(0, &[0x20, 2, 0, code], &mut id), Step::Done);
            assert_eq!(id.auth, AuthState::Required);
        }
        let mut id = Ident::default();
        assert_eq!(Mqtt.step(0, &[0x20, 3, 0, 0x87, 0], &mut id), Step::Done);
        assert_eq!(id.auth, AuthState::Required);
        let mut id = Ident::default();
        assert_eq!(Mqtt.step(0, &[0x20, 2, 0, 1], &mut id), Step::Done);
        assert_eq!(id.auth, AuthState::Unknown);
        assert_eq!(id.service, "mqtt");
    }

    #[test]
    fn truncated_and_garbage() {
        let mut id = Ident::default();
        for n in 0..4 {
            assert_eq!(Mqtt.step(0, &[0x20, 2, 0, 0][..n], &mut id), Step::NeedMore);
        }
        assert_eq!(Mqtt.step(0, b"HTTP", &mut id), Step::Stop);
        assert_eq!(Mqtt.step(0, &[0x20, 2, 7, 0], &mut id), Step::Stop);
        assert_eq!(
            Mqtt.step(0, &[0x20, 0xff, 0xff, 0xff, 0xff], &mut id),
            Step::Stop
        );
        assert_eq!(Mqtt.step(0, &[0x20, 0xff, 0xff, 0x7f], &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
