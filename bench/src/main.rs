//! `cargo run --release -p jrpc-bench`: jrpc-tokio and jrpc-async-std side by side with
//! jsonrpsee and a raw tokio-tungstenite echo server (the floor), on 127.0.0.1.
//!
//! Each server runs in a process of its own (this binary, `jrpc-bench serve <system> <port>`);
//! this process is the client. For each system it measures sequential round trips (p50, p99),
//! pipelined throughput at 16 and 256 calls in flight on one connection and 64 connections × 16,
//! the server's CPU time per call under each load (`/proc/PID/stat`), and the server's memory per
//! idle connection at 10,000 connections (RSS growth divided). It prints a Markdown table with
//! each system's ratios to jsonrpsee and to the echo, and writes it to `BENCHMARKS.md`.
//!
//! Flags: `--quick` (a smoke run: short phases, 1,000 idle connections, nothing written unless
//! `--out` is given), `--secs S` (time each system spends under each load, default 4), `--rounds
//! N` (the turns that time is split into, default 8), `--idle N` (connections of the idle test,
//! default 10,000; 0 skips it), `--runs N` (repeat the whole measurement), `--systems a,b` and
//! `--loads seq,16,256,64x16` (subsets, e.g. for profiling one server), `--out FILE` (default
//! `BENCHMARKS.md` at the workspace root), `--no-write`. `JRPC_BENCH_SERVER_WRAPPER` runs each
//! server under a command (`valgrind --tool=callgrind`, `perf stat --`, …).

mod client;
mod report;
mod servers;
mod sys;

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::client::{Dialect, Tally};
use crate::report::{Figures, Load, Run, median};

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
    warmup: f64,
    idle: usize,
    rounds: usize,
    runs: usize,
    systems: Vec<String>,
    /// Indices into [`LOADS`].
    loads: Vec<usize>,
    out: Option<std::path::PathBuf>,
    command: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let system = args.get(1).map_or("", String::as_str);
        let port = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(0);
        if let Err(e) = servers::serve(system, port) {
            eprintln!("jrpc-bench serve: {e}");
            std::process::exit(1);
        }
        return;
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
[--systems jrpc-tokio,jrpc-axum,jrpc-async-std,jsonrpsee,echo] [--loads seq,16,256,64x16]
       [--out FILE | --no-write]
       jrpc-bench serve <system> <port>";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        secs: 4.0,
        warmup: 0.5,
        idle: 10_000,
        rounds: 8,
        runs: 1,
        systems: servers::SYSTEMS.iter().map(|s| (*s).to_owned()).collect(),
        loads: (0..LOADS.len()).collect(),
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
                options.loads = value()?
                    .split(',')
                    .map(|name| match name {
                        "seq" => Ok(0),
                        "16" => Ok(1),
                        "256" => Ok(2),
                        "64x16" => Ok(3),
                        other => Err(format!("unknown load '{other}' (seq, 16, 256, 64x16)")),
                    })
                    .collect::<Result<_, _>>()?;
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
        options.rounds = options.rounds.min(3);
        options.warmup = 0.2;
        options.idle = options.idle.min(1_000);
        if !out_given {
            options.out = None;
        }
    }
    if !(0.05..=600.0).contains(&options.secs) {
        return Err("--secs must be between 0.05 and 600".to_owned());
    }
    if options.idle > 15_000 {
        return Err("--idle: at most 15,000 (the open-files limit is 20,000)".to_owned());
    }
    options.runs = options.runs.clamp(1, 10);
    options.rounds = options.rounds.clamp(1, 100);
    for system in &options.systems {
        if !servers::SYSTEMS.contains(&system.as_str()) {
            return Err(format!(
                "unknown system '{system}' (one of {:?})",
                servers::SYSTEMS
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
    let mut runs = Vec::new();
    for number in 1..=options.runs {
        let started = Instant::now();
        eprintln!("== run {number}");
        let results = measure_all(&options).await?;
        let run = Run {
            number,
            date: sys::now_utc(),
            seconds: started.elapsed().as_secs_f64(),
            results,
        };
        println!("{}", report::run_markdown(&run));
        runs.push(run);
    }
    if let Some(path) = &options.out {
        let text = report::document(
            &runs,
            &options.command,
            options.secs,
            options.rounds,
            options.idle,
        );
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
}

/// A server process of the benchmark; killed when dropped.
struct ServerProcess {
    child: Child,
    pid: u32,
    url: String,
}

impl ServerProcess {
    async fn start(system: &str) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        // For profiling a server: JRPC_BENCH_SERVER_WRAPPER="valgrind --tool=callgrind" runs
        // each server under that command.
        let wrapper = std::env::var("JRPC_BENCH_SERVER_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(["serve", system, "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
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
async fn measure_all(options: &Options) -> Result<Vec<Figures>, String> {
    let mut subjects = Vec::new();
    for system in &options.systems {
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
        let connections = std::mem::take(&mut subject.connections);
        let (back, tallies) = phase(connections, 1, subject.dialect, 16, warmup).await?;
        subject.connections = back;
        let answers: u64 = tallies.iter().map(|t| t.answers).sum();
        eprintln!("   {:<15} warm-up        {answers} calls", subject.system);
    }

    let chunk = Duration::from_secs_f64(options.secs / options.rounds as f64);
    for load in options.loads.iter().map(|&i| LOADS[i]) {
        let mut sums: Vec<Sum> = subjects.iter().map(|_| Sum::default()).collect();
        for round in 0..options.rounds {
            // Each round starts with another system.
            for k in 0..subjects.len() {
                let i = (k + round) % subjects.len();
                let subject = &mut subjects[i];
                let sum = &mut sums[i];
                let cpu_before = subject.server.cpu()?;
                let started = Instant::now();
                let connections = std::mem::take(&mut subject.connections);
                let (back, tallies) = phase(
                    connections,
                    load.connections,
                    subject.dialect,
                    load.window,
                    chunk,
                )
                .await
                .map_err(|e| format!("{}, {}: {e}", subject.system, load.name))?;
                subject.connections = back;
                let wall = started.elapsed().as_secs_f64();
                sum.cpu += subject.server.cpu()? - cpu_before;
                let wrong: u64 = tallies.iter().map(|t| t.wrong).sum();
                if wrong > 0 {
                    return Err(format!(
                        "{}, {}: {wrong} wrong answers",
                        subject.system, load.name
                    ));
                }
                let answers: u64 = tallies.iter().map(|t| t.answers).sum();
                sum.answers += answers;
                sum.throughputs.push(answers as f64 / wall);
                let mut latencies: Vec<u64> =
                    tallies.into_iter().flat_map(|t| t.latencies).collect();
                if !latencies.is_empty() {
                    latencies.sort_unstable();
                    sum.latencies.push(latencies);
                }
            }
        }
        for (subject, sum) in subjects.iter_mut().zip(sums) {
            if sum.answers == 0 {
                return Err(format!("{}, {}: no answers", subject.system, load.name));
            }
            subject
                .figures
                .record(load, &sum.throughputs, sum.answers, sum.cpu, &sum.latencies);
            eprintln!(
                "   {:<15} {:<14} {:>10.0} calls/s   server CPU {:>6.2} µs/call   ({} calls)",
                subject.system,
                load.name,
                median(&sum.throughputs),
                sum.cpu * 1e6 / sum.answers as f64,
                sum.answers
            );
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
            "   {:<15} idle           {:>10.1} KB per connection",
            figures.system,
            figures.idle_bytes / 1000.0
        );
    }
    Ok(results)
}

/// Runs one load on the first `count` connections (the rest wait), each with `window` calls in
/// flight, for `length`.
async fn phase(
    mut connections: Vec<client::Ws>,
    count: usize,
    dialect: Dialect,
    window: usize,
    length: Duration,
) -> Result<(Vec<client::Ws>, Vec<Tally>), String> {
    let rest = connections.split_off(count.min(connections.len()));
    let deadline = Instant::now() + length;
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|ws| tokio::spawn(client::drive(ws, dialect, window, deadline)))
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
