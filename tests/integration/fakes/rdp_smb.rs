//! FAKE RDP and SMB servers, written from the Microsoft open specifications:
//!
//! * RDP: [MS-RDPBCGR] §2.2.1.1 (X.224 Connection Request, RDP_NEG_REQ) and
//!   §2.2.1.2 (Connection Confirm with RDP_NEG_RSP / RDP_NEG_FAILURE), over
//!   TPKT (RFC 1006) and X.224 class 0 (ITU-T X.224 §13.3/13.4).
//! * SMB: [MS-SMB2] §2.1 (direct TCP framing), §2.2.1 (SMB2 header), §2.2.3
//!   and §2.2.4 (NEGOTIATE request/response), §2.2.3.1.1 (preauth integrity
//!   context, which a 3.1.1 response must carry).

use super::Conn;
use std::io;

/// `HYBRID_REQUIRED_BY_SERVER`.
const HYBRID_REQUIRED: u32 = 5;

/// An RDP listener; with `nla` it selects CredSSP or refuses clients that
/// do not offer it.
pub(crate) fn rdp(c: &mut Conn, nla: bool) -> io::Result<()> {
    let tpkt = c.read_exact(4)?;
    let len = usize::from(u16::from_be_bytes([tpkt[2], tpkt[3]]));
    if tpkt[0] != 3 || len < 11 {
        return Ok(());
    }
    let x224 = c.read_exact(len - 4)?;
    if x224[1] & 0xf0 != 0xe0 {
        return Ok(());
    }
    // RDP_NEG_REQ is the last 8 bytes when present (type 1, length 8).
    let requested = (x224.len() >= 15 && x224[x224.len() - 8] == 1).then(|| {
        let t = &x224[x224.len() - 4..];
        u32::from_le_bytes([t[0], t[1], t[2], t[3]])
    });
    let neg: Option<(u8, u32)> = match requested {
        None if nla => Some((3, HYBRID_REQUIRED)),
        None => None,
        Some(r) if nla && r & 2 != 0 => Some((2, 2)),
        Some(_) if nla => Some((3, HYBRID_REQUIRED)),
        Some(r) if r & 1 != 0 => Some((2, 1)),
        Some(_) => Some((2, 0)),
    };
    let mut cc = vec![0xd0, 0x00, 0x00, 0x12, 0x34, 0x00];
    if let Some((kind, value)) = neg {
        // flags: EXTENDED_CLIENT_DATA_SUPPORTED | DYNVC_GFX | RESTRICTED_ADMIN
        let flags = if kind == 2 { 0x0b } else { 0x00 };
        cc.extend_from_slice(&[kind, flags, 0x08, 0x00]);
        cc.extend_from_slice(&value.to_le_bytes());
    }
    let mut m = vec![0x03, 0x00];
    m.extend_from_slice(&((cc.len() + 5) as u16).to_be_bytes());
    m.push(cc.len() as u8);
    m.extend_from_slice(&cc);
    c.write(&m)?;
    c.drain()
}

/// An SMB 2/3 server (dialects 2.0.2 to 3.1.1; signing enabled, not required).
pub(crate) fn smb(c: &mut Conn) -> io::Result<()> {
    let nb = c.read_exact(4)?;
    let len = u32::from_be_bytes([0, nb[1], nb[2], nb[3]]) as usize;
    if nb[0] != 0 || len < 64 {
        return Ok(());
    }
    let req = c.read_exact(len)?;
    if &req[..4] != b"\xfeSMB" || u16::from_le_bytes([req[12], req[13]]) != 0 {
        return Ok(()); // not an SMB2 NEGOTIATE (SMB1 clients are dropped)
    }
    let message_id = &req[24..32];
    let body = &req[64..];
    let count = usize::from(u16::from_le_bytes([body[2], body[3]]));
    let dialects: Vec<u16> = (0..count)
        .filter_map(|i| body.get(36 + 2 * i..38 + 2 * i))
        .map(|d| u16::from_le_bytes([d[0], d[1]]))
        .collect();
    let supported = [0x0202u16, 0x0210, 0x0300, 0x0302, 0x0311];
    let Some(&dialect) = supported.iter().rev().find(|d| dialects.contains(d)) else {
        return Ok(());
    };
    let blob: &[u8] = b"\x60\x0a\x06\x06\x2b\x06\x01\x05\x05\x02\xa0\x00"; // SPNEGO stub
    let mut h = vec![0xfe, b'S', b'M', b'B'];
    h.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    h.extend_from_slice(&0u16.to_le_bytes()); // CreditCharge
    h.extend_from_slice(&0u32.to_le_bytes()); // Status
    h.extend_from_slice(&0u16.to_le_bytes()); // Command NEGOTIATE
    h.extend_from_slice(&1u16.to_le_bytes()); // CreditResponse
    h.extend_from_slice(&1u32.to_le_bytes()); // Flags: SERVER_TO_REDIR
    h.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    h.extend_from_slice(message_id);
    h.extend_from_slice(&[0; 4 + 4 + 8 + 16]); // Reserved, TreeId, SessionId, Signature
    let sec_offset = 64 + 64;
    let ctx_offset = (sec_offset + blob.len()).next_multiple_of(8);
    let with_ctx = dialect == 0x0311;
    let mut b = Vec::new();
    b.extend_from_slice(&65u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    b.extend_from_slice(&dialect.to_le_bytes());
    b.extend_from_slice(&u16::from(with_ctx).to_le_bytes()); // NegotiateContextCount
    b.extend_from_slice(b"fake-smb-server!"); // ServerGuid
    b.extend_from_slice(&0x2fu32.to_le_bytes()); // Capabilities
    for _ in 0..3 {
        b.extend_from_slice(&(8u32 << 20).to_le_bytes()); // MaxTransact/Read/WriteSize
    }
    b.extend_from_slice(&0u64.to_le_bytes()); // SystemTime
    b.extend_from_slice(&0u64.to_le_bytes()); // ServerStartTime
    b.extend_from_slice(&(sec_offset as u16).to_le_bytes());
    b.extend_from_slice(&(blob.len() as u16).to_le_bytes());
    b.extend_from_slice(&(if with_ctx { ctx_offset as u32 } else { 0 }).to_le_bytes());
    b.extend_from_slice(blob);
    let mut m = h;
    m.extend_from_slice(&b);
    if with_ctx {
        m.resize(ctx_offset, 0);
        m.extend_from_slice(&1u16.to_le_bytes()); // PREAUTH_INTEGRITY_CAPABILITIES
        m.extend_from_slice(&38u16.to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&1u16.to_le_bytes()); // HashAlgorithmCount
        m.extend_from_slice(&32u16.to_le_bytes()); // SaltLength
        m.extend_from_slice(&1u16.to_le_bytes()); // SHA-512
        m.extend_from_slice(&[0x33; 32]);
    }
    let mut out = vec![0x00];
    out.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&m);
    c.write(&out)?;
    c.drain()
}
