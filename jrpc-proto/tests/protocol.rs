//! One test per rule of PROTOCOL.md, on the core alone. Each test names the rule it checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use jrpc_proto::{
    CallError, CallId, Config, Diagnostic, Endpoint, Event, InboundError, IncomingRequest, MAX_ID,
    Params, RpcError,
};
use serde_json::{Value, json};

fn sent(ep: &mut Endpoint) -> Vec<Value> {
    std::iter::from_fn(|| ep.poll_transmit())
        .map(|f| serde_json::from_str(&f).expect("the endpoint writes JSON"))
        .collect()
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn feed(ep: &mut Endpoint, frame: Value) {
    ep.handle_frame(frame.to_string().as_bytes())
        .expect("under the limit");
}

fn requests(ev: Vec<Event>) -> Vec<IncomingRequest> {
    ev.into_iter()
        .filter_map(|e| match e {
            Event::Request(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn outcomes(ev: Vec<Event>) -> Vec<(CallId, Result<Value, CallError>)> {
    ev.into_iter()
        .filter_map(|e| match e {
            Event::Outcome(o) => Some((o.id, o.result)),
            _ => None,
        })
        .collect()
}

fn diagnostics(ev: &[Event]) -> Vec<Diagnostic> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Diagnostic(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn call(ep: &mut Endpoint, method: &str) -> CallId {
    ep.call(method, &Params::default(), Instant::now(), None)
        .expect("room for the call")
}

/// Request with an id: exactly one response whose id is the same JSON value, for ids of every
/// JSON type, including 0 (which the original jrpc.js never answered).
#[test]
fn request_with_id_gets_one_response_with_the_same_id() {
    for id in [
        json!(1),
        json!(0),
        json!(-7),
        json!(1.5),
        json!("abc"),
        json!([1, "x"]),
        json!({"k": [null]}),
        json!(true),
        json!(18446744073709551615u64),
    ] {
        let mut ep = Endpoint::default();
        feed(
            &mut ep,
            json!({"method": "Add", "args": [5, 10], "kwargs": {}, "id": id}),
        );
        let mut reqs = requests(events(&mut ep));
        assert_eq!(reqs.len(), 1, "id {id}");
        let req = reqs.remove(0);
        assert_eq!(req.method, "Add");
        assert_eq!(req.params.to_params().args, vec![json!(5), json!(10)]);
        assert_eq!(req.responder.id(), &id);
        ep.reply(req.responder, Ok(json!(15)));
        assert_eq!(
            sent(&mut ep),
            vec![json!({"id": id, "result": 15, "error": null})]
        );
    }
}

/// "The same JSON value", to the letter: ids that a 64-bit integer or a double cannot hold
/// (integers beyond 64 bits, alone or inside an array or object, and numbers written with more
/// digits than a double keeps) come back as the peer wrote them, also in an `InvalidRequest`
/// answer and in the answer to a message the core could not decode.
#[test]
fn ids_beyond_64_bits_are_echoed_as_written() {
    for id in [
        "18446744073709551617",
        "-99999999999999999999999",
        "123456789012345678901234567890.5",
        "[1, 18446744073709551617]",
        r#"{"n": 340282366920938463463374607431768211456}"#,
        "0.1000000000000000000000001",
    ] {
        let frames = [
            (format!(r#"{{"method": "M", "id": {id}}}"#), "null"),
            (
                format!(r#"{{"method": 5, "id": {id}}}"#),
                r#""InvalidRequest""#,
            ),
            (
                format!(r#"{{"method": "M", "args": ["\ud800"], "id": {id}}}"#),
                r#""InvalidRequest""#,
            ),
        ];
        for (frame, error) in frames {
            let mut ep = Endpoint::default();
            ep.handle_text(&frame).expect("within the limit");
            for event in events(&mut ep) {
                if let Event::Request(req) = event {
                    ep.reply(req.responder, Ok(Value::Null));
                }
            }
            let answer = ep.poll_transmit().expect("one answer");
            assert!(
                answer.starts_with(&format!(r#"{{"id":{id},"#))
                    && answer.ends_with(&format!(r#""error":{error}}}"#)),
                "{frame} was answered {answer}"
            );
        }
    }
}

/// `args` absent or null means `[]`; `kwargs` absent or null means `{}`.
#[test]
fn absent_or_null_args_and_kwargs_mean_empty() {
    for frame in [
        json!({"method": "M", "id": 1}),
        json!({"method": "M", "args": null, "kwargs": null, "id": 1}),
    ] {
        let mut ep = Endpoint::default();
        feed(&mut ep, frame);
        let req = requests(events(&mut ep)).remove(0);
        assert!(req.params.is_empty());
    }
}

/// Without an id (absent or null) a request is a notification: an event, and nothing on the
/// wire whatever happens, including an unknown method or bad field types.
#[test]
fn notifications_are_never_answered() {
    for frame in [
        json!({"method": "Log", "args": ["hi"], "kwargs": {}}),
        json!({"method": "Log", "args": ["hi"], "kwargs": {}, "id": null}),
        json!({"method": 5, "args": [], "kwargs": {}}),
        json!({"method": "Log", "args": 5, "id": null}),
        json!({"method": "Log", "kwargs": [1]}),
    ] {
        let mut ep = Endpoint::default();
        feed(&mut ep, frame.clone());
        let ev = events(&mut ep);
        assert!(
            ev.iter().all(|e| !matches!(e, Event::Request(_))),
            "{frame}"
        );
        assert!(sent(&mut ep).is_empty(), "answered a notification: {frame}");
    }
    let mut ep = Endpoint::default();
    feed(&mut ep, json!({"method": "Log", "args": ["hi"]}));
    match events(&mut ep).as_slice() {
        [Event::Notification(n)] => {
            assert_eq!(n.method, "Log");
            assert_eq!(n.params.to_params().args, vec![json!("hi")]);
        }
        other => panic!("expected one notification, got {other:?}"),
    }
}

/// Keys other than `method`, `args`, `kwargs`, `id` are ignored.
#[test]
fn unknown_keys_are_ignored() {
    let mut ep = Endpoint::default();
    feed(
        &mut ep,
        json!({"method": "M", "args": [1], "kwargs": {"a": 2}, "id": 3, "jsonrpc": "2.0", "x": {}}),
    );
    let req = requests(events(&mut ep)).remove(0);
    assert_eq!(req.params.to_params().args, vec![json!(1)]);
    assert_eq!(req.params.to_params().kwargs.get("a"), Some(&json!(2)));
}

/// A sender writes all four keys; `args: []` and `kwargs: {}` when empty; ids are positive
/// integers starting at 1; a notification carries `"id": null`.
#[test]
fn requests_are_written_with_all_four_keys() {
    let mut ep = Endpoint::default();
    let id = call(&mut ep, "Ping");
    assert_eq!(id.get(), 1);
    ep.notify("Log", &Params::positional(vec![json!("x")]))
        .unwrap();
    let params = Params::new(
        vec![json!(5)],
        serde_json::from_value(json!({"b": 10})).unwrap(),
    );
    let id2 = ep.call("Add", &params, Instant::now(), None).unwrap();
    assert_eq!(
        sent(&mut ep),
        vec![
            json!({"method": "Ping", "args": [], "kwargs": {}, "id": 1}),
            json!({"method": "Log", "args": ["x"], "kwargs": {}, "id": null}),
            json!({"method": "Add", "args": [5], "kwargs": {"b": 10}, "id": id2.get()}),
        ]
    );
    assert!(id2.get() > 1);
}

/// Ids are never 0, never above 2^53 − 1, and never reused on one endpoint, however calls end.
#[test]
fn ids_are_never_reused() {
    let mut ep = Endpoint::new(Config::default().max_outstanding(4));
    let now = Instant::now();
    let mut seen = std::collections::HashSet::new();
    for round in 0..2000u32 {
        let id = ep
            .call("M", &Params::default(), now, Some(Duration::from_secs(1)))
            .unwrap();
        assert!(id.get() >= 1 && id.get() <= MAX_ID);
        assert!(seen.insert(id.get()), "id {id} written twice");
        match round % 3 {
            0 => assert!(ep.cancel(id)),
            1 => ep.handle_timeout(now + Duration::from_secs(2)),
            _ => feed(
                &mut ep,
                json!({"id": id.get(), "result": null, "error": null}),
            ),
        }
        assert_eq!(ep.outstanding(), 0);
    }
}

/// A sender always writes `result` and `error`: `null` on success, the failure's name on
/// failure with its details in `result`.
#[test]
fn responses_are_written_with_result_and_error() {
    let mut ep = Endpoint::default();
    feed(&mut ep, json!({"method": "Nothing", "id": 1}));
    feed(
        &mut ep,
        json!({"method": "Divide", "args": [1, 0], "id": 2}),
    );
    let mut reqs = requests(events(&mut ep));
    let divide = reqs.pop().unwrap();
    let nothing = reqs.pop().unwrap();
    ep.reply(nothing.responder, Ok(Value::Null));
    ep.reply(
        divide.responder,
        Err(RpcError::new("ZeroDivisionError", "division by zero")),
    );
    let frames: Vec<String> = std::iter::from_fn(|| ep.poll_transmit()).collect();
    assert_eq!(frames[0], r#"{"id":1,"result":null,"error":null}"#);
    assert_eq!(
        serde_json::from_str::<Value>(&frames[1]).unwrap(),
        json!({"id": 2, "result": "division by zero", "error": "ZeroDivisionError"})
    );
}

/// A response resolves the call its id names: `error` null or absent is success, a string is
/// the failure's type with details in `result`, which may be any JSON value.
#[test]
fn responses_resolve_their_call() {
    let mut ep = Endpoint::default();
    let a = call(&mut ep, "A");
    let b = call(&mut ep, "B");
    let c = call(&mut ep, "C");
    let d = call(&mut ep, "D");
    feed(
        &mut ep,
        json!({"id": c.get(), "error": "NotFound", "result": {"path": "/x"}}),
    );
    feed(&mut ep, json!({"id": a.get(), "result": [1, 2]}));
    feed(&mut ep, json!({"id": b.get(), "result": 15, "error": null}));
    feed(&mut ep, json!({"id": d.get(), "error": "Oops"}));
    assert_eq!(
        outcomes(events(&mut ep)),
        vec![
            (
                c,
                Err(CallError::Remote(RpcError::new(
                    "NotFound",
                    json!({"path": "/x"})
                )))
            ),
            (a, Ok(json!([1, 2]))),
            (b, Ok(json!(15))),
            (
                d,
                Err(CallError::Remote(RpcError::new("Oops", Value::Null)))
            ),
        ]
    );
    assert_eq!(ep.outstanding(), 0);
}

/// Telling messages apart: not UTF-8, not JSON, not an object, or neither a request nor a
/// response is malformed; nothing is sent and the endpoint goes on serving.
#[test]
fn malformed_messages_are_reported_and_not_answered() {
    let frames: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, b'{', b'}'],
        b"{\"method\": \"M\", \"id\": 1".to_vec(),
        b"".to_vec(),
        b"[1, 2]".to_vec(),
        b"42".to_vec(),
        b"\"text\"".to_vec(),
        b"null".to_vec(),
        b"{}".to_vec(),
        br#"{"id": 1}"#.to_vec(),
        br#"{"result": 1}"#.to_vec(),
        br#"{"error": "E", "result": 1}"#.to_vec(),
        format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
    ];
    let mut ep = Endpoint::default();
    let pending = call(&mut ep, "Still");
    sent(&mut ep);
    for frame in frames {
        ep.handle_frame(&frame).unwrap();
        let ev = events(&mut ep);
        assert!(
            matches!(diagnostics(&ev).as_slice(), [Diagnostic::Malformed { .. }]),
            "{:?} gave {ev:?}",
            String::from_utf8_lossy(&frame[..frame.len().min(40)])
        );
        assert_eq!(ev.len(), 1);
        assert!(sent(&mut ep).is_empty());
    }
    // Still serving: the pending call resolves and a new request is answered.
    feed(
        &mut ep,
        json!({"id": pending.get(), "result": "ok", "error": null}),
    );
    assert_eq!(outcomes(events(&mut ep)), vec![(pending, Ok(json!("ok")))]);
    feed(&mut ep, json!({"method": "M", "id": 9}));
    let req = requests(events(&mut ep)).remove(0);
    ep.reply(req.responder, Ok(json!(1)));
    assert_eq!(sent(&mut ep).len(), 1);
}

/// An object with a `method` key is a request even if it also has `result`; one with an `id`
/// and `result` or `error` and no `method` is a response.
#[test]
fn method_key_makes_a_request() {
    let mut ep = Endpoint::default();
    feed(
        &mut ep,
        json!({"method": "M", "id": 1, "result": 5, "error": null}),
    );
    assert_eq!(requests(events(&mut ep)).len(), 1);
}

/// A request-shaped object with a usable id but wrong field types is answered `InvalidRequest`
/// with that id.
#[test]
fn wrong_field_types_with_an_id_get_invalid_request() {
    for (frame, field) in [
        (json!({"method": 5, "id": 7}), "method"),
        (json!({"method": null, "id": 7}), "method"),
        (json!({"method": "M", "args": {"a": 1}, "id": 7}), "args"),
        (json!({"method": "M", "args": "x", "id": 7}), "args"),
        (json!({"method": "M", "kwargs": [1], "id": 7}), "kwargs"),
        (json!({"method": "M", "kwargs": 3, "id": 7}), "kwargs"),
    ] {
        let mut ep = Endpoint::default();
        feed(&mut ep, frame.clone());
        let ev = events(&mut ep);
        assert!(matches!(
            diagnostics(&ev).as_slice(),
            [Diagnostic::InvalidRequest { id: Some(_), .. }]
        ));
        let out = sent(&mut ep);
        assert_eq!(out.len(), 1, "{frame}");
        assert_eq!(out[0]["id"], json!(7));
        assert_eq!(out[0]["error"], json!("InvalidRequest"));
        assert!(
            out[0]["result"].as_str().unwrap().contains(field),
            "{} should name {field}",
            out[0]["result"]
        );
    }
}

/// A response whose id matches no outstanding call (never sent, already answered, timed out,
/// cancelled, or null) is ignored and reported; it never resolves another call.
#[test]
fn unknown_responses_are_ignored_and_reported() {
    let now = Instant::now();
    let mut ep = Endpoint::new(Config::default().max_outstanding(1));
    let answered = call(&mut ep, "A");
    feed(&mut ep, json!({"id": answered.get(), "result": 1}));
    let cancelled = call(&mut ep, "B");
    ep.cancel(cancelled);
    let timed_out = ep
        .call("C", &Params::default(), now, Some(Duration::from_millis(5)))
        .unwrap();
    ep.handle_timeout(now + Duration::from_millis(5));
    // The newest call sits in the same slab slot as all the ones above.
    let newest = call(&mut ep, "D");
    events(&mut ep);
    sent(&mut ep);
    for id in [
        json!(answered.get()),
        json!(cancelled.get()),
        json!(timed_out.get()),
        json!(null),
        json!(newest.get() + 1),
        json!(0),
        json!("1"),
        json!(newest.get() as f64 + 0.5),
        json!(-1),
        json!(u64::MAX),
    ] {
        feed(&mut ep, json!({"id": id, "result": "late", "error": null}));
        let ev = events(&mut ep);
        assert_eq!(
            diagnostics(&ev),
            vec![Diagnostic::UnknownResponse { id: id.clone() }]
        );
        assert!(outcomes(ev).is_empty(), "{id} resolved a call");
        assert!(sent(&mut ep).is_empty());
    }
    assert_eq!(ep.outstanding(), 1);
    feed(
        &mut ep,
        json!({"id": newest.get(), "result": "mine", "error": null}),
    );
    assert_eq!(outcomes(events(&mut ep)), vec![(newest, Ok(json!("mine")))]);
}

/// A second response to an id already answered is ignored and reported.
#[test]
fn duplicate_responses_are_ignored() {
    let mut ep = Endpoint::default();
    let id = call(&mut ep, "A");
    feed(&mut ep, json!({"id": id.get(), "result": 1, "error": null}));
    feed(&mut ep, json!({"id": id.get(), "result": 2, "error": null}));
    let ev = events(&mut ep);
    assert_eq!(
        diagnostics(&ev),
        vec![Diagnostic::UnknownResponse {
            id: json!(id.get())
        }]
    );
    assert_eq!(outcomes(ev), vec![(id, Ok(json!(1)))]);
}

/// A message over the size limit is refused (the adapter closes with 1009) and every
/// outstanding call fails locally.
#[test]
fn oversized_message_closes_and_fails_outstanding_calls() {
    let mut ep = Endpoint::new(Config::default().max_inbound_message(64));
    let a = call(&mut ep, "A");
    let under = json!({"method": "M", "args": ["x"], "id": 1}).to_string();
    assert!(under.len() <= 64);
    ep.handle_frame(under.as_bytes()).unwrap();
    let over = format!(r#"{{"method":"M","args":["{}"]}}"#, "x".repeat(64));
    assert_eq!(
        ep.handle_frame(over.as_bytes()),
        Err(InboundError::TooLarge {
            size: over.len(),
            limit: 64
        })
    );
    assert!(ep.is_closed());
    let ev = events(&mut ep);
    assert_eq!(outcomes(ev), vec![(a, Err(CallError::ConnectionClosed))]);
}

/// Requests and notifications are started in the order they arrive.
#[test]
fn requests_come_out_in_arrival_order() {
    let mut ep = Endpoint::default();
    for i in 0..10 {
        if i % 3 == 0 {
            feed(&mut ep, json!({"method": format!("m{i}")}));
        } else {
            feed(&mut ep, json!({"method": format!("m{i}"), "id": i}));
        }
    }
    let names: Vec<String> = events(&mut ep)
        .into_iter()
        .map(|e| match e {
            Event::Request(r) => r.method,
            Event::Notification(n) => n.method,
            other => panic!("{other:?}"),
        })
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    assert_eq!(names, expected);
}

/// Responses may answer in any order; the id pairs them.
#[test]
fn responses_pair_by_id_in_any_order() {
    let mut ep = Endpoint::default();
    let ids: Vec<CallId> = (0..5).map(|_| call(&mut ep, "M")).collect();
    for id in ids.iter().rev() {
        feed(
            &mut ep,
            json!({"id": id.get(), "result": id.get(), "error": null}),
        );
    }
    let got = outcomes(events(&mut ep));
    let expected: Vec<_> = ids
        .iter()
        .rev()
        .map(|id| (*id, Ok(json!(id.get()))))
        .collect();
    assert_eq!(got, expected);
}

/// When a connection closes every outstanding call fails with connection-closed at once, new
/// calls are refused and answers produced afterwards are dropped.
#[test]
fn close_fails_everything_outstanding() {
    let mut ep = Endpoint::default();
    feed(&mut ep, json!({"method": "Slow", "id": 1}));
    let req = requests(events(&mut ep)).remove(0);
    let a = call(&mut ep, "A");
    let b = call(&mut ep, "B");
    ep.close();
    assert_eq!(
        outcomes(events(&mut ep)),
        vec![
            (a, Err(CallError::ConnectionClosed)),
            (b, Err(CallError::ConnectionClosed)),
        ]
    );
    assert!(sent(&mut ep).is_empty(), "unsent frames are discarded");
    ep.reply(req.responder, Ok(json!(1)));
    assert!(sent(&mut ep).is_empty());
    assert_eq!(
        ep.call("C", &Params::default(), Instant::now(), None),
        Err(CallError::ConnectionClosed)
    );
    assert_eq!(
        ep.notify("N", &Params::default()),
        Err(CallError::ConnectionClosed)
    );
    feed(&mut ep, json!({"method": "M", "id": 2}));
    assert!(events(&mut ep).is_empty());
    ep.close();
    assert!(events(&mut ep).is_empty(), "close is idempotent");
}

/// Compatibility: the original Python server answers failed notifications with `"id": null`;
/// that is simply an unknown response.
#[test]
fn null_id_responses_from_the_original_server_are_unknown() {
    let mut ep = Endpoint::default();
    let a = call(&mut ep, "A");
    feed(
        &mut ep,
        json!({"id": null, "result": "boom", "error": "TypeError"}),
    );
    let ev = events(&mut ep);
    assert_eq!(
        diagnostics(&ev),
        vec![Diagnostic::UnknownResponse { id: Value::Null }]
    );
    assert_eq!(ep.outstanding(), 1);
    assert!(ep.cancel(a));
}

/// Local failures are distinct and matchable: timeout, cancel, close, too many outstanding,
/// too large.
#[test]
fn local_failures_are_distinct() {
    let now = Instant::now();
    let mut ep = Endpoint::new(
        Config::default()
            .max_outstanding(2)
            .max_outbound_message(100),
    );
    let t = ep
        .call("T", &Params::default(), now, Some(Duration::from_secs(3)))
        .unwrap();
    let c = call(&mut ep, "C");
    assert_eq!(
        ep.call("X", &Params::default(), now, None),
        Err(CallError::TooManyOutstanding { limit: 2 })
    );
    assert_eq!(ep.poll_timeout(), Some(now + Duration::from_secs(3)));
    ep.handle_timeout(now + Duration::from_secs(2));
    assert!(events(&mut ep).is_empty(), "not yet due");
    ep.handle_timeout(now + Duration::from_secs(3));
    assert!(ep.cancel(c));
    assert!(!ep.cancel(c), "a call is cancelled once");
    assert_eq!(
        outcomes(events(&mut ep)),
        vec![(t, Err(CallError::Timeout)), (c, Err(CallError::Cancelled))]
    );
    assert_eq!(ep.poll_timeout(), None);
    sent(&mut ep);
    let big = Params::positional(vec![json!("x".repeat(200))]);
    assert!(matches!(
        ep.call("Big", &big, now, None),
        Err(CallError::TooLarge { limit: 100, .. })
    ));
    assert!(matches!(
        ep.notify("Big", &big),
        Err(CallError::TooLarge { limit: 100, .. })
    ));
    assert!(
        sent(&mut ep).is_empty(),
        "nothing is sent for a refused call"
    );
    assert_eq!(ep.outstanding(), 0);
}

/// An answer over the outbound limit is replaced by an `InternalError` response, so the caller
/// still gets exactly one answer.
#[test]
fn oversized_reply_becomes_internal_error() {
    let mut ep = Endpoint::new(Config::default().max_outbound_message(100));
    feed(&mut ep, json!({"method": "Big", "id": "q"}));
    let req = requests(events(&mut ep)).remove(0);
    ep.reply(req.responder, Ok(json!("y".repeat(500))));
    let out = sent(&mut ep);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], json!("q"));
    assert_eq!(out[0]["error"], json!("InternalError"));
    assert!(matches!(
        diagnostics(&events(&mut ep)).as_slice(),
        [Diagnostic::ReplyTooLarge { .. }]
    ));
}

/// A result written straight into the response (`reply_with`) reads as the same answer a
/// `Value` makes; one that cannot be encoded (a map with non-string keys) or whose own writer
/// fails halfway is answered `InternalError`, and nothing of it is sent.
#[test]
fn results_written_in_place_and_their_failures() {
    struct FailsHalfway;
    impl jrpc_proto::WriteJson for FailsHalfway {
        fn write_json(&self, out: &mut String) -> Result<(), serde_json::Error> {
            out.push_str("[\"half");
            Err(serde::ser::Error::custom("gave up"))
        }
    }
    let mut ep = Endpoint::default();
    for id in 1..=3 {
        feed(&mut ep, json!({"method": "M", "id": id}));
    }
    let mut reqs = requests(events(&mut ep)).into_iter();
    let records = vec![("a", 1), ("b", 2)];
    ep.reply_with(reqs.next().unwrap().responder, Ok(&records));
    let bad_keys = std::collections::HashMap::from([((1, 2), 3)]);
    ep.reply_with(reqs.next().unwrap().responder, Ok(&bad_keys));
    ep.reply_with(reqs.next().unwrap().responder, Ok(&FailsHalfway));
    let out = sent(&mut ep);
    assert_eq!(
        out[0],
        json!({"id": 1, "result": [["a", 1], ["b", 2]], "error": null})
    );
    for (answer, id) in out[1..].iter().zip([2, 3]) {
        assert_eq!(answer["id"], json!(id));
        assert_eq!(answer["error"], json!("InternalError"));
        let details = answer["result"].as_str().unwrap();
        assert!(
            details.starts_with("the result cannot be encoded"),
            "{details}"
        );
    }
}

/// Binary messages are decoded as UTF-8 like text ones: the core takes bytes either way.
#[test]
fn binary_payloads_are_decoded_as_utf8() {
    let mut ep = Endpoint::default();
    let bytes: Vec<u8> = "{\"method\":\"Echo\",\"args\":[\"héllo ✓\"],\"id\":1}"
        .bytes()
        .collect();
    ep.handle_frame(&bytes).unwrap();
    let req = requests(events(&mut ep)).remove(0);
    assert_eq!(req.params.to_params().args, vec![json!("héllo ✓")]);
}

/// The failure names of PROTOCOL.md's table have constructors.
#[test]
fn protocol_failure_names() {
    assert_eq!(RpcError::method_not_found("X").kind, "MethodNotFound");
    assert_eq!(RpcError::invalid_params("x").kind, "InvalidParams");
    assert_eq!(RpcError::invalid_request("x").kind, "InvalidRequest");
    assert_eq!(RpcError::internal("x").kind, "InternalError");
    assert_eq!(
        RpcError::new("ZeroDivisionError", "division by zero").to_string(),
        "ZeroDivisionError:division by zero"
    );
}

/// A response whose `error` is neither a string nor null still answers its call, as a failure,
/// rather than leaving it to time out.
#[test]
fn response_with_non_string_error_fails_its_call() {
    let mut ep = Endpoint::default();
    let a = call(&mut ep, "A");
    feed(&mut ep, json!({"id": a.get(), "result": 1, "error": 42}));
    match outcomes(events(&mut ep)).as_slice() {
        [(id, Err(CallError::Remote(e)))] => {
            assert_eq!(*id, a);
            assert_eq!(e.kind, RpcError::INVALID_RESPONSE);
        }
        other => panic!("{other:?}"),
    }
}

/// A request that is JSON but holds a string Rust cannot represent (a lone UTF-16 surrogate
/// escape, which JavaScript writes) is still answered, `InvalidRequest`, rather than left to
/// time out; the same for a response, which fails its call.
#[test]
fn undecodable_strings_are_answered_not_dropped() {
    let mut ep = Endpoint::default();
    ep.handle_frame(br#"{"method": "Echo", "args": ["\ud800"], "kwargs": {}, "id": 1}"#)
        .unwrap();
    let ev = events(&mut ep);
    assert!(matches!(
        diagnostics(&ev).as_slice(),
        [Diagnostic::InvalidRequest { id: Some(_), .. }]
    ));
    let out = sent(&mut ep);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], json!(1));
    assert_eq!(out[0]["error"], json!("InvalidRequest"));

    let a = call(&mut ep, "A");
    sent(&mut ep);
    let frame = format!(
        r#"{{"id": {}, "result": "\udc00", "error": null}}"#,
        a.get()
    );
    ep.handle_frame(frame.as_bytes()).unwrap();
    match outcomes(events(&mut ep)).as_slice() {
        [(id, Err(CallError::Remote(e)))] => {
            assert_eq!(*id, a);
            assert_eq!(e.kind, RpcError::INVALID_RESPONSE);
        }
        other => panic!("{other:?}"),
    }

    // Without an id it is a notification: nothing is sent.
    ep.handle_frame(br#"{"method": "Echo", "args": ["\ud800"]}"#)
        .unwrap();
    assert!(sent(&mut ep).is_empty());
}

/// No frame exceeds the outbound limit, even when the peer's own id is too large for the
/// short `InternalError` that replaces an oversized answer: then nothing is sent.
#[test]
fn no_frame_exceeds_the_outbound_limit() {
    let mut ep = Endpoint::new(Config::default().max_outbound_message(1_024));
    let id = "i".repeat(3_000);
    feed(&mut ep, json!({"method": "M", "id": id}));
    let req = requests(events(&mut ep)).remove(0);
    ep.reply(req.responder, Ok(json!(1)));
    assert!(sent(&mut ep).is_empty());
    assert!(matches!(
        diagnostics(&events(&mut ep)).as_slice(),
        [Diagnostic::ReplyTooLarge { .. }]
    ));
}

/// Arguments bind by the same rules however they were read: an integer beyond 64 bits, which a
/// JSON value holds as a double, is refused by a 128-bit parameter even when the arguments
/// also hold records (which are otherwise bound straight from their text).
#[test]
fn integers_beyond_64_bits_bind_as_their_values_do() {
    let mut ep = Endpoint::default();
    let big = "18446744073709551616"; // 2^64
    let fits = "9223372036854775807"; // 19 digits, a u64
    for n in [big, fits] {
        ep.handle_text(&format!(
            r#"{{"method":"m","args":[{{"a":1}},{n}],"kwargs":{{}},"id":1}}"#
        ))
        .unwrap();
    }
    let reqs = requests(events(&mut ep));
    assert_eq!(reqs.len(), 2);
    for (request, n) in reqs.into_iter().zip([big, fits]) {
        let values: Vec<Value> = serde_json::from_str(&format!(r#"[{{"a":1}},{n}]"#)).unwrap();
        let by_values = Params::positional(values).bind::<(Value, i128)>();
        let bound = request.params.bind::<(Value, i128)>();
        assert_eq!(format!("{bound:?}"), format!("{by_values:?}"), "{n}");
    }
}

/// Frames leave in the order they were queued, whether an answer is lent from the endpoint's
/// buffer (`next_transmit`) or handed over: answers queued before the first is taken, a call
/// between them and a large answer all come out whole and in order.
#[test]
fn answers_lent_or_handed_over_leave_in_order() {
    use std::borrow::Cow;

    let mut ep = Endpoint::default();
    for id in 1..=4 {
        feed(&mut ep, json!({"method": "M", "id": id}));
    }
    let mut reqs = requests(events(&mut ep)).into_iter();
    let mut reply = |ep: &mut Endpoint, result: Value| {
        ep.reply(reqs.next().unwrap().responder, Ok(result));
    };
    reply(&mut ep, json!("one"));
    let call_id = call(&mut ep, "ours");
    let large = "x".repeat(4096);
    reply(&mut ep, json!(large));
    reply(&mut ep, json!("two"));
    let mut taken = Vec::new();
    while let Some(frame) = ep.next_transmit() {
        taken.push((
            matches!(frame, Cow::Borrowed(_)),
            serde_json::from_str::<Value>(&frame).unwrap(),
        ));
    }
    // The first answer was set aside when the next was written; the large one took a buffer
    // of its own; the last waited in the buffer.
    let lent: Vec<bool> = taken.iter().map(|(lent, _)| *lent).collect();
    assert_eq!(lent, [false, false, false, true]);
    let frames: Vec<Value> = taken.into_iter().map(|(_, frame)| frame).collect();
    assert_eq!(frames[0], json!({"id": 1, "result": "one", "error": null}));
    assert_eq!(frames[1]["id"], json!(call_id.get()));
    assert_eq!(frames[2], json!({"id": 2, "result": large, "error": null}));
    assert_eq!(frames[3], json!({"id": 3, "result": "two", "error": null}));
    // Taken one at a time, an answer is lent; `poll_transmit` gives the same text owned.
    reply(&mut ep, json!([1, 2]));
    assert_eq!(
        ep.next_transmit().as_deref(),
        Some(r#"{"id":4,"result":[1,2],"error":null}"#)
    );
    assert!(ep.poll_transmit().is_none());
}

/// A large answer's buffer given back is where the next answers are written: a large one takes
/// it along again (the same allocation), a small one is lent from it, and it stays until
/// released. It is not taken while an answer waits in the endpoint's buffer, which would lose
/// that answer.
#[test]
fn large_answer_buffers_given_back_hold_the_next_answers() {
    use std::borrow::Cow;

    let mut ep = Endpoint::default();
    for id in 1..=7 {
        feed(&mut ep, json!({"method": "M", "id": id}));
    }
    let mut reqs = requests(events(&mut ep)).into_iter();
    let mut reply = |ep: &mut Endpoint, result: Value| {
        ep.reply(reqs.next().unwrap().responder, Ok(result));
    };
    let large = "x".repeat(64 * 1024);
    reply(&mut ep, json!(large));
    let Some(Cow::Owned(first)) = ep.next_transmit() else {
        panic!("a large answer is handed over whole");
    };
    let (at, capacity) = (first.as_ptr(), first.capacity());
    ep.recycle_answer_buffer(first);
    // A small answer is lent from the large buffer, which stays.
    reply(&mut ep, json!("small"));
    let lent = ep.next_transmit();
    assert!(matches!(lent, Some(Cow::Borrowed(_))));
    assert_eq!(
        lent.as_deref(),
        Some(r#"{"id":2,"result":"small","error":null}"#)
    );
    // The next large one is written into it: the same allocation, not grown.
    reply(&mut ep, json!(large));
    let Some(Cow::Owned(second)) = ep.next_transmit() else {
        panic!("a large answer is handed over whole");
    };
    assert_eq!((second.as_ptr(), second.capacity()), (at, capacity));
    assert_eq!(
        serde_json::from_str::<Value>(&second).unwrap(),
        json!({"id": 3, "result": large, "error": null})
    );
    drop(second);
    // Buffers are told apart by a capacity that no growth makes.
    let odd = 100_003;
    // Given back while a small answer waits in the endpoint's buffer: refused, and the
    // waiting answer goes out intact.
    reply(&mut ep, json!("waiting"));
    ep.recycle_answer_buffer(String::with_capacity(odd));
    assert_eq!(
        ep.next_transmit().as_deref(),
        Some(r#"{"id":4,"result":"waiting","error":null}"#)
    );
    reply(&mut ep, json!(large));
    let Some(Cow::Owned(third)) = ep.next_transmit() else {
        panic!("a large answer is handed over whole");
    };
    assert_ne!(third.capacity(), odd, "the buffer given back was refused");
    // Any buffer may be given back; released, it is let go, and the next large answer is
    // written into a new one.
    ep.recycle_answer_buffer(String::with_capacity(odd));
    reply(&mut ep, json!(large));
    let Some(Cow::Owned(fourth)) = ep.next_transmit() else {
        panic!("a large answer is handed over whole");
    };
    assert_eq!(fourth.capacity(), odd);
    ep.recycle_answer_buffer(fourth);
    ep.release_answer_buffer();
    reply(&mut ep, json!(large));
    let Some(Cow::Owned(fifth)) = ep.next_transmit() else {
        panic!("a large answer is handed over whole");
    };
    assert_ne!(fifth.capacity(), odd);
}

/// A method name given back is written over for the next request (never appended to), and a
/// long one is not kept.
#[test]
fn recycled_method_names_hold_the_next_name() {
    let mut ep = Endpoint::default();
    let long = "m".repeat(100);
    for name in ["Add", "x", "Subtract", "", long.as_str(), "Add"] {
        ep.handle_text(&format!(
            r#"{{"method":"{name}","args":[1,2],"kwargs":{{}},"id":1}}"#
        ))
        .expect("within the limit");
        let mut reqs = requests(events(&mut ep));
        assert_eq!(reqs.len(), 1);
        let req = reqs.remove(0);
        assert_eq!(req.method, name);
        ep.recycle_name(req.method);
    }
}

/// A `Box<RawValue>` parameter takes its argument's text as it came (records included, spaces
/// and all), and returned as the result it is written back byte for byte.
#[test]
fn raw_value_arguments_pass_through_as_text() {
    use serde_json::value::RawValue;
    let argument = r#"[{"id":1,"name":"a\n","tags":["x"]} , {"id":2.50,"tags":[]}]"#;
    let mut ep = Endpoint::default();
    let frame = format!(r#"{{"method":"M","args":[{argument}],"kwargs":{{}},"id":1}}"#);
    ep.handle_text(&frame).unwrap();
    let request = requests(events(&mut ep)).into_iter().next().unwrap();
    let (raw,): (Box<RawValue>,) = request.params.bind().unwrap();
    assert_eq!(raw.get(), argument);
    ep.reply_with(request.responder, Ok(&raw));
    let answer = ep.poll_transmit().unwrap();
    assert_eq!(
        answer,
        format!(r#"{{"id":1,"result":{argument},"error":null}}"#)
    );
}
