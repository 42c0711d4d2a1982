//! An endpoint wrapped in the protocol's rules: every operation goes through [`Peer`], which
//! says what the endpoint must do (events, frames queued, counts, next deadline) and panics when
//! it does something else. It is the one reference model of `Endpoint`: the fuzz targets use it,
//! and so does the proptest model of `tests/model.rs` (which includes this folder by path).
//!
//! The rules checked, from PROTOCOL.md and the core's API documentation:
//! - an inbound message is classified as "Telling messages apart" says, and produces exactly the
//!   events that class calls for: a request, a notification, an `InvalidRequest` answer when it
//!   has an id, the outcome of the call its id names, or a diagnostic;
//! - every call resolves exactly once, by the response whose id names it or locally (timeout,
//!   cancel, close); after `close()` every call has resolved and nothing more is sent;
//! - no response resolves a call other than the one its id names (and, with
//!   [`Peer::check_echo`], an answer that carries its request's id under a key carries the
//!   id of the call it resolves);
//! - ids of our requests are in 1..=2^53 − 1 and never written twice on one endpoint;
//! - nothing is sent in answer to a notification, and a request is answered at most as many
//!   times as it was received, with its id echoed;
//! - every frame sent is exactly the one expected (an `InvalidRequest` answer carries the reason
//!   of its diagnostic), and no frame is larger than the outbound limit: an answer over it is
//!   replaced by an `InternalError` that says so, which is itself dropped only when the request's
//!   id alone makes it too large;
//! - a message over the inbound limit is refused and closes the endpoint; refusals of `call` and
//!   `notify` are the ones the state calls for;
//! - `outstanding()`, `queued_transmits()`, `is_closed()` and `poll_timeout()` agree with the
//!   calls and frames tracked here;
//! - a text message gives the same as the same bytes given as a binary one.
//!
//! A message that is JSON by RFC 8259's grammar but that serde_json will not decode (a lone
//! UTF-16 surrogate escape such as `"\ud800"`, a number beyond the range of a double) is told
//! apart by its keys, read without decoding the values, as the core does: a request (even with a
//! `null` method) is answered `InvalidRequest` when it has an id, a response with an id fails
//! the call it names with `InvalidResponse`. The keys are read with the values left raw: the last
//! of repeated keys wins; a key (or an id) that is itself undecodable makes it malformed.
//! Ids are compared as parsed JSON values; that an id a double cannot hold (an integer beyond
//! 64 bits) comes back as written, digit for digit, is tested in `tests/protocol.rs`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use jrpc_proto::{
    CallError, CallId, Config, Diagnostic, Endpoint, Event, InboundError, MAX_ID, Params,
    Responder, RpcError,
};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::len_of;

/// The limits of one endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub outstanding: usize,
    pub inbound: usize,
    pub outbound: usize,
}

/// What an inbound message is, per PROTOCOL.md "Telling messages apart".
enum Class {
    Malformed,
    Request {
        method: String,
        params: Params,
        id: Option<Value>,
    },
    InvalidRequest {
        id: Option<Value>,
    },
    Response {
        id: Value,
        outcome: Result<Value, RpcError>,
    },
    /// A response whose id could be read but not the rest: it fails the call with
    /// `InvalidResponse` (details: the parser's complaint).
    Undecodable {
        id: Value,
    },
}

fn classify(frame: &[u8]) -> Class {
    let Ok(text) = std::str::from_utf8(frame) else {
        return Class::Malformed;
    };
    let mut o = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return Class::Malformed,
        Err(_) => {
            let object = text
                .trim_start_matches([' ', '\t', '\n', '\r'])
                .starts_with('{');
            let Some(keys) = object
                .then(|| serde_json::from_str::<HashMap<String, Box<RawValue>>>(text).ok())
                .flatten()
            else {
                return Class::Malformed;
            };
            let id = match keys
                .get("id")
                .map(|raw| serde_json::from_str::<Value>(raw.get()))
            {
                None => None,
                Some(Ok(id)) => Some(id).filter(|id| !id.is_null()),
                Some(Err(_)) => return Class::Malformed,
            };
            return match (keys.contains_key("method"), id) {
                (true, id) => Class::InvalidRequest { id },
                (false, Some(id)) if keys.contains_key("result") || keys.contains_key("error") => {
                    Class::Undecodable { id }
                }
                _ => Class::Malformed,
            };
        }
    };
    if let Some(method) = o.remove("method") {
        let id = o.remove("id").filter(|id| !id.is_null());
        let args = match o.remove("args") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(Value::Array(a)) => Some(a),
            Some(_) => None,
        };
        let kwargs = match o.remove("kwargs") {
            None | Some(Value::Null) => Some(Map::new()),
            Some(Value::Object(k)) => Some(k),
            Some(_) => None,
        };
        return match (method, args, kwargs) {
            (Value::String(method), Some(args), Some(kwargs)) => Class::Request {
                method,
                params: Params::new(args, kwargs),
                id,
            },
            _ => Class::InvalidRequest { id },
        };
    }
    if o.contains_key("id") && (o.contains_key("result") || o.contains_key("error")) {
        let id = o.remove("id").unwrap_or(Value::Null);
        let result = o.remove("result").unwrap_or(Value::Null);
        let outcome = match o.remove("error") {
            None | Some(Value::Null) => Ok(result),
            Some(Value::String(kind)) => Err(RpcError::new(kind, result)),
            // Not a string: the call is failed with what came (a local kind, never sent).
            Some(other) => Err(RpcError::new(
                RpcError::INVALID_RESPONSE,
                json!({"error": other, "result": result}),
            )),
        };
        return Class::Response { id, outcome };
    }
    Class::Malformed
}

/// An event, in a form that can be compared.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Request {
        method: String,
        params: Params,
        id: Value,
    },
    Notification {
        method: String,
        params: Params,
    },
    Outcome(CallId, Result<Value, CallError>),
    /// An outcome `InvalidResponse` whose details are the parser's wording.
    OutcomeInvalid(CallId),
    Malformed,
    /// The reason is the core's own wording: the expected event takes it from the actual one,
    /// and the `InvalidRequest` answer must carry that same reason.
    InvalidRequest(Option<Value>, String),
    Unknown(Value),
    ReplyTooLarge {
        id: Value,
        size: usize,
        limit: usize,
    },
}

impl Ev {
    /// Outcomes of one step compare by id (a close or a timeout resolves several calls at
    /// once; their order is not part of the contract), the rest as they came.
    fn sort_key(&self) -> u64 {
        match self {
            Ev::Outcome(id, _) | Ev::OutcomeInvalid(id) => id.get(),
            _ => 0,
        }
    }

    /// Whether `actual` is what `self`, expected, says.
    fn matches(&self, actual: &Ev) -> bool {
        match (self, actual) {
            (Ev::OutcomeInvalid(id), Ev::Outcome(id2, Err(CallError::Remote(e)))) => {
                id == id2 && e.kind == RpcError::INVALID_RESPONSE && e.details.is_string()
            }
            _ => self == actual,
        }
    }
}

/// Key of a request id in [`Peer::answerable`]: its JSON text.
fn key(id: &Value) -> String {
    serde_json::to_string(id).expect("JSON encodes")
}

/// The text of the id of `frame` as the peer wrote it, when the core echoes that text rather
/// than write the id anew: when the id holds a number `serde_json` keeps as a float (an
/// integer beyond 64 bits, or any decimal), whose text written anew may differ.
fn id_text(frame: &[u8], id: &Value) -> Option<String> {
    fn holds_float(value: &Value) -> bool {
        match value {
            Value::Number(n) => !n.is_i64() && !n.is_u64(),
            Value::Array(items) => items.iter().any(holds_float),
            Value::Object(map) => map.values().any(holds_float),
            _ => false,
        }
    }
    if !holds_float(id) {
        return None;
    }
    // The last `id` key wins, as for every key.
    let keys: HashMap<String, Box<RawValue>> = serde_json::from_slice(frame).ok()?;
    keys.get("id").map(|raw| raw.get().to_owned())
}

/// The answer the core writes for request `id`.
fn answer_frame(id: &Value, result: &Result<Value, RpcError>) -> Value {
    match result {
        Ok(v) => json!({"id": id, "result": v, "error": null}),
        Err(e) => json!({"id": id, "result": e.details, "error": e.kind}),
    }
}

/// One endpoint and what the protocol says about it.
pub struct Peer {
    name: &'static str,
    ep: Endpoint,
    limits: Limits,
    base: Instant,
    closed: bool,
    /// Outstanding calls: wire id → (call, deadline in ms from `base`).
    pending: BTreeMap<u64, (CallId, Option<u64>)>,
    /// Every call `call` ever returned, in order.
    issued: Vec<CallId>,
    issued_set: HashSet<CallId>,
    /// Calls whose outcome came out.
    resolved: HashSet<CallId>,
    /// Frames the endpoint must have queued and not yet given to `poll_transmit`, exactly.
    tx: VecDeque<Value>,
    /// Every id written in one of our request frames.
    written: HashSet<u64>,
    /// Requests received and not yet answered: the ticket, the method, its arguments, and the
    /// id's text as the peer wrote it when the core echoes that text (see [`id_text`]).
    open: Vec<(Responder, String, Params, Option<String>)>,
    /// For each request id received (by its JSON text): how many answers may still be sent.
    answerable: HashMap<String, usize>,
    /// See [`Peer::check_echo`].
    echo_key: Option<&'static str>,
}

impl Peer {
    pub fn new(name: &'static str, limits: Limits, base: Instant) -> Self {
        let config = Config::default()
            .max_outstanding(limits.outstanding)
            .max_inbound_message(limits.inbound)
            .max_outbound_message(limits.outbound);
        Self {
            name,
            ep: Endpoint::new(config),
            limits,
            base,
            closed: false,
            pending: BTreeMap::new(),
            issued: Vec::new(),
            issued_set: HashSet::new(),
            resolved: HashSet::new(),
            tx: VecDeque::new(),
            written: HashSet::new(),
            open: Vec::new(),
            answerable: HashMap::new(),
            echo_key: None,
        }
    }

    /// Also checks that an outcome whose value (or error details) is an object with the key
    /// `key` resolves the call whose wire id is there: for a driver whose replies echo the
    /// request's id under `key`, and whose peer never writes `key` otherwise, this shows that
    /// no response resolved a call other than the one its id names, end to end.
    pub fn check_echo(&mut self, key: &'static str) {
        self.echo_key = Some(key);
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Number of requests received and not yet answered.
    pub fn open_requests(&self) -> usize {
        self.open.len()
    }

    /// Number of calls `call` ever returned.
    pub fn issued_count(&self) -> usize {
        self.issued.len()
    }

    /// Wire ids of the calls outstanding, in order.
    pub fn pending_ids(&self) -> Vec<u64> {
        self.pending.keys().copied().collect()
    }

    /// Wire ids of the calls that resolved (answered, timed out, cancelled, closed), in the
    /// order they were made.
    pub fn resolved_ids(&self) -> Vec<u64> {
        self.issued
            .iter()
            .filter(|id| self.resolved.contains(id))
            .map(|id| id.get())
            .collect()
    }

    fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    /// Drains the endpoint's events: checks what can be checked of each on its own, records
    /// requests to answer, and returns them for comparison.
    fn drain(&mut self) -> Vec<Ev> {
        let name = self.name;
        let mut out = Vec::new();
        while let Some(event) = self.ep.poll_event() {
            out.push(match event {
                Event::Request(r) => {
                    let id = r.responder.id().clone();
                    assert!(!id.is_null(), "{name}: a request with a null id");
                    *self.answerable.entry(key(&id)).or_default() += 1;
                    self.open
                        .push((r.responder, r.method.clone(), r.params.to_params(), None));
                    Ev::Request {
                        method: r.method,
                        params: r.params.into_params(),
                        id,
                    }
                }
                Event::Notification(n) => Ev::Notification {
                    method: n.method,
                    params: n.params.into_params(),
                },
                Event::Outcome(o) => {
                    assert!(
                        self.issued_set.contains(&o.id),
                        "{name}: an outcome for {} which `call` never returned",
                        o.id
                    );
                    assert!(
                        self.resolved.insert(o.id),
                        "{name}: call {} resolved twice, now with {:?}",
                        o.id,
                        o.result
                    );
                    let carried = match &o.result {
                        Ok(v) => Some(v),
                        Err(CallError::Remote(e)) => Some(&e.details),
                        Err(_) => None,
                    };
                    let echoed = self.echo_key.zip(carried).and_then(|(k, v)| v.get(k));
                    if let Some(echoed) = echoed {
                        assert_eq!(
                            echoed,
                            &json!(o.id.get()),
                            "{name}: call {} resolved by the answer to another id",
                            o.id
                        );
                    }
                    Ev::Outcome(o.id, o.result)
                }
                Event::Diagnostic(Diagnostic::Malformed { reason }) => {
                    assert!(!reason.is_empty(), "{name}: a diagnostic without a reason");
                    Ev::Malformed
                }
                Event::Diagnostic(Diagnostic::InvalidRequest { id, reason }) => {
                    assert!(!reason.is_empty(), "{name}: a diagnostic without a reason");
                    Ev::InvalidRequest(id, reason)
                }
                Event::Diagnostic(Diagnostic::UnknownResponse { id }) => Ev::Unknown(id),
                Event::Diagnostic(Diagnostic::ReplyTooLarge { id, size, limit }) => {
                    Ev::ReplyTooLarge { id, size, limit }
                }
            });
        }
        out
    }

    fn compare(&self, mut expected: Vec<Ev>, mut actual: Vec<Ev>, what: &str) {
        expected.sort_by_key(Ev::sort_key);
        actual.sort_by_key(Ev::sort_key);
        let same = expected.len() == actual.len()
            && expected.iter().zip(&actual).all(|(e, a)| e.matches(a));
        assert!(
            same,
            "{} after {what}:\n  expected events {expected:?}\n  got {actual:?}",
            self.name
        );
    }

    /// Drains the events and compares them with `expected`.
    fn check_events(&mut self, expected: Vec<Ev>, what: &str) {
        let actual = self.drain();
        self.compare(expected, actual, what);
    }

    /// The close of the connection: every outstanding call fails, queued frames are discarded.
    fn model_close(&mut self, expected: &mut Vec<Ev>) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.tx.clear();
        for (_, (id, _)) in std::mem::take(&mut self.pending) {
            expected.push(Ev::Outcome(id, Err(CallError::ConnectionClosed)));
        }
    }

    /// A call at `now_ms`, with a deadline `timeout_ms` later if any.
    pub fn call(&mut self, method: &str, params: Params, now_ms: u64, timeout_ms: Option<u64>) {
        let name = self.name;
        let frame = |id: u64| json!({"method": method, "args": params.args, "kwargs": params.kwargs, "id": id});
        let (shortest, longest) = (len_of(&frame(1)), len_of(&frame(MAX_ID)));
        let limit = self.limits.outbound;
        let got = self.ep.call(
            method,
            &params,
            self.at(now_ms),
            timeout_ms.map(Duration::from_millis),
        );
        match got {
            Ok(id) => {
                assert!(!self.closed, "{name}: a call on a closed endpoint");
                assert!(
                    self.pending.len() < self.limits.outstanding,
                    "{name}: a call over the limit of {}",
                    self.limits.outstanding
                );
                assert!(
                    (1..=MAX_ID).contains(&id.get()),
                    "{name}: id {id} out of range"
                );
                // The frame with this id, exactly: what `flush` expects, within the limit.
                let frame = frame(id.get());
                let size = len_of(&frame);
                assert!(size <= limit, "{name}: a request of {size} bytes accepted");
                assert!(
                    self.issued_set.insert(id),
                    "{name}: `call` returned id {id} twice"
                );
                self.issued.push(id);
                let deadline = timeout_ms.map(|t| now_ms + t);
                self.pending.insert(id.get(), (id, deadline));
                self.tx.push_back(frame);
            }
            Err(e) => {
                if self.closed {
                    assert_eq!(e, CallError::ConnectionClosed, "{name}: call refused");
                } else if self.pending.len() >= self.limits.outstanding {
                    let limit = self.limits.outstanding;
                    assert_eq!(
                        e,
                        CallError::TooManyOutstanding { limit },
                        "{name}: call refused"
                    );
                } else {
                    // The id's width decides between `shortest` and `longest`.
                    assert!(
                        matches!(e, CallError::TooLarge { size, limit: l }
                            if l == limit && size > limit && (shortest..=longest).contains(&size)),
                        "{name}: call of {shortest}..{longest} bytes refused with {e:?}"
                    );
                }
            }
        }
        self.check_events(Vec::new(), "call");
    }

    pub fn notify(&mut self, method: &str, params: Params) {
        let frame =
            json!({"method": method, "args": params.args, "kwargs": params.kwargs, "id": null});
        let size = len_of(&frame);
        let got = self.ep.notify(method, &params);
        let expected = if self.closed {
            Err(CallError::ConnectionClosed)
        } else if size > self.limits.outbound {
            Err(CallError::TooLarge {
                size,
                limit: self.limits.outbound,
            })
        } else {
            Ok(())
        };
        assert_eq!(got, expected, "{}: notify", self.name);
        if got.is_ok() {
            self.tx.push_back(frame);
        }
        self.check_events(Vec::new(), "notify");
    }

    /// Answers the open request `pick` (modulo their number) with what `result` makes of its
    /// id, method and arguments.
    pub fn reply(
        &mut self,
        pick: usize,
        result: impl FnOnce(&Value, &str, &Params) -> Result<Value, RpcError>,
    ) {
        if self.open.is_empty() {
            return;
        }
        let (responder, method, params, text) = self.open.remove(pick % self.open.len());
        let id = responder.id().clone();
        let result = result(&id, &method, &params);
        let mut expected = Vec::new();
        if !self.closed {
            self.model_answer(&id, text.as_deref(), &result, &mut expected);
        }
        self.ep.reply(responder, result);
        self.check_events(expected, "reply");
    }

    /// The answer `result` to request `id`: queued as it is if it fits the outbound limit;
    /// else an `InternalError` that gives the size and the limit goes in its place, with a
    /// `ReplyTooLarge` diagnostic, and that replacement is itself dropped when the id alone
    /// makes it too large.
    ///
    /// An id that holds a float is written as the peer wrote it (`text`), which may be longer
    /// or shorter than its value written anew: the sizes count that text.
    fn model_answer(
        &mut self,
        id: &Value,
        text: Option<&str>,
        result: &Result<Value, RpcError>,
        expected: &mut Vec<Ev>,
    ) {
        let limit = self.limits.outbound;
        let written = |frame: &Value| match text {
            Some(text) => len_of(frame) - key(id).len() + text.len(),
            None => len_of(frame),
        };
        let answer = answer_frame(id, result);
        let size = written(&answer);
        if size <= limit {
            self.tx.push_back(answer);
            return;
        }
        // The core's wording (`Endpoint::reply`): the replacement is compared exactly.
        let message = format!("the result of {size} bytes exceeds the limit of {limit} bytes");
        let fallback = answer_frame(id, &Err(RpcError::internal(message)));
        if written(&fallback) <= limit {
            self.tx.push_back(fallback);
        }
        expected.push(Ev::ReplyTooLarge {
            id: id.clone(),
            size,
            limit,
        });
    }

    /// `handle_frame`, checked.
    pub fn receive(&mut self, frame: &[u8], what: &str) {
        self.receive_as(frame, false, what);
    }

    /// `handle_text` (the frame must be UTF-8), checked: the same rules as for bytes.
    pub fn receive_text(&mut self, frame: &str, what: &str) {
        self.receive_as(frame.as_bytes(), true, what);
    }

    fn receive_as(&mut self, frame: &[u8], text: bool, what: &str) {
        let name = self.name;
        let mut expected = Vec::new();
        let mut class = None;
        let expected_result = if self.closed {
            Ok(())
        } else if frame.len() > self.limits.inbound {
            self.model_close(&mut expected);
            Err(InboundError::TooLarge {
                size: frame.len(),
                limit: self.limits.inbound,
            })
        } else {
            class = Some(classify(frame));
            Ok(())
        };
        let got = match std::str::from_utf8(frame) {
            Ok(s) if text => self.ep.handle_text(s),
            _ => self.ep.handle_frame(frame),
        };
        assert_eq!(
            got,
            expected_result,
            "{name}: handle_frame({what}) of {} bytes",
            frame.len()
        );
        let actual = self.drain();
        if let (Some(Class::Request { id: Some(id), .. }), Some(open)) =
            (&class, self.open.last_mut())
        {
            if open.3.is_none() && open.0.id() == id {
                open.3 = id_text(frame, id);
            }
        }
        match class {
            None => {}
            Some(Class::Malformed) => expected.push(Ev::Malformed),
            Some(Class::Request {
                method,
                params,
                id: Some(id),
            }) => expected.push(Ev::Request { method, params, id }),
            Some(Class::Request {
                method,
                params,
                id: None,
            }) => expected.push(Ev::Notification { method, params }),
            Some(Class::InvalidRequest { id }) => {
                // The answer's `result` is the reason of the diagnostic: the answer is
                // compared with it, and its size decides whether it fits the outbound limit.
                let reason = actual
                    .iter()
                    .find_map(|ev| match ev {
                        Ev::InvalidRequest(_, reason) => Some(reason.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| {
                        panic!("{name}: no InvalidRequest diagnostic after {what}: {actual:?}")
                    });
                if let Some(id) = &id {
                    *self.answerable.entry(key(id)).or_default() += 1;
                    let error = RpcError::new(RpcError::INVALID_REQUEST, json!(reason));
                    let text = id_text(frame, id);
                    self.model_answer(id, text.as_deref(), &Err(error), &mut expected);
                }
                expected.push(Ev::InvalidRequest(id, reason));
            }
            Some(Class::Response { id, outcome }) => {
                // The call this id names, and no other.
                match id.as_u64().and_then(|n| self.pending.remove(&n)) {
                    Some((call, _)) => {
                        assert_eq!(call.get(), id.as_u64().unwrap_or_default());
                        expected.push(Ev::Outcome(call, outcome.map_err(CallError::Remote)));
                    }
                    None => expected.push(Ev::Unknown(id)),
                }
            }
            Some(Class::Undecodable { id }) => {
                match id.as_u64().and_then(|n| self.pending.remove(&n)) {
                    Some((call, _)) => expected.push(Ev::OutcomeInvalid(call)),
                    None => expected.push(Ev::Unknown(id)),
                }
            }
        }
        self.compare(expected, actual, what);
    }

    /// Drains `poll_transmit`, checks every frame and returns them.
    pub fn flush(&mut self) -> Vec<Vec<u8>> {
        let name = self.name;
        let mut out = Vec::new();
        while let Some(text) = self.ep.poll_transmit() {
            let frame: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} sent a frame that is not JSON ({e}): {text}"));
            let expect = self
                .tx
                .pop_front()
                .unwrap_or_else(|| panic!("{name} sent a frame it was not asked for: {text}"));
            assert!(
                text.len() <= self.limits.outbound,
                "{name} sent {} bytes, over its limit of {}: {text:.200}",
                text.len(),
                self.limits.outbound
            );
            assert_eq!(frame, expect, "{name} sent {text:.200}");
            if frame.get("method").is_some() {
                // A request of ours: all four keys; a new id, or null for a notification.
                for k in ["args", "kwargs", "id"] {
                    assert!(frame.get(k).is_some(), "{name} sent {text} without {k}");
                }
                if !frame["id"].is_null() {
                    let id = frame["id"].as_u64().expect("ids are integers");
                    assert!((1..=MAX_ID).contains(&id), "{name} wrote id {id}");
                    assert!(self.written.insert(id), "{name} wrote id {id} twice");
                }
            } else {
                // A response: `result` and `error` always written; only to a request received
                // with an id, and at most once per time it was received.
                assert!(
                    frame.get("result").is_some() && frame.get("error").is_some(),
                    "{name} sent {text}"
                );
                match self.answerable.get_mut(&key(&frame["id"])) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => panic!("{name} sent an answer to no request it received: {text}"),
                }
            }
            out.push(text.into_bytes());
        }
        assert!(
            self.tx.is_empty(),
            "{name} did not send the expected frames {:?}",
            self.tx
        );
        out
    }

    /// Cancels the call `pick` (modulo their number) of all the calls ever made.
    pub fn cancel(&mut self, pick: usize) {
        if self.issued.is_empty() {
            return;
        }
        let id = self.issued[pick % self.issued.len()];
        let mut expected = Vec::new();
        let was_pending = self.pending.remove(&id.get()).is_some();
        if was_pending {
            expected.push(Ev::Outcome(id, Err(CallError::Cancelled)));
        }
        assert_eq!(
            self.ep.cancel(id),
            was_pending,
            "{}: cancel({id})",
            self.name
        );
        self.check_events(expected, "cancel");
    }

    /// `handle_timeout` at `now_ms`.
    pub fn timeout(&mut self, now_ms: u64) {
        let due: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, (_, deadline))| deadline.is_some_and(|d| d <= now_ms))
            .map(|(n, _)| *n)
            .collect();
        let mut expected = Vec::new();
        for n in due {
            if let Some((id, _)) = self.pending.remove(&n) {
                expected.push(Ev::Outcome(id, Err(CallError::Timeout)));
            }
        }
        self.ep.handle_timeout(self.at(now_ms));
        self.check_events(expected, "handle_timeout");
    }

    pub fn close(&mut self) {
        let mut expected = Vec::new();
        self.model_close(&mut expected);
        self.ep.close();
        self.check_events(expected, "close");
        assert!(
            self.ep.poll_transmit().is_none(),
            "{}: a frame queued after close",
            self.name
        );
    }

    /// The state, checked after every step: no event left, the counts, the next deadline.
    pub fn check_state(&mut self) {
        self.check_counts();
        self.check_deadline();
    }

    /// No event left, and the counts: [`Peer::check_state`] without `poll_timeout()`, which a
    /// driver may ask only now and then.
    pub fn check_counts(&mut self) {
        let name = self.name;
        let left = self.drain();
        assert!(left.is_empty(), "{name}: unexpected events {left:?}");
        assert_eq!(
            self.ep.outstanding(),
            self.pending.len(),
            "{name}: outstanding()"
        );
        assert_eq!(self.ep.is_closed(), self.closed, "{name}: is_closed()");
        assert_eq!(
            self.ep.queued_transmits(),
            self.tx.len(),
            "{name}: queued_transmits()"
        );
    }

    /// `poll_timeout()`: the earliest deadline of the calls outstanding.
    pub fn check_deadline(&mut self) {
        let earliest = self.pending.values().filter_map(|(_, d)| *d).min();
        assert_eq!(
            self.ep.poll_timeout(),
            earliest.map(|ms| self.at(ms)),
            "{}: poll_timeout()",
            self.name
        );
    }

    /// The end: the endpoint is closed, and every call ever made resolved exactly once.
    pub fn finish(&mut self) {
        self.close();
        self.check_state();
        let unresolved: Vec<_> = self
            .issued
            .iter()
            .filter(|id| !self.resolved.contains(id))
            .collect();
        assert!(
            unresolved.is_empty(),
            "{}: calls never resolved: {unresolved:?}",
            self.name
        );
        assert_eq!(self.resolved.len(), self.issued.len());
        assert_eq!(self.ep.outstanding(), 0);
    }
}
