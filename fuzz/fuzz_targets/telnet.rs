//! Fuzzes the `telnet` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run telnet fuzz/corpus/telnet`.

#![no_main]

exposecheck_fuzz::dialogue_target!("telnet");
