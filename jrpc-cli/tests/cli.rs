//! The `jrpc` command-line client, run as a process against a real server in this process
//! (or a raw one, for what a jrpc server does not do): `cargo test -p jrpc-cli`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jrpc_driver::tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response};
use jrpc_driver::tungstenite::http::{HeaderMap, HeaderValue};
use jrpc_driver::tungstenite::{self, Message};
use jrpc_tokio::{Methods, RpcError, Server, ServerHandle};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct AddArgs {
    a: i64,
    b: i64,
}

struct TestServer {
    url: String,
    handle: ServerHandle,
    recorded: Arc<Mutex<Vec<Value>>>,
}

impl TestServer {
    async fn start() -> Self {
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let record = recorded.clone();
        let methods = Methods::new()
            .add("Add", |p: AddArgs| p.a + p.b)
            .add("Divide", |a: f64, b: f64| {
                if b == 0.0 {
                    Err(RpcError::new("ZeroDivisionError", "division by zero"))
                } else {
                    Ok(a / b)
                }
            })
            // A single `Value` parameter sees the arguments raw: what the CLI sent.
            .add("Params", |params: Value| params)
            .add("Hello", |name: String| format!("Hello, {name}"))
            .add("Sleep", |seconds: f64| async move {
                tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
                "slept"
            })
            .add("Record", move |params: Value| {
                record.lock().unwrap().push(params);
            });
        let server = Server::bind("127.0.0.1:0", methods).await.unwrap();
        let url = format!("ws://{}", server.local_addr());
        let handle = server.handle();
        tokio::spawn(server.run());
        Self {
            url,
            handle,
            recorded,
        }
    }

    /// Runs `jrpc ARGS --url URL`.
    async fn jrpc(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["--url".to_owned(), self.url.clone()]);
        run(all, None).await
    }

    async fn stop(self) {
        self.handle.shutdown(Duration::from_secs(1)).await;
    }
}

/// Runs the binary with `args` (and `JRPC_URL` set to `env_url` if given) without blocking
/// the runtime that serves it.
async fn run(args: Vec<String>, env_url: Option<String>) -> Output {
    run_with_stdin(args, env_url, String::new()).await
}

/// [`run`] with `stdin` as the standard input.
async fn run_with_stdin(args: Vec<String>, env_url: Option<String>, stdin: String) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jrpc"));
        command
            .args(&args)
            .env_remove("JRPC_URL")
            .env_remove("RUST_LOG");
        if let Some(url) = env_url {
            command.env("JRPC_URL", url);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the jrpc binary runs");
        let mut input = child.stdin.take().unwrap();
        // The binary may exit without reading its input: a broken pipe is no failure.
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        child.wait_with_output().expect("the jrpc binary runs")
    })
    .await
    .unwrap()
}

/// Strings for [`run`].
fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A server written with tungstenite alone, on threads, for what a jrpc server does not do:
/// it accepts the first subprotocol offered, and answers every request with the `result` and
/// `error` texts `answer` writes from the handshake's headers, verbatim. It lives as long as
/// the test process.
fn raw_server(answer: fn(&HeaderMap) -> (String, String)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            std::thread::spawn(move || serve_raw(tcp, answer));
        }
    });
    url
}

/// One connection of [`raw_server`]; ends with the connection.
fn serve_raw(tcp: TcpStream, answer: fn(&HeaderMap) -> (String, String)) {
    let mut seen = HeaderMap::new();
    let Ok(mut ws) = tungstenite::accept_hdr(tcp, Recorder(&mut seen)) else {
        return;
    };
    let (result, error) = answer(&seen);
    while let Ok(message) = ws.read() {
        let Message::Text(text) = message else {
            continue;
        };
        let request: Value = serde_json::from_str(text.as_str()).unwrap();
        let id = &request["id"];
        let frame = format!(r#"{{"id": {id}, "result": {result}, "error": {error}}}"#);
        if ws.send(Message::text(frame)).is_err() {
            return;
        }
    }
}

/// The handshake callback of [`raw_server`]: keeps the headers, chooses the first subprotocol.
struct Recorder<'a>(&'a mut HeaderMap);

impl Callback for Recorder<'_> {
    fn on_request(
        self,
        request: &Request,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        *self.0 = request.headers().clone();
        let offered = request.headers().get("sec-websocket-protocol");
        if let Some(first) = offered.and_then(|v| v.to_str().ok()?.split(',').next()) {
            let chosen = HeaderValue::from_str(first.trim()).unwrap();
            response
                .headers_mut()
                .insert("sec-websocket-protocol", chosen);
        }
        Ok(response)
    }
}

/// A plain HTTP server on a thread: answers anything with a small page, as a web server does.
fn http_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut tcp in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = tcp.read(&mut request);
            let page = "<!doctype html><title>page</title>";
            let _ = write!(
                tcp,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
                page.len()
            );
        }
    });
    url
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Exit code 0, `expected` plus a newline on stdout, nothing on stderr.
#[track_caller]
fn assert_prints(output: &Output, expected: &str) {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    assert_eq!(stdout(output), format!("{expected}\n"));
    assert_eq!(stderr(output), "");
}

/// Exit code `code`, nothing on stdout, one line on stderr that starts with `prefix`, and no
/// trace of a panic.
#[track_caller]
fn assert_fails(output: &Output, code: i32, prefix: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert_eq!(stdout(output), "");
    assert!(err.starts_with(prefix), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn add_prints_the_sum() {
    let server = TestServer::start().await;
    assert_prints(&server.jrpc(&["Add", "-a", "5,10"]).await, "15");
    assert_prints(&server.jrpc(&["Add", "-a", "-5,2"]).await, "-3");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keyword_and_mixed_arguments() {
    let server = TestServer::start().await;
    assert_prints(&server.jrpc(&["Add", "-k", "a=1,b=2"]).await, "3");
    assert_prints(&server.jrpc(&["Add", "-a", "1", "-k", "b=41"]).await, "42");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_are_json_or_strings() {
    let server = TestServer::start().await;
    let sent = |output: Output| -> Value {
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    assert_eq!(
        sent(server.jrpc(&["Params", "-a", "10,Foo"]).await),
        json!([10, "Foo"])
    );
    assert_eq!(
        sent(
            server
                .jrpc(&["Params", "-a", r#"[1,2],"x,y",{"k":[3]},null"#])
                .await
        ),
        json!([[1, 2], "x,y", {"k": [3]}, null])
    );
    assert_eq!(
        sent(server.jrpc(&["Params", "-a", "1", "-a", "2,3"]).await),
        json!([1, 2, 3])
    );
    assert_eq!(
        sent(server.jrpc(&["Params", "-k", r#"a=1,b=x,c="p,q""#]).await),
        json!({"a": 1, "b": "x", "c": "p,q"})
    );
    assert_eq!(
        sent(server.jrpc(&["Params", "-a", "1", "-k", "b=2"]).await),
        json!({"args": [1], "kwargs": {"b": 2}})
    );
    assert_eq!(sent(server.jrpc(&["Params"]).await), json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn results_print_strings_bare_and_the_rest_as_json() {
    let server = TestServer::start().await;
    assert_prints(
        &server.jrpc(&["Hello", "-a", "World"]).await,
        "Hello, World",
    );
    assert_prints(&server.jrpc(&["Params", "-a", "1,2"]).await, "[1,2]");
    assert_prints(&server.jrpc(&["Divide", "-a", "1,4"]).await, "0.25");
    assert_prints(&server.jrpc(&["Record"]).await, "null");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_failures_print_kind_and_details() {
    let server = TestServer::start().await;
    let output = server.jrpc(&["Divide", "-a", "1,0"]).await;
    assert_fails(&output, 1, "ZeroDivisionError:division by zero");
    let output = server.jrpc(&["Nope"]).await;
    assert_fails(&output, 1, "MethodNotFound:");
    let output = server.jrpc(&["Add", "-a", "10,Foo"]).await;
    assert_fails(&output, 1, "InvalidParams:");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_sends_a_notification() {
    let server = TestServer::start().await;
    let output = server.jrpc(&["Record", "--invoke", "-a", "7,seven"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "");
    // The method runs on the server after the client has gone; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let recorded = server.recorded.lock().unwrap().clone();
        if !recorded.is_empty() {
            assert_eq!(recorded, [json!([7, "seven"])]);
            break;
        }
        assert!(Instant::now() < deadline, "the notification never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn url_from_the_environment() {
    let server = TestServer::start().await;
    let output = run(
        vec!["Add".into(), "-a".into(), "2,3".into()],
        Some(server.url.clone()),
    )
    .await;
    assert_prints(&output, "5");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_is_a_local_failure() {
    let server = TestServer::start().await;
    let started = Instant::now();
    let output = server
        .jrpc(&["Sleep", "-a", "10", "--timeout", "0.3"])
        .await;
    assert_fails(&output, 3, "jrpc: ");
    assert!(stderr(&output).contains("timed out"), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_server_is_a_one_line_error() {
    // A port nothing listens on: bind one, then let it go.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    drop(listener);
    let output = run(vec!["Add".into(), "--url".into(), url], None).await;
    assert_fails(&output, 3, "jrpc: cannot connect to ws://127.0.0.1:");
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2() {
    for args in [
        &["Add", "-k", "a=1,b"][..],
        &["Add", "-k", "=1"],
        &["Add", "-a", "[1,2"],
        &["Add", "--timeout", "soon"],
        &["Add", "--url", "localhost:9000"],
        &["Add", "--url", "http://localhost:9000/"],
        &["Add", "--root-cert", "/nonexistent/ca.pem"],
        &["Add", "--header", "no colon"],
        // Checked when connecting, before anything is dialled.
        &["Add", "--header", "Bad Name: x"],
        &["Add", "--header", "Upgrade: h2c"],
        &["Add", "--subprotocol", "two words"],
        &["Add", "--json", "5"],
        &["Add", "--json", "[1,"],
        &["Add", "--json", "-", "--json", "-"],
        &[],
    ] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let output = run(args.clone(), None).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(stdout(&output), "");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn help_documents_the_rules() {
    let output = run(vec!["--help".into()], None).await;
    assert_eq!(output.status.code(), Some(0));
    let help = stdout(&output);
    for needle in [
        "Usage: jrpc",
        "--args",
        "--kwargs",
        "--invoke",
        "JRPC_URL",
        "Exit status",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

/// `--url wss://…`: over TLS, trusting the certificate authority given with `--root-cert` (in
/// DER or PEM); without it the server's certificate is refused, in one line, exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn wss_with_a_root_certificate() {
    let url = format!("wss://localhost:{}/", jrpc_testsuite::tls::serve().port());
    let dir = std::env::temp_dir().join(format!("jrpc-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let der = dir.join("ca.der");
    std::fs::write(&der, jrpc_testsuite::tls::TEST_CA).unwrap();
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, jrpc_testsuite::tls::TEST_CA_PEM).unwrap();
    let roots = [der, pem];
    for root in &roots {
        let root = root.to_string_lossy().into_owned();
        let args = ["Add", "-a", "5,10", "--url", &url, "--root-cert", &root];
        let output = run(args.map(str::to_owned).to_vec(), None).await;
        assert_prints(&output, "15");
    }
    let output = run(
        ["Add", "-a", "5,10", "--url", &url]
            .map(str::to_owned)
            .to_vec(),
        None,
    )
    .await;
    assert_fails(&output, 3, "jrpc: cannot connect to wss://localhost:");
    assert!(
        stderr(&output).contains("certificate"),
        "{}",
        stderr(&output)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A garbage `--root-cert` is the user's file at fault, said before anything is dialled.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_root_certificate_is_a_usage_error() {
    let dir = std::env::temp_dir().join(format!("jrpc-cli-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, b"not a certificate\n").unwrap();
    let root = garbage.to_string_lossy().into_owned();
    let output = run(
        strings(&["Add", "--url", "wss://localhost:9/", "--root-cert", &root]),
        None,
    )
    .await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("not an X.509 certificate"), "{err}");
    assert!(!err.contains("peer"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Numbers beyond 64 bits print with the digits the server wrote, in results and in failure
/// details; the JSON is put on one line and nothing else of it changes.
#[tokio::test(flavor = "multi_thread")]
async fn numbers_print_as_the_server_wrote_them() {
    let big = raw_server(|_| ("9999999999800000000001".into(), "null".into()));
    assert_prints(
        &run(strings(&["Big", "--url", &big]), None).await,
        "9999999999800000000001",
    );
    let nested = raw_server(|_| {
        let result = r#"[ 1, 2.50, {"n": 123456789012345678901234567890, "s": "a  b"} ]"#;
        (result.into(), "null".into())
    });
    assert_prints(
        &run(strings(&["Nested", "--url", &nested]), None).await,
        r#"[1,2.50,{"n":123456789012345678901234567890,"s":"a  b"}]"#,
    );
    let failure = raw_server(|_| {
        (
            r#"{"limit": 18446744073709551617}"#.into(),
            r#""TooBig""#.into(),
        )
    });
    let output = run(strings(&["Fails", "--url", &failure]), None).await;
    assert_fails(&output, 1, r#"TooBig:{"limit":18446744073709551617}"#);
}

/// `--header` and `--subprotocol` reach the server in the handshake.
#[tokio::test(flavor = "multi_thread")]
async fn headers_and_subprotocols_reach_the_server() {
    let url = raw_server(|headers| {
        let seen = |name: &str| {
            let values: Vec<_> = headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            values.join("|")
        };
        let echo = json!({
            "authorization": seen("authorization"),
            "x-tag": seen("x-tag"),
            "protocols": seen("sec-websocket-protocol"),
        });
        (echo.to_string(), "null".into())
    });
    let args = [
        "Echo",
        "--url",
        &url,
        "-H",
        "Authorization: Bearer abc:def",
        "--header",
        "X-Tag:one",
        "-H",
        "x-tag: two",
        "--subprotocol",
        "jrpc",
        "--subprotocol",
        "jrpc.old",
    ];
    let output = run(strings(&args), None).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let echoed: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        echoed,
        json!({"authorization": "Bearer abc:def", "x-tag": "one|two", "protocols": "jrpc, jrpc.old"})
    );
}

/// `--json` gives parameters as JSON, inline or on stdin, and adds up with `-a` and `-k`.
#[tokio::test(flavor = "multi_thread")]
async fn parameters_as_json() {
    let server = TestServer::start().await;
    assert_prints(
        &server
            .jrpc(&["Add", "--json", r#"{"a": 5, "b": 10}"#])
            .await,
        "15",
    );
    assert_prints(
        &server.jrpc(&["Params", "--json", "[5, 10]"]).await,
        "[5,10]",
    );
    assert_prints(
        &server
            .jrpc(&[
                "Params",
                "-a",
                "1",
                "--json",
                "[2]",
                "-k",
                "b=3",
                "--json",
                r#"{"c":[4]}"#,
            ])
            .await,
        r#"{"args":[1,2],"kwargs":{"b":3,"c":[4]}}"#,
    );
    let args = strings(&["Add", "--json", "-", "--url", &server.url]);
    let output = run_with_stdin(args.clone(), None, "{\"a\": 2,\n \"b\": 40}\n".into()).await;
    assert_prints(&output, "42");
    let output = run_with_stdin(args, None, "[2, 40".into()).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).starts_with("error: --json - (stdin): not JSON"));
    server.stop().await;
}

/// `-v` logs the connection on stderr; stdout still holds the result alone.
#[tokio::test(flavor = "multi_thread")]
async fn verbose_logs_the_connection() {
    let server = TestServer::start().await;
    let output = server.jrpc(&["Add", "-a", "5,10", "-v"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "15\n");
    let err = stderr(&output);
    assert!(err.contains("jrpc_driver"), "{err}");
    assert!(err.contains("connection"), "{err}");
    // Without -v, nothing.
    assert_prints(&server.jrpc(&["Add", "-a", "5,10"]).await, "15");
    server.stop().await;
}

/// A `ws://` URL that reaches a web page says so, instead of an HTTP error.
#[tokio::test(flavor = "multi_thread")]
async fn a_web_page_is_not_a_websocket_endpoint() {
    let url = http_page();
    let output = run(strings(&["Add", "--url", &url]), None).await;
    assert_fails(&output, 3, "jrpc: ");
    let err = stderr(&output);
    assert!(err.contains("is not a WebSocket (JRPC) endpoint"), "{err}");
    assert!(err.contains("200 OK"), "{err}");
}

/// A server that offers no subprotocol the client offered is refused, naming the subprotocol.
#[tokio::test(flavor = "multi_thread")]
async fn an_unchosen_subprotocol_is_named() {
    let server = TestServer::start().await;
    let output = server
        .jrpc(&["Add", "-a", "1,2", "--subprotocol", "jrpc"])
        .await;
    assert_fails(&output, 3, "jrpc: ");
    assert!(
        stderr(&output).contains("subprotocol"),
        "{}",
        stderr(&output)
    );
    server.stop().await;
}
