//! Fuzzes the `mssql` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run mssql fuzz/corpus/mssql`.

#![no_main]

exposecheck_fuzz::dialogue_target!("mssql");
