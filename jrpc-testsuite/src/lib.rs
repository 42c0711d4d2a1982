//! The JRPC integration test suite, written once over `jrpc-driver`'s generic API and run by
//! every runtime adapter.
//!
//! Each case is an `async fn case<R: Runtime + Default>()` that panics when the behaviour it
//! checks is wrong. An adapter runs them all with [`instantiate!`], in a test file of its own:
//!
//! ```ignore
//! fn block_on<F: std::future::Future>(future: F) -> F::Output {
//!     tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(future)
//! }
//! jrpc_testsuite::instantiate!(jrpc_tokio::Tokio, block_on);
//! ```
//!
//! Every wait is bounded (see [`WAIT`]): a broken driver fails a case, it never hangs it. Every
//! server binds 127.0.0.1 port 0. Cases that must see the wire (silence after notifications,
//! close codes, handshake refusals, malformed frames) use a raw WebSocket dialled with the
//! runtime's own [`Runtime::connect`], so they stay runtime-generic.

// A test suite: a failed expectation is a failed test, and says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod autobahn;
mod client_handshake;
#[cfg(feature = "redis")]
mod cluster;
mod faults;
pub mod flood;
mod groups;
mod hostile;
pub mod mounted;
mod observe;
mod push;
mod reconnect;
pub mod services;
mod tcp;
#[cfg(feature = "rustls")]
pub mod tls;

pub use client_handshake::*;
#[cfg(feature = "redis")]
pub use cluster::*;
pub use faults::*;
pub use groups::*;
pub use hostile::*;
pub use mounted::{acceptor_serves_upgraded_sockets, handshake_authentication};
#[cfg(feature = "observe")]
pub use observe::{capture_logs, install_prometheus};
pub use observe::{logs_tell_connections_and_calls, metrics_count_connections_and_calls};
pub use push::*;
pub use reconnect::*;
#[cfg(feature = "rustls")]
pub use tls::{
    wss_calls_a_server_it_trusts, wss_refuses_a_server_it_does_not_trust,
    wss_reports_an_unusable_root,
};

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_channel::{mpsc, oneshot};
use futures_util::future::{self, Either, FutureExt, Shared};
use futures_util::{SinkExt, StreamExt};
use jrpc_driver::tungstenite::client::IntoClientRequest;
use jrpc_driver::tungstenite::handshake::client::Request;
use jrpc_driver::tungstenite::http::{HeaderValue, StatusCode, header};
use jrpc_driver::tungstenite::protocol::WebSocketConfig;
use jrpc_driver::tungstenite::protocol::frame::coding::CloseCode;
use jrpc_driver::tungstenite::{Error as WsError, Message};
use jrpc_driver::{
    CallError, Client, Config, Ctx, Dial, Methods, Params, Peer, RpcError, Runtime, Server,
    ServerHandle, Sleep,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The longest any single wait of a case may take before the case fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// The longest a whole case may take.
pub const CASE_LIMIT: Duration = Duration::from_secs(60);

/// Expands to one `#[test]` per case of the suite, run on `$runtime` by `$block_on` (a function
/// or path that takes a future and returns its output, e.g. one that builds a runtime and
/// blocks on the future).
#[macro_export]
macro_rules! instantiate {
    ($runtime:ty, $block_on:path) => {
        $crate::instantiate!(@cases $runtime, $block_on;
            call_each_way,
            notifications_are_never_answered,
            slow_method_does_not_delay_fast_one,
            requests_start_in_arrival_order,
            large_answer_is_sent_before_the_next_message_is_read,
            bursts_of_mixed_sizes_arrive_whole,
            in_flight_limit_applies_backpressure,
            timeout_then_late_answer_is_ignored,
            vanished_client_does_not_disturb_server,
            server_shutdown_fails_pending_calls_at_once,
            dropped_server_fails_pending_calls_at_once,
            oversized_message_closes_with_1009,
            huge_message_gets_its_1009_every_time,
            handshake_origin_and_host_policy,
            client_sends_extra_headers_and_subprotocols,
            client_handshake_refusals_are_typed,
            panicking_method_is_isolated,
            graceful_shutdown_finishes_in_flight_calls,
            typed_params_and_errors,
            malformed_input_is_survived,
            connection_local_state_and_closed,
            hostile_json_is_survived,
            hostile_responses_are_ignored,
            hostile_sizes_are_bounded,
            hostile_frames_are_survived,
            hostile_floods_are_absorbed,
            hostile_reader_that_stops_reading,
            hostile_handshakes_are_dropped,
            hostile_connection_churn,
            fault_child,
            killed_client_process_mid_call,
            killed_server_process_fails_calls_at_once,
            handshake_authentication,
            acceptor_serves_upgraded_sockets,
            stopped_client_process_is_dropped_by_heartbeat,
            non_reading_peer_keeps_the_queue_bounded,
            slow_consumer_is_closed_with_1008,
            stats_count_calls_and_running_methods,
            server_heartbeat_drops_a_silent_peer_only,
            client_heartbeat_drops_a_silent_server,
            heartbeat_close_code_is_1001,
            groups_membership,
            groups_left_on_close,
            broadcast_to_group_except_and_all,
            broadcast_skips_a_member_that_does_not_read,
            broadcast_order_under_concurrent_publishers,
            request_to_group_collects_each_answer,
            client_connections_share_a_registry,
            groups_backend_sees_changes_and_broadcasts,
            reconnecting_client_joins_with_its_current_connection,
            close_sends_what_was_queued_first,
            reconnecting_client_survives_a_server_restart,
            calls_while_down_fail_at_once_without_queueing,
            calls_while_down_wait_for_the_next_connection,
            calls_while_down_time_out_when_no_server_comes,
            closing_a_reconnecting_client_stops_it,
            reconnect_backoff_is_bounded,
            a_call_waiting_for_room_moves_to_the_next_connection,
            // Run when the adapter is built with its `rustls` feature.
            #[cfg(feature = "rustls")] wss_calls_a_server_it_trusts,
            #[cfg(feature = "rustls")] wss_refuses_a_server_it_does_not_trust,
            #[cfg(feature = "rustls")] wss_reports_an_unusable_root,
            // Run when the adapter is built with its `redis` feature (a Redis of their own).
            #[cfg(feature = "redis")] cluster_broadcast_reaches_every_node,
            #[cfg(feature = "redis")] cluster_membership_and_counts,
            #[cfg(feature = "redis")] cluster_peer_calls_across_nodes,
            #[cfg(feature = "redis")] cluster_silent_node_is_forgotten,
            #[cfg(feature = "redis")] cluster_survives_a_redis_restart,
        );
    };
    (@cases $runtime:ty, $block_on:path; $($(#[$meta:meta])* $case:ident),* $(,)?) => {
        $(
            $(#[$meta])*
            #[test]
            fn $case() {
                $block_on($crate::bounded::<$runtime, _>(
                    stringify!($case),
                    $crate::$case::<$runtime>(),
                ))
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Bounded waits, servers, raw sockets, gates.

/// A timer on the runtime `R`.
fn sleep<R: Runtime + Default>(duration: Duration) -> Sleep {
    R::default().sleep_until(Instant::now() + duration)
}

/// `future`'s output, or `None` if `limit` passes first.
async fn timeout<R: Runtime + Default, F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    match future::select(pin!(future), sleep::<R>(limit)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// `future`'s output; the case fails if it takes longer than [`WAIT`].
async fn within<R: Runtime + Default, F: Future>(what: &str, future: F) -> F::Output {
    match timeout::<R, _>(WAIT, future).await {
        Some(output) => output,
        None => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Runs one case within [`CASE_LIMIT`]; used by [`instantiate!`].
#[doc(hidden)]
pub async fn bounded<R: Runtime + Default, F: Future<Output = ()>>(case: &str, future: F) {
    if timeout::<R, _>(CASE_LIMIT, future).await.is_none() {
        panic!("case {case} did not finish within {CASE_LIMIT:?}");
    }
}

/// A running server: where to reach it and how to shut it down.
struct Running {
    addr: SocketAddr,
    url: String,
    handle: ServerHandle,
}

/// Binds 127.0.0.1:0 with `config` and `state`, and runs the server as a task of its own.
async fn serve_with<R, S>(config: Config, state: S, methods: Methods<S>) -> Running
where
    R: Runtime + Default,
    S: Clone + Send + Sync + 'static,
{
    start(Server::<R>::builder().state(state).config(config), methods).await
}

/// Binds 127.0.0.1:0 with `builder`'s settings, and runs the server as a task of its own.
async fn start<R, S>(builder: jrpc_driver::Builder<R, S>, methods: Methods<S>) -> Running
where
    R: Runtime + Default,
    S: Clone + Send + Sync + 'static,
{
    let bind = builder.bind("127.0.0.1:0", methods);
    let server = within::<R, _>("bind", bind)
        .await
        .expect("bind 127.0.0.1:0");
    let running = Running {
        addr: server.local_addr(),
        url: format!("ws://{}", server.local_addr()),
        handle: server.handle(),
    };
    R::default().spawn(server.run());
    running
}

/// [`serve_with`] without state.
async fn serve<R: Runtime + Default>(config: Config, methods: Methods) -> Running {
    serve_with::<R, ()>(config, (), methods).await
}

/// A client with default settings that serves `methods`.
async fn client<R: Runtime + Default>(url: &str, methods: Methods) -> Peer {
    within::<R, _>("connect", Client::<R>::builder().connect(url, methods))
        .await
        .expect("connect")
}

/// A remote call, bounded.
async fn call<R: Runtime + Default, T: serde::de::DeserializeOwned>(
    peer: &Peer,
    method: &str,
    params: impl jrpc_driver::IntoParams,
) -> Result<T, CallError> {
    within::<R, _>(method, peer.request(method, params)).await
}

/// The next item of a signal channel, bounded.
async fn signal<R: Runtime + Default, T>(
    what: &str,
    receiver: &mut mpsc::UnboundedReceiver<T>,
) -> T {
    within::<R, _>(what, receiver.next())
        .await
        .unwrap_or_else(|| panic!("the channel of {what} closed"))
}

/// Drives `call` (which must not finish yet) until `signal` fires.
async fn drive_until<C, T>(call: &mut C, signal: impl Future<Output = T>) -> T
where
    C: Future + Unpin,
    C::Output: std::fmt::Debug,
{
    match future::select(call, pin!(signal)).await {
        Either::Left((output, _)) => panic!("finished too early with {output:?}"),
        Either::Right((value, _)) => value,
    }
}

/// A one-shot barrier: methods wait on it, the test opens it.
#[derive(Clone)]
struct Gate {
    opener: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    opened: Shared<oneshot::Receiver<()>>,
}

impl Gate {
    fn new() -> Self {
        let (opener, opened) = oneshot::channel();
        Self {
            opener: Arc::new(Mutex::new(Some(opener))),
            opened: opened.shared(),
        }
    }

    fn open(&self) {
        if let Some(opener) = self.opener.lock().unwrap().take() {
            let _ = opener.send(());
        }
    }

    async fn wait(&self) {
        let _ = self.opened.clone().await;
    }
}

/// A plain WebSocket on the runtime's own client socket: sends and reads raw frames.
struct Raw<R: Runtime> {
    socket: R::ClientSocket,
}

impl<R: Runtime + Default> Raw<R> {
    async fn connect(url: &str) -> Self {
        Self::connect_or_error(url).await.expect("raw handshake")
    }

    async fn connect_or_error(url: &str) -> Result<Self, WsError> {
        Self::handshake(url.into_client_request().expect("a ws:// URL")).await
    }

    async fn handshake(request: Request) -> Result<Self, WsError> {
        let connect = R::connect(request, Dial::plain(WebSocketConfig::default()));
        let (socket, _response) = within::<R, _>("a handshake", connect).await?;
        Ok(Self { socket })
    }

    async fn send(&mut self, message: Message) {
        within::<R, _>("a send", self.socket.send(message))
            .await
            .expect("send on the raw socket");
    }

    async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next data or close message; `None` once the stream has ended (or failed).
    async fn next(&mut self) -> Option<Message> {
        loop {
            match within::<R, _>("a message", self.socket.next()).await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next message, which must be a JSON text.
    async fn recv_json(&mut self) -> Value {
        match self.next().await {
            Some(Message::Text(text)) => serde_json::from_str(text.as_str()).expect("JSON"),
            other => panic!("expected a JSON text message, got {other:?}"),
        }
    }

    /// The code of the close frame that must come next; reads on until the stream ends, so
    /// that the close handshake completes.
    async fn close_code(&mut self) -> CloseCode {
        let code = match self.next().await {
            Some(Message::Close(Some(frame))) => frame.code,
            other => panic!("expected a close frame, got {other:?}"),
        };
        while self.next().await.is_some() {}
        code
    }
}

/// A request as this project writes it.
fn request(method: &str, args: Value, id: u64) -> Value {
    json!({"method": method, "args": args, "kwargs": {}, "id": id})
}

/// A success response as this project writes it.
fn success(id: u64, result: Value) -> Value {
    json!({"id": id, "result": result, "error": null})
}

// ---------------------------------------------------------------------------------------------
// The cases.

/// A call each way: the client calls the server; a server method calls back into the client
/// while it is itself answering (no deadlock); the server's `on_open` hook calls the client.
pub async fn call_each_way<R: Runtime + Default>() {
    let (opened, mut hook_results) = mpsc::unbounded::<Result<String, CallError>>();
    let methods = Methods::new()
        .add("Add", |a: i64, b: i64| a + b)
        .add("AskBack", |ctx: Ctx, x: i64| async move {
            let doubled: i64 = ctx
                .peer()
                .request("Double", (x,))
                .await
                .map_err(|e| RpcError::new("CallbackFailed", e.to_string()))?;
            Ok::<_, RpcError>(doubled + 1)
        })
        .on_open(move |ctx: Ctx| {
            let opened = opened.clone();
            async move {
                let greeting = ctx.peer().request("Hello", ("server",)).await;
                let _ = opened.unbounded_send(greeting);
            }
        });
    let server = serve::<R>(Config::default(), methods).await;

    let client_methods = Methods::new()
        .add("Double", |x: i64| x * 2)
        .add("Hello", |name: String| format!("hello, {name}"));
    let peer = client::<R>(&server.url, client_methods).await;

    assert_eq!(call::<R, i64>(&peer, "Add", (5, 10)).await, Ok(15));
    assert_eq!(call::<R, i64>(&peer, "AskBack", (20,)).await, Ok(41));
    let greeting = signal::<R, _>("the on_open hook's call", &mut hook_results).await;
    assert_eq!(greeting, Ok("hello, server".to_owned()));
}

/// Notifications run their method and are never answered: not on success, not for an unknown
/// method, bad arguments, a failure or a panic.
pub async fn notifications_are_never_answered<R: Runtime + Default>() {
    let (ran, mut runs) = mpsc::unbounded::<String>();
    let record = ran.clone();
    let methods = Methods::new()
        .add("Record", move |n: u64| {
            let _ = record.unbounded_send(format!("record {n}"));
        })
        .add("Fail", move || {
            let _ = ran.unbounded_send("fail".to_owned());
            Err::<(), _>(RpcError::new("Boom", "failed on purpose"))
        })
        .add("Panic", || -> i64 { panic!("panicked on purpose") })
        .add("Ping", || "pong");
    // One request at a time: each notification has finished (and would have queued its answer,
    // were there one) before the next message is read. So if the answer to the final request
    // is the first frame to arrive, nothing was sent for any notification before it.
    let server = serve::<R>(Config::default().max_in_flight(1), methods).await;

    // Through the API: `invoke` resolves once queued and the method runs.
    let peer = client::<R>(&server.url, Methods::new()).await;
    within::<R, _>("invoke", peer.invoke("Record", (1,)))
        .await
        .expect("invoke");
    within::<R, _>("invoke", peer.invoke("NoSuchMethod", ()))
        .await
        .expect("invoke of an unknown method");
    assert_eq!(signal::<R, _>("Record 1", &mut runs).await, "record 1");

    // On the wire.
    let mut raw = Raw::<R>::connect(&server.url).await;
    for notification in [
        json!({"method": "Record", "args": [2], "kwargs": {}, "id": null}),
        json!({"method": "Record", "args": [3]}),
        json!({"method": "NoSuchMethod", "args": [], "kwargs": {}}),
        json!({"method": "Fail", "args": [], "kwargs": {}}),
        json!({"method": "Record", "args": ["not a number"], "kwargs": {}}),
        json!({"method": "Panic"}),
    ] {
        raw.send_json(&notification).await;
    }
    raw.send_json(&request("Ping", json!([]), 1)).await;
    assert_eq!(raw.recv_json().await, success(1, json!("pong")));

    let mut seen = Vec::new();
    while let Ok(run) = runs.try_recv() {
        seen.push(run);
    }
    assert_eq!(seen, ["record 2", "record 3", "fail"]);
    assert!(!peer.is_closed());
}

/// A slow method (500 ms) does not delay a fast one issued after it on the same connection.
pub async fn slow_method_does_not_delay_fast_one<R: Runtime + Default>() {
    let (started, mut starts) = mpsc::unbounded::<()>();
    let methods = Methods::new()
        .add("Slow", move || {
            let _ = started.unbounded_send(());
            async move {
                sleep::<R>(Duration::from_millis(500)).await;
                "slow"
            }
        })
        .add("Fast", || "fast");
    let server = serve::<R>(Config::default(), methods).await;
    let peer = client::<R>(&server.url, Methods::new()).await;

    let begun = Instant::now();
    let mut slow = pin!(peer.request::<String>("Slow", ()));
    within::<R, _>("Slow to start", drive_until(&mut slow, starts.next())).await;

    let fast_issued = Instant::now();
    let fast = pin!(peer.request::<String>("Fast", ()));
    match within::<R, _>("Fast", future::select(slow.as_mut(), fast)).await {
        Either::Right((fast, _)) => assert_eq!(fast, Ok("fast".to_owned())),
        Either::Left((slow, _)) => panic!("Slow answered ({slow:?}) before Fast"),
    }
    let fast_took = fast_issued.elapsed();
    assert!(
        fast_took < Duration::from_millis(400),
        "Fast took {fast_took:?}, as if it waited for Slow"
    );

    assert_eq!(within::<R, _>("Slow", slow).await, Ok("slow".to_owned()));
    assert!(begun.elapsed() >= Duration::from_millis(500));
}

/// Requests and notifications are started in the order they arrive.
pub async fn requests_start_in_arrival_order<R: Runtime + Default>() {
    const COUNT: u64 = 100;
    let order = Arc::new(Mutex::new(Vec::new()));
    let recorder = order.clone();
    let async_recorder = order.clone();
    let methods = Methods::new()
        .add("Record", move |n: u64| {
            recorder.lock().unwrap().push(n);
            n
        })
        // Records when first polled, then suspends: "started" is the run up to there.
        .add("RecordAsync", move |n: u64| {
            let recorder = async_recorder.clone();
            async move {
                recorder.lock().unwrap().push(n);
                sleep::<R>(Duration::from_millis(1)).await;
                n
            }
        });
    let server = serve::<R>(Config::default(), methods).await;

    let mut raw = Raw::<R>::connect(&server.url).await;
    let mut expected = Vec::new();
    for n in 0..COUNT {
        // Synchronous and async methods alternate; every third message is a notification,
        // the last one a request.
        let method = if n % 2 == 0 { "Record" } else { "RecordAsync" };
        let message = if n % 3 == 1 {
            json!({"method": method, "args": [n], "kwargs": {}})
        } else {
            expected.push(n);
            request(method, json!([n]), n + 1)
        };
        within::<R, _>("feed", raw.socket.feed(Message::text(message.to_string())))
            .await
            .expect("feed");
    }
    within::<R, _>("flush", raw.socket.flush())
        .await
        .expect("flush");

    let mut answered = Vec::new();
    for _ in 0..expected.len() {
        let answer = raw.recv_json().await;
        assert_eq!(answer["error"], Value::Null, "{answer}");
        assert_eq!(
            answer["id"].as_u64(),
            answer["result"].as_u64().map(|n| n + 1)
        );
        answered.push(answer["result"].as_u64().unwrap());
    }
    answered.sort_unstable();
    assert_eq!(answered, expected);
    // Every request has been answered, so every message before the last has started.
    let order = order.lock().unwrap().clone();
    assert_eq!(order, (0..COUNT).collect::<Vec<_>>(), "start order");
}

/// A large message's answer goes to the socket before the messages that came behind it are
/// read: a peer with a few large calls in flight is not kept waiting while the server reads
/// and handles the next ones. Both requests come in one write; the second one's method waits
/// (blocking its thread, at most [`WAIT`]) until the client has the first answer, and says
/// whether it came. The client is a blocking one on the test's thread, so that the blocked
/// thread is not the one that would have to deliver the answer (and the first answer is
/// short, so that the socket takes it whole).
pub async fn large_answer_is_sent_before_the_next_message_is_read<R: Runtime + Default>() {
    let (got_first, first_arrived) = std::sync::mpsc::channel::<()>();
    let first_arrived = Mutex::new(first_arrived);
    let methods =
        Methods::new()
            .add("Length", |text: String| text.len())
            .add("AfterFirst", move || {
                let arrived = first_arrived.lock().unwrap().recv_timeout(WAIT);
                arrived.is_ok()
            });
    let server = serve::<R>(Config::default(), methods).await;

    let mut ws = tcp::WsTcp::connect(server.addr);
    let text = "large ".repeat(12 * 1024);
    let mut both = Vec::new();
    for message in [
        request("Length", json!([text]), 1),
        request("AfterFirst", json!([]), 2),
    ] {
        let payload = message.to_string();
        both.extend(tcp::encode(true, tcp::TEXT, payload.as_bytes(), true, 0));
    }
    ws.raw(&both);
    assert_eq!(ws.recv_json(), success(1, json!(text.len())));
    got_first.send(()).unwrap();
    assert_eq!(
        ws.recv_json(),
        success(2, json!(true)),
        "the first answer waited for the second request to be handled"
    );
    ws.close();
}

/// Calls of every size at once (a few bytes, just over the WebSocket layer's 4 KiB read
/// buffer, over the read-ahead's 64 KiB, 1 MiB), pipelined on one connection so that the
/// server reads them in bursts through its read-ahead (`jrpc-driver/src/read_ahead.rs`): each
/// one comes back byte for byte, non-ASCII text and escapes included.
pub async fn bursts_of_mixed_sizes_arrive_whole<R: Runtime + Default>() {
    let methods = Methods::new().add("Echo", |text: String| text);
    let server = serve::<R>(Config::default(), methods).await;
    let peer = client::<R>(&server.url, Methods::new()).await;
    let sizes = [3, 4095, 4097, 9_000, 65_535, 65_537, 200_000, 1 << 20, 17];
    let texts: Vec<String> = (0..3)
        .flat_map(|round| sizes.map(move |size| (round, size)))
        .enumerate()
        .map(|(i, (round, size))| {
            let unit = format!("{i}:{round} café \"quoted\"\n");
            unit.repeat(size / unit.len() + 1)
        })
        .collect();
    let answers = within::<R, _>(
        "the echoes",
        future::join_all(
            texts
                .iter()
                .map(|text| peer.request::<String>("Echo", (text,))),
        ),
    )
    .await;
    for (i, (text, answer)) in texts.iter().zip(answers).enumerate() {
        match answer {
            Ok(answer) => assert!(
                answer == *text,
                "call {i} ({} bytes) came back altered",
                text.len()
            ),
            Err(e) => panic!("call {i} ({} bytes) failed: {e}", text.len()),
        }
    }
}

/// With `max_in_flight(2)`, a third request does not start until one of two running ones
/// finishes; once the gates open, all three are answered.
pub async fn in_flight_limit_applies_backpressure<R: Runtime + Default>() {
    let gates: Arc<Vec<Gate>> = Arc::new((0..3).map(|_| Gate::new()).collect());
    let (started, mut starts) = mpsc::unbounded::<usize>();
    let method_gates = gates.clone();
    let methods = Methods::new().add("Gated", move |i: usize| {
        let _ = started.unbounded_send(i);
        let gates = method_gates.clone();
        async move {
            gates[i].wait().await;
            i
        }
    });
    let server = serve::<R>(Config::default().max_in_flight(2), methods).await;
    let peer = client::<R>(&server.url, Methods::new()).await;

    let mut calls = pin!(future::join_all(
        (0..3).map(|i| peer.request::<usize>("Gated", (i,)))
    ));
    let mut first_two = Vec::new();
    for _ in 0..2 {
        let next = within::<R, _>("a start", drive_until(&mut calls, starts.next())).await;
        first_two.push(next.expect("start signal"));
    }
    first_two.sort_unstable();
    assert_eq!(first_two, [0, 1]);

    // No signal can say "did not start": give it a fair chance to, then check it did not.
    let window = timeout::<R, _>(
        Duration::from_millis(300),
        drive_until(&mut calls, starts.next()),
    );
    if let Some(third) = window.await {
        panic!("request {third:?} started while two were in flight");
    }

    gates[0].open();
    let third = within::<R, _>("the third start", drive_until(&mut calls, starts.next())).await;
    assert_eq!(third, Some(2));
    gates[1].open();
    gates[2].open();
    let results = within::<R, _>("all answers", calls).await;
    assert_eq!(results, [Ok(0), Ok(1), Ok(2)]);
}

/// `request_with_timeout` against a slow method fails with `Timeout`; the late answer is
/// ignored and later calls on the connection still work.
pub async fn timeout_then_late_answer_is_ignored<R: Runtime + Default>() {
    let gate = Gate::new();
    let (events, mut event) = mpsc::unbounded::<&'static str>();
    let method_gate = gate.clone();
    let methods = Methods::new()
        .add("Slow", move || {
            let gate = method_gate.clone();
            let events = events.clone();
            async move {
                let _ = events.unbounded_send("started");
                gate.wait().await;
                let _ = events.unbounded_send("finished");
                "late"
            }
        })
        .add("Echo", |x: i64| x);
    let server = serve::<R>(Config::default(), methods).await;
    let peer = client::<R>(&server.url, Methods::new()).await;

    let begun = Instant::now();
    let timed_out =
        peer.request_with_timeout::<String>("Slow", (), Some(Duration::from_millis(200)));
    assert_eq!(
        within::<R, _>("the timeout", timed_out).await,
        Err(CallError::Timeout)
    );
    let took = begun.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "timed out after {took:?}"
    );
    assert_eq!(signal::<R, _>("Slow to start", &mut event).await, "started");

    // The method finishes now; its answer goes out for a call the client gave up on.
    gate.open();
    assert_eq!(
        signal::<R, _>("Slow to finish", &mut event).await,
        "finished"
    );
    assert_eq!(call::<R, i64>(&peer, "Echo", (42,)).await, Ok(42));
    assert_eq!(call::<R, i64>(&peer, "Echo", (7,)).await, Ok(7));
    assert!(!peer.is_closed());
}

/// A client that disappears mid-call (socket dropped, no close frame): the server runs the
/// `on_close` hook and goes on serving its other clients.
pub async fn vanished_client_does_not_disturb_server<R: Runtime + Default>() {
    let gate = Gate::new();
    let (started, mut starts) = mpsc::unbounded::<()>();
    let (opened, mut opens) = mpsc::unbounded::<u64>();
    let (closed, mut closes) = mpsc::unbounded::<u64>();
    let method_gate = gate.clone();
    let methods = Methods::new()
        .add("Slow", move || {
            let _ = started.unbounded_send(());
            let gate = method_gate.clone();
            async move { gate.wait().await }
        })
        .add("Add", |a: i64, b: i64| a + b)
        .on_open(move |ctx: Ctx| {
            let _ = opened.unbounded_send(ctx.peer().id());
            async {}
        })
        .on_close(move |ctx: Ctx| {
            let _ = closed.unbounded_send(ctx.peer().id());
            async {}
        });
    let server = serve::<R>(Config::default(), methods).await;

    let staying = client::<R>(&server.url, Methods::new()).await;
    let staying_id = signal::<R, _>("the first open", &mut opens).await;

    let mut vanishing = Raw::<R>::connect(&server.url).await;
    let vanishing_id = signal::<R, _>("the second open", &mut opens).await;
    assert_ne!(staying_id, vanishing_id);
    vanishing.send_json(&request("Slow", json!([]), 1)).await;
    signal::<R, _>("Slow to start", &mut starts).await;
    drop(vanishing);

    assert_eq!(signal::<R, _>("on_close", &mut closes).await, vanishing_id);
    assert_eq!(call::<R, i64>(&staying, "Add", (1, 2)).await, Ok(3));
    let newcomer = client::<R>(&server.url, Methods::new()).await;
    assert_eq!(call::<R, i64>(&newcomer, "Add", (3, 4)).await, Ok(7));

    // The orphaned method finishes; its answer has nowhere to go and disturbs nobody.
    gate.open();
    assert_eq!(call::<R, i64>(&staying, "Add", (5, 6)).await, Ok(11));
    assert!(!staying.is_closed());
    assert_eq!(closes.try_recv().ok(), None, "only one connection closed");
}

/// The server shuts down with zero grace: a client's pending call fails with
/// `ConnectionClosed` at once, well before its timeout.
pub async fn server_shutdown_fails_pending_calls_at_once<R: Runtime + Default>() {
    let (server, started, _gate) = stuck_server::<R>().await;
    let peer = stuck_client::<R>(&server.url).await;
    let mut started = started;

    let mut pending = pin!(peer.request::<()>("Stuck", ()));
    within::<R, _>("Stuck to start", drive_until(&mut pending, started.next())).await;
    let begun = Instant::now();
    let shutdown = server.handle.shutdown(Duration::ZERO);
    let (result, ()) = within::<R, _>("shutdown", future::join(pending, shutdown)).await;
    assert_fails_at_once::<R>(&peer, result, begun).await;
}

/// The server is dropped (its `run` future and every handle): a client's pending call fails
/// with `ConnectionClosed` at once, well before its timeout.
pub async fn dropped_server_fails_pending_calls_at_once<R: Runtime + Default>() {
    let (started, mut starts) = mpsc::unbounded::<()>();
    let gate = Gate::new();
    let method_gate = gate.clone();
    let methods = Methods::new().add("Stuck", move || {
        let _ = started.unbounded_send(());
        let gate = method_gate.clone();
        async move { gate.wait().await }
    });
    let bind = Server::<R>::bind("127.0.0.1:0", methods);
    let server = within::<R, _>("bind", bind).await.expect("bind");
    let url = format!("ws://{}", server.local_addr());
    let (kill, killed) = oneshot::channel::<()>();
    R::default().spawn(async move {
        let run = pin!(server.run());
        let _ = future::select(run, killed).await;
        // The server (listener, handle, shutdown signal) is dropped here.
    });
    let peer = stuck_client::<R>(&url).await;

    let mut pending = pin!(peer.request::<()>("Stuck", ()));
    within::<R, _>("Stuck to start", drive_until(&mut pending, starts.next())).await;
    let begun = Instant::now();
    kill.send(()).expect("the server task is running");
    let result = within::<R, _>("the pending call", pending).await;
    assert_fails_at_once::<R>(&peer, result, begun).await;
    drop(gate);
}

/// A server whose `Stuck` method signals its start and waits on a gate that is never opened.
async fn stuck_server<R: Runtime + Default>() -> (Running, mpsc::UnboundedReceiver<()>, Gate) {
    let (started, starts) = mpsc::unbounded::<()>();
    let gate = Gate::new();
    let method_gate = gate.clone();
    let methods = Methods::new().add("Stuck", move || {
        let _ = started.unbounded_send(());
        let gate = method_gate.clone();
        async move { gate.wait().await }
    });
    (serve::<R>(Config::default(), methods).await, starts, gate)
}

/// A client whose calls time out only after 30 s.
async fn stuck_client<R: Runtime + Default>(url: &str) -> Peer {
    let config = Config::default().call_timeout(Some(Duration::from_secs(30)));
    let connect = Client::<R>::builder()
        .config(config)
        .connect(url, Methods::new());
    within::<R, _>("connect", connect).await.expect("connect")
}

async fn assert_fails_at_once<R: Runtime + Default>(
    peer: &Peer,
    result: Result<(), CallError>,
    begun: Instant,
) {
    assert_eq!(result, Err(CallError::ConnectionClosed));
    let took = begun.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the call failed only after {took:?}"
    );
    within::<R, _>("the client to see the close", peer.closed()).await;
    assert!(peer.is_closed());
    assert_eq!(
        call::<R, ()>(peer, "Stuck", ()).await,
        Err(CallError::ConnectionClosed)
    );
}

/// A message over `max_message_size` closes its connection with code 1009; another connection
/// to the same server is untouched.
pub async fn oversized_message_closes_with_1009<R: Runtime + Default>() {
    let methods = Methods::new()
        .add("Echo", |s: String| s)
        .add("Add", |a: i64, b: i64| a + b);
    let server = serve::<R>(Config::default().max_message_size(1024), methods).await;
    let bystander = client::<R>(&server.url, Methods::new()).await;
    assert_eq!(call::<R, i64>(&bystander, "Add", (1, 2)).await, Ok(3));

    let mut raw = Raw::<R>::connect(&server.url).await;
    let fits = "x".repeat(900);
    raw.send_json(&request("Echo", json!([fits]), 1)).await;
    assert_eq!(raw.recv_json().await, success(1, json!(fits)));

    let oversized = request("Echo", json!(["y".repeat(2000)]), 2).to_string();
    assert!(oversized.len() > 2000);
    raw.send_text(&oversized).await;
    assert_eq!(raw.close_code().await, CloseCode::Size);

    assert_eq!(call::<R, i64>(&bystander, "Add", (3, 4)).await, Ok(7));
    assert!(!bystander.is_closed());
}

/// A message far over the limit, still being written when the server refuses it, gets its
/// 1009 close frame every time (20 of 20): the server does not close the socket on unread
/// input, which would make the kernel send a reset that destroys the close frame in flight.
pub async fn huge_message_gets_its_1009_every_time<R: Runtime + Default>() {
    let methods = Methods::new().add("Echo", |s: String| s);
    let server = serve::<R>(Config::default().max_message_size(64 << 10), methods).await;
    let huge = request("Echo", json!(["z".repeat(4 << 20)]), 1).to_string();
    for run in 1..=20 {
        let mut raw = Raw::<R>::connect(&server.url).await;
        // The server reads and discards the rest of the message, so the write completes.
        let sent =
            within::<R, _>("a huge send", raw.socket.send(Message::text(huge.clone()))).await;
        assert!(sent.is_ok(), "run {run}: the write failed: {sent:?}");
        let code = match raw.next().await {
            Some(Message::Close(Some(frame))) => frame.code,
            other => panic!("run {run}: expected a close frame, got {other:?}"),
        };
        assert_eq!(code, CloseCode::Size, "run {run}");
    }
}

/// The handshake policy: a foreign `Origin` is refused with 403, the same origin, an
/// allow-listed one and none at all are accepted; a loopback server refuses a foreign `Host`.
pub async fn handshake_origin_and_host_policy<R: Runtime + Default>() {
    let methods = || Methods::new().add("Ping", || "pong");
    let same_origin = serve::<R>(Config::default(), methods()).await;
    let port = same_origin.addr.port();
    let url = &same_origin.url;

    let own = format!("http://127.0.0.1:{port}");
    let localhost = format!("localhost:{port}");
    let localhost_origin = format!("http://localhost:{port}");
    let rebound_host = format!("evil.example:{port}");
    let rebound_origin = format!("http://evil.example:{port}");
    assert_eq!(handshake::<R>(url, None, None).await, Ok(()), "no Origin");
    assert_eq!(
        handshake::<R>(url, None, Some(&own)).await,
        Ok(()),
        "same origin"
    );
    assert_eq!(
        handshake::<R>(url, Some(&localhost), Some(&localhost_origin)).await,
        Ok(()),
        "same origin by name"
    );
    assert_eq!(
        handshake::<R>(url, None, Some("http://evil.example")).await,
        Err(StatusCode::FORBIDDEN),
        "foreign origin"
    );
    assert_eq!(
        handshake::<R>(url, Some("evil.example"), None).await,
        Err(StatusCode::FORBIDDEN),
        "foreign Host on loopback"
    );
    assert_eq!(
        handshake::<R>(url, Some(&rebound_host), Some(&rebound_origin)).await,
        Err(StatusCode::FORBIDDEN),
        "DNS rebinding: foreign Host with a matching Origin"
    );

    let allow_list = serve::<R>(
        Config::default().allow_origin("http://app.example:8080"),
        methods(),
    )
    .await;
    let url = &allow_list.url;
    let listed = Some("http://app.example:8080");
    assert_eq!(
        handshake::<R>(url, None, listed).await,
        Ok(()),
        "allow-listed"
    );
    assert_eq!(handshake::<R>(url, None, None).await, Ok(()), "no Origin");
    assert_eq!(
        handshake::<R>(url, None, Some("http://evil.example")).await,
        Err(StatusCode::FORBIDDEN),
        "not on the list"
    );

    // An accepted browser-like connection is served; refusals did not disturb the server.
    let mut allowed_request = url.as_str().into_client_request().expect("URL");
    allowed_request.headers_mut().insert(
        header::ORIGIN,
        HeaderValue::from_static("http://app.example:8080"),
    );
    let mut raw = Raw::<R>::handshake(allowed_request).await.expect("allowed");
    raw.send_json(&request("Ping", json!([]), 1)).await;
    assert_eq!(raw.recv_json().await, success(1, json!("pong")));
    let peer = client::<R>(&same_origin.url, Methods::new()).await;
    assert_eq!(
        call::<R, String>(&peer, "Ping", ()).await,
        Ok("pong".to_owned())
    );
}

/// Dials `url` with the given `Host` and `Origin`; the HTTP status of a refusal.
async fn handshake<R: Runtime + Default>(
    url: &str,
    host: Option<&str>,
    origin: Option<&str>,
) -> Result<(), StatusCode> {
    let mut request = url.into_client_request().expect("URL");
    let headers = request.headers_mut();
    if let Some(host) = host {
        headers.insert(header::HOST, HeaderValue::from_str(host).expect("header"));
    }
    if let Some(origin) = origin {
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_str(origin).expect("header"),
        );
    }
    match Raw::<R>::handshake(request).await {
        Ok(_) => Ok(()),
        Err(WsError::Http(response)) => Err(response.status()),
        Err(other) => panic!("handshake failed with {other}, not an HTTP refusal"),
    }
}

/// A method that panics (synchronously, or inside its future) answers `InternalError`; the
/// same connection then answers other calls.
pub async fn panicking_method_is_isolated<R: Runtime + Default>() {
    let methods = Methods::new()
        .add("Panic", || -> i64 { panic!("panicked on purpose") })
        .add("PanicLater", || async {
            sleep::<R>(Duration::from_millis(10)).await;
            panic_later()
        })
        .add("Add", |a: i64, b: i64| a + b);
    let server = serve::<R>(Config::default(), methods).await;
    let peer = client::<R>(&server.url, Methods::new()).await;

    for method in ["Panic", "PanicLater"] {
        let error = call::<R, Value>(&peer, method, ()).await.unwrap_err();
        let remote = error
            .remote()
            .unwrap_or_else(|| panic!("{method}: {error:?}"));
        assert_eq!(remote.kind, RpcError::INTERNAL_ERROR, "{method}");
        assert_eq!(
            call::<R, i64>(&peer, "Add", (2, 3)).await,
            Ok(5),
            "after {method}"
        );
    }
    assert!(!peer.is_closed());
}

fn panic_later() -> i64 {
    panic!("panicked on purpose, in a future")
}

/// Graceful shutdown: an in-flight call (300 ms) completes and is answered, then the connection
/// closes with code 1001; new connections are refused afterwards.
pub async fn graceful_shutdown_finishes_in_flight_calls<R: Runtime + Default>() {
    let (started, mut starts) = mpsc::unbounded::<()>();
    let methods = Methods::new().add("Slow", move || {
        let _ = started.unbounded_send(());
        async move {
            sleep::<R>(Duration::from_millis(300)).await;
            "done"
        }
    });
    let server = serve::<R>(Config::default(), methods).await;

    let mut raw = Raw::<R>::connect(&server.url).await;
    raw.send_json(&request("Slow", json!([]), 1)).await;
    signal::<R, _>("Slow to start", &mut starts).await;

    let begun = Instant::now();
    let shutdown = server.handle.shutdown(Duration::from_secs(4));
    let client = async {
        let answer = raw.recv_json().await;
        (answer, raw.close_code().await)
    };
    let ((answer, code), ()) = within::<R, _>("shutdown", future::join(client, shutdown)).await;
    assert_eq!(answer, success(1, json!("done")));
    assert_eq!(code, CloseCode::Away);
    let took = begun.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");

    let refused = Raw::<R>::connect_or_error(&server.url).await;
    assert!(refused.is_err(), "a connection was accepted after shutdown");
    let connect = Client::<R>::connect(&server.url);
    assert!(within::<R, _>("connect", connect).await.is_err());
}

#[derive(Debug, Serialize, Deserialize)]
struct Pair {
    a: i64,
    b: i64,
}

/// State of the server in [`typed_params_and_errors`].
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

async fn divide(a: f64, b: f64) -> Result<f64, RpcError> {
    if b == 0.0 {
        return Err(RpcError::new("ZeroDivisionError", "division by zero"));
    }
    Ok(a / b)
}

/// Typed parameters: a struct by keyword (and by position), a positional tuple, an async fn,
/// a `Result` naming its failure, `MethodNotFound`, `InvalidParams` naming the argument, and
/// state reached through `Ctx<S>`.
pub async fn typed_params_and_errors<R: Runtime + Default>() {
    let counter = Counter::default();
    let methods = Methods::<Counter>::with_state()
        .add("Sum", |p: Pair| p.a + p.b)
        .add("Add", |a: i64, b: i64| a + b)
        .add("Divide", divide)
        .add("Count", |ctx: Ctx<Counter>| {
            ctx.state().0.fetch_add(1, Ordering::SeqCst) + 1
        });
    let server = serve_with::<R, _>(Config::default(), counter.clone(), methods).await;
    let peer = client::<R>(&server.url, Methods::new()).await;

    let mut kwargs = Map::new();
    kwargs.insert("a".into(), json!(1));
    kwargs.insert("b".into(), json!(2));
    assert_eq!(
        call::<R, i64>(&peer, "Sum", Params::keyword(kwargs)).await,
        Ok(3)
    );
    assert_eq!(
        call::<R, i64>(&peer, "Sum", json!({"a": 10, "b": 20})).await,
        Ok(30)
    );
    assert_eq!(
        call::<R, i64>(&peer, "Sum", Pair { a: 4, b: 5 }).await,
        Ok(9)
    );
    let mut b_only = Map::new();
    b_only.insert("b".into(), json!(2));
    let mixed = Params::new(vec![json!(1)], b_only);
    assert_eq!(call::<R, i64>(&peer, "Sum", mixed).await, Ok(3));
    assert_eq!(call::<R, i64>(&peer, "Add", (5, 10)).await, Ok(15));
    assert_eq!(call::<R, f64>(&peer, "Divide", (1.0, 4.0)).await, Ok(0.25));

    let error = |result: Result<Value, CallError>| match result {
        Err(CallError::Remote(e)) => e,
        other => panic!("expected a remote failure, got {other:?}"),
    };
    let zero = error(call::<R, Value>(&peer, "Divide", (1.0, 0.0)).await);
    assert_eq!(zero, RpcError::new("ZeroDivisionError", "division by zero"));
    let missing = error(call::<R, Value>(&peer, "Nope", ()).await);
    assert_eq!(missing.kind, RpcError::METHOD_NOT_FOUND);

    let details = |e: &RpcError| e.details.as_str().unwrap_or_default().to_owned();
    let no_b = error(call::<R, Value>(&peer, "Sum", json!({"a": 1})).await);
    assert_eq!(no_b.kind, RpcError::INVALID_PARAMS);
    assert!(details(&no_b).contains("'b'"), "{no_b}");
    let bad_a = error(call::<R, Value>(&peer, "Sum", json!({"a": "one", "b": 2})).await);
    assert_eq!(bad_a.kind, RpcError::INVALID_PARAMS);
    assert!(details(&bad_a).contains("'a'"), "{bad_a}");
    let unknown = error(call::<R, Value>(&peer, "Sum", json!({"a": 1, "b": 2, "c": 3})).await);
    assert_eq!(unknown.kind, RpcError::INVALID_PARAMS);
    assert!(details(&unknown).contains("'c'"), "{unknown}");
    let too_many = error(call::<R, Value>(&peer, "Add", (1, 2, 3)).await);
    assert_eq!(too_many.kind, RpcError::INVALID_PARAMS);
    let wrong_type = error(call::<R, Value>(&peer, "Add", ("x", 1)).await);
    assert_eq!(wrong_type.kind, RpcError::INVALID_PARAMS);
    assert!(details(&wrong_type).contains("argument 1"), "{wrong_type}");

    // An answer that does not decode into the type asked for is a local failure.
    assert!(matches!(
        call::<R, String>(&peer, "Add", (1, 2)).await,
        Err(CallError::Decode(_))
    ));

    assert_eq!(call::<R, usize>(&peer, "Count", ()).await, Ok(1));
    assert_eq!(call::<R, usize>(&peer, "Count", ()).await, Ok(2));
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);
}

/// Malformed input: invalid JSON, invalid UTF-8, non-object JSON and request-shaped objects
/// without an id get nothing back; a binary frame with a valid request is answered; fields of
/// the wrong type with an id get `InvalidRequest`; the connection goes on serving.
pub async fn malformed_input_is_survived<R: Runtime + Default>() {
    let methods = Methods::new().add("Add", |a: i64, b: i64| a + b);
    let server = serve::<R>(Config::default(), methods).await;
    let mut raw = Raw::<R>::connect(&server.url).await;

    raw.send_text("this is not JSON").await;
    raw.send_text("{\"method\": \"Add\", \"args\": [1, 2], \"id\": 99")
        .await;
    raw.send(Message::binary(vec![0xff, 0xfe, b'{', b'}']))
        .await;
    for not_an_object in ["[1, 2, 3]", "42", "\"Add\"", "null", "{}", "{\"id\": 98}"] {
        raw.send_text(not_an_object).await;
    }
    let valid = request("Add", json!([1, 2]), 1).to_string();
    raw.send(Message::binary(valid.into_bytes())).await;
    raw.send_json(&json!({"method": 5, "args": [], "kwargs": {}, "id": 2}))
        .await;
    raw.send_json(&json!({"method": "Add", "args": {"a": 1}, "kwargs": {}, "id": 3}))
        .await;
    raw.send_json(&json!({"method": "Add", "args": [], "kwargs": [1], "id": 4}))
        .await;
    raw.send_json(&json!({"method": 5, "args": "x"})).await;
    raw.send_json(&request("Add", json!([2, 3]), 5)).await;

    // Frames go out in the order they are produced. Malformed input is handled (and would be
    // answered, were it answered) as it is read, so before the request with id 5 is even read:
    // whatever it got back arrives before the answers to ids 1 and 5.
    let mut answers = BTreeMap::new();
    loop {
        let answer = raw.recv_json().await;
        let id = answer["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("unexpected frame {answer}"));
        assert!(
            answers.insert(id, answer).is_none(),
            "id {id} answered twice"
        );
        if answers.contains_key(&1) && answers.contains_key(&5) {
            break;
        }
    }
    assert_eq!(answers.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(answers[&1], success(1, json!(3)));
    for id in [2, 3, 4] {
        assert_eq!(
            answers[&id]["error"],
            json!(RpcError::INVALID_REQUEST),
            "{}",
            answers[&id]
        );
    }
    assert_eq!(answers[&5], success(5, json!(5)));

    raw.send_json(&request("Add", json!([20, 22]), 6)).await;
    assert_eq!(raw.recv_json().await, success(6, json!(42)));
}

async fn who_am_i<R: Runtime + Default>(peer: &Peer) -> Result<Option<String>, CallError> {
    call::<R, _>(peer, "WhoAmI", ()).await
}

/// Connection-local state (`Peer::set_local`/`local`) is per connection; `Peer::closed()`
/// resolves on both sides when a connection closes, and only for that connection.
pub async fn connection_local_state_and_closed<R: Runtime + Default>() {
    #[derive(Debug)]
    struct User(String);

    let (opened, mut opens) = mpsc::unbounded::<Peer>();
    let methods = Methods::new()
        .add("Login", |ctx: Ctx, name: String| {
            ctx.peer().set_local(User(name))
        })
        .add("WhoAmI", |ctx: Ctx| {
            ctx.peer().local::<User>().map(|user| user.0.clone())
        })
        .on_open(move |ctx: Ctx| {
            let _ = opened.unbounded_send(ctx.peer().clone());
            async {}
        });
    let server = serve::<R>(Config::default(), methods).await;

    let alice = client::<R>(&server.url, Methods::new()).await;
    let alice_on_server = signal::<R, _>("alice's open", &mut opens).await;
    let bob = client::<R>(&server.url, Methods::new()).await;
    let bob_on_server = signal::<R, _>("bob's open", &mut opens).await;
    let anonymous = client::<R>(&server.url, Methods::new()).await;

    assert_eq!(call::<R, ()>(&alice, "Login", ("alice",)).await, Ok(()));
    assert_eq!(call::<R, ()>(&bob, "Login", ("bob",)).await, Ok(()));
    assert_eq!(who_am_i::<R>(&alice).await, Ok(Some("alice".to_owned())));
    assert_eq!(who_am_i::<R>(&bob).await, Ok(Some("bob".to_owned())));
    assert_eq!(who_am_i::<R>(&anonymous).await, Ok(None));
    assert_eq!(call::<R, ()>(&alice, "Login", ("alice2",)).await, Ok(()));
    assert_eq!(who_am_i::<R>(&alice).await, Ok(Some("alice2".to_owned())));
    // Every handle of a connection sees its locals.
    let local = alice_on_server.local::<User>().map(|user| user.0.clone());
    assert_eq!(local.as_deref(), Some("alice2"));

    assert!(!alice_on_server.is_closed());
    alice.close();
    within::<R, _>("the client side to close", alice.closed()).await;
    within::<R, _>("the server side to close", alice_on_server.closed()).await;
    assert!(alice.is_closed() && alice_on_server.is_closed());
    assert_eq!(
        who_am_i::<R>(&alice).await,
        Err(CallError::ConnectionClosed)
    );

    let bob_closed = timeout::<R, _>(Duration::from_millis(50), bob_on_server.closed()).await;
    assert!(
        bob_closed.is_none() && !bob_on_server.is_closed(),
        "bob's connection closed too"
    );
    assert_eq!(who_am_i::<R>(&bob).await, Ok(Some("bob".to_owned())));
}
