//! Property tests on stable for the parsers hostile bytes reach (HTTP framing,
//! the catalogue's RESP and text rules, TLS sniffing and certificate facts,
//! the bounded reader) and for the command-line parsers (targets, ports,
//! shards): they never panic, and the reader never holds more than its cap.
//! Also replays the parser fuzz corpora (`fuzz/corpus/{http,tls,catalog}`);
//! no nightly toolchain is needed for any of it.

use super::fuzz_replay::PARSER_TARGETS;
use exposecheck::catalog::{Catalog, ProbeKey};
use exposecheck::fingerprint::io::{read_until, Budget, End};
use exposecheck::fingerprint::{fuzzing, http};
use proptest::prelude::*;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// An HTTP response head built from parts a hostile server controls.
fn http_reply() -> impl Strategy<Value = Vec<u8>> {
    let header = prop_oneof![
        "[0-9a-zA-Z -]{0,12}".prop_map(|v| format!("Content-Length: {v}")),
        "[0-9]{1,25}".prop_map(|v| format!("Content-Length: {v}")),
        Just("Transfer-Encoding: chunked".to_string()),
        Just("Connection: close".to_string()),
        "[ -~]{0,30}".prop_map(|v| format!("X-{v}")),
    ];
    let chunk = prop_oneof![
        "[0-9a-fA-F]{1,20}".prop_map(|s| format!("{s}\r\n")),
        "[ -~]{0,20}".prop_map(|s| format!("{s}\r\n")),
        Just("0\r\n\r\n".to_string()),
    ];
    (
        "HTTP/1\\.[01] [0-9]{3}[ -~]{0,10}",
        proptest::collection::vec(header, 0..5),
        proptest::collection::vec(chunk, 0..6),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(status, headers, chunks, tail)| {
            let mut v = format!("{status}\r\n{}\r\n\r\n", headers.join("\r\n")).into_bytes();
            v.extend(chunks.concat().into_bytes());
            v.extend(tail);
            v
        })
}

/// RESP-shaped replies: lies in lengths and counts, nesting, garbage.
fn resp_reply() -> impl Strategy<Value = Vec<u8>> {
    let item = prop_oneof![
        any::<i64>().prop_map(|n| format!("${n}\r\n")),
        any::<i64>().prop_map(|n| format!("*{n}\r\n")),
        "[ -~]{0,20}".prop_map(|s| format!("+{s}\r\n")),
        "[ -~]{0,20}".prop_map(|s| format!("-{s}\r\n")),
        Just("*1\r\n".repeat(500)),
    ];
    proptest::collection::vec(item, 1..8).prop_map(|v| v.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn http_framing_never_panics_or_overclaims(reply in http_reply()) {
        fuzzing::http(&reply);
        if let Some(f) = http::complete(&reply) {
            prop_assert!(f.len <= reply.len());
        }
    }

    #[test]
    fn http_framing_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
        v.extend(&bytes);
        fuzzing::http(&v);
        fuzzing::http(&bytes);
    }

    #[test]
    fn resp_and_catalogue_rules_never_panic(reply in resp_reply()) {
        fuzzing::catalog(&reply);
        // A RESP lie is never an open Redis.
        let cat = Catalog::builtin();
        let ping = cat.probes().iter().position(|p| p.name == "redis-ping").expect("redis-ping");
        let o = cat.match_reply(ProbeKey::Probe(ping), &reply);
        if !reply.starts_with(b"+PONG\r\n") {
            prop_assert!(o.hard.as_ref().is_none_or(|h| h.auth != exposecheck::model::AuthState::None), "{o:?}");
        }
    }

    #[test]
    fn catalogue_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::catalog(&bytes);
    }

    #[test]
    fn tls_sniffing_and_certificates_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::tls(&bytes);
        let mut der = vec![0x30, 0x82, (bytes.len() >> 8) as u8, bytes.len() as u8];
        der.extend(&bytes);
        fuzzing::tls(&der);
    }

    #[test]
    fn target_port_and_shard_parsers_never_panic(s in "[ -~]{0,40}", t in "[0-9a-fA-F:./,\\[\\]-]{0,40}") {
        for x in [&s, &t] {
            let _ = exposecheck::targets::parse_target(x);
            let _ = exposecheck::targets::parse_list(x);
            let _ = exposecheck::targets::parse_file_text(x, "prop");
            let _ = exposecheck::ports::parse_ports(x);
            let _ = exposecheck::cli::parse_shard(x);
        }
    }

    #[test]
    fn parsed_port_lists_are_valid(spec in "[0-9,-]{0,30}") {
        if let Ok(l) = exposecheck::ports::parse_ports(&spec) {
            prop_assert!(l.as_slice().iter().all(|p| *p >= 1));
            prop_assert!(l.as_slice().windows(2).all(|w| w[0] < w[1]));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However the peer cuts its bytes, the reader never holds more than its
    /// cap, charges the budget exactly, and never grows its buffer far past
    /// what it read.
    #[test]
    fn bounded_reader_never_exceeds_its_cap(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..3000), 0..12),
        cap in 1usize..20_000,
        stop_at in proptest::option::of(any::<u8>()),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (mut a, mut b) = tokio::io::duplex(1 << 20);
            let total: usize = chunks.iter().map(Vec::len).sum();
            for c in &chunks {
                b.write_all(c).await.unwrap();
            }
            drop(b);
            let mut budget = Budget::new(Duration::from_secs(5), cap);
            let mut buf = Vec::new();
            let d = Duration::from_millis(50);
            let end = read_until(&mut a, &mut buf, &mut budget, d, d, |b| {
                stop_at.is_some_and(|s| b.contains(&s))
            })
            .await;
            assert!(buf.len() <= cap, "{} > cap {cap}", buf.len());
            assert_eq!(budget.bytes_left, cap - buf.len());
            assert!(buf.capacity() <= 2 * cap.max(4096) + 4096, "capacity {}", buf.capacity());
            match end {
                End::Full => assert_eq!(buf.len(), cap),
                End::Eof => assert_eq!(buf.len(), total.min(cap)),
                End::Done => assert!(stop_at.is_some()),
                other => panic!("{other:?} with everything written"),
            }
        });
    }
}

fn parser_corpus() -> Vec<(String, String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut out = Vec::new();
    for t in PARSER_TARGETS {
        let dir = root.join(t);
        for f in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            out.push((t.to_string(), name, std::fs::read(&f).unwrap()));
        }
    }
    out.sort();
    out
}

/// Every parser seed through its entry point; `ok-*` seeds must parse.
#[test]
fn parser_corpus_replays_on_stable() {
    let files = parser_corpus();
    assert!(
        files.len() >= 20,
        "parser corpus went missing: {}",
        files.len()
    );
    let cat = Catalog::builtin();
    for (target, file, data) in files {
        match target.as_str() {
            "http" => fuzzing::http(&data),
            "tls" => fuzzing::tls(&data),
            "catalog" => fuzzing::catalog(&data),
            other => panic!("unknown parser target {other}"),
        }
        if !file.starts_with("ok-") {
            continue;
        }
        let ok = match target.as_str() {
            "http" => http::complete(&data).is_some(),
            "tls" if file.ends_with("cert") => {
                let mut info = Default::default();
                exposecheck::fingerprint::tls::cert_facts(&data, &mut info);
                info.error.is_none() && info.subject.is_some()
            }
            "tls" => exposecheck::fingerprint::tls::looks_like_tls(&data),
            _ => {
                let keys = std::iter::once(ProbeKey::Greeting)
                    .chain((0..cat.probes().len()).map(ProbeKey::Probe));
                keys.map(|k| cat.match_reply(k, &data)).any(|o| o.settled())
            }
        };
        assert!(ok, "{target}/{file} was not recognised");
    }
}
