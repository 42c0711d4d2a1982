//! The client loads (`client16`, `client256`): what a Rust service pays to call another.
//!
//! Each client runs in a process of its own (`jrpc-bench drive <kind> <url>`), so that its CPU
//! time is its own, against one jrpc-tokio server. Two kinds: `raw`, the benchmark's raw
//! tokio-tungstenite loop (`client.rs`, the floor: it writes ready-made frames and checks the
//! answers by their text), and `jrpc-tokio`, jrpc-tokio's client as a service would use it:
//! `Client::connect` with the default settings, then N tasks on tokio's multi-thread runtime,
//! each awaiting `peer.request::<f64>("add", (1, 2))` in a loop on a clone of the one `Peer`
//! (N calls in flight on one connection, as N request handlers of a service would make them).
//! A third kind, `jrpc-tokio-1w`, is the same client on a runtime of one worker: the same
//! instructions per call, with none of the hand-offs between two workers' cores (the goal is
//! taken on the two-worker kind; this one shows how much of its cost is the scheduler's).
//!
//! The parent drives the clients in turns over their standard input: a line `<in-flight>
//! <secs>` runs one turn, answered by `TURN <calls> <wrong> <cpu seconds> <wall seconds>`; the
//! client measures its own CPU time (`getrusage`) around the turn, and the parent the server's
//! (`/proc/PID/stat`). Closing the standard input ends the client. Given `<in-flight> <secs>` as
//! arguments, the client runs one turn and exits instead (for profiling it against a server
//! started by hand: `jrpc-bench serve jrpc-tokio 9000`).

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::client::{self, Call, Dialect};
use crate::report::{ClientFigures, median};
use crate::{Options, ServerProcess};

/// The client kinds, in the order of the table; the first is the floor.
pub const CLIENT_KINDS: [&str; 3] = ["raw", "jrpc-tokio", ONE_WORKER];

/// The jrpc-tokio client on a multi-thread runtime of one worker.
const ONE_WORKER: &str = "jrpc-tokio-1w";

/// One client load: calls in flight on the client's one connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientLoad {
    /// Its name in `--loads`.
    pub name: &'static str,
    /// Calls in flight.
    pub window: usize,
}

/// The client loads, in the order they run.
pub const CLIENT_LOADS: [ClientLoad; 2] = [
    ClientLoad {
        name: "client16",
        window: 16,
    },
    ClientLoad {
        name: "client256",
        window: 256,
    },
];

/// How long a turn lasts: a time, or a number of calls (for counting instructions, which
/// must not depend on the machine's speed).
#[derive(Debug, Clone, Copy)]
enum Length {
    Time(Duration),
    Calls(u64),
}

/// The most a counted turn may take (a client under valgrind is slow).
const COUNTED_TURN_LIMIT: Duration = Duration::from_secs(600);

/// What a client process measured in one turn.
#[derive(Debug, Clone, Copy, Default)]
struct Turn {
    calls: u64,
    wrong: u64,
    cpu: f64,
    wall: f64,
}

/// A client's connection (the raw one boxed: it is the larger by far).
enum Connection {
    Raw(Option<Box<client::Ws>>),
    Jrpc(jrpc_tokio::Peer),
}

impl Connection {
    async fn open(kind: &str, url: &str) -> Result<Self, String> {
        match kind {
            "raw" => Ok(Self::Raw(Some(Box::new(
                client::connect(url, 16 << 10).await?,
            )))),
            "jrpc-tokio" | ONE_WORKER => jrpc_tokio::Client::connect(url)
                .await
                .map(Self::Jrpc)
                .map_err(|e| format!("connect {url}: {e}")),
            other => Err(format!("unknown client kind '{other}' ({CLIENT_KINDS:?})")),
        }
    }

    /// `window` calls in flight for `length`, then the answers still out.
    async fn turn(&mut self, window: usize, length: Length) -> Result<Turn, String> {
        let cpu = crate::sys::own_cpu_seconds();
        let started = Instant::now();
        let (deadline, limit) = match length {
            Length::Time(time) => (started + time, u64::MAX),
            Length::Calls(calls) => (started + COUNTED_TURN_LIMIT, calls),
        };
        let (calls, wrong) = match self {
            Self::Raw(ws) => {
                let taken = ws
                    .take()
                    .ok_or("the connection failed in an earlier turn")?;
                let call = Call::Add(Dialect::Jrpc);
                let (back, tally) = client::drive(*taken, call, window, deadline, limit).await;
                if let Some(e) = tally.failed {
                    return Err(e);
                }
                *ws = Some(Box::new(back));
                (tally.answers, tally.wrong)
            }
            Self::Jrpc(peer) => {
                // A counted turn: the calls shared out among the tasks, the first ones one more.
                let share = |task: u64| match limit {
                    u64::MAX => u64::MAX,
                    calls => calls / window as u64 + u64::from(task < calls % window as u64),
                };
                let tasks: Vec<_> = (0..window as u64)
                    .map(|task| tokio::spawn(requests(peer.clone(), deadline, share(task))))
                    .collect();
                let (mut calls, mut wrong) = (0, 0);
                for task in tasks {
                    let (c, w) = task.await.map_err(|e| format!("client task: {e}"))??;
                    calls += c;
                    wrong += w;
                }
                (calls, wrong)
            }
        };
        Ok(Turn {
            calls,
            wrong,
            cpu: crate::sys::own_cpu_seconds() - cpu,
            wall: started.elapsed().as_secs_f64(),
        })
    }
}

/// One task of the jrpc-tokio client: a call at a time until `deadline` or `limit` calls;
/// the right answers and the wrong ones.
async fn requests(
    peer: jrpc_tokio::Peer,
    deadline: Instant,
    limit: u64,
) -> Result<(u64, u64), String> {
    let (mut calls, mut wrong) = (0u64, 0u64);
    // The clock is read every 16th call, not every call, as the raw loop reads it once per
    // batch: what is measured is the client's cost, not the harness's (a read is some 2%).
    while calls + wrong < limit && ((calls + wrong) % 16 != 0 || Instant::now() < deadline) {
        let sum: f64 = peer
            .request("add", (1, 2))
            .await
            .map_err(|e| format!("request: {e}"))?;
        if sum == 3.0 {
            calls += 1;
        } else {
            wrong += 1;
        }
    }
    Ok((calls, wrong))
}

/// `jrpc-bench drive <kind> <url> [<in-flight> <secs>]`: the client process.
pub fn main(args: &[String]) -> Result<(), String> {
    let [kind, url, rest @ ..] = args else {
        return Err(
            "usage: jrpc-bench drive <raw|jrpc-tokio|jrpc-tokio-1w> <url> [<in-flight> <secs>|<N>calls]"
                .into(),
        );
    };
    let once = match rest {
        [] => None,
        [window, secs] => Some(parse_turn(window, secs)?),
        _ => return Err("drive: <in-flight> <secs> (or <N>calls) go together".to_owned()),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if kind == ONE_WORKER {
        builder.worker_threads(1);
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(async {
        let mut connection = Connection::open(kind, url).await?;
        if let Some((window, length)) = once {
            let turn = connection.turn(window, length).await?;
            println!("{}", show(turn));
            return Ok(());
        }
        println!("READY");
        // Standard input read by a thread of its own (the lines, until it closes).
        let (send, mut lines) = tokio::sync::mpsc::channel::<String>(1);
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if send.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = lines.recv().await {
            let Some((window, secs)) = line.split_once(' ') else {
                return Err(format!(
                    "drive: a turn is '<in-flight> <secs>', not '{line}'"
                ));
            };
            let (window, length) = parse_turn(window, secs)?;
            let turn = connection.turn(window, length).await?;
            println!("{}", show(turn));
        }
        Ok(())
    })
}

/// `<in-flight> <secs>`, or `<in-flight> <N>calls` for a turn of N calls.
fn parse_turn(window: &str, length: &str) -> Result<(usize, Length), String> {
    let window: usize = window.parse().map_err(|e| format!("in-flight: {e}"))?;
    if !(1..=4096).contains(&window) {
        return Err("drive: 1 to 4096 in flight".to_owned());
    }
    if let Some(calls) = length.strip_suffix("calls") {
        let calls: u64 = calls.parse().map_err(|e| format!("calls: {e}"))?;
        if !(1..=100_000_000).contains(&calls) {
            return Err("drive: 1 to 10^8 calls".to_owned());
        }
        return Ok((window, Length::Calls(calls)));
    }
    let secs: f64 = length.parse().map_err(|e| format!("secs: {e}"))?;
    if !(0.01..=600.0).contains(&secs) {
        return Err("drive: 0.01 to 600 s".to_owned());
    }
    Ok((window, Length::Time(Duration::from_secs_f64(secs))))
}

fn show(turn: Turn) -> String {
    format!(
        "TURN {} {} {:.6} {:.6}",
        turn.calls, turn.wrong, turn.cpu, turn.wall
    )
}

/// A client process of the benchmark; killed when dropped.
struct ClientProcess {
    kind: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl ClientProcess {
    /// `jrpc-bench drive <kind> <url>`, under `JRPC_BENCH_CLIENT_WRAPPER` if set; ready once it
    /// has connected.
    async fn start(kind: &'static str, url: &str) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = crate::wrapped("JRPC_BENCH_CLIENT_WRAPPER", exe.as_os_str())
            .args(["drive", kind, url])
            .spawn()
            .map_err(|e| format!("spawn the {kind} client: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut client = Self {
            kind,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        // A client under valgrind takes a while to start.
        let line = client.line(Duration::from_secs(60)).await?;
        if line != "READY" {
            return Err(format!("the {kind} client said '{line}'"));
        }
        Ok(client)
    }

    async fn line(&mut self, limit: Duration) -> Result<String, String> {
        let kind = self.kind;
        tokio::time::timeout(limit, self.lines.next_line())
            .await
            .map_err(|_| format!("the {kind} client did not answer within {limit:?}"))?
            .map_err(|e| format!("reading the {kind} client: {e}"))?
            .ok_or_else(|| format!("the {kind} client exited"))
    }

    async fn turn(&mut self, window: usize, length: Duration) -> Result<Turn, String> {
        let order = format!("{window} {}\n", length.as_secs_f64());
        self.stdin
            .write_all(order.as_bytes())
            .await
            .map_err(|e| format!("the {} client: {e}", self.kind))?;
        // The turn, the drain of the answers still out, and some slack for a wrapped client.
        let line = self.line(length * 2 + Duration::from_secs(60)).await?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let turn = match fields[..] {
            ["TURN", calls, wrong, cpu, wall] => (|| {
                Some(Turn {
                    calls: calls.parse().ok()?,
                    wrong: wrong.parse().ok()?,
                    cpu: cpu.parse().ok()?,
                    wall: wall.parse().ok()?,
                })
            })(),
            _ => None,
        };
        turn.ok_or_else(|| format!("the {} client said '{line}'", self.kind))
    }

    /// Closes its stdin, which makes it exit; kills it if it has not within 10 s.
    async fn stop(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        }
    }
}

/// What one client kind accumulated over a load's turns.
#[derive(Default)]
struct Sum {
    calls: u64,
    client_cpu: f64,
    server_cpu: f64,
    wall: f64,
    throughputs: Vec<f64>,
}

/// The client loads `loads`: a jrpc-tokio server and one process of each client kind, which
/// take turns as the systems of the other loads do.
pub async fn measure(
    options: &Options,
    loads: &[ClientLoad],
) -> Result<Vec<ClientFigures>, String> {
    let server = ServerProcess::start("jrpc-tokio").await?;
    let mut clients = Vec::new();
    for kind in CLIENT_KINDS {
        clients.push(ClientProcess::start(kind, &server.url).await?);
    }
    let warmup = Duration::from_secs_f64(options.warmup);
    for client in &mut clients {
        let turn = client.turn(16, warmup).await?;
        eprintln!(
            "   client {:<8} warm-up        {} calls",
            client.kind, turn.calls
        );
    }
    let chunk = Duration::from_secs_f64(options.secs / options.rounds as f64);
    let mut figures = Vec::new();
    for load in loads {
        let mut sums: Vec<Sum> = clients.iter().map(|_| Sum::default()).collect();
        for round in 0..options.rounds {
            for k in 0..clients.len() {
                let i = (k + round) % clients.len();
                let server_cpu = server.cpu()?;
                let turn = clients[i].turn(load.window, chunk).await?;
                let sum = &mut sums[i];
                sum.server_cpu += server.cpu()? - server_cpu;
                if turn.wrong > 0 {
                    return Err(format!(
                        "client {}, {}: {} wrong answers",
                        clients[i].kind, load.name, turn.wrong
                    ));
                }
                sum.calls += turn.calls;
                sum.client_cpu += turn.cpu;
                sum.wall += turn.wall;
                sum.throughputs
                    .push(turn.calls as f64 / turn.wall.max(f64::MIN_POSITIVE));
            }
        }
        for (client, sum) in clients.iter().zip(sums) {
            if sum.calls == 0 {
                return Err(format!("client {}, {}: no answers", client.kind, load.name));
            }
            let f = ClientFigures {
                kind: client.kind.to_owned(),
                window: load.window,
                throughput: median(&sum.throughputs),
                client_cpu_us: sum.client_cpu * 1e6 / sum.calls as f64,
                server_cpu_us: sum.server_cpu * 1e6 / sum.calls as f64,
                client_cores: sum.client_cpu / sum.wall.max(f64::MIN_POSITIVE),
            };
            eprintln!(
                "   client {:<8} {:<14} {:>10.0} calls/s   client CPU {:>6.2} µs/call   server CPU {:>6.2} µs/call",
                f.kind, load.name, f.throughput, f.client_cpu_us, f.server_cpu_us
            );
            figures.push(f);
        }
    }
    for client in clients {
        client.stop().await;
    }
    server.stop().await;
    Ok(figures)
}

/// `jrpc-bench client-cost [<in-flight> [<short> <long>]]`: the instructions each client kind
/// spends per call, counted by callgrind (so they do not depend on the machine's load). Each
/// kind runs twice as `valgrind --tool=callgrind jrpc-bench drive <kind> <url> <in-flight>
/// <N>calls` against one jrpc-tokio server (not under valgrind), with N `short` then `long`
/// (default 256 in flight, 25,600 and 76,800 calls); the difference of the two totals over
/// the difference of the calls leaves out start-up and connection.
pub async fn cost(args: &[String]) -> Result<(), String> {
    let number = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i).map_or(Ok(default), |n| {
            n.parse().map_err(|e| format!("client-cost: '{n}': {e}"))
        })
    };
    let (window, short, long) = (number(0, 256)?, number(1, 25_600)?, number(2, 76_800)?);
    if window == 0 || short >= long {
        return Err("usage: jrpc-bench client-cost [<in-flight> [<short> <long>]]".to_owned());
    }
    let server = ServerProcess::start("jrpc-tokio").await?;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut floor = None;
    for kind in CLIENT_KINDS {
        let mut totals = Vec::new();
        for calls in [short, long] {
            let out = std::env::temp_dir().join(format!(
                "jrpc-client-cost.{kind}.{calls}.{}.out",
                std::process::id()
            ));
            let status = tokio::process::Command::new("valgrind")
                .arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(&exe)
                .args(["drive", kind, &server.url])
                .arg(window.to_string())
                .arg(format!("{calls}calls"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await
                .map_err(|e| format!("valgrind (is it installed?): {e}"))?;
            if !status.success() {
                return Err(format!("the {kind} client under valgrind: {status}"));
            }
            let text = std::fs::read_to_string(&out)
                .map_err(|e| format!("reading {}: {e}", out.display()))?;
            let _ = std::fs::remove_file(&out);
            let total = text
                .lines()
                .find_map(|line| {
                    line.strip_prefix("totals:")
                        .or(line.strip_prefix("summary:"))
                })
                .and_then(|n| n.split_whitespace().next()?.parse::<u64>().ok())
                .ok_or_else(|| format!("no instruction total in {}", out.display()))?;
            totals.push(total);
        }
        let per_call = totals[1].saturating_sub(totals[0]) as f64 / (long - short) as f64;
        let ratio = floor.map_or(String::new(), |raw: f64| {
            format!("   {:.2}x the raw client", per_call / raw)
        });
        println!(
            "client {kind:<10} {window} in flight: {per_call:>8.0} instructions per call \
             ({} at {short} calls, {} at {long}){ratio}",
            totals[0], totals[1]
        );
        floor.get_or_insert(per_call);
    }
    server.stop().await;
    Ok(())
}
