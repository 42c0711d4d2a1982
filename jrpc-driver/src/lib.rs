//! The JRPC connection driver, written once over a small [`Runtime`] trait.
//!
//! `jrpc-tokio` and `jrpc-async-std` each implement [`Runtime`] in a few dozen lines and
//! re-export what is here; applications use those crates, not this one. What lives here:
//! the method table ([`Methods`], [`Handler`]), the peer handle ([`Peer`]), the task that
//! drives one connection over the sans-IO core (`connection.rs`), the server's accept loop
//! with its handshake policy and authentication hook ([`Handshake`]), the [`Acceptor`] that
//! serves sockets another HTTP server upgraded, and the client's dialling.
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

mod accept;
mod answer;
mod auth;
mod builder;
mod client;
#[cfg(feature = "redis")]
pub mod cluster;
mod config;
mod connection;
#[cfg(test)]
mod counting_waker;
mod groups;
mod handler;
mod handshake;
mod methods;
mod observe;
mod outbound;
mod peer;
mod read_ahead;
mod reconnect;
mod runtime;
mod server;
mod shutdown;

pub use accept::Acceptor;
pub use auth::{Handshake, Locals, Refusal};
pub use builder::{Builder, ClientBuilder, ServerBuilder};
pub use client::{Client, ConnectError};
pub use config::Config;
pub use connection::{CLOSE_HEARTBEAT_TIMEOUT, CLOSE_SLOW_CONSUMER};
pub use groups::{Backend, Broadcast, Change, Delivery, Groups, Skipped, Target};
pub use handler::{
    Answer, AsyncCtxFn, AsyncFn, BoxFuture, Ctx, Fallible, Handler, IntoResult, Plain, Reply,
    SyncCtxFn, SyncFn,
};
pub use jrpc_proto::{Args, CallError, IntoParams, Params, RpcError};
pub use methods::Methods;
pub use outbound::{ConnectionStats, Frame};
pub use peer::Peer;
pub use read_ahead::{AHEAD, ReadAhead};
pub use reconnect::Reconnect;
pub use runtime::{Dial, DialTarget, LINGER_LIMIT, Runtime, Sleep, WebSocket};
/// The TLS library of `wss://` connections (feature `rustls`).
#[cfg(feature = "rustls")]
pub use rustls;
pub use server::{Server, ServerHandle};
pub use tungstenite;

/// Declares an adapter crate's public API over its runtime type: the same names in every
/// adapter (`Server`, `Client`, `connect`, `Methods`, …), so that switching runtime is a change
/// of crate name and nothing else.
#[macro_export]
macro_rules! adapter_api {
    ($runtime:ty, $name:literal) => {
        pub use $crate::{
            Answer, Args, Backend, Broadcast, Builder, CLOSE_HEARTBEAT_TIMEOUT, CLOSE_SLOW_CONSUMER,
            CallError,
            Change, Config, ConnectError, ConnectionStats, Ctx, Delivery, Frame, Groups, Handler,
            Handshake, IntoParams, IntoResult, Locals, Methods, Params, Peer, Reconnect, Refusal,
            RpcError, ServerHandle, Skipped, Target,
        };

        #[doc = concat!("Serves JRPC on WebSockets another HTTP server upgraded, on ", $name, ".")]
        pub type Acceptor<S = ()> = $crate::Acceptor<$runtime, S>;

        #[doc = concat!("A JRPC WebSocket server on ", $name, ".")]
        pub type Server<S = ()> = $crate::Server<$runtime, S>;
        #[doc = concat!("Builds a [`Server`] on ", $name, " with state or settings of its own.")]
        pub type ServerBuilder<S = ()> = $crate::Builder<$runtime, S>;
        #[doc = concat!("Dials a JRPC server on ", $name, ".")]
        pub type Client = $crate::Client<$runtime>;
        #[doc = concat!("Builds a client connection on ", $name, " with methods, state or settings of its own.")]
        pub type ClientBuilder<S = ()> = $crate::Builder<$runtime, S>;

        /// Groups, broadcast and peer calls across server processes over Redis.
        #[cfg(feature = "redis")]
        pub use $crate::cluster::{
            BadPeerId, ClusterConfig, ClusterError, ClusterStats, PeerId,
        };
        #[doc = concat!("The cluster backend of one server process on ", $name, ", over Redis.")]
        #[cfg(feature = "redis")]
        pub type Cluster = $crate::cluster::Cluster<$runtime>;

        /// The TLS library of `wss://` connections, for root certificates in PEM and the like.
        #[cfg(feature = "rustls")]
        pub use $crate::rustls;

        /// Dials `url` (`ws://host:port/path`, or `wss://` with the `rustls` feature) with
        /// default settings, serving no methods.
        pub async fn connect(url: &str) -> Result<Peer, ConnectError> {
            Client::connect(url).await
        }
    };
}
