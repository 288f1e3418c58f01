//! git daemon (9418): an upload-pack request for a repository that cannot exist.
//!
//! Git "pack-protocol" / "protocol-v2" documentation: the client opens with
//! one pkt-line (`4 hex digits of length | payload`),
//! `git-upload-pack <path>\0host=<host>\0\0version=2\0`. A git daemon answers
//! either a v2 capability advertisement (`version 2` pkt-line, then
//! `agent=git/X` among the capabilities) or, for a path it does not export,
//! one `ERR <reason>` pkt-line, then closes. Both name the daemon; nothing is
//! fetched, since no repository by that name exists.

use super::util::{matched, set_auth, text, Bad, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// The repository path asked for: it cannot exist on a real server.
pub const PATH: &str = "/exposecheck-nonexistent-repo.git";
/// Most pkt-lines read.
const MAX_LINES: usize = 32;

/// The git daemon dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Git;

/// The request: one pkt-line; `host` is left out when unknown (it is optional).
pub fn request(host: Option<&str>) -> Vec<u8> {
    let mut body = format!("git-upload-pack {PATH}\0").into_bytes();
    if let Some(h) = host.filter(|h| h.len() < 200 && h.bytes().all(|b| b.is_ascii_graphic())) {
        body.extend_from_slice(format!("host={h}\0").as_bytes());
    }
    body.extend_from_slice(b"\0version=2\0");
    let mut out = format!("{:04x}", body.len() + 4).into_bytes();
    out.extend_from_slice(&body);
    out
}

/// One pkt-line: `None` for a flush/delim packet, else its payload.
fn pkt_line(buf: &[u8]) -> Res<(Option<&[u8]>, usize)> {
    let head = buf.get(..4).ok_or(Bad::Short)?;
    let len = std::str::from_utf8(head)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|s| usize::from_str_radix(s, 16).ok())
        .ok_or(Bad::Invalid)?;
    match len {
        0..=2 => Ok((None, 4)),
        3 => Err(Bad::Invalid),
        _ => {
            let payload = buf.get(4..len).ok_or(Bad::Short)?;
            Ok((Some(payload), len))
        }
    }
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let (first, mut at) = pkt_line(buf)?;
    let first = first.ok_or(Bad::Invalid)?;
    if let Some(reason) = first.strip_prefix(b"ERR ") {
        matched(ident, "git-daemon");
        ident.product = Some("git daemon".into());
        let reason = text(reason.strip_suffix(b"\n").unwrap_or(reason), 100);
        ident.info = Some(format!("ERR {reason}"));
        return Ok(Step::Done);
    }
    if first != b"version 2\n" {
        return Err(Bad::Invalid);
    }
    matched(ident, "git-daemon");
    ident.product = Some("git daemon".into());
    for _ in 0..MAX_LINES {
        let (line, n) = match pkt_line(&buf[at..]) {
            Ok(x) => x,
            Err(_) => break,
        };
        at += n;
        let Some(line) = line else { break };
        if let Some(agent) = line.strip_prefix(b"agent=") {
            let agent = agent.strip_suffix(b"\n").unwrap_or(agent);
            let agent = text(agent, 64);
            ident.version = agent.strip_prefix("git/").map(str::to_string);
            ident.info = Some(format!("protocol v2; agent={agent}"));
        }
    }
    set_auth(
        ident,
        AuthState::None,
        format!("protocol v2 advertised for {PATH}"),
    );
    Ok(Step::NeedMore)
}

super::util::one_shot!(Git, "git-daemon", |ctx| request(ctx.host.as_deref()), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    #[test]
    fn request_is_one_pkt_line() {
        let r = request(None);
        assert_eq!(&r[..4], format!("{:04x}", r.len()).as_bytes());
        assert!(r.ends_with(b"\0\0version=2\0"));
        let r = request(Some("h.example"));
        assert_eq!(&r[..4], format!("{:04x}", r.len()).as_bytes());
    }

    #[test]
    fn err_and_v2() {
        let mut id = Ident::default();
        let r = b"0047ERR access denied or repository not exported: /nonexistent-repo.git";
        assert_eq!(Git.step(0, r, &mut id), Step::Done);
        assert_eq!(id.service, "git-daemon");
        let mut id = Ident::default();
        let r = b"000eversion 2\n0015agent=git/2.39.5\n0013ls-refs=unborn\n0000";
        assert_eq!(Git.step(0, r, &mut id), Step::NeedMore);
        assert_eq!(id.version.as_deref(), Some("2.39.5"));
    }

    #[test]
    fn garbage() {
        crate::fingerprint::proto::assert_rejects(
            &Git,
            &[
                &b"HTTP/1.1 400"[..],
                b"0003",
                b"000eversion 1\n",
                b"\xff\xff\xff\xff",
            ],
        );
        let mut id = Ident::default();
        assert_eq!(Git.step(0, b"004", &mut id), Step::NeedMore);
    }
}
