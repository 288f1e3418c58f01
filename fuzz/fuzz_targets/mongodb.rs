//! Fuzzes the `mongodb` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run mongodb fuzz/corpus/mongodb`.

#![no_main]

exposecheck_fuzz::dialogue_target!("mongodb");
