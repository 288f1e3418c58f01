//! The one shape every fuzz target has: each file in `fuzz_targets/` is a
//! single call of [`dialogue_target!`] (a coded dialogue, every stage's parser,
//! cut reads included) or [`parser_target!`] (a parser entry point of
//! `exposecheck::fingerprint::fuzzing`).

#[doc(hidden)]
pub use exposecheck;
#[doc(hidden)]
pub use libfuzzer_sys;

/// A fuzz target that plays its input through the dialogue registered as
/// `$name`, one reply per stage (`proto::STAGE_SPLIT` between them).
#[macro_export]
macro_rules! dialogue_target {
    ($name:literal) => {
        $crate::libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            let d = $crate::exposecheck::fingerprint::proto::by_name($name)
                .expect("registered dialogue");
            let _ = $crate::exposecheck::fingerprint::proto::exercise(d, data);
        });
    };
}

/// A fuzz target that feeds its input to `fingerprint::fuzzing::$entry`.
#[macro_export]
macro_rules! parser_target {
    ($entry:ident) => {
        $crate::libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            $crate::exposecheck::fingerprint::fuzzing::$entry(data)
        });
    };
}
