//! Fuzzes the tls parser entry point (`fingerprint::fuzzing::tls`).
//! Run with `cargo +nightly fuzz run tls fuzz/corpus/tls`.

#![no_main]

use exposecheck::fingerprint::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzzing::tls(data));
