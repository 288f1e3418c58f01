//! FAKE MongoDB server, written from the MongoDB Wire Protocol reference
//! (message header, OP_MSG 2013, OP_QUERY 2004 / OP_REPLY 1) and the BSON
//! 1.1 specification. Commands: `hello`, `isMaster`/`ismaster`,
//! `buildInfo`, `hostInfo`, `serverStatus`, `ping`; with `auth` the last
//! two but `ping` fail with code 13 Unauthorized, as mongod does with
//! `security.authorization: enabled`. In `modern = false` mode it behaves
//! like MongoDB 4.0: `hello` is an unknown command (code 59).

use super::Conn;
use std::io;

/// A BSON value for replies.
enum B<'a> {
    Double(f64),
    Str(&'a str),
    Int(i32),
    Bool(bool),
    Doc(Vec<(&'a str, B<'a>)>),
}

fn bson(fields: &[(&str, B<'_>)]) -> Vec<u8> {
    let mut v = vec![0; 4];
    for (name, val) in fields {
        let ty: u8 = match val {
            B::Double(_) => 0x01,
            B::Str(_) => 0x02,
            B::Doc(_) => 0x03,
            B::Bool(_) => 0x08,
            B::Int(_) => 0x10,
        };
        v.push(ty);
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        match val {
            B::Double(d) => v.extend_from_slice(&d.to_le_bytes()),
            B::Str(s) => {
                v.extend_from_slice(&(s.len() as i32 + 1).to_le_bytes());
                v.extend_from_slice(s.as_bytes());
                v.push(0);
            }
            B::Doc(d) => v.extend_from_slice(&bson(d)),
            B::Bool(b) => v.push(u8::from(*b)),
            B::Int(i) => v.extend_from_slice(&i.to_le_bytes()),
        }
    }
    v.push(0);
    let n = v.len() as i32;
    v[..4].copy_from_slice(&n.to_le_bytes());
    v
}

/// The first key of a BSON document (the command name).
fn first_key(doc: &[u8]) -> Option<String> {
    let rest = doc.get(5..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

fn reply_doc(cmd: &str, auth: bool, modern: bool) -> Vec<u8> {
    let unauthorized = |c: &str| {
        bson(&[
            ("ok", B::Double(0.0)),
            (
                "errmsg",
                B::Str(&format!("command {c} requires authentication")),
            ),
            ("code", B::Int(13)),
            ("codeName", B::Str("Unauthorized")),
        ])
    };
    let wire = if modern { 21 } else { 7 };
    match cmd {
        "hello" if !modern => bson(&[
            ("ok", B::Double(0.0)),
            ("errmsg", B::Str("no such command: 'hello'")),
            ("code", B::Int(59)),
            ("codeName", B::Str("CommandNotFound")),
        ]),
        "hello" | "isMaster" | "ismaster" => {
            let primary = if cmd == "hello" {
                "isWritablePrimary"
            } else {
                "ismaster"
            };
            bson(&[
                ("helloOk", B::Bool(true)),
                (primary, B::Bool(true)),
                ("topologyVersion", B::Doc(vec![("counter", B::Int(0))])),
                ("maxBsonObjectSize", B::Int(16 * 1024 * 1024)),
                ("maxMessageSizeBytes", B::Int(48_000_000)),
                ("maxWriteBatchSize", B::Int(100_000)),
                ("logicalSessionTimeoutMinutes", B::Int(30)),
                ("connectionId", B::Int(7)),
                ("minWireVersion", B::Int(0)),
                ("maxWireVersion", B::Int(wire)),
                ("readOnly", B::Bool(false)),
                ("ok", B::Double(1.0)),
            ])
        }
        "buildInfo" | "buildinfo" => bson(&[
            ("version", B::Str(if modern { "7.0.14" } else { "4.0.28" })),
            (
                "gitVersion",
                B::Str("0000000000000000000000000000000000000000"),
            ),
            ("bits", B::Int(64)),
            ("maxBsonObjectSize", B::Int(16 * 1024 * 1024)),
            ("ok", B::Double(1.0)),
        ]),
        "ping" => bson(&[("ok", B::Double(1.0))]),
        "hostInfo" | "serverStatus" if auth => unauthorized(cmd),
        "hostInfo" => bson(&[
            (
                "system",
                B::Doc(vec![
                    ("hostname", B::Str("fake-mongo:27017")),
                    ("numCores", B::Int(2)),
                ]),
            ),
            (
                "os",
                B::Doc(vec![("type", B::Str("Linux")), ("name", B::Str("Debian"))]),
            ),
            ("ok", B::Double(1.0)),
        ]),
        "serverStatus" => bson(&[
            ("host", B::Str("fake-mongo")),
            ("version", B::Str("7.0.14")),
            ("process", B::Str("mongod")),
            ("ok", B::Double(1.0)),
        ]),
        other => bson(&[
            ("ok", B::Double(0.0)),
            ("errmsg", B::Str(&format!("no such command: '{other}'"))),
            ("code", B::Int(59)),
            ("codeName", B::Str("CommandNotFound")),
        ]),
    }
}

fn header(len: usize, request_id: i32, response_to: i32, op: i32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&(len as i32).to_le_bytes());
    v.extend_from_slice(&request_id.to_le_bytes());
    v.extend_from_slice(&response_to.to_le_bytes());
    v.extend_from_slice(&op.to_le_bytes());
    v
}

/// Serves one connection until the client leaves.
pub(crate) fn serve(c: &mut Conn, auth: bool, modern: bool) -> io::Result<()> {
    let mut next_id = 1000;
    loop {
        let head = c.read_exact(16)?;
        let len = i32::from_le_bytes(head[..4].try_into().unwrap());
        let req_id = i32::from_le_bytes(head[4..8].try_into().unwrap());
        let op = i32::from_le_bytes(head[12..16].try_into().unwrap());
        if !(16..=48_000_000).contains(&len) {
            return Ok(()); // mongod closes on a bad header
        }
        let body = c.read_exact(len as usize - 16)?;
        next_id += 1;
        match op {
            2013 => {
                // flagBits, then section kind 0 + document.
                let Some(doc) = body.get(5..).filter(|_| body.get(4) == Some(&0)) else {
                    return Ok(());
                };
                let cmd = first_key(doc).unwrap_or_default();
                let d = reply_doc(&cmd, auth, modern);
                let mut m = header(16 + 5 + d.len(), next_id, req_id, 2013);
                m.extend_from_slice(&0u32.to_le_bytes());
                m.push(0);
                m.extend_from_slice(&d);
                c.write(&m)?;
            }
            2004 => {
                // flags, fullCollectionName, numberToSkip, numberToReturn, query.
                let Some(nul) = body.get(4..).and_then(|b| b.iter().position(|&x| x == 0)) else {
                    return Ok(());
                };
                let coll = String::from_utf8_lossy(&body[4..4 + nul]).into_owned();
                let doc = body.get(4 + nul + 1 + 8..).unwrap_or_default();
                let cmd = first_key(doc).unwrap_or_default();
                let d = if !coll.ends_with(".$cmd") {
                    bson(&[
                        ("$err", B::Str("not a command namespace")),
                        ("code", B::Int(2)),
                    ])
                } else if modern && !matches!(cmd.as_str(), "hello" | "isMaster" | "ismaster") {
                    // 5.1+: OP_QUERY only for the handshake.
                    bson(&[
                        ("ok", B::Double(0.0)),
                        (
                            "errmsg",
                            B::Str(&format!("Unsupported OP_QUERY command: {cmd}")),
                        ),
                        ("code", B::Int(352)),
                        ("codeName", B::Str("UnsupportedOpQueryCommand")),
                    ])
                } else {
                    reply_doc(&cmd, auth, modern)
                };
                let mut m = header(16 + 20 + d.len(), next_id, req_id, 1);
                m.extend_from_slice(&0i32.to_le_bytes()); // responseFlags
                m.extend_from_slice(&0i64.to_le_bytes()); // cursorID
                m.extend_from_slice(&0i32.to_le_bytes()); // startingFrom
                m.extend_from_slice(&1i32.to_le_bytes()); // numberReturned
                m.extend_from_slice(&d);
                c.write(&m)?;
            }
            _ => return Ok(()),
        }
    }
}
