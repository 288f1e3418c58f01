//! Apache Kafka (and wire-compatible brokers): ApiVersions v0.
//!
//! Kafka protocol guide ("Requests and Responses", "ApiVersions API (Key:
//! 18)"): every message is `int32 size | body`. Request header v1:
//! `api_key i16 | api_version i16 | correlation_id i32 | client_id string`.
//! The v0 response is `correlation_id i32 | error_code i16 | [api_key i16 |
//! min i16 | max i16]` (an `int32` count first). A broker that does not
//! know the version still answers v0 with error 35 (UNSUPPORTED_VERSION).
//! ApiVersions is answered before any SASL exchange, so auth stays unknown.

use super::util::{add_info, matched, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};

/// Largest response accepted.
pub const MAX_RESPONSE: usize = 64 * 1024;
/// The correlation id this probe uses (`"ExCk"`).
pub const CORRELATION_ID: i32 = 0x4578_436b;

/// The Kafka dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Kafka;

/// ApiVersions v0 request with client id `exposecheck`.
pub fn api_versions() -> Vec<u8> {
    let client = b"exposecheck";
    let mut body = Vec::with_capacity(32);
    body.extend_from_slice(&18i16.to_be_bytes()); // api_key ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // api_version 0
    body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    body.extend_from_slice(&(client.len() as i16).to_be_bytes());
    body.extend_from_slice(client);
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(&body);
    v
}

/// What an ApiVersions response says.
#[derive(Debug, PartialEq, Eq)]
pub struct Versions {
    /// Error code (0 or 35 in practice).
    pub error: i16,
    /// Number of APIs listed.
    pub apis: usize,
    /// Highest ApiVersions version supported, if listed.
    pub api_versions_max: Option<i16>,
}

/// Parses the response.
pub fn parse(buf: &[u8]) -> Res<Versions> {
    let mut c = Cur::new(buf);
    let size = usize::try_from(c.i32_be()?).map_err(|_| Bad::Invalid)?;
    if !(10..=MAX_RESPONSE).contains(&size) {
        return Err(Bad::Invalid);
    }
    if c.i32_be()? != CORRELATION_ID {
        return Err(Bad::Invalid);
    }
    let body = c.take(size - 4)?;
    let mut b = Cur::new(body);
    let bad = |_: Bad| Bad::Invalid;
    let error = b.u16_be().map_err(bad)? as i16;
    if !(-1..=120).contains(&error) {
        return Err(Bad::Invalid);
    }
    let n = b.i32_be().map_err(bad)?;
    let n = usize::try_from(n).map_err(|_| Bad::Invalid)?;
    if n > b.remaining() / 6 {
        return Err(Bad::Invalid);
    }
    let mut api_versions_max = None;
    for _ in 0..n {
        let key = b.u16_be().map_err(bad)? as i16;
        let min = b.u16_be().map_err(bad)? as i16;
        let max = b.u16_be().map_err(bad)? as i16;
        if key < 0 || min < 0 || max < min {
            return Err(Bad::Invalid);
        }
        if key == 18 {
            api_versions_max = Some(max);
        }
    }
    Ok(Versions {
        error,
        apis: n,
        api_versions_max,
    })
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let v = parse(buf)?;
    matched(ident, "kafka");
    ident.product = Some("Apache Kafka".into());
    add_info(ident, "apis", &v.apis.to_string());
    if let Some(m) = v.api_versions_max {
        add_info(ident, "api_versions_max", &m.to_string());
    }
    if v.error != 0 {
        add_info(ident, "error_code", &v.error.to_string());
    }
    Ok(Step::Done)
}

super::util::one_shot!(Kafka, "kafka", |_ctx| api_versions(), judge);

/// Response builder shared by tests and fuzz seeds.
#[cfg(test)]
pub(crate) fn response(error: i16, apis: &[(i16, i16, i16)]) -> Vec<u8> {
    let mut body = CORRELATION_ID.to_be_bytes().to_vec();
    body.extend_from_slice(&error.to_be_bytes());
    body.extend_from_slice(&(apis.len() as i32).to_be_bytes());
    for (k, lo, hi) in apis {
        for x in [k, lo, hi] {
            body.extend_from_slice(&x.to_be_bytes());
        }
    }
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(&body);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;
    use crate::model::AuthState;

    #[test]
    fn request_layout() {
        let r = api_versions();
        assert_eq!(
            i32::from_be_bytes(r[..4].try_into().unwrap()) as usize,
            r.len() - 4
        );
        assert_eq!(&r[4..8], &[0, 18, 0, 0]);
    }

    #[test]
    fn broker_answer() {
        let mut id = Ident::default();
        let r = response(0, &[(0, 0, 9), (1, 0, 13), (18, 0, 3)]);
        assert_eq!(Kafka.step(0, &r, &mut id), Step::Done);
        assert_eq!(id.service, "kafka");
        assert_eq!(id.auth, AuthState::Unknown);
        assert!(id.info.unwrap().contains("api_versions_max=3"));
    }

    #[test]
    fn truncated_and_lies() {
        let r = response(35, &[(18, 0, 3)]);
        for n in 0..r.len() {
            let mut id = Ident::default();
            assert_eq!(
                Kafka.step(0, &r[..n], &mut id),
                Step::NeedMore,
                "prefix {n}"
            );
        }
        let mut id = Ident::default();
        let mut lie = r.clone();
        lie[..4].copy_from_slice(&0x7fff_ffffi32.to_be_bytes());
        assert_eq!(Kafka.step(0, &lie, &mut id), Step::Stop);
        let mut wrong = r.clone();
        wrong[4] ^= 1;
        assert_eq!(Kafka.step(0, &wrong, &mut id), Step::Stop);
        let mut count = r.clone();
        count[10..14].copy_from_slice(&1000i32.to_be_bytes());
        assert_eq!(Kafka.step(0, &count, &mut id), Step::Stop);
        assert!(!id.matched());
    }
}
