//! Fuzzes the http parser entry point (`fingerprint::fuzzing::http`).
//! Run with `cargo +nightly fuzz run http fuzz/corpus/http`.

#![no_main]

use exposecheck::fingerprint::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzzing::http(data));
