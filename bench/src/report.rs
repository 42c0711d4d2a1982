//! The figures of a run, their ratios, the goals, and the Markdown they are written as.

use std::fmt::Write as _;

use crate::fanout::Turn;

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
    /// The large-message loads (systems that serve them).
    pub big: Vec<BigFigures>,
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
            big: Vec::new(),
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

    /// The figures in table order.
    fn columns(&self) -> [f64; 11] {
        [
            self.p50_us,
            self.p99_us,
            self.loads[0].throughput,
            self.loads[1].throughput,
            self.loads[2].throughput,
            self.loads[3].throughput,
            self.loads[0].cpu_us,
            self.loads[1].cpu_us,
            self.loads[2].cpu_us,
            self.loads[3].cpu_us,
            self.idle_bytes,
        ]
    }

    /// Whether any of the small-call loads or the idle test measured it.
    fn has_small(&self) -> bool {
        self.columns().iter().any(|value| *value > 0.0)
    }

    /// Its figures of one large-message load and shape.
    fn big(&self, load: &str, shape: &str) -> Option<&BigFigures> {
        self.big.iter().find(|b| b.load == load && b.shape == shape)
    }
}

/// What one system measured under one large-message load and shape.
#[derive(Debug, Clone)]
pub struct BigFigures {
    /// The load's label (`64 KiB`, `1 MiB`).
    pub load: &'static str,
    /// The payload's shape (`string`, `objects`).
    pub shape: &'static str,
    /// The payload's size in bytes.
    pub payload: usize,
    /// Calls per second, the median of the turns'.
    pub calls_per_second: f64,
    /// Payload bytes per second, both ways (the argument and the result of each call).
    pub bytes_per_second: f64,
    /// Server CPU time per MB (10^6 bytes) of payload moved (both ways), in microseconds.
    pub cpu_us_per_mb: f64,
}

impl BigFigures {
    /// The figures of a load's turns: their throughputs (calls/s), the answers and the server's
    /// CPU time over all of them.
    pub fn of(
        load: &'static str,
        shape: &'static str,
        payload: usize,
        throughputs: &[f64],
        answers: u64,
        cpu: f64,
    ) -> Self {
        let calls_per_second = median(throughputs);
        let moved = 2.0 * payload as f64;
        Self {
            load,
            shape,
            payload,
            calls_per_second,
            bytes_per_second: calls_per_second * moved,
            cpu_us_per_mb: cpu * 1e6 / (answers as f64 * moved / 1e6),
        }
    }
}

/// What one client kind measured at one number of calls in flight (`drive.rs`).
#[derive(Debug, Clone)]
pub struct ClientFigures {
    /// `raw` or `jrpc-tokio`.
    pub kind: String,
    /// Calls in flight.
    pub window: usize,
    /// Calls per second, the median of the turns'.
    pub throughput: f64,
    /// The client process's CPU time per call, in microseconds.
    pub client_cpu_us: f64,
    /// The server's CPU time per call meanwhile, in microseconds.
    pub server_cpu_us: f64,
    /// The client's CPU time over wall time.
    pub client_cores: f64,
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

/// What one system measured under one fan-out load.
#[derive(Debug, Clone)]
pub struct FanoutFigures {
    /// Its name.
    pub system: String,
    /// Subscriber connections.
    pub subscribers: usize,
    /// Deliveries per second, the median of the turns'.
    pub deliveries: f64,
    /// Delivery latency, median of the turns' medians, in microseconds.
    pub p50_us: f64,
    /// Delivery latency, median of the turns' 99th percentiles, in microseconds.
    pub p99_us: f64,
    /// Server CPU time per delivery, in microseconds.
    pub server_cpu_us: f64,
    /// The client's (this process's) CPU time per delivery, in microseconds.
    pub client_cpu_us: f64,
    /// Server CPU time over wall time while publishing (1.0: one core busy).
    pub server_cores: f64,
    /// The client's CPU time over wall time.
    pub client_cores: f64,
    /// Peak resident memory of the server process, in bytes.
    pub peak_rss: u64,
    /// Publishes sent.
    pub publishes: u64,
    /// Deliveries expected (publishes × subscribers) and not received by the end of their turn.
    pub lost: u64,
    /// Deliveries that came after one published later.
    pub reordered: u64,
}

impl FanoutFigures {
    /// The figures of a system's turns under a load.
    pub fn of(system: &str, subscribers: usize, turns: &[Turn], peak_rss: u64) -> Self {
        let sum = |f: fn(&Turn) -> f64| turns.iter().map(f).sum::<f64>();
        let received = sum(|t| t.received as f64).max(1.0);
        let wall = sum(|t| t.wall).max(f64::MIN_POSITIVE);
        let throughputs: Vec<f64> = turns
            .iter()
            .map(|t| t.received as f64 / t.wall.max(f64::MIN_POSITIVE))
            .collect();
        let timed = turns.iter().filter(|t| !t.latencies.is_empty());
        let p50s: Vec<f64> = timed
            .clone()
            .map(|t| percentile(&t.latencies, 0.50))
            .collect();
        let p99s: Vec<f64> = timed.map(|t| percentile(&t.latencies, 0.99)).collect();
        Self {
            system: system.to_owned(),
            subscribers,
            deliveries: median(&throughputs),
            p50_us: median(&p50s) / 1000.0,
            p99_us: median(&p99s) / 1000.0,
            server_cpu_us: sum(|t| t.server_cpu) * 1e6 / received,
            client_cpu_us: sum(|t| t.client_cpu) * 1e6 / received,
            server_cores: sum(|t| t.server_cpu) / wall,
            client_cores: sum(|t| t.client_cpu) / wall,
            peak_rss,
            publishes: turns.iter().map(|t| t.publishes).sum(),
            lost: turns
                .iter()
                .map(|t| (t.publishes * subscribers as u64).saturating_sub(t.received))
                .sum(),
            reordered: turns.iter().map(|t| t.reordered).sum(),
        }
    }
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
    /// serde_json's own work on each large-message payload, in process, on one thread (its
    /// calls/s are calls per second of that thread's CPU).
    pub codec: Vec<BigFigures>,
    /// Each client kind's figures under each client load.
    pub clients: Vec<ClientFigures>,
    /// Each fan-out system's figures under each fan-out load.
    pub fanout: Vec<FanoutFigures>,
    /// Fan-out systems that could not run, and why.
    pub skipped: Vec<String>,
}

impl Run {
    fn get(&self, system: &str) -> Option<&Figures> {
        self.results.iter().find(|f| f.system == system)
    }

    /// serde_json's own figures on the payload of a large-message load.
    fn codec(&self, load: &str, shape: &str) -> Option<&BigFigures> {
        self.codec
            .iter()
            .find(|b| b.load == load && b.shape == shape)
    }

    fn client(&self, kind: &str, window: usize) -> Option<&ClientFigures> {
        self.clients
            .iter()
            .find(|c| c.kind == kind && c.window == window)
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
        for (value, base) in f.columns().iter().zip(base.columns()) {
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
    if run.results.iter().any(Figures::has_small) {
        out.push_str("Figures:\n\n");
        header_row(&mut out);
        for f in &run.results {
            let _ = write!(out, "| {} |", f.system);
            for (column, value) in f.columns().iter().enumerate() {
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
                "Ratio to jrpc-tokio's `Server::bind` (jrpc-axum is the same server on a route of \
                 an axum `Router`; the goal is ≤ 1.1× on every figure, ≥ 0.9× on throughput):\n\n",
            );
            ratio_table(&mut out, run, "jrpc-tokio");
        }
    }
    client_table(&mut out, run);
    big_table(&mut out, run);
    goals(&mut out, run);
    out
}

/// The client loads' table: each client kind's CPU per call beside the server's.
fn client_table(out: &mut String, run: &Run) {
    if run.clients.is_empty() {
        return;
    }
    out.push_str(
        "Client CPU per call (each client a process of its own, one connection to a jrpc-tokio \
         server; `raw` is the benchmark's raw loop, the floor; `jrpc-tokio-1w` is jrpc-tokio's \
         client on a runtime of one worker):\n\n\
         | client | in flight | calls/s | client CPU µs/call | × raw | client cores | server CPU \
         µs/call |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in &run.clients {
        let raw = run.client(CLIENT_FLOOR, c.window);
        let ratio = raw.map_or_else(
            || "–".to_owned(),
            |raw| format!("{:.2}×", c.client_cpu_us / raw.client_cpu_us),
        );
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2} | {ratio} | {:.2} | {:.2} |",
            c.kind, c.window, c.throughput, c.client_cpu_us, c.client_cores, c.server_cpu_us
        );
    }
    out.push('\n');
}

/// The name of serde_json's own work on a large-message payload in the tables.
pub const CODEC_FLOOR: &str = "serde_json alone";

/// The large-message loads' table, with ratios to the echo and, for CPU, to serde_json's own
/// work on the same payload ([`CODEC_FLOOR`]'s rows, last).
fn big_table(out: &mut String, run: &Run) {
    if run.results.iter().all(|f| f.big.is_empty()) {
        return;
    }
    out.push_str(
        "Large messages (one connection, a few calls in flight; MB/s: payload bytes both ways, \
         the argument and the result, MB = 10^6 bytes; `serde_json alone`: the payload decoded \
         into the method's type and encoded back on one thread of the benchmark, no socket, its \
         MB/s per second of that thread's CPU):\n\n\
         | system | payload | shape | bytes | calls/s | MB/s | × echo | server CPU µs/MB | × echo \
         | × serde_json alone |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let echo = run.get("echo");
    let rows = run
        .results
        .iter()
        .flat_map(|f| f.big.iter().map(|b| (f.system.as_str(), b)));
    let codec_rows = run.codec.iter().map(|b| (CODEC_FLOOR, b));
    for (system, b) in rows.chain(codec_rows) {
        let ratio = |floor: Option<&BigFigures>, of: fn(&BigFigures) -> f64| {
            floor.map_or_else(|| "–".to_owned(), |e| format!("{:.2}×", of(b) / of(e)))
        };
        let echo = echo.and_then(|e| e.big(b.load, b.shape));
        let codec = run.codec(b.load, b.shape);
        let _ = writeln!(
            out,
            "| {system} | {} | {} | {} | {:.0} | {:.1} | {} | {:.0} | {} | {} |",
            b.load,
            b.shape,
            b.payload,
            b.calls_per_second,
            b.bytes_per_second / 1e6,
            ratio(echo, |b| b.bytes_per_second),
            b.cpu_us_per_mb,
            ratio(echo, |b| b.cpu_us_per_mb),
            ratio(codec, |b| b.cpu_us_per_mb),
        );
    }
    out.push('\n');
}

/// The client kind the client goal is taken against.
const CLIENT_FLOOR: &str = "raw";

/// A goal of issue 15 (and the older ones it keeps): a figure of a jrpc system over the same
/// figure of its runtime's echo, against `bound`.
struct Goal {
    text: &'static str,
    /// The ratio measured, from the run, the system's figures and its floor's; `None` when the
    /// run did not measure it.
    ratio: fn(&Run, &Figures, &Figures) -> Option<f64>,
    /// At most `bound` (or at least, with `at_least`).
    bound: f64,
    at_least: bool,
    /// A value in KB, not a ratio: the same bound on every runtime.
    absolute: bool,
    /// What the system is measured against, when it is not its floor (the raw client).
    against: Option<&'static str>,
}

/// `value / floor` when both were measured.
fn over(value: f64, floor: f64) -> Option<f64> {
    (value > 0.0 && floor > 0.0).then(|| value / floor)
}

/// The bytes/s of a large-message load, over the floor's.
fn big_ratio(f: &Figures, floor: &Figures, load: &str, shape: &str) -> Option<f64> {
    over(
        f.big(load, shape)?.bytes_per_second,
        floor.big(load, shape)?.bytes_per_second,
    )
}

const GOALS: [Goal; 12] = [
    Goal {
        text: "sequential p50 ≤ 1.05× echo",
        ratio: |_, f, e| over(f.p50_us, e.p50_us),
        bound: 1.05,
        at_least: false,
        absolute: false,
        against: None,
    },
    Goal {
        text: "calls/s at 256 in flight ≥ 0.9× echo",
        ratio: |_, f, e| over(f.loads[2].throughput, e.loads[2].throughput),
        bound: 0.9,
        at_least: true,
        absolute: false,
        against: None,
    },
    Goal {
        text: "calls/s at 64×16 ≥ 0.9× echo",
        ratio: |_, f, e| over(f.loads[3].throughput, e.loads[3].throughput),
        bound: 0.9,
        at_least: true,
        absolute: false,
        against: None,
    },
    Goal {
        text: "calls/s at 16 in flight ≥ 0.8× echo",
        ratio: |_, f, e| over(f.loads[1].throughput, e.loads[1].throughput),
        bound: 0.8,
        at_least: true,
        absolute: false,
        against: None,
    },
    Goal {
        text: "server CPU/call at 256 in flight ≤ 2.0× echo",
        ratio: |_, f, e| over(f.loads[2].cpu_us, e.loads[2].cpu_us),
        bound: 2.0,
        at_least: false,
        absolute: false,
        against: None,
    },
    Goal {
        text: "server CPU/call at 64×16 ≤ 1.5× echo",
        ratio: |_, f, e| over(f.loads[3].cpu_us, e.loads[3].cpu_us),
        bound: 1.5,
        at_least: false,
        absolute: false,
        against: None,
    },
    Goal {
        text: "client CPU/call at 256 in flight ≤ 2.5× the raw client",
        ratio: |run, f, _| {
            let client = run.client(&f.system, 256)?;
            over(
                client.client_cpu_us,
                run.client(CLIENT_FLOOR, 256)?.client_cpu_us,
            )
        },
        bound: 2.5,
        at_least: false,
        absolute: false,
        against: Some("raw client"),
    },
    Goal {
        text: "64 KiB string: bytes/s ≥ 0.8× echo",
        ratio: |_, f, e| big_ratio(f, e, "64 KiB", "string"),
        bound: 0.8,
        at_least: true,
        absolute: false,
        against: None,
    },
    Goal {
        text: "64 KiB objects: bytes/s ≥ 0.8× echo",
        ratio: |_, f, e| big_ratio(f, e, "64 KiB", "objects"),
        bound: 0.8,
        at_least: true,
        absolute: false,
        against: None,
    },
    Goal {
        text: "1 MiB string: bytes/s ≥ 0.8× echo",
        ratio: |_, f, e| big_ratio(f, e, "1 MiB", "string"),
        bound: 0.8,
        at_least: true,
        absolute: false,
        against: None,
    },
    Goal {
        text: "1 MiB objects: bytes/s ≥ 0.8× echo",
        ratio: |_, f, e| big_ratio(f, e, "1 MiB", "objects"),
        bound: 0.8,
        at_least: true,
        absolute: false,
        against: None,
    },
    Goal {
        text: "idle memory ≤ 10 KB/conn",
        ratio: |_, f, _| (f.idle_bytes > 0.0).then_some(f.idle_bytes / 1000.0),
        bound: 10.0,
        at_least: false,
        absolute: true,
        against: None,
    },
];

/// The systems held to the goals: each against its own runtime's echo, with its bounds
/// loosened by a factor (jrpc-async-std: within 1.2× of what jrpc-tokio must meet).
const JUDGED: [(&str, &str, f64); 2] = [
    ("jrpc-tokio", "echo", 1.0),
    ("jrpc-async-std", "echo-async-std", 1.2),
];

/// A goal checked on one system: its ratio and whether it is met (`None`: not measured).
type Checked = Option<(f64, bool)>;

/// Whether `value` meets `bound`: at least it with `at_least`, else at most.
fn within(value: f64, bound: f64, at_least: bool) -> bool {
    if at_least {
        value >= bound
    } else {
        value <= bound
    }
}

impl Goal {
    /// The bound for a system whose bounds are loosened by `slack`.
    fn bound(&self, slack: f64) -> f64 {
        match (self.absolute, self.at_least) {
            (true, _) => self.bound,
            (false, true) => self.bound / slack,
            (false, false) => self.bound * slack,
        }
    }

    /// The ratio of `system` (one of [`JUDGED`]) in `run`, and whether it meets the goal.
    fn check(&self, run: &Run, (system, floor, slack): (&str, &str, f64)) -> Checked {
        // A run of the client loads alone has no server figures: none (all zero) stands in.
        let none = (Figures::new(system), Figures::new(floor));
        let f = run.get(system).unwrap_or(&none.0);
        let ratio = (self.ratio)(run, f, run.get(floor).unwrap_or(&none.1))?;
        Some((ratio, within(ratio, self.bound(slack), self.at_least)))
    }

    fn show(&self, ratio: f64) -> String {
        if self.absolute {
            format!("{ratio:.1} KB")
        } else {
            format!("{ratio:.2}×")
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// The column heading of a judged system in the goal tables.
fn judged_heading((system, floor, slack): (&str, &str, f64)) -> String {
    if slack == 1.0 {
        format!("{system} ÷ {floor}")
    } else {
        format!("{system} ÷ {floor} (bounds × {slack} or ÷ {slack})")
    }
}

fn goals(out: &mut String, run: &Run) {
    let judged: Vec<_> = JUDGED
        .into_iter()
        .filter(|(system, _, _)| {
            run.get(system).is_some() || run.clients.iter().any(|c| c.kind == *system)
        })
        .collect();
    // Each goal measured in this run, with each judged system's ratio and verdict.
    let rows: Vec<(&Goal, Vec<Checked>)> = GOALS
        .iter()
        .map(|goal| (goal, judged.iter().map(|j| goal.check(run, *j)).collect()))
        .filter(|(_, cells): &(_, Vec<_>)| cells.iter().any(Option::is_some))
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str("Goals:\n\n| goal |");
    for j in &judged {
        let _ = write!(out, " {} |", judged_heading(*j));
    }
    out.push_str("\n|---|");
    for _ in &judged {
        out.push_str("---|");
    }
    out.push('\n');
    for (goal, cells) in rows {
        let _ = write!(out, "| {} |", goal.text);
        for cell in cells {
            match cell {
                Some((ratio, met)) => {
                    let _ = write!(out, " {} {} |", goal.show(ratio), verdict(met));
                }
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
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
        "- Each system (or client kind) under each load (and large-message shape) for {secs} s in \
         {rounds} turns, after a warm-up; idle test with {idle} connections.\n"
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
         async-std's own. The ratio tables are taken against `echo` (tokio-tungstenite). \
         Both echoes read their sockets through the same read-ahead as the jrpc servers \
         (`ReadAheadStream`) and with the same buffers. `echo-fws`, run only when \
         `--systems` names it, is the echo on fastwebsockets: how much a lighter WebSocket \
         layer would take off; `echo-direct` and `jrpc-direct`, named only as well, run the \
         echo and jrpc-tokio's connections on tungstenite driven directly, without \
         tokio-tungstenite (`bench/src/direct.rs`): what that layer costs each.\n\
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
         stay open; the growth of the server's RSS divided by N (KB = 1000 bytes).\n\
         - Client CPU per call (`client16`, `client256`): each client runs in a process of its \
         own (`jrpc-bench drive <kind> <url>`) on one connection to a jrpc-tokio server of its \
         own, the two kinds taking turns: `raw` is the raw loop above (the floor), `jrpc-tokio` \
         is jrpc-tokio's client as a service would use it: `Client::connect` with default \
         settings, then N tasks on tokio's multi-thread runtime, each awaiting \
         `peer.request::<f64>(\"add\", (1, 2))` in a loop on a clone of the one `Peer` (N calls in \
         flight); `jrpc-tokio-1w` is the same client on a runtime of one worker (the same \
         instructions, without the hand-offs between two workers: the goal is taken on \
         `jrpc-tokio`). The client's CPU time is its own user + system time (`getrusage`) over its \
         turns, divided by the calls answered; the server's is measured meanwhile, as above.\n\
         - Large messages (`big64k`, `big1m`): methods that take and return one payload of 64 KiB \
         or 1 MiB of JSON as their one argument (`\"args\":[payload]`), typed as a Rust service \
         would write them: `echo_text`, `|text: String| text` (one string: words, spaces, `\\n` \
         escapes, some UTF-8) and `echo_items`, `|(items,): (Vec<Item>,)| items` (an array of \
         `{\"id\":…,\"name\":…,\"tags\":[…]}` objects); the same objects also go to \
         `echo_raw`, `|(items,): (Box<RawValue>,)| items` (\"objects, raw\": passed through, \
         checked but not made into types). The echo \
         servers get the same request frames and return them whole. 4 calls in flight on one \
         connection; every answer is checked by finding the payload in it and comparing all its \
         bytes. MB/s counts payload bytes both ways (the argument and the result of each call: \
         2 × payload × calls/s, MB = 10^6 bytes); server CPU per MB is the server's CPU time over \
         those bytes. jsonrpsee does not take part. `serde_json alone` is the floor of a typed \
         method, whatever carries it: the same payload decoded into the method's parameter type \
         and encoded back by serde_json, over and over on one thread of the benchmark with no \
         socket (its calls/s and MB/s are per second of that thread's CPU); each server's CPU per \
         MB is also given over it.\n\
         - Goals: jrpc-tokio's figures over `echo`'s, and jrpc-async-std's over its own runtime's \
         echo, `echo-async-std`'s, with each bound loosened by 1.2 (a bound ≤ b becomes ≤ 1.2 b, \
         a bound ≥ b becomes ≥ b / 1.2): \"jrpc-async-std within 1.2× of async-std's own echo \
         on each figure\" read as within 1.2× of what jrpc-tokio must meet against its echo. The \
         client goal is jrpc-tokio's client over the raw client (there is no async-std client \
         load); idle memory is a bound in KB on both.\n\n",
    );
    summary(&mut out, runs);
    for run in runs {
        out.push_str(&run_markdown(run));
    }
    out
}

/// The goals over all runs: each run's ratio, and in how many runs the goal was met.
fn summary(out: &mut String, runs: &[Run]) {
    let _ = writeln!(
        out,
        "## Goals over {} run{}\n",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    out.push_str("| goal | system | each run | met |\n|---|---|---|---|\n");
    for goal in &GOALS {
        for judged in JUDGED {
            let checked: Vec<(f64, bool)> = runs
                .iter()
                .filter_map(|run| goal.check(run, judged))
                .collect();
            if checked.is_empty() {
                continue;
            }
            let shown: Vec<String> = checked.iter().map(|(r, _)| goal.show(*r)).collect();
            let met = checked.iter().filter(|(_, met)| *met).count();
            let (system, floor, _) = judged;
            let compared = match (goal.absolute, goal.against) {
                (true, _) => system.to_owned(),
                (false, Some(against)) => format!("{system} ÷ {against}"),
                (false, None) => format!("{system} ÷ {floor}"),
            };
            let _ = writeln!(
                out,
                "| {} | {compared} | {} | {met} of {} |",
                goal.text,
                shown.join(", "),
                checked.len()
            );
        }
    }
    out.push('\n');
}

/// The heading the fan-out part of BENCHMARKS.md starts with: a run of only the fan-out loads
/// (or only the others) rewrites its own part and keeps the other.
pub const FANOUT_HEADING: &str = "## Fan-out: one publisher, many subscribers";

/// The system the fan-out ratios are taken against: the raw broadcast.
const FLOOR: &str = "broadcast";

/// The heading of the part of BENCHMARKS.md written by hand: the per-call cost work, change by
/// change, with the instruction counts each commit message carries. No run rewrites it.
pub const LEDGER_HEADING: &str = "## Per-call cost, change by change";

/// `existing` (the file as it was) with the parts given replaced: the part before
/// [`FANOUT_HEADING`] by `rpc`, the part from it on (up to [`LEDGER_HEADING`]) by `fanout`. The
/// part from [`LEDGER_HEADING`] on is kept as it is, at the end.
pub fn merge(existing: &str, rpc: Option<String>, fanout: Option<String>) -> String {
    let ledger_at = existing
        .find(&format!("\n{LEDGER_HEADING}"))
        .map_or(existing.len(), |i| i + 1);
    let (runs, ledger) = existing.split_at(ledger_at);
    let split = runs
        .find(&format!("\n{FANOUT_HEADING}"))
        .map_or(runs.len(), |i| i + 1);
    let (old_rpc, old_fanout) = runs.split_at(split);
    let mut out = rpc.unwrap_or_else(|| old_rpc.to_owned());
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(fanout.as_deref().unwrap_or(old_fanout));
    if !ledger.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(ledger);
    out
}

/// A goal of the fan-out load, on a system's figures and the floor's at the same size.
struct FanoutGoal {
    text: &'static str,
    value: fn(&FanoutFigures, &FanoutFigures) -> f64,
    bound: f64,
    at_least: bool,
    /// A count (of deliveries), not a ratio.
    count: bool,
}

const FANOUT_GOALS: [FanoutGoal; 4] = [
    FanoutGoal {
        text: "deliveries/s ≥ 0.8× broadcast",
        value: |f, b| f.deliveries / b.deliveries,
        bound: 0.8,
        at_least: true,
        count: false,
    },
    FanoutGoal {
        text: "server CPU/delivery ≤ 1.5× broadcast",
        value: |f, b| f.server_cpu_us / b.server_cpu_us,
        bound: 1.5,
        at_least: false,
        count: false,
    },
    FanoutGoal {
        text: "zero reordered",
        value: |f, _| f.reordered as f64,
        bound: 0.0,
        at_least: false,
        count: true,
    },
    FanoutGoal {
        text: "zero lost",
        value: |f, _| f.lost as f64,
        bound: 0.0,
        at_least: false,
        count: true,
    },
];

impl FanoutGoal {
    fn met(&self, value: f64) -> bool {
        within(value, self.bound, self.at_least)
    }

    fn show(&self, value: f64) -> String {
        if self.count {
            format!("{value:.0}")
        } else {
            format!("{value:.2}×")
        }
    }
}

impl Run {
    fn fanout_get(&self, system: &str, subscribers: usize) -> Option<&FanoutFigures> {
        self.fanout
            .iter()
            .find(|f| f.system == system && f.subscribers == subscribers)
    }

    /// The subscriber counts measured, in order.
    fn fanout_sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.fanout.iter().map(|f| f.subscribers).collect();
        sizes.dedup();
        sizes
    }

    /// The fan-out systems held to the goals: all but the floor.
    fn fanout_judged(&self) -> Vec<&str> {
        let mut systems: Vec<&str> = Vec::new();
        for f in &self.fanout {
            if f.system != FLOOR && !systems.contains(&f.system.as_str()) {
                systems.push(&f.system);
            }
        }
        systems
    }

    /// Each goal at each size for `system`: its text, the value, whether met.
    fn fanout_goals(&self, system: &str) -> Vec<(String, f64, &'static FanoutGoal)> {
        let mut out = Vec::new();
        for size in self.fanout_sizes() {
            let (Some(f), Some(floor)) =
                (self.fanout_get(system, size), self.fanout_get(FLOOR, size))
            else {
                continue;
            };
            for goal in &FANOUT_GOALS {
                let text = format!("{} at {size} subscribers", goal.text);
                out.push((text, (goal.value)(f, floor), goal));
            }
        }
        out
    }
}

const FANOUT_HEADERS: [&str; 13] = [
    "deliveries/s",
    "× floor",
    "p50 µs",
    "p99 µs",
    "server CPU µs/delivery",
    "× floor",
    "server peak RSS MB",
    "server cores",
    "client CPU µs/delivery",
    "client cores",
    "publishes",
    "lost",
    "reordered",
];

/// The tables and goal checks of one run's fan-out loads.
pub fn fanout_run_markdown(run: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Fan-out run {} ({}, {:.0} s)\n",
        run.number, run.date, run.seconds
    );
    for note in &run.skipped {
        let _ = writeln!(out, "- {note}\n");
    }
    out.push_str("| system | subscribers |");
    for h in FANOUT_HEADERS {
        let _ = write!(out, " {h} |");
    }
    out.push_str("\n|---|---:|");
    for _ in FANOUT_HEADERS {
        out.push_str("---:|");
    }
    out.push('\n');
    for f in &run.fanout {
        let floor = run.fanout_get(FLOOR, f.subscribers);
        let ratio = |value: f64, of: fn(&FanoutFigures) -> f64| {
            floor.map_or_else(|| "–".to_owned(), |b| format!("{:.2}×", value / of(b)))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {:.0} | {:.0} | {:.2} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            f.system,
            f.subscribers,
            f.deliveries,
            ratio(f.deliveries, |b| b.deliveries),
            f.p50_us,
            f.p99_us,
            f.server_cpu_us,
            ratio(f.server_cpu_us, |b| b.server_cpu_us),
            f.peak_rss as f64 / 1e6,
            f.server_cores,
            f.client_cpu_us,
            f.client_cores,
            f.publishes,
            f.lost,
            f.reordered,
        );
    }
    let judged = run.fanout_judged();
    if !judged.is_empty() && run.fanout.iter().any(|f| f.system == FLOOR) {
        out.push_str("\nGoals (ratios to `broadcast`, the floor, in this run):\n\n| goal |");
        for system in &judged {
            let _ = write!(out, " {system} |");
        }
        out.push_str("\n|---|");
        for _ in &judged {
            out.push_str("---|");
        }
        out.push('\n');
        let columns: Vec<_> = judged.iter().map(|s| run.fanout_goals(s)).collect();
        let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
        for row in 0..rows {
            let Some((text, _, _)) = columns.iter().find_map(|c| c.get(row)) else {
                continue;
            };
            let _ = write!(out, "| {text} |");
            for column in &columns {
                match column.get(row) {
                    Some((_, value, goal)) => {
                        let _ = write!(
                            out,
                            " {} {} |",
                            goal.show(*value),
                            verdict(goal.met(*value))
                        );
                    }
                    None => out.push_str(" – |"),
                }
            }
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

/// The fan-out part of BENCHMARKS.md.
pub fn fanout_document(runs: &[Run], command: &str, plan: crate::fanout::Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{FANOUT_HEADING}\n");
    out.push_str(
        "Server push to many: one publisher, C subscribers, every publish delivered to every \
         subscriber. `broadcast` is the floor: a raw tokio-tungstenite server that builds the \
         frame once and clones it to each connection's queue, one flush per batch. `socketio` \
         is socket.io 4.8 on Node (`socket.broadcast.emit`, websocket transport only). \
         `jrpc-twoway` is the pattern of `examples/twoway` as it is written today (an \
         application `Mutex<HashMap<u64, Peer>>`, awaiting `peer.invoke` on each page in \
         turn). `jrpc-groups` is jrpc's groups broadcast: a plain (synchronous) method calls \
         `ctx.groups().all().except(ctx.peer()).invoke(\"Message\", (payload,))`, which encodes \
         the notification once and queues it on every connection without waiting for any. \
         Ratios are taken within one run; the machine is shared (2 cores, other jobs \
         running), so absolute figures drift between runs and only ratios compare.\n\n",
    );
    let _ = writeln!(out, "- Machine: {}", crate::sys::machine());
    let _ = writeln!(out, "- Date: {}", runs.last().map_or("", |r| &r.date));
    let _ = writeln!(out, "- Command: `{command}`");
    let _ = writeln!(
        out,
        "- Each system under each load for {} s in {} turns (or {} publishes), after a \
         warm-up; {} publishes in flight.\n",
        plan.secs, plan.rounds, plan.publishes, plan.window
    );
    out.push_str(
        "How it measures:\n\n\
         - Each server runs in a process of its own on 127.0.0.1, started afresh for each \
         load size; all of a size's servers run at once and take turns, as in the loads \
         above. The subscribers and the publisher are raw tokio-tungstenite connections of \
         the benchmark process (for socket.io they speak engine.io/socket.io: `0{…}` open, \
         `40` connect, `42[…]` events, `2`/`3` ping/pong).\n\
         - The publisher keeps N publishes in flight, end to end: a publish leaves the window \
         when every subscriber has received it (or after 2 s, for a delivery that never \
         comes), so no server can run ahead of its subscribers and its queues stay a few \
         frames deep. Each ~100-byte payload `{\"seq\":…,\"t\":…,\"pad\":\"xx…\"}` carries the \
         publish's sequence number and send time: latency is its arrival time minus `t`; a \
         delivery after one with a higher `seq` is reordered; publishes × subscribers minus \
         deliveries received by the end of the turn are lost.\n\
         - jrpc servers get the notification `publish(payload)` and send `Message(payload)`; \
         the floor relays the very frame `{\"method\":\"Message\",\"args\":[payload],…}` the \
         publisher sends, so subscribers get the same bytes from both; socket.io gets \
         `42[\"publish\",payload]` and sends `42[\"message\",payload]`.\n\
         - Deliveries/s, p50 and p99 are each the median of the turns' figures. Server CPU per \
         delivery: user + system time of the server process (`/proc/PID/stat`) over the \
         turns, divided by the deliveries. Peak RSS: the server's `VmHWM` after the load. \
         Cores: CPU time over wall time; the client's share shows that it is not the \
         bottleneck (it reads every delivery of every system with the same code).\n\n",
    );
    let _ = writeln!(
        out,
        "### Fan-out goals over {} run{}\n",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    out.push_str("| goal | system | each run | met |\n|---|---|---|---|\n");
    let systems: Vec<&str> =
        runs.iter()
            .flat_map(Run::fanout_judged)
            .fold(Vec::new(), |mut all, s| {
                if !all.contains(&s) {
                    all.push(s);
                }
                all
            });
    let goal_texts: Vec<String> = runs
        .iter()
        .flat_map(|run| systems.iter().flat_map(|s| run.fanout_goals(s)))
        .map(|(text, _, _)| text)
        .fold(Vec::new(), |mut all, text| {
            if !all.contains(&text) {
                all.push(text);
            }
            all
        });
    for text in &goal_texts {
        for system in &systems {
            let mut shown = Vec::new();
            let mut met = 0;
            for run in runs {
                for (t, value, goal) in run.fanout_goals(system) {
                    if &t == text {
                        met += usize::from(goal.met(value));
                        shown.push(goal.show(value));
                    }
                }
            }
            if !shown.is_empty() {
                let _ = writeln!(
                    out,
                    "| {text} | {system} | {} | {met} of {} |",
                    shown.join(", "),
                    shown.len()
                );
            }
        }
    }
    out.push('\n');
    for run in runs {
        out.push_str(&fanout_run_markdown(run));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_256(system: &str, throughput: f64, cpu_us: f64) -> Figures {
        let mut f = Figures::new(system);
        f.loads[2] = LoadFigures { throughput, cpu_us };
        f
    }

    fn client(kind: &str, client_cpu_us: f64) -> ClientFigures {
        ClientFigures {
            kind: kind.to_owned(),
            window: 256,
            throughput: 1000.0,
            client_cpu_us,
            server_cpu_us: 1.0,
            client_cores: 0.5,
        }
    }

    fn run(results: Vec<Figures>, clients: Vec<ClientFigures>) -> Run {
        Run {
            number: 1,
            date: String::new(),
            seconds: 1.0,
            results,
            codec: Vec::new(),
            clients,
            fanout: Vec::new(),
            skipped: Vec::new(),
        }
    }

    #[test]
    fn goals_take_each_runtime_against_its_own_echo_with_the_async_std_bounds_loosened() {
        let mut tokio = at_256("jrpc-tokio", 85.0, 2.1);
        let mut echo = at_256("echo", 100.0, 1.0);
        tokio
            .big
            .push(BigFigures::of("1 MiB", "string", 1 << 20, &[10.0], 10, 0.1));
        echo.big
            .push(BigFigures::of("1 MiB", "string", 1 << 20, &[11.0], 11, 0.1));
        let results = vec![
            tokio,
            echo,
            at_256("jrpc-async-std", 80.0, 2.3),
            at_256("echo-async-std", 100.0, 1.0),
        ];
        let clients = vec![client("raw", 1.0), client("jrpc-tokio", 2.4)];
        let text = run_markdown(&run(results, clients.clone()));
        for row in [
            "| calls/s at 256 in flight ≥ 0.9× echo | 0.85× **missed** | 0.80× met |",
            "| server CPU/call at 256 in flight ≤ 2.0× echo | 2.10× **missed** | 2.30× met |",
            "| client CPU/call at 256 in flight ≤ 2.5× the raw client | 2.40× met | – |",
            "| 1 MiB string: bytes/s ≥ 0.8× echo | 0.91× met | – |",
        ] {
            assert!(text.contains(row), "{row} not in\n{text}");
        }
        // Goals not measured in the run have no row.
        assert!(!text.contains("| calls/s at 64×16"), "{text}");
        // The client loads alone: the client goal, for jrpc-tokio only.
        let text = run_markdown(&run(Vec::new(), clients));
        assert!(text.contains("| goal | jrpc-tokio ÷ echo |\n"), "{text}");
        assert!(
            text.contains("| client CPU/call at 256 in flight ≤ 2.5× the raw client | 2.40× met |")
        );
    }

    #[test]
    fn large_messages_take_server_cpu_over_serde_json_alone() {
        let payload = 1 << 20;
        let mut tokio = Figures::new("jrpc-tokio");
        tokio.big.push(BigFigures::of(
            "1 MiB",
            "objects",
            payload,
            &[10.0],
            10,
            0.1,
        ));
        let mut echo = Figures::new("echo");
        echo.big.push(BigFigures::of(
            "1 MiB",
            "objects",
            payload,
            &[100.0],
            100,
            0.1,
        ));
        let mut run = run(vec![tokio, echo], Vec::new());
        run.codec.push(BigFigures::of(
            "1 MiB",
            "objects",
            payload,
            &[20.0],
            20,
            0.1,
        ));
        let text = run_markdown(&run);
        for row in [
            "| jrpc-tokio | 1 MiB | objects | 1048576 | 10 | 21.0 | 0.10× | 4768 | 10.00× | 2.00× |",
            "| echo | 1 MiB | objects | 1048576 | 100 | 209.7 | 1.00× | 477 | 1.00× | 0.20× |",
            "| serde_json alone | 1 MiB | objects | 1048576 | 20 | 41.9 | 0.20× | 2384 | 5.00× | 1.00× |",
        ] {
            assert!(text.contains(row), "{row} not in\n{text}");
        }
    }

    #[test]
    fn a_partial_run_rewrites_its_own_part_of_the_file_and_keeps_the_other() {
        let file = format!("# Benchmarks\nold rpc\n{FANOUT_HEADING}\nold fanout\n");
        let rpc_only = merge(&file, Some("# Benchmarks\nnew rpc\n".into()), None);
        assert_eq!(
            rpc_only,
            format!("# Benchmarks\nnew rpc\n{FANOUT_HEADING}\nold fanout\n")
        );
        let fanout_only = merge(&file, None, Some(format!("{FANOUT_HEADING}\nnew fanout\n")));
        assert_eq!(
            fanout_only,
            format!("# Benchmarks\nold rpc\n{FANOUT_HEADING}\nnew fanout\n")
        );
        // The hand-written ledger stays at the end, whichever part a run rewrites.
        let with_ledger = format!("{file}{LEDGER_HEADING}\n| change |\n");
        for rewritten in [
            merge(&with_ledger, Some("# Benchmarks\nnew rpc\n".into()), None),
            merge(
                &with_ledger,
                None,
                Some(format!("{FANOUT_HEADING}\nnew fanout\n")),
            ),
        ] {
            assert!(rewritten.ends_with(&format!("\n{LEDGER_HEADING}\n| change |\n")));
            assert!(rewritten.contains("new "), "{rewritten}");
        }
        // A file from before the fan-out load: the fan-out part is appended.
        let appended = merge(
            "# Benchmarks\nold rpc\n",
            None,
            Some(format!("{FANOUT_HEADING}\n")),
        );
        assert_eq!(
            appended,
            format!("# Benchmarks\nold rpc\n{FANOUT_HEADING}\n")
        );
    }
}
