//! The large-message loads: a method that takes and returns 64 KiB or 1 MiB of JSON as its one
//! argument, in two shapes: one string (`echo_text`, a `|text: String| text`) and an array of
//! objects (`echo_items`, a `|(items,): (Vec<Item>,)| items`: the one-tuple takes exactly one
//! positional argument, where a bare `Vec<Item>` parameter would take all of them), both typed
//! as a Rust service would write them, and called with `"args":[payload]` as a page calling
//! `echo_items(items)` would. The same objects also go to `echo_raw`, a
//! `|(items,): (Box<RawValue>,)| items`: a service that passes JSON through without making
//! types of it, reported beside the typed one. The echo servers get the same request frames
//! and return them whole (the floor).
//!
//! The payloads are serde_json's own output, so a server that decodes and re-encodes them
//! returns the very same bytes: the client checks each answer by finding the payload in it
//! and comparing every byte (a `memcmp`, far cheaper than the server's parse).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One object of the array payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    /// A number.
    pub id: u64,
    /// A short text.
    pub name: String,
    /// A few short texts.
    pub tags: Vec<String>,
}

/// The shape of a large payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One JSON string.
    Text,
    /// A JSON array of small objects (`{"id":…,"name":…,"tags":[…]}`).
    Items,
    /// The same array, taken and returned as a `Box<RawValue>` (checked, not made into types).
    Raw,
}

impl Shape {
    /// The shapes, in the order they run.
    pub const ALL: [Self; 3] = [Self::Text, Self::Items, Self::Raw];

    /// Its name in `--shapes`.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Text => "string",
            Self::Items => "objects",
            Self::Raw => "raw",
        }
    }

    /// Its name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "string",
            Self::Items => "objects",
            Self::Raw => "objects, raw",
        }
    }

    /// The method that takes and returns it.
    pub fn method(self) -> &'static str {
        match self {
            Self::Text => "echo_text",
            Self::Items => "echo_items",
            Self::Raw => "echo_raw",
        }
    }
}

/// One size of the large-message loads.
#[derive(Debug, Clone, Copy)]
pub struct BigLoad {
    /// Its name in `--loads`.
    pub name: &'static str,
    /// Its name in the tables.
    pub label: &'static str,
    /// Size of the payload (the method's argument and result), in bytes of JSON.
    pub bytes: usize,
}

/// The large-message loads, in the order they run.
pub const BIG_LOADS: [BigLoad; 2] = [
    BigLoad {
        name: "big64k",
        label: "64 KiB",
        bytes: 64 << 10,
    },
    BigLoad {
        name: "big1m",
        label: "1 MiB",
        bytes: 1 << 20,
    },
];

/// Calls in flight on the one connection of a large-message load.
pub const BIG_WINDOW: usize = 4;

/// The systems that serve `echo_text` and `echo_items` (or echo every frame).
pub const BIG_SYSTEMS: [&str; 6] = [
    "jrpc-tokio",
    "jrpc-axum",
    "jrpc-async-std",
    "echo",
    "echo-async-std",
    "echo-fws",
];

/// A large payload and the calls that carry it.
#[derive(Debug)]
pub struct Payload {
    shape: Shape,
    method: &'static str,
    /// The payload, as JSON.
    json: String,
}

impl Payload {
    /// The payload of `shape`, `bytes` long (a string exactly, an array of objects to within
    /// one object).
    pub fn new(shape: Shape, bytes: usize) -> Result<Arc<Self>, String> {
        let json = match shape {
            Shape::Text => serde_json::to_string(&text(bytes)),
            Shape::Items | Shape::Raw => serde_json::to_string(&items(bytes)),
        }
        .map_err(|e| format!("encoding the payload: {e}"))?;
        Ok(Arc::new(Self {
            shape,
            method: shape.method(),
            json,
        }))
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.json.len()
    }

    /// The request frame with id `id`.
    pub fn request(&self, id: u64) -> String {
        let mut frame = String::with_capacity(self.json.len() + 64);
        frame.push_str(r#"{"method":""#);
        frame.push_str(self.method);
        frame.push_str(r#"","args":["#);
        frame.push_str(&self.json);
        frame.push_str(r#"],"kwargs":{},"id":"#);
        frame.push_str(&id.to_string());
        frame.push('}');
        frame
    }

    /// Whether `frame` holds the payload, byte for byte, with at most 128 bytes around it (a
    /// jrpc answer `{"id":N,"result":…,"error":null}`, or the echoed request).
    pub fn is_answer(&self, frame: &str) -> bool {
        let (frame, json) = (frame.as_bytes(), self.json.as_bytes());
        let Some(slack) = frame.len().checked_sub(json.len()) else {
            return false;
        };
        slack <= 128
            && (0..=slack).any(|start| {
                frame[start..].starts_with(&json[..json.len().min(32)])
                    && &frame[start..start + json.len()] == json
            })
    }

    /// serde_json's own work for `length`, on this thread and with no socket: the payload
    /// decoded into the method's parameter type (`String`, `Vec<Item>`, `Box<RawValue>`) and
    /// encoded back, as the method's server does for each call, over and over; the calls made
    /// and this thread's CPU seconds. The floor of a typed method, whatever carries it: the
    /// large-message table gives each server's CPU per MB over it. Fails if the encoding is not
    /// the payload, byte for byte (as an answer would be checked).
    pub fn codec_floor(&self, length: Duration) -> Result<(u64, f64), String> {
        fn round<T: DeserializeOwned + Serialize>(json: &str) -> serde_json::Result<String> {
            serde_json::to_string(&serde_json::from_str::<T>(json)?)
        }
        let round = match self.shape {
            Shape::Text => round::<String>,
            Shape::Items => round::<Vec<Item>>,
            Shape::Raw => round::<Box<RawValue>>,
        };
        let (started, cpu) = (Instant::now(), crate::sys::thread_cpu_seconds());
        let mut calls = 0;
        while calls == 0 || started.elapsed() < length {
            let encoded = round(&self.json).map_err(|e| format!("serde_json alone: {e}"))?;
            if encoded != self.json {
                return Err("serde_json alone: the payload did not come back whole".to_owned());
            }
            calls += 1;
        }
        // At least a nanosecond: the figures divide by it.
        Ok((calls, (crate::sys::thread_cpu_seconds() - cpu).max(1e-9)))
    }
}

/// A text whose JSON encoding is exactly `bytes` long: words, spaces, a line break (`\n`, two
/// bytes encoded) now and then and a non-ASCII word (`é` is two bytes of UTF-8).
fn text(bytes: usize) -> String {
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
    // The two quotes.
    let mut encoded = 2;
    let mut text = String::with_capacity(bytes);
    let mut word = 0;
    while encoded < bytes {
        let next = if word % 12 == 11 {
            "\n"
        } else {
            WORDS[word % 8]
        };
        let cost = next.len() + usize::from(next == "\n") + 1;
        if encoded + cost > bytes {
            text.push('x');
            encoded += 1;
            continue;
        }
        text.push_str(next);
        text.push(' ');
        encoded += cost;
        word += 1;
    }
    text
}

/// An array of objects whose JSON encoding is `bytes` long or a little more.
fn items(bytes: usize) -> Vec<Item> {
    const TAGS: [&str; 5] = ["red", "green", "blue", "round", "square"];
    // The brackets.
    let mut encoded = 2;
    let mut items = Vec::new();
    while encoded < bytes {
        let id = items.len() as u64;
        let item = Item {
            id,
            name: format!("item number {id}"),
            tags: TAGS[..1 + id as usize % TAGS.len()]
                .iter()
                .map(|tag| (*tag).to_owned())
                .collect(),
        };
        // `{"id":…,"name":"…","tags":[…]}` and a comma.
        encoded += 27
            + id.to_string().len()
            + item.name.len()
            + item.tags.iter().map(|tag| tag.len() + 3).sum::<usize>();
        items.push(item);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_their_size_and_answers_are_checked_byte_for_byte() {
        for load in BIG_LOADS {
            let text = Payload::new(Shape::Text, load.bytes).unwrap();
            assert_eq!(text.len(), load.bytes);
            let items = Payload::new(Shape::Items, load.bytes).unwrap();
            assert!(items.len() >= load.bytes && items.len() < load.bytes + 100);
            let raw = Payload::new(Shape::Raw, load.bytes).unwrap();
            assert_eq!(raw.json, items.json);
            for payload in [text, items, raw] {
                let answer = format!(r#"{{"id":7,"result":{},"error":null}}"#, payload.json);
                assert!(payload.is_answer(&answer));
                assert!(payload.is_answer(&payload.request(7)));
                let spoiled = answer
                    .replacen("ipsum", "ipsun", 1)
                    .replacen(":3,", ":4,", 1);
                assert!(!payload.is_answer(&spoiled));
                assert!(!payload.is_answer(&answer[..answer.len() - 40]));
                let error = r#"{"id":7,"result":null,"error":"InvalidParams"}"#;
                assert!(!payload.is_answer(error));
                let (calls, cpu) = payload.codec_floor(Duration::ZERO).unwrap();
                assert!(calls == 1 && cpu > 0.0);
            }
        }
    }
}
