//! Model-based test of the core: random interleavings of operations on two endpoints A and B,
//! joined by a "network" that may drop, duplicate and reorder frames, with hand-made and hostile
//! frames injected on either side (lone surrogate escapes included). After every step the
//! endpoints are compared with the reference model written from PROTOCOL.md: the exact frames
//! each endpoint queues, the exact events it reports, `outstanding()`, `poll_timeout()`,
//! `queued_transmits()` and `is_closed()`. `deadlines_follow_the_model` does the same for many
//! calls with deadlines on one endpoint.
//!
//! The reference model is the one the fuzz targets use: `fuzz_logic::peer::Peer` (one endpoint
//! and the protocol's rules, where the invariants are listed) and `fuzz_logic::net::Net` (two of
//! them joined by a network), included by path. This file only makes the operations: proptest
//! strategies, which shrink to a minimal case, where the fuzz targets decode theirs from bytes.
//!
//! On top of the model's own checks, replies here carry their request's id under `re`, and every
//! outcome is checked to carry the id of the call it resolves (`Peer::check_echo`).
//!
//! The number of cases comes from `PROPTEST_CASES` (default 256).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::enum_variant_names)]

#[path = "fuzz_logic/mod.rs"]
mod fuzz_logic;

use std::time::Instant;

use fuzz_logic::net::{Fate, Net, Side};
use fuzz_logic::peer::{Limits, Peer};
use jrpc_proto::{Endpoint, Event, MAX_ID, Params, RpcError};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm};
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Picks one element of a collection whose size is known only when the step runs.
#[derive(Debug, Clone, Copy)]
struct Pick(u16);

impl Pick {
    fn index(self, len: usize) -> usize {
        usize::from(self.0) % len
    }

    fn get<T>(self, items: &[T]) -> &T {
        &items[self.index(items.len())]
    }
}

/// Size class of a payload. The limits used are 1024, 8192 and 65536 bytes, so a frame's size
/// class alone says on which side of each limit it falls.
#[derive(Debug, Clone, Copy)]
enum Size {
    Small,
    Medium,
    Large,
}

impl Size {
    fn pad(self) -> String {
        match self {
            Size::Small => String::new(),
            Size::Medium => "m".repeat(1_500),
            Size::Large => "L".repeat(9_000),
        }
    }
}

/// Shape of a hand-made response to a call that is outstanding.
#[derive(Debug, Clone)]
enum RespForm {
    ErrorNull,
    ErrorAbsent,
    ErrorString(String),
    /// `error` neither a string nor null.
    ErrorOther(Value),
    /// `error` a string, `result` absent.
    ErrorOnly(String),
}

/// A hand-made frame for one endpoint.
#[derive(Debug, Clone)]
enum Inject {
    /// A response naming one of its outstanding calls.
    RightId(Pick, RespForm),
    /// A response naming one of its calls that already resolved (answered, timed out,
    /// cancelled): late or duplicate.
    Late(Pick),
    /// A response with an id that is probably not one of its outstanding calls.
    WrongId(Value),
    /// The original Python server's answer to a failed notification.
    NullId,
    /// An object with a random choice of the protocol's keys, with random values.
    Shaped(Value),
    /// Any JSON value.
    Json(Value),
    /// Random bytes.
    Bytes(Vec<u8>),
    /// A frame in flight to this endpoint, cut short.
    Truncated(Pick, Pick),
    /// A message over the endpoint's inbound limit.
    Oversized(u16),
}

#[derive(Debug, Clone)]
enum Op {
    Call {
        side: Side,
        method: &'static str,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
        size: Size,
        timeout_ms: Option<u16>,
    },
    Notify {
        side: Side,
        method: &'static str,
        args: Vec<Value>,
        size: Size,
    },
    /// Move every frame the endpoint queued onto the network.
    Flush(Side),
    /// The network acts on the frames in flight from `from`.
    Deliver {
        from: Side,
        fate: Fate,
    },
    /// The endpoint answers one of the requests it received.
    Reply {
        side: Side,
        pick: Pick,
        ok: bool,
        kind: &'static str,
        size: Size,
    },
    Inject {
        to: Side,
        what: Inject,
    },
    /// Time passes; `handle_timeout` is called on one side, or on both.
    Advance {
        ms: u16,
        who: Option<Side>,
    },
    /// Cancel one of the calls the endpoint ever made (outstanding or not).
    Cancel {
        side: Side,
        pick: Pick,
    },
    Close(Side),
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::A), Just(Side::B)]
}

fn pick() -> impl Strategy<Value = Pick> {
    any::<u16>().prop_map(Pick)
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![
        24 => Just(Size::Small),
        1 => Just(Size::Medium),
        1 => Just(Size::Large),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (0u64..50).prop_map(|n| json!(n)),
        // Any double (NaN and the infinities become null): the workspace enables serde_json's
        // `float_roundtrip`, without which some come back one ulp off (see
        // `floats_in_arguments_arrive_exactly`).
        any::<f64>().prop_map(|f| json!(f)),
        // Becomes a lone surrogate escape in injected frames (see `LONE`).
        Just(json!(LONE)),
        "[a-zé\"\\\\ ]{0,6}".prop_map(Value::String),
    ]
}

/// A string that injected frames carry as `"\ud800"`: a lone UTF-16 surrogate escape, valid
/// JSON that JavaScript and Python write, but no Rust string.
const LONE: &str = "@@lone@@";

/// The text of an injected frame: `v` with every `LONE` string written as a lone surrogate.
fn with_lone_surrogates(v: &Value) -> String {
    v.to_string().replace(&format!("\"{LONE}\""), r#""\ud800""#)
}

/// Any JSON value, small. Object keys are one or two letters a-d, so never `re`: the key of
/// the echo that replies carry.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]{1,2}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn kwargs() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-d]{1,2}", leaf(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn method() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["Add", "Echo", "Log", "Sleep", "Ünï"])
}

/// Ids as peers might write them: often small positive integers, which may well name one of
/// our outstanding calls.
fn any_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (1u64..40).prop_map(|n| json!(n)),
        1 => Just(json!(0)),
        1 => Just(json!(-1)),
        1 => Just(json!("1")),
        1 => Just(json!(1.5)),
        1 => Just(json!(2.0)),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!(MAX_ID)),
        1 => Just(json!(MAX_ID + 1)),
        1 => Just(json!(i64::MIN)),
        2 => json_value(),
        1 => Just(Value::String("i".repeat(3_000))),
    ]
}

fn shaped() -> impl Strategy<Value = Value> {
    let method = prop::option::of(prop_oneof![
        3 => method().prop_map(|m| json!(m)),
        1 => json_value(),
    ]);
    let args = prop::option::of(prop_oneof![
        3 => prop::collection::vec(leaf(), 0..3).prop_map(Value::Array),
        1 => json_value(),
    ]);
    let kwargs = prop::option::of(prop_oneof![
        3 => kwargs().prop_map(Value::Object),
        1 => json_value(),
    ]);
    let id = prop::option::of(prop_oneof![Just(Value::Null), any_id()]);
    let result = prop::option::of(json_value());
    let error = prop::option::of(prop_oneof![
        Just(Value::Null),
        "[A-Za-z]{1,8}".prop_map(Value::String),
        json_value(),
    ]);
    let extra = prop::option::of(json_value());
    (method, args, kwargs, id, result, error, extra).prop_map(
        |(method, args, kwargs, id, result, error, extra)| {
            let mut o = Map::new();
            for (key, value) in [
                ("method", method),
                ("args", args),
                ("kwargs", kwargs),
                ("id", id),
                ("result", result),
                ("error", error),
                ("jsonrpc", extra),
            ] {
                if let Some(value) = value {
                    o.insert(key.to_owned(), value);
                }
            }
            Value::Object(o)
        },
    )
}

fn resp_form() -> impl Strategy<Value = RespForm> {
    prop_oneof![
        3 => Just(RespForm::ErrorNull),
        1 => Just(RespForm::ErrorAbsent),
        2 => "[A-Za-z]{1,8}".prop_map(RespForm::ErrorString),
        1 => prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            Just(json!([1, "x"])),
            Just(json!({"a": null})),
        ]
        .prop_map(RespForm::ErrorOther),
        1 => "[A-Za-z]{1,8}".prop_map(RespForm::ErrorOnly),
    ]
}

fn inject() -> impl Strategy<Value = Inject> {
    prop_oneof![
        4 => (pick(), resp_form()).prop_map(|(i, f)| Inject::RightId(i, f)),
        3 => pick().prop_map(Inject::Late),
        2 => any_id().prop_map(Inject::WrongId),
        1 => Just(Inject::NullId),
        4 => shaped().prop_map(Inject::Shaped),
        1 => json_value().prop_map(Inject::Json),
        1 => prop::collection::vec(any::<u8>(), 0..48).prop_map(Inject::Bytes),
        1 => (pick(), pick()).prop_map(|(f, at)| Inject::Truncated(f, at)),
        1 => any::<u16>().prop_map(Inject::Oversized),
    ]
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        8 => Just(Fate::Head),
        2 => any::<u16>().prop_map(Fate::Reorder),
        1 => any::<u16>().prop_map(Fate::Drop),
        1 => any::<u16>().prop_map(Fate::Duplicate),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let call = (
        side(),
        method(),
        prop::collection::vec(leaf(), 0..3),
        prop_oneof![3 => Just(Map::new()), 1 => kwargs()],
        size(),
        prop::option::of(0u16..100),
    )
        .prop_map(|(side, method, args, kwargs, size, timeout_ms)| Op::Call {
            side,
            method,
            args,
            kwargs,
            size,
            timeout_ms,
        });
    let notify = (
        side(),
        method(),
        prop::collection::vec(leaf(), 0..3),
        size(),
    )
        .prop_map(|(side, method, args, size)| Op::Notify {
            side,
            method,
            args,
            size,
        });
    let reply = (
        side(),
        pick(),
        any::<bool>(),
        prop::sample::select(vec!["ZeroDivisionError", "NotFound", "InvalidRequest", ""]),
        size(),
    )
        .prop_map(|(side, pick, ok, kind, size)| Op::Reply {
            side,
            pick,
            ok,
            kind,
            size,
        });
    let who = prop_oneof![side().prop_map(Some), Just(None)];
    // Boxed: the value trees of a union of unboxed strategies are large, and moving them
    // around took most of the time of a debug run.
    prop_oneof![
        28 => call.boxed(),
        8 => notify.boxed(),
        32 => side().prop_map(Op::Flush).boxed(),
        60 => (side(), fate()).prop_map(|(from, fate)| Op::Deliver { from, fate }).boxed(),
        28 => reply.boxed(),
        20 => (side(), inject()).prop_map(|(to, what)| Op::Inject { to, what }).boxed(),
        12 => (0u16..60, who).prop_map(|(ms, who)| Op::Advance { ms, who }).boxed(),
        6 => (side(), pick()).prop_map(|(side, pick)| Op::Cancel { side, pick }).boxed(),
        1 => side().prop_map(Op::Close).boxed(),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    let bytes = || prop::sample::select(vec![1_024usize, 8_192, 65_536]);
    (
        prop_oneof![4 => 1usize..=6, 1 => Just(1_024usize)],
        bytes(),
        bytes(),
    )
        .prop_map(|(outstanding, inbound, outbound)| Limits {
            outstanding,
            inbound,
            outbound,
        })
}

// ---------------------------------------------------------------------------------------------
// The operations, run on the shared model
// ---------------------------------------------------------------------------------------------

/// The key under which replies echo their request's id.
const ECHO: &str = "re";

/// Reply value carrying the request's id, so the caller can check its outcome is its own.
fn echo(id: &Value, seq: u64, size: Size) -> Value {
    json!({ECHO: id, "n": seq, "pad": size.pad()})
}

/// The shared [`Net`], whose peers also check the ids that replies echo: no other value in
/// these cases has the key `re` (object keys are one or two letters a-d).
struct World {
    net: Net,
    /// Numbers the replies, so that two answers to one id differ.
    seq: u64,
}

impl World {
    fn new(la: Limits, lb: Limits) -> Self {
        let mut net = Net::new(la, lb);
        net.a.check_echo(ECHO);
        net.b.check_echo(ECHO);
        Self { net, seq: 0 }
    }

    fn step(&mut self, op: &Op) {
        let net = &mut self.net;
        let now = net.now_ms;
        match op {
            Op::Call {
                side,
                method,
                args,
                kwargs,
                size,
                timeout_ms,
            } => {
                let params = Params::new(padded(args, *size), kwargs.clone());
                let timeout = timeout_ms.map(u64::from);
                net.peer(*side).call(method, params, now, timeout);
            }
            Op::Notify {
                side,
                method,
                args,
                size,
            } => {
                let params = Params::positional(padded(args, *size));
                net.peer(*side).notify(method, params);
            }
            Op::Flush(side) => net.flush(*side),
            Op::Deliver { from, fate } => net.deliver(*from, fate),
            Op::Reply {
                side,
                pick,
                ok,
                kind,
                size,
            } => {
                self.seq += 1;
                let seq = self.seq;
                net.peer(*side).reply(pick.0.into(), |id, _, _| {
                    if *ok {
                        Ok(echo(id, seq, *size))
                    } else {
                        Err(RpcError::new(*kind, echo(id, seq, *size)))
                    }
                });
            }
            Op::Inject { to, what } => hand_over(net, *to, what),
            Op::Advance { ms, who } => net.advance(u64::from(*ms), *who),
            Op::Cancel { side, pick } => net.peer(*side).cancel(pick.0.into()),
            Op::Close(side) => net.peer(*side).close(),
        }
    }
}

/// `args`, with the padding of `size` as one more.
fn padded(args: &[Value], size: Size) -> Vec<Value> {
    let mut args = args.to_vec();
    if !matches!(size, Size::Small) {
        args.push(json!(size.pad()));
    }
    args
}

/// A hand-made frame, handed to `to` as a binary message.
fn hand_over(net: &mut Net, to: Side, what: &Inject) {
    let peer = net.peer(to);
    let frame = match what {
        Inject::RightId(pick, form) => {
            let ids = peer.pending_ids();
            if ids.is_empty() {
                return;
            }
            let id = *pick.get(&ids);
            let re = json!({ECHO: id});
            match form {
                RespForm::ErrorNull => json!({"id": id, "result": re, "error": null}),
                RespForm::ErrorAbsent => json!({"id": id, "result": re}),
                RespForm::ErrorString(k) => json!({"id": id, "result": re, "error": k}),
                RespForm::ErrorOther(e) => json!({"id": id, "result": re, "error": e}),
                RespForm::ErrorOnly(k) => json!({"id": id, "error": k}),
            }
            .to_string()
        }
        Inject::Late(pick) => {
            let done = peer.resolved_ids();
            if done.is_empty() {
                return;
            }
            let id = *pick.get(&done);
            json!({"id": id, "result": "late", "error": null}).to_string()
        }
        Inject::WrongId(id) => json!({"id": id, "result": "wrong", "error": null}).to_string(),
        Inject::NullId => json!({"id": null, "result": "boom", "error": "TypeError"}).to_string(),
        Inject::Shaped(v) | Inject::Json(v) => with_lone_surrogates(v),
        Inject::Bytes(b) => {
            peer.receive(b, "injected bytes");
            return;
        }
        Inject::Truncated(pick, at) => return net.truncate(to, pick.0, at.0),
        Inject::Oversized(extra) => return net.oversized(to, *extra),
    };
    net.peer(to)
        .receive(frame.as_bytes(), &format!("injected {what:?}"));
}

fn run(la: Limits, lb: Limits, ops: &[Op]) {
    let mut world = World::new(la, lb);
    for op in ops {
        world.step(op);
        world.net.check_state();
    }
    world.net.finish();
}

/// The configuration of both properties.
fn config() -> ProptestConfig {
    ProptestConfig {
        // Write no regression files: a failure prints its minimal case, to be pasted into a
        // plain test.
        failure_persistence: None,
        // ChaCha, the default, takes half the time of a debug build.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn two_endpoints_follow_the_model(
        la in limits(),
        lb in limits(),
        ops in prop::collection::vec(op(), 1..150),
    ) {
        run(la, lb, &ops);
    }
}

/// One step of [`deadlines_follow_the_model`].
#[derive(Debug, Clone)]
enum DeadlineOp {
    Call(Option<u16>),
    /// A response to one of the outstanding calls.
    Answer(Pick),
    /// Cancel one of the calls ever made.
    Cancel(Pick),
    Advance(u16),
    /// Ask `poll_timeout`.
    Poll,
}

fn deadline_op() -> impl Strategy<Value = DeadlineOp> {
    prop_oneof![
        8 => prop::option::weighted(0.9, 0u16..1_000).prop_map(DeadlineOp::Call),
        4 => pick().prop_map(DeadlineOp::Answer),
        3 => pick().prop_map(DeadlineOp::Cancel),
        2 => (0u16..80).prop_map(DeadlineOp::Advance),
        1 => Just(DeadlineOp::Poll),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Many calls with deadlines on one endpoint, answered, cancelled and timed out in any
    /// order, with `poll_timeout` asked only now and then, so that deadlines of calls that
    /// already resolved pile up inside the endpoint as they would under a lazy driver.
    #[test]
    fn deadlines_follow_the_model(
        outstanding in prop::sample::select(vec![8usize, 64, 1_024]),
        ops in prop::collection::vec(deadline_op(), 1..400),
    ) {
        let limits = Limits { outstanding, inbound: 65_536, outbound: 65_536 };
        let mut now_ms = 0u64;
        let mut peer = Peer::new("A", limits, Instant::now());
        peer.check_echo(ECHO);
        let params = || Params::positional(vec![json!(1)]);
        for op in &ops {
            match op {
                DeadlineOp::Call(timeout) => {
                    peer.call("M", params(), now_ms, timeout.map(u64::from));
                }
                DeadlineOp::Answer(pick) => {
                    let ids = peer.pending_ids();
                    if !ids.is_empty() {
                        let id = *pick.get(&ids);
                        let frame = json!({"id": id, "result": {ECHO: id}, "error": null});
                        peer.receive(frame.to_string().as_bytes(), "an answer");
                    }
                }
                DeadlineOp::Cancel(pick) => peer.cancel(pick.0.into()),
                DeadlineOp::Advance(ms) => {
                    now_ms += u64::from(*ms);
                    peer.timeout(now_ms);
                }
                DeadlineOp::Poll => peer.check_deadline(),
            }
            peer.check_counts();
        }
        peer.check_deadline();
        // Closes; every call resolved exactly once.
        peer.finish();
    }
}

/// A deterministic run of the model through the paths the random cases must be able to reach,
/// so a change that makes the model vacuous shows up.
#[test]
fn model_smoke() {
    let small = Limits {
        outstanding: 2,
        inbound: 8_192,
        outbound: 8_192,
    };
    let i = Pick;
    let call = |side, timeout_ms| Op::Call {
        side,
        method: "Add",
        args: vec![json!(5), json!(10)],
        kwargs: Map::new(),
        size: Size::Small,
        timeout_ms,
    };
    let head = |from| Op::Deliver {
        from,
        fate: Fate::Head,
    };
    let reply = |ok, kind, size| Op::Reply {
        side: Side::B,
        pick: i(0),
        ok,
        kind,
        size,
    };
    let inject = |to, what| Op::Inject { to, what };
    let ops = vec![
        call(Side::A, None),
        call(Side::A, Some(10)),
        call(Side::A, None), // over the limit of 2
        Op::Notify {
            side: Side::A,
            method: "Log",
            args: vec![json!("x")],
            size: Size::Small,
        },
        Op::Flush(Side::A),
        Op::Deliver {
            from: Side::A,
            fate: Fate::Duplicate(0),
        },
        head(Side::A),
        head(Side::A),
        head(Side::A),
        reply(true, "", Size::Small),
        reply(false, "NotFound", Size::Small),
        reply(true, "", Size::Large),
        Op::Advance { ms: 10, who: None },
        Op::Flush(Side::B),
        head(Side::B),
        head(Side::B),
        head(Side::B),
        inject(Side::A, Inject::Late(i(0))),
        inject(Side::A, Inject::NullId),
        inject(Side::B, Inject::Shaped(json!({"method": 5, "id": 3}))),
        inject(Side::B, Inject::Shaped(json!({"method": "M", "args": 1}))),
        inject(Side::B, Inject::Shaped(json!({"method": LONE, "id": 4}))),
        inject(Side::B, Inject::Bytes(vec![0xff, b'{'])),
        call(Side::A, None),
        Op::Cancel {
            side: Side::A,
            pick: i(u16::MAX),
        },
        call(Side::A, Some(0)),
        inject(
            Side::A,
            Inject::RightId(i(0), RespForm::ErrorOther(json!(42))),
        ),
        call(Side::B, Some(5)),
        Op::Flush(Side::B),
        inject(Side::B, Inject::Oversized(1)),
    ];
    let mut world = World::new(small, small);
    for op in &ops {
        world.step(op);
        world.net.check_state();
    }
    let (a, b) = (&world.net.a, &world.net.b);
    assert_eq!(a.issued_count(), 4);
    assert!(b.is_closed(), "the oversized frame closed B");
    assert_eq!(b.resolved_ids().len(), 1);
    world.net.finish();
}

// ---------------------------------------------------------------------------------------------
// Findings of the model, as plain cases
// ---------------------------------------------------------------------------------------------

fn one_request(ep: &mut Endpoint, frame: &str) -> jrpc_proto::IncomingRequest {
    ep.handle_frame(frame.as_bytes()).expect("under the limit");
    match ep.poll_event() {
        Some(Event::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

/// A number in a request reaches the method as the double nearest to its decimal text
/// (RFC 8259 §6, and what every JavaScript and Python peer decodes). serde_json without its
/// `float_roundtrip` feature decodes these two one ulp off; the workspace enables it.
#[test]
fn floats_in_arguments_arrive_exactly() {
    let mut ep = Endpoint::default();
    let req = one_request(
        &mut ep,
        r#"{"method": "M", "args": [9128626932.046875, 938985914.8417975], "id": 1}"#,
    );
    assert_eq!(
        req.params.to_params().args[0].as_f64(),
        Some(9_128_626_932.046_875)
    );
    assert_eq!(
        req.params.to_params().args[1].as_f64(),
        Some(938_985_914.841_797_5)
    );
}

/// "The receiver sends exactly one response whose `id` is equal (the same JSON value) to the
/// request's": an integer id beyond 64 bits comes back as it came, not as a float (which a
/// Python peer, with unbounded integers, would not take for its id).
#[test]
fn big_integer_ids_are_echoed_verbatim() {
    let mut ep = Endpoint::default();
    let req = one_request(&mut ep, r#"{"method": "M", "id": 18446744073709551617}"#);
    ep.reply(req.responder, Ok(json!(1)));
    let frame = ep.poll_transmit().expect("an answer");
    assert!(
        frame.starts_with(r#"{"id":18446744073709551617,"#),
        "answered {frame}"
    );
}

/// "An object with a `method` key: a request. Otherwise, an object with an `id` key and a
/// `result` or `error` key: a response." A message the core cannot decode (a lone surrogate
/// escape) is still answered or still fails its call, even when those keys are `null` (the
/// core's probe once read `"result": null` or `"method": null` as an absent key).
#[test]
fn undecodable_frames_are_told_apart_by_their_keys() {
    let mut ep = Endpoint::default();
    let a = ep
        .call("A", &Params::default(), Instant::now(), None)
        .unwrap();
    ep.poll_transmit();
    let answer = format!(
        r#"{{"id": {}, "result": null, "error": null, "note": "\ud800"}}"#,
        a.get()
    );
    ep.handle_frame(answer.as_bytes()).unwrap();
    match ep.poll_event() {
        Some(Event::Outcome(o)) => assert_eq!(o.id, a),
        other => panic!("call {a} is left to time out: {other:?}"),
    }
    ep.handle_frame(br#"{"method": null, "args": ["\ud800"], "id": 7}"#)
        .unwrap();
    while ep.poll_event().is_some() {}
    let reply = ep
        .poll_transmit()
        .expect("an InvalidRequest answer to request 7");
    assert!(reply.starts_with(r#"{"id":7,"#), "{reply}");
}
