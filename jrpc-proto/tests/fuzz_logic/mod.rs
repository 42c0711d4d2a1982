//! The bodies of the fuzz targets in `fuzz/`, written once: the libFuzzer targets include this
//! module by path, and `tests/fuzz_regressions.rs` replays the seed corpus and every input that
//! once failed through the same functions, in plain `cargo test` on stable. Its reference model
//! of an endpoint ([`peer::Peer`]) and of two joined by a network ([`net::Net`]) are also the
//! ones `tests/model.rs` drives with proptest: one oracle, three drivers.
//!
//! Each function takes the raw input, drives the core, and panics when a rule of PROTOCOL.md
//! is broken:
//!
//! - [`frame`]: the input is one inbound WebSocket message, handed (twice: as a binary message
//!   then as a text one) to an endpoint that
//!   has calls outstanding; every event, every frame queued in answer, `outstanding()`,
//!   `poll_timeout()` and `is_closed()` are checked against the protocol's rules (see
//!   [`peer::Peer`]), then whatever it asked for is answered, time passes and it closes.
//! - [`ops`]: the input is decoded (with `arbitrary`) into limits for two endpoints A and B and
//!   a sequence of operations: calls, notifications, replies, frames in flight delivered,
//!   reordered, dropped, duplicated or cut short, hand-made and hostile frames, time passing,
//!   cancels and closes. The same checks run after every operation, and at the end every call
//!   has resolved exactly once.
//! - [`bind`]: the input is one inbound message; the `(args, kwargs)` of a request in it are
//!   bound into a dozen typical method signatures and each result is compared with Python's
//!   rules, computed independently (see [`signatures`]).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    reason = "a test oracle: any surprise must panic, and each fuzz target uses one entry point"
)]

pub mod net;
pub mod ops;
pub mod peer;
pub mod signatures;

use std::time::Instant;

use jrpc_proto::{Endpoint, Event, Params, RpcError};
use serde_json::{Value, json};

use peer::{Limits, Peer};

/// One inbound message into an endpoint that has three calls outstanding (ids 1, 10 and 19:
/// with a limit of 8 outstanding calls the slot number takes the low 3 bits of an id).
pub fn frame(data: &[u8]) {
    let limits = Limits {
        outstanding: 8,
        // Under libFuzzer's default -max_len of 4096, so that both sides of it are reached;
        // an echo of the arguments over 512 bytes is replaced by an InternalError.
        inbound: 2048,
        outbound: 512,
    };
    let mut peer = Peer::new("frame", limits, Instant::now());
    peer.call(
        "Add",
        Params::positional(vec![json!(5), json!(10)]),
        0,
        Some(10),
    );
    let kwargs = json!({"a": 1, "b": [true, null]});
    let kwargs = kwargs.as_object().cloned().unwrap_or_default();
    peer.call("Echo", Params::keyword(kwargs), 0, None);
    peer.call("Log", Params::default(), 0, Some(20));
    peer.flush();
    peer.check_state();
    // As a binary message, then again as a text one if it is UTF-8 (as a WebSocket text
    // message must be): a response already taken is now unknown, a request is received again.
    peer.receive(data, "the input");
    peer.check_state();
    match std::str::from_utf8(data) {
        Ok(text) => peer.receive_text(text, "the input again, as text"),
        Err(_) => peer.receive(data, "the input again"),
    }
    peer.check_state();
    let mut first = true;
    while peer.open_requests() > 0 {
        peer.reply(0, |_, method, params| {
            let echo = json!({"args": params.args, "kwargs": params.kwargs});
            if std::mem::take(&mut first) {
                Ok(echo)
            } else {
                Err(RpcError::new(method, echo))
            }
        });
    }
    peer.flush();
    peer.timeout(15);
    peer.check_state();
    peer.flush();
    peer.close();
    peer.finish();
}

/// A sequence of operations on a pair of endpoints; see [`ops::run`].
pub fn ops(data: &[u8]) {
    ops::run(data);
}

/// The arguments of the requests in one inbound message, bound into typical signatures; see
/// [`signatures::check`].
pub fn bind(data: &[u8]) {
    let mut ep = Endpoint::default();
    if ep.handle_frame(data).is_err() {
        return;
    }
    while let Some(event) = ep.poll_event() {
        match event {
            Event::Request(r) => signatures::check(&r.params),
            Event::Notification(n) => signatures::check(&n.params),
            _ => {}
        }
    }
}

/// Length of the compact JSON encoding of `v` (the order of keys does not change it).
fn len_of(v: &Value) -> usize {
    serde_json::to_string(v).expect("JSON encodes").len()
}
