//! Erlang distribution port: the first handshake message only.
//!
//! Erlang/OTP "Distribution Protocol", section Distribution Handshake: every
//! handshake message is `length u16 BE | tag | ...`. The connecting node
//! sends `send_name`, here the OTP 23+ form (`'N' | flags u64 | creation u32
//! | name length u16 | node name`): Debian's OTP 25 closes without a word on
//! the older `'n'` v5 form. The
//! accepting node answers `recv_status` (`'s' | status`: `ok`,
//! `ok_simultaneous`, `nok`, `not_allowed`, `alive`, `named:`) and, when it
//! goes on, a challenge (`'n'` v5 or `'N'` v6 with its own node name) that
//! only the shared cookie can answer.
//!
//! The fake node name `exposecheck@probe` is not a login: the dialogue never
//! answers the challenge, so no digest is computed and nothing is sent after
//! `send_name`. A challenge means the port is a live distribution listener
//! protected by the cookie: auth `required`.

use super::util::{add_info, matched, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// Node name announced.
pub const NODE_NAME: &str = "exposecheck@probe";
/// Capability flags: the set OTP 25/26 require that fits in 32 bits
/// (extended refs/pids, fun tags, export ptr, bit binaries, new floats,
/// UTF-8 atoms, maps, big creation, HANDSHAKE_23, UNLINK_ID, monitors).
const FLAGS: u32 = 0x0307_0fbc;

/// The Erlang distribution dialogue.
#[derive(Debug, Clone, Copy)]
pub struct ErlangDist;

/// `send_name` (the v6 `'N'` message, creation 0) for [`NODE_NAME`].
pub fn send_name() -> Vec<u8> {
    let mut m = vec![b'N'];
    m.extend_from_slice(&u64::from(FLAGS).to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    m.extend_from_slice(&(NODE_NAME.len() as u16).to_be_bytes());
    m.extend_from_slice(NODE_NAME.as_bytes());
    let mut v = (m.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(&m);
    v
}

fn message<'a>(c: &mut Cur<'a>) -> Res<&'a [u8]> {
    let n = usize::from(c.u16_be()?);
    if !(1..=1024).contains(&n) {
        return Err(Bad::Invalid);
    }
    c.take(n)
}

/// The status, and the peer node name if the challenge came with it.
pub fn parse(buf: &[u8]) -> Res<(String, Option<String>)> {
    let mut c = Cur::new(buf);
    let status = message(&mut c)?;
    let (tag, body) = status.split_first().ok_or(Bad::Invalid)?;
    if *tag != b's' || body.is_empty() || body.len() > 300 || !body.iter().all(u8::is_ascii_graphic)
    {
        return Err(Bad::Invalid);
    }
    let known = ["ok", "ok_simultaneous", "nok", "not_allowed", "alive"];
    if !known.iter().any(|k| body == k.as_bytes()) && !body.starts_with(b"named:") {
        return Err(Bad::Invalid);
    }
    let status = text(body, 64);
    let node = match message(&mut c) {
        Ok(ch) => challenge_name(ch),
        Err(_) => None,
    };
    Ok((status, node))
}

fn challenge_name(m: &[u8]) -> Option<String> {
    let mut c = Cur::new(m);
    let name = match c.u8().ok()? {
        b'n' => {
            c.skip(2 + 4 + 4).ok()?;
            c.rest()
        }
        b'N' => {
            c.skip(8 + 4 + 4).ok()?;
            let n = usize::from(c.u16_be().ok()?);
            c.take(n).ok()?
        }
        _ => return None,
    };
    (!name.is_empty()).then(|| text(name, 128))
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let (status, node) = parse(buf)?;
    matched(ident, "erlang-dist");
    ident.product = Some("Erlang distribution".into());
    ident.info = None;
    add_info(ident, "status", &status);
    if let Some(n) = &node {
        add_info(ident, "node", n);
    }
    let auth = match status.as_str() {
        "ok" | "ok_simultaneous" => AuthState::Required,
        s if s.starts_with("named:") => AuthState::Required,
        "not_allowed" => AuthState::Protected,
        _ => AuthState::Unknown,
    };
    let evidence = if auth == AuthState::Required {
        format!("status {status}; the cookie challenge follows (never answered)")
    } else {
        format!("status {status}")
    };
    set_auth(ident, auth, evidence);
    // Wait briefly for the challenge (it names the node) after a positive status.
    Ok(if node.is_none() && auth == AuthState::Required {
        Step::NeedMore
    } else {
        Step::Done
    })
}

super::util::one_shot!(ErlangDist, "erlang-dist", |_ctx| send_name(), judge);

/// Status + v6 challenge builder for tests and fuzz seeds.
#[cfg(test)]
pub(crate) fn reply(status: &str, node: Option<&str>) -> Vec<u8> {
    let mut v = ((status.len() + 1) as u16).to_be_bytes().to_vec();
    v.push(b's');
    v.extend_from_slice(status.as_bytes());
    if let Some(n) = node {
        let mut m = vec![b'N'];
        m.extend_from_slice(&[0; 8]); // flags
        m.extend_from_slice(&0x1234_5678u32.to_be_bytes()); // challenge
        m.extend_from_slice(&[0; 4]); // creation
        m.extend_from_slice(&(n.len() as u16).to_be_bytes());
        m.extend_from_slice(n.as_bytes());
        v.extend_from_slice(&(m.len() as u16).to_be_bytes());
        v.extend_from_slice(&m);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    #[test]
    fn send_name_layout() {
        let s = send_name();
        assert_eq!(usize::from(u16::from_be_bytes([s[0], s[1]])), s.len() - 2);
        assert_eq!(s[2], b'N');
        assert_eq!(&s[3..11], &u64::from(FLAGS).to_be_bytes());
        assert_eq!(
            usize::from(u16::from_be_bytes([s[15], s[16]])),
            NODE_NAME.len()
        );
        assert!(s.ends_with(NODE_NAME.as_bytes()));
    }

    #[test]
    fn ok_then_challenge() {
        let mut id = Ident::default();
        let r = reply("ok", Some("rabbit@mq1"));
        assert_eq!(ErlangDist.step(0, &r[..5], &mut id), Step::NeedMore);
        assert_eq!(id.auth, AuthState::Required);
        assert_eq!(ErlangDist.step(0, &r, &mut id), Step::Done);
        assert_eq!(id.service, "erlang-dist");
        assert_eq!(id.info.as_deref(), Some("status=ok; node=rabbit@mq1"));
    }

    #[test]
    fn refusals() {
        let mut id = Ident::default();
        assert_eq!(
            ErlangDist.step(0, &reply("not_allowed", None), &mut id),
            Step::Done
        );
        assert_eq!(id.auth, AuthState::Protected);
        let mut id = Ident::default();
        assert_eq!(ErlangDist.step(0, &reply("nok", None), &mut id), Step::Done);
        assert_eq!(id.auth, AuthState::Unknown);
    }

    #[test]
    fn truncated_and_garbage() {
        let mut id = Ident::default();
        assert_eq!(ErlangDist.step(0, b"\x00", &mut id), Step::NeedMore);
        assert_eq!(ErlangDist.step(0, b"\x00\x03so", &mut id), Step::NeedMore);
        assert_eq!(ErlangDist.step(0, b"\xff\xffsok", &mut id), Step::Stop);
        assert_eq!(ErlangDist.step(0, b"\x00\x03xok", &mut id), Step::Stop);
        assert_eq!(ErlangDist.step(0, b"\x00\x04sfoo", &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
