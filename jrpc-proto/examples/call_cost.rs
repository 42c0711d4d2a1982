//! The core's share of one served call, for counting instructions under callgrind: frames fed
//! to an endpoint, each request bound, answered and its answer taken, with no IO.
//!
//! ```text
//! cargo build --release -p jrpc-proto --example call_cost
//! valgrind --tool=callgrind target/release/examples/call_cost small 100000
//! callgrind_annotate --inclusive=yes callgrind.out.*   # Endpoint::handle_text, Args::bind, …
//! ```
//!
//! Shapes: `small` (`add(1, 2)`, the benchmark's call), `records` (one argument of 20,000
//! records, 1.26 MB, bound to `Vec<Record>`), `raw` (the same records bound to
//! `Box<RawValue>` and answered as they came, the benchmark's `echo_raw`), `string` (one 1 MiB string argument), `text`
//! (one string argument of 1 MiB of words with a `\n` escape every 70 bytes or so and some
//! UTF-8, like the benchmark's `big1m` string), `dense` (1 MiB of a quote or a line break
//! every few bytes) and `json` (1 MiB of JSON text inside a string: a quote every few bytes).
//! The string scans' cost depends on how far apart the escapes are: a change to them is
//! measured on `text`, `dense` and `json`. Divide a function's inclusive count by the number
//! of frames.

use std::error::Error;

use jrpc_proto::{Endpoint, Event, WriteJson};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One record of the `records` shape.
#[derive(Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    tags: Vec<String>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "small".to_owned());
    let frames: u64 = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let mut endpoint = Endpoint::default();
    let mut written = 0;
    for id in 0..frames {
        let frame = match shape.as_str() {
            "small" => format!(r#"{{"method":"add","args":[1,2],"kwargs":{{}},"id":{id}}}"#),
            "records" | "raw" => request(id, &serde_json::to_string(&records())?),
            "string" => request(id, &serde_json::to_string(&"abcdefghij".repeat(104_858))?),
            "text" => request(id, &serde_json::to_string(&text())?),
            "dense" => request(
                id,
                &serde_json::to_string(&repeated("7:2 café \"quoted\"\n"))?,
            ),
            "json" => request(
                id,
                &serde_json::to_string(&repeated(
                    r#"{"name":"item 12","tags":["red","green"],"id":12,"ok":true}"#,
                ))?,
            ),
            other => {
                return Err(format!(
                    "unknown shape {other}: small, records, raw, string, text, dense or json"
                )
                .into());
            }
        };
        endpoint.handle_text(&frame)?;
        while let Some(event) = endpoint.poll_event() {
            let Event::Request(request) = event else {
                continue;
            };
            let result = match shape.as_str() {
                "small" => request
                    .params
                    .bind::<(f64, f64)>()
                    .map(|(a, b)| answer(a + b)),
                "records" => request
                    .params
                    .bind::<(Vec<Record>,)>()
                    .map(|(r,)| answer(r)),
                "raw" => request
                    .params
                    .bind::<(Box<RawValue>,)>()
                    .map(|(r,)| answer(r)),
                _ => request.params.bind::<String>().map(answer),
            };
            let result = result.as_ref().map(|value| value.as_ref());
            endpoint.reply_with(request.responder, result);
        }
        while let Some(answer) = endpoint.poll_transmit() {
            written += answer.len();
        }
    }
    println!("{frames} calls, {written} bytes answered");
    Ok(())
}

/// A request of `echo` with one argument, written as its JSON text.
fn request(id: u64, argument: &str) -> String {
    format!(r#"{{"method":"echo","args":[{argument}],"kwargs":{{}},"id":{id}}}"#)
}

/// A result, held as a method's would be.
fn answer<T: Serialize + 'static>(value: T) -> Box<dyn WriteJson> {
    Box::new(value)
}

/// About 1 MiB of words, a line break every twelve of them.
fn text() -> String {
    const WORDS: [&str; 8] = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "café",
        "consectetur",
        "adipiscing",
    ];
    let mut text = String::with_capacity(1 << 20);
    for word in 0.. {
        if text.len() >= 1 << 20 {
            break;
        }
        text.push_str(if word % 12 == 11 {
            "\n"
        } else {
            WORDS[word % 8]
        });
        text.push(' ');
    }
    text
}

/// `unit` repeated to about 1 MiB.
fn repeated(unit: &str) -> String {
    unit.repeat((1 << 20) / unit.len())
}

/// 20,000 records, 1.26 MB of JSON.
fn records() -> Vec<Record> {
    (0..20_000)
        .map(|i| Record {
            id: i,
            name: format!("item number {i}"),
            tags: ["alpha", "beta", "gamma"][..1 + i as usize % 3]
                .iter()
                .map(|tag| (*tag).to_owned())
                .collect(),
        })
        .collect()
}
