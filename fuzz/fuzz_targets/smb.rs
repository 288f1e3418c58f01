//! Fuzzes the `smb` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run smb fuzz/corpus/smb`.

#![no_main]

exposecheck_fuzz::dialogue_target!("smb");
