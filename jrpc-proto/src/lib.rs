//! Sans-IO core of the JRPC protocol.

mod error;
mod params;

pub use error::{CallError, RpcError};
pub use params::Params;
