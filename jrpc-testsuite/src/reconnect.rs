//! The Rust client reconnects ([`Builder::reconnect`](jrpc_driver::Builder::reconnect)): the
//! same [`Peer`] works across a server restart on the same port, `on_open` runs for each
//! connection, calls made while disconnected fail at once or wait (the caller's choice), a user
//! close stops the reconnecting, and the backoff keeps dialling bounded.

use std::net::SocketAddr;

use jrpc_driver::Reconnect;

use super::*;

/// Quick retries, so that the cases do not wait for the default backoff.
fn quick(wait: bool) -> Reconnect {
    Reconnect::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
        .queue_while_disconnected(wait)
}

/// The server's methods: `Add`, and `Note`, which hands its argument to the test.
fn server_methods() -> (Methods, mpsc::UnboundedReceiver<String>) {
    let (note, notes) = mpsc::unbounded();
    let methods =
        Methods::new()
            .add("Add", |a: i64, b: i64| a + b)
            .add("Note", move |text: String| {
                let _ = note.unbounded_send(text);
            });
    (methods, notes)
}

/// Serves [`server_methods`] on `addr` (a port just freed may take a moment to bind again).
async fn serve_at<R: Runtime + Default>(
    addr: SocketAddr,
) -> (Running, mpsc::UnboundedReceiver<String>) {
    let (methods, notes) = server_methods();
    let mut methods = Some(methods);
    let bind = async {
        loop {
            let Some(table) = methods.take() else {
                unreachable!("the methods are put back after each failed bind")
            };
            match Server::<R>::builder().bind(addr, table).await {
                Ok(server) => return server,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    methods = Some(server_methods().0);
                    sleep::<R>(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("bind {addr}: {e}"),
            }
        }
    };
    let server = within::<R, _>("bind the same port again", bind).await;
    let running = Running {
        addr: server.local_addr(),
        url: format!("ws://{}", server.local_addr()),
        handle: server.handle(),
    };
    R::default().spawn(server.run());
    (running, notes)
}

/// A reconnecting client of `url`, and the ids of its connections as each opens and closes.
/// Its `on_open` subscribes, as a real client would: it notifies `Note("subscribed")` through
/// the new connection.
async fn reconnecting_client<R: Runtime + Default>(
    url: &str,
    reconnect: Reconnect,
) -> (
    Peer,
    mpsc::UnboundedReceiver<u64>,
    mpsc::UnboundedReceiver<u64>,
) {
    let (opened, opens) = mpsc::unbounded();
    let (closed, closes) = mpsc::unbounded();
    let methods = Methods::new()
        .on_open(move |ctx: Ctx| {
            let _ = opened.unbounded_send(ctx.peer().id());
            let peer = ctx.peer().clone();
            async move {
                // Unknown to some of the cases' servers, which log it and go on.
                let _ = peer.invoke("Note", ("subscribed",)).await;
            }
        })
        .on_close(move |ctx: Ctx| {
            let _ = closed.unbounded_send(ctx.peer().id());
            async {}
        });
    let connect = Client::<R>::builder()
        .reconnect(reconnect)
        .connect(url, methods);
    let peer = within::<R, _>("connect", connect).await.expect("connect");
    (peer, opens, closes)
}

/// A reconnecting client whose server went away: its first connection opened, the server shut
/// down, and the connection's `on_close` ran. A server may come back on `addr`.
struct Stranded {
    addr: SocketAddr,
    peer: Peer,
    opens: mpsc::UnboundedReceiver<u64>,
}

async fn stranded<R: Runtime + Default>(reconnect: Reconnect) -> Stranded {
    let (server, _) = serve_at::<R>("127.0.0.1:0".parse().unwrap()).await;
    let (peer, mut opens, mut closes) = reconnecting_client::<R>(&server.url, reconnect).await;
    signal::<R, _>("on_open", &mut opens).await;
    within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
    signal::<R, _>("on_close", &mut closes).await;
    Stranded {
        addr: server.addr,
        peer,
        opens,
    }
}

/// The next note other than the clients' subscriptions.
async fn next_note<R: Runtime + Default>(
    what: &str,
    notes: &mut mpsc::UnboundedReceiver<String>,
) -> String {
    loop {
        let text = signal::<R, _>(what, notes).await;
        if text != "subscribed" {
            return text;
        }
    }
}

/// Whether `receiver` gets anything within `window` (which the case then waits out).
async fn gets_any<R: Runtime + Default, T>(
    receiver: &mut mpsc::UnboundedReceiver<T>,
    window: Duration,
) -> bool {
    // A channel whose senders are gone (the client's methods, dropped with it) gets nothing.
    matches!(
        timeout::<R, _>(window, receiver.next()).await,
        Some(Some(_))
    )
}

/// The server restarts on the same port: the same `Peer` calls it again, `on_open` ran once per
/// connection (two, each a connection of its own) and subscribed again through the new one,
/// `on_close` ran once for the lost one, and the handle never counted as closed.
pub async fn reconnecting_client_survives_a_server_restart<R: Runtime + Default>() {
    let (server, mut notes) = serve_at::<R>("127.0.0.1:0".parse().unwrap()).await;
    let (peer, mut opens, mut closes) = reconnecting_client::<R>(&server.url, quick(true)).await;
    let first = signal::<R, _>("the first on_open", &mut opens).await;
    assert_eq!(
        signal::<R, _>("a subscription", &mut notes).await,
        "subscribed"
    );
    assert_eq!(call::<R, i64>(&peer, "Add", (1, 2)).await, Ok(3));

    within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
    assert_eq!(signal::<R, _>("on_close", &mut closes).await, first);
    assert!(
        !peer.is_closed(),
        "a reconnecting handle is not closed between connections"
    );

    let (server, mut notes) = serve_at::<R>(server.addr).await;
    let second = signal::<R, _>("the second on_open", &mut opens).await;
    assert_eq!(
        signal::<R, _>("the subscription again", &mut notes).await,
        "subscribed",
        "on_open subscribed again on the new connection"
    );
    assert_ne!(second, first, "each connection is one of its own");
    assert_eq!(call::<R, i64>(&peer, "Add", (20, 22)).await, Ok(42));
    assert_eq!(
        peer.id(),
        first,
        "the handle keeps the id of its first connection"
    );
    assert!(opens.try_recv().is_err(), "on_open ran exactly twice");

    // And again: a second restart is no different from the first.
    within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
    assert_eq!(signal::<R, _>("on_close", &mut closes).await, second);
    let (server, _) = serve_at::<R>(server.addr).await;
    signal::<R, _>("the third on_open", &mut opens).await;
    assert_eq!(call::<R, i64>(&peer, "Add", (2, 2)).await, Ok(4));
    assert!(!peer.is_closed());
    peer.close();
    within::<R, _>("closed()", peer.closed()).await;
    within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
}

/// Without queueing, a call made while the server is down fails at once with
/// `ConnectionClosed` (its timeout is far longer than the case waits), and so do notifications;
/// once the server is back they succeed again.
pub async fn calls_while_down_fail_at_once_without_queueing<R: Runtime + Default>() {
    let Stranded {
        addr,
        peer,
        mut opens,
        ..
    } = stranded::<R>(quick(false)).await;

    let long = Some(Duration::from_secs(3600));
    let answer = within::<R, _>(
        "a call to fail",
        peer.request_with_timeout::<i64>("Add", (1, 1), long),
    )
    .await;
    assert_eq!(answer, Err(CallError::ConnectionClosed));
    let sent = within::<R, _>("a notification to fail", peer.invoke("Note", ("lost",))).await;
    assert_eq!(sent, Err(CallError::ConnectionClosed));
    assert_eq!(
        peer.try_invoke("Note", ("lost",)),
        Err(CallError::ConnectionClosed)
    );

    let (server, mut notes) = serve_at::<R>(addr).await;
    signal::<R, _>("on_open after the restart", &mut opens).await;
    assert_eq!(call::<R, i64>(&peer, "Add", (1, 1)).await, Ok(2));
    within::<R, _>("invoke", peer.invoke("Note", ("kept",)))
        .await
        .unwrap();
    assert_eq!(next_note::<R>("the note", &mut notes).await, "kept");
    peer.close();
    within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
}

/// With queueing (the default), calls made while the server is down wait for the next
/// connection and succeed on it; a notification made meanwhile arrives too.
pub async fn calls_while_down_wait_for_the_next_connection<R: Runtime + Default>() {
    let Stranded {
        addr,
        peer,
        mut opens,
        ..
    } = stranded::<R>(quick(true)).await;

    let mut waiting = Box::pin(peer.request_with_timeout::<i64>("Add", (40, 2), Some(WAIT)));
    let mut note = Box::pin(peer.invoke("Note", ("sent while down",)));
    // Both stay pending while there is no server (long enough for several dial attempts).
    drive_until(&mut waiting, sleep::<R>(Duration::from_millis(300))).await;
    drive_until(&mut note, sleep::<R>(Duration::from_millis(10))).await;

    let (server, mut notes) = serve_at::<R>(addr).await;
    assert_eq!(within::<R, _>("the waiting call", waiting).await, Ok(42));
    within::<R, _>("the waiting notification", note)
        .await
        .unwrap();
    assert_eq!(
        next_note::<R>("the note", &mut notes).await,
        "sent while down"
    );
    signal::<R, _>("on_open after the restart", &mut opens).await;
    peer.close();
    within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
}

/// With queueing, a call made while the server is down fails with `Timeout` when no connection
/// comes within its timeout; the client keeps trying, and `close` then ends it.
pub async fn calls_while_down_time_out_when_no_server_comes<R: Runtime + Default>() {
    let Stranded { peer, .. } = stranded::<R>(quick(true)).await;

    let short = Some(Duration::from_millis(200));
    let answer = within::<R, _>(
        "a call to time out",
        peer.request_with_timeout::<i64>("Add", (1, 1), short),
    )
    .await;
    assert_eq!(answer, Err(CallError::Timeout));
    assert!(!peer.is_closed());

    // A call waiting when the client is closed fails at once with ConnectionClosed.
    let mut waiting = Box::pin(peer.request_with_timeout::<i64>("Add", (1, 1), Some(WAIT)));
    drive_until(&mut waiting, sleep::<R>(Duration::from_millis(50))).await;
    peer.close();
    assert_eq!(
        within::<R, _>("the waiting call", waiting).await,
        Err(CallError::ConnectionClosed)
    );
    within::<R, _>("closed()", peer.closed()).await;
    assert!(peer.is_closed());
}

/// `close` stops the reconnecting, whether a connection is open or the client is between two:
/// `closed()` resolves, calls fail at once (also with queueing), and a server that comes back
/// on the port sees no new connection.
pub async fn closing_a_reconnecting_client_stops_it<R: Runtime + Default>() {
    // Closed while connected.
    let (watched, mut server_opens, mut server_closes) =
        push::serve_watched::<R>(Config::default(), Methods::new()).await;
    let (peer, mut opens, mut closes) = reconnecting_client::<R>(&watched.url, quick(true)).await;
    signal::<R, _>("on_open", &mut opens).await;
    signal::<R, _>("the server's on_open", &mut server_opens).await;
    peer.close();
    within::<R, _>("closed()", peer.closed()).await;
    assert!(peer.is_closed());
    signal::<R, _>("on_close", &mut closes).await;
    signal::<R, _>("the server's on_close", &mut server_closes).await;
    assert_eq!(
        call::<R, i64>(&peer, "Add", (1, 1)).await,
        Err(CallError::ConnectionClosed)
    );
    assert!(
        !gets_any::<R, _>(&mut server_opens, Duration::from_millis(300)).await,
        "a closed client dialled again"
    );
    within::<R, _>("shutdown", watched.handle.shutdown(Duration::ZERO)).await;

    // Closed between connections.
    let Stranded {
        addr,
        peer,
        mut opens,
        ..
    } = stranded::<R>(quick(true)).await;
    sleep::<R>(Duration::from_millis(50)).await; // a dial attempt or two
    peer.close();
    within::<R, _>("closed()", peer.closed()).await;
    let (server, _) = serve_at::<R>(addr).await;
    assert!(
        !gets_any::<R, _>(&mut opens, Duration::from_millis(300)).await,
        "a closed client connected again"
    );
    assert_eq!(
        call::<R, i64>(&peer, "Add", (1, 1)).await,
        Err(CallError::ConnectionClosed)
    );
    within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
}

/// Listens on `addr` with a plain TCP listener that drops every connection at once (so every
/// dial fails), counting them.
async fn refuse_handshakes<R: Runtime + Default>(addr: SocketAddr) -> Arc<AtomicUsize> {
    let rt = R::default();
    let bind = async {
        loop {
            match rt.bind(addr).await {
                Ok(listener) => return listener,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    sleep::<R>(Duration::from_millis(20)).await
                }
                Err(e) => panic!("bind {addr}: {e}"),
            }
        }
    };
    let listener = within::<R, _>("bind the same port again", bind).await;
    let dials = Arc::new(AtomicUsize::new(0));
    let count = dials.clone();
    rt.spawn(async move {
        // Ends with the case's runtime.
        while let Ok((tcp, _)) = R::accept(&listener).await {
            count.fetch_add(1, Ordering::Relaxed);
            drop(tcp);
        }
    });
    dials
}

/// Dialling backs off: against a port whose every handshake fails, the attempts over a window
/// are few (delays 50, 100, 200, 200… ms, less jitter), not a busy loop; with `max_attempts`
/// the client gives up after exactly that many, and `closed()` then resolves.
pub async fn reconnect_backoff_is_bounded<R: Runtime + Default>() {
    let (server, _) = serve_at::<R>("127.0.0.1:0".parse().unwrap()).await;
    let backoff = Reconnect::default()
        .initial_delay(Duration::from_millis(50))
        .max_delay(Duration::from_millis(200))
        .factor(2.0)
        .jitter(0.5);
    let (peer, mut opens, mut closes) = reconnecting_client::<R>(&server.url, backoff).await;
    signal::<R, _>("on_open", &mut opens).await;
    within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
    signal::<R, _>("on_close", &mut closes).await;
    let dials = refuse_handshakes::<R>(server.addr).await;
    sleep::<R>(Duration::from_millis(1000)).await;
    let attempts = dials.load(Ordering::Relaxed);
    // At most 25 + 50 + 100 + 100… ms apart: no more than 12 in a second; at least 50 + 100 +
    // 200… ms: some, all the same.
    assert!(
        (1..=12).contains(&attempts),
        "{attempts} dial attempts in one second"
    );
    assert!(!peer.is_closed());
    peer.close();
    within::<R, _>("closed()", peer.closed()).await;

    // Giving up after a number of attempts (spaced widely enough that none is made before the
    // refusing listener is bound).
    let (server, _) = serve_at::<R>("127.0.0.1:0".parse().unwrap()).await;
    let limited = Reconnect::default()
        .initial_delay(Duration::from_millis(200))
        .max_delay(Duration::from_millis(200))
        .max_attempts(Some(3));
    let (peer, mut opens, mut closes) = reconnecting_client::<R>(&server.url, limited).await;
    signal::<R, _>("on_open", &mut opens).await;
    within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
    signal::<R, _>("on_close", &mut closes).await;
    let dials = refuse_handshakes::<R>(server.addr).await;
    let mut waiting = Box::pin(peer.request_with_timeout::<i64>("Add", (1, 1), Some(WAIT)));
    drive_until(&mut waiting, sleep::<R>(Duration::from_millis(20))).await;
    within::<R, _>("the client to give up", peer.closed()).await;
    assert!(peer.is_closed());
    assert_eq!(
        dials.load(Ordering::Relaxed),
        3,
        "exactly max_attempts dials"
    );
    // The call waiting for a connection fails once there will be none.
    assert_eq!(
        within::<R, _>("the waiting call", waiting).await,
        Err(CallError::ConnectionClosed)
    );
    assert_eq!(
        call::<R, i64>(&peer, "Add", (1, 1)).await,
        Err(CallError::ConnectionClosed)
    );
}

/// A WebSocket server on 127.0.0.1 that accepts one connection and never reads it, until the
/// returned sender is used (or dropped): it then drops the socket and stops listening.
async fn stuck_server<R: Runtime + Default>() -> (SocketAddr, oneshot::Sender<()>) {
    use jrpc_driver::tungstenite::handshake::server::{Request as ServerRequest, Response};

    let rt = R::default();
    let listener = rt
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind 127.0.0.1:0");
    let addr = R::local_addr(&listener).unwrap();
    let (release, released) = oneshot::channel::<()>();
    rt.spawn(async move {
        let (tcp, _) = R::accept(&listener).await.expect("accept");
        // tungstenite's callback signature, with its large error type.
        #[allow(clippy::result_large_err)]
        let callback = |_: &ServerRequest, response: Response| Ok(response);
        let socket = R::accept_websocket(tcp, callback, WebSocketConfig::default())
            .await
            .expect("server handshake");
        let _ = released.await;
        drop(socket);
        drop(listener);
    });
    (addr, release)
}

/// A call waiting for room in the full queue of a connection that then ends was never sent:
/// with queueing it moves to the next connection and is answered there; without, it fails
/// with `ConnectionClosed`.
pub async fn a_call_waiting_for_room_moves_to_the_next_connection<R: Runtime + Default>() {
    for wait in [true, false] {
        let (addr, release) = stuck_server::<R>().await;
        let config = Config::default()
            .max_queued_bytes(4 << 10)
            .slow_consumer_timeout(Duration::from_secs(3600))
            .ping_interval(None);
        let url = format!("ws://{addr}");
        let connect = Client::<R>::builder()
            .config(config)
            .reconnect(quick(wait))
            .connect(&url, Methods::new());
        let peer = within::<R, _>("connect", connect).await.expect("connect");

        // Notifications until the socket takes no more (the server never reads): then one
        // waits for room for good.
        let text = "x".repeat(64 << 10);
        let mut pushed = 0;
        loop {
            let push = peer.invoke("Note", (&text,));
            match timeout::<R, _>(Duration::from_millis(500), push).await {
                Some(Ok(())) => pushed += 1,
                Some(Err(e)) => panic!("a notification failed: {e}"),
                None => break,
            }
            assert!(pushed < 4096, "the server's socket never filled");
        }
        assert!(peer.stats().queued_bytes > 0);
        let mut waiting = Box::pin(peer.request_with_timeout::<i64>("Add", (1, 2), Some(WAIT)));
        drive_until(&mut waiting, sleep::<R>(Duration::from_millis(100))).await;

        // The connection ends under it; a real server comes on the same port.
        release.send(()).unwrap();
        let (server, _) = serve_at::<R>(addr).await;
        let answer = within::<R, _>("the waiting call", waiting).await;
        match wait {
            true => assert_eq!(answer, Ok(3)),
            false => assert_eq!(answer, Err(CallError::ConnectionClosed)),
        }
        peer.close();
        within::<R, _>("shutdown", server.handle.shutdown(Duration::ZERO)).await;
    }
}
