//! `cargo run --release -p jrpc-bench`: jrpc-tokio and jrpc-async-std side by side with
//! jsonrpsee and a raw tokio-tungstenite echo server (the floor), on 127.0.0.1.
//!
//! Each server runs in a process of its own (this binary, `jrpc-bench serve <system> <port>`);
//! this process is the client. For each system it measures sequential round trips (p50, p99),
//! pipelined throughput at 16 and 256 calls in flight on one connection and 64 connections × 16,
//! the server's CPU time per call under each load (`/proc/PID/stat`), and the server's memory per
//! idle connection at 10,000 connections (RSS growth divided). It prints a Markdown table with
//! each system's ratios to jsonrpsee and to the echo, checks the goals (issue 15's: each a
//! ratio to the echo measured in the same run), and writes it all to `BENCHMARKS.md`.
//!
//! Two more kinds of load belong to the same table and goals:
//! - the client loads (`client16`, `client256`, in `drive.rs`): the CPU a Rust client spends
//!   per call, jrpc-tokio's `Peer::request` pipelined from N tasks against the raw loop, each
//!   client a process of its own (`jrpc-bench drive <kind> <url>`) calling a jrpc-tokio
//!   server (they run when `jrpc-tokio` is among the systems);
//! - the large messages (`big64k`, `big1m`, in `big.rs`): methods that take and return 64 KiB
//!   or 1 MiB of JSON (one string, or an array of objects) against the echo servers, in
//!   payload bytes per second and server CPU per MB (jrpc-tokio, jrpc-axum, jrpc-async-std and
//!   the two echoes), beside serde_json's own decoding and encoding of the same payload on a
//!   thread of this process (`serde_json alone`, the floor of a typed method).
//!
//! The fan-out loads (`fanout100`, `fanout2000`, in `fanout.rs`) measure server push instead:
//! one publisher with publishes in flight, C subscribers, against a raw broadcast floor
//! (`broadcast`), socket.io on Node (`socketio`, skipped with a note when Node or its
//! packages are missing), the twoway example's own peer map (`jrpc-twoway`) and jrpc's groups
//! (`jrpc-groups`); they have their own part of the file.
//!
//! Flags: `--quick` (a smoke run: short phases, 1,000 idle connections, nothing written unless
//! `--out` is given), `--secs S` (time each system spends under each load, default 4), `--rounds
//! N` (the turns that time is split into, default 8), `--idle N` (connections of the idle test,
//! default 10,000; 0 skips it), `--runs N` (repeat the whole measurement), `--systems a,b` and
//! `--loads seq,16,256,64x16,client16,client256,big64k,big1m,fanout100,fanout2000` (subsets,
//! e.g. for profiling one server), `--shapes string,objects,raw` (the large loads' payloads),
//! `--in-flight N` (publishes in flight in the fan-out loads,
//! default 8), `--publishes N` (most publishes per system and fan-out load, default 1,000,000:
//! the time ends it first), `--out FILE` (default `BENCHMARKS.md` at the workspace root),
//! `--no-write`. `JRPC_BENCH_SERVER_WRAPPER` runs each server under a command (`valgrind
//! --tool=callgrind`, `perf stat --`, …), `JRPC_BENCH_CLIENT_WRAPPER` each client process of
//! the client loads. A client alone, against a server started by hand: `jrpc-bench serve
//! jrpc-tokio 9000` and `jrpc-bench drive jrpc-tokio ws://127.0.0.1:9000/ 256 5` (256 in
//! flight for 5 s, or `256 76800calls` for that many calls; it prints `TURN <calls> <wrong>
//! <cpu s> <wall s>`). `jrpc-bench client-cost [<in-flight> [<short> <long>]]` counts each
//! client kind's instructions per call under callgrind (`drive.rs`).

mod big;
mod client;
mod cluster;
mod direct;
mod drive;
mod fanout;
mod report;
mod servers;
mod sys;

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::big::{BIG_LOADS, BIG_SYSTEMS, BIG_WINDOW, Payload, Shape};
use crate::client::{Call, Dialect, Tally};
use crate::drive::CLIENT_LOADS;
use crate::report::{BigFigures, CODEC_FLOOR, Figures, Load, Run, median};

/// With `--features mimalloc`, every process of the benchmark allocates through mimalloc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The loads, in the order they run.
const LOADS: [Load; 4] = [
    Load {
        name: "sequential",
        connections: 1,
        window: 1,
    },
    Load {
        name: "16 in flight",
        connections: 1,
        window: 16,
    },
    Load {
        name: "256 in flight",
        connections: 1,
        window: 256,
    },
    Load {
        name: "64 × 16",
        connections: 64,
        window: 16,
    },
];

/// Connections being opened at once in the idle test.
const OPEN_AT_ONCE: usize = 64;

#[derive(Debug, Clone)]
struct Options {
    secs: f64,
    /// Time of each system under each large-message load and shape: `secs`, or half of it in
    /// a quick run (the 1 MiB calls are few either way; the smoke run stays short).
    big_secs: f64,
    warmup: f64,
    idle: usize,
    rounds: usize,
    runs: usize,
    systems: Vec<String>,
    /// Indices into [`LOADS`].
    loads: Vec<usize>,
    /// Indices into [`BIG_LOADS`].
    big_loads: Vec<usize>,
    /// The payload shapes of the large-message loads.
    shapes: Vec<Shape>,
    /// Indices into [`CLIENT_LOADS`].
    client_loads: Vec<usize>,
    /// Indices into [`fanout::FANOUT_LOADS`].
    fanout_loads: Vec<usize>,
    /// Publishes in flight in the fan-out loads.
    in_flight: usize,
    /// Most publishes per system and fan-out load.
    publishes: u64,
    out: Option<std::path::PathBuf>,
    command: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Groups across processes over Redis: src/cluster.rs.
    if args.first().map(String::as_str) == Some("cluster-node") {
        if let Err(e) = cluster::serve_node(args.get(1).map_or("-", String::as_str)) {
            eprintln!("jrpc-bench cluster-node: {e}");
            std::process::exit(1);
        }
        return;
    }
    // A client process of the client loads: src/drive.rs.
    if args.first().map(String::as_str) == Some("drive") {
        if let Err(e) = drive::main(&args[1..]) {
            eprintln!("jrpc-bench drive: {e}");
            std::process::exit(1);
        }
        return;
    }
    // The client kinds' instructions per call, by callgrind: src/drive.rs.
    if args.first().map(String::as_str) == Some("client-cost") {
        return run_command("client-cost", drive::cost(&args[1..]));
    }
    let cluster_run = args.first().map(String::as_str) == Some("cluster");
    if args.first().map(String::as_str) == Some("serve") {
        let system = args.get(1).map_or("", String::as_str);
        let port = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(0);
        if let Err(e) = servers::serve(system, port) {
            eprintln!("jrpc-bench serve: {e}");
            std::process::exit(1);
        }
        return;
    }
    if cluster_run {
        return run_command("cluster", cluster::run(&args[1..]));
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("jrpc-bench: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("jrpc-bench: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(options)) {
        eprintln!("jrpc-bench: {e}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: jrpc-bench [--quick] [--secs S] [--idle N] [--rounds N] [--runs N] \
[--systems jrpc-tokio,jrpc-axum,jrpc-async-std,jsonrpsee,echo,echo-async-std,broadcast,socketio,
       jrpc-twoway,jrpc-groups; or echo-fws, echo-direct, jrpc-direct, named only] [--in-flight N] [--publishes N] [--out FILE | --no-write]
       [--loads seq,16,256,64x16,client16,client256,big64k,big1m,fanout100,fanout2000]
       [--shapes string,objects,raw]
       jrpc-bench serve <system> <port>
       jrpc-bench drive <raw|jrpc-tokio> <url> [<in-flight> <secs>]   (src/drive.rs)
       jrpc-bench cluster [--secs S] [--subscribers C] [--calls N]   (src/cluster.rs)";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        secs: 4.0,
        big_secs: 4.0,
        warmup: 0.5,
        idle: 10_000,
        rounds: 8,
        runs: 1,
        systems: servers::SYSTEMS
            .iter()
            .chain(&servers::FANOUT_SYSTEMS)
            .filter(|s| !servers::OPT_IN.contains(s))
            .map(|s| (*s).to_owned())
            .collect(),
        loads: (0..LOADS.len()).collect(),
        big_loads: (0..BIG_LOADS.len()).collect(),
        shapes: Shape::ALL.to_vec(),
        client_loads: (0..CLIENT_LOADS.len()).collect(),
        fanout_loads: (0..fanout::FANOUT_LOADS.len()).collect(),
        in_flight: 8,
        publishes: 1_000_000,
        out: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md")),
        command: std::iter::once("cargo run --release -p jrpc-bench".to_owned())
            .chain((!args.is_empty()).then(|| format!("-- {}", args.join(" "))))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut out_given = false;
    let mut quick = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => quick = true,
            "--secs" => {
                options.secs = value()?.parse().map_err(|e| format!("--secs: {e}"))?;
            }
            "--idle" => {
                options.idle = value()?.parse().map_err(|e| format!("--idle: {e}"))?;
            }
            "--rounds" => {
                options.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?;
            }
            "--runs" => {
                options.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?;
            }
            "--systems" => {
                options.systems = value()?.split(',').map(str::to_owned).collect();
            }
            "--loads" => {
                options.loads.clear();
                options.big_loads.clear();
                options.client_loads.clear();
                options.fanout_loads.clear();
                for name in value()?.split(',') {
                    let big = BIG_LOADS.iter().position(|load| load.name == name);
                    let client = CLIENT_LOADS.iter().position(|load| load.name == name);
                    let fanout = fanout::FANOUT_LOADS
                        .iter()
                        .position(|load| load.name == name);
                    match (name, big, client, fanout) {
                        ("seq", ..) => options.loads.push(0),
                        ("16", ..) => options.loads.push(1),
                        ("256", ..) => options.loads.push(2),
                        ("64x16", ..) => options.loads.push(3),
                        (_, Some(i), ..) => options.big_loads.push(i),
                        (_, _, Some(i), _) => options.client_loads.push(i),
                        (_, _, _, Some(i)) => options.fanout_loads.push(i),
                        (other, ..) => {
                            return Err(format!(
                                "unknown load '{other}' (seq, 16, 256, 64x16, client16, \
                                 client256, big64k, big1m, fanout100, fanout2000)"
                            ));
                        }
                    }
                }
            }
            "--shapes" => {
                options.shapes = value()?
                    .split(',')
                    .map(|name| {
                        Shape::ALL
                            .into_iter()
                            .find(|shape| shape.flag() == name)
                            .ok_or_else(|| format!("unknown shape '{name}' (string, objects, raw)"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--in-flight" => {
                options.in_flight = value()?.parse().map_err(|e| format!("--in-flight: {e}"))?;
            }
            "--publishes" => {
                options.publishes = value()?.parse().map_err(|e| format!("--publishes: {e}"))?;
            }
            "--out" => {
                options.out = Some(value()?.into());
                out_given = true;
            }
            "--no-write" => options.out = None,
            "-h" | "--help" => return Err("help".to_owned()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if quick {
        options.secs = options.secs.min(0.6);
        options.big_secs = options.secs / 2.0;
        options.rounds = options.rounds.min(3);
        options.warmup = 0.2;
        options.idle = options.idle.min(1_000);
        if !out_given {
            options.out = None;
        }
    }
    if !quick {
        options.big_secs = options.secs;
    }
    if !(0.05..=600.0).contains(&options.secs) {
        return Err("--secs must be between 0.05 and 600".to_owned());
    }
    if options.idle > 15_000 {
        return Err("--idle: at most 15,000 (the open-files limit is 20,000)".to_owned());
    }
    options.runs = options.runs.clamp(1, 10);
    options.rounds = options.rounds.clamp(1, 100);
    options.in_flight = options.in_flight.clamp(1, 256);
    options.publishes = options.publishes.max(1);
    for system in &options.systems {
        if !servers::SYSTEMS.contains(&system.as_str())
            && !servers::FANOUT_SYSTEMS.contains(&system.as_str())
        {
            return Err(format!(
                "unknown system '{system}' (one of {:?} or, for the fan-out loads, {:?})",
                servers::SYSTEMS,
                servers::FANOUT_SYSTEMS
            ));
        }
    }
    Ok(options)
}

async fn run(options: Options) -> Result<(), String> {
    let limit = sys::raise_nofile_limit();
    if (limit as usize) < options.idle + 100 {
        return Err(format!(
            "the open-files limit is {limit}, too low for {} idle connections (use --idle)",
            options.idle
        ));
    }
    let of = |list: &[&str]| -> Vec<String> {
        let chosen = options
            .systems
            .iter()
            .filter(|s| list.contains(&s.as_str()));
        chosen.cloned().collect()
    };
    let rpc_systems = of(&servers::SYSTEMS);
    let fanout_systems = of(&servers::FANOUT_SYSTEMS);
    let rpc =
        (!options.loads.is_empty() || !options.big_loads.is_empty()) && !rpc_systems.is_empty();
    // The client loads run against a jrpc-tokio server of their own.
    let client_loads: Vec<drive::ClientLoad> = options
        .client_loads
        .iter()
        .map(|&i| CLIENT_LOADS[i])
        .filter(|_| rpc_systems.iter().any(|s| s == "jrpc-tokio"))
        .collect();
    let client_run = !client_loads.is_empty();
    let fanout_loads: Vec<fanout::FanoutLoad> = options
        .fanout_loads
        .iter()
        .map(|&i| fanout::FANOUT_LOADS[i])
        .collect();
    let fans = !fanout_loads.is_empty() && !fanout_systems.is_empty();
    let plan = fanout::Plan {
        secs: options.secs,
        rounds: options.rounds,
        warmup: options.warmup,
        window: options.in_flight,
        publishes: options.publishes,
    };
    let mut runs = Vec::new();
    for number in 1..=options.runs {
        let started = Instant::now();
        eprintln!("== run {number}");
        let (results, codec) = if rpc {
            measure_all(&options, &rpc_systems).await?
        } else {
            Default::default()
        };
        let clients = if client_run {
            drive::measure(&options, &client_loads).await?
        } else {
            Vec::new()
        };
        let (fanout, skipped) = if fans {
            fanout::measure(&fanout_systems, &fanout_loads, plan).await?
        } else {
            (Vec::new(), Vec::new())
        };
        let run = Run {
            number,
            date: sys::now_utc(),
            seconds: started.elapsed().as_secs_f64(),
            results,
            codec,
            clients,
            fanout,
            skipped,
        };
        if rpc || client_run {
            println!("{}", report::run_markdown(&run));
        }
        if fans {
            println!("{}", report::fanout_run_markdown(&run));
        }
        runs.push(run);
    }
    if let Some(path) = &options.out {
        let rpc_part = (rpc || client_run).then(|| {
            report::document(
                &runs,
                &options.command,
                options.secs,
                options.rounds,
                options.idle,
            )
        });
        let fanout_part = fans.then(|| report::fanout_document(&runs, &options.command, plan));
        // A run of only some loads keeps the other part of the file as it was.
        let existing = std::fs::read_to_string(path).unwrap_or_default();
        let text = report::merge(&existing, rpc_part, fanout_part);
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
}

/// Runs `work` (the subcommand `name`) on a multi-thread tokio runtime of its own; on failure
/// it says why and exits with status 1.
fn run_command(name: &str, work: impl std::future::Future<Output = Result<(), String>>) {
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| runtime.block_on(work));
    if let Err(e) = outcome {
        eprintln!("jrpc-bench {name}: {e}");
        std::process::exit(1);
    }
}

/// A command running `program` as a child of the benchmark (standard input and output piped
/// to it, killed when dropped), under the command in the environment variable `wrapper` if it
/// is set: for profiling, `JRPC_BENCH_SERVER_WRAPPER="valgrind --tool=callgrind"` runs each
/// server under that command, `JRPC_BENCH_CLIENT_WRAPPER` each client process (`drive.rs`).
fn wrapped(wrapper: &str, program: &std::ffi::OsStr) -> Command {
    let wrapper = std::env::var(wrapper).unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(wrapper) => {
            let mut command = Command::new(wrapper);
            command.args(words).arg(program);
            command
        }
        None => Command::new(program),
    };
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
}

/// A server process of the benchmark; killed when dropped.
struct ServerProcess {
    child: Child,
    pid: u32,
    url: String,
}

impl ServerProcess {
    /// `jrpc-bench serve <system> 0`.
    async fn start(system: &str) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        Self::spawn(
            system,
            exe.as_os_str(),
            &["serve".as_ref(), system.as_ref()],
        )
        .await
    }

    /// `program args… 0` (the port), which prints `PORT <n>` once it listens and exits when its
    /// standard input closes.
    async fn spawn(
        system: &str,
        program: &std::ffi::OsStr,
        args: &[&std::ffi::OsStr],
    ) -> Result<Self, String> {
        let mut child = wrapped("JRPC_BENCH_SERVER_WRAPPER", program)
            .args(args)
            .arg("0")
            .spawn()
            .map_err(|e| format!("spawn the {system} server: {e}"))?;
        let pid = child.id().ok_or("the server exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .map_err(|_| format!("the {system} server did not start within 10 s"))?
            .map_err(|e| format!("reading the {system} server: {e}"))?
            .ok_or_else(|| format!("the {system} server exited before listening"))?;
        let port: u16 = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| format!("the {system} server said '{line}'"))?;
        Ok(Self {
            child,
            pid,
            url: format!("ws://127.0.0.1:{port}/"),
        })
    }

    fn cpu(&self) -> Result<f64, String> {
        sys::cpu_seconds(self.pid).ok_or_else(|| "cannot read the server's /proc/PID/stat".into())
    }

    fn rss(&self) -> Result<u64, String> {
        sys::rss_bytes(self.pid).ok_or_else(|| "cannot read the server's /proc/PID/statm".into())
    }

    fn peak_rss(&self) -> Result<u64, String> {
        sys::peak_rss_bytes(self.pid)
            .ok_or_else(|| "cannot read the server's /proc/PID/status".into())
    }

    /// Closes the server's stdin, which makes it exit; kills it if it has not within 10 s.
    async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        }
    }
}

/// A server under load, with its client connections.
struct Subject {
    system: String,
    dialect: Dialect,
    server: ServerProcess,
    connections: Vec<client::Ws>,
    figures: Figures,
}

/// What one load accumulated over its rounds, for one system.
#[derive(Default)]
struct Sum {
    answers: u64,
    cpu: f64,
    /// Each turn's calls per second.
    throughputs: Vec<f64>,
    /// Each turn's round trips (with one call in flight), sorted, in nanoseconds.
    latencies: Vec<Vec<u64>>,
}

/// Every figure of every system. All servers run at once; each load is measured in rounds, the
/// systems taking turns within a round, so that a change of the machine's background load
/// (it is shared) falls on every system alike and the ratios hold.
///
/// With the large messages comes serde_json's own work on each of their payloads, in this
/// process (`Payload::codec_floor`): the second part of the result.
async fn measure_all(
    options: &Options,
    systems: &[String],
) -> Result<(Vec<Figures>, Vec<BigFigures>), String> {
    let mut subjects = Vec::new();
    for system in systems {
        let server = ServerProcess::start(system).await?;
        let mut connections = Vec::new();
        for _ in 0..LOADS.iter().map(|l| l.connections).max().unwrap_or(1) {
            connections.push(client::connect(&server.url, 16 << 10).await?);
        }
        subjects.push(Subject {
            system: system.clone(),
            dialect: Dialect::of(system),
            server,
            connections,
            figures: Figures::new(system),
        });
    }
    // Warm up (and let each server's allocator settle) before measuring.
    let warmup = Duration::from_secs_f64(options.warmup);
    for subject in &mut subjects {
        let call = Call::Add(subject.dialect);
        let answers = warm_up(subject, call, 1, 16, warmup).await?;
        eprintln!("   {:<16} warm-up        {answers} calls", subject.system);
    }

    let chunk = Duration::from_secs_f64(options.secs / options.rounds as f64);
    for load in options.loads.iter().map(|&i| LOADS[i]) {
        let mut all: Vec<&mut Subject> = subjects.iter_mut().collect();
        let calls: Vec<Call> = all.iter().map(|s| Call::Add(s.dialect)).collect();
        let shape = (load.connections, load.window);
        let sums = turns(&mut all, &calls, load.name, shape, options.rounds, chunk).await?;
        for (subject, sum) in all.into_iter().zip(sums) {
            subject
                .figures
                .record(load, &sum.throughputs, sum.answers, sum.cpu, &sum.latencies);
            eprintln!(
                "   {:<16} {:<14} {:>10.0} calls/s   server CPU {:>6.2} µs/call   ({} calls)",
                subject.system,
                load.name,
                median(&sum.throughputs),
                sum.cpu * 1e6 / sum.answers as f64,
                sum.answers
            );
        }
    }
    // The large messages, on the systems that serve them.
    let mut codec = Vec::new();
    for load in options.big_loads.iter().map(|&i| BIG_LOADS[i]) {
        for &shape in &options.shapes {
            let payload = Payload::new(shape, load.bytes)?;
            let call = Call::Big(payload.clone());
            let mut chosen: Vec<&mut Subject> = subjects
                .iter_mut()
                .filter(|s| BIG_SYSTEMS.contains(&s.system.as_str()))
                .collect();
            for subject in &mut chosen {
                warm_up(subject, call.clone(), 1, BIG_WINDOW, warmup).await?;
            }
            let calls = vec![call; chosen.len()];
            let chunk = Duration::from_secs_f64(options.big_secs / options.rounds as f64);
            let name = format!("{} {}", load.label, shape.name());
            let sums = turns(
                &mut chosen,
                &calls,
                &name,
                (1, BIG_WINDOW),
                options.rounds,
                chunk,
            )
            .await?;
            for (subject, sum) in chosen.into_iter().zip(sums) {
                let f = BigFigures::of(
                    load.label,
                    shape.name(),
                    payload.len(),
                    &sum.throughputs,
                    sum.answers,
                    sum.cpu,
                );
                eprintln!(
                    "   {:<16} {:<14} {:>10.1} MB/s      server CPU {:>6.0} µs/MB     ({} calls)",
                    subject.system,
                    name,
                    f.bytes_per_second / 1e6,
                    f.cpu_us_per_mb,
                    sum.answers
                );
                subject.figures.big.push(f);
            }
            // serde_json alone, on a thread of this process (the clients are idle meanwhile),
            // for as long as one system's turns.
            let floor = payload.clone();
            let length = chunk * options.rounds as u32;
            let (calls, cpu) = tokio::task::spawn_blocking(move || floor.codec_floor(length))
                .await
                .map_err(|e| format!("serde_json alone: {e}"))??;
            let f = BigFigures::of(
                load.label,
                shape.name(),
                payload.len(),
                &[calls as f64 / cpu],
                calls,
                cpu,
            );
            eprintln!(
                "   {:<16} {:<14} {:>10.1} MB/s      CPU        {:>6.0} µs/MB     ({calls} calls)",
                CODEC_FLOOR,
                name,
                f.bytes_per_second / 1e6,
                f.cpu_us_per_mb,
            );
            codec.push(f);
        }
    }
    let mut results = Vec::new();
    for subject in subjects {
        // The server goes first, so that the TIME_WAIT sockets are on its side.
        subject.server.stop().await;
        drop(subject.connections);
        results.push(subject.figures);
    }
    for figures in results.iter_mut().filter(|_| options.idle > 0) {
        figures.idle_bytes =
            idle_memory(&figures.system, Dialect::of(&figures.system), options.idle).await?;
        eprintln!(
            "   {:<16} idle           {:>10.1} KB per connection",
            figures.system,
            figures.idle_bytes / 1000.0
        );
    }
    Ok((results, codec))
}

/// Runs `call` on `subject` for `length` without measuring; the answers.
async fn warm_up(
    subject: &mut Subject,
    call: Call,
    count: usize,
    window: usize,
    length: Duration,
) -> Result<u64, String> {
    let connections = std::mem::take(&mut subject.connections);
    let (back, tallies) = phase(connections, count, call, window, length)
        .await
        .map_err(|e| format!("{}, warm-up: {e}", subject.system))?;
    subject.connections = back;
    Ok(tallies.iter().map(|t| t.answers).sum())
}

/// One load on `subjects` (each making `calls[i]`) on `connections` connections with `window`
/// calls in flight on each, in `rounds` rounds of a turn of `chunk` per system; what each
/// system accumulated. Fails on a wrong answer or a system without any answer.
async fn turns(
    subjects: &mut [&mut Subject],
    calls: &[Call],
    name: &str,
    (connections, window): (usize, usize),
    rounds: usize,
    chunk: Duration,
) -> Result<Vec<Sum>, String> {
    let mut sums: Vec<Sum> = subjects.iter().map(|_| Sum::default()).collect();
    for round in 0..rounds {
        // Each round starts with another system.
        for k in 0..subjects.len() {
            let i = (k + round) % subjects.len();
            let subject = &mut subjects[i];
            let sum = &mut sums[i];
            let cpu_before = subject.server.cpu()?;
            let started = Instant::now();
            let taken = std::mem::take(&mut subject.connections);
            let (back, tallies) = phase(taken, connections, calls[i].clone(), window, chunk)
                .await
                .map_err(|e| format!("{}, {name}: {e}", subject.system))?;
            subject.connections = back;
            let wall = started.elapsed().as_secs_f64();
            sum.cpu += subject.server.cpu()? - cpu_before;
            let wrong: u64 = tallies.iter().map(|t| t.wrong).sum();
            if wrong > 0 {
                return Err(format!("{}, {name}: {wrong} wrong answers", subject.system));
            }
            let answers: u64 = tallies.iter().map(|t| t.answers).sum();
            sum.answers += answers;
            sum.throughputs.push(answers as f64 / wall);
            let mut latencies: Vec<u64> = tallies.into_iter().flat_map(|t| t.latencies).collect();
            if !latencies.is_empty() {
                latencies.sort_unstable();
                sum.latencies.push(latencies);
            }
        }
    }
    for (subject, sum) in subjects.iter().zip(&sums) {
        if sum.answers == 0 {
            return Err(format!("{}, {name}: no answers", subject.system));
        }
    }
    Ok(sums)
}

/// Runs one load on the first `count` connections (the rest wait), each with `window` calls in
/// flight, for `length`.
async fn phase(
    mut connections: Vec<client::Ws>,
    count: usize,
    call: Call,
    window: usize,
    length: Duration,
) -> Result<(Vec<client::Ws>, Vec<Tally>), String> {
    let rest = connections.split_off(count.min(connections.len()));
    let deadline = Instant::now() + length;
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|ws| tokio::spawn(client::drive(ws, call.clone(), window, deadline, u64::MAX)))
        .collect();
    let mut back = Vec::new();
    let mut tallies = Vec::new();
    for task in tasks {
        let (ws, tally) = task.await.map_err(|e| format!("client task: {e}"))?;
        if let Some(e) = &tally.failed {
            return Err(format!("client connection failed: {e}"));
        }
        back.push(ws);
        tallies.push(tally);
    }
    back.extend(rest);
    Ok((back, tallies))
}

/// The server's resident memory per idle connection: a fresh server, `count` connections that
/// made one call each, the RSS growth divided by `count`.
async fn idle_memory(system: &str, dialect: Dialect, count: usize) -> Result<f64, String> {
    let server = ServerProcess::start(system).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let url = server.url.clone();
    let mut held = Vec::with_capacity(count);
    let mut opening = futures_util::stream::iter(0..count)
        .map(|_| client::open_and_call(url.clone(), dialect))
        .buffer_unordered(OPEN_AT_ONCE);
    while let Some(opened) = opening.next().await {
        held.push(opened?);
        if Instant::now() > deadline {
            return Err(format!(
                "{system}: opening {count} connections took over 120 s"
            ));
        }
    }
    drop(opening);
    // Let the server settle: the RSS is read until it stops moving (at most 5 s).
    let mut last = server.rss()?;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = server.rss()?;
        if now.abs_diff(last) * 1000 <= last {
            last = now;
            break;
        }
        last = now;
    }
    server.stop().await;
    drop(held);
    Ok(last.saturating_sub(before) as f64 / count as f64)
}
