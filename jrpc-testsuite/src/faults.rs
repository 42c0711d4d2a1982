//! Faults of whole processes: a client process killed (SIGKILL) in the middle of a call, and a
//! server process killed while its clients wait. The other process is this same test binary,
//! run again with `JRPC_FAULT_CHILD` set, so that its [`fault_child`] case plays the part.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;

use super::*;
use crate::hostile::blocking;

/// The environment variable that gives a child process its part.
const ROLE: &str = "JRPC_FAULT_CHILD";
/// What starts the lines a child process reports on its stdout.
const PREFIX: &str = "JRPC-CHILD ";

/// Does nothing, unless one of the fault cases started this process to play a part (the
/// environment variable `JRPC_FAULT_CHILD`): `server` serves `Stuck` (reports each start,
/// never answers) and reports its URL; `client=URL` calls `Stuck` on that server. Either runs
/// until the parent kills it (at most [`CASE_LIMIT`]).
pub async fn fault_child<R: Runtime + Default>() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    if role == "server" {
        let methods = Methods::new().add("Stuck", || {
            println!("{PREFIX}started");
            future::pending::<()>()
        });
        let server = serve::<R>(Config::default(), methods).await;
        println!("{PREFIX}{}", server.url);
        future::pending::<()>().await;
    } else if let Some(url) = role.strip_prefix("idle=") {
        let _peer = client::<R>(url, Methods::new()).await;
        println!("{PREFIX}connected");
        future::pending::<()>().await;
    } else if let Some(url) = role.strip_prefix("client=") {
        let peer = client::<R>(url, Methods::new()).await;
        let outcome = peer.request::<()>("Stuck", ()).await;
        panic!("the call that was to be killed ended: {outcome:?}");
    } else {
        panic!("unknown role {ROLE}={role}");
    }
}

/// A child process playing `role`, and the lines it reports.
struct ChildProcess {
    child: Option<Child>,
    reports: mpsc::UnboundedReceiver<String>,
}

impl ChildProcess {
    fn spawn(role: &str) -> Self {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut child = Command::new(exe)
            .args(["fault_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the test binary as a child process");
        let stdout = child.stdout.take().expect("the child's stdout");
        let (report, reports) = mpsc::unbounded();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The test harness may have begun the line ("test fault_child ... ").
                if let Some((_, rest)) = line.split_once(PREFIX) {
                    let _ = report.unbounded_send(rest.to_owned());
                }
            }
        });
        Self {
            child: Some(child),
            reports,
        }
    }

    /// The next line the child reports.
    async fn report<R: Runtime + Default>(&mut self, what: &str) -> String {
        signal::<R, _>(what, &mut self.reports).await
    }

    /// Stops the child with SIGSTOP: its process no longer runs, while its kernel still
    /// acknowledges TCP (as for a suspended laptop).
    fn stop(&self) {
        let pid = self.child.as_ref().expect("a running child").id();
        let status = Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .expect("run kill -STOP");
        assert!(status.success(), "kill -STOP {pid}: {status}");
    }

    /// Kills the child with SIGKILL (on Unix) and waits for it to be gone.
    async fn kill<R: Runtime + Default>(mut self) {
        let mut child = self.child.take().expect("a child not yet killed");
        blocking::<R, _>("kill the child process", move || {
            child.kill().expect("kill the child process");
            child.wait().expect("wait for the child process");
        })
        .await;
    }
}

impl Drop for ChildProcess {
    /// A case that fails early leaves no child process behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A client process is killed (SIGKILL: no close frame, the kernel drops its socket) while
/// its call runs on the server: the server sees the connection close (`on_close`), goes on
/// serving its other client and new ones, and the orphaned method's answer goes nowhere.
pub async fn killed_client_process_mid_call<R: Runtime + Default>() {
    let (started, mut starts) = mpsc::unbounded::<()>();
    let (closed, mut closes) = mpsc::unbounded::<u64>();
    let gate = Gate::new();
    let method_gate = gate.clone();
    let methods = Methods::new()
        .add("Stuck", move || {
            let _ = started.unbounded_send(());
            let gate = method_gate.clone();
            async move { gate.wait().await }
        })
        .add("Add", |a: i64, b: i64| a + b)
        .on_close(move |ctx: Ctx| {
            let _ = closed.unbounded_send(ctx.peer().id());
            async {}
        });
    let server = serve::<R>(Config::default(), methods).await;
    let bystander = client::<R>(&server.url, Methods::new()).await;

    let child = ChildProcess::spawn(&format!("client={}", server.url));
    signal::<R, _>("the child's call to start", &mut starts).await;
    let begun = Instant::now();
    child.kill::<R>().await;
    signal::<R, _>("on_close for the killed client", &mut closes).await;
    let took = begun.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the server saw the close after {took:?}"
    );

    assert_eq!(call::<R, i64>(&bystander, "Add", (1, 2)).await, Ok(3));
    let newcomer = client::<R>(&server.url, Methods::new()).await;
    assert_eq!(call::<R, i64>(&newcomer, "Add", (3, 4)).await, Ok(7));
    gate.open();
    assert_eq!(call::<R, i64>(&bystander, "Add", (5, 6)).await, Ok(11));
    assert!(!bystander.is_closed());
    assert_eq!(
        closes.try_recv().ok(),
        None,
        "only the killed client's connection closed"
    );
}

/// A server process is killed (SIGKILL) while two clients wait for its answers: both calls
/// fail with `ConnectionClosed` at once (well before their 30 s timeout), and so do calls made
/// afterwards.
pub async fn killed_server_process_fails_calls_at_once<R: Runtime + Default>() {
    let mut child = ChildProcess::spawn("server");
    let url = child.report::<R>("the child server's URL").await;
    let first = stuck_client::<R>(&url).await;
    let second = stuck_client::<R>(&url).await;

    let mut calls = pin!(future::join(
        first.request::<()>("Stuck", ()),
        second.request::<()>("Stuck", ())
    ));
    for _ in 0..2 {
        let started = drive_until(&mut calls, child.report::<R>("a call to start"));
        assert_eq!(within::<R, _>("a start", started).await, "started");
    }
    let begun = Instant::now();
    child.kill::<R>().await;
    let (a, b) = within::<R, _>("the calls to fail", calls).await;
    assert_fails_at_once::<R>(&first, a, begun).await;
    assert_fails_at_once::<R>(&second, b, begun).await;
}

/// A client process stopped with SIGSTOP (a suspended laptop, a dead NAT mapping: its kernel
/// still acknowledges TCP, so no socket error ever comes) is dropped by the server's heartbeat
/// within interval plus timeout, and `on_close` runs; the server goes on serving.
pub async fn stopped_client_process_is_dropped_by_heartbeat<R: Runtime + Default>() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(200)))
        .ping_timeout(Duration::from_millis(300));
    let methods = Methods::new().add("Add", |a: i64, b: i64| a + b);
    let (server, mut opens, mut closes) = crate::push::serve_watched::<R>(config, methods).await;
    let mut child = ChildProcess::spawn(&format!("idle={}", server.url));
    assert_eq!(child.report::<R>("the child to connect").await, "connected");
    let peer = signal::<R, _>("on_open of the child", &mut opens).await;
    // Answers pings while it runs: still connected after several intervals.
    sleep::<R>(Duration::from_millis(800)).await;
    assert!(!peer.is_closed());
    assert_eq!(closes.try_recv().ok(), None);

    child.stop();
    let id = signal::<R, _>("on_close of the stopped child", &mut closes).await;
    assert_eq!(id, peer.id());
    assert!(peer.is_closed());
    let bystander = client::<R>(&server.url, Methods::new()).await;
    assert_eq!(call::<R, i64>(&bystander, "Add", (1, 2)).await, Ok(3));
    child.kill::<R>().await;
}
