//! Fuzzes the catalog parser entry point (`fingerprint::fuzzing::catalog`).
//! Run with `cargo +nightly fuzz run catalog fuzz/corpus/catalog`.

#![no_main]

exposecheck_fuzz::parser_target!(catalog);
