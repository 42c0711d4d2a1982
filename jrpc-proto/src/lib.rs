//! Sans-IO core of the JRPC protocol.

mod bind;
mod config;
mod endpoint;
mod error;
mod event;
mod outstanding;
mod params;
mod wire;

pub use config::{Config, DEFAULT_MAX_MESSAGE, MAX_OUTSTANDING_LIMIT};
pub use endpoint::{Endpoint, InboundError};
pub use error::{CallError, RpcError};
pub use event::{Diagnostic, Event, IncomingNotification, IncomingRequest, Outcome, Responder};
pub use outstanding::{CallId, MAX_ID};
pub use params::{IntoParams, Params};
