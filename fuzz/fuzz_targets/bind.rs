//! The (args, kwargs) of an inbound request bound into typical method signatures, each compared with Python's rules.
//! The body is `jrpc-proto/tests/fuzz_logic`, which `cargo test` also runs on the seeds and
//! regressions.
#![no_main]

#[path = "../../jrpc-proto/tests/fuzz_logic/mod.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::bind(data));
