//! Zabbix agent (10050): a passive check of the item `agent.version`.
//!
//! Zabbix "Header and data length" protocol: `ZBXD`, flags `0x01`, data
//! length u32 LE, reserved u32 LE, then the data. The agent answers a passive
//! check with the same header and the item's value (`6.0.14`) or
//! `ZBX_NOTSUPPORTED\0<reason>`. `agent.version` only reads a constant
//! compiled into the agent. An address missing from `Server=` gets no reply:
//! the agent closes at once, which names nothing.

use super::util::{add_info, matched, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// The item asked for.
pub const ITEM: &[u8] = b"agent.version";
/// Largest reply data read.
const MAX_DATA: u32 = 4096;

/// The Zabbix agent dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Zabbix;

/// `ZBXD\x01`, length, reserved, `agent.version`.
pub fn request() -> Vec<u8> {
    let mut r = b"ZBXD\x01".to_vec();
    r.extend_from_slice(&(ITEM.len() as u32).to_le_bytes());
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(ITEM);
    r
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let n = buf.len().min(5);
    if buf[..n] != b"ZBXD\x01"[..n] {
        return Err(Bad::Invalid);
    }
    let mut c = Cur::new(buf);
    c.skip(5)?;
    let len = c.u32_le()?;
    let _reserved = c.u32_le()?;
    if len > MAX_DATA {
        return Err(Bad::Invalid);
    }
    let data = c.take(len as usize)?;
    if data == ITEM {
        // Our own request reflected: an echo service.
        return Err(Bad::Invalid);
    }
    matched(ident, "zabbix-agent");
    ident.product = Some("Zabbix agent".into());
    ident.info = None;
    if let Some(reason) = data.strip_prefix(b"ZBX_NOTSUPPORTED") {
        let reason = text(reason.strip_prefix(b"\0").unwrap_or(reason), 80);
        add_info(ident, "agent.version", &format!("not supported ({reason})"));
    } else {
        let v = text(data.strip_suffix(b"\n").unwrap_or(data), 40);
        ident.version = Some(v);
    }
    set_auth(
        ident,
        AuthState::None,
        "passive check agent.version answered (this address is in Server=)",
    );
    Ok(Step::Done)
}

super::util::one_shot!(Zabbix, "zabbix-agent", |_ctx| request(), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    #[test]
    fn request_bytes() {
        assert_eq!(request(), b"ZBXD\x01\x0d\0\0\0\0\0\0\0agent.version");
    }

    #[test]
    fn version_and_unsupported() {
        let mut id = Ident::default();
        let r = b"ZBXD\x01\x06\x00\x00\x00\x00\x00\x00\x006.0.14";
        assert_eq!(Zabbix.step(0, &r[..10], &mut id), Step::NeedMore);
        assert_eq!(Zabbix.step(0, r, &mut id), Step::Done);
        assert_eq!(id.version.as_deref(), Some("6.0.14"));
        let mut id = Ident::default();
        let r = b"ZBXD\x01&\x00\x00\x00\x00\x00\x00\x00ZBX_NOTSUPPORTED\x00Unsupported item key.";
        assert_eq!(Zabbix.step(0, r, &mut id), Step::Done);
        assert_eq!(id.service, "zabbix-agent");
        assert!(id.version.is_none());
    }

    #[test]
    fn garbage() {
        let mut id = Ident::default();
        assert_eq!(Zabbix.step(0, b"HTTP/1.0 400", &mut id), Step::Stop);
        assert_eq!(
            Zabbix.step(0, b"ZBXD\x01\xff\xff\xff\xff\0\0\0\0", &mut id),
            Step::Stop
        );
        assert!(!id.matched());
    }

    #[test]
    fn echo_is_not_an_agent() {
        let mut id = Ident::default();
        assert_eq!(Zabbix.step(0, &request(), &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
