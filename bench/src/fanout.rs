//! The fan-out load: one publisher, C subscribers, every publish delivered to every subscriber.
//!
//! Every system gets the same client: C raw tokio-tungstenite connections that read frames (and
//! speak just enough of engine.io/socket.io for `socketio`), and one publisher connection that
//! keeps a fixed number of publishes in flight. A publish is in flight from when it is sent
//! until every subscriber has received it (or, if some never do, for [`PUBLISH_TIMEOUT`]): the
//! window is end to end, so no system can run ahead of its subscribers and every queue stays
//! small (a few frames per connection). The ~100-byte payload carries the publish's sequence
//! number and the time it was sent, from which each subscriber measures the delivery latency,
//! what it missed and what came out of order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Ws};
use crate::report::FanoutFigures;

/// One size of the fan-out load.
#[derive(Debug, Clone, Copy)]
pub struct FanoutLoad {
    /// Its name in the tables and in `--loads`.
    pub name: &'static str,
    /// Subscriber connections.
    pub subscribers: usize,
}

/// The fan-out loads, in the order they run.
pub const FANOUT_LOADS: [FanoutLoad; 2] = [
    FanoutLoad {
        name: "fanout100",
        subscribers: 100,
    },
    FanoutLoad {
        name: "fanout2000",
        subscribers: 2000,
    },
];

/// Size of a publish's payload, in bytes (the JSON object the subscribers get).
const PAYLOAD_LEN: usize = 100;

/// How long a publish may stay in flight: past that, deliveries still missing are taken as
/// lost for the window (they still count if they arrive before the turn ends).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections being opened at once.
const OPEN_AT_ONCE: usize = 64;

/// Longest time the subscribers of one system may take to connect.
const OPEN_LIMIT: Duration = Duration::from_secs(120);

/// Slots of the delivery board: more than any window, so a slot is reused only long after its
/// publish has left the window.
const RING: usize = 1 << 12;

/// Low bits of a slot that count deliveries; the high bits hold the slot's sequence number.
const COUNT_BITS: u32 = 20;

/// How a system is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The broadcast floor: it relays the publisher's frame as it came, so the publisher sends
    /// the very notification a jrpc server would deliver.
    Raw,
    /// JRPC: the publisher sends the notification `publish(payload)`; subscribers get
    /// `Message(payload)`.
    Jrpc,
    /// socket.io 4 over its websocket transport: `42["publish",payload]` in,
    /// `42["message",payload]` out.
    SocketIo,
}

impl Wire {
    /// The wire of a fan-out system.
    pub fn of(system: &str) -> Self {
        match system {
            "broadcast" => Self::Raw,
            "socketio" => Self::SocketIo,
            _ => Self::Jrpc,
        }
    }

    fn url(self, base: &str) -> String {
        match self {
            Self::SocketIo => format!("{base}socket.io/?EIO=4&transport=websocket"),
            _ => base.to_owned(),
        }
    }

    fn publish(self, payload: &str) -> String {
        match self {
            Self::Raw => {
                format!(r#"{{"method":"Message","args":[{payload}],"kwargs":{{}},"id":null}}"#)
            }
            Self::Jrpc => {
                format!(r#"{{"method":"publish","args":[{payload}],"kwargs":{{}},"id":null}}"#)
            }
            Self::SocketIo => format!(r#"42["publish",{payload}]"#),
        }
    }
}

/// The payload of publish `seq` sent at `sent` (ns since the board's epoch), padded to
/// [`PAYLOAD_LEN`] bytes.
fn payload(seq: u64, sent: u64) -> String {
    let mut text = format!(r#"{{"seq":{seq},"t":{sent},"pad":""#);
    let pad = PAYLOAD_LEN.saturating_sub(text.len() + 2);
    text.extend(std::iter::repeat_n('x', pad));
    text.push_str("\"}");
    text
}

/// The number after `key` in `text`.
fn number_after(text: &str, key: &str) -> Option<u64> {
    let start = text.find(key)? + key.len();
    let digits = &text[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The sequence number and send time a delivered frame carries.
fn parse(frame: &str) -> Option<(u64, u64)> {
    Some((
        number_after(frame, r#""seq":"#)?,
        number_after(frame, r#""t":"#)?,
    ))
}

/// Where subscribers count the deliveries of the publishes in flight, and tell the publisher
/// when one has reached everyone.
struct Board {
    subscribers: u64,
    /// For each slot, `seq << COUNT_BITS | deliveries`.
    slots: Box<[AtomicU64]>,
    /// The first sequence number of the turn being measured.
    base: AtomicU64,
    complete: Notify,
    epoch: Instant,
}

impl Board {
    fn new(subscribers: usize) -> Self {
        Self {
            subscribers: subscribers as u64,
            slots: (0..RING).map(|_| AtomicU64::new(u64::MAX)).collect(),
            base: AtomicU64::new(0),
            complete: Notify::new(),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn slot(&self, seq: u64) -> &AtomicU64 {
        &self.slots[seq as usize % RING]
    }

    fn start(&self, seq: u64) {
        self.slot(seq).store(seq << COUNT_BITS, Ordering::Release);
    }

    /// One subscriber got `seq`; a stale number (its slot reused) is ignored.
    fn deliver(&self, seq: u64) {
        let slot = self.slot(seq);
        let mut current = slot.load(Ordering::Acquire);
        while current >> COUNT_BITS == seq {
            match slot.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if (current + 1) & ((1 << COUNT_BITS) - 1) == self.subscribers {
                        self.complete.notify_one();
                    }
                    return;
                }
                Err(now) => current = now,
            }
        }
    }

    fn is_complete(&self, seq: u64) -> bool {
        let current = self.slot(seq).load(Ordering::Acquire);
        current >> COUNT_BITS == seq && current & ((1 << COUNT_BITS) - 1) >= self.subscribers
    }
}

/// What one subscriber saw of the turn being measured.
#[derive(Debug, Default)]
struct Seen {
    received: u64,
    /// Deliveries that came after one with a higher sequence number (or again).
    reordered: u64,
    /// Highest sequence number so far, plus one (0: none yet).
    high: u64,
    /// Delivery latencies, in nanoseconds.
    latencies: Vec<u64>,
    /// Frames that were not a delivery.
    wrong: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens a connection; for socket.io, goes through the engine.io open packet (`0{...}`) and
/// the namespace connect (`40` sent, `40{...}` received).
async fn open(url: String, wire: Wire) -> Result<Ws, String> {
    let mut ws = client::connect(&url, 4 << 10).await?;
    if wire == Wire::SocketIo {
        let mut opened = false;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .map_err(|_| "socket.io handshake: no answer within 10 s".to_owned())?;
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("socket.io handshake: {e}")),
                None => return Err("socket.io handshake: connection closed".to_owned()),
            };
            if !opened && text.starts_with('0') {
                opened = true;
                ws.send(Message::text("40"))
                    .await
                    .map_err(|e| format!("socket.io connect: {e}"))?;
            } else if opened && text.starts_with("40") {
                break;
            } else {
                return Err(format!("socket.io handshake: unexpected '{text}'"));
            }
        }
    }
    Ok(ws)
}

/// Reads one subscriber's deliveries until its connection ends.
async fn subscribe(mut ws: Ws, wire: Wire, board: Arc<Board>, seen: Arc<Mutex<Seen>>) {
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        if wire == Wire::SocketIo && text.as_str() == "2" {
            // engine.io's ping: answer, or the server drops us.
            if ws.send(Message::text("3")).await.is_err() {
                return;
            }
            continue;
        }
        let now = board.now();
        let Some((seq, sent)) = parse(text.as_str()) else {
            lock(&seen).wrong += 1;
            continue;
        };
        {
            let mut seen = lock(&seen);
            if seq >= board.base.load(Ordering::Acquire) {
                seen.received += 1;
                seen.latencies.push(now.saturating_sub(sent));
                if seq < seen.high {
                    seen.reordered += 1;
                }
            }
            seen.high = seen.high.max(seq + 1);
        }
        board.deliver(seq);
    }
}

/// The publisher's connection and where its numbering stands.
struct Publisher {
    ws: Ws,
    wire: Wire,
    next_seq: u64,
}

impl Publisher {
    /// Publishes with `window` in flight until `until` or `limit` publishes, then waits for the
    /// publishes still in flight to complete or time out.
    async fn turn(
        &mut self,
        board: &Board,
        window: usize,
        until: Instant,
        limit: u64,
    ) -> Result<u64, String> {
        let mut in_flight: Vec<(u64, Instant)> = Vec::with_capacity(window);
        let mut publishes = 0;
        loop {
            let stopping = Instant::now() >= until || publishes >= limit;
            if !stopping && in_flight.len() < window {
                while in_flight.len() < window && publishes < limit {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    board.start(seq);
                    let frame = self.wire.publish(&payload(seq, board.now()));
                    self.ws
                        .feed(Message::text(frame))
                        .await
                        .map_err(|e| format!("publisher: {e}"))?;
                    in_flight.push((seq, Instant::now() + PUBLISH_TIMEOUT));
                    publishes += 1;
                }
                self.ws
                    .flush()
                    .await
                    .map_err(|e| format!("publisher: {e}"))?;
            }
            if stopping && in_flight.is_empty() {
                return Ok(publishes);
            }
            let first_timeout = in_flight
                .iter()
                .map(|(_, timeout)| *timeout)
                .min()
                .unwrap_or(until);
            let wake = if stopping {
                first_timeout
            } else {
                first_timeout.min(until)
            };
            tokio::select! {
                () = board.complete.notified() => {}
                () = tokio::time::sleep_until(wake.into()) => {}
                frame = self.ws.next() => match frame {
                    Some(Ok(Message::Text(text))) if self.wire == Wire::SocketIo && text.as_str() == "2" => {
                        self.ws.send(Message::text("3")).await.map_err(|e| format!("publisher: {e}"))?;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("publisher: {e}")),
                    None => return Err("publisher: connection closed".to_owned()),
                },
            }
            let now = Instant::now();
            // A publish leaves the window once complete, or at its timeout (lost deliveries).
            in_flight.retain(|&(seq, timeout)| !board.is_complete(seq) && now < timeout);
        }
    }

    /// Publishes one at a time until one reaches every subscriber (each subscriber is then
    /// known to the server), for at most 30 s.
    async fn prime(&mut self, board: &Board) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let seq = self.next_seq;
            let step = Instant::now() + Duration::from_millis(200);
            self.turn(board, 1, step, 1).await?;
            if board.is_complete(seq) {
                return Ok(());
            }
        }
        Err("not every subscriber got a publish within 30 s".to_owned())
    }
}

/// One system under a fan-out load: its server, its connections, what they saw.
pub struct Subject {
    /// The system's name.
    pub system: String,
    server: crate::ServerProcess,
    publisher: Publisher,
    board: Arc<Board>,
    seen: Vec<Arc<Mutex<Seen>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Subject {
    /// Starts the system's server, opens `subscribers` connections and the publisher's, and
    /// waits until a publish reaches every subscriber.
    pub async fn start(
        system: &str,
        server: crate::ServerProcess,
        subscribers: usize,
    ) -> Result<Self, String> {
        let wire = Wire::of(system);
        let url = wire.url(&server.url);
        let board = Arc::new(Board::new(subscribers));
        let mut opening = futures_util::stream::iter(0..subscribers)
            .map(|_| open(url.clone(), wire))
            .buffer_unordered(OPEN_AT_ONCE);
        let mut seen = Vec::with_capacity(subscribers);
        let mut tasks = Vec::with_capacity(subscribers);
        let deadline = tokio::time::Instant::now() + OPEN_LIMIT;
        while let Some(ws) = tokio::time::timeout_at(deadline, opening.next())
            .await
            .map_err(|_| format!("{system}: opening {subscribers} connections took over 120 s"))?
        {
            let ws = ws.map_err(|e| format!("{system}: {e}"))?;
            let mine = Arc::new(Mutex::new(Seen::default()));
            seen.push(mine.clone());
            tasks.push(tokio::spawn(subscribe(ws, wire, board.clone(), mine)));
        }
        drop(opening);
        let mut publisher = Publisher {
            ws: open(url, wire)
                .await
                .map_err(|e| format!("{system}: {e}"))?,
            wire,
            next_seq: 1,
        };
        publisher
            .prime(&board)
            .await
            .map_err(|e| format!("{system}: {e}"))?;
        Ok(Self {
            system: system.to_owned(),
            server,
            publisher,
            board,
            seen,
            tasks,
        })
    }

    /// Publishes for `length` (or `limit` publishes) with `window` in flight, and what the
    /// subscribers saw of it.
    pub async fn turn(
        &mut self,
        window: usize,
        length: Duration,
        limit: u64,
    ) -> Result<Turn, String> {
        for seen in &self.seen {
            let mut seen = lock(seen);
            seen.received = 0;
            seen.reordered = 0;
            seen.wrong = 0;
            seen.latencies.clear();
        }
        self.board
            .base
            .store(self.publisher.next_seq, Ordering::Release);
        let server_cpu = self.server.cpu()?;
        let client_cpu = crate::sys::cpu_seconds(std::process::id()).unwrap_or(0.0);
        let started = Instant::now();
        let publishes = self
            .publisher
            .turn(&self.board, window, started + length, limit)
            .await
            .map_err(|e| format!("{}: {e}", self.system))?;
        let wall = started.elapsed().as_secs_f64();
        let server_cpu = self.server.cpu()? - server_cpu;
        let client_cpu = crate::sys::cpu_seconds(std::process::id()).unwrap_or(0.0) - client_cpu;
        let mut turn = Turn {
            publishes,
            wall,
            server_cpu,
            client_cpu,
            ..Turn::default()
        };
        for seen in &self.seen {
            let seen = lock(seen);
            turn.received += seen.received;
            turn.reordered += seen.reordered;
            turn.wrong += seen.wrong;
            turn.latencies.extend_from_slice(&seen.latencies);
        }
        turn.latencies.sort_unstable();
        Ok(turn)
    }

    /// The server's peak resident memory so far, in bytes.
    pub fn peak_rss(&self) -> Result<u64, String> {
        self.server.peak_rss()
    }

    /// Stops the server and the subscribers.
    pub async fn stop(self) {
        self.server.stop().await;
        for task in self.tasks {
            task.abort();
        }
    }
}

/// How the fan-out loads are run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Time each system spends under each load, in seconds.
    pub secs: f64,
    /// Turns that time is split into.
    pub rounds: usize,
    /// Warm-up of each system, in seconds.
    pub warmup: f64,
    /// Publishes in flight.
    pub window: usize,
    /// Most publishes per system and load.
    pub publishes: u64,
}

/// Where the socket.io server is: the Node program and `bench/socketio/server.js`, or why it
/// cannot run.
pub fn socketio_server() -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("socketio");
    let node = std::path::PathBuf::from("node");
    let found = std::process::Command::new(&node)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        return Err("node is not installed (scripts/install-deps.sh installs it)".to_owned());
    }
    if !dir.join("node_modules/socket.io/package.json").is_file() {
        return Err(format!(
            "socket.io is not installed in {} (scripts/install-deps.sh runs `npm ci` there)",
            dir.display()
        ));
    }
    Ok((node, dir.join("server.js")))
}

/// Every fan-out system under every fan-out load: for each load, all the systems' servers run
/// at once, each in a process of its own started for that load (so that its peak memory is
/// the load's), and the systems take turns as in the other loads. Returns the figures and the
/// systems skipped, with why.
pub async fn measure(
    systems: &[String],
    loads: &[FanoutLoad],
    plan: Plan,
) -> Result<(Vec<FanoutFigures>, Vec<String>), String> {
    let mut skipped = Vec::new();
    let socketio = socketio_server();
    let systems: Vec<&String> = systems
        .iter()
        .filter(|system| match (system.as_str(), &socketio) {
            ("socketio", Err(why)) => {
                eprintln!("   socketio skipped: {why}");
                skipped.push(format!("socketio skipped: {why}"));
                false
            }
            _ => true,
        })
        .collect();
    let mut figures = Vec::new();
    for load in loads {
        let mut subjects = Vec::new();
        for system in &systems {
            let server = match (system.as_str(), &socketio) {
                ("socketio", Ok((node, script))) => {
                    crate::ServerProcess::spawn(system, node.as_os_str(), &[script.as_os_str()])
                        .await?
                }
                _ => crate::ServerProcess::start(system).await?,
            };
            subjects.push(Subject::start(system, server, load.subscribers).await?);
        }
        let warmup = Duration::from_secs_f64(plan.warmup);
        for subject in &mut subjects {
            let turn = subject.turn(plan.window, warmup, plan.publishes).await?;
            eprintln!(
                "   {:<15} {:<14} warm-up {} publishes",
                subject.system, load.name, turn.publishes
            );
        }
        let chunk = Duration::from_secs_f64(plan.secs / plan.rounds as f64);
        let limit = plan.publishes.div_ceil(plan.rounds as u64).max(1);
        let mut turns: Vec<Vec<Turn>> = subjects.iter().map(|_| Vec::new()).collect();
        for round in 0..plan.rounds {
            for k in 0..subjects.len() {
                let i = (k + round) % subjects.len();
                let subject = &mut subjects[i];
                let turn = subject.turn(plan.window, chunk, limit).await?;
                if turn.wrong > 0 {
                    return Err(format!(
                        "{}, {}: {} frames that are not deliveries",
                        subject.system, load.name, turn.wrong
                    ));
                }
                turns[i].push(turn);
            }
        }
        for (subject, turns) in subjects.into_iter().zip(turns) {
            let f = FanoutFigures::of(
                &subject.system,
                load.subscribers,
                &turns,
                subject.peak_rss()?,
            );
            eprintln!(
                "   {:<15} {:<14} {:>10.0} deliveries/s   p50 {:>8.1} µs   p99 {:>8.1} µs   server CPU {:>5.2} µs/delivery   lost {}   reordered {}",
                f.system,
                load.name,
                f.deliveries,
                f.p50_us,
                f.p99_us,
                f.server_cpu_us,
                f.lost,
                f.reordered
            );
            figures.push(f);
            subject.stop().await;
        }
    }
    Ok((figures, skipped))
}

/// What one turn measured.
#[derive(Debug, Default)]
pub struct Turn {
    /// Publishes sent.
    pub publishes: u64,
    /// Deliveries received.
    pub received: u64,
    /// Deliveries out of order.
    pub reordered: u64,
    /// Frames that were not deliveries.
    pub wrong: u64,
    /// Seconds from the first publish to the end of the drain.
    pub wall: f64,
    /// CPU seconds of the server.
    pub server_cpu: f64,
    /// CPU seconds of this (the client) process.
    pub client_cpu: f64,
    /// Delivery latencies, sorted, in ns.
    pub latencies: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_100_bytes_and_parses_back() {
        let text = payload(123_456, 987_654_321);
        assert_eq!(text.len(), PAYLOAD_LEN);
        assert_eq!(parse(&text), Some((123_456, 987_654_321)));
        let delivered = Wire::SocketIo.publish(&text).replace("publish", "message");
        assert_eq!(parse(&delivered), Some((123_456, 987_654_321)));
        assert!(serde_json::from_str::<serde_json::Value>(&Wire::Jrpc.publish(&text)).is_ok());
    }

    #[test]
    fn a_publish_completes_when_every_subscriber_has_it_and_stale_ones_are_ignored() {
        let board = Board::new(3);
        board.start(7);
        board.deliver(7);
        board.deliver(7);
        assert!(!board.is_complete(7));
        board.deliver(7 + RING as u64);
        assert!(!board.is_complete(7));
        board.deliver(7);
        assert!(board.is_complete(7));
        board.start(7 + RING as u64);
        assert!(!board.is_complete(7));
    }
}
