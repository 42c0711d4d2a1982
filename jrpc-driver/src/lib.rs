//! The JRPC connection driver, written once over a small [`Runtime`] trait.
//!
//! `jrpc-tokio` and `jrpc-async-std` each implement [`Runtime`] in a few dozen lines and
//! re-export what is here; applications use those crates, not this one. What lives here:
//! the method table ([`Methods`], [`Handler`]), the peer handle ([`Peer`]), the task that
//! drives one connection over the sans-IO core (`connection.rs`), the server's accept loop
//! with its handshake policy, and the client's dialling.
//!
//! ```
//! use jrpc_driver::{Methods, RpcError};
//!
//! let methods = Methods::new()
//!     .add("Add", |a: f64, b: f64| a + b)
//!     .add("Divide", |a: f64, b: f64| {
//!         if b == 0.0 {
//!             Err(RpcError::new("ZeroDivisionError", "division by zero"))
//!         } else {
//!             Ok(a / b)
//!         }
//!     });
//! assert_eq!(methods.names(), ["Add", "Divide"]);
//! ```

mod client;
mod config;
mod connection;
mod handler;
mod handshake;
mod methods;
mod peer;
mod runtime;
mod server;

pub use client::{Client, ClientBuilder, ConnectError};
pub use config::Config;
pub use handler::{
    AsyncCtxFn, AsyncFn, BoxFuture, Ctx, Fallible, Handler, IntoResult, Plain, Reply, SyncCtxFn,
    SyncFn,
};
pub use jrpc_proto::{CallError, IntoParams, Params, RpcError};
pub use methods::Methods;
pub use peer::Peer;
pub use runtime::{Runtime, Sleep, WebSocket};
pub use server::{Server, ServerBuilder, ServerHandle};
pub use tungstenite;
