//! TLS for probing only: a rustls client that accepts ANY certificate (we
//! fingerprint, we never trust), the handshake under the port's budget, and
//! the certificate facts. Never use this configuration for anything that
//! sends data we care about.
//!
//! rustls speaks TLS 1.2 and 1.3 only; a server that answers with an older
//! version is reported as TLS with an error, not as "not TLS".

use super::io::{Budget, Io};
use crate::catalog::matcher::escape;
use crate::model::TlsInfo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Bytes of the server's first flight kept for classifying a failure.
const RECORD_MAX: usize = 512;
/// Most SANs recorded.
const MAX_SANS: usize = 32;

/// Accepts every certificate and signature: probing only.
#[derive(Debug)]
struct AcceptAny(Vec<SignatureScheme>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

fn config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let schemes = provider
                .signature_verification_algorithms
                .supported_schemes();
            let mut cfg = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports TLS 1.2 and 1.3")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(schemes)))
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(cfg)
        })
        .clone()
}

/// A TCP stream that counts what it reads against a cap and keeps the first
/// bytes, so a failed handshake can be classified.
pub struct Capped {
    inner: TcpStream,
    left: usize,
    record: Arc<Mutex<Vec<u8>>>,
    /// Bytes read in all, kept past the stream's life (a failed handshake
    /// drops it) so the port's budget is charged for every one.
    used: Arc<AtomicUsize>,
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(std::io::Error::other("byte budget used up")));
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let new = &buf.filled()[before..];
        self.left = self.left.saturating_sub(new.len());
        self.used.fetch_add(new.len(), Ordering::Relaxed);
        if let Ok(mut r) = self.record.lock() {
            let room = RECORD_MAX.saturating_sub(r.len()).min(new.len());
            r.extend_from_slice(&new[..room]);
        }
        res
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Io for TlsStream<Capped> {
    fn tcp(&self) -> &TcpStream {
        &self.get_ref().0.inner
    }
}

/// How a handshake ended.
pub enum Handshake {
    /// TLS is up.
    Up(Box<TlsStream<Capped>>, TlsInfo),
    /// The peer answered with something that is not TLS (possibly nothing).
    NotTls(Vec<u8>),
    /// The peer speaks TLS but the handshake failed (legacy version, ...).
    Failed(TlsInfo),
    /// The budget ran out first (a TLS black hole).
    Exhausted,
}

/// Whether `b` starts like a TLS record (change_cipher_spec, alert, handshake
/// or application data, major version 3).
pub fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3 && (0x14..=0x17).contains(&b[0]) && b[1] == 0x03 && b[2] <= 0x04
}

/// Whether the server's first record says it only speaks TLS < 1.2.
fn legacy(record: &[u8], err: Option<&rustls::Error>) -> bool {
    let by_error = matches!(
        err,
        Some(rustls::Error::PeerIncompatible(_))
            | Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::ProtocolVersion
            ))
    );
    // A ServerHello whose version field (after the 5-byte record and 4-byte
    // handshake headers) is below 3.3.
    let old_hello = record.len() >= 11
        && record[0] == 0x16
        && record[5] == 0x02
        && record[9] == 3
        && record[10] < 3;
    let old_alert = record.len() >= 3 && record[0] == 0x15 && record[2] < 3;
    by_error || old_hello || old_alert
}

fn server_name(host: Option<&str>, ip: IpAddr) -> ServerName<'static> {
    host.and_then(|h| ServerName::try_from(h.to_string()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(ip.into()))
}

/// Runs a TLS handshake over `tcp` within `budget` (bytes and deadline).
pub async fn handshake(
    tcp: TcpStream,
    host: Option<&str>,
    ip: IpAddr,
    budget: &mut Budget,
) -> Handshake {
    let record = Arc::new(Mutex::new(Vec::new()));
    let used = Arc::new(AtomicUsize::new(0));
    let capped = Capped {
        inner: tcp,
        left: budget.bytes_left,
        record: record.clone(),
        used: used.clone(),
    };
    let connector = tokio_rustls::TlsConnector::from(config());
    let res = tokio::time::timeout_at(
        budget.deadline.into(),
        connector.connect(server_name(host, ip), capped),
    )
    .await;
    let seen = record.lock().map(|r| r.clone()).unwrap_or_default();
    match res {
        Err(_) => {
            budget.bytes_left = budget
                .bytes_left
                .saturating_sub(used.load(Ordering::Relaxed));
            Handshake::Exhausted
        }
        Ok(Ok(stream)) => {
            budget.bytes_left = stream.get_ref().0.left;
            let info = facts(&stream);
            Handshake::Up(Box::new(stream), info)
        }
        Ok(Err(e)) => {
            budget.bytes_left = budget
                .bytes_left
                .saturating_sub(used.load(Ordering::Relaxed));
            if !looks_like_tls(&seen) {
                if budget.bytes_left == 0 {
                    return Handshake::Exhausted;
                }
                return Handshake::NotTls(seen);
            }
            let rerr = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
            let msg = match rerr {
                Some(r) => r.to_string(),
                None => e.to_string(),
            };
            let error = if legacy(&seen, rerr) {
                format!("legacy TLS (below 1.2, not negotiated): {msg}")
            } else {
                format!("handshake failed: {msg}")
            };
            Handshake::Failed(TlsInfo {
                error: Some(escape(error.as_bytes(), 200)),
                ..TlsInfo::default()
            })
        }
    }
}

fn facts(stream: &TlsStream<Capped>) -> TlsInfo {
    let conn = &stream.get_ref().1;
    let mut info = TlsInfo {
        version: conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
            other => format!("{other:?}"),
        }),
        alpn: conn.alpn_protocol().map(|a| escape(a, 64)),
        ..TlsInfo::default()
    };
    if let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) {
        cert_facts(leaf.as_ref(), &mut info);
    }
    info
}

/// Fills subject, issuer, SANs, expiry and self-signedness from a DER certificate.
pub fn cert_facts(der: &[u8], info: &mut TlsInfo) {
    let cert = match x509_parser::parse_x509_certificate(der) {
        Ok((_, c)) => c,
        Err(e) => {
            info.error = Some(escape(format!("certificate: {e}").as_bytes(), 200));
            return;
        }
    };
    info.subject = Some(escape(cert.subject().to_string().as_bytes(), 256));
    info.issuer = Some(escape(cert.issuer().to_string().as_bytes(), 256));
    info.self_signed = cert.subject().as_raw() == cert.issuer().as_raw();
    let ts = cert.validity().not_after.timestamp();
    if let Ok(secs) = u64::try_from(ts) {
        info.not_after = Some(crate::text::rfc3339(
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        ));
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        use x509_parser::extensions::GeneralName;
        for name in san.value.general_names.iter().take(MAX_SANS) {
            let s = match name {
                GeneralName::DNSName(d) => escape(d.as_bytes(), 256),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()).to_string(),
                    16 => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default()).to_string(),
                    _ => continue,
                },
                _ => continue,
            };
            info.sans.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_record_sniffing() {
        assert!(looks_like_tls(b"\x15\x03\x01\x00\x02\x02\x46"));
        assert!(looks_like_tls(b"\x16\x03\x03\x00\x50"));
        assert!(!looks_like_tls(b"HTTP/1.1 400"));
        assert!(!looks_like_tls(b"\x15"));
        assert!(legacy(b"\x15\x03\x01\x00\x02\x02\x46", None));
        assert!(!legacy(b"\x15\x03\x03\x00\x02\x02\x28", None));
    }

    #[test]
    fn certificate_facts() {
        let ck = rcgen::generate_simple_self_signed(vec!["svc.example".into(), "127.0.0.1".into()])
            .unwrap();
        let mut info = TlsInfo::default();
        cert_facts(ck.cert.der(), &mut info);
        assert!(info.self_signed);
        assert!(info.sans.contains(&"svc.example".to_string()), "{info:?}");
        assert!(info.sans.contains(&"127.0.0.1".to_string()), "{info:?}");
        assert!(info.not_after.as_deref().is_some_and(|t| t.ends_with('Z')));
        let mut bad = TlsInfo::default();
        cert_facts(b"\x30\x03garbage", &mut bad);
        assert!(bad.error.is_some());
    }
}
