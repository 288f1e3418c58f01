//! Fuzzes the `mqtt` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run mqtt fuzz/corpus/mqtt`.

#![no_main]

exposecheck_fuzz::dialogue_target!("mqtt");
