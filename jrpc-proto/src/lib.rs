//! Sans-IO core of the JRPC protocol: JSON frames in, frames and events out.
//!
//! An [`Endpoint`] is one side of a connection. It owns no socket, no task and no clock: the
//! code that embeds it hands in each inbound message ([`Endpoint::handle_frame`]), what the
//! application wants ([`Endpoint::call`], [`Endpoint::notify`], [`Endpoint::reply`]) and the
//! time, then drains frames to send ([`Endpoint::poll_transmit`]), [`Event`]s and the next
//! deadline. Every rule of the wire protocol lives here once; `jrpc-tokio` and
//! `jrpc-async-std` only move frames between a WebSocket and an endpoint.
//!
//! Where things are: `wire.rs` parses and writes frames, `outstanding.rs` tracks the ids of
//! our calls, `endpoint.rs` is the state machine, `bind.rs` binds `(args, kwargs)` onto Rust
//! types the way Python binds a call.
//!
//! The example below embeds two endpoints in a transport of its own: newline-delimited JSON
//! over a blocking `TcpStream`, a call made in each direction and a notification (it is also
//! `examples/tcp_lines.rs`, run with `cargo run -p jrpc-proto --example tcp_lines`).
//!
//! ```
#![doc = include_str!("../examples/tcp_lines.rs")]
//! ```

/// The crate's README.md, whose examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod args;
mod bind;
mod config;
mod endpoint;
mod error;
mod event;
mod outstanding;
mod params;
mod wire;

pub use args::Args;
pub use config::{Config, DEFAULT_MAX_MESSAGE, MAX_OUTSTANDING_LIMIT};
pub use endpoint::{Endpoint, InboundError};
pub use error::{CallError, RpcError};
pub use event::{Diagnostic, Event, IncomingNotification, IncomingRequest, Outcome, Responder};
pub use outstanding::{CallId, MAX_ID};
pub use params::{IntoParams, Params};
pub use wire::{EncodedRequest, WriteJson};
