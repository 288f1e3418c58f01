//! Fuzzes the `ajp13` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run ajp fuzz/corpus/ajp13`.

#![no_main]

exposecheck_fuzz::dialogue_target!("ajp13");
