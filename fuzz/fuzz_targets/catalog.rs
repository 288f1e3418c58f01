//! Fuzzes the catalog parser entry point (`fingerprint::fuzzing::catalog`).
//! Run with `cargo +nightly fuzz run catalog fuzz/corpus/catalog`.

#![no_main]

use exposecheck::fingerprint::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzzing::catalog(data));
