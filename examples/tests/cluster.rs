//! Several `twoway` chat processes behind nginx, linked by Redis: real processes, a real
//! Redis and a real nginx (Debian's, from scripts/install-deps.sh), each started on free
//! loopback ports by the test and stopped by pid. Rust pages (jrpc-tokio clients) connect
//! through nginx as browsers would.
//!
//! The `twoway` binary is the example's, built beside this test (`cargo test --all-targets`
//! builds it; else `cargo build -p jrpc-examples --example twoway`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_channel::mpsc;
use futures_util::StreamExt;
use jrpc_testsuite::services::{Nginx, RedisServer, free_port};
use jrpc_tokio::{CallError, Client, Methods, Peer};

/// How long a killed process's pages still count (the processes' JRPC_NODE_TTL_MS).
const TTL: Duration = Duration::from_millis(1500);
/// The longest any one wait of these tests may take.
const WAIT: Duration = Duration::from_secs(10);

/// A `twoway` process, killed (SIGKILL) when dropped.
struct Process {
    child: Child,
    http: SocketAddr,
    ws: SocketAddr,
}

impl Process {
    fn start(redis: &RedisServer, public_port: u16) -> Self {
        let exe = twoway_binary();
        let (http, ws) = (free_port().unwrap(), free_port().unwrap());
        let origins = format!("http://localhost:{public_port},http://127.0.0.1:{public_port}");
        let mut child = Command::new(&exe)
            .env("JRPC_REDIS_URL", redis.url())
            .env("JRPC_NODE_TTL_MS", TTL.as_millis().to_string())
            .env("JRPC_HTTP_PORT", http.to_string())
            .env("JRPC_WS_PORT", ws.to_string())
            .env("JRPC_PUBLIC_WS_PORT", public_port.to_string())
            .env("JRPC_ALLOW_ORIGINS", origins)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", exe.display()));
        // Ready once it prints where it listens. Its output is passed on, and kept to say why
        // it did not start if it does not (its log goes to stdout, a panic to stderr).
        let (ready, listening) = std_mpsc::channel();
        let logged = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let out = keep_lines(stdout, Arc::clone(&logged), Some(ready));
        let stderr = child.stderr.take().unwrap();
        let err = keep_lines(stderr, Arc::clone(&logged), None);
        if let Err(e) = listening.recv_timeout(WAIT) {
            let _ = child.kill();
            let status = child.wait();
            // Its output ends with it.
            let _ = (out.join(), err.join());
            let log = logged.lock().map(|l| l.clone()).unwrap_or_default();
            panic!("twoway did not start listening ({e}; {status:?}), its log:\n{log}");
        }
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            child,
            http: at(http),
            ws: at(ws),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Passes each line of `output` on (to the test's output) and keeps it in `log`; says on
/// `ready` when the process prints that it listens.
fn keep_lines(
    output: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    ready: Option<std_mpsc::Sender<()>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            eprintln!("twoway: {line}");
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
            if line.contains("example listening") {
                if let Some(ready) = &ready {
                    let _ = ready.send(());
                }
            }
        }
    })
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `twoway` example's binary, built once by `cargo build --example twoway` (what `cargo
/// test` builds of an example is a test harness, not the program).
fn twoway_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "jrpc-examples",
                    "--example",
                    "twoway",
                ])
                .status()
                .expect("run cargo build --example twoway");
            assert!(status.success(), "cargo build --example twoway: {status}");
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
            let twoway = dir.join("examples").join("twoway");
            assert!(twoway.exists(), "{} is missing", twoway.display());
            twoway
        })
        .clone()
}

/// Redis, two chat processes, and nginx in front of them.
struct Setup {
    redis: RedisServer,
    processes: Vec<Process>,
    nginx: Nginx,
}

impl Setup {
    fn start() -> Self {
        let redis = RedisServer::start().expect("redis-server (scripts/install-deps.sh)");
        let port = free_port().unwrap();
        let processes = vec![Process::start(&redis, port), Process::start(&redis, port)];
        // Each process serves its page and the WebSocket upgrade on `/` of its HTTP port.
        let upstreams: Vec<SocketAddr> = processes.iter().map(|p| p.http).collect();
        let nginx = Nginx::start(port, &upstreams).expect("nginx (scripts/install-deps.sh)");
        Self {
            redis,
            processes,
            nginx,
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.nginx.port())
    }
}

/// A page: answers `GetName` with its name, collects the `Message`s it gets.
struct Page {
    peer: Peer,
    id: String,
    messages: mpsc::UnboundedReceiver<(String, String)>,
}

impl Page {
    async fn open(url: &str, name: &str) -> Self {
        let (tell, messages) = mpsc::unbounded();
        let name = name.to_owned();
        let methods = Methods::new().add("GetName", move || name.clone()).add(
            "Message",
            move |from: String, text: String| {
                let _ = tell.unbounded_send((from, text));
            },
        );
        let peer = tokio::time::timeout(WAIT, Client::builder().connect(url, methods))
            .await
            .expect("connect in time")
            .expect("connect through nginx");
        let id: String = peer.request("Me", ()).await.unwrap();
        Self { peer, id, messages }
    }

    fn node(&self) -> &str {
        self.id.rsplit_once('.').map_or("", |(node, _)| node)
    }

    /// The next message whose text is `text` (skipping "… joined" and the like).
    async fn hears(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.messages.next()).await {
                Ok(Some((from, got))) if got == text => return from,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the page closed while waiting for {text:?}"),
                Err(_) => panic!("no message {text:?} within {WAIT:?}"),
            }
        }
    }

    /// `Who()`: fails while the page's process is not linked to Redis.
    async fn who(&self) -> Result<Vec<String>, CallError> {
        self.peer.request("Who", ()).await
    }
}

/// Two pages on two different processes (nginx spreads new connections over them: round
/// robin, so the next one goes to the other process; a few tries at most).
async fn pages_on_two_processes(url: &str) -> (Page, Page) {
    let ann = Page::open(url, "ann").await;
    for _ in 0..8 {
        let bob = Page::open(url, "bob").await;
        if bob.node() != ann.node() {
            return (ann, bob);
        }
        bob.peer.close();
    }
    panic!("nginx put every page on one process");
}

/// Polls `Who()` on `page` until `done` holds, within `limit`.
async fn await_who(page: &Page, limit: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let who = page.who().await;
        if let Ok(who) = &who {
            if done(who) {
                return who.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "Who() is still {who:?} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Through nginx: the page and its WebSocket on one port; two pages on two processes chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_on_two_processes_chat_through_nginx() {
    let setup = Setup::start();
    let page = http_get(setup.nginx.port(), "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("JRPC.WebSocket"), "{page}");
    let config = http_get(setup.nginx.port(), "/config.js");
    assert!(
        config.contains(&format!("JRPC_WS_PORT = {};", setup.nginx.port())),
        "{config}"
    );

    let (mut ann, mut bob) = pages_on_two_processes(&setup.url()).await;
    await_who(&ann, WAIT, |who| {
        who.contains(&ann.id) && who.contains(&bob.id)
    })
    .await;
    let _: usize = ann.peer.request("Say", ("hi bob",)).await.unwrap();
    assert_eq!(bob.hears("hi bob").await, "ann");
    assert_eq!(ann.hears("hi bob").await, "ann");
    let _: usize = bob.peer.request("Say", ("hi ann",)).await.unwrap();
    assert_eq!(ann.hears("hi ann").await, "bob");
    assert_eq!(bob.hears("hi ann").await, "bob");
    // One publisher's messages reach the other process in order.
    for i in 0..50 {
        let _: usize = ann.peer.request("Say", (format!("#{i}"),)).await.unwrap();
    }
    for i in 0..50 {
        let next = bob.messages.next().await.unwrap();
        assert_eq!(next, ("ann".to_owned(), format!("#{i}")));
    }
    assert!(
        setup
            .nginx
            .error_log()
            .lines()
            .all(|l| !l.contains("[emerg]"))
    );
}

/// A call from process A to a page on process B, and its answer; the same to a page that has
/// gone, and to a process that never was: a typed error, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_page_on_another_process() {
    let setup = Setup::start();
    let (ann, bob) = pages_on_two_processes(&setup.url()).await;
    let name: String = ann.peer.request("NameOf", (&bob.id,)).await.unwrap();
    assert_eq!(name, "bob");
    let name: String = bob.peer.request("NameOf", (&ann.id,)).await.unwrap();
    assert_eq!(name, "ann");

    let gone = bob.id.clone();
    bob.peer.close();
    bob.peer.closed().await;
    let deadline = Instant::now() + WAIT;
    loop {
        let started = Instant::now();
        match ann.peer.request::<String>("NameOf", (&gone,)).await {
            Err(CallError::Remote(e)) if e.is("PeerGone") => break,
            other => assert!(Instant::now() < deadline, "still {other:?}"),
        }
        assert!(started.elapsed() < WAIT);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let nowhere = ann
        .peer
        .request::<String>("NameOf", ("00000000deadbeef.1",))
        .await;
    assert!(
        matches!(&nowhere, Err(CallError::Remote(e)) if e.is("PeerGone")),
        "{nowhere:?}"
    );
}

/// A process killed with SIGKILL: its pages vanish from the cluster within the TTL (plus a
/// heartbeat), they reconnect through nginx to the survivor and rejoin, and the chat goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_is_forgotten_and_its_pages_move() {
    let mut setup = Setup::start();
    let (mut ann, bob) = pages_on_two_processes(&setup.url()).await;
    await_who(&ann, WAIT, |who| who.len() == 2).await;
    // Kill bob's process: ask each process directly which node it is.
    let bob_node = bob.node().to_owned();
    let mut victim = None;
    for (i, process) in setup.processes.iter().enumerate() {
        let probe = Page::open(&format!("ws://{}/", process.ws), "probe").await;
        if probe.node() == bob_node {
            victim = Some(i);
        }
        probe.peer.close();
    }
    let victim = victim.expect("bob's process");
    setup.processes[victim].kill();
    let killed = Instant::now();
    tokio::time::timeout(WAIT, bob.peer.closed())
        .await
        .expect("nginx closes the page's connection when its process dies");

    // The page reconnects (as jrpc.js does) through nginx, to the survivor.
    let mut bob2 = Page::open(&setup.url(), "bob").await;
    assert_eq!(
        bob2.node(),
        ann.node(),
        "nginx sent the page to the dead process"
    );
    let who = await_who(&ann, TTL + WAIT, |who| {
        !who.iter().any(|id| id.starts_with(&bob_node)) && who.contains(&bob2.id)
    })
    .await;
    assert_eq!(who.len(), 2, "{who:?}");
    // The bound: TTL, plus a heartbeat and polling; generous for a loaded machine.
    assert!(killed.elapsed() < TTL + Duration::from_secs(5));
    let _: usize = bob2.peer.request("Say", ("back",)).await.unwrap();
    assert_eq!(ann.hears("back").await, "bob");
    assert_eq!(bob2.hears("back").await, "bob");
}

/// Redis stopped and restarted: the processes keep serving their own pages, relink by
/// themselves, write their membership anew, and the chat across processes resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_survives_a_redis_restart() {
    let mut setup = Setup::start();
    let (mut ann, mut bob) = pages_on_two_processes(&setup.url()).await;
    await_who(&ann, WAIT, |who| who.len() == 2).await;

    setup.redis.stop();
    // While Redis is down a message reaches the pages of its own process only.
    let _: usize = ann.peer.request("Say", ("alone",)).await.unwrap();
    assert_eq!(ann.hears("alone").await, "ann");
    let who = ann.peer.request::<Vec<String>>("Who", ()).await;
    assert!(
        matches!(&who, Err(CallError::Remote(e)) if e.is("Unavailable")),
        "{who:?}"
    );

    setup.redis.restart().unwrap();
    await_who(&ann, WAIT, |who| {
        who.contains(&ann.id) && who.contains(&bob.id)
    })
    .await;
    let _: usize = ann.peer.request("Say", ("together",)).await.unwrap();
    assert_eq!(bob.hears("together").await, "ann");
    for process in &mut setup.processes {
        assert!(process.is_running(), "a chat process died with Redis");
    }
}
