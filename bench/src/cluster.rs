//! `jrpc-bench cluster`: what linking processes through Redis costs, on 127.0.0.1.
//!
//! - **Fan-out**: C subscribers in the group `fan`; one publisher calls `Publish` with 8 calls
//!   in flight for S seconds, each a ~100-byte broadcast to the group. Once with one server
//!   process (no Redis: the local floor), once with two linked by Redis (the subscribers split
//!   evenly, the publisher on the first). Figures: deliveries per second, server CPU per
//!   delivery (each process's, and summed), Redis's CPU per delivery, deliveries lost, and
//!   subscribers that saw another order than the first subscriber.
//! - **Peer call**: a server calls a page's `Echo` through `Cluster::request`, the page on the
//!   same process or on the other one; sequential, p50 and p99 of the round trip as the calling
//!   page sees it (page → server A → Redis → server B → page and back).
//!
//! Each server is this binary (`jrpc-bench cluster-node <redis-url|->`), in a process of its
//! own; Redis is Debian's `redis-server`, started on a free port of its own. Flags: `--secs S`
//! (default 4), `--subscribers C` (default 200), `--calls N` (default 2,000).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jrpc_testsuite::services::RedisServer;
use jrpc_tokio::{
    Client, Cluster, ClusterConfig, Ctx, Groups, Methods, Peer, PeerId, RpcError, Server, Tokio,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::sys::cpu_seconds;

const GROUP: &str = "fan";
const IN_FLIGHT: usize = 8;

/// A server process of the benchmark: a group `fan`, and a cluster node when `redis` is a URL.
pub fn serve_node(redis: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let groups = Groups::new();
        let cluster = match redis {
            "-" => None,
            url => {
                let cluster = Cluster::start(Tokio, &groups, url, ClusterConfig::default())
                    .map_err(|e| e.to_string())?;
                if !cluster.wait_connected(Duration::from_secs(10)).await {
                    return Err("the node did not link to Redis".to_owned());
                }
                Some(cluster)
            }
        };
        let methods = Methods::with_state()
            .add("Join", |ctx: Ctx<Option<Cluster>>| ctx.peer().join(GROUP))
            .add("Me", |ctx: Ctx<Option<Cluster>>| match ctx.state() {
                Some(cluster) => cluster.peer_id(ctx.peer()).to_string(),
                None => String::new(),
            })
            .add(
                "Publish",
                |ctx: Ctx<Option<Cluster>>, seq: u64, payload: String| {
                    ctx.groups()
                        .to(GROUP)
                        .invoke("Tick", (seq, payload))
                        .map(|d| d.delivered)
                        .map_err(|e| RpcError::internal(e.to_string()))
                },
            )
            .add(
                "Ask",
                |ctx: Ctx<Option<Cluster>>, id: String, x: u64| async move {
                    let Some(cluster) = ctx.state() else {
                        return Err(RpcError::internal("not a cluster node"));
                    };
                    let id: PeerId = id
                        .parse()
                        .map_err(|e| RpcError::invalid_params(format!("{e}")))?;
                    cluster
                        .request::<u64>(&id, "Echo", (x,), None)
                        .await
                        .map_err(|e| RpcError::internal(e.to_string()))
                },
            );
        let server = Server::builder()
            .state(cluster)
            .groups(groups)
            .bind("127.0.0.1:0", methods)
            .await
            .map_err(|e| e.to_string())?;
        println!("PORT {}", server.local_addr().port());
        server.run().await;
        Ok(())
    })
}

struct Node {
    child: Child,
    url: String,
}

impl Node {
    async fn start(redis: Option<&RedisServer>) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let url = redis.map_or("-".to_owned(), RedisServer::url);
        let mut child = Command::new(exe)
            .args(["cluster-node", &url])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .map_err(|_| "a node did not start")?
            .map_err(|e| e.to_string())?
            .ok_or("a node ended")?;
        let port = line
            .strip_prefix("PORT ")
            .ok_or(format!("a node said {line:?}"))?;
        Ok(Self {
            child,
            url: format!("ws://127.0.0.1:{port}/"),
        })
    }

    fn cpu(&self) -> f64 {
        self.child.id().and_then(cpu_seconds).unwrap_or(0.0)
    }
}

/// A subscriber's tally: deliveries, and a hash of their order (the same on every subscriber
/// when they all got the same broadcasts in one order).
#[derive(Default)]
struct Tally {
    received: AtomicU64,
    order: AtomicU64,
}

async fn subscriber(url: &str, tally: Arc<Tally>) -> Result<Peer, String> {
    let methods = Methods::new().add("Tick", move |seq: u64, _payload: String| {
        tally.received.fetch_add(1, Ordering::Relaxed);
        // One connection's notifications are handled one at a time, in order.
        let order = tally.order.load(Ordering::Relaxed);
        let next = order.wrapping_mul(0x100_0000_01b3).wrapping_add(seq);
        tally.order.store(next, Ordering::Relaxed);
    });
    let peer = Client::builder()
        .connect(url, methods)
        .await
        .map_err(|e| e.to_string())?;
    peer.request::<bool>("Join", ())
        .await
        .map_err(|e| e.to_string())?;
    Ok(peer)
}

struct FanOut {
    deliveries_per_s: f64,
    /// CPU µs per delivery of each server process, of the deliveries it made.
    per_process: Vec<f64>,
    total_us: f64,
    redis_us: Option<f64>,
    lost: u64,
    /// Subscribers whose order differs from the first subscriber's.
    reordered: usize,
}

async fn fan_out(
    nodes: &[Node],
    redis: Option<&RedisServer>,
    subscribers: usize,
    secs: f64,
) -> Result<FanOut, String> {
    let mut tallies: Vec<Vec<Arc<Tally>>> = nodes.iter().map(|_| Vec::new()).collect();
    let mut peers = Vec::new();
    for i in 0..subscribers {
        let at = i % nodes.len();
        let tally = Arc::new(Tally::default());
        peers.push(subscriber(&nodes[at].url, tally.clone()).await?);
        tallies[at].push(tally);
    }
    // Every node sees every member before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let publisher = Client::connect(&nodes[0].url)
        .await
        .map_err(|e| e.to_string())?;
    let payload = "x".repeat(100);
    let cpu0: Vec<f64> = nodes.iter().map(Node::cpu).collect();
    let redis_pid = redis.and_then(RedisServer::pid);
    let redis0 = redis_pid.and_then(cpu_seconds);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let seq = Arc::new(AtomicU64::new(1));
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (publisher, payload, seq) = (publisher.clone(), payload.clone(), seq.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                if publisher
                    .request::<usize>("Publish", (n, &payload))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let published = seq.load(Ordering::Relaxed) - 1;
    let expected = published * subscribers as u64;
    let received = || -> u64 {
        tallies
            .iter()
            .flatten()
            .map(|t| t.received.load(Ordering::Relaxed))
            .sum()
    };
    // Drain: until everything arrived, or nothing more does for a second.
    let (mut last, mut still) = (received(), Instant::now());
    while last < expected && still.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = received();
        if now != last {
            (last, still) = (now, Instant::now());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let per_process = nodes
        .iter()
        .zip(&cpu0)
        .zip(&tallies)
        .map(|((node, cpu0), tallies)| {
            let made: u64 = tallies
                .iter()
                .map(|t| t.received.load(Ordering::Relaxed))
                .sum();
            (node.cpu() - cpu0) * 1e6 / made.max(1) as f64
        })
        .collect();
    let cpu: f64 = nodes.iter().zip(&cpu0).map(|(n, c0)| n.cpu() - c0).sum();
    let redis_us = match (redis_pid.and_then(cpu_seconds), redis0) {
        (Some(now), Some(then)) => Some((now - then) * 1e6 / last.max(1) as f64),
        _ => None,
    };
    for peer in peers {
        peer.close();
    }
    publisher.close();
    Ok(FanOut {
        deliveries_per_s: last as f64 / elapsed,
        per_process,
        total_us: cpu * 1e6 / last.max(1) as f64,
        redis_us,
        lost: expected.saturating_sub(last),
        reordered: {
            let orders: Vec<u64> = tallies
                .iter()
                .flatten()
                .map(|t| t.order.load(Ordering::Relaxed))
                .collect();
            orders.iter().filter(|o| Some(*o) != orders.first()).count()
        },
    })
}

/// p50 and p99 in µs of `calls` sequential `Ask(target)` calls made by a page of `caller`.
async fn peer_calls(caller: &Node, target: &Node, calls: usize) -> Result<(f64, f64), String> {
    let echo = Methods::new().add("Echo", |x: u64| x);
    let page = Client::builder()
        .connect(&target.url, echo)
        .await
        .map_err(|e| e.to_string())?;
    let id: String = page.request("Me", ()).await.map_err(|e| e.to_string())?;
    let asker = Client::connect(&caller.url)
        .await
        .map_err(|e| e.to_string())?;
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls as u64 {
        let start = Instant::now();
        let x: u64 = asker
            .request("Ask", (&id, i))
            .await
            .map_err(|e| e.to_string())?;
        if x != i {
            return Err(format!("Echo({i}) answered {x}"));
        }
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    page.close();
    asker.close();
    Ok((at(0.5), at(0.99)))
}

/// `jrpc-bench cluster [--secs S] [--subscribers C] [--calls N]`: prints a Markdown table.
pub async fn run(args: &[String]) -> Result<(), String> {
    let (mut secs, mut subscribers, mut calls) = (4.0, 200, 2_000);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--secs" => secs = value.parse().map_err(|e| bad(&e))?,
            "--subscribers" => subscribers = value.parse().map_err(|e| bad(&e))?,
            "--calls" => calls = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("redis-server: {e}"))?;

    let single = [Node::start(None).await?];
    let one = fan_out(&single, None, subscribers, secs).await?;
    drop(single);
    let pair = [
        Node::start(Some(&redis)).await?,
        Node::start(Some(&redis)).await?,
    ];
    let two = fan_out(&pair, Some(&redis), subscribers, secs).await?;
    let local = peer_calls(&pair[0], &pair[0], calls).await?;
    let across = peer_calls(&pair[0], &pair[1], calls).await?;

    let us = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "fan-out: {subscribers} subscribers, 1 publisher × {IN_FLIGHT} in flight, ~100-byte payload, {secs} s\n"
    );
    println!(
        "| setup | deliveries/s | server CPU µs/delivery (per process) | summed | Redis CPU µs/delivery | lost | subscribers in another order |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, f) in [("one process", &one), ("two processes + Redis", &two)] {
        println!(
            "| {name} | {:.0} | {} | {:.2} | {} | {} | {} |",
            f.deliveries_per_s,
            us(&f.per_process),
            f.total_us,
            f.redis_us.map_or("-".to_owned(), |r| format!("{r:.2}")),
            f.lost,
            f.reordered
        );
    }
    let worst = two.per_process.iter().copied().fold(0.0, f64::max);
    let ratio = worst / one.total_us.max(f64::EPSILON);
    println!(
        "\nworst process's CPU per delivery, two processes / one: {ratio:.2}× (goal ≤ 2×: {})",
        if ratio <= 2.0 { "met" } else { "not met" }
    );
    println!(
        "\npeer call (Cluster::request to a page's Echo, {calls} sequential, as the calling page sees it):\n"
    );
    println!("| target | p50 µs | p99 µs |\n| --- | ---: | ---: |");
    println!(
        "| page on the same process | {:.0} | {:.0} |",
        local.0, local.1
    );
    println!(
        "| page on the other process (via Redis) | {:.0} | {:.0} |",
        across.0, across.1
    );
    Ok(())
}
