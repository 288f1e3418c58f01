//! Telnet: the server speaks first with option negotiation or a prompt.
//!
//! RFC 854 (Telnet protocol: `IAC` = 0xFF, commands `WILL` 0xFB, `WONT`
//! 0xFC, `DO` 0xFD, `DONT` 0xFE, `SB` 0xFA ... `IAC SE` 0xF0, single-byte
//! commands 0xF1-0xF9, `IAC IAC` = a literal 0xFF) and RFC 1143 (refusing an
//! option is always allowed). The dialogue refuses every option the server
//! asks for (`DO x` → `WONT x`, `WILL x` → `DONT x`): many servers wait for
//! that before they print their banner and login prompt.
//!
//! A login/username/password prompt means auth `required`; anything else
//! stays `unknown`. Nothing is ever typed at the prompt.

use super::util::{add_info, conclude, matched, set_auth, text, Bad, Res};
use crate::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use crate::model::AuthState;

const IAC: u8 = 0xff;
const DONT: u8 = 0xfe;
const DO: u8 = 0xfd;
const WONT: u8 = 0xfc;
const WILL: u8 = 0xfb;
const SB: u8 = 0xfa;
const SE: u8 = 0xf0;
/// Longest subnegotiation accepted.
const MAX_SB: usize = 1024;
/// Most refusals sent at once.
const MAX_REFUSALS: usize = 32;
/// Last stage at which refusals are still sent.
const LAST_SEND_STAGE: usize = 2;

/// The Telnet dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Telnet;

/// A reply with the negotiation taken out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stripped {
    /// Data bytes (the banner and prompt).
    pub text: Vec<u8>,
    /// Complete option commands seen.
    pub commands: usize,
    /// `IAC WONT/DONT x` answers to send.
    pub refusals: Vec<u8>,
}

/// Separates negotiation from text. `Invalid` for an `IAC` followed by a
/// byte that is no Telnet command; a cut command at the end is ignored.
pub fn strip(buf: &[u8]) -> Res<Stripped> {
    let mut out = Stripped::default();
    let mut i = 0;
    while i < buf.len() {
        let b = buf[i];
        if b != IAC {
            out.text.push(b);
            i += 1;
            continue;
        }
        let Some(&cmd) = buf.get(i + 1) else { break };
        match cmd {
            IAC => {
                out.text.push(IAC);
                i += 2;
            }
            WILL | WONT | DO | DONT => {
                let Some(&opt) = buf.get(i + 2) else { break };
                let answer = match cmd {
                    DO => Some(WONT),
                    WILL => Some(DONT),
                    _ => None,
                };
                if let Some(a) = answer {
                    let r = [IAC, a, opt];
                    if out.refusals.len() < MAX_REFUSALS * 3
                        && !out.refusals.chunks(3).any(|c| c == r)
                    {
                        out.refusals.extend_from_slice(&r);
                    }
                }
                out.commands += 1;
                i += 3;
            }
            SB => {
                let body = &buf[i + 2..];
                let end = body.windows(2).position(|w| w == [IAC, SE]);
                match end {
                    Some(n) if n <= MAX_SB => i += 2 + n + 2,
                    Some(_) => return Err(Bad::Invalid),
                    None if body.len() > MAX_SB => return Err(Bad::Invalid),
                    None => break,
                }
                out.commands += 1;
            }
            0xf1..=0xf9 | SE => i += 2,
            _ => return Err(Bad::Invalid),
        }
    }
    Ok(out)
}

/// The last non-empty line if it is a login, username or password prompt.
pub fn prompt(text: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(text);
    let line = s.lines().map(str::trim).rev().find(|l| !l.is_empty())?;
    let lower = line.to_ascii_lowercase();
    let asks = ["login", "username", "user name", "user", "password"]
        .iter()
        .any(|w| lower.trim_end_matches(':').trim_end().ends_with(w));
    (asks && line.ends_with(':') && line.len() <= 80).then(|| text_line(line))
}

fn text_line(line: &str) -> String {
    text(line.as_bytes(), 80)
}

/// Text with no NUL and at most 10% other control bytes.
fn looks_like_text(t: &[u8]) -> bool {
    let ctrl = t
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\r' | b'\n' | b'\t' | 0x1b))
        .count();
    !t.contains(&0) && ctrl * 10 <= t.len()
}

fn banner(text_bytes: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(text_bytes);
    let words: Vec<&str> = s.split_whitespace().collect();
    (!words.is_empty()).then(|| text(words.join(" ").as_bytes(), 120))
}

fn judge(stage: usize, buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let s = strip(buf)?;
    let asked = prompt(&s.text);
    if s.commands == 0 && asked.is_none() && !ident.matched() {
        // No negotiation and no prompt (yet): wait for more, or not Telnet.
        return if s.text.iter().all(|&b| b.is_ascii_whitespace()) {
            Err(Bad::Short)
        } else {
            Err(Bad::Invalid)
        };
    }
    if s.commands > 0 && buf.first() != Some(&IAC) && !looks_like_text(&s.text) {
        return Err(Bad::Invalid); // stray 0xFF bytes inside a binary greeting
    }
    matched(ident, "telnet");
    let has_banner = ident.info.as_deref().is_some_and(|i| i.contains("banner="));
    if let (false, Some(b)) = (has_banner, banner(&s.text)) {
        add_info(ident, "banner", &b);
    }
    if let Some(p) = asked {
        set_auth(ident, AuthState::Required, format!("prompt \"{p}\""));
        return Ok(Step::Done);
    }
    if !s.refusals.is_empty() && stage <= LAST_SEND_STAGE {
        return Ok(Step::Send(s.refusals));
    }
    Ok(Step::NeedMore)
}

impl Dialogue for Telnet {
    fn name(&self) -> &'static str {
        "telnet"
    }

    fn first(&self, _ctx: &ProbeCtx) -> Option<Vec<u8>> {
        None
    }

    fn step(&self, stage: usize, reply: &[u8], ident: &mut Ident) -> Step {
        if stage > LAST_SEND_STAGE + 1 {
            return Step::Stop;
        }
        conclude(judge(stage, reply, ident))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_then_prompt() {
        let mut id = Ident::default();
        // IAC DO TERMINAL-TYPE, IAC WILL ECHO, IAC WONT LINEMODE
        let greet = [IAC, DO, 24, IAC, WILL, 1, IAC, WONT, 34];
        let s = Telnet.step(0, &greet, &mut id);
        assert_eq!(s, Step::Send(vec![IAC, WONT, 24, IAC, DONT, 1]));
        assert_eq!(id.service, "telnet");
        assert_eq!(id.auth, AuthState::Unknown);
        let mut more = vec![IAC, SB, 24, 1, IAC, SE];
        more.extend_from_slice(b"\r\nDebian GNU/Linux 12\r\nhost login: ");
        assert_eq!(Telnet.step(1, &more, &mut id), Step::Done);
        assert_eq!(id.auth, AuthState::Required);
        assert_eq!(id.auth_evidence.as_deref(), Some("prompt \"host login:\""));
        assert!(id
            .info
            .unwrap()
            .contains("banner=Debian GNU/Linux 12 host login:"));
    }

    #[test]
    fn bare_prompt_and_unknown() {
        let mut id = Ident::default();
        assert_eq!(Telnet.step(0, b"\r\nUser Name : ", &mut id), Step::Done);
        assert_eq!(id.auth, AuthState::Required);
        let mut id = Ident::default();
        assert_eq!(Telnet.step(0, &[IAC, WONT, 1], &mut id), Step::NeedMore);
        assert!(id.matched());
        assert_eq!(id.auth, AuthState::Unknown);
    }

    #[test]
    fn binary_with_stray_iac_is_not_telnet() {
        let mut id = Ident::default();
        let greet = b"\x4a\x00\x00\x00\x0a8.0\x00\xff\xfd\x01\x00\x00";
        assert_eq!(Telnet.step(0, greet, &mut id), Step::Stop);
        assert!(!id.matched());
    }

    #[test]
    fn not_telnet() {
        let mut id = Ident::default();
        assert_eq!(
            Telnet.step(0, b"SSH-2.0-OpenSSH_9.6\r\n", &mut id),
            Step::Stop
        );
        assert_eq!(Telnet.step(0, b"220 ftp ready\r\n", &mut id), Step::Stop);
        assert_eq!(Telnet.step(0, b"\r\n", &mut id), Step::NeedMore);
        assert_eq!(Telnet.step(0, &[IAC, 0x10], &mut id), Step::Stop);
        assert_eq!(Telnet.step(0, &[IAC], &mut id), Step::NeedMore);
        assert_eq!(Telnet.step(0, &[IAC, DO], &mut id), Step::NeedMore);
        let mut sb = vec![IAC, SB];
        sb.extend(vec![b'x'; MAX_SB + 1]);
        assert_eq!(Telnet.step(0, &sb, &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
