//! Failures: the one that travels on the wire ([`RpcError`]) and the local outcome of a call
//! that did not produce a value ([`CallError`]).

use std::fmt;

use serde_json::Value;

/// A failure that travels on the wire: the response's `error` string (`kind`) and its `result`
/// (`details`, by convention a human-readable string).
///
/// Methods return it to name their failure; callers receive it inside [`CallError::Remote`].
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The type of failure, written as the response's `error` (`"ZeroDivisionError"`).
    pub kind: String,
    /// Details of the failure, written as the response's `result`.
    pub details: Value,
}

impl RpcError {
    /// `MethodNotFound`: the receiver has no method of that name.
    pub const METHOD_NOT_FOUND: &'static str = "MethodNotFound";
    /// `InvalidParams`: `args`/`kwargs` do not fit the method.
    pub const INVALID_PARAMS: &'static str = "InvalidParams";
    /// `InvalidRequest`: a request with a usable id but fields of the wrong type.
    pub const INVALID_REQUEST: &'static str = "InvalidRequest";
    /// `InternalError`: the method failed without naming a type of its own, or panicked.
    pub const INTERNAL_ERROR: &'static str = "InternalError";
    /// `InvalidResponse`: local only, never sent. A response to one of our calls whose `error`
    /// was neither a string nor `null`; `details` holds `{"error": .., "result": ..}` as they came.
    pub const INVALID_RESPONSE: &'static str = "InvalidResponse";

    /// A failure of any kind the application names, with details of any JSON value.
    pub fn new(kind: impl Into<String>, details: impl Into<Value>) -> Self {
        Self {
            kind: kind.into(),
            details: details.into(),
        }
    }

    /// `MethodNotFound` for the named method.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            Self::METHOD_NOT_FOUND,
            format!("no method named '{method}'"),
        )
    }

    /// `InvalidParams` with a message that names the offending parameter.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(Self::INVALID_PARAMS, message.into())
    }

    /// `InvalidRequest` with a message that says which field was wrong.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(Self::INVALID_REQUEST, message.into())
    }

    /// `InternalError` with a human-readable message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Self::INTERNAL_ERROR, message.into())
    }

    /// True when `kind` is the given name.
    pub fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }
}

impl fmt::Display for RpcError {
    /// `Kind:details`, the way the original `jrpc` utility printed a failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.details {
            Value::String(s) => write!(f, "{}:{}", self.kind, s),
            other => write!(f, "{}:{}", self.kind, other),
        }
    }
}

impl std::error::Error for RpcError {}

/// Why one of our calls produced no value. Every variant but [`CallError::Remote`] is local:
/// it never travels on the wire.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The peer answered with a failure.
    #[error("{0}")]
    Remote(RpcError),
    /// No answer came before the call's deadline; its id stays retired.
    #[error("the call timed out")]
    Timeout,
    /// The call was cancelled locally; its id stays retired.
    #[error("the call was cancelled")]
    Cancelled,
    /// The connection closed before the answer came, or was already closed.
    #[error("the connection is closed")]
    ConnectionClosed,
    /// One more call would exceed the configured number of outstanding calls; nothing was sent.
    #[error("too many calls outstanding (limit {limit})")]
    TooManyOutstanding {
        /// The configured limit.
        limit: usize,
    },
    /// The request would exceed the configured outbound message size; nothing was sent.
    #[error("the message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the encoded request.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The connection's outbound queue has no room for the frame and the caller chose not to
    /// wait (a push that may be dropped); nothing was sent. Set by drivers that bound what
    /// waits to be written, never by the core itself.
    #[error("the outbound queue is full (limit {limit} bytes)")]
    QueueFull {
        /// The configured limit of queued bytes.
        limit: usize,
    },
    /// The arguments could not be encoded as JSON; nothing was sent.
    #[error("the arguments cannot be encoded as JSON: {0}")]
    Encode(String),
    /// The peer answered with a value that does not decode into the type the caller asked for.
    #[error("the result does not have the expected type: {0}")]
    Decode(String),
    /// This endpoint has used every id it may write (2^53 − 1); open a new connection.
    #[error("the ids of this connection are used up")]
    IdsExhausted,
}

impl CallError {
    /// The remote failure, if the peer answered with one.
    pub fn remote(&self) -> Option<&RpcError> {
        match self {
            CallError::Remote(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RpcError> for CallError {
    fn from(e: RpcError) -> Self {
        CallError::Remote(e)
    }
}

impl From<CallError> for RpcError {
    /// A method that fails because a call it made failed: the peer's failure passes through
    /// as it was; a local one (timeout, closed, …) becomes `InternalError` with its message.
    fn from(e: CallError) -> Self {
        match e {
            CallError::Remote(remote) => remote,
            local => RpcError::internal(local.to_string()),
        }
    }
}
