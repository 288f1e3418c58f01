//! Fuzzes the `mqtt` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run mqtt fuzz/corpus/mqtt`.

#![no_main]

use exposecheck::fingerprint::proto;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let d = proto::by_name("mqtt").expect("registered dialogue");
    let _ = proto::exercise(d, data);
});
