//! Where a frame is parsed and written: the JSON shapes of requests and responses, and the
//! classification of an inbound message exactly as PROTOCOL.md's "Telling messages apart" says.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Params, RpcError};

/// What one inbound message turned out to be.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A well-formed request; `id` is `None` for a notification.
    Request {
        method: String,
        params: Params,
        id: Option<Value>,
    },
    /// A request-shaped object whose fields have the wrong types.
    InvalidRequest { id: Option<Value>, reason: String },
    /// A response to one of our calls (or to nothing: the caller checks the id).
    Response {
        id: Value,
        outcome: Result<Value, RpcError>,
    },
    /// Not UTF-8, not JSON, not an object, or neither a request nor a response.
    Malformed { reason: String },
}

/// Parses and classifies one WebSocket message payload.
pub(crate) fn parse(frame: &[u8]) -> Inbound {
    let text = match std::str::from_utf8(frame) {
        Ok(text) => text,
        Err(e) => return malformed(format!("not UTF-8: {e}")),
    };
    let mut object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(other) => return malformed(format!("not a JSON object but {}", kind_of(&other))),
        Err(e) => return undecodable(text, e),
    };
    if let Some(method) = object.remove("method") {
        return request(method, &mut object);
    }
    if object.contains_key("id") && (object.contains_key("result") || object.contains_key("error"))
    {
        return response(&mut object);
    }
    malformed("an object that is neither a request nor a response".to_owned())
}

/// The keys that tell messages apart, read without decoding the other values: what a message
/// that is well-formed JSON, but holds a string Rust cannot represent (a lone UTF-16 surrogate
/// escape such as `"\ud800"`, which JavaScript writes), still says about itself.
#[derive(Deserialize)]
struct Probe {
    method: Option<IgnoredAny>,
    id: Option<Value>,
    result: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

/// A message `serde_json` would not decode. If its structure still shows a request with an id,
/// or a response, it is answered or resolved rather than dropped, so that no call waits for a
/// timeout because of one bad string.
fn undecodable(text: &str, error: serde_json::Error) -> Inbound {
    let reason = format!("not valid JSON: {error}");
    let Ok(probe) = serde_json::from_str::<Probe>(text) else {
        return malformed(reason);
    };
    let id = probe.id.filter(|id| !id.is_null());
    match (probe.method, id) {
        (Some(_), id) => Inbound::InvalidRequest { id, reason },
        (None, Some(id)) if probe.result.is_some() || probe.error.is_some() => Inbound::Response {
            id,
            outcome: Err(RpcError::new(RpcError::INVALID_RESPONSE, reason)),
        },
        _ => malformed(reason),
    }
}

fn malformed(reason: String) -> Inbound {
    Inbound::Malformed { reason }
}

fn request(method: Value, object: &mut Map<String, Value>) -> Inbound {
    let id = object.remove("id").filter(|id| !id.is_null());
    let checked = (|| {
        let Value::String(method) = method else {
            return Err(format!(
                "'method' must be a string, not {}",
                kind_of(&method)
            ));
        };
        let args = match object.remove("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(args)) => args,
            Some(other) => return Err(format!("'args' must be an array, not {}", kind_of(&other))),
        };
        let kwargs = match object.remove("kwargs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(kwargs)) => kwargs,
            Some(other) => {
                return Err(format!(
                    "'kwargs' must be an object, not {}",
                    kind_of(&other)
                ));
            }
        };
        Ok((method, Params::new(args, kwargs)))
    })();
    match checked {
        Ok((method, params)) => Inbound::Request { method, params, id },
        Err(reason) => Inbound::InvalidRequest { id, reason },
    }
}

fn response(object: &mut Map<String, Value>) -> Inbound {
    let id = object.remove("id").unwrap_or(Value::Null);
    let result = object.remove("result").unwrap_or(Value::Null);
    let outcome = match object.remove("error") {
        None | Some(Value::Null) => Ok(result),
        Some(Value::String(kind)) => Err(RpcError::new(kind, result)),
        // Not a string: still the answer to the call this id names, so the call is failed with
        // what came rather than left to time out.
        Some(other) => Err(RpcError::new(
            RpcError::INVALID_RESPONSE,
            serde_json::json!({ "error": other, "result": result }),
        )),
    };
    Inbound::Response { id, outcome }
}

/// A word for the JSON type of a value, for messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A request as written: all four keys, always.
#[derive(Serialize)]
struct RequestFrame<'a> {
    method: &'a str,
    args: &'a [Value],
    kwargs: &'a Map<String, Value>,
    id: Option<u64>,
}

/// A response as written: `result` and `error` always present.
#[derive(Serialize)]
struct ResponseFrame<'a> {
    id: &'a Value,
    result: &'a Value,
    error: Option<&'a str>,
}

/// Encodes a request; `id` is `None` for a notification (written as `"id": null`).
pub(crate) fn encode_request(
    method: &str,
    params: &Params,
    id: Option<u64>,
) -> Result<String, serde_json::Error> {
    serde_json::to_string(&RequestFrame {
        method,
        args: &params.args,
        kwargs: &params.kwargs,
        id,
    })
}

/// Encodes the response to request `id`.
pub(crate) fn encode_response(
    id: &Value,
    outcome: &Result<Value, RpcError>,
) -> Result<String, serde_json::Error> {
    let frame = match outcome {
        Ok(result) => ResponseFrame {
            id,
            result,
            error: None,
        },
        Err(e) => ResponseFrame {
            id,
            result: &e.details,
            error: Some(&e.kind),
        },
    };
    serde_json::to_string(&frame)
}
