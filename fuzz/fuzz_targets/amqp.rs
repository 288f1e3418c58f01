//! Fuzzes the `amqp` dialogue: every stage's parser, cut reads included.
//! Run with `cargo +nightly fuzz run amqp fuzz/corpus/amqp`.

#![no_main]

exposecheck_fuzz::dialogue_target!("amqp");
