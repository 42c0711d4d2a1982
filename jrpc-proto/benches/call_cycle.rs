//! One full call cycle through two endpoints, against plain `serde_json` doing the same
//! encoding and decoding by hand:
//!
//! A.call("Add", [5, 10]) → A.poll_transmit → B.handle_frame → B.poll_event (Request) →
//! B.reply(Ok(15)) → B.poll_transmit → A.handle_frame → A.poll_event (Outcome).
//!
//! After criterion's groups it times both again with a plain loop and prints
//! `ratio core/plain-json: X.XX` (the goal is at most 1.3).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use jrpc_proto::{Endpoint, Event, Params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The whole cycle through the core; returns the call's result.
fn core_cycle(a: &mut Endpoint, b: &mut Endpoint, params: &Params, now: Instant) -> Value {
    let id = a.call("Add", params, now, None).expect("room for the call");
    let request = a.poll_transmit().expect("the request");
    b.handle_frame(request.as_bytes()).expect("under the limit");
    let Some(Event::Request(req)) = b.poll_event() else {
        panic!("expected the request")
    };
    let (x, y): (i64, i64) = req.params.bind().expect("two integers");
    let sum = x + y;
    b.reply(req.responder, Ok(json!(sum)));
    let response = b.poll_transmit().expect("the response");
    a.handle_frame(response.as_bytes())
        .expect("under the limit");
    let Some(Event::Outcome(outcome)) = a.poll_event() else {
        panic!("expected the outcome")
    };
    debug_assert_eq!(outcome.id, id);
    outcome.result.expect("15")
}

#[derive(Serialize)]
struct RequestOut<'a> {
    method: &'a str,
    args: &'a [Value],
    kwargs: &'a Map<String, Value>,
    id: u64,
}

#[derive(Deserialize)]
struct RequestIn {
    method: String,
    args: Vec<Value>,
    #[allow(dead_code)]
    kwargs: Map<String, Value>,
    id: Value,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    id: &'a Value,
    result: &'a Value,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
struct ResponseIn {
    #[allow(dead_code)]
    id: Value,
    result: Value,
    error: Option<String>,
}

/// The same frames with plain serde_json: encode the request, decode it, encode the
/// response, decode it.
fn plain_cycle(params: &Params, id: u64) -> Value {
    let request = serde_json::to_string(&RequestOut {
        method: "Add",
        args: &params.args,
        kwargs: &params.kwargs,
        id,
    })
    .expect("encodes");
    let req: RequestIn = serde_json::from_str(&request).expect("decodes");
    assert_eq!(req.method, "Add");
    let sum = req.args.iter().filter_map(Value::as_i64).sum::<i64>();
    let response = serde_json::to_string(&ResponseOut {
        id: &req.id,
        result: &json!(sum),
        error: None,
    })
    .expect("encodes");
    let resp: ResponseIn = serde_json::from_str(&response).expect("decodes");
    assert!(resp.error.is_none());
    resp.result
}

fn params() -> Params {
    Params::positional(vec![json!(5), json!(10)])
}

fn call_cycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("call_cycle");
    let params = params();
    let now = Instant::now();
    let (mut a, mut b) = (Endpoint::default(), Endpoint::default());
    assert_eq!(core_cycle(&mut a, &mut b, &params, now), json!(15));
    group.bench_function("core", |bench| {
        bench.iter(|| core_cycle(&mut a, &mut b, black_box(&params), now));
    });
    assert_eq!(plain_cycle(&params, 1), json!(15));
    let mut id = 0u64;
    group.bench_function("plain_json", |bench| {
        bench.iter(|| {
            id += 1;
            plain_cycle(black_box(&params), id)
        });
    });
    group.finish();
}

criterion_group!(benches, call_cycle);

/// Nanoseconds per cycle of `f` over `n` runs.
fn per_cycle(n: u32, mut f: impl FnMut() -> Value) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        black_box(f());
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

/// Both cycles in alternating rounds; the best round of each, which is the least disturbed.
fn ratio(n: u32, rounds: u32) {
    let params = params();
    let now = Instant::now();
    let (mut a, mut b) = (Endpoint::default(), Endpoint::default());
    let mut id = 0u64;
    let (mut core, mut plain) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        core = core.min(per_cycle(n, || {
            core_cycle(&mut a, &mut b, black_box(&params), now)
        }));
        plain = plain.min(per_cycle(n, || {
            id += 1;
            plain_cycle(black_box(&params), id)
        }));
    }
    println!(
        "core: {core:.0} ns/cycle, plain json: {plain:.0} ns/cycle ({n} cycles, best of {rounds} rounds)"
    );
    println!("ratio core/plain-json: {:.2}", core / plain);
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` runs this binary with `--bench`; `cargo test` (`--all-targets`, `--benches`)
    // without it, and one short round is enough there.
    if std::env::args().any(|arg| arg == "--bench") {
        ratio(200_000, 5);
    } else {
        ratio(1_000, 1);
    }
}
