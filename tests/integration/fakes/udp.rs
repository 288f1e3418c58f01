//! Faithful fake UDP servers for the UDP probes whose protocols no Debian
//! package serves, and hostile UDP servers.
//!
//! Each protocol fake below is marked FAKE with the specification it is
//! written from; it answers only a well-formed request, as that
//! specification says, and stays silent otherwise. Every fake runs on one
//! thread over a socket it is handed (bound inside a test namespace) and
//! stops when its [`UdpFake`] is dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Which UDP fake to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpKind {
    /// SQL Server Browser ([MC-SQLR]) with one default instance.
    MssqlBrowser,
    /// A BMC answering RMCP/ASF presence pings and IPMI v1.5 session-less
    /// Get Channel Authentication Capabilities (`anonymous` login on/off).
    Ipmi {
        /// Anonymous login (null user, null password) enabled.
        anonymous: bool,
    },
    /// A WS-Discovery 1.1 target service (an ONVIF camera).
    WsDiscovery,
    /// Apple Remote Desktop's ARMS status answer.
    Ard,
    /// A Ubiquiti access point's discovery service (v1).
    Ubiquiti,
    /// A domain controller's CLDAP root DSE.
    Cldap,
    /// Hostile: answers any datagram with this many 64-byte datagrams.
    Flood(u32),
    /// Hostile: answers any datagram with one 65,507-byte datagram.
    Giant,
    /// Hostile: answers from a different source port (spoofed-looking).
    OtherPort,
}

/// A running UDP fake; dropping it stops it.
pub struct UdpFake {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl UdpFake {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Datagrams it received.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    /// Datagrams it sent.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }
}

impl Drop for UdpFake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `kind` on `sock`; `other` is the second socket [`UdpKind::OtherPort`]
/// answers from.
pub fn spawn_udp(kind: UdpKind, sock: UdpSocket, other: Option<UdpSocket>) -> UdpFake {
    let addr = sock.local_addr().expect("udp address");
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let (s, r, n) = (stop.clone(), requests.clone(), sent.clone());
    let thread = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_535];
        while !s.load(Ordering::SeqCst) {
            let Ok((len, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            r.fetch_add(1, Ordering::SeqCst);
            let out = other
                .as_ref()
                .filter(|_| kind == UdpKind::OtherPort)
                .unwrap_or(&sock);
            for d in replies(kind, &buf[..len]) {
                if out.send_to(&d, from).is_ok() {
                    n.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });
    UdpFake {
        addr,
        stop,
        requests,
        sent,
        thread: Some(thread),
    }
}

/// The datagrams `kind` answers `req` with (none for a malformed request).
fn replies(kind: UdpKind, req: &[u8]) -> Vec<Vec<u8>> {
    let one = |r: Option<Vec<u8>>| r.into_iter().collect();
    match kind {
        UdpKind::MssqlBrowser => one(mssql_browser(req)),
        UdpKind::Ipmi { anonymous } => one(ipmi(req, anonymous)),
        UdpKind::WsDiscovery => one(ws_discovery(req)),
        UdpKind::Ard => one(ard(req)),
        UdpKind::Ubiquiti => one(ubiquiti(req)),
        UdpKind::Cldap => one(cldap(req)),
        UdpKind::Flood(n) => (0..n).map(flood_datagram).collect(),
        UdpKind::Giant => vec![giant()],
        UdpKind::OtherPort => vec![b"\x00\x01\x00\x00\x00\x01\x00\x00VERSION 1.6.18\r\n".to_vec()],
    }
}

// FAKE: no Debian package serves the SQL Server Resolution Protocol; written
// from [MC-SQLR] 2.2.1-2.2.5: CLNT_BCAST_EX (0x02) and CLNT_UCAST_EX (0x03)
// are one byte; the answer is SVR_RESP: 0x05, RESP_SIZE (u16 LE), RESP_DATA.
// Anything else is ignored (3.2.5.1).
fn mssql_browser(req: &[u8]) -> Option<Vec<u8>> {
    if req != [0x03] && req != [0x02] {
        return None;
    }
    let data = b"ServerName;WINSQL01;InstanceName;MSSQLSERVER;IsClustered;No;Version;16.0.1000.6;tcp;1433;;";
    let mut out = vec![0x05];
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
    Some(out)
}

/// The IPMI two's-complement checksum (IPMI v2.0 13.8).
fn ipmi_sum(b: &[u8]) -> u8 {
    0u8.wrapping_sub(b.iter().fold(0u8, |a, x| a.wrapping_add(*x)))
}

// FAKE: no Debian package serves a BMC; written from DMTF DSP0136 (ASF 2.0)
// 3.2.2 and 3.2.4.3-4 (RMCP header, Presence Ping and Pong) and IPMI v2.0
// 13.6-13.8 and 22.13 (session-less Get Channel Authentication
// Capabilities, with both message checksums checked).
fn ipmi(req: &[u8], anonymous: bool) -> Option<Vec<u8>> {
    if req.len() == 12 && req[..4] == [6, 0, 0xff, 6] && req[4..8] == [0, 0, 0x11, 0xbe] {
        if req[8] != 0x80 || req[11] != 0 {
            return None;
        }
        let mut pong = vec![6, 0, 0xff, 6, 0, 0, 0x11, 0xbe, 0x40, req[9], 0, 0x10];
        pong.extend_from_slice(&[0, 0, 0x11, 0xbe, 0, 0, 0, 0, 0x81, 0, 0, 0, 0, 0, 0, 0]);
        return Some(pong);
    }
    if req.len() != 23 || req[..4] != [6, 0, 0xff, 7] || req[4] != 0 || req[13] != 9 {
        return None;
    }
    let msg = &req[14..];
    if ipmi_sum(&msg[..2]) != msg[2]
        || ipmi_sum(&msg[3..8]) != msg[8]
        || msg[1] != 0x18
        || msg[5] != 0x38
    {
        return None;
    }
    let login = if anonymous { 0x07 } else { 0x04 };
    let mut body = vec![msg[3], 0x1c];
    body.push(ipmi_sum(&body));
    let tail = [
        0x20, msg[4], 0x38, 0x00, 0x01, 0x97, login, 0x03, 0, 0, 0, 0,
    ];
    let mut out = vec![6, 0, 0xff, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    out.push((body.len() + tail.len() + 1) as u8);
    out.extend_from_slice(&body);
    out.extend_from_slice(&tail);
    out.push(ipmi_sum(&tail));
    Some(out)
}

/// The text between `open` and the next `<` in `s`.
fn between<'a>(s: &'a str, open: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    Some(&s[start..start + s[start..].find('<')?])
}

// FAKE: no Debian package serves a WS-Discovery target service; written from
// OASIS WS-Discovery 1.1 (2009) 5.2-5.3 (Probe, ProbeMatches) and SOAP-over-UDP
// 1.1: a Probe needs the 1.1 Probe Action and a MessageID, which the
// ProbeMatches answers in RelatesTo.
fn ws_discovery(req: &[u8]) -> Option<Vec<u8>> {
    const NS: &str = "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01";
    let s = std::str::from_utf8(req).ok()?;
    if !s.contains("Envelope") || !s.contains(&format!("{NS}/Probe<")) || !s.contains("Probe") {
        return None;
    }
    let id = between(s, "MessageID>")?;
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://www.w3.org/2005/08/addressing\" xmlns:d=\"{NS}\" xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\"><s:Header><a:To>http://www.w3.org/2005/08/addressing/anonymous</a:To><a:Action>{NS}/ProbeMatches</a:Action><a:MessageID>urn:uuid:0b6f1d2e-0000-4000-8000-00000000cafe</a:MessageID><a:RelatesTo>{id}</a:RelatesTo></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:1f0e8c4a-0000-4000-8000-00000000cafe</a:Address></a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/hardware/FakeCam</d:Scopes><d:XAddrs>http://192.0.2.30/onvif/device_service</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
    ).into_bytes())
}

// FAKE: no Debian package serves Apple Remote Desktop; written from what is
// published (zmap's ard_3283 query, NETSCOUT ASERT 2019): the 5-byte status
// query gets a 1,006-byte status record naming the computer. Its layout is
// not published; this record only has the size.
fn ard(req: &[u8]) -> Option<Vec<u8>> {
    if req != [0x00, 0x14, 0x00, 0x01, 0x03] {
        return None;
    }
    let mut out = vec![0u8; 1006];
    out[..4].copy_from_slice(&[0x00, 0x01, 0x00, 0x01]);
    out[4..12].copy_from_slice(b"Lab-iMac");
    Some(out)
}

// FAKE: no Debian package serves Ubiquiti discovery; written from Rapid7's
// 2019 description of the v1 protocol: request 01 00 00 00, answer
// 01 00 LEN(u16 BE) then type(1) length(u16 BE) value TLVs.
fn ubiquiti(req: &[u8]) -> Option<Vec<u8>> {
    if req != [1, 0, 0, 0] {
        return None;
    }
    let mac = [0x24, 0x5a, 0x4c, 0x11, 0x22, 0x33];
    let mut ipinfo = mac.to_vec();
    ipinfo.extend_from_slice(&[192, 0, 2, 20]);
    let tlvs: [(u8, &[u8]); 6] = [
        (0x01, &mac),
        (0x02, &ipinfo),
        (0x0a, &86_400u32.to_be_bytes()),
        (0x0b, b"ap-lobby"),
        (0x0c, b"UAP-AC-Lite"),
        (0x03, b"BZ.qca956x.v6.5.28.14491.230525.1456"),
    ];
    let mut body = Vec::new();
    for (t, v) in tlvs {
        body.push(t);
        body.extend_from_slice(&(v.len() as u16).to_be_bytes());
        body.extend_from_slice(v);
    }
    let mut out = vec![1, 0];
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    Some(out)
}

/// One BER element of `b` at `i`: (tag, contents, next index).
fn ber(b: &[u8], i: usize) -> Option<(u8, &[u8], usize)> {
    let tag = *b.get(i)?;
    let first = *b.get(i + 1)?;
    let (len, at) = match first {
        0..=0x7f => (usize::from(first), i + 2),
        0x81 => (usize::from(*b.get(i + 2)?), i + 3),
        0x82 => (
            usize::from(u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?])),
            i + 4,
        ),
        _ => return None,
    };
    Some((tag, b.get(at..at + len)?, at + len))
}

/// A BER element.
fn tlv(tag: u8, v: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match v.len() {
        n @ 0..=0x7f => out.push(n as u8),
        n @ 0x80..=0xff => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(v);
    out
}

// FAKE: no Debian package serves CLDAP without provisioning a Samba AD DC;
// written from RFC 1798 and MS-ADTS 6.3.3 with RFC 4511 4.5.1 (SearchRequest
// encoding): only a base-object search of the root DSE is answered, with
// the requested attributes this DC has, then SearchResultDone, in one
// datagram.
fn cldap(req: &[u8]) -> Option<Vec<u8>> {
    let (t, msg, _) = ber(req, 0)?;
    let (it, id, i) = ber(msg, 0)?;
    let (op, sr, _) = ber(msg, i)?;
    if t != 0x30 || it != 0x02 || op != 0x63 {
        return None;
    }
    let (bt, base, i) = ber(sr, 0)?;
    let (st, scope, mut i) = ber(sr, i)?;
    if bt != 0x04 || !base.is_empty() || st != 0x0a || scope != [0] {
        return None;
    }
    for _ in 0..5 {
        i = ber(sr, i)?.2; // deref, size, time, typesOnly, filter
    }
    let (at, attrs, _) = ber(sr, i)?;
    if at != 0x30 {
        return None;
    }
    let dse: [(&str, &[&str]); 3] = [
        ("dnsHostName", &["dc1.corp.example"]),
        ("defaultNamingContext", &["DC=corp,DC=example"]),
        ("supportedLDAPVersion", &["3", "2"]),
    ];
    let mut list = Vec::new();
    let mut j = 0;
    while let Some((_, name, next)) = ber(attrs, j) {
        j = next;
        if let Some((n, vals)) = dse
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        {
            let set: Vec<u8> = vals.iter().flat_map(|v| tlv(0x04, v.as_bytes())).collect();
            let mut pa = tlv(0x04, n.as_bytes());
            pa.extend(tlv(0x31, &set));
            list.extend(tlv(0x30, &pa));
        }
    }
    let mut entry = tlv(0x04, b"");
    entry.extend(tlv(0x30, &list));
    let mut m1 = tlv(0x02, id);
    m1.extend(tlv(0x64, &entry));
    let mut m2 = tlv(0x02, id);
    m2.extend(tlv(0x65, &[0x0a, 1, 0, 0x04, 0, 0x04, 0]));
    let mut out = tlv(0x30, &m1);
    out.extend(tlv(0x30, &m2));
    Some(out)
}

/// Datagram `i` of a flood.
fn flood_datagram(i: u32) -> Vec<u8> {
    let mut d = format!("flood {i:08}").into_bytes();
    d.resize(64, b'.');
    d
}

/// The largest UDP payload over IPv4 (65,535 - 20 - 8), full of bytes a
/// terminal or a log must not receive raw.
fn giant() -> Vec<u8> {
    let pattern = b"\x1b[2J\x1b]0;owned\x07\xff\xfe\x00\r\n";
    pattern.iter().copied().cycle().take(65_507).collect()
}
