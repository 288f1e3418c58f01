//! Fuzzes the `epmd` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run epmd fuzz/corpus/epmd`.

#![no_main]

exposecheck_fuzz::dialogue_target!("epmd");
