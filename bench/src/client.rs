//! The load generator: one loop for every system, on raw tokio-tungstenite. It keeps a fixed
//! number of calls in flight on a connection, feeding every frame it may send and flushing once
//! per batch, and counts (and checks) the responses.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::{Sink, Stream};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a phase may take past its deadline to collect the answers still in flight.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// The frames a system speaks: the same call, `add(1, 2)`, in its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// JRPC: `{"method":"add","args":[1,2],"kwargs":{},"id":N}`, answered with
    /// `{"id":N,"result":3.0,"error":null}`. The echo server gets these frames too.
    Jrpc,
    /// JSON-RPC 2.0 (jsonrpsee): `{"jsonrpc":"2.0","method":"add","params":[1,2],"id":N}`,
    /// answered with `{"jsonrpc":"2.0","id":N,"result":3.0}`.
    JsonRpc2,
    /// The echo server: JRPC frames, which come back unchanged.
    Echo,
}

impl Dialect {
    /// The dialect of a system.
    pub fn of(system: &str) -> Self {
        match system {
            "jsonrpsee" => Self::JsonRpc2,
            "echo" | "echo-async-std" | "echo-fws" | "echo-direct" => Self::Echo,
            _ => Self::Jrpc,
        }
    }

    /// The request frame with id `id`.
    pub fn request(self, id: u64) -> String {
        match self {
            Self::Jrpc | Self::Echo => {
                format!(r#"{{"method":"add","args":[1,2],"kwargs":{{}},"id":{id}}}"#)
            }
            Self::JsonRpc2 => {
                format!(r#"{{"jsonrpc":"2.0","method":"add","params":[1,2],"id":{id}}}"#)
            }
        }
    }

    /// Whether `frame` is a right answer to one of our calls.
    pub fn is_answer(self, frame: &str) -> bool {
        match self {
            Self::Jrpc => frame.contains(r#""result":3"#) && frame.contains(r#""error":null"#),
            Self::JsonRpc2 => frame.contains(r#""result":3"#) && !frame.contains(r#""error""#),
            Self::Echo => frame.starts_with(r#"{"method":"add""#),
        }
    }
}

/// What a load sends on each call and how it checks the answer.
#[derive(Debug, Clone)]
pub enum Call {
    /// `add(1, 2)` in a system's dialect.
    Add(Dialect),
    /// A large payload to a method that returns it (`echo_text`, `echo_items`), or to an echo
    /// server, which returns the whole frame: either way the answer holds the payload's bytes.
    Big(Arc<crate::big::Payload>),
}

impl Call {
    /// The request frame with id `id`.
    fn request(&self, id: u64) -> Message {
        match self {
            Self::Add(dialect) => Message::text(dialect.request(id)),
            Self::Big(payload) => Message::text(payload.request(id)),
        }
    }

    /// Whether `frame` is a right answer to one of our calls.
    fn is_answer(&self, frame: &str) -> bool {
        match self {
            Self::Add(dialect) => dialect.is_answer(frame),
            Self::Big(payload) => payload.is_answer(frame),
        }
    }
}

/// The WebSocket settings of the client's connections: a 16 KiB read buffer (tungstenite
/// zero-fills the free part of it before each read, so 128 KiB would cost the client more than
/// the server) and 32 KiB write buffer; or 4 KiB for the idle connections.
pub fn config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(32 << 10)
}

/// Opens a connection to `url` (TCP_NODELAY set, as the servers set it).
pub async fn connect(url: &str, read_buffer: usize) -> Result<Ws, String> {
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(config(read_buffer)), true)
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
    Ok(ws)
}

/// What one connection's loop measured.
#[derive(Debug, Default)]
pub struct Tally {
    /// Right answers received.
    pub answers: u64,
    /// Frames that were not a right answer.
    pub wrong: u64,
    /// Round-trip times (only with one call in flight), in nanoseconds.
    pub latencies: Vec<u64>,
    /// The connection failed (or the drain took too long).
    pub failed: Option<String>,
}

/// Keeps `window` calls in flight on `ws` until `deadline` (or until `calls` calls were sent,
/// `u64::MAX` for no such bound), then collects the answers still out. With `window == 1` it
/// records each round trip.
pub async fn drive(
    mut ws: Ws,
    call: Call,
    window: usize,
    deadline: Instant,
    calls: u64,
) -> (Ws, Tally) {
    let mut tally = Tally::default();
    let record = window == 1;
    let mut next_id: u64 = 1;
    let mut in_flight = 0usize;
    let mut sent_at = Instant::now();
    let mut flush_needed = false;
    let mut stopping = false;
    let hard_stop = deadline + DRAIN_LIMIT;
    let work = std::future::poll_fn(|cx| {
        loop {
            let mut progress = false;
            // Feed every frame the window allows, then flush once for the batch.
            while !stopping && in_flight < window && next_id <= calls {
                match Pin::new(&mut ws).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.to_string())),
                    Poll::Pending => break,
                }
                let frame = call.request(next_id);
                if let Err(e) = Pin::new(&mut ws).start_send(frame) {
                    return Poll::Ready(Err(e.to_string()));
                }
                next_id += 1;
                in_flight += 1;
                flush_needed = true;
                progress = true;
                if record {
                    sent_at = Instant::now();
                }
            }
            if flush_needed {
                match Pin::new(&mut ws).poll_flush(cx) {
                    Poll::Ready(Ok(())) => flush_needed = false,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.to_string())),
                    Poll::Pending => {}
                }
            }
            // Take every answer that is ready.
            loop {
                match Pin::new(&mut ws).poll_next(cx) {
                    Poll::Ready(Some(Ok(Message::Text(text)))) => {
                        if record {
                            tally.latencies.push(sent_at.elapsed().as_nanos() as u64);
                        }
                        if call.is_answer(text.as_str()) {
                            tally.answers += 1;
                        } else {
                            tally.wrong += 1;
                        }
                        in_flight = in_flight.saturating_sub(1);
                        progress = true;
                    }
                    Poll::Ready(Some(Ok(_))) => {}
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e.to_string())),
                    Poll::Ready(None) => return Poll::Ready(Err("connection closed".to_owned())),
                    Poll::Pending => break,
                }
            }
            if !stopping && (next_id > calls || Instant::now() >= deadline) {
                stopping = true;
            }
            if stopping && in_flight == 0 && !flush_needed {
                return Poll::Ready(Ok(()));
            }
            if !progress {
                return Poll::Pending;
            }
        }
    });
    match tokio::time::timeout_at(hard_stop.into(), work).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tally.failed = Some(e),
        Err(_) => tally.failed = Some(format!("{in_flight} answers missing at the hard stop")),
    }
    (ws, tally)
}

/// Opens a connection, makes one call and waits for its answer: a connection as the idle test
/// holds it.
pub async fn open_and_call(url: String, dialect: Dialect) -> Result<Ws, String> {
    let ws = connect(&url, 4 << 10).await?;
    let deadline = Instant::now();
    let (ws, tally) = drive(ws, Call::Add(dialect), 1, deadline, u64::MAX).await;
    match tally.failed {
        Some(e) => Err(e),
        None if tally.answers == 1 => Ok(ws),
        None => Err("no right answer to the first call".to_owned()),
    }
}
