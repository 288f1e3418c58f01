//! Fuzzes the `mysql` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run mysql fuzz/corpus/mysql`.

#![no_main]

exposecheck_fuzz::dialogue_target!("mysql");
