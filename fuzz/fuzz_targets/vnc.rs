//! Fuzzes the `vnc` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run vnc fuzz/corpus/vnc`.

#![no_main]

exposecheck_fuzz::dialogue_target!("vnc");
