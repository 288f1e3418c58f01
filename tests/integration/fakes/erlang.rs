//! FAKE EPMD and Erlang distribution listener, written from the Erlang/OTP
//! "Distribution Protocol" document: EPMD requests (`NAMES_REQ` 110,
//! `PORT_PLEASE2_REQ` 122 → `PORT2_RESP` 119) and the distribution handshake
//! (`send_name` 'n'/'N', `recv_status` 's', `send_challenge` 'N', then a
//! challenge reply that this fake always rejects by closing, as a node does
//! on a cookie mismatch).

use super::Conn;
use std::io;

/// Nodes the fake EPMD knows.
const NODES: [(&str, u16); 2] = [("rabbit", 25672), ("fake", 45000)];

/// EPMD on 4369: one request per connection, then close.
pub(crate) fn epmd(c: &mut Conn) -> io::Result<()> {
    let len = c.read_exact(2)?;
    let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
    if n == 0 {
        return Ok(());
    }
    let req = c.read_exact(n)?;
    match req[0] {
        110 => {
            let mut m = 4369u32.to_be_bytes().to_vec();
            for (name, port) in NODES {
                m.extend_from_slice(format!("name {name} at port {port}\n").as_bytes());
            }
            c.write(&m)
        }
        122 => {
            let want = &req[1..];
            match NODES.iter().find(|(name, _)| name.as_bytes() == want) {
                Some((name, port)) => {
                    let mut m = vec![119, 0];
                    m.extend_from_slice(&port.to_be_bytes());
                    m.extend_from_slice(&[77, 0]); // normal node, TCP/IPv4
                    m.extend_from_slice(&6u16.to_be_bytes()); // highest version
                    m.extend_from_slice(&5u16.to_be_bytes()); // lowest version
                    m.extend_from_slice(&(name.len() as u16).to_be_bytes());
                    m.extend_from_slice(name.as_bytes());
                    m.extend_from_slice(&0u16.to_be_bytes()); // no extra
                    c.write(&m)
                }
                None => c.write(&[119, 1]),
            }
        }
        _ => Ok(()),
    }
}

fn message(body: &[u8]) -> Vec<u8> {
    let mut m = (body.len() as u16).to_be_bytes().to_vec();
    m.extend_from_slice(body);
    m
}

/// Distribution listener of `rabbit@fake`: status `ok` and a v6 challenge
/// for a well-formed `send_name`, `not_allowed` when the mandatory
/// extended-references/pids flags are missing.
pub(crate) fn dist(c: &mut Conn) -> io::Result<()> {
    let len = c.read_exact(2)?;
    let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
    if n < 3 {
        return Ok(());
    }
    let m = c.read_exact(n)?;
    let (flags, name) = match m[0] {
        b'n' if m.len() >= 7 => (
            u64::from(u32::from_be_bytes([m[3], m[4], m[5], m[6]])),
            &m[7..],
        ),
        b'N' if m.len() >= 15 => {
            let f = u64::from_be_bytes(m[1..9].try_into().unwrap());
            let nlen = usize::from(u16::from_be_bytes([m[13], m[14]]));
            (f, m.get(15..15 + nlen).unwrap_or_default())
        }
        _ => return Ok(()),
    };
    if !name.contains(&b'@') {
        return Ok(()); // invalid node name: the node just closes
    }
    if flags & 0x104 != 0x104 {
        return c.write(&message(b"snot_allowed"));
    }
    c.write(&message(b"sok"))?;
    let node = b"rabbit@fake";
    let mut ch = vec![b'N'];
    ch.extend_from_slice(&0x0000_0004_0307_0fbcu64.to_be_bytes()); // flags
    ch.extend_from_slice(&0x5eed_1234u32.to_be_bytes()); // challenge
    ch.extend_from_slice(&0x6502_0001u32.to_be_bytes()); // creation
    ch.extend_from_slice(&(node.len() as u16).to_be_bytes());
    ch.extend_from_slice(node);
    c.write(&message(&ch))?;
    // Any challenge reply fails: a fake has no cookie to check against.
    let _ = c.read_for(std::time::Duration::from_secs(2))?;
    Ok(())
}
