//! VNC: RFB ProtocolVersion, then the security types.
//!
//! RFC 6143 (The Remote Framebuffer Protocol) 7.1.1 ProtocolVersion
//! (`"RFB xxx.yyy\n"`, 12 bytes, server first; the client answers with the
//! version it will speak) and 7.1.2 Security (3.7/3.8: `count[1] |
//! types[count]`, or count 0 then `reason-length u32 | reason`). Version
//! 3.3 (section 7.1.2 note / RFB 3.3 document) sends one `u32` type chosen
//! by the server instead, 0 meaning failure with a reason. Apple Remote
//! Desktop announces `003.889`.
//!
//! Type 1 (None) means anyone gets the desktop: auth `none`. Any other type
//! is a challenge, never answered: auth `required`.

use super::util::{add_info, by_stage, matched, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use crate::model::AuthState;

/// Longest failure reason waited for; a longer one is judged on its start.
const MAX_REASON: usize = 1024;

/// The VNC dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Vnc;

/// Parses `"RFB xxx.yyy\n"`.
pub fn parse_version(buf: &[u8]) -> Res<(u16, u16)> {
    let want = b"RFB 000.000\n";
    for (i, (&b, &w)) in buf.iter().zip(want.iter()).enumerate() {
        let ok = if w == b'0' {
            b.is_ascii_digit()
        } else {
            b == w
        };
        if !ok {
            return Err(Bad::Invalid);
        }
        if i == 11 {
            break;
        }
    }
    if buf.len() < 12 {
        return Err(Bad::Short);
    }
    let num = |s: &[u8]| s.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    Ok((num(&buf[4..7]), num(&buf[8..11])))
}

/// The version string the client answers with.
fn answer(major: u16, minor: u16) -> &'static [u8; 12] {
    match (major, minor) {
        (3, 7) => b"RFB 003.007\n",
        (3, m) if m >= 8 => b"RFB 003.008\n",
        (m, _) if m > 3 => b"RFB 003.008\n",
        _ => b"RFB 003.003\n",
    }
}

fn type_name(t: u32) -> String {
    match t {
        1 => "None".into(),
        2 => "VNC".into(),
        5 => "RA2".into(),
        6 => "RA2ne".into(),
        16 => "Tight".into(),
        18 => "TLS".into(),
        19 => "VeNCrypt".into(),
        30 => "Apple-DH".into(),
        other => other.to_string(),
    }
}

/// The security offer.
#[derive(Debug, PartialEq, Eq)]
pub enum Security {
    /// Types offered (3.7+) or chosen (3.3).
    Types(Vec<u32>),
    /// Refusal with its reason.
    Failure(String),
}

fn reason(c: &mut Cur<'_>) -> Res<String> {
    let n = c.u32_be()? as usize;
    let avail = c.rest();
    if n <= MAX_REASON {
        return Ok(text(c.take(n)?, 200));
    }
    if avail.len() < 200 {
        return Err(Bad::Short);
    }
    Ok(text(avail, 200))
}

/// Parses the security message for the answered version (`v33` = 3.3).
pub fn parse_security(buf: &[u8], v33: bool) -> Res<Security> {
    let mut c = Cur::new(buf);
    if v33 {
        return match c.u32_be()? {
            0 => Ok(Security::Failure(reason(&mut c)?)),
            t if t < 256 => Ok(Security::Types(vec![t])),
            _ => Err(Bad::Invalid),
        };
    }
    let n = c.u8()?;
    if n == 0 {
        return Ok(Security::Failure(reason(&mut c)?));
    }
    let types = c.take(usize::from(n))?;
    Ok(Security::Types(
        types.iter().map(|&t| u32::from(t)).collect(),
    ))
}

fn judge_version(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let (major, minor) = parse_version(buf)?;
    if buf.len() > 12 {
        return Err(Bad::Invalid);
    }
    matched(ident, "vnc");
    add_info(ident, "rfb", &format!("{major}.{minor}"));
    ident.product = Some(match (major, minor) {
        (3, 889) => "Apple Remote Desktop".into(),
        (0, 0) => "UltraVNC repeater".into(),
        _ => "VNC".into(),
    });
    if major == 0 {
        return Ok(Step::Done);
    }
    Ok(Step::Send(answer(major, minor).to_vec()))
}

fn rfb_from_info(info: &str) -> Option<(u16, u16)> {
    let v = info.split("; ").find_map(|kv| kv.strip_prefix("rfb="))?;
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn judge_security(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    // The version answered at stage 0 is recorded as `rfb=major.minor`.
    let v33 = ident
        .info
        .as_deref()
        .and_then(rfb_from_info)
        .is_none_or(|(major, minor)| answer(major, minor) == b"RFB 003.003\n");
    match parse_security(buf, v33)? {
        Security::Types(types) => {
            let names: Vec<String> = types.iter().map(|&t| type_name(t)).collect();
            add_info(ident, "security", &names.join(","));
            if types.contains(&1) {
                set_auth(ident, AuthState::None, "security type None offered");
            } else {
                set_auth(
                    ident,
                    AuthState::Required,
                    format!(
                        "security types {} (challenge not answered)",
                        names.join(",")
                    ),
                );
            }
        }
        Security::Failure(reason) => {
            let lower = reason.to_ascii_lowercase();
            let refused = ["too many", "blacklist", "reject", "not allowed", "denied"]
                .iter()
                .any(|w| lower.contains(w));
            let auth = if refused {
                AuthState::Protected
            } else {
                AuthState::Unknown
            };
            set_auth(ident, auth, format!("security failure: {reason}"));
        }
    }
    Ok(Step::Done)
}

impl Dialogue for Vnc {
    fn name(&self) -> &'static str {
        "vnc"
    }

    fn first(&self, _ctx: &ProbeCtx) -> Option<Vec<u8>> {
        None
    }

    fn step(&self, stage: usize, reply: &[u8], ident: &mut Ident) -> Step {
        by_stage(&[judge_version, judge_security], stage, reply, ident)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(version: &[u8], security: &[u8]) -> (Step, Step, Ident) {
        let mut id = Ident::default();
        let a = Vnc.step(0, version, &mut id);
        let b = Vnc.step(1, security, &mut id);
        (a, b, id)
    }

    #[test]
    fn rfb38_none_and_vnc_auth() {
        let (a, b, id) = run(b"RFB 003.008\n", &[2, 1, 2]);
        assert_eq!(a, Step::Send(b"RFB 003.008\n".to_vec()));
        assert_eq!(b, Step::Done);
        assert_eq!(id.auth, AuthState::None);
        let (_, _, id) = run(b"RFB 003.008\n", &[1, 2]);
        assert_eq!(id.auth, AuthState::Required);
        assert_eq!(id.info.as_deref(), Some("rfb=3.8; security=VNC"));
    }

    #[test]
    fn rfb33_and_apple() {
        let (a, _, id) = run(b"RFB 003.003\n", &[0, 0, 0, 2, 1, 2, 3]);
        assert_eq!(a, Step::Send(b"RFB 003.003\n".to_vec()));
        assert_eq!(id.auth, AuthState::Required);
        let (a, _, id) = run(b"RFB 003.889\n", &[2, 2, 30]);
        assert_eq!(a, Step::Send(b"RFB 003.008\n".to_vec()));
        assert_eq!(id.product.as_deref(), Some("Apple Remote Desktop"));
        assert_eq!(id.auth, AuthState::Required);
    }

    #[test]
    fn failure_reasons() {
        let mut f = vec![0];
        let r = b"Too many security failures";
        f.extend_from_slice(&(r.len() as u32).to_be_bytes());
        f.extend_from_slice(r);
        let (_, b, id) = run(b"RFB 003.008\n", &f);
        assert_eq!(b, Step::Done);
        assert_eq!(id.auth, AuthState::Protected);
        let (_, b, _) = run(b"RFB 003.008\n", &f[..f.len() - 1]);
        assert_eq!(b, Step::NeedMore);
        let (_, b, _) = run(b"RFB 003.008\n", b"\x00\xff\xff\xff\xffshort");
        assert_eq!(b, Step::NeedMore);
    }

    #[test]
    fn truncated_and_garbage() {
        let mut id = Ident::default();
        for n in 0..12 {
            assert_eq!(Vnc.step(0, &b"RFB 003.008\n"[..n], &mut id), Step::NeedMore);
        }
        assert_eq!(Vnc.step(0, b"RFB 3.8\n", &mut id), Step::Stop);
        assert_eq!(Vnc.step(0, b"SSH-2.0-x\r\n", &mut id), Step::Stop);
        assert_eq!(Vnc.step(0, b"RFB 003.008\nextra", &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
