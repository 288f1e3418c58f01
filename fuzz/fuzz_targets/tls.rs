//! Fuzzes the tls parser entry point (`fingerprint::fuzzing::tls`).
//! Run with `cargo +nightly fuzz run tls fuzz/corpus/tls`.

#![no_main]

exposecheck_fuzz::parser_target!(tls);
