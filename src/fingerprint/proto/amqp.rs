//! AMQP 0-9-1 (RabbitMQ, Qpid, ...): protocol header, then Connection.Start.
//!
//! AMQP 0-9-1 specification, section 4.2.2 (protocol header
//! `"AMQP" 0 0 9 1`), 4.2.3 (frame: `type[1] | channel u16 | size u32 |
//! payload | 0xCE`), and the `connection.start` method (class 10, method
//! 10): `version-major[1] | version-minor[1] | server-properties (field
//! table) | mechanisms (longstr) | locales (longstr)`. Field-table value
//! types follow the 0-9-1 errata used by RabbitMQ. A server that prefers
//! another protocol version answers with its own header and closes.
//!
//! The dialogue never sends Start-Ok: it reads the offer and stops, so auth
//! is `required` (the server demands a SASL login).

use super::util::{add_info, matched, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// `"AMQP" 00 00 09 01`.
pub const HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";
/// Largest Connection.Start frame accepted (pre-tune frame_min is 4 KiB;
/// servers with many properties stay far below this).
pub const MAX_FRAME: usize = 128 * 1024;

/// The AMQP dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Amqp;

/// What Connection.Start says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Start {
    /// Protocol version `major-minor` the server speaks.
    pub version: (u8, u8),
    /// Selected string server properties (`product`, `version`, ...).
    pub properties: Vec<(String, String)>,
    /// SASL mechanisms offered.
    pub mechanisms: String,
}

fn shortstr<'a>(c: &mut Cur<'a>) -> Res<&'a [u8]> {
    let n = usize::from(c.u8()?);
    c.take(n)
}

fn longstr<'a>(c: &mut Cur<'a>) -> Res<&'a [u8]> {
    let n = c.u32_be()? as usize;
    c.take(n)
}

/// Reads a field table's top level; nested tables and arrays are skipped by
/// length (no recursion).
pub fn field_table(table: &[u8]) -> Res<Vec<(String, String)>> {
    let mut c = Cur::new(table);
    let mut out = Vec::new();
    while c.remaining() > 0 {
        let name = text(shortstr(&mut c)?, 64);
        let value = match c.u8()? {
            b'S' => Some(text(longstr(&mut c)?, 120)),
            b'x' | b'A' | b'F' => {
                longstr(&mut c)?;
                None
            }
            b't' => Some((c.u8()? != 0).to_string()),
            b'b' | b'B' => Some(c.u8()?.to_string()),
            // 's' is a 16-bit integer in the errata that brokers implement.
            b's' | b'U' | b'u' => Some(c.u16_be()?.to_string()),
            b'I' | b'i' => Some(c.u32_be()?.to_string()),
            b'f' => {
                c.skip(4)?;
                None
            }
            b'l' | b'L' | b'd' | b'T' => {
                c.skip(8)?;
                None
            }
            b'D' => {
                c.skip(5)?;
                None
            }
            b'V' => None,
            _ => return Err(Bad::Invalid),
        };
        if let Some(v) = value {
            if out.len() < 32 {
                out.push((name, v));
            }
        }
    }
    Ok(out)
}

/// Parses the server's answer to the protocol header: `Ok(Err(header))`
/// when the server answered with its own protocol header instead.
pub fn parse(buf: &[u8]) -> Res<Result<Start, [u8; 8]>> {
    if buf.first() == Some(&b'A') {
        let n = buf.len().min(4);
        if buf[..n] != b"AMQP"[..n] {
            return Err(Bad::Invalid);
        }
        let h = buf.get(..8).ok_or(Bad::Short)?;
        let mut out = [0u8; 8];
        out.copy_from_slice(h);
        return Ok(Err(out));
    }
    let mut c = Cur::new(buf);
    if c.u8()? != 1 || c.u16_be()? != 0 {
        return Err(Bad::Invalid); // method frame on channel 0
    }
    let size = c.u32_be()? as usize;
    if !(4..=MAX_FRAME).contains(&size) {
        return Err(Bad::Invalid);
    }
    // Check class/method early so garbage stops before the whole frame.
    let mut peek = c.clone();
    if let (Ok(class), Ok(method)) = (peek.u16_be(), peek.u16_be()) {
        if (class, method) != (10, 10) {
            return Err(Bad::Invalid);
        }
    }
    let payload = c.take(size)?;
    if c.u8()? != 0xCE {
        return Err(Bad::Invalid);
    }
    start_payload(payload).map_err(|_| Bad::Invalid).map(Ok)
}

fn start_payload(payload: &[u8]) -> Res<Start> {
    let mut p = Cur::new(payload);
    p.skip(4)?; // class 10, method 10
    let version = (p.u8()?, p.u8()?);
    let properties = field_table(longstr(&mut p)?)?;
    let mechanisms = text(longstr(&mut p)?, 120);
    longstr(&mut p)?; // locales
    Ok(Start {
        version,
        properties,
        mechanisms,
    })
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    match parse(buf)? {
        Err(header) => {
            matched(ident, "amqp");
            let v = format!("{}-{}-{}-{}", header[4], header[5], header[6], header[7]);
            add_info(ident, "server_protocol_header", &v);
        }
        Ok(start) => {
            matched(ident, "amqp");
            let prop = |k: &str| {
                start
                    .properties
                    .iter()
                    .find(|(name, _)| name == k)
                    .map(|(_, v)| v.clone())
            };
            ident.product = prop("product").or(Some("AMQP 0-9-1 broker".into()));
            ident.version = prop("version");
            for key in ["cluster_name", "platform"] {
                if let Some(v) = prop(key) {
                    add_info(ident, key, &v);
                }
            }
            add_info(ident, "mechanisms", &start.mechanisms);
            set_auth(
                ident,
                AuthState::Required,
                format!(
                    "Connection.Start asks for a SASL login ({})",
                    start.mechanisms
                ),
            );
        }
    }
    Ok(Step::Done)
}

super::util::one_shot!(Amqp, "amqp", |_ctx| HEADER.to_vec(), judge);

/// Connection.Start frame builder shared by tests and fuzz seeds.
#[cfg(test)]
pub(crate) fn start_frame(props: &[(&str, &str)], mechanisms: &str) -> Vec<u8> {
    let mut table = Vec::new();
    for (k, v) in props {
        table.push(k.len() as u8);
        table.extend_from_slice(k.as_bytes());
        table.push(b'S');
        table.extend_from_slice(&(v.len() as u32).to_be_bytes());
        table.extend_from_slice(v.as_bytes());
    }
    // A nested capabilities table, as RabbitMQ sends.
    table.push(12);
    table.extend_from_slice(b"capabilities");
    table.push(b'F');
    let caps = b"\x0apublisher_confirmst\x01";
    table.extend_from_slice(&(caps.len() as u32).to_be_bytes());
    table.extend_from_slice(caps);
    let mut payload = vec![0, 10, 0, 10, 0, 9];
    payload.extend_from_slice(&(table.len() as u32).to_be_bytes());
    payload.extend_from_slice(&table);
    for s in [mechanisms, "en_US"] {
        payload.extend_from_slice(&(s.len() as u32).to_be_bytes());
        payload.extend_from_slice(s.as_bytes());
    }
    let mut f = vec![1, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(&payload);
    f.push(0xCE);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    fn rabbit() -> Vec<u8> {
        start_frame(
            &[
                ("product", "RabbitMQ"),
                ("version", "3.12.1"),
                ("platform", "Erlang/OTP 25.3.2.8"),
                ("cluster_name", "rabbit@mq1"),
            ],
            "PLAIN AMQPLAIN",
        )
    }

    #[test]
    fn connection_start() {
        let mut id = Ident::default();
        assert_eq!(Amqp.step(0, &rabbit(), &mut id), Step::Done);
        assert_eq!(id.service, "amqp");
        assert_eq!(id.product.as_deref(), Some("RabbitMQ"));
        assert_eq!(id.version.as_deref(), Some("3.12.1"));
        assert_eq!(id.auth, AuthState::Required);
        let info = id.info.unwrap();
        assert!(info.contains("cluster_name=rabbit@mq1"), "{info}");
        assert!(info.contains("mechanisms=PLAIN AMQPLAIN"), "{info}");
    }

    #[test]
    fn protocol_header_reply() {
        let mut id = Ident::default();
        assert_eq!(Amqp.step(0, b"AMQP\x00\x01\x00\x00", &mut id), Step::Done);
        assert!(id.info.unwrap().contains("0-1-0-0"));
        let mut id = Ident::default();
        assert_eq!(Amqp.step(0, b"AMQ", &mut id), Step::NeedMore);
        assert_eq!(Amqp.step(0, b"ABCD", &mut id), Step::Stop);
    }

    #[test]
    fn truncated_and_lies() {
        let f = rabbit();
        for n in 0..f.len() {
            let mut id = Ident::default();
            assert_eq!(Amqp.step(0, &f[..n], &mut id), Step::NeedMore, "prefix {n}");
        }
        let mut id = Ident::default();
        let mut lie = f.clone();
        lie[3..7].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Amqp.step(0, &lie, &mut id), Step::Stop);
        let mut end = f.clone();
        *end.last_mut().unwrap() = 0;
        assert_eq!(Amqp.step(0, &end, &mut id), Step::Stop);
        // Table length past the payload.
        let mut table = f.clone();
        table[13..17].copy_from_slice(&0xffffu32.to_be_bytes());
        assert_eq!(Amqp.step(0, &table, &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
