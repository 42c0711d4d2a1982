//! One inbound message (any bytes) into an endpoint with calls outstanding; every event and frame it produces is checked against PROTOCOL.md.
//! The body is `jrpc-proto/tests/fuzz_logic`, which `cargo test` also runs on the seeds and
//! regressions.
#![no_main]

#[path = "../../jrpc-proto/tests/fuzz_logic/mod.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::frame(data));
