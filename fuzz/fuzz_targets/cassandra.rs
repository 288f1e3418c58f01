//! Fuzzes the `cassandra` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run cassandra fuzz/corpus/cassandra`.

#![no_main]

use exposecheck::fingerprint::proto;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let d = proto::by_name("cassandra").expect("registered dialogue");
    let _ = proto::exercise(d, data);
});
