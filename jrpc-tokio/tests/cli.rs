//! The `jrpc` command-line client, run as a process against a real server in this process.
//!
//! Needs the binary: `cargo test -p jrpc-tokio --features cli --test cli`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jrpc"));
        command.args(&args).env_remove("JRPC_URL");
        if let Some(url) = env_url {
            command.env("JRPC_URL", url);
        }
        command.output().expect("the jrpc binary runs")
    })
    .await
    .unwrap()
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
