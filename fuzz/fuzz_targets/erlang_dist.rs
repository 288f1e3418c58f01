//! Fuzzes the `erlang-dist` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run erlang_dist fuzz/corpus/erlang-dist`.

#![no_main]

exposecheck_fuzz::dialogue_target!("erlang-dist");
