//! EPMD, the Erlang Port Mapper Daemon (4369): NAMES_REQ.
//!
//! Erlang/OTP "Distribution Protocol", section EPMD Protocol: requests are
//! `length u16 BE | request`; `NAMES_REQ` is `110` ('n'). The answer is
//! `EPMDPortNo u32 BE` followed by one text line per registered node,
//! `name <node> at port <port>\n`, and then EPMD closes the connection.
//!
//! EPMD answers anyone (it has no authentication); the node list tells
//! which Erlang distribution ports (RabbitMQ, CouchDB, ejabberd...) exist.

use super::util::{add_info, matched, set_auth, text, Bad, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// `NAMES_REQ`: `00 01 6e` (length 1, 'n').
pub const NAMES_REQ: [u8; 3] = [0x00, 0x01, 0x6e];
/// Most nodes listed in `info`.
const MAX_NODES: usize = 16;

/// The EPMD dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Epmd;

/// A registered node.
#[derive(Debug, PartialEq, Eq)]
pub struct Node {
    /// Node short name.
    pub name: String,
    /// Its distribution port.
    pub port: u16,
}

fn line(l: &[u8]) -> Res<Node> {
    let l = l.strip_prefix(b"name ").ok_or(Bad::Invalid)?;
    let at = l
        .windows(9)
        .rposition(|w| w == b" at port ")
        .ok_or(Bad::Invalid)?;
    let name = &l[..at];
    let port = std::str::from_utf8(&l[at + 9..])
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or(Bad::Invalid)?;
    if name.is_empty() || name.len() > 255 {
        return Err(Bad::Invalid);
    }
    Ok(Node {
        name: text(name, 64),
        port,
    })
}

/// Parses the reply so far: EPMD's port and the complete node lines.
/// A partial last line must still be a prefix of `name `.
pub fn parse(buf: &[u8]) -> Res<(u32, Vec<Node>)> {
    let head = buf.get(..4).ok_or(Bad::Short)?;
    let port = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if port == 0 || port > 65535 {
        return Err(Bad::Invalid);
    }
    let mut rest = &buf[4..];
    let mut nodes = Vec::new();
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let node = line(&rest[..nl])?;
        if nodes.len() < MAX_NODES {
            nodes.push(node);
        }
        rest = &rest[nl + 1..];
    }
    let n = rest.len().min(5);
    if rest[..n] != b"name "[..n] || rest.len() > 300 {
        return Err(Bad::Invalid);
    }
    Ok((port, nodes))
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let (port, nodes) = parse(buf)?;
    matched(ident, "epmd");
    ident.product = Some("Erlang Port Mapper Daemon".into());
    let list: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}:{}", n.name, n.port))
        .collect();
    // Each call sees the whole reply so far: rebuild the facts from scratch.
    ident.info = None;
    add_info(ident, "epmd_port", &port.to_string());
    if !list.is_empty() {
        add_info(ident, "nodes", &list.join(","));
    }
    set_auth(
        ident,
        AuthState::None,
        format!(
            "NAMES_REQ answered without credentials ({} nodes)",
            nodes.len()
        ),
    );
    // EPMD closes after the list: keep reading until it does.
    Ok(Step::NeedMore)
}

super::util::one_shot!(Epmd, "epmd", |_ctx| NAMES_REQ.to_vec(), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    #[test]
    fn node_list() {
        let mut r = 4369u32.to_be_bytes().to_vec();
        r.extend_from_slice(b"name rabbit at port 25672\nname couchdb at port 9100\n");
        let mut id = Ident::default();
        assert_eq!(Epmd.step(0, &r, &mut id), Step::NeedMore);
        assert_eq!(id.service, "epmd");
        assert_eq!(id.auth, AuthState::None);
        assert_eq!(
            id.info.as_deref(),
            Some("epmd_port=4369; nodes=rabbit:25672,couchdb:9100")
        );
        // A later, longer read replaces the facts rather than repeating them.
        r.extend_from_slice(b"name x at port 1\n");
        assert_eq!(Epmd.step(0, &r, &mut id), Step::NeedMore);
        assert!(id.info.unwrap().ends_with("couchdb:9100,x:1"));
    }

    #[test]
    fn partial_and_garbage() {
        let mut id = Ident::default();
        assert_eq!(Epmd.step(0, b"\x00\x00", &mut id), Step::NeedMore);
        assert!(!id.matched());
        assert_eq!(
            Epmd.step(0, b"\x00\x00\x11\x11name rab", &mut id),
            Step::NeedMore
        );
        let mut id = Ident::default();
        assert_eq!(Epmd.step(0, b"HTTP/1.1 200 OK\r\n", &mut id), Step::Stop);
        assert_eq!(
            Epmd.step(0, b"\x00\x00\x11\x11garbage\n", &mut id),
            Step::Stop
        );
        assert_eq!(
            Epmd.step(0, b"\x00\x00\x11\x11name a at port 99999\n", &mut id),
            Step::Stop
        );
        assert!(!id.matched());
    }
}
