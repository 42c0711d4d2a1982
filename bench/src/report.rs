//! The figures of a run, their ratios, the goals, and the Markdown they are written as.

use std::fmt::Write as _;

/// One load: how many connections, each with how many calls in flight.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Its name in the tables.
    pub name: &'static str,
    /// Connections used.
    pub connections: usize,
    /// Calls in flight on each.
    pub window: usize,
}

/// What one load measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadFigures {
    /// Answers per second.
    pub throughput: f64,
    /// Server CPU time per call, in microseconds.
    pub cpu_us: f64,
}

/// Every figure of one system.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Its name.
    pub system: String,
    /// Sequential round trip, median, in microseconds.
    pub p50_us: f64,
    /// Sequential round trip, 99th percentile, in microseconds.
    pub p99_us: f64,
    /// Sequential, 16, 256, 64 × 16.
    pub loads: [LoadFigures; 4],
    /// Server memory per idle connection, in bytes.
    pub idle_bytes: f64,
}

impl Figures {
    /// No figures yet.
    pub fn new(system: &str) -> Self {
        Self {
            system: system.to_owned(),
            p50_us: 0.0,
            p99_us: 0.0,
            loads: [LoadFigures::default(); 4],
            idle_bytes: 0.0,
        }
    }

    /// Records a load's figures: the median of the turns' throughputs, the CPU time per call
    /// over all turns, and (for the sequential load, whose turns' round trips, sorted, in ns,
    /// `latencies` holds) the median of the turns' p50 and p99.
    pub fn record(
        &mut self,
        load: Load,
        throughputs: &[f64],
        answers: u64,
        cpu: f64,
        latencies: &[Vec<u64>],
    ) {
        let index = match (load.connections, load.window) {
            (1, 1) => 0,
            (1, 16) => 1,
            (1, _) => 2,
            _ => 3,
        };
        self.loads[index] = LoadFigures {
            throughput: median(throughputs),
            cpu_us: cpu * 1e6 / answers as f64,
        };
        let turns = latencies.iter().filter(|turn| !turn.is_empty());
        let p50s: Vec<f64> = turns.clone().map(|t| percentile(t, 0.50)).collect();
        let p99s: Vec<f64> = turns.map(|t| percentile(t, 0.99)).collect();
        if !p50s.is_empty() {
            self.p50_us = median(&p50s) / 1000.0;
            self.p99_us = median(&p99s) / 1000.0;
        }
    }

    /// The figures in table order, each with whether higher is better.
    fn columns(&self) -> [(f64, bool); 11] {
        [
            (self.p50_us, false),
            (self.p99_us, false),
            (self.loads[0].throughput, true),
            (self.loads[1].throughput, true),
            (self.loads[2].throughput, true),
            (self.loads[3].throughput, true),
            (self.loads[0].cpu_us, false),
            (self.loads[1].cpu_us, false),
            (self.loads[2].cpu_us, false),
            (self.loads[3].cpu_us, false),
            (self.idle_bytes, false),
        ]
    }
}

const HEADERS: [&str; 11] = [
    "seq p50 µs",
    "seq p99 µs",
    "seq calls/s",
    "16 in flight calls/s",
    "256 in flight calls/s",
    "64×16 calls/s",
    "CPU µs/call seq",
    "CPU µs/call 16",
    "CPU µs/call 256",
    "CPU µs/call 64×16",
    "idle KB/conn",
];

/// The median (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

/// One measurement of every system.
#[derive(Debug)]
pub struct Run {
    /// 1, 2, …
    pub number: usize,
    /// When it ended.
    pub date: String,
    /// How long it took.
    pub seconds: f64,
    /// Each system's figures.
    pub results: Vec<Figures>,
}

impl Run {
    fn get(&self, system: &str) -> Option<&Figures> {
        self.results.iter().find(|f| f.system == system)
    }
}

fn header_row(out: &mut String) {
    out.push_str("| system |");
    for h in HEADERS {
        let _ = write!(out, " {h} |");
    }
    out.push_str("\n|---|");
    for _ in HEADERS {
        out.push_str("---:|");
    }
    out.push('\n');
}

fn figure(value: f64, column: usize) -> String {
    match column {
        0 | 1 => format!("{value:.1}"),
        2..=5 => format!("{:.0}", value.round()),
        6..=9 => format!("{value:.2}"),
        _ => format!("{:.1}", value / 1000.0),
    }
}

fn ratio_table(out: &mut String, run: &Run, reference: &str) {
    let Some(base) = run.get(reference) else {
        let _ = writeln!(out, "(no {reference} in this run)\n");
        return;
    };
    header_row(out);
    for f in &run.results {
        let _ = write!(out, "| {} |", f.system);
        for ((value, _), (base, _)) in f.columns().iter().zip(base.columns()) {
            if base > 0.0 {
                let _ = write!(out, " {:.2}× |", value / base);
            } else {
                out.push_str(" – |");
            }
        }
        out.push('\n');
    }
    out.push('\n');
}

/// The tables and goal checks of one run.
pub fn run_markdown(run: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Run {} ({}, {:.0} s)\n",
        run.number, run.date, run.seconds
    );
    out.push_str("Figures:\n\n");
    header_row(&mut out);
    for f in &run.results {
        let _ = write!(out, "| {} |", f.system);
        for (column, (value, _)) in f.columns().iter().enumerate() {
            let _ = write!(out, " {} |", figure(*value, column));
        }
        out.push('\n');
    }
    out.push_str("\nRatio to the echo server (the floor):\n\n");
    ratio_table(&mut out, run, "echo");
    out.push_str("Ratio to jsonrpsee:\n\n");
    ratio_table(&mut out, run, "jsonrpsee");
    if run.get("jrpc-axum").is_some() {
        out.push_str(
            "Ratio to jrpc-tokio's `Server::bind` (jrpc-axum is the same server on a route of an \
             axum `Router`; the goal is ≤ 1.1× on every figure, ≥ 0.9× on throughput):\n\n",
        );
        ratio_table(&mut out, run, "jrpc-tokio");
    }
    goals(&mut out, run);
    out
}

/// A goal on one system's figures relative to a reference: `value / reference` against `bound`.
struct Goal {
    text: &'static str,
    /// The ratio measured.
    ratio: fn(&Figures, &Figures) -> f64,
    /// At most `bound` (or at least, with `at_least`).
    bound: f64,
    at_least: bool,
}

const GOALS: [Goal; 7] = [
    Goal {
        text: "sequential p50 ≤ 1.1× echo",
        ratio: |f, e| f.p50_us / e.p50_us,
        bound: 1.1,
        at_least: false,
    },
    Goal {
        text: "16 in flight ≥ 0.8× echo",
        ratio: |f, e| f.loads[1].throughput / e.loads[1].throughput,
        bound: 0.8,
        at_least: true,
    },
    Goal {
        text: "256 in flight ≥ 0.5× echo",
        ratio: |f, e| f.loads[2].throughput / e.loads[2].throughput,
        bound: 0.5,
        at_least: true,
    },
    Goal {
        text: "64×16 ≥ 0.5× echo",
        ratio: |f, e| f.loads[3].throughput / e.loads[3].throughput,
        bound: 0.5,
        at_least: true,
    },
    Goal {
        text: "server CPU/call at 256 ≤ 5× echo",
        ratio: |f, e| f.loads[2].cpu_us / e.loads[2].cpu_us,
        bound: 5.0,
        at_least: false,
    },
    Goal {
        text: "server CPU/call at 64×16 ≤ 5× echo",
        ratio: |f, e| f.loads[3].cpu_us / e.loads[3].cpu_us,
        bound: 5.0,
        at_least: false,
    },
    Goal {
        text: "idle memory ≤ 10 KB/conn",
        ratio: |f, _| f.idle_bytes / 1000.0,
        bound: 10.0,
        at_least: false,
    },
];

impl Goal {
    fn met(&self, ratio: f64) -> bool {
        if self.at_least {
            ratio >= self.bound
        } else {
            ratio <= self.bound
        }
    }

    fn show(&self, ratio: f64) -> String {
        if self.text.starts_with("idle") {
            format!("{ratio:.1} KB")
        } else {
            format!("{ratio:.2}×")
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn goals(out: &mut String, run: &Run) {
    let jrpc: Vec<&Figures> = ["jrpc-tokio", "jrpc-async-std"]
        .iter()
        .filter_map(|s| run.get(s))
        .collect();
    let Some(echo) = run.get("echo") else {
        return;
    };
    if jrpc.is_empty() {
        return;
    }
    out.push_str("Goals:\n\n| goal |");
    for f in &jrpc {
        let _ = write!(out, " {} |", f.system);
    }
    out.push_str("\n|---|");
    for _ in &jrpc {
        out.push_str("---|");
    }
    out.push('\n');
    for goal in &GOALS {
        let _ = write!(out, "| {} |", goal.text);
        for f in &jrpc {
            let ratio = (goal.ratio)(f, echo);
            let _ = write!(out, " {} {} |", goal.show(ratio), verdict(goal.met(ratio)));
        }
        out.push('\n');
    }
    if let Some(d) = async_std_distance(run) {
        let (worst, column) = d.as_set;
        let _ = writeln!(
            out,
            "| jrpc-async-std within 1.25× of jrpc-tokio on every figure | worst: {} {worst:.2}× {} | |",
            HEADERS[column],
            verdict(worst <= 1.25)
        );
        if let Some((worst, column)) = d.runtime {
            let _ = writeln!(
                out,
                "| (the runtimes' own distance: echo-async-std against echo) | worst: {} {worst:.2}× | |",
                HEADERS[column],
            );
        }
        if let Some((worst, column)) = d.over_floor {
            let _ = writeln!(
                out,
                "| jrpc-async-std within 1.25× of jrpc-tokio, each over its runtime's echo | worst: {} {worst:.2}× {} | |",
                HEADERS[column],
                verdict(worst <= 1.25)
            );
        }
    }
    out.push('\n');
}

/// The whole BENCHMARKS.md.
pub fn document(runs: &[Run], command: &str, secs: f64, rounds: usize, idle: usize) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "jrpc-tokio and jrpc-async-std side by side with jsonrpsee (its WebSocket server) and a \
         raw tokio-tungstenite echo server, the floor that no RPC layer over WebSockets can beat. \
         Written by the benchmark program (`bench/`); ratios are measured within one run, and \
         only ratios are comparable between runs (absolute figures on a shared machine drift by \
         20–30%).\n\n",
    );
    let _ = writeln!(out, "- Machine: {}", crate::sys::machine());
    let _ = writeln!(out, "- Date: {}", runs.last().map_or("", |r| &r.date));
    let _ = writeln!(out, "- Toolchain: {}", crate::sys::rustc());
    let _ = writeln!(out, "- Command: `{command}`");
    let _ = writeln!(
        out,
        "- Each system under each load for {secs} s in {rounds} turns, after a warm-up; idle test \
         with {idle} connections.\n"
    );
    out.push_str(
        "How it measures:\n\n\
         - Each server runs in a process of its own (`jrpc-bench serve <system> <port>`), on \
         127.0.0.1, with tokio's default multi-thread runtime (async-std's own executor for \
         jrpc-async-std); the client (raw tokio-tungstenite) is the benchmark process.\n\
         - All servers run at once, and each load is measured in turns: within a turn every \
         system in its turn gets the same share of time, so that a change in the machine's \
         background load falls on all of them alike.\n\
         - The method is `add` of two numbers (f64) everywhere. jrpc gets \
         `{\"method\":\"add\",\"args\":[1,2],\"kwargs\":{},\"id\":N}`; jsonrpsee the equivalent \
         JSON-RPC 2.0 frame `{\"jsonrpc\":\"2.0\",\"method\":\"add\",\"params\":[1,2],\"id\":N}`; \
         the echo server the jrpc frame, which comes back unchanged. Every answer is checked.\n\
         - `echo-async-std` is the same echo server on async-std (async-tungstenite): the floor \
         of that runtime, which tells how much of jrpc-async-std's distance to the echo is \
         async-std's own. Ratios and goals are taken against `echo` (tokio-tungstenite); the \
         async-std goal is also shown against each runtime's own echo (jrpc-async-std over \
         echo-async-std, against jrpc-tokio over echo), since no library on async-std can \
         spend less than async-std's echo does.\n\
         - The client loop is the same for all: it keeps N calls in flight per connection, feeds \
         every frame it may send and flushes once per batch. The echo server batches the same \
         way (feeds every ready frame, one flush per batch).\n\
         - Sequential: one call in flight, p50/p99 of the round trip. Pipelined: 16 and 256 in \
         flight on one connection, and 64 connections × 16. Calls per second, p50 and p99 are \
         each the median of the turns' figures (a burst of the machine's background load spoils \
         a turn, not the figure).\n\
         - Server CPU per call: user + system time of the server process \
         (`/proc/PID/stat`) over the load, divided by the calls answered.\n\
         - Idle memory: a fresh server process, then N connections that each make one call and \
         stay open; the growth of the server's RSS divided by N (KB = 1000 bytes).\n\n",
    );
    summary(&mut out, runs);
    for run in runs {
        out.push_str(&run_markdown(run));
    }
    out
}

/// The goals over all runs: each run's ratio, and in how many runs the goal was met.
fn summary(out: &mut String, runs: &[Run]) {
    let systems = ["jrpc-tokio", "jrpc-async-std"];
    let _ = writeln!(
        out,
        "## Goals over {} run{}\n",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    out.push_str("| goal | system | each run | met |\n|---|---|---|---|\n");
    for goal in &GOALS {
        for system in systems {
            let mut shown = Vec::new();
            let mut met = 0;
            for run in runs {
                let (Some(f), Some(echo)) = (run.get(system), run.get("echo")) else {
                    continue;
                };
                let ratio = (goal.ratio)(f, echo);
                met += usize::from(goal.met(ratio));
                shown.push(goal.show(ratio));
            }
            if !shown.is_empty() {
                let _ = writeln!(
                    out,
                    "| {} | {system} | {} | {met} of {} |",
                    goal.text,
                    shown.join(", "),
                    shown.len()
                );
            }
        }
    }
    let distances: Vec<AsyncStdDistance> = runs.iter().filter_map(async_std_distance).collect();
    let rows: [(&str, Pick); 3] = [
        (
            "jrpc-async-std within 1.25× of jrpc-tokio on every figure (worst figure)",
            |d| Some(d.as_set),
        ),
        (
            "(the runtimes' own distance: echo-async-std against echo, worst figure)",
            |d| d.runtime,
        ),
        (
            "jrpc-async-std within 1.25× of jrpc-tokio, each over its runtime's echo (worst figure)",
            |d| d.over_floor,
        ),
    ];
    for (text, pick) in rows {
        let picked: Vec<(f64, usize)> = distances.iter().filter_map(pick).collect();
        if picked.is_empty() {
            continue;
        }
        let shown: Vec<String> = picked
            .iter()
            .map(|(worst, column)| format!("{worst:.2}× ({})", HEADERS[*column]))
            .collect();
        let met = if text.starts_with('(') {
            "–".to_owned()
        } else {
            let met = picked.iter().filter(|(worst, _)| *worst <= 1.25).count();
            format!("{met} of {}", picked.len())
        };
        let _ = writeln!(
            out,
            "| {text} | jrpc-async-std | {} | {met} |",
            shown.join(", ")
        );
    }
    out.push('\n');
}

/// How far `system` is from `reference` on every figure, in the worse direction of each (its
/// time, CPU and memory over the reference's, the reference's throughput over its).
fn distances(system: &Figures, reference: &Figures) -> Vec<f64> {
    system
        .columns()
        .iter()
        .zip(reference.columns())
        .map(|((a, higher_better), (t, _))| if *higher_better { t / a } else { a / t })
        .collect()
}

/// The largest finite distance and its column.
fn worst(distances: impl IntoIterator<Item = f64>) -> Option<(f64, usize)> {
    distances
        .into_iter()
        .enumerate()
        .filter(|(_, r)| r.is_finite())
        .map(|(column, r)| (r, column))
        .reduce(|worst, next| if next.0 > worst.0 { next } else { worst })
}

/// The async-std goal three ways: jrpc-async-std against jrpc-tokio (the goal as set), the
/// async-std echo against the tokio echo (the runtime's own distance, which no library on it
/// can close), and jrpc-async-std against jrpc-tokio once each is divided by its runtime's
/// echo (what the library adds on each runtime). Each is the worst figure and its column.
struct AsyncStdDistance {
    as_set: (f64, usize),
    runtime: Option<(f64, usize)>,
    over_floor: Option<(f64, usize)>,
}

/// One of the three distances of an [`AsyncStdDistance`].
type Pick = fn(&AsyncStdDistance) -> Option<(f64, usize)>;

fn async_std_distance(run: &Run) -> Option<AsyncStdDistance> {
    let tokio = run.get("jrpc-tokio")?;
    let async_std = run.get("jrpc-async-std")?;
    let as_set = distances(async_std, tokio);
    let floors = run
        .get("echo-async-std")
        .zip(run.get("echo"))
        .map(|(echo_async_std, echo)| distances(echo_async_std, echo));
    Some(AsyncStdDistance {
        as_set: worst(as_set.iter().copied())?,
        runtime: floors.as_ref().and_then(|f| worst(f.iter().copied())),
        over_floor: floors.and_then(|f| worst(as_set.iter().zip(f).map(|(a, f)| a / f))),
    })
}
