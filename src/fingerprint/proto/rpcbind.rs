//! ONC RPC portmapper (111): PMAPPROC_DUMP over TCP.
//!
//! RFC 5531 (RPC v2) and RFC 1833 (portmapper v2): over TCP each message is
//! one record, `0x80000000 | length` then the message. The CALL asks program
//! 100000 (portmapper) version 2 procedure 4 (DUMP) with AUTH_NULL; the
//! reply is an accepted SUCCESS followed by the registered mappings
//! (`1, prog, vers, prot, port` each, `0` at the end). DUMP only reads the
//! table; SET/UNSET are never sent.

use super::util::{add_info, matched, set_auth, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// Transaction id: `EXPC`.
const XID: u32 = 0x4558_5043;
/// Portmapper program number.
const PMAP_PROG: u32 = 100_000;
/// Most mappings read from the list.
const MAX_MAPS: usize = 256;
/// Most distinct programs listed in `info`.
const MAX_LISTED: usize = 16;

/// The portmapper dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Rpcbind;

/// The record-marked CALL of PMAPPROC_DUMP (44-byte message).
pub fn request() -> Vec<u8> {
    let words = [XID, 0, 2, PMAP_PROG, 2, 4, 0, 0, 0, 0];
    let mut out = (0x8000_0000u32 | (words.len() as u32 * 4))
        .to_be_bytes()
        .to_vec();
    for w in words {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

/// A well-known program's name (RFC 1833 and rpc(5)).
fn program(p: u32) -> String {
    match p {
        100_000 => "portmapper".into(),
        100_003 => "nfs".into(),
        100_005 => "mountd".into(),
        100_021 => "nlockmgr".into(),
        100_024 => "status".into(),
        100_227 => "nfs_acl".into(),
        100_004 => "ypserv".into(),
        other => other.to_string(),
    }
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let mut c = Cur::new(buf);
    let mark = c.u32_be()?;
    let len = (mark & 0x7fff_ffff) as usize;
    if !(24..=65_536).contains(&len) {
        return Err(Bad::Invalid);
    }
    if c.u32_be()? != XID || c.u32_be()? != 1 {
        return Err(Bad::Invalid);
    }
    let reply_stat = c.u32_be()?;
    if reply_stat > 1 {
        return Err(Bad::Invalid);
    }
    matched(ident, "rpcbind");
    ident.product = Some("ONC RPC portmapper".into());
    if reply_stat == 1 {
        add_info(ident, "call", "denied");
        return Ok(Step::Done);
    }
    c.skip(4)?;
    let verf_len = c.u32_be()? as usize;
    if verf_len > 400 {
        return Err(Bad::Invalid);
    }
    c.skip(verf_len)?;
    let accept = c.u32_be()?;
    ident.info = None;
    if accept != 0 {
        add_info(ident, "accept_stat", &accept.to_string());
        return Ok(Step::Done);
    }
    let mut progs: Vec<String> = Vec::new();
    let mut maps = 0usize;
    while maps < MAX_MAPS && c.u32_be()? == 1 {
        let (prog, _vers, _prot, _port) = (c.u32_be()?, c.u32_be()?, c.u32_be()?, c.u32_be()?);
        let name = program(prog);
        if !progs.contains(&name) && progs.len() < MAX_LISTED {
            progs.push(name);
        }
        maps += 1;
    }
    add_info(ident, "mappings", &maps.to_string());
    add_info(ident, "programs", &progs.join(","));
    set_auth(
        ident,
        AuthState::None,
        format!("PMAPPROC_DUMP answered without credentials ({maps} mappings)"),
    );
    Ok(Step::Done)
}

super::util::one_shot!(Rpcbind, "rpcbind", |_ctx| request(), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    fn reply(maps: &[[u32; 4]]) -> Vec<u8> {
        let mut w = vec![XID, 1, 0, 0, 0, 0];
        for m in maps {
            w.push(1);
            w.extend_from_slice(m);
        }
        w.push(0);
        let mut out = (0x8000_0000u32 | (w.len() as u32 * 4))
            .to_be_bytes()
            .to_vec();
        for x in w {
            out.extend_from_slice(&x.to_be_bytes());
        }
        out
    }

    #[test]
    fn dump() {
        let r = reply(&[
            [100_000, 4, 6, 111],
            [100_000, 2, 17, 111],
            [100_005, 3, 6, 20048],
        ]);
        let mut id = Ident::default();
        assert_eq!(Rpcbind.step(0, &r[..r.len() - 3], &mut id), Step::NeedMore);
        let mut id = Ident::default();
        assert_eq!(Rpcbind.step(0, &r, &mut id), Step::Done);
        assert_eq!(id.service, "rpcbind");
        assert_eq!(
            id.info.as_deref(),
            Some("mappings=3; programs=portmapper,mountd")
        );
        assert_eq!(request().len(), 44);
    }

    #[test]
    fn garbage() {
        crate::fingerprint::proto::assert_rejects(
            &Rpcbind,
            &[
                &b"HTTP/1.1 400 Bad"[..],
                b"\x80\x00\x00\x20XXXX\0\0\0\x01",
                b"\x80\x00\x00\x20EXPC\0\0\0\x00",
            ],
        );
    }
}
