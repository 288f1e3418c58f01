//! Fuzzes the http parser entry point (`fingerprint::fuzzing::http`).
//! Run with `cargo +nightly fuzz run http fuzz/corpus/http`.

#![no_main]

exposecheck_fuzz::parser_target!(http);
