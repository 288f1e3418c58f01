//! Fuzzes the `rdp` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run rdp fuzz/corpus/rdp`.

#![no_main]

exposecheck_fuzz::dialogue_target!("rdp");
