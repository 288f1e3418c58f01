//! Fuzzes the `distcc` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run distcc fuzz/corpus/distcc`.

#![no_main]

exposecheck_fuzz::dialogue_target!("distcc");
