//! A sequence of operations (calls, frames delivered/reordered/dropped/duplicated/cut, replies, timeouts, cancels, close) on two endpoints, decoded with `arbitrary`; the protocol invariants are asserted after every step.
//! The body is `jrpc-proto/tests/fuzz_logic`, which `cargo test` also runs on the seeds and
//! regressions.
#![no_main]

#[path = "../../jrpc-proto/tests/fuzz_logic/mod.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::ops(data));
