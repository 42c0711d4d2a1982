//! The answer exactly as the server wrote it. The driver hands a result over as a
//! `serde_json::Value`, whose numbers are 64-bit integers or doubles: `9999999999800000000001`
//! would print as `9.9999999998e21`. So the client's socket is tapped: the id of the one
//! request sent is noted, and the raw text of the `result` of the response with that id is
//! kept, to be printed instead of the value when both say the same.
//!
//! (`serde_json`'s `arbitrary_precision` would do it too, but features unify across a
//! workspace and it would change the core's number rules for every crate built with this one.)

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::{Sink, Stream, StreamExt};
use jrpc_driver::tungstenite::handshake::client::{Request, Response};
use jrpc_driver::tungstenite::handshake::server::Callback;
use jrpc_driver::tungstenite::protocol::WebSocketConfig;
use jrpc_driver::tungstenite::{Error as WsError, Message};
use jrpc_driver::{Dial, Runtime, Sleep};
use jrpc_tokio::Tokio;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

/// What the tap has seen: the id of the request sent, then the raw result of its answer. One
/// per process: the CLI makes one call, and `Runtime::connect` has no state to carry it in.
static SEEN: Mutex<Seen> = Mutex::new(Seen {
    request_id: None,
    result: None,
});

struct Seen {
    request_id: Option<Value>,
    result: Option<Box<RawValue>>,
}

/// The keys of a frame that tell a request from a response, values left raw.
#[derive(Deserialize)]
struct Frame {
    method: Option<IgnoredAny>,
    id: Option<Value>,
    result: Option<Box<RawValue>>,
    error: Option<IgnoredAny>,
}

/// The result of the answer, compacted to one line with its text otherwise untouched, if the
/// server wrote one that means `value` (the result or the failure details the driver gave).
pub(crate) fn exact(value: &Value) -> Option<String> {
    let seen = SEEN.lock().ok()?;
    let raw = seen.result.as_ref()?.get();
    let same = serde_json::from_str::<Value>(raw).is_ok_and(|parsed| parsed == *value);
    same.then(|| compact(raw))
}

/// Notes the id of the first request sent.
fn outbound(text: &str) {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        return;
    };
    if let (Some(_), Some(id), Ok(mut seen)) = (frame.method, frame.id, SEEN.lock()) {
        if seen.request_id.is_none() && !id.is_null() {
            seen.request_id = Some(id);
        }
    }
}

/// Keeps the raw result of the first response to the request sent.
fn inbound(text: &str) {
    let Ok(mut seen) = SEEN.lock() else {
        return;
    };
    if seen.request_id.is_none() || seen.result.is_some() {
        return;
    }
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        return;
    };
    let answers = frame.method.is_none()
        && (frame.result.is_some() || frame.error.is_some())
        && frame.id.is_some()
        && frame.id == seen.request_id;
    if answers {
        seen.result = frame.result;
    }
}

/// JSON text on one line: whitespace outside strings removed, everything else (numbers,
/// string escapes) as written.
fn compact(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Tokio, with the client's socket tapped.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tapped;

/// A client WebSocket whose text frames, both ways, pass by [`outbound`] and [`inbound`].
pub(crate) struct Tap<S>(S);

impl<S: Stream<Item = Result<Message, WsError>> + Unpin> Stream for Tap<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.0.poll_next_unpin(cx);
        if let Poll::Ready(Some(Ok(Message::Text(text)))) = &item {
            inbound(text.as_str());
        }
        item
    }
}

impl<S: Sink<Message, Error = WsError> + Unpin> Sink<Message> for Tap<S> {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.0).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
        if let Message::Text(text) = &item {
            outbound(text.as_str());
        }
        Pin::new(&mut self.0).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Everything as [`Tokio`] does it; only the client socket is wrapped.
impl Runtime for Tapped {
    type Listener = <Tokio as Runtime>::Listener;
    type Tcp = <Tokio as Runtime>::Tcp;
    type ServerSocket = <Tokio as Runtime>::ServerSocket;
    type ClientSocket = Tap<<Tokio as Runtime>::ClientSocket>;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Tokio.spawn(future)
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Tokio.sleep_until(deadline)
    }

    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        Tokio.bind(addr)
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        Tokio::local_addr(listener)
    }

    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Tcp, SocketAddr)>> + Send {
        Tokio::accept(listener)
    }

    fn accept_websocket<C>(
        tcp: Self::Tcp,
        callback: C,
        config: WebSocketConfig,
    ) -> impl Future<Output = Result<Self::ServerSocket, WsError>> + Send
    where
        C: Callback + Unpin + Send + 'static,
    {
        Tokio::accept_websocket(tcp, callback, config)
    }

    async fn connect(
        request: Request,
        dial: Dial,
    ) -> Result<(Self::ClientSocket, Response), WsError> {
        let (socket, response) = Tokio::connect(request, dial).await?;
        Ok((Tap(socket), response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_keeps_numbers_and_strings_as_written() {
        assert_eq!(
            compact("[ 1,\n  9999999999800000000001 , 1.50e3 ]"),
            "[1,9999999999800000000001,1.50e3]"
        );
        assert_eq!(
            compact(r#"{ "a b": "x \" y\\", "\u00e9" : [ ] }"#),
            r#"{"a b":"x \" y\\","\u00e9":[]}"#
        );
    }

    /// The whole exchange, in one test since the record is process-wide: only the answer to
    /// the request sent is kept, and only while it means what the driver decoded.
    #[test]
    fn keeps_the_answer_to_the_request_sent() {
        inbound(r#"{"id":1,"result":5,"error":null}"#); // before any request: ignored
        outbound(r#"{"id":7,"result":null,"error":"MethodNotFound"}"#); // a response we sent
        outbound(r#"{"method":"Add","args":[],"kwargs":{},"id":3}"#);
        outbound(r#"{"method":"Later","args":[],"kwargs":{},"id":4}"#);
        inbound(r#"{"method":"Ping","args":[],"kwargs":{},"id":3}"#); // a request to us
        inbound(r#"{"id":2,"result":1,"error":null}"#); // another id
        inbound(r#"{"id":3, "result": [ 9999999999800000000001 ], "error":null}"#);
        inbound(r#"{"id":3,"result":[2],"error":null}"#); // a duplicate: the first counts
        let lossy = json!([9999999999800000000001.0_f64]);
        assert_eq!(exact(&lossy).as_deref(), Some("[9999999999800000000001]"));
        assert_eq!(exact(&json!([2])), None);
    }
}
