//! Hostile input over a real socket: each input is followed by a check that the same
//! connection (or, after the server closed it, a new one) still gets correct answers. The
//! expected behaviour is PROTOCOL.md's ("Malformed and unexpected input") and, below JRPC,
//! RFC 6455's.
//!
//! JSON-level input goes through the runtime's own client socket ([`Raw`]); frame- and
//! TCP-level input through [`WsTcp`], a client written byte by byte over a blocking std socket
//! in a thread of its own ([`blocking`]), so every case stays runtime-generic.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;

use super::*;
use crate::tcp::{
    self, BINARY, CLOSE, CONTINUATION, End, PING, PONG, TEXT, WsTcp, await_tcp_end, encode,
};

/// Runs the blocking `body` in a thread of its own and awaits its result (bounded: 30 s). A
/// panic in the thread fails the case.
pub(crate) async fn blocking<R, T>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T
where
    R: Runtime + Default,
    T: Send + 'static,
{
    let (done, result) = oneshot::channel();
    thread::spawn(move || {
        let _ = done.send(body());
    });
    match timeout::<R, _>(Duration::from_secs(30), result).await {
        Some(Ok(value)) => value,
        Some(Err(_)) => panic!("{what}: the thread panicked (see its message above)"),
        None => panic!("{what}: did not finish within 30 s"),
    }
}

/// What the hostile servers count.
#[derive(Clone, Default)]
struct Tally {
    /// `Count` notifications run.
    counted: Arc<AtomicUsize>,
    /// `Big` calls started.
    big: Arc<AtomicUsize>,
    /// `Nap` calls running now, and the most at once.
    napping: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// The methods every hostile server serves.
fn methods<R: Runtime + Default>(tally: &Tally) -> Methods {
    let counted = tally.counted.clone();
    let big = tally.big.clone();
    let (napping, peak) = (tally.napping.clone(), tally.peak.clone());
    Methods::new()
        .add("Add", |a: i64, b: i64| a.wrapping_add(b))
        // A `Value` parameter sees the arguments raw: Echo answers the args array.
        .add("Echo", |args: Value| args)
        .add("Len", |text: String| text.len())
        .add("Count", move || {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .add("Big", move |n: usize| {
            big.fetch_add(1, Ordering::SeqCst);
            "x".repeat(n)
        })
        .add("Nap", move |ms: u64| {
            let now = napping.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let napping = napping.clone();
            async move {
                sleep::<R>(Duration::from_millis(ms)).await;
                napping.fetch_sub(1, Ordering::SeqCst);
                ms
            }
        })
        // Calls back into the client: for the cases that answer the server's calls.
        .add("AskBack", |ctx: Ctx, x: i64| async move {
            let timeout = Some(Duration::from_millis(300));
            ctx.peer()
                .request_with_timeout::<i64>("Double", (x,), timeout)
                .await
                .map_err(|e| RpcError::new("CallbackFailed", e.to_string()))
        })
}

/// A hostile server with `config` and the address it listens on.
async fn hostile_server<R: Runtime + Default>(config: Config) -> (Running, Tally) {
    let tally = Tally::default();
    (serve::<R>(config, methods::<R>(&tally)).await, tally)
}

/// Sends a request `Add(id, 1)` and checks that the next message is its answer: so nothing
/// was sent back for whatever came before it on the connection.
async fn probe<R: Runtime + Default>(raw: &mut Raw<R>, id: u64, after: &str) {
    raw.send_json(&request("Add", json!([id, 1]), id)).await;
    assert_eq!(
        raw.recv_json().await,
        success(id, json!(id + 1)),
        "the probe after {after}"
    );
}

/// [`probe`] over a [`WsTcp`].
fn probe_tcp(ws: &mut WsTcp, id: u64, after: &str) {
    ws.text(&request("Add", json!([id, 1]), id).to_string());
    assert_eq!(
        ws.recv_json(),
        success(id, json!(id + 1)),
        "the probe after {after}"
    );
}

/// A new connection to `addr` is served.
fn fresh_probe(addr: SocketAddr, after: &str) {
    let mut ws = WsTcp::connect(addr);
    probe_tcp(&mut ws, 1, after);
    ws.close();
}

/// Malformed and odd JSON on one connection: what must be ignored gets nothing back, what has
/// an id gets exactly one answer with an equal id; the connection serves throughout.
pub async fn hostile_json_is_survived<R: Runtime + Default>() {
    let (server, _) = hostile_server::<R>(Config::default().max_message_size(1 << 20)).await;
    let mut raw = Raw::<R>::connect(&server.url).await;
    let mut next = 1000;
    let mut id = || {
        next += 1;
        next
    };

    // Ignored: nothing is sent back, the next request is answered first.
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    let ignored: Vec<(&str, Message)> = vec![
        (
            "invalid UTF-8 in a binary message",
            Message::binary(b"{\"method\":\"Add\xff\",\"args\":[1,2],\"id\":1}".to_vec()),
        ),
        (
            "a UTF-16 surrogate encoded in UTF-8 (CESU-8)",
            Message::binary(b"{\"method\":\"\xed\xa0\x80\",\"id\":1}".to_vec()),
        ),
        (
            "invalid JSON: a truncated request",
            Message::text(r#"{"method": "Add", "args": [1, 2], "id": 1"#),
        ),
        (
            "invalid JSON: a request with trailing garbage",
            Message::text(r#"{"method": "Add", "args": [1, 2], "id": 1} {"#),
        ),
        ("an empty message", Message::text("")),
        (
            "a JSON array (a batch of requests)",
            Message::text(format!("[{}]", request("Add", json!([1, 2]), 1))),
        ),
        ("a JSON number", Message::text("42")),
        ("a JSON string", Message::text(r#""Add""#)),
        ("JSON null", Message::text("null")),
        ("JSON true", Message::text("true")),
        (
            "an object that is neither request nor response",
            Message::text(r#"{"id": 1, "params": [1]}"#),
        ),
        ("100,000 nested arrays", Message::text(deep(100_000))),
        (
            "a notification whose args nest 100,000 arrays deep",
            Message::text(format!(r#"{{"method":"Echo","args":[{}]}}"#, deep(100_000))),
        ),
        ("100,000 nested objects", Message::text(deep_objects)),
        (
            "wrong field types without an id",
            Message::text(r#"{"method": 5, "args": {"a": 1}, "kwargs": [1]}"#),
        ),
        (
            "wrong field types with a null id",
            Message::text(r#"{"method": "Add", "args": "1, 2", "id": null}"#),
        ),
    ];
    for (what, input) in ignored {
        raw.send(input).await;
        probe(&mut raw, id(), what).await;
    }

    // Answered: the one answer is exactly this.
    let huge = "x".repeat(900_000);
    let pairs = "\\ud83d\\ude00".repeat(50_000);
    let nested_100 = (0..100).fold(json!(1), |inner, _| json!([inner]));
    let control = "\u{0}\u{1}\u{1f}\"\\\u{7f}\u{2028}";
    let invalid = |id: u64| json!({"id": id, "error": RpcError::INVALID_REQUEST});
    let answered: Vec<(&str, String, Value)> = vec![
        // Well-formed JSON by RFC 8259's grammar that serde_json will not decode (a depth, a
        // range, a string Rust cannot hold): a request with an id is still answered.
        (
            "a request whose args nest 100,000 arrays deep",
            format!(r#"{{"method":"Echo","args":[{}],"id":21}}"#, deep(100_000)),
            invalid(21),
        ),
        (
            "a number out of range (1e999999)",
            r#"{"method":"Add","args":[1e999999, 1],"id":22}"#.to_owned(),
            invalid(22),
        ),
        (
            "a 100,000-digit integer",
            format!(
                r#"{{"method":"Add","args":[{}, 1],"id":23}}"#,
                "9".repeat(100_000)
            ),
            invalid(23),
        ),
        (
            "a lone surrogate escape (\\ud800)",
            r#"{"method":"Len","args":["\ud800"],"id":24}"#.to_owned(),
            invalid(24),
        ),
        (
            "100 nested arrays (within the parser's limit) are echoed intact",
            json!({"method": "Echo", "args": [nested_100], "id": 1}).to_string(),
            json!({"id": 1, "result": [nested_100], "error": null}),
        ),
        (
            "a 900,000-byte string",
            json!({"method": "Len", "args": [huge], "id": 2}).to_string(),
            success(2, json!(900_000)),
        ),
        (
            "a string of 50,000 escaped surrogate pairs",
            format!(r#"{{"method":"Len","args":["{pairs}"],"id":3}}"#),
            success(3, json!(200_000)),
        ),
        (
            "control characters and escapes in a string",
            json!({"method": "Echo", "args": [control], "id": 4}).to_string(),
            success(4, json!([control])),
        ),
        (
            "a number that fits no i64 (2^64)",
            r#"{"method":"Add","args":[18446744073709551616, 1],"id":5}"#.to_owned(),
            json!({"id": 5, "error": RpcError::INVALID_PARAMS}),
        ),
        (
            "1e300 where an integer is wanted",
            r#"{"method":"Add","args":[1e300, 1],"id":6}"#.to_owned(),
            json!({"id": 6, "error": RpcError::INVALID_PARAMS}),
        ),
        (
            "method null, with an id",
            r#"{"method": null, "id": 7}"#.to_owned(),
            json!({"id": 7, "error": RpcError::INVALID_REQUEST}),
        ),
        (
            "method an array, with an id",
            r#"{"method": ["Add"], "args": [1, 2], "id": 8}"#.to_owned(),
            json!({"id": 8, "error": RpcError::INVALID_REQUEST}),
        ),
        (
            "args a string, with an id",
            r#"{"method": "Add", "args": "1, 2", "id": 9}"#.to_owned(),
            json!({"id": 9, "error": RpcError::INVALID_REQUEST}),
        ),
        (
            "kwargs a number, with an id",
            r#"{"method": "Add", "args": [1, 2], "kwargs": 3, "id": 10}"#.to_owned(),
            json!({"id": 10, "error": RpcError::INVALID_REQUEST}),
        ),
        (
            "duplicate keys: the last one counts",
            r#"{"method": "Nope", "args": [1, 2], "method": "Add", "args": [3, 4], "id": 11}"#
                .to_owned(),
            success(11, json!(7)),
        ),
        (
            "unknown keys are ignored",
            r#"{"method": "Add", "args": [1, 2], "jsonrpc": "2.0", "params": [9], "id": 12}"#
                .to_owned(),
            success(12, json!(3)),
        ),
        (
            "an unknown method with a 100,000-byte name",
            json!({"method": "M".repeat(100_000), "id": 13}).to_string(),
            json!({"id": 13, "error": RpcError::METHOD_NOT_FOUND}),
        ),
    ];
    for (what, input, expected) in answered {
        raw.send_text(&input).await;
        let answer = raw.recv_json().await;
        if expected.get("result").is_some() {
            assert_eq!(answer, expected, "{what}");
        } else {
            assert_eq!(answer["id"], expected["id"], "{what}: {answer}");
            assert_eq!(answer["error"], expected["error"], "{what}: {answer}");
        }
        probe(&mut raw, id(), what).await;
    }

    // Ids of every JSON type are answered with an equal id.
    for odd_id in [
        json!("abc"),
        json!(""),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(9_007_199_254_740_993_u64),
        json!(false),
        json!([1, "2", null]),
        json!({"nested": {"id": 1}}),
    ] {
        let input = json!({"method": "Add", "args": [2, 3], "kwargs": {}, "id": odd_id});
        raw.send_json(&input).await;
        assert_eq!(
            raw.recv_json().await,
            json!({"id": odd_id, "result": 5, "error": null}),
            "id {odd_id}"
        );
        probe(&mut raw, id(), &format!("id {odd_id}")).await;
    }

    // Two requests in flight with the same id: each is answered once.
    raw.send_json(&request("Nap", json!([50]), 77)).await;
    raw.send_json(&request("Add", json!([1, 1]), 77)).await;
    assert_eq!(raw.recv_json().await, success(77, json!(2)));
    assert_eq!(raw.recv_json().await, success(77, json!(50)));
    probe(&mut raw, id(), "a duplicate request id").await;
}

/// Responses the server did not ask for: unknown, `null`, duplicate, late (after the caller
/// timed out), of the wrong type. Each is ignored and never resolves another call; the
/// server's calls into this client still get their own answers.
pub async fn hostile_responses_are_ignored<R: Runtime + Default>() {
    let (server, _) = hostile_server::<R>(Config::default()).await;
    let mut raw = Raw::<R>::connect(&server.url).await;

    for (what, response) in [
        (
            "a response to an id never sent",
            json!({"id": 999, "result": 1, "error": null}),
        ),
        (
            "a response with a null id",
            json!({"id": null, "result": "x", "error": "InternalError"}),
        ),
        (
            "a response with an object id",
            json!({"id": {"a": 1}, "result": 1}),
        ),
        (
            "an error response without a result",
            json!({"id": 5, "error": "Boom"}),
        ),
        (
            "a response with an error of the wrong type",
            json!({"id": 6, "result": 1, "error": 7}),
        ),
    ] {
        raw.send_json(&response).await;
        probe(&mut raw, 100, what).await;
    }

    // The server's next call into this client: its request, as the raw client sees it.
    async fn callback<R: Runtime + Default>(raw: &mut Raw<R>, x: i64, ask_id: u64) -> Value {
        raw.send_json(&request("AskBack", json!([x]), ask_id)).await;
        let call = raw.recv_json().await;
        assert_eq!(call["method"], "Double", "{call}");
        assert_eq!(call["args"], json!([x]), "{call}");
        call["id"].clone()
    }

    // A wrong id, a null id and a string id equal in digits come first; then the right answer;
    // then a duplicate. Only the right answer counts.
    let first = callback::<R>(&mut raw, 21, 1).await;
    let as_string = Value::String(first.to_string());
    for wrong in [
        json!(first.as_u64().unwrap() + 1000),
        Value::Null,
        as_string,
    ] {
        raw.send_json(&json!({"id": wrong, "result": -1, "error": null}))
            .await;
    }
    raw.send_json(&json!({"id": first, "result": 42, "error": null}))
        .await;
    raw.send_json(&json!({"id": first, "result": -2, "error": null}))
        .await;
    assert_eq!(raw.recv_json().await, success(1, json!(42)));
    probe(&mut raw, 101, "a duplicate response").await;

    // A newer call is not resolved by a second copy of the old answer.
    let second = callback::<R>(&mut raw, 5, 2).await;
    assert_ne!(first, second, "an id was reused");
    raw.send_json(&json!({"id": first, "result": -3, "error": null}))
        .await;
    raw.send_json(&json!({"id": second, "result": 10, "error": null}))
        .await;
    assert_eq!(raw.recv_json().await, success(2, json!(10)));

    // Not answered within the server's 300 ms: its call times out; the late answer that comes
    // afterwards is ignored, and the next call gets its own answer.
    let third = callback::<R>(&mut raw, 7, 3).await;
    let answer = raw.recv_json().await;
    assert_eq!(answer["id"], json!(3));
    assert_eq!(answer["error"], json!("CallbackFailed"), "{answer}");
    raw.send_json(&json!({"id": third, "result": 14, "error": null}))
        .await;
    let fourth = callback::<R>(&mut raw, 8, 4).await;
    raw.send_json(&json!({"id": third, "result": -4, "error": null}))
        .await;
    raw.send_json(&json!({"id": fourth, "result": 16, "error": null}))
        .await;
    assert_eq!(raw.recv_json().await, success(4, json!(16)));

    // An answer whose error is not a string fails that call (InvalidResponse), and only it.
    let fifth = callback::<R>(&mut raw, 9, 5).await;
    raw.send_json(&json!({"id": fifth, "result": 18, "error": {"code": 1}}))
        .await;
    let answer = raw.recv_json().await;
    assert_eq!(answer["error"], json!("CallbackFailed"), "{answer}");
    assert!(
        answer["result"]
            .as_str()
            .is_some_and(|s| s.contains(RpcError::INVALID_RESPONSE)),
        "{answer}"
    );
    probe(&mut raw, 102, "a response with an error object").await;
}

/// Sends something over the size limit on a connection.
type SendOver = Box<dyn Fn(&mut WsTcp)>;

/// Messages around the size limit (64 KiB here): at and under it they are served; over it, in
/// one frame, in fragments or by a frame header's claim, the connection is closed with 1009
/// and a new one is served. An answer over the limit becomes an `InternalError`.
pub async fn hostile_sizes_are_bounded<R: Runtime + Default>() {
    const LIMIT: usize = 64 << 10;
    let (server, _) = hostile_server::<R>(Config::default().max_message_size(LIMIT)).await;
    let addr = server.addr;
    blocking::<R, _>("sizes", move || {
        // A request of exactly `size` bytes: Len of a padded string.
        let sized = |size: usize, id: u64| {
            let empty = format!(r#"{{"method":"Len","args":[""],"id":{id}}}"#);
            let text = "p".repeat(size - empty.len());
            let message = format!(r#"{{"method":"Len","args":["{text}"],"id":{id}}}"#);
            assert_eq!(message.len(), size);
            (message, text.len())
        };
        let mut ws = WsTcp::connect(addr);
        for (what, size) in [("just under the limit", LIMIT - 1), ("at the limit", LIMIT)] {
            let (message, len) = sized(size, 7);
            ws.text(&message);
            assert_eq!(ws.recv_json(), success(7, json!(len)), "{what}");
            probe_tcp(&mut ws, 8, what);
        }
        // An answer that would exceed the limit.
        ws.text(&request("Big", json!([LIMIT + 10]), 9).to_string());
        let answer = ws.recv_json();
        assert_eq!(answer["id"], json!(9));
        assert_eq!(answer["error"], json!(RpcError::INTERNAL_ERROR), "{answer}");
        probe_tcp(&mut ws, 10, "an answer over the limit");
        ws.close();

        let over: Vec<(&str, SendOver)> = vec![
            (
                "one byte over the limit",
                Box::new(move |ws| ws.text(&sized(LIMIT + 1, 1).0)),
            ),
            (
                "three fragments of 30,000 bytes",
                Box::new(|ws| {
                    let chunk = vec![b' '; 30_000];
                    ws.frame(false, TEXT, &chunk);
                    ws.frame(false, CONTINUATION, &chunk);
                    ws.frame(true, CONTINUATION, &chunk);
                }),
            ),
            (
                "a frame header claiming 2^62 bytes",
                Box::new(|ws| {
                    let mut header = vec![0x81, 0x80 | 127];
                    header.extend_from_slice(&(1u64 << 62).to_be_bytes());
                    header.extend_from_slice(&[1, 2, 3, 4]);
                    ws.raw(&header);
                }),
            ),
        ];
        for (what, send) in over {
            let mut ws = WsTcp::connect(addr);
            probe_tcp(&mut ws, 1, "connecting");
            send(&mut ws);
            assert_eq!(ws.end(), End::Closed(Some(1009)), "{what}");
            fresh_probe(addr, what);
        }
    })
    .await;
}

/// Frame-level input: fragments, control frames between them, pings and pongs are served on
/// the same connection; what RFC 6455 calls a protocol error fails the connection (a close
/// frame with 1002 or 1007, or the TCP connection dropped), and a new connection is served.
pub async fn hostile_frames_are_survived<R: Runtime + Default>() {
    let (server, _) = hostile_server::<R>(Config::default()).await;
    let addr = server.addr;
    blocking::<R, _>("frames", move || {
        let mut ws = WsTcp::connect(addr);
        let add = request("Add", json!([20, 22]), 1).to_string();
        let bytes = add.as_bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(bytes.len() / 4 + 1).collect();

        // In five fragments (one of them empty).
        ws.frame(false, TEXT, pieces[0]);
        ws.frame(false, CONTINUATION, &[]);
        for piece in &pieces[1..pieces.len() - 1] {
            ws.frame(false, CONTINUATION, piece);
        }
        ws.frame(true, CONTINUATION, pieces[pieces.len() - 1]);
        assert_eq!(ws.recv_json(), success(1, json!(42)), "a fragmented text");
        probe_tcp(&mut ws, 2, "a fragmented text");

        // A binary message in fragments.
        ws.frame(false, BINARY, pieces[0]);
        for piece in &pieces[1..pieces.len() - 1] {
            ws.frame(false, CONTINUATION, piece);
        }
        ws.frame(true, CONTINUATION, pieces[pieces.len() - 1]);
        assert_eq!(ws.recv_json(), success(1, json!(42)), "a fragmented binary");
        probe_tcp(&mut ws, 3, "a fragmented binary");

        // A ping and a pong between fragments: the ping is answered, then the message.
        ws.frame(false, TEXT, pieces[0]);
        ws.frame(true, PING, b"between");
        ws.frame(true, PONG, b"unsolicited");
        for piece in &pieces[1..pieces.len() - 1] {
            ws.frame(false, CONTINUATION, piece);
        }
        ws.frame(true, CONTINUATION, pieces[pieces.len() - 1]);
        let pong = ws.read_frame().expect("a pong");
        assert_eq!(
            (pong.opcode, pong.payload.as_slice()),
            (PONG, &b"between"[..])
        );
        assert_eq!(
            ws.recv_json(),
            success(1, json!(42)),
            "control frames between"
        );
        probe_tcp(&mut ws, 4, "control frames between fragments");

        // A flood of 1,000 pings: pongs come back (at least the last one), then the probe.
        for i in 0..1000u32 {
            ws.frame(true, PING, &i.to_be_bytes());
        }
        ws.text(&request("Add", json!([5, 1]), 5).to_string());
        let mut last_pong = None;
        let answer = loop {
            let frame = ws.read_frame().expect("a frame");
            match frame.opcode {
                PONG => last_pong = Some(frame.payload),
                TEXT => break serde_json::from_slice::<Value>(&frame.payload).expect("JSON"),
                other => panic!("opcode {other}"),
            }
        };
        assert_eq!(answer, success(5, json!(6)), "after 1,000 pings");
        assert_eq!(
            last_pong,
            Some(999u32.to_be_bytes().to_vec()),
            "the last pong"
        );
        ws.close();

        // Protocol errors: the connection fails; a new one is served.
        let big_ping = vec![0u8; 126];
        let fails: Vec<(&str, Vec<u8>)> = vec![
            (
                "invalid UTF-8 in a text frame",
                encode(true, TEXT, b"{\"a\":\"\xff\"}", true, 0),
            ),
            ("invalid UTF-8 split across text fragments", {
                let mut bytes = encode(false, TEXT, b"\"\xe2\x82", true, 0);
                bytes.extend(encode(true, CONTINUATION, b"\x28\"", true, 0));
                bytes
            }),
            (
                "a continuation frame with no message begun",
                encode(true, CONTINUATION, b"[]", true, 0),
            ),
            ("a new message while a fragmented one is open", {
                let mut bytes = encode(false, TEXT, b"[", true, 0);
                bytes.extend(encode(true, TEXT, b"[]", true, 0));
                bytes
            }),
            (
                "an unmasked frame from the client",
                encode(true, TEXT, add.as_bytes(), false, 0),
            ),
            ("reserved data opcode 3", encode(true, 0x3, b"x", true, 0)),
            (
                "reserved control opcode 0xB",
                encode(true, 0xB, b"x", true, 0),
            ),
            (
                "RSV1 set without an extension",
                encode(true, TEXT, add.as_bytes(), true, 0b100),
            ),
            ("a fragmented ping", encode(false, PING, b"x", true, 0)),
            (
                "a ping of 126 bytes",
                encode(true, PING, &big_ping, true, 0),
            ),
            (
                "a close frame with a 1-byte payload",
                encode(true, CLOSE, &[3], true, 0),
            ),
            (
                "a close frame with code 999",
                encode(true, CLOSE, &999u16.to_be_bytes(), true, 0),
            ),
            ("a close frame with an invalid UTF-8 reason", {
                let mut payload = 1000u16.to_be_bytes().to_vec();
                payload.push(0xff);
                encode(true, CLOSE, &payload, true, 0)
            }),
        ];
        for (what, bytes) in fails {
            let mut ws = WsTcp::connect(addr);
            probe_tcp(&mut ws, 1, "connecting");
            ws.raw(&bytes);
            let end = ws.end();
            eprintln!("hostile frame: {what}: {end:?}");
            assert!(
                matches!(end, End::Closed(Some(1002 | 1007)) | End::Dropped),
                "{what}: {end:?}"
            );
            fresh_probe(addr, what);
        }

        // The TCP connection dropped in the middle of a frame, and after a close frame.
        let mut ws = WsTcp::connect(addr);
        let frame = encode(true, TEXT, add.as_bytes(), true, 0);
        ws.raw(&frame[..frame.len() / 2]);
        ws.drop_tcp();
        fresh_probe(addr, "a connection dropped mid-frame");
        let mut ws = WsTcp::connect(addr);
        ws.frame(true, CLOSE, &1000u16.to_be_bytes());
        ws.text(&add);
        assert_eq!(
            ws.end(),
            End::Closed(Some(1000)),
            "data after a close frame"
        );
        fresh_probe(addr, "data after a close frame");
    })
    .await;
}

/// Floods on one connection: 10,000 notifications (all run, nothing sent back); 2,000
/// requests with at most 8 in flight (all answered; never more than 8 running); 2,000
/// requests for unknown methods (all answered).
pub async fn hostile_floods_are_absorbed<R: Runtime + Default>() {
    let config = Config::default().max_in_flight(8);
    let (server, tally) = hostile_server::<R>(config).await;
    let mut raw = Raw::<R>::connect(&server.url).await;

    const NOTIFICATIONS: usize = 10_000;
    let notification = json!({"method": "Count", "args": [], "kwargs": {}, "id": null}).to_string();
    for _ in 0..NOTIFICATIONS {
        let feed = raw.socket.feed(Message::text(notification.clone()));
        within::<R, _>("feed", feed).await.expect("feed");
    }
    within::<R, _>("flush", raw.socket.flush())
        .await
        .expect("flush");
    probe(&mut raw, 1, "10,000 notifications").await;
    assert_eq!(tally.counted.load(Ordering::SeqCst), NOTIFICATIONS);

    // Requests in batches of 250 (each far beyond the limit of 8), read back after each batch.
    for (method, total) in [("Nap", 2000u64), ("NoSuchMethod", 2000)] {
        let mut answered = BTreeMap::new();
        for batch in 0..total / 250 {
            for i in batch * 250..(batch + 1) * 250 {
                let message = request(method, json!([1]), 10_000 + i).to_string();
                let feed = raw.socket.feed(Message::text(message));
                within::<R, _>("feed", feed).await.expect("feed");
            }
            within::<R, _>("flush", raw.socket.flush())
                .await
                .expect("flush");
            for _ in 0..250 {
                let answer = raw.recv_json().await;
                let id = answer["id"].as_u64().expect("an id");
                assert!(answered.insert(id, answer).is_none(), "{id} answered twice");
            }
        }
        assert_eq!(answered.len() as u64, total, "{method}");
        for (id, answer) in &answered {
            assert!((10_000..10_000 + total).contains(id));
            match method {
                "Nap" => assert_eq!(*answer, success(*id, json!(1))),
                _ => assert_eq!(answer["error"], json!(RpcError::METHOD_NOT_FOUND)),
            }
        }
        probe(&mut raw, 2, method).await;
    }
    let peak = tally.peak.load(Ordering::SeqCst);
    assert!((2..=8).contains(&peak), "{peak} requests ran at once");
}

/// A client that sends requests for 4 KiB answers and stops reading: the server stops
/// reading too (the client's writes block) instead of buffering answers without bound; once
/// the client reads again, every request is answered in order of the ids it wrote.
pub async fn hostile_reader_that_stops_reading<R: Runtime + Default>() {
    const REQUESTS: u64 = 6000;
    const ANSWER: usize = 4096;
    let (server, tally) = hostile_server::<R>(Config::default()).await;
    let addr = server.addr;
    let big = tally.big.clone();
    blocking::<R, _>("not reading", move || {
        let mut ws = WsTcp::connect(addr);
        let mut writer = ws.stream.try_clone().expect("clone the socket");
        let written = Arc::new(AtomicUsize::new(0));
        let writer_count = written.clone();
        // Requests padded to 2 KiB, with an ignored key.
        let pad = "p".repeat(2000);
        let writing = thread::spawn(move || {
            for id in 1..=REQUESTS {
                let message = json!({"method": "Big", "args": [ANSWER], "id": id, "pad": pad});
                let frame = encode(true, TEXT, message.to_string().as_bytes(), true, 0);
                writer.write_all(&frame).expect("write");
                writer_count.fetch_add(1, Ordering::SeqCst);
            }
        });

        // Wait until neither the writes nor the server's calls make progress for 500 ms.
        let begun = Instant::now();
        let mut last = (usize::MAX, usize::MAX);
        let mut still_since = Instant::now();
        loop {
            thread::sleep(Duration::from_millis(50));
            let now = (written.load(Ordering::SeqCst), big.load(Ordering::SeqCst));
            if now != last {
                last = now;
                still_since = Instant::now();
            } else if still_since.elapsed() > Duration::from_millis(500) {
                break;
            }
            assert!(
                begun.elapsed() < WAIT,
                "still progressing after {WAIT:?}: {now:?}"
            );
        }
        let (written_then, started_then) = last;
        eprintln!(
            "hostile reader: stopped reading: {written_then} of {REQUESTS} requests written, \
             {started_then} started by the server"
        );
        assert!(
            (written_then as u64) < REQUESTS,
            "the server read every request while nothing was read from it"
        );
        assert!(
            started_then < 2000,
            "the server produced {started_then} answers for a client that reads none"
        );

        for id in 1..=REQUESTS {
            let answer = ws.recv_json();
            assert_eq!(answer["id"], json!(id));
            assert_eq!(
                answer["result"].as_str().map(str::len),
                Some(ANSWER),
                "{id}"
            );
        }
        writing.join().expect("the writer");
        probe_tcp(&mut ws, REQUESTS + 1, "a client that stopped reading");
        ws.close();
    })
    .await;
}

/// Handshakes that never complete (slowloris: one byte every 50 ms; silence; many at once)
/// are dropped at the handshake deadline (400 ms here) while the server goes on serving;
/// garbage, a plain HTTP request and oversized headers are refused at once.
pub async fn hostile_handshakes_are_dropped<R: Runtime + Default>() {
    const DEADLINE: Duration = Duration::from_millis(400);
    let config = Config::default().handshake_timeout(DEADLINE);
    let (server, _) = hostile_server::<R>(config).await;
    let addr = server.addr;
    blocking::<R, _>("handshakes", move || {
        // Twenty slow handshakes at once, one byte every 50 ms each; one silent connection.
        let slow: Vec<_> = (0..20)
            .map(|_| {
                thread::spawn(move || {
                    let mut stream = tcp::tcp(addr);
                    stream
                        .set_read_timeout(Some(Duration::from_millis(50)))
                        .expect("read timeout");
                    let request = tcp::upgrade_request(addr);
                    let begun = Instant::now();
                    let mut buffer = [0u8; 1024];
                    for byte in request.as_bytes().iter().cycle() {
                        let _ = stream.write_all(&[*byte]);
                        match stream.read(&mut buffer) {
                            Ok(0) => break,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                            _ => break,
                        }
                        assert!(begun.elapsed() < WAIT, "a slow handshake kept for {WAIT:?}");
                    }
                    begun.elapsed()
                })
            })
            .collect();
        let mut silent = tcp::tcp(addr);
        let silent_begun = Instant::now();

        // Served meanwhile.
        fresh_probe(addr, "slow handshakes in progress");

        for handle in slow {
            let took = handle.join().expect("a slow handshake");
            assert!(
                took >= DEADLINE - Duration::from_millis(50) && took < DEADLINE * 5,
                "a slow handshake was dropped after {took:?}"
            );
        }
        await_tcp_end(&mut silent);
        let took = silent_begun.elapsed();
        assert!(
            took >= DEADLINE - Duration::from_millis(50) && took < DEADLINE * 5,
            "a silent connection was dropped after {took:?}"
        );
        fresh_probe(addr, "slowloris");

        let huge_headers = {
            let request = tcp::upgrade_request(addr);
            let filler: String = (0..100)
                .map(|i| format!("X-Filler-{i}: {}\r\n", "f".repeat(1000)))
                .collect();
            request.replacen("\r\n\r\n", &format!("\r\n{filler}\r\n"), 1)
        };
        let refused: Vec<(&str, Vec<u8>)> = vec![
            (
                "binary garbage instead of HTTP",
                vec![
                    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, b'\r', b'\n',
                    b'\r', b'\n',
                ],
            ),
            (
                "a plain HTTP request, no upgrade",
                format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes(),
            ),
            (
                "a WebSocket version other than 13",
                tcp::upgrade_request(addr)
                    .replace("Version: 13", "Version: 8")
                    .into_bytes(),
            ),
            ("100 KB of headers", huge_headers.into_bytes()),
        ];
        for (what, bytes) in refused {
            let mut stream = tcp::tcp(addr);
            let begun = Instant::now();
            let _ = stream.write_all(&bytes);
            let head = tcp::read_http_head(&mut stream);
            await_tcp_end(&mut stream);
            let took = begun.elapsed();
            eprintln!("hostile handshake: {what}: {:?}", head.lines().next());
            assert!(!head.starts_with("HTTP/1.1 101"), "{what}: accepted");
            assert!(took < DEADLINE, "{what}: kept until the deadline");
            fresh_probe(addr, what);
        }
    })
    .await;
}

/// Many connections opened and dropped: 200 TCP connections closed before any handshake,
/// 100 WebSocket connections dropped without a close, 100 dropped with a call in flight, 50
/// closed properly. Every connection's `on_close` runs; the server goes on serving.
pub async fn hostile_connection_churn<R: Runtime + Default>() {
    let opened = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (on_open, on_close) = (opened.clone(), closed.clone());
    let tally = Tally::default();
    let methods = methods::<R>(&tally)
        .on_open(move |_: Ctx| {
            on_open.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .on_close(move |_: Ctx| {
            on_close.fetch_add(1, Ordering::SeqCst);
            async {}
        });
    let server = serve::<R>(Config::default(), methods).await;
    let addr = server.addr;
    blocking::<R, _>("churn", move || {
        let tcp_only: Vec<TcpStream> = (0..200).map(|_| tcp::tcp(addr)).collect();
        drop(tcp_only);
        for _ in 0..100 {
            WsTcp::connect(addr).drop_tcp();
        }
        for i in 0..100 {
            let mut ws = WsTcp::connect(addr);
            ws.text(&request("Nap", json!([200]), i).to_string());
            ws.drop_tcp();
        }
        for i in 0..50 {
            let mut ws = WsTcp::connect(addr);
            ws.text(&request("Nap", json!([20]), i).to_string());
            ws.close();
        }
        // Connections that half-close their sending side only.
        for _ in 0..20 {
            let ws = WsTcp::connect(addr);
            let _ = ws.stream.shutdown(Shutdown::Write);
        }
        fresh_probe(addr, "connection churn");
    })
    .await;
    // Every WebSocket connection opened (the probe's included) has run both hooks.
    const CONNECTIONS: usize = 100 + 100 + 50 + 20 + 1;
    let all_closed = async {
        while opened.load(Ordering::SeqCst) < CONNECTIONS
            || closed.load(Ordering::SeqCst) < CONNECTIONS
        {
            sleep::<R>(Duration::from_millis(20)).await;
        }
    };
    within::<R, _>("every on_close", all_closed).await;
    assert_eq!(opened.load(Ordering::SeqCst), CONNECTIONS);
    assert_eq!(closed.load(Ordering::SeqCst), CONNECTIONS);
    let peer = client::<R>(&server.url, Methods::new()).await;
    assert_eq!(call::<R, i64>(&peer, "Add", (1, 2)).await, Ok(3));
}
