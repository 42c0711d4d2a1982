//! Where a frame is parsed and written: the JSON shapes of requests and responses, and the
//! classification of an inbound message exactly as PROTOCOL.md's "Telling messages apart" says.

use serde::Serialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::args::Scalars;
use crate::{Args, CallError, Params, RpcError};

/// The name by which `serde_json` marks a raw value (`RawValue`): the struct it serializes as,
/// that struct's one field, and the newtype it deserializes through. A private detail of
/// `serde_json`, pinned down by the tests of the writer and the check.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

mod args;
mod check;
mod fast;
mod scan;
mod write;

#[cfg(test)]
pub(crate) use check::checked_args;
pub(crate) use check::checked_value_end;

/// What one inbound message turned out to be.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A well-formed request; `id` is `None` for a notification.
    Request {
        method: String,
        params: Args,
        id: Option<RequestId>,
    },
    /// A request-shaped object whose fields have the wrong types.
    InvalidRequest {
        id: Option<RequestId>,
        reason: String,
    },
    /// A response to one of our calls (or to nothing: the caller checks the id).
    Response {
        id: Value,
        outcome: Result<Value, RpcError>,
    },
    /// Not UTF-8, not JSON, not an object, or neither a request nor a response.
    Malformed { reason: String },
}

/// The id of a request, to be echoed in its answer as "the same JSON value" (PROTOCOL.md).
///
/// Its [`Value`] writes every id back the same, except a number `serde_json` holds as a float:
/// an integer beyond 64 bits (`18446744073709551617` would come back as
/// `1.8446744073709552e+19`, which a Python peer does not take for its id). Such an id keeps
/// its text too, and is written back verbatim.
///
/// Held in 32 bytes, a `Value`'s own size (the rare id with a text boxed apart), so that an
/// [`Event`](crate::Event) carrying one fits 128 bytes: the compiler moves that with a few
/// vector stores where a larger one costs a call to `memcpy`, on every request.
#[derive(Clone)]
pub(crate) struct RequestId(Id);

#[derive(Clone)]
enum Id {
    /// Written back from its value.
    Plain(Value),
    /// Its value, and its text to be written back as it came.
    Verbatim(Box<(Value, Box<RawValue>)>),
}

impl RequestId {
    /// An id written back from its value.
    pub(crate) fn plain(value: Value) -> Self {
        Self(Id::Plain(value))
    }

    /// The id's value.
    pub(crate) fn value(&self) -> &Value {
        match &self.0 {
            Id::Plain(value) => value,
            Id::Verbatim(both) => &both.0,
        }
    }

    /// The id's value, taken.
    pub(crate) fn into_value(self) -> Value {
        match self.0 {
            Id::Plain(value) => value,
            Id::Verbatim(both) => both.0,
        }
    }

    /// The id's text, when it is written back as it came.
    fn verbatim(&self) -> Option<&RawValue> {
        match &self.0 {
            Id::Plain(_) => None,
            Id::Verbatim(both) => Some(&both.1),
        }
    }

    /// `value`, with `verbatim` its text when it has to be written back as it came.
    fn with_text(value: Value, verbatim: Option<Box<RawValue>>) -> Self {
        match verbatim {
            None => Self::plain(value),
            Some(raw) => Self(Id::Verbatim(Box::new((value, raw)))),
        }
    }

    /// The id `value` of the message `text`: its text is looked up again only when `value`
    /// holds a float, so the usual id costs nothing more.
    fn read(text: &str, value: Value) -> Self {
        let verbatim = if holds_float(&value) {
            // The last `id` key wins, as it did for `value`.
            serde_json::from_str::<HashMap<String, Box<RawValue>>>(text)
                .ok()
                .and_then(|mut keys| keys.remove("id"))
        } else {
            None
        };
        Self::with_text(value, verbatim)
    }

    /// The id as the message wrote it.
    fn from_raw(raw: Box<RawValue>, value: Value) -> Self {
        let verbatim = holds_float(&value).then_some(raw);
        Self::with_text(value, verbatim)
    }
}

/// As the two fields it stands for.
impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestId")
            .field("value", self.value())
            .field("verbatim", &self.verbatim())
            .finish()
    }
}

/// An id written anew from its value (the tests' encoder checks).
#[cfg(test)]
impl From<Value> for RequestId {
    fn from(value: Value) -> Self {
        Self::plain(value)
    }
}

impl PartialEq for RequestId {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
            && self.verbatim().map(RawValue::get) == other.verbatim().map(RawValue::get)
    }
}

impl Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.verbatim() {
            Some(raw) => raw.serialize(serializer),
            None => self.value().serialize(serializer),
        }
    }
}

/// Whether `value` holds a number that `serde_json` parsed as a float (and might not write
/// back as it came).
fn holds_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(holds_float),
        Value::Object(map) => map.values().any(holds_float),
        _ => false,
    }
}

/// Parses and classifies one WebSocket message payload (a request's method name written into
/// `spare_name`'s allocation, when there is one).
///
/// A message in the usual shape is read by the fast path (`wire/fast.rs`), which only finds the
/// same fields sooner; anything else by the general path here.
pub(crate) fn parse(frame: &[u8], spare_name: &mut Option<String>) -> Inbound {
    match std::str::from_utf8(frame) {
        Ok(text) => parse_text(text, spare_name),
        Err(e) => malformed(format!("not UTF-8: {e}")),
    }
}

/// [`parse`] for a payload already known to be UTF-8.
#[inline]
pub(crate) fn parse_text(text: &str, spare_name: &mut Option<String>) -> Inbound {
    if let Some(usual) = fast::read_usual(text, spare_name) {
        return usual;
    }
    let mut fields = Fields::default();
    if fast::read_fields(text, &mut fields) {
        return classify(text, &mut fields);
    }
    parse_general(text)
}

/// [`parse_text`] for any message, fast path or not.
fn parse_general(text: &str) -> Inbound {
    // What `serde_json::from_str` does, with the fields written in place.
    let mut fields = Fields::default();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let top = TopVisitor(&mut fields)
        .deserialize(&mut deserializer)
        .and_then(|top| deserializer.end().map(|()| top));
    match top {
        Ok(Top::Object) => classify(text, &mut fields),
        Ok(Top::Other(kind)) => malformed(format!("not a JSON object but {kind}")),
        Err(e) => undecodable(text, e),
    }
}

/// What an object with these fields is: a request (valid or not), a response, or neither.
/// (The fields are taken from where they were read: they are a few hundred bytes.)
fn classify(text: &str, fields: &mut Fields) -> Inbound {
    if let Some(method) = fields.method.take() {
        let id = fields
            .id
            .take()
            .filter(|id| !id.is_null())
            .map(|id| RequestId::read(text, id));
        let held = fields.args_held.take().and_then(|held| held.read(text));
        return request(method, fields.args.take(), fields.kwargs.take(), id, held);
    }
    if let Some(id) = fields.id.take() {
        if fields.result.is_some() || fields.error.is_some() {
            return response(id, fields.result.take(), fields.error.take());
        }
    }
    malformed("an object that is neither a request nor a response".to_owned())
}

/// A message `serde_json` would not decode. If its structure still shows a request with an id,
/// or a response, it is answered or resolved rather than dropped, so that no call waits for a
/// timeout because of one bad string.
///
/// Such a message is well-formed JSON that holds a string Rust cannot represent (a lone UTF-16
/// surrogate escape such as `"\ud800"`, which JavaScript writes) or a number beyond a double.
/// Its keys are read with every value left raw (undecoded): a key present with `null` counts as
/// present and the last of duplicate keys wins, as in a decodable message. Keys themselves are
/// decoded strictly, so text that is not JSON at all is still malformed.
fn undecodable(text: &str, error: serde_json::Error) -> Inbound {
    let reason = format!("not valid JSON: {error}");
    let Ok(mut keys) = serde_json::from_str::<HashMap<String, Box<RawValue>>>(text) else {
        return malformed(reason);
    };
    let is_request = keys.contains_key("method");
    let is_response = keys.contains_key("result") || keys.contains_key("error");
    let id = match keys.remove("id").map(|raw| {
        let value = serde_json::from_str::<Value>(raw.get());
        value.map(|value| RequestId::from_raw(raw, value))
    }) {
        None => None,
        Some(Ok(id)) => Some(id).filter(|id| !id.value().is_null()),
        // An id that cannot be read cannot be answered.
        Some(Err(_)) => return malformed(reason),
    };
    match (is_request, id) {
        (true, id) => Inbound::InvalidRequest { id, reason },
        (false, Some(id)) if is_response => Inbound::Response {
            id: id.into_value(),
            outcome: Err(RpcError::new(RpcError::INVALID_RESPONSE, reason)),
        },
        _ => malformed(reason),
    }
}

fn malformed(reason: String) -> Inbound {
    Inbound::Malformed { reason }
}

/// The keys of a message that mean something, each as it came (`Some(Value::Null)` for a key
/// present with `null`, `None` for an absent key).
///
/// Parsed in one pass straight from the text: the same as parsing a [`Value`] and taking the
/// keys out of its map (the same grammar, depth limit and number rules, every value still
/// parsed as a `Value`, unknown keys included, and the last of duplicate keys winning), without
/// building the map.
#[derive(Default)]
struct Fields {
    method: Option<Value>,
    args: Option<Value>,
    kwargs: Option<Value>,
    id: Option<Value>,
    result: Option<Value>,
    error: Option<Value>,
    /// The `args` array, when the fast path held it other than as a value (`args` itself is
    /// then `None`).
    args_held: Option<Unparsed>,
}

/// An `args` array the fast path did not make a [`Value`] of.
enum Unparsed {
    /// Where its text is (checked to parse as `args` would), and where in that text its last
    /// element starts (see [`Args::positional_text`]).
    Text(std::ops::Range<usize>, usize),
    /// Its elements, each a number, a boolean or null.
    Scalars(Scalars),
}

impl Unparsed {
    /// The array, with its text found in the message `text`.
    fn read(self, text: &str) -> Option<HeldArgs<'_>> {
        Some(match self {
            Self::Text(range, last) => HeldArgs::Text(text.get(range)?, last),
            Self::Scalars(scalars) => HeldArgs::Scalars(scalars),
        })
    }
}

/// An `args` array held other than as a value: its text, or its scalars.
enum HeldArgs<'a> {
    Text(&'a str, usize),
    Scalars(Scalars),
}

impl HeldArgs<'_> {
    /// The positional arguments alone, to be bound from as they are held.
    fn into_args(self) -> Args {
        match self {
            Self::Text(text, last) => Args::positional_text(text.to_owned(), Some(last)),
            Self::Scalars(scalars) => Args::scalars(scalars),
        }
    }

    /// The arguments as values.
    fn values(&self) -> Vec<Value> {
        match self {
            Self::Text(text, _) => crate::args::positional_values(text),
            Self::Scalars(scalars) => scalars.values(),
        }
    }
}

impl Fields {
    /// Where the value of `key` goes; `None` for a key that means nothing.
    fn slot(&mut self, key: Key) -> Option<&mut Option<Value>> {
        Some(match key {
            Key::Method => &mut self.method,
            Key::Args => &mut self.args,
            Key::Kwargs => &mut self.kwargs,
            Key::Id => &mut self.id,
            Key::Result => &mut self.result,
            Key::Error => &mut self.error,
            Key::Other => return None,
        })
    }
}

/// A whole message: an object (whose fields the visitor wrote), or the kind of anything else.
enum Top {
    Object,
    Other(&'static str),
}

/// Reads a whole message, writing an object's fields in place (they are a few hundred bytes:
/// not moved around on every message).
struct TopVisitor<'a>(&'a mut Fields);

impl<'de> DeserializeSeed<'de> for TopVisitor<'_> {
    type Value = Top;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Top, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = Top;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Top, E> {
        Ok(Top::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Top, E> {
        Ok(Top::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Top, E> {
        Ok(Top::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Top, E> {
        Ok(Top::Other("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Top, E> {
        Ok(Top::Other("a string"))
    }

    fn visit_unit<E>(self) -> Result<Top, E> {
        Ok(Top::Other("null"))
    }

    fn visit_none<E>(self) -> Result<Top, E> {
        Ok(Top::Other("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        // Parsed as values, so that what a `Value` refuses (a number out of range) is refused.
        while seq.next_element::<Value>()?.is_some() {}
        Ok(Top::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let fields = self.0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value::<Value>()?;
            if let Some(slot) = fields.slot(key) {
                *slot = Some(value);
            }
        }
        Ok(Top::Object)
    }
}

/// Which field a key names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Method,
    Args,
    Kwargs,
    Id,
    Result,
    Error,
    Other,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "method" => Key::Method,
            "args" => Key::Args,
            "kwargs" => Key::Kwargs,
            "id" => Key::Id,
            "result" => Key::Result,
            "error" => Key::Error,
            _ => Key::Other,
        })
    }
}

fn request(
    method: Value,
    args: Option<Value>,
    kwargs: Option<Value>,
    id: Option<RequestId>,
    held: Option<HeldArgs<'_>>,
) -> Inbound {
    let checked = (|| {
        let Value::String(method) = method else {
            return Err(format!(
                "'method' must be a string, not {}",
                kind_of(&method)
            ));
        };
        let kwargs = match kwargs {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(kwargs)) => kwargs,
            Some(other) => {
                // The arguments are checked first.
                if let (None, Some(args)) = (&held, &args) {
                    check_args(args)?;
                }
                return Err(format!(
                    "'kwargs' must be an object, not {}",
                    kind_of(&other)
                ));
            }
        };
        let params = match (held, args) {
            // Positional arguments only, as they are held: bound from there.
            (Some(held), _) if kwargs.is_empty() => held.into_args(),
            (Some(held), _) => Args::from(Params::new(held.values(), kwargs)),
            (None, None | Some(Value::Null)) => Args::from(Params::new(Vec::new(), kwargs)),
            (None, Some(Value::Array(args))) => Args::from(Params::new(args, kwargs)),
            (None, Some(other)) => return Err(args_error(&other)),
        };
        Ok((method, params))
    })();
    match checked {
        Ok((method, params)) => Inbound::Request { method, params, id },
        Err(reason) => Inbound::InvalidRequest { id, reason },
    }
}

/// Why `args` is not an array (or `null`), if it is not.
fn check_args(args: &Value) -> Result<(), String> {
    match args {
        Value::Null | Value::Array(_) => Ok(()),
        other => Err(args_error(other)),
    }
}

fn args_error(args: &Value) -> String {
    format!("'args' must be an array, not {}", kind_of(args))
}

fn response(id: Value, result: Option<Value>, error: Option<Value>) -> Inbound {
    let result = result.unwrap_or(Value::Null);
    let outcome = match error {
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

/// A request encoded ahead of time, all but its id: serializing the arguments (the costly part
/// of a call) can then happen on the caller's side, and the frame's size is known before it is
/// queued. [`Endpoint::call_encoded`](crate::Endpoint::call_encoded) writes the id;
/// [`into_notification`](Self::into_notification) makes it a notification.
///
/// ```
/// use jrpc_proto::{EncodedRequest, Params};
///
/// let request = EncodedRequest::new("Add", &Params::positional(vec![5.into(), 10.into()]))?;
/// assert_eq!(
///     request.into_notification(1024)?,
///     r#"{"method":"Add","args":[5,10],"kwargs":{},"id":null}"#
/// );
/// # Ok::<(), jrpc_proto::CallError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRequest {
    head: String,
}

impl EncodedRequest {
    /// The longest id and closing brace a call appends: 2^53 − 1 has 16 digits.
    const TAIL: usize = 17;

    /// Encodes `method` with `params`; fails with [`CallError::Encode`] as
    /// [`Endpoint::call`](crate::Endpoint::call) would.
    pub fn new(method: &str, params: &Params) -> Result<Self, CallError> {
        let head =
            encode_request_head(method, params).map_err(|e| CallError::Encode(e.to_string()))?;
        Ok(Self { head })
    }

    /// Encodes `method` with the params `params` stands for ([`Params::from_serialize`]): the
    /// same bytes, or the same error, as [`new`](Self::new) of those params, written in one
    /// pass (no `Value` tree) when `params` is a sequence or a single scalar.
    ///
    /// ```
    /// use jrpc_proto::{EncodedRequest, Params};
    ///
    /// let once = EncodedRequest::from_serialize("Add", &(5, 10.5))?;
    /// let twice = EncodedRequest::new("Add", &Params::from_serialize(&(5, 10.5)).unwrap())?;
    /// assert_eq!(once, twice);
    /// # Ok::<(), jrpc_proto::CallError>(())
    /// ```
    pub fn from_serialize<T: Serialize + ?Sized>(
        method: &str,
        params: &T,
    ) -> Result<Self, CallError> {
        let mut out = String::with_capacity(64 + method.len() + Self::TAIL);
        out.push_str(r#"{"method":"#);
        write::write_str(&mut out, method);
        out.push_str(r#","args":"#);
        let written = args::write_args(&mut out, params).is_ok();
        if !written {
            let params =
                Params::from_serialize(params).map_err(|e| CallError::Encode(e.to_string()))?;
            return Self::new(method, &params);
        }
        out.push_str(r#","kwargs":{},"id":"#);
        // Room for the id and the brace, so that writing them does not move the frame.
        out.reserve(Self::TAIL);
        Ok(Self { head: out })
    }

    /// The size of the frame once an id is written, at most: what a queue should reserve for it.
    pub fn call_len(&self) -> usize {
        self.head.len() + Self::TAIL
    }

    /// The frame as a notification (`"id": null`), or [`CallError::TooLarge`] when it exceeds
    /// `limit` bytes.
    pub fn into_notification(self, limit: usize) -> Result<String, CallError> {
        let mut frame = self.head;
        frame.push_str("null}");
        check_size(&frame, limit)?;
        Ok(frame)
    }

    /// The frame as a call with wire id `id` (its digits written by hand: through `write!`
    /// they cost about 300 instructions a call).
    pub(crate) fn with_id(self, id: u64) -> String {
        let mut frame = self.head;
        write::write_integer(&mut frame, id);
        frame.push('}');
        frame
    }
}

/// [`CallError::TooLarge`] when `frame` exceeds `limit` bytes.
pub(crate) fn check_size(frame: &str, limit: usize) -> Result<(), CallError> {
    if frame.len() > limit {
        return Err(CallError::TooLarge {
            size: frame.len(),
            limit,
        });
    }
    Ok(())
}

/// Encodes a request up to and including its `"id":` key, so that the id (or `null`) and the
/// closing brace are all that is left to write: `{"method":…,"args":…,"kwargs":…,"id":`.
pub(crate) fn encode_request_head(
    method: &str,
    params: &Params,
) -> Result<String, serde_json::Error> {
    let mut head = encode_request(method, params, None)?;
    // serde_json writes the last field as `"id":null}`: drop its value and the brace.
    head.truncate(head.len() - "null}".len());
    Ok(head)
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

/// A method's result that writes itself as JSON, straight into the response being built: any
/// `Serialize` value is one. So a result is encoded once, where it goes, rather than first made
/// into a [`Value`] and then written.
///
/// It writes into a `String`, so what it writes is text by its type: an answer is never checked
/// for UTF-8 after it was written.
///
/// ```
/// use jrpc_proto::WriteJson;
///
/// let mut out = String::new();
/// vec![(1, "a")].write_json(&mut out)?;
/// assert_eq!(out, r#"[[1,"a"]]"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub trait WriteJson {
    /// Appends the value's JSON text to `out`, or fails as `serde_json` would to encode it.
    fn write_json(&self, out: &mut String) -> Result<(), serde_json::Error>;
}

impl<T: Serialize + ?Sized> WriteJson for T {
    fn write_json(&self, out: &mut String) -> Result<(), serde_json::Error> {
        // The bytes of `serde_json::to_writer`, written faster (`wire/write.rs`).
        write::write_json(out, self)
    }
}

/// Encodes the response to request `id` into `out` (emptied first): `{"id":…,"result":…,
/// "error":…}`, `result` and `error` always present. Written piece by piece (the same bytes as
/// serializing a struct of the three fields with `serde_json`, without escaping the constant
/// keys on every answer). On error, `out` holds an unspecified part.
pub(crate) fn encode_response(
    out: &mut String,
    id: &RequestId,
    outcome: Result<&dyn WriteJson, &RpcError>,
) -> Result<(), serde_json::Error> {
    out.clear();
    out.push_str(r#"{"id":"#);
    match (id.verbatim(), id.value().as_u64()) {
        // The usual id, a small count: its digits by hand.
        (None, Some(n)) => write::write_integer(out, n),
        _ => write::write_json(out, id)?,
    }
    out.push_str(r#","result":"#);
    match outcome {
        Ok(result) => {
            result.write_json(out)?;
            out.push_str(r#","error":null}"#);
        }
        Err(e) => {
            write::write_json(out, &e.details)?;
            out.push_str(r#","error":"#);
            write::write_str(out, e.kind.as_str());
            out.push('}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id is no larger than a `Value`, so that an event carrying one fits 128 bytes (see
    /// [`RequestId`]).
    #[test]
    fn an_event_fits_128_bytes() {
        assert_eq!(size_of::<RequestId>(), size_of::<Value>());
        assert!(
            size_of::<crate::Event>() <= 128,
            "{}",
            size_of::<crate::Event>()
        );
    }

    /// The classification as it was first written, over a parsed [`Value`]: the reference the
    /// one-pass parse must agree with.
    fn reference(frame: &[u8]) -> Inbound {
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
            let (args, kwargs, id) = (
                object.remove("args"),
                object.remove("kwargs"),
                object.remove("id"),
            );
            let id = id
                .filter(|id| !id.is_null())
                .map(|id| RequestId::read(text, id));
            return request(method, args, kwargs, id, None);
        }
        if object.contains_key("id")
            && (object.contains_key("result") || object.contains_key("error"))
        {
            let id = object.remove("id").unwrap_or(Value::Null);
            return response(id, object.remove("result"), object.remove("error"));
        }
        malformed("an object that is neither a request nor a response".to_owned())
    }

    fn agree(frame: &[u8]) {
        let (ours, theirs) = (
            format!("{:?}", parse(frame, &mut None)),
            format!("{:?}", reference(frame)),
        );
        assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(frame));
    }

    #[test]
    fn responses_encode_as_a_struct_of_the_three_fields_would() {
        #[derive(Serialize)]
        struct ResponseFrame<'a> {
            id: &'a Value,
            result: &'a Value,
            error: Option<&'a str>,
        }
        let values = [
            serde_json::json!(1),
            serde_json::json!(0),
            serde_json::json!(10),
            serde_json::json!(99),
            serde_json::json!(12345678901u64),
            serde_json::json!(-7),
            serde_json::json!(3.0),
            // Larger than the reused buffer: the buffer goes along, and the next answer
            // starts a new one.
            serde_json::json!("é".repeat(1024)),
            serde_json::json!(-0.5e-300),
            serde_json::json!(u64::MAX),
            serde_json::json!("x\"\\\u{1}é\u{2028}😀"),
            serde_json::json!(null),
            serde_json::json!([1, {"a": [true, null]}]),
            serde_json::json!({"b": "c", "a": {}}),
        ];
        let mut buffer = String::new();
        for id in &values {
            for result in &values {
                for error in [None, Some("ZeroDivisionError"), Some("a \"quoted\"\n kind")] {
                    let expected = serde_json::to_string(&ResponseFrame { id, result, error })
                        .expect("encodes");
                    let outcome = match error {
                        None => Ok(result.clone()),
                        Some(kind) => Err(RpcError::new(kind, result.clone())),
                    };
                    let id = RequestId::from(id.clone());
                    let outcome = outcome.as_ref().map(|v| v as &dyn WriteJson);
                    encode_response(&mut buffer, &id, outcome).expect("encodes");
                    assert_eq!(buffer, expected);
                }
            }
        }
    }

    #[test]
    fn one_pass_parse_classifies_as_the_value_parse() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let deep_unknown = format!(
            r#"{{"method":"a","x":{}1{}}}"#,
            "[".repeat(127),
            "]".repeat(127)
        );
        let cases: Vec<String> = [
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":1}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":null}"#,
            r#"{"method":"add"}"#,
            r#"{"method":null,"id":3}"#,
            r#"{"method":5,"id":"x"}"#,
            r#"{"method":"a","args":{},"id":1}"#,
            r#"{"method":"a","args":null,"kwargs":null,"id":1}"#,
            r#"{"method":"a","kwargs":[],"id":[1]}"#,
            r#"{"method":"a","method":"b","id":1,"id":2}"#,
            r#"{"meth\u006fd":"a","id":1}"#,
            r#"{"method":"a","x":1e400}"#,
            r#"{"method":"a","x":"\ud800","id":4}"#,
            r#"{"method":"\ud800","id":4}"#,
            r#"{"id":1,"result":15,"error":null}"#,
            r#"{"id":1,"result":"division by zero","error":"ZeroDivisionError"}"#,
            r#"{"id":1,"error":{"code":1}}"#,
            r#"{"id":1,"result":null}"#,
            r#"{"id":null,"error":null}"#,
            r#"{"id":1}"#,
            r#"{"result":1}"#,
            r#"{"id":1,"result":"\udc00"}"#,
            r#"{}"#,
            r#"[]"#,
            r#"[1,2"#,
            r#"[1e400]"#,
            r#""text""#,
            r#"12"#,
            r#"-1.5e3"#,
            r#"1e400"#,
            r#"true"#,
            r#"null"#,
            r#""#,
            r#"   "#,
            r#"{"method":"a",}"#,
            r#"{"method":"a"} x"#,
            r#"{"method":"a"}   "#,
            r#"{1:2}"#,
            r#"{"method":"a","id":1"#,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([deep, deep_unknown])
        .collect();
        for case in &cases {
            agree(case.as_bytes());
        }
        agree(b"\xff\xfe");
        agree(b"{\"method\":\"\xc3\x28\"}");
    }
}
