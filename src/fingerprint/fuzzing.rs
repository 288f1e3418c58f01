//! Entry points for the parser fuzz targets (`fuzz/fuzz_targets/{http,tls,
//! catalog}.rs`) and their stable replay (`tests/integration/hostile_props.rs`).
//!
//! Each feeds arbitrary bytes to one parser the way the engine does, checks
//! the parser's own bounds, and must never panic. The coded dialogues have
//! theirs in [`super::proto::exercise`].

use super::{http, tls};
use crate::catalog::matcher::{escape, FIELD_MAX};
use crate::catalog::{Catalog, ProbeKey};
use crate::model::TlsInfo;

/// HTTP framing on `data` and on every prefix that ends a line (what a
/// reader sees as a reply trickles in): a complete response never claims
/// more bytes than it has.
pub fn http(data: &[u8]) {
    let cuts = data
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .take(64)
        .chain([data.len()]);
    for n in cuts {
        if let Some(f) = http::complete(&data[..n]) {
            assert!(f.len <= n, "framing claims {} of {n} bytes", f.len);
            assert!(!f.keep_alive || f.len == n);
        }
    }
}

/// TLS record sniffing and certificate facts on `data` (as a DER
/// certificate): every recorded string stays within its bound.
pub fn tls(data: &[u8]) {
    let _ = tls::looks_like_tls(data);
    let mut info = TlsInfo::default();
    tls::cert_facts(data, &mut info);
    for s in [&info.subject, &info.issuer, &info.error]
        .into_iter()
        .flatten()
    {
        assert!(
            s.len() <= 256,
            "unbounded certificate field ({} bytes)",
            s.len()
        );
    }
    assert!(info.sans.len() <= 32 && info.sans.iter().all(|s| s.len() <= 256));
}

/// Every catalogue rule (greeting and every probe's reply, RESP included)
/// on `data`, and a refinement of every service's match: captured fields
/// stay bounded and printable.
pub fn catalog(data: &[u8]) {
    let cat = Catalog::builtin();
    let keys =
        std::iter::once(ProbeKey::Greeting).chain((0..cat.probes().len()).map(ProbeKey::Probe));
    for key in keys {
        let o = cat.match_reply(key, data);
        for id in [o.hard, o.soft].into_iter().flatten() {
            for f in [&id.product, &id.version, &id.info, &id.auth_evidence]
                .into_iter()
                .flatten()
            {
                assert!(f.len() <= FIELD_MAX, "unbounded field {f:?}");
                assert!(
                    f.bytes().all(|b| (0x20..0x7f).contains(&b)),
                    "raw byte in {f:?}"
                );
            }
        }
    }
    for (si, p) in cat.probes().iter().enumerate().filter(|(_, p)| p.follow_up) {
        let mut id = Default::default();
        let _ = cat.refine(p.service, si, data, &mut id);
    }
    assert!(escape(data, FIELD_MAX).len() <= FIELD_MAX);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_take_hostile_seeds() {
        for seed in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
            b"$999999999\r\n",
            b"*999999999\r\n",
            b"\x16\x03\x03\xff\xff",
            b"\x30\x84\xff\xff\xff\xff",
            b"",
        ] {
            http(seed);
            tls(seed);
            catalog(seed);
        }
        catalog(&b"*1\r\n".repeat(10_000));
    }
}
