//! DNS over TCP (53): the `version.bind` CH TXT query.
//!
//! RFC 1035 4.2.2: over TCP each message is prefixed with its length (u16
//! BE). The query (id `0x4543`, no recursion desired) asks for the TXT record
//! `version.bind` in class CHAOS, which name servers answer from their own
//! configuration: BIND `9.18.49-1~deb12u3-Debian`, dnsmasq `dnsmasq-2.90`,
//! Unbound `unbound 1.17.1`, Knot `Knot DNS 3.2.6`. It names no zone of the
//! Internet class, so no resolver forwards it. A reply with our id and the
//! response bit is DNS even when the version is refused or hidden.

use super::util::{add_info, matched, numeric_version, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};

/// The query id: `EC`.
const ID: u16 = 0x4543;
/// TXT.
const TYPE_TXT: u16 = 16;
/// CHAOS.
const CLASS_CH: u16 = 3;
/// Most labels or pointers followed in one name.
const MAX_LABELS: usize = 64;
/// Largest reply read.
const MAX_MSG: usize = 4096;

/// The DNS-over-TCP dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Dns;

/// The length-prefixed `version.bind` CH TXT query.
pub fn request() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&ID.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(b"\x07version\x04bind\x00");
    m.extend_from_slice(&TYPE_TXT.to_be_bytes());
    m.extend_from_slice(&CLASS_CH.to_be_bytes());
    let mut out = (m.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&m);
    out
}

/// Skips a (possibly compressed) name; a pointer ends it.
fn skip_name(c: &mut Cur) -> Res<()> {
    for _ in 0..MAX_LABELS {
        let len = c.u8()?;
        match len {
            0 => return Ok(()),
            1..=63 => c.skip(usize::from(len))?,
            0xc0..=0xff => return c.skip(1),
            _ => return Err(Bad::Invalid),
        }
    }
    Err(Bad::Invalid)
}

/// Product and version from a `version.bind` string.
fn product_of(v: &str) -> (Option<&'static str>, Option<String>) {
    let lower = v.to_ascii_lowercase();
    let after = |p: &str| numeric_version(v[p.len()..].trim_start());
    if lower.starts_with("dnsmasq-") {
        (Some("dnsmasq"), after("dnsmasq-"))
    } else if lower.starts_with("unbound") {
        (Some("Unbound"), after("unbound"))
    } else if lower.starts_with("knot dns") {
        (Some("Knot DNS"), after("knot dns"))
    } else if lower.starts_with("powerdns") {
        (Some("PowerDNS"), v.split(' ').find_map(numeric_version))
    } else if lower.starts_with("9.") {
        (Some("BIND"), numeric_version(v))
    } else {
        (None, None)
    }
}

/// The first TXT string of a CH TXT answer, if any.
fn first_txt(c: &mut Cur, answers: u16) -> Res<Option<String>> {
    for _ in 0..answers.min(8) {
        skip_name(c)?;
        let (ty, class) = (c.u16_be()?, c.u16_be()?);
        c.skip(4)?;
        let rdlen = usize::from(c.u16_be()?);
        let rdata = c.take(rdlen)?;
        if ty == TYPE_TXT && class == CLASS_CH {
            let n = usize::from(*rdata.first().ok_or(Bad::Invalid)?);
            let s = rdata.get(1..1 + n).ok_or(Bad::Invalid)?;
            return Ok(Some(text(s, 80)));
        }
    }
    Ok(None)
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let mut c = Cur::new(buf);
    let len = usize::from(c.u16_be()?);
    if !(12..=MAX_MSG).contains(&len) {
        return Err(Bad::Invalid);
    }
    let id = c.u16_be()?;
    let flags = c.u16_be()?;
    if id != ID || flags & 0x8000 == 0 || (flags >> 11) & 0xf != 0 {
        return Err(Bad::Invalid);
    }
    let msg = c.take(len - 4)?;
    let mut c = Cur::new(msg);
    let (qd, an) = (c.u16_be()?, c.u16_be()?);
    c.skip(4)?;
    if qd > 1 {
        return Err(Bad::Invalid);
    }
    for _ in 0..qd {
        skip_name(&mut c)?;
        c.skip(4)?;
    }
    matched(ident, "dns");
    let rcode = flags & 0xf;
    ident.info = None;
    match first_txt(&mut c, an).unwrap_or(None) {
        Some(v) => {
            let (product, version) = product_of(&v);
            ident.product = product.map(str::to_string);
            ident.version = version;
            add_info(ident, "version.bind", &v);
        }
        None => add_info(ident, "version.bind", &format!("no answer (rcode {rcode})")),
    }
    Ok(Step::Done)
}

// Knot DNS reads each TCP message to its end on one of its two workers,
// blocking up to `tcp-io-timeout` (500 ms) on an incomplete one: next to
// the batch's other dialogues, whose bytes are incomplete DNS messages,
// the query waits behind them for up to a second. It goes alone.
super::util::one_shot!(Dns, "dns", |_ctx| request(), judge, alone = true);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    const BIND: &[u8] = b"\x00QEC\x84\x00\x00\x01\x00\x01\x00\x01\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03\xc0\x0c\x00\x10\x00\x03\x00\x00\x00\x00\x00\x19\x189.18.49-1~deb12u3-Debian\xc0\x0c\x00\x02\x00\x03\x00\x00\x00\x00\x00\x02\xc0\x0c";
    const DNSMASQ: &[u8] = b"\x007EC\x84\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03\xc0\x0c\x00\x10\x00\x03\x00\x00\x00\x00\x00\r\x0cdnsmasq-2.90";

    #[test]
    fn bind_and_dnsmasq() {
        let mut id = Ident::default();
        assert_eq!(Dns.step(0, &BIND[..30], &mut id), Step::NeedMore);
        assert_eq!(Dns.step(0, BIND, &mut id), Step::Done);
        assert_eq!(
            (id.product.as_deref(), id.version.as_deref()),
            (Some("BIND"), Some("9.18.49"))
        );
        let mut id = Ident::default();
        assert_eq!(Dns.step(0, DNSMASQ, &mut id), Step::Done);
        assert_eq!(
            (id.product.as_deref(), id.version.as_deref()),
            (Some("dnsmasq"), Some("2.90"))
        );
    }

    #[test]
    fn refused_is_still_dns() {
        let r = b"\x00\x1eEC\x84\x05\x00\x01\x00\x00\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03";
        let mut id = Ident::default();
        assert_eq!(Dns.step(0, r, &mut id), Step::Done);
        assert_eq!(id.service, "dns");
        assert!(id.product.is_none());
    }

    #[test]
    fn garbage() {
        crate::fingerprint::proto::assert_rejects(
            &Dns,
            &[
                &b"HTTP/1.1 400 Bad"[..],
                b"\x00\x0cXX\x84\x00\0\0\0\0\0\0\0\0",
                b"\x00\x0cEC\x04\x00\0\0\0\0\0\0\0\0",
            ],
        );
    }
}
