//! Fuzzes the `cassandra` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run cassandra fuzz/corpus/cassandra`.

#![no_main]

exposecheck_fuzz::dialogue_target!("cassandra");
