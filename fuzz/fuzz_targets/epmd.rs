//! Fuzzes the `epmd` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run epmd fuzz/corpus/epmd`.

#![no_main]

use exposecheck::fingerprint::proto;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let d = proto::by_name("epmd").expect("registered dialogue");
    let _ = proto::exercise(d, data);
});
