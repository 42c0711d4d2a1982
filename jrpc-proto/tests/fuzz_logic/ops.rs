//! The `ops` target: two endpoints A and B joined by a network that may deliver, reorder, drop,
//! duplicate or cut frames, driven by a sequence of operations decoded from the input with
//! `arbitrary`. Every operation goes through [`Peer`], which checks it; at the end both sides
//! close and every call has resolved exactly once.

use arbitrary::{Arbitrary, Unstructured};
use jrpc_proto::{MAX_ID, Params, RpcError};
use serde_json::{Map, Value, json};

use super::net::{Fate, Net, Side};
use super::peer::{Limits, Peer};

/// At most this many operations per input, so that one input stays fast.
const MAX_OPS: usize = 400;

/// A JSON value of depth at most 3. Object keys are often the protocol's own.
#[derive(Debug, Clone)]
pub struct Json(pub Value);

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        value(u, 3).map(Json)
    }
}

fn value(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let last = if depth == 0 { 6 } else { 8 };
    Ok(match u.int_in_range(0..=last)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => json!(u.int_in_range(0u64..=40)?),
        // Non-finite floats become null, as serde_json writes them.
        4 => Value::from(u.arbitrary::<f64>()?),
        5 => Value::String(u.arbitrary()?),
        6 => Value::String(key(u)?),
        7 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array(
                (0..n)
                    .map(|_| value(u, depth - 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            let n = u.int_in_range(0..=4)?;
            let mut map = Map::new();
            for _ in 0..n {
                map.insert(key(u)?, value(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

fn key(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    const KEYS: &[&str] = &[
        "a", "b", "c", "aa", "method", "args", "kwargs", "id", "result", "error",
    ];
    if u.ratio(3, 4)? {
        Ok((*u.choose(KEYS)?).to_owned())
    } else {
        u.arbitrary()
    }
}

/// A method name: usually one of a few, sometimes anything.
#[derive(Debug, Arbitrary)]
enum Method {
    Add,
    Echo,
    Unicode,
    Empty,
    Any(String),
}

impl Method {
    fn name(&self) -> &str {
        match self {
            Method::Add => "Add",
            Method::Echo => "Echo",
            Method::Unicode => "Ünï \u{1F600}",
            Method::Empty => "",
            Method::Any(s) => s,
        }
    }
}

/// Padding added to a payload: none, a little, or enough to cross the limits (256, 1024 and
/// 8192 bytes).
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Pad {
    None,
    Small(u8),
    Large(u16),
}

impl Pad {
    fn text(self) -> Option<String> {
        match self {
            Pad::None => None,
            Pad::Small(n) => Some("p".repeat(n.into())),
            Pad::Large(n) => Some("P".repeat(usize::from(n) % 10_000)),
        }
    }
}

/// The `error` of a hand-made response.
#[derive(Debug, Arbitrary)]
enum ErrorForm {
    Null,
    Absent,
    Kind(String),
    Other(Json),
}

/// The `id` of a hand-made frame.
#[derive(Debug, Arbitrary)]
enum Id {
    /// One of the receiver's outstanding calls.
    Pending(u16),
    /// One of the receiver's calls that already resolved.
    Resolved(u16),
    Small(u8),
    Max,
    OverMax,
    Huge,
    Negative,
    Float,
    Text,
    Any(Json),
}

#[derive(Debug, Arbitrary)]
enum Op {
    Call {
        side: Side,
        method: Method,
        args: Vec<Json>,
        kwargs: Vec<(String, Json)>,
        pad: Pad,
        timeout_ms: Option<u8>,
    },
    Notify {
        side: Side,
        method: Method,
        args: Vec<Json>,
        pad: Pad,
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
        pick: u16,
        error: Option<String>,
        value: Json,
        pad: Pad,
    },
    /// A hand-made response.
    Respond {
        to: Side,
        id: Id,
        result: Option<Json>,
        error: ErrorForm,
    },
    /// A hand-made object with any of the protocol's keys.
    Shaped {
        to: Side,
        method: Option<Json>,
        args: Option<Json>,
        kwargs: Option<Json>,
        id: Option<Id>,
        result: Option<Json>,
        error: Option<Json>,
    },
    /// Any JSON value.
    Json {
        to: Side,
        value: Json,
    },
    /// Any bytes.
    Bytes {
        to: Side,
        bytes: Vec<u8>,
    },
    /// A frame in flight to `to`, cut short.
    Truncate {
        to: Side,
        pick: u16,
        at: u16,
    },
    /// A message over the receiver's inbound limit.
    Oversized {
        to: Side,
        extra: u8,
    },
    /// Time passes, then `handle_timeout` on one side or both.
    Advance {
        ms: u8,
        who: Option<Side>,
    },
    /// Cancel one of the calls the endpoint ever made (outstanding or not).
    Cancel {
        side: Side,
        pick: u16,
    },
    Close(Side),
}

fn limits(u: &mut Unstructured<'_>) -> arbitrary::Result<Limits> {
    let bytes = [256, 1024, 8192];
    Ok(Limits {
        outstanding: match u.int_in_range(0..=8)? {
            8 => 1024,
            n => n + 1,
        },
        inbound: *u.choose(&bytes)?,
        outbound: *u.choose(&bytes)?,
    })
}

/// The value of a hand-made frame's `id` for `peer`.
fn wire_id(peer: &Peer, id: &Id) -> Value {
    let pick = |ids: Vec<u64>, i: u16| match ids.len() {
        0 => json!(1),
        n => json!(ids[usize::from(i) % n]),
    };
    match id {
        Id::Pending(i) => pick(peer.pending_ids(), *i),
        Id::Resolved(i) => pick(peer.resolved_ids(), *i),
        Id::Small(n) => json!(n),
        Id::Max => json!(MAX_ID),
        Id::OverMax => json!(MAX_ID + 1),
        Id::Huge => json!(u64::MAX),
        Id::Negative => json!(-1),
        Id::Float => json!(1.0),
        Id::Text => json!("1"),
        Id::Any(v) => v.0.clone(),
    }
}

/// The arguments, with the padding as one more if there is any.
fn padded(args: &[Json], pad: Pad) -> Vec<Value> {
    let mut args: Vec<Value> = args.iter().map(|v| v.0.clone()).collect();
    args.extend(pad.text().map(Value::String));
    args
}

/// One operation.
fn step(net: &mut Net, op: &Op) {
    let now = net.now_ms;
    match op {
        Op::Call {
            side,
            method,
            args,
            kwargs,
            pad,
            timeout_ms,
        } => {
            let args = padded(args, *pad);
            let kwargs = kwargs
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect();
            let timeout = timeout_ms.map(u64::from);
            net.peer(*side)
                .call(method.name(), Params::new(args, kwargs), now, timeout);
        }
        Op::Notify {
            side,
            method,
            args,
            pad,
        } => {
            let args = padded(args, *pad);
            net.peer(*side)
                .notify(method.name(), Params::positional(args));
        }
        Op::Flush(side) => net.flush(*side),
        Op::Deliver { from, fate } => net.deliver(*from, fate),
        Op::Reply {
            side,
            pick,
            error,
            value,
            pad,
        } => {
            let mut value = value.0.clone();
            if let Some(pad) = pad.text() {
                value = json!([value, pad]);
            }
            net.peer(*side)
                .reply(usize::from(*pick), |_, _, _| match error {
                    None => Ok(value),
                    Some(kind) => Err(RpcError::new(kind.clone(), value)),
                });
        }
        Op::Respond {
            to,
            id,
            result,
            error,
        } => {
            let mut o = Map::new();
            o.insert("id".to_owned(), wire_id(net.peer(*to), id));
            if let Some(result) = result {
                o.insert("result".to_owned(), result.0.clone());
            }
            match error {
                ErrorForm::Null => {
                    o.insert("error".to_owned(), Value::Null);
                }
                ErrorForm::Absent => {}
                ErrorForm::Kind(kind) => {
                    o.insert("error".to_owned(), json!(kind));
                }
                ErrorForm::Other(v) => {
                    o.insert("error".to_owned(), v.0.clone());
                }
            }
            let frame = Value::Object(o).to_string();
            net.peer(*to).receive_text(&frame, "a hand-made response");
        }
        Op::Shaped {
            to,
            method,
            args,
            kwargs,
            id,
            result,
            error,
        } => {
            let mut o = Map::new();
            let id = id.as_ref().map(|id| wire_id(net.peer(*to), id));
            for (k, v) in [
                ("method", method.as_ref().map(|v| v.0.clone())),
                ("args", args.as_ref().map(|v| v.0.clone())),
                ("kwargs", kwargs.as_ref().map(|v| v.0.clone())),
                ("id", id),
                ("result", result.as_ref().map(|v| v.0.clone())),
                ("error", error.as_ref().map(|v| v.0.clone())),
            ] {
                if let Some(v) = v {
                    o.insert(k.to_owned(), v);
                }
            }
            let frame = Value::Object(o).to_string();
            net.peer(*to).receive_text(&frame, "a hand-made object");
        }
        Op::Json { to, value } => {
            let frame = value.0.to_string();
            net.peer(*to).receive_text(&frame, "a JSON value");
        }
        Op::Bytes { to, bytes } => net.peer(*to).receive(bytes, "bytes"),
        Op::Truncate { to, pick, at } => net.truncate(*to, *pick, *at),
        Op::Oversized { to, extra } => net.oversized(*to, u16::from(*extra)),
        Op::Advance { ms, who } => net.advance(u64::from(*ms), *who),
        Op::Cancel { side, pick } => net.peer(*side).cancel(usize::from(*pick)),
        Op::Close(side) => net.peer(*side).close(),
    }
}

/// Decodes limits for A and B, then operations until the input runs out, checking both
/// endpoints after each; then what is queued is delivered in order, both close, and every call
/// has resolved exactly once.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(la), Ok(lb)) = (limits(&mut u), limits(&mut u)) else {
        return;
    };
    let mut net = Net::new(la, lb);
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        step(&mut net, &op);
        net.check_state();
    }
    net.finish();
}
