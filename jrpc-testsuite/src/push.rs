//! Server push that holds up: the bounded outbound queue (backpressure, `try_invoke`, the
//! slow-consumer close), the connection's figures, and heartbeats in both directions.

use std::sync::atomic::AtomicBool;

use jrpc_driver::tungstenite::handshake::server::{Request as ServerRequest, Response};
use jrpc_driver::{CLOSE_HEARTBEAT_TIMEOUT, CLOSE_SLOW_CONSUMER, Frame};

use super::*;

/// A server that hands the test each connection's [`Peer`] as it opens, and each closed
/// connection's id.
pub(crate) async fn serve_watched<R: Runtime + Default>(
    config: Config,
    methods: Methods,
) -> (
    Running,
    mpsc::UnboundedReceiver<Peer>,
    mpsc::UnboundedReceiver<u64>,
) {
    let (opened, opens) = mpsc::unbounded();
    let (closed, closes) = mpsc::unbounded();
    let methods = methods
        .on_open(move |ctx: Ctx| {
            let _ = opened.unbounded_send(ctx.peer().clone());
            async {}
        })
        .on_close(move |ctx: Ctx| {
            let _ = closed.unbounded_send(ctx.peer().id());
            async {}
        });
    (serve::<R>(config, methods).await, opens, closes)
}

/// A ~1 KB payload for pushes.
fn payload() -> String {
    "x".repeat(1000)
}

/// A page that stops reading while the server pushes at it for 10 s, with `try_invoke` and a
/// waiting `invoke` side by side: what waits for it never exceeds the configured limit (plus one
/// frame), the surplus is refused with `QueueFull`, the waiting producer stays parked, and a
/// request waiting for room ends with its timeout.
pub async fn non_reading_peer_keeps_the_queue_bounded<R: Runtime + Default>() {
    let limit = 64 << 10;
    let config = Config::default()
        .max_queued_bytes(limit)
        .slow_consumer_timeout(Duration::from_secs(3600));
    let (server, mut opens, _closes) = serve_watched::<R>(config, Methods::new()).await;
    let _page = Raw::<R>::connect(&server.url).await; // never reads
    let peer = signal::<R, _>("on_open", &mut opens).await;

    let text = payload();
    let frame_len = Frame::notification("Tick", (&text,), usize::MAX)
        .unwrap()
        .len();
    let waited = Arc::new(AtomicUsize::new(0));
    let waiting = {
        let (peer, text, waited) = (peer.clone(), text.clone(), waited.clone());
        async move {
            while peer.invoke("Tick", (&text,)).await.is_ok() {
                waited.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    R::default().spawn(waiting);

    let (mut pushed, mut refused, mut most_queued) = (0usize, 0usize, 0usize);
    let begun = Instant::now();
    while begun.elapsed() < Duration::from_secs(10) {
        for _ in 0..50 {
            match peer.try_invoke("Tick", (&text,)) {
                Ok(()) => pushed += 1,
                Err(CallError::QueueFull { limit: l }) => {
                    assert_eq!(l, limit);
                    refused += 1;
                }
                Err(e) => panic!("try_invoke failed with {e:?}"),
            }
        }
        most_queued = most_queued.max(peer.stats().queued_bytes);
        sleep::<R>(Duration::from_millis(10)).await;
    }
    assert!(
        pushed > 0 && refused > 0,
        "pushed {pushed}, refused {refused}"
    );
    assert!(
        most_queued <= limit + frame_len,
        "{most_queued} bytes queued for a limit of {limit}"
    );
    assert!(
        most_queued > limit / 2,
        "the queue never filled: {most_queued}"
    );
    // The waiting producer is parked: it makes no progress while the page does not read.
    let parked = waited.load(Ordering::Relaxed);
    sleep::<R>(Duration::from_millis(300)).await;
    assert_eq!(waited.load(Ordering::Relaxed), parked);
    // A call waiting for room gives up at its timeout.
    let call = peer.request_with_timeout::<()>("Anything", (), Some(Duration::from_millis(200)));
    assert_eq!(
        within::<R, _>("a call waiting for room", call).await,
        Err(CallError::Timeout)
    );
    assert!(!peer.is_closed(), "not a slow consumer yet (an hour)");
    server.handle.shutdown(Duration::from_millis(100)).await;
}

/// A page whose queue stays full past the slow-consumer timeout is closed with 1008: the
/// producer waiting for room and the call waiting for an answer fail at once with
/// `ConnectionClosed`, `on_close` runs, and the page, once it reads, finds the close frame after
/// what was queued for it.
pub async fn slow_consumer_is_closed_with_1008<R: Runtime + Default>() {
    let config = Config::default()
        .max_queued_bytes(16 << 10)
        .slow_consumer_timeout(Duration::from_millis(500))
        .close_timeout(Duration::from_secs(5));
    let (server, mut opens, mut closes) = serve_watched::<R>(config, Methods::new()).await;
    let mut page = Raw::<R>::connect(&server.url).await;
    let peer = signal::<R, _>("on_open", &mut opens).await;

    let unanswered = peer.request::<()>("NeverAnswered", ());
    let text = payload();
    let producer = async {
        loop {
            if let Err(e) = peer.invoke("Tick", (&text,)).await {
                return e;
            }
        }
    };
    let (error, answer) = within::<R, _>(
        "the slow consumer to be closed",
        future::join(producer, unanswered),
    )
    .await;
    assert_eq!(error, CallError::ConnectionClosed);
    assert_eq!(answer, Err(CallError::ConnectionClosed));

    // The page reads at last: everything queued before the close, then the close frame.
    let mut ticks = 0;
    let code = loop {
        match page.next().await {
            Some(Message::Text(_)) => ticks += 1,
            Some(Message::Close(Some(frame))) => break u16::from(frame.code),
            other => panic!("expected messages then a close frame, got {other:?}"),
        }
    };
    // Completes the close handshake.
    while page.next().await.is_some() {}
    assert_eq!(code, CLOSE_SLOW_CONSUMER);
    assert!(ticks > 0);
    assert_eq!(signal::<R, _>("on_close", &mut closes).await, peer.id());
    assert!(peer.is_closed());
    assert_eq!(
        peer.try_invoke("Tick", ()),
        Err(CallError::ConnectionClosed)
    );
}

/// `Peer::stats` shows what the queue policy sees: our calls awaiting answers and the peer's
/// methods running, on the server's handle of a connection.
pub async fn stats_count_calls_and_running_methods<R: Runtime + Default>() {
    let gate = Gate::new();
    let method_gate = gate.clone();
    let methods = Methods::new().add("Hold", move || {
        let gate = method_gate.clone();
        async move { gate.wait().await }
    });
    let (server, mut opens, _closes) = serve_watched::<R>(Config::default(), methods).await;
    let client_gate = gate.clone();
    let client_methods = Methods::new().add("Hold", move || {
        let gate = client_gate.clone();
        async move { gate.wait().await }
    });
    let client = client::<R>(&server.url, client_methods).await;
    let peer = signal::<R, _>("on_open", &mut opens).await;
    assert_eq!(peer.stats(), jrpc_driver::ConnectionStats::default());

    let ours = peer.request::<()>("Hold", ());
    let theirs = client.request::<()>("Hold", ());
    let both = pin!(future::join(ours, theirs));
    let watch = async {
        loop {
            let stats = peer.stats();
            if stats.outstanding_calls == 1 && stats.methods_running == 1 {
                return stats;
            }
            sleep::<R>(Duration::from_millis(5)).await;
        }
    };
    let mut both = both;
    let stats = within::<R, _>("the figures", drive_until(&mut both, watch)).await;
    assert_eq!(stats.queued_bytes, 0, "{stats:?}");
    gate.open();
    let (a, b) = within::<R, _>("both calls", both).await;
    assert_eq!((a, b), (Ok(()), Ok(())));
    let settled = async {
        while peer.stats() != jrpc_driver::ConnectionStats::default() {
            sleep::<R>(Duration::from_millis(5)).await;
        }
    };
    within::<R, _>("the figures to settle", settled).await;
}

/// The server pings every interval: a page that answers (any client that reads) stays across
/// many intervals, one that has fallen silent is dropped with `on_close` within interval plus
/// timeout, and its calls fail at once.
pub async fn server_heartbeat_drops_a_silent_peer_only<R: Runtime + Default>() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .ping_timeout(Duration::from_millis(200));
    let methods = Methods::new().add("Add", |a: i64, b: i64| a + b);
    let (server, mut opens, mut closes) = serve_watched::<R>(config, methods).await;
    let live = client::<R>(&server.url, Methods::new()).await;
    let live_peer = signal::<R, _>("on_open of the live client", &mut opens).await;
    let _silent = Raw::<R>::connect(&server.url).await; // never reads: never answers a ping
    let silent_peer = signal::<R, _>("on_open of the silent page", &mut opens).await;

    let unanswered = silent_peer.request::<()>("NeverAnswered", ());
    let dropped = async {
        let id = signal::<R, _>("on_close of the silent page", &mut closes).await;
        (id, unanswered.await)
    };
    let (id, answer) = within::<R, _>("the silent page to be dropped", dropped).await;
    assert_eq!(id, silent_peer.id());
    assert_eq!(answer, Err(CallError::ConnectionClosed));

    // The live client has seen many pings by now (and answered them): still there.
    sleep::<R>(Duration::from_millis(1000)).await;
    assert_eq!(call::<R, i64>(&live, "Add", (2, 3)).await, Ok(5));
    assert!(!live.is_closed() && !live_peer.is_closed());
    assert_eq!(
        closes.try_recv().ok(),
        None,
        "only the silent page was dropped"
    );
}

/// The Rust client pings its server too: a server that accepted the WebSocket and then fell
/// silent is dropped within interval plus timeout, and the call waiting on it fails at once.
pub async fn client_heartbeat_drops_a_silent_server<R: Runtime + Default>() {
    let rt = R::default();
    let listener = rt
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!("ws://{}", R::local_addr(&listener).unwrap());
    let accepted = Arc::new(AtomicBool::new(false));
    let accept = {
        let accepted = accepted.clone();
        async move {
            let (tcp, _) = R::accept(&listener).await.expect("accept");
            // tungstenite's callback signature, with its large error type.
            #[allow(clippy::result_large_err)]
            let callback = |_: &ServerRequest, response: Response| Ok(response);
            let socket = R::accept_websocket(tcp, callback, WebSocketConfig::default())
                .await
                .expect("server handshake");
            accepted.store(true, Ordering::Relaxed);
            // Holds the socket without ever reading it, for the rest of the case.
            future::pending::<()>().await;
            drop(socket);
        }
    };
    rt.spawn(accept);
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .ping_timeout(Duration::from_millis(200));
    let connect = Client::<R>::builder()
        .config(config)
        .connect(&url, Methods::new());
    let server = within::<R, _>("connect", connect).await.expect("connect");
    assert!(accepted.load(Ordering::Relaxed));
    let answer = within::<R, _>(
        "the silent server to be dropped",
        server.request::<()>("NeverAnswered", ()),
    )
    .await;
    assert_eq!(answer, Err(CallError::ConnectionClosed));
    within::<R, _>("closed()", server.closed()).await;
    assert!(server.is_closed());
}

/// What a heartbeat-dropped peer is told, when it can still read: code 1001.
pub async fn heartbeat_close_code_is_1001<R: Runtime + Default>() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .ping_timeout(Duration::from_millis(200))
        .close_timeout(Duration::from_secs(5));
    let (server, mut opens, _closes) = serve_watched::<R>(config, Methods::new()).await;
    let mut page = Raw::<R>::connect(&server.url).await;
    let peer = signal::<R, _>("on_open", &mut opens).await;
    // Silent until the server gives up (it then waits for the close handshake), then reads.
    let given_up = async {
        while !peer.is_closed() {
            sleep::<R>(Duration::from_millis(10)).await;
        }
    };
    within::<R, _>("the server to give up", given_up).await;
    let code = loop {
        match page.next().await {
            Some(Message::Close(Some(frame))) => break u16::from(frame.code),
            Some(_) => continue,
            None => panic!("the stream ended without a close frame"),
        }
    };
    assert_eq!(code, CLOSE_HEARTBEAT_TIMEOUT);
}

/// What was queued before `Peer::close` goes out ahead of the close frame: notifications
/// invoked and then a close, in one breath, all reach the server, in order.
pub async fn close_sends_what_was_queued_first<R: Runtime + Default>() {
    let (recorded, mut records) = mpsc::unbounded();
    let methods = Methods::new().add("Record", move |n: u64| {
        let _ = recorded.unbounded_send(n);
    });
    let server = serve::<R>(Config::default(), methods).await;
    let client = client::<R>(&server.url, Methods::new()).await;
    for n in 0..100u64 {
        client.invoke("Record", (n,)).await.unwrap();
    }
    client.close();
    within::<R, _>("closed()", client.closed()).await;
    for n in 0..100u64 {
        assert_eq!(signal::<R, _>("a notification", &mut records).await, n);
    }
}
