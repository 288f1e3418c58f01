//! Fuzzes the `kafka` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run kafka fuzz/corpus/kafka`.

#![no_main]

exposecheck_fuzz::dialogue_target!("kafka");
