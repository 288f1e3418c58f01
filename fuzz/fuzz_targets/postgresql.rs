//! Fuzzes the `postgresql` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run postgresql fuzz/corpus/postgresql`.

#![no_main]

exposecheck_fuzz::dialogue_target!("postgresql");
