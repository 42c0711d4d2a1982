//! What an endpoint reports to its driver: plain data, drained with
//! [`Endpoint::poll_event`](crate::Endpoint::poll_event).

use serde_json::Value;

use crate::wire::RequestId;
use crate::{Args, CallError, CallId};

/// Something that happened on an endpoint.
#[derive(Debug)]
pub enum Event {
    /// The peer calls one of our methods and wants an answer: pass `responder` to
    /// [`Endpoint::reply`](crate::Endpoint::reply) exactly once.
    Request(IncomingRequest),
    /// The peer calls one of our methods and wants no answer. Whatever happens to it, nothing
    /// is sent back; report its failures locally.
    Notification(IncomingNotification),
    /// One of our calls resolved: a value, the peer's failure, or a local failure (timeout,
    /// cancel, close). Every call resolves exactly once.
    Outcome(Outcome),
    /// Input that was malformed or unexpected. Never answered on the wire (an `InvalidRequest`
    /// with an id was already answered by the endpoint); report it locally.
    Diagnostic(Diagnostic),
}

/// A request that wants an answer.
#[derive(Debug)]
pub struct IncomingRequest {
    /// Name of the method called.
    pub method: String,
    /// Its arguments.
    pub params: Args,
    /// The ticket for the one answer.
    pub responder: Responder,
}

/// A request that wants no answer.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingNotification {
    /// Name of the method called.
    pub method: String,
    /// Its arguments.
    pub params: Args,
}

/// The ticket for answering one request. It is neither `Clone` nor `Copy`, so a request is
/// answered at most once; the id it carries is echoed back verbatim.
#[derive(Debug, PartialEq)]
pub struct Responder {
    pub(crate) id: RequestId,
}

impl Responder {
    /// The request's id, as the peer wrote it (an integer beyond 64 bits is a float here, but
    /// the answer echoes its exact text).
    pub fn id(&self) -> &Value {
        self.id.value()
    }
}

/// How one of our calls ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The call, as returned by [`Endpoint::call`](crate::Endpoint::call).
    pub id: CallId,
    /// Its result.
    pub result: Result<Value, CallError>,
}

/// Malformed or unexpected input, and other things worth a log line.
#[derive(Debug, Clone, PartialEq)]
pub enum Diagnostic {
    /// Not UTF-8, not JSON, not an object, or neither a request nor a response.
    Malformed {
        /// What was wrong with it.
        reason: String,
    },
    /// A request whose fields have the wrong types. With an id it was answered `InvalidRequest`.
    InvalidRequest {
        /// Its id, if it had one.
        id: Option<Value>,
        /// Which field was wrong.
        reason: String,
    },
    /// A response whose id names no outstanding call of ours: never sent, already answered,
    /// timed out, cancelled, or `null`. It was ignored.
    UnknownResponse {
        /// The id it carried.
        id: Value,
    },
    /// Our answer to a request was larger than the outbound limit; an `InternalError` response
    /// was sent in its place, unless the request's own id made even that too large.
    ReplyTooLarge {
        /// The request's id.
        id: Value,
        /// Size of the answer that was not sent.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
}
