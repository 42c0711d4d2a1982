//! What a connection tells the outside: its logs (`tracing`) and its figures (the `metrics`
//! feature). Each case needs a process-wide subscriber or recorder, so an adapter runs it in a
//! test binary of its own, handing in what was captured (the log text, or the recorder's
//! Prometheus rendering).

use super::*;

/// Calls and notifications made by [`exchange`], by method.
const ADDS: usize = 10;
const FAILS: usize = 3;
const SLOWS: usize = 2;
const NOTES: usize = 2;

/// A server and a client that exchange a known set of calls and notifications, then close
/// from the client's side; returns once the server has seen the close.
async fn exchange<R: Runtime + Default>() {
    let (noted, mut notes) = mpsc::unbounded::<()>();
    let (server_closed, closed) = oneshot::channel::<()>();
    let server_closed = Arc::new(Mutex::new(Some(server_closed)));
    let methods = Methods::new()
        .add("Add", |a: i64, b: i64| a + b)
        .add("Fail", || -> Result<(), RpcError> {
            Err(RpcError::new("Refused", "no"))
        })
        .add("Slow", || async {
            sleep::<R>(Duration::from_millis(5)).await;
            "slept"
        })
        .add("Note", move || {
            let _ = noted.unbounded_send(());
        })
        .on_close(move |_| {
            let closed = server_closed.lock().unwrap().take();
            async move {
                if let Some(closed) = closed {
                    let _ = closed.send(());
                }
            }
        });
    let server = serve::<R>(Config::default(), methods).await;
    let peer = client::<R>(&server.url, Methods::new()).await;
    for i in 0..ADDS as i64 {
        assert_eq!(call::<R, i64>(&peer, "Add", (i, 1)).await, Ok(i + 1));
    }
    for _ in 0..FAILS {
        assert!(call::<R, ()>(&peer, "Fail", ()).await.is_err());
    }
    for _ in 0..SLOWS {
        assert_eq!(
            call::<R, String>(&peer, "Slow", ()).await,
            Ok("slept".into())
        );
    }
    assert!(call::<R, ()>(&peer, "Missing", ()).await.is_err());
    for _ in 0..NOTES {
        within::<R, _>("invoke", peer.invoke("Note", ()))
            .await
            .unwrap();
    }
    within::<R, _>("invoke", peer.invoke("AlsoMissing", ()))
        .await
        .unwrap();
    for _ in 0..NOTES {
        within::<R, _>("a note", notes.next()).await;
    }
    // The server handles messages in order: the unknown notification, sent after the notes,
    // is handled before the close.
    peer.close();
    within::<R, _>("the client's close", peer.closed()).await;
    within::<R, _>("the server's close", closed).await.unwrap();
    server.handle.shutdown(Duration::from_secs(1)).await;
}

/// Logs: a span per connection (peer, role, remote address), open and close at info with the
/// reason of the close, each call at debug with its method, duration and outcome, and nothing
/// per call at info. `captured` returns the log text so far of a subscriber at debug for
/// `jrpc_driver`, without colours.
pub async fn logs_tell_connections_and_calls<R: Runtime + Default>(captured: fn() -> String) {
    exchange::<R>().await;
    let text = captured();
    let lines: Vec<&str> = text.lines().collect();
    let with = |needles: &[&str]| -> Vec<&str> {
        lines
            .iter()
            .copied()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .collect()
    };
    // Opened and closed on both sides, within the connection's span.
    for role in ["server", "client"] {
        let role = format!("role=\"{role}\"");
        let opened = with(&[" INFO ", "connection{", &role, "connection open"]);
        assert_eq!(opened.len(), 1, "{role}:\n{text}");
        assert!(opened[0].contains("peer="), "{}", opened[0]);
    }
    let server_open = with(&["connection open", "role=\"server\""])[0];
    assert!(server_open.contains("remote=127.0.0.1:"), "{server_open}");
    let closed = with(&[" INFO ", "connection closed", "reason=\"peer_closed\""]);
    assert_eq!(closed.len(), 1, "the server's close:\n{text}");
    assert!(closed[0].contains("code=1000"), "{}", closed[0]);
    let closed = with(&[" INFO ", "connection closed", "reason=\"closed\""]);
    assert_eq!(closed.len(), 1, "the client's close:\n{text}");

    // One debug event per call served, in the server connection's span.
    let calls = |method: &str, outcome: &str| {
        with(&[
            " DEBUG ",
            "role=\"server\"",
            &format!("method=\"{method}\""),
            &format!("outcome=\"{outcome}\""),
        ])
    };
    assert_eq!(calls("Add", "ok").len(), ADDS, "{text}");
    assert_eq!(calls("Fail", "Refused").len(), FAILS, "{text}");
    assert_eq!(calls("Slow", "ok").len(), SLOWS, "{text}");
    assert_eq!(calls("Missing", "MethodNotFound").len(), 1, "{text}");
    assert_eq!(calls("Note", "ok").len(), NOTES, "{text}");
    assert_eq!(calls("AlsoMissing", "MethodNotFound").len(), 1, "{text}");
    for line in calls("Add", "ok").iter().chain(&calls("Slow", "ok")) {
        assert!(line.contains("duration="), "{line}");
        assert!(line.contains(": call "), "{line}");
    }
    assert!(calls("Note", "ok")[0].contains(": notification "), "{text}");

    // Nothing per call at info: the connections' info lines are their opens and closes.
    let info = with(&[" INFO ", "connection{"]);
    assert_eq!(info.len(), 4, "info lines:\n{}", info.join("\n"));
}

/// Figures, as a Prometheus recorder renders them: connections open and closed (with the
/// reason), calls and notifications by method and outcome, the latency histogram, bytes and
/// frames each way. `render` returns the recorder's rendering; the recorder was installed
/// before any connection of the process.
pub async fn metrics_count_connections_and_calls<R: Runtime + Default>(render: fn() -> String) {
    exchange::<R>().await;
    let text = render();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        sample(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
    };
    let calls = |method, outcome| {
        value(
            "jrpc_calls_total",
            &[("method", method), ("outcome", outcome)],
        )
    };
    assert_eq!(calls("Add", "ok"), ADDS as f64);
    assert_eq!(calls("Fail", "error"), FAILS as f64);
    assert_eq!(calls("Slow", "ok"), SLOWS as f64);
    assert_eq!(calls("(unknown)", "not_found"), 1.0);
    let notes = |method, outcome| {
        value(
            "jrpc_notifications_total",
            &[("method", method), ("outcome", outcome)],
        )
    };
    assert_eq!(notes("Note", "ok"), NOTES as f64);
    assert_eq!(notes("(unknown)", "not_found"), 1.0);

    // The histogram samples each method's calls on each connection: the first, then one in 8,
    // whether they finish at once or suspend.
    let timed = |method| value("jrpc_call_duration_seconds_count", &[("method", method)]);
    let samples = |calls: usize| (1 + (calls - 1) / 8) as f64;
    assert_eq!(timed("Add"), samples(ADDS));
    assert_eq!(timed("Fail"), samples(FAILS));
    assert_eq!(timed("Slow"), samples(SLOWS));
    let slow_seconds = value("jrpc_call_duration_seconds_sum", &[("method", "Slow")]);
    assert!(slow_seconds >= 0.005 * samples(SLOWS), "{slow_seconds}");

    for role in ["server", "client"] {
        assert_eq!(value("jrpc_connections_open", &[("role", role)]), 0.0);
    }
    let closed = |role, reason| {
        value(
            "jrpc_connections_closed_total",
            &[("role", role), ("reason", reason)],
        )
    };
    assert_eq!(closed("server", "peer_closed"), 1.0);
    assert_eq!(closed("client", "closed"), 1.0);

    // What one side sent, the other received: requests one way, answers the other.
    let requests = (ADDS + FAILS + SLOWS + 1 + NOTES + 1) as f64;
    let answers = (ADDS + FAILS + SLOWS + 1) as f64;
    let figure = |name, role| value(name, &[("role", role)]);
    assert_eq!(figure("jrpc_sent_frames_total", "client"), requests);
    assert_eq!(figure("jrpc_received_frames_total", "server"), requests);
    assert_eq!(figure("jrpc_sent_frames_total", "server"), answers);
    assert_eq!(figure("jrpc_received_frames_total", "client"), answers);
    let sent = figure("jrpc_sent_bytes_total", "client");
    assert!(sent > requests * 40.0, "{sent}");
    assert_eq!(figure("jrpc_received_bytes_total", "server"), sent);
    assert_eq!(
        figure("jrpc_received_bytes_total", "client"),
        figure("jrpc_sent_bytes_total", "server")
    );

    dropped_peers::<R>(render).await;
    let text = render();
    let closed = |reason| {
        sample(
            &text,
            "jrpc_connections_closed_total",
            &[("role", "server"), ("reason", reason)],
        )
    };
    assert_eq!(closed("slow_consumer"), Some(1.0));
    assert_eq!(closed("heartbeat_timeout"), Some(1.0));
    // The slow consumer's queue was counted while it waited, and let go with it.
    let queued = sample(&text, "jrpc_queued_bytes", &[("role", "server")]);
    assert_eq!(queued, Some(0.0));
}

/// A page that never reads while the server pushes at it (closed as a slow consumer, its
/// queued bytes counted meanwhile), and one that never answers pings (closed by the
/// heartbeat). Returns once the recorder has both closes.
async fn dropped_peers<R: Runtime + Default>(render: fn() -> String) {
    let figure = |name: &str, labels: &[(&str, &str)]| sample(&render(), name, labels);
    let config = Config::default()
        .max_queued_bytes(16 << 10)
        .slow_consumer_timeout(Duration::from_millis(300))
        .close_timeout(Duration::from_millis(100));
    let (server, mut opens, _) = push::serve_watched::<R>(config, Methods::new()).await;
    let _page = Raw::<R>::connect(&server.url).await;
    let peer = signal::<R, _>("on_open", &mut opens).await;
    let text = "x".repeat(1000);
    let producer = async { while peer.invoke("Tick", (&text,)).await.is_ok() {} };
    let queued = async {
        loop {
            let bytes = figure("jrpc_queued_bytes", &[("role", "server")]).unwrap_or(0.0);
            if bytes > 0.0 {
                return bytes;
            }
            sleep::<R>(Duration::from_millis(5)).await;
        }
    };
    let mut producer = pin!(producer);
    let bytes = within::<R, _>("queued bytes", drive_until(&mut producer, queued)).await;
    assert!(bytes <= (17 << 10) as f64, "{bytes}");
    within::<R, _>("the slow consumer's close", producer).await;

    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(50)))
        .ping_timeout(Duration::from_millis(100))
        .close_timeout(Duration::from_millis(100));
    let (heartbeat, mut opens, _) = push::serve_watched::<R>(config, Methods::new()).await;
    let _silent = Raw::<R>::connect(&heartbeat.url).await;
    let silent = signal::<R, _>("on_open", &mut opens).await;
    within::<R, _>("the silent page's close", silent.closed()).await;

    let closes = async {
        let labels = |reason| [("role", "server"), ("reason", reason)];
        while figure("jrpc_connections_closed_total", &labels("slow_consumer")).is_none()
            || figure(
                "jrpc_connections_closed_total",
                &labels("heartbeat_timeout"),
            )
            .is_none()
        {
            sleep::<R>(Duration::from_millis(5)).await;
        }
    };
    within::<R, _>("both closes counted", closes).await;
    server.handle.shutdown(Duration::from_millis(100)).await;
    heartbeat.handle.shutdown(Duration::from_millis(100)).await;
}

/// The value of the sample `name{labels}` in a Prometheus text rendering, whatever the order
/// of its labels.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, mut found) = match series.split_once('{') {
            Some((n, rest)) => (
                n,
                rest.trim_end_matches('}')
                    .split(',')
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            ),
            None => (series, Vec::new()),
        };
        found.sort();
        (series_name == name && found == wanted)
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// The text written so far by the subscriber of [`capture_logs`].
#[cfg(feature = "observe")]
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Where the subscriber of [`capture_logs`] writes: [`LOG`].
#[cfg(feature = "observe")]
struct Capture;

#[cfg(feature = "observe")]
impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, for the whole process, a `tracing` subscriber at debug for `jrpc_driver` writing
/// plain text to memory; returns what reads that text back (for
/// [`logs_tell_connections_and_calls`], through [`instantiate_observed!`](crate::instantiate_observed)).
#[cfg(feature = "observe")]
pub fn capture_logs() -> fn() -> String {
    tracing_subscriber::fmt()
        .with_env_filter("jrpc_driver=debug")
        .with_writer(|| Capture)
        .with_ansi(false)
        .init();
    || String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned()
}

/// The recorder installed by [`install_prometheus`].
#[cfg(feature = "observe")]
static RECORDER: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

/// Installs, for the whole process, a Prometheus recorder (the call latency histogram with
/// buckets); returns what renders it (for [`metrics_count_connections_and_calls`], through
/// [`instantiate_observed!`](crate::instantiate_observed)).
#[cfg(feature = "observe")]
pub fn install_prometheus() -> fn() -> String {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("jrpc_call_duration_seconds".to_owned()),
            &[1e-4, 1e-3, 1e-2, 0.1, 1.0],
        )
        .unwrap()
        .install_recorder()
        .unwrap();
    RECORDER.set(handle).ok().unwrap();
    || {
        RECORDER
            .get()
            .map(PrometheusHandle::render)
            .unwrap_or_default()
    }
}

/// One of the observation cases on an adapter's runtime, in a test binary of its own (the
/// subscriber and the recorder are process-wide): `logs`
/// (`jrpc_testsuite::instantiate_observed!(logs, jrpc_tokio::Tokio, block_on);`) or `metrics`
/// (the adapter built with its `metrics` feature).
#[cfg(feature = "observe")]
#[macro_export]
macro_rules! instantiate_observed {
    (logs, $runtime:ty, $block_on:path) => {
        $crate::instantiate_observed!(@case $runtime, $block_on;
            logs_tell_connections_and_calls, capture_logs);
    };
    (metrics, $runtime:ty, $block_on:path) => {
        $crate::instantiate_observed!(@case $runtime, $block_on;
            metrics_count_connections_and_calls, install_prometheus);
    };
    (@case $runtime:ty, $block_on:path; $case:ident, $install:ident) => {
        #[test]
        fn $case() {
            let read = $crate::$install();
            $block_on($crate::bounded::<$runtime, _>(
                stringify!($case),
                $crate::$case::<$runtime>(read),
            ))
        }
    };
}
