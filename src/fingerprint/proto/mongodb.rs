//! MongoDB: `hello`, then `buildInfo`, then a read-only auth test.
//!
//! MongoDB Wire Protocol (MongoDB manual, "Legacy Opcodes" and "OP_MSG"):
//! every message is `messageLength i32 | requestID i32 | responseTo i32 |
//! opCode i32` (little-endian) then the body.
//!
//! * `OP_MSG` (2013): `flagBits u32 | sections`, section kind 0 = one BSON
//!   document (the command, with `$db`).
//! * `OP_QUERY` (2004, legacy): `flags | "admin.$cmd\0" | skip | -1 | doc`,
//!   answered by `OP_REPLY` (1). Servers ≥ 5.1 accept it only for the
//!   `hello`/`isMaster` handshake.
//!
//! Sequence: OP_MSG `{hello:1, $db:"admin"}` (falls back to OP_QUERY
//! `{isMaster:1}` when the reply is an error), then `{buildInfo:1}` for the
//! version, then `{hostInfo:1}`: it needs the `clusterMonitor` privilege when
//! access control is on, so `ok:1` means no auth and code 13 (Unauthorized)
//! means auth required. All three are read-only; `listDatabases` is never
//! sent. Each request has its own `requestID`, so a reply is recognised by
//! its `responseTo` rather than by the stage.

use super::bson::{self, Doc, Val};
use super::util::{add_info, conclude, matched, set_auth, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Dialogue, Ident, ProbeCtx, Step};
use crate::model::AuthState;

/// Smallest sane `messageLength` (the header).
pub const MIN_MESSAGE: usize = 16;
/// Largest `messageLength` accepted (the server's own 48 MB limit).
pub const MAX_MESSAGE: usize = 48 * 1000 * 1000;

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_MSG: i32 = 2013;

const ID_HELLO: i32 = 1;
const ID_ISMASTER: i32 = 2;
const ID_BUILDINFO: i32 = 3;
const ID_HOSTINFO: i32 = 4;

/// The MongoDB dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Mongodb;

fn header(len: usize, id: i32, op: i32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&(len as i32).to_le_bytes());
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&0i32.to_le_bytes()); // responseTo
    v.extend_from_slice(&op.to_le_bytes());
    v
}

/// `OP_MSG` carrying `{<cmd>: 1, $db: "admin"}` with request id `id`.
pub fn op_msg(cmd: &str, id: i32) -> Vec<u8> {
    let d = bson::doc(&[(cmd, Val::I32(1)), ("$db", Val::Str("admin"))]);
    let mut v = header(16 + 4 + 1 + d.len(), id, OP_MSG);
    v.extend_from_slice(&0u32.to_le_bytes()); // flagBits
    v.push(0); // section kind 0: body
    v.extend_from_slice(&d);
    v
}

/// Legacy `OP_QUERY` on `admin.$cmd` carrying `{<cmd>: 1}`.
pub fn op_query(cmd: &str, id: i32) -> Vec<u8> {
    let d = bson::doc(&[(cmd, Val::I32(1))]);
    let coll = b"admin.$cmd\0";
    let mut v = header(16 + 4 + coll.len() + 8 + d.len(), id, OP_QUERY);
    v.extend_from_slice(&0i32.to_le_bytes()); // flags
    v.extend_from_slice(coll);
    v.extend_from_slice(&0i32.to_le_bytes()); // numberToSkip
    v.extend_from_slice(&(-1i32).to_le_bytes()); // numberToReturn
    v.extend_from_slice(&d);
    v
}

/// A parsed server reply.
#[derive(Debug, PartialEq)]
pub struct Reply {
    /// The request it answers.
    pub response_to: i32,
    /// `OP_MSG` or `OP_REPLY`.
    pub op: i32,
    /// The first body document.
    pub doc: Doc,
}

/// Parses one reply; `Short` until `messageLength` bytes are present.
pub fn parse_reply(buf: &[u8]) -> Res<Reply> {
    let mut c = Cur::new(buf);
    let len = usize::try_from(c.i32_le()?).map_err(|_| Bad::Invalid)?;
    if !(MIN_MESSAGE..=MAX_MESSAGE).contains(&len) {
        return Err(Bad::Invalid);
    }
    c.skip(4)?; // requestID
    let response_to = c.i32_le()?;
    if !(ID_HELLO..=ID_HOSTINFO).contains(&response_to) {
        return Err(Bad::Invalid);
    }
    let op = c.i32_le()?;
    if op != OP_MSG && op != OP_REPLY {
        return Err(Bad::Invalid);
    }
    let body = c.take(len - MIN_MESSAGE)?;
    let whole_is_bad = |e: Bad| match e {
        Bad::Short => Bad::Invalid,
        other => other,
    };
    let doc = if op == OP_MSG {
        msg_body(body)
    } else {
        reply_body(body)
    }
    .map_err(whole_is_bad)?;
    Ok(Reply {
        response_to,
        op,
        doc,
    })
}

fn msg_body(body: &[u8]) -> Res<Doc> {
    let mut c = Cur::new(body);
    let flags = c.u32_le()?;
    let end = if flags & 1 != 0 {
        body.len().checked_sub(4).ok_or(Bad::Invalid)? // CRC-32C trailer
    } else {
        body.len()
    };
    let mut c = Cur::new(&body[4.min(end)..end]);
    while c.remaining() > 0 {
        match c.u8()? {
            0 => return bson::read(&mut c),
            1 => {
                let n = usize::try_from(c.i32_le()?).map_err(|_| Bad::Invalid)?;
                c.skip(n.checked_sub(4).ok_or(Bad::Invalid)?)?;
            }
            _ => return Err(Bad::Invalid),
        }
    }
    Err(Bad::Invalid)
}

fn reply_body(body: &[u8]) -> Res<Doc> {
    let mut c = Cur::new(body);
    c.skip(4 + 8 + 4)?; // responseFlags, cursorID, startingFrom
    if c.i32_le()? < 1 {
        return Err(Bad::Invalid); // numberReturned
    }
    bson::read(&mut c)
}

/// Next request, in the transport the server answered with.
fn next(cmd: &str, id: i32, op: i32) -> Step {
    Step::Send(if op == OP_MSG {
        op_msg(cmd, id)
    } else {
        op_query(cmd, id)
    })
}

fn error_text(d: &Doc) -> String {
    let msg = d.str("errmsg").or(d.str("$err")).unwrap_or("error");
    match (d.num("code"), d.str("codeName")) {
        (Some(code), Some(name)) => format!("{msg} ({name}, code {code})"),
        (Some(code), None) => format!("{msg} (code {code})"),
        _ => msg.to_string(),
    }
}

fn handshake(r: &Reply, ident: &mut Ident) -> Step {
    let d = &r.doc;
    ident.product = Some("MongoDB".into());
    let primary = d.bool("isWritablePrimary").or(d.bool("ismaster"));
    let wire = d.num("maxWireVersion");
    if !d.ok() || (primary.is_none() && wire.is_none()) {
        if r.response_to == ID_HELLO {
            return next("isMaster", ID_ISMASTER, OP_QUERY);
        }
        set_auth(
            ident,
            AuthState::Unknown,
            format!("isMaster: {}", error_text(d)),
        );
        return Step::Done;
    }
    let role = if d.str("msg") == Some("isdbgrid") {
        "mongos"
    } else if d.get("setName").is_some() {
        if primary == Some(true) {
            "primary"
        } else if d.bool("secondary") == Some(true) {
            "secondary"
        } else if d.bool("arbiterOnly") == Some(true) {
            "arbiter"
        } else {
            "replica-member"
        }
    } else {
        "standalone"
    };
    add_info(ident, "role", role);
    if let Some(set) = d.str("setName") {
        add_info(ident, "replset", set);
    }
    let wire = wire.unwrap_or(0.0);
    add_info(ident, "max_wire_version", &format!("{wire}"));
    // OP_MSG exists from wire version 6 (MongoDB 3.6).
    let op = if r.op == OP_MSG || wire >= 6.0 {
        OP_MSG
    } else {
        OP_QUERY
    };
    next("buildInfo", ID_BUILDINFO, op)
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let r = parse_reply(buf)?;
    matched(ident, "mongodb");
    Ok(match r.response_to {
        ID_HELLO | ID_ISMASTER => handshake(&r, ident),
        ID_BUILDINFO => {
            if r.doc.ok() {
                ident.version = r.doc.str("version").map(str::to_string);
            }
            next("hostInfo", ID_HOSTINFO, r.op)
        }
        _ => {
            let d = &r.doc;
            if d.ok() {
                set_auth(
                    ident,
                    AuthState::None,
                    "hostInfo answered ok:1 without credentials",
                );
            } else {
                let e = error_text(d);
                let denied = d.num("code") == Some(13.0)
                    || d.str("codeName") == Some("Unauthorized")
                    || e.contains("requires authentication")
                    || e.contains("not authorized");
                let auth = if denied {
                    AuthState::Required
                } else {
                    AuthState::Unknown
                };
                set_auth(ident, auth, format!("hostInfo: {e}"));
            }
            Step::Done
        }
    })
}

impl Dialogue for Mongodb {
    fn name(&self) -> &'static str {
        "mongodb"
    }

    fn first(&self, _ctx: &ProbeCtx) -> Option<Vec<u8>> {
        Some(op_msg("hello", ID_HELLO))
    }

    fn step(&self, stage: usize, reply: &[u8], ident: &mut Ident) -> Step {
        if stage > 3 {
            return Step::Stop;
        }
        conclude(judge(reply, ident))
    }
}

/// Reply builders shared by the unit tests and the fuzz seeds.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    /// An element list for a reply document (raw BSON bytes).
    pub(crate) fn reply_doc(fields: &[(&str, Val<'_>)], ok: f64) -> Vec<u8> {
        let mut d = bson::doc(fields);
        d.pop();
        d.push(0x01);
        d.extend_from_slice(b"ok\0");
        d.extend_from_slice(&ok.to_le_bytes());
        d.push(0);
        let n = d.len() as i32;
        d[..4].copy_from_slice(&n.to_le_bytes());
        d
    }

    /// An OP_MSG reply to `to`.
    pub(crate) fn msg_reply(to: i32, doc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + 5 + doc.len()) as i32).to_le_bytes());
        v.extend_from_slice(&99i32.to_le_bytes());
        v.extend_from_slice(&to.to_le_bytes());
        v.extend_from_slice(&OP_MSG.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.push(0);
        v.extend_from_slice(doc);
        v
    }

    /// An OP_REPLY to `to`.
    pub(crate) fn op_reply(to: i32, doc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + 20 + doc.len()) as i32).to_le_bytes());
        v.extend_from_slice(&99i32.to_le_bytes());
        v.extend_from_slice(&to.to_le_bytes());
        v.extend_from_slice(&OP_REPLY.to_le_bytes());
        v.extend_from_slice(&[0; 16]);
        v.extend_from_slice(&1i32.to_le_bytes());
        v.extend_from_slice(doc);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn hello_ok(wire: i32) -> Vec<u8> {
        reply_doc(
            &[
                ("isWritablePrimary", Val::I32(1)),
                ("maxWireVersion", Val::I32(wire)),
                ("minWireVersion", Val::I32(0)),
            ],
            1.0,
        )
    }

    fn sent_id(step: &Step) -> (i32, i32) {
        let Step::Send(b) = step else {
            panic!("expected Send, got {step:?}")
        };
        (
            i32::from_le_bytes(b[4..8].try_into().unwrap()),
            i32::from_le_bytes(b[12..16].try_into().unwrap()),
        )
    }

    #[test]
    fn requests_are_well_formed() {
        let m = op_msg("hello", 1);
        assert_eq!(
            i32::from_le_bytes(m[..4].try_into().unwrap()) as usize,
            m.len()
        );
        let q = op_query("isMaster", 2);
        assert_eq!(
            i32::from_le_bytes(q[..4].try_into().unwrap()) as usize,
            q.len()
        );
        assert!(!m.windows(13).any(|w| w == b"listDatabases"));
    }

    #[test]
    fn full_sequence_auth_off() {
        let mut id = Ident::default();
        let s = Mongodb.step(0, &msg_reply(ID_HELLO, &hello_ok(21)), &mut id);
        assert_eq!(sent_id(&s), (ID_BUILDINFO, OP_MSG));
        let bi = reply_doc(&[("version", Val::Str("7.0.14"))], 1.0);
        let s = Mongodb.step(1, &msg_reply(ID_BUILDINFO, &bi), &mut id);
        assert_eq!(sent_id(&s), (ID_HOSTINFO, OP_MSG));
        let hi = reply_doc(&[("os", Val::Str("linux"))], 1.0);
        assert_eq!(
            Mongodb.step(2, &msg_reply(ID_HOSTINFO, &hi), &mut id),
            Step::Done
        );
        assert_eq!(id.service, "mongodb");
        assert_eq!(id.version.as_deref(), Some("7.0.14"));
        assert_eq!(id.auth, AuthState::None);
        assert!(id.info.unwrap().contains("role=standalone"));
    }

    #[test]
    fn auth_on_is_required() {
        let mut id = Ident::default();
        let e = reply_doc(
            &[
                (
                    "errmsg",
                    Val::Str("command hostInfo requires authentication"),
                ),
                ("code", Val::I32(13)),
                ("codeName", Val::Str("Unauthorized")),
            ],
            0.0,
        );
        assert_eq!(
            Mongodb.step(2, &msg_reply(ID_HOSTINFO, &e), &mut id),
            Step::Done
        );
        assert_eq!(id.auth, AuthState::Required);
        assert!(id.auth_evidence.unwrap().contains("Unauthorized"));
    }

    #[test]
    fn hello_error_falls_back_to_op_query() {
        let mut id = Ident::default();
        let e = reply_doc(
            &[
                ("errmsg", Val::Str("no such command: 'hello'")),
                ("code", Val::I32(59)),
            ],
            0.0,
        );
        let s = Mongodb.step(0, &msg_reply(ID_HELLO, &e), &mut id);
        assert_eq!(sent_id(&s), (ID_ISMASTER, OP_QUERY));
        let ism = reply_doc(
            &[("ismaster", Val::I32(1)), ("maxWireVersion", Val::I32(5))],
            1.0,
        );
        let s = Mongodb.step(1, &op_reply(ID_ISMASTER, &ism), &mut id);
        assert_eq!(sent_id(&s), (ID_BUILDINFO, OP_QUERY));
        let bi = reply_doc(&[("version", Val::Str("3.4.24"))], 1.0);
        let s = Mongodb.step(2, &op_reply(ID_BUILDINFO, &bi), &mut id);
        assert_eq!(sent_id(&s), (ID_HOSTINFO, OP_QUERY));
    }

    #[test]
    fn mongos_is_recognised() {
        let mut id = Ident::default();
        let d = reply_doc(
            &[
                ("ismaster", Val::I32(1)),
                ("msg", Val::Str("isdbgrid")),
                ("maxWireVersion", Val::I32(17)),
            ],
            1.0,
        );
        Mongodb.step(0, &msg_reply(ID_HELLO, &d), &mut id);
        assert!(id.info.unwrap().contains("role=mongos"));
    }

    #[test]
    fn truncated_and_lies() {
        let full = msg_reply(ID_HELLO, &hello_ok(21));
        for n in 0..full.len() {
            let mut id = Ident::default();
            assert_eq!(
                Mongodb.step(0, &full[..n], &mut id),
                Step::NeedMore,
                "prefix {n}"
            );
        }
        let mut id = Ident::default();
        let mut lie = full.clone();
        lie[..4].copy_from_slice(&0x7fff_ffffi32.to_le_bytes());
        assert_eq!(Mongodb.step(0, &lie, &mut id), Step::Stop);
        lie[..4].copy_from_slice(&8i32.to_le_bytes());
        assert_eq!(Mongodb.step(0, &lie, &mut id), Step::Stop);
        assert_eq!(
            Mongodb.step(0, b"HTTP/1.0 200 OK\r\n\r\n", &mut id),
            Step::Stop
        );
        assert!(!id.matched());
    }
}
