//! The memory of a server under the hostile suite's floods, made larger: a server in a child
//! process of its own, floods sent at it, and its resident memory (`VmRSS`, and the peak
//! `VmHWM`, reset before each flood through `/proc/PID/clear_refs`) read from `/proc` (Linux).
//!
//! The adapters' `flood` examples run it:
//! `cargo run --release -p jrpc-tokio --example flood`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use jrpc_driver::{Config, Methods, Runtime, Server};
use serde_json::json;

use crate::tcp::{self, TEXT, WsTcp, encode};

/// The server the floods hit: the hostile suite's methods on default settings (16 MiB
/// messages, 64 requests in flight per connection, 10 s handshake deadline). Prints its
/// address, then serves until the process is killed.
pub async fn serve<R: Runtime + Default>() {
    let methods = Methods::new()
        .add("Add", |a: i64, b: i64| a.wrapping_add(b))
        .add("Len", |text: String| text.len())
        .add("Count", || {})
        .add("Big", |n: usize| "x".repeat(n))
        .add("Nap", |ms: u64| async move {
            R::default()
                .sleep_until(Instant::now() + Duration::from_millis(ms))
                .await;
            ms
        });
    let server = Server::<R>::builder()
        .config(Config::default())
        .bind("127.0.0.1:0", methods)
        .await
        .expect("bind");
    println!("flood server {}", server.local_addr());
    server.run().await;
}

/// Starts `program serve` (the caller's own executable, which must call [`serve`] when given
/// `serve`), floods it, and prints its memory after each flood.
pub fn drive(program: &std::path::Path) {
    let mut child = Command::new(program)
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr: SocketAddr = lines
        .next()
        .and_then(Result::ok)
        .and_then(|line| line.strip_prefix("flood server ")?.parse().ok())
        .expect("the server's address");
    println!("server process {pid} on {addr}");
    println!("{:58} {:>10} {:>10}", "flood", "VmRSS", "VmHWM");
    let report = |what: &str| {
        let (rss, hwm) = memory(pid);
        println!("{what:58} {rss:>7} kB {hwm:>7} kB");
        reset_peak(pid);
    };
    report("idle, before any connection");

    // 100,000 notifications on one connection, then a request.
    let mut ws = WsTcp::connect(addr);
    let notification = json!({"method": "Count", "args": [], "kwargs": {}}).to_string();
    let frame = encode(true, TEXT, notification.as_bytes(), true, 0);
    let mut batch = Vec::new();
    for _ in 0..100_000 {
        batch.extend_from_slice(&frame);
    }
    ws.raw(&batch);
    probe(&mut ws, 1);
    report("100,000 notifications on one connection");

    // 20,000 requests (1 ms each, 64 in flight at most) written at once, read concurrently.
    let mut writer = ws.stream.try_clone().expect("clone");
    let writing = thread::spawn(move || {
        let mut batch = Vec::new();
        for id in 1..=20_000u64 {
            let request = json!({"method": "Nap", "args": [1], "kwargs": {}, "id": id});
            batch.extend(encode(true, TEXT, request.to_string().as_bytes(), true, 0));
        }
        writer.write_all(&batch).expect("write");
    });
    for _ in 0..20_000 {
        ws.recv_json();
    }
    writing.join().expect("writer");
    report("20,000 requests at once on one connection (limit 64)");
    ws.close();

    // Ten clients request 64 KiB answers and read none.
    let written = Arc::new(AtomicUsize::new(0));
    let stalled: Vec<_> = (0..10)
        .map(|_| {
            let ws = WsTcp::connect(addr);
            let mut writer = ws.stream.try_clone().expect("clone");
            let written = written.clone();
            thread::spawn(move || {
                for id in 0..100_000u64 {
                    let request = json!({"method": "Big", "args": [65_536], "id": id});
                    let frame = encode(true, TEXT, request.to_string().as_bytes(), true, 0);
                    if writer.write_all(&frame).is_err() {
                        break;
                    }
                    written.fetch_add(1, Ordering::SeqCst);
                }
            });
            ws
        })
        .collect();
    let mut last = usize::MAX;
    loop {
        thread::sleep(Duration::from_millis(500));
        let now = written.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    report(&format!(
        "10 clients not reading 64 KiB answers ({last} requests sent)"
    ));
    for ws in stalled {
        ws.drop_tcp();
    }

    // Four requests just under the 16 MiB limit at once.
    let senders: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let mut ws = WsTcp::connect(addr);
                let text = "y".repeat((16 << 20) - 100);
                ws.text(&json!({"method": "Len", "args": [text], "id": 1}).to_string());
                assert_eq!(ws.recv_json()["result"], json!((16 << 20) - 100));
                ws.close();
            })
        })
        .collect();
    for sender in senders {
        sender.join().expect("a large request");
    }
    report("4 messages of 16 MiB - 100 bytes at once");

    // 1,000 connections held open, then dropped.
    let held: Vec<WsTcp> = (0..1000).map(|_| WsTcp::connect(addr)).collect();
    report("1,000 open connections");
    for ws in held {
        ws.drop_tcp();
    }

    // 1,000 handshakes left incomplete (slowloris), then dropped.
    let slow: Vec<_> = (0..1000)
        .map(|_| {
            let mut stream = tcp::tcp(addr);
            let request = tcp::upgrade_request(addr);
            stream
                .write_all(&request.as_bytes()[..40])
                .expect("half a handshake");
            stream
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    report("1,000 incomplete handshakes");
    drop(slow);

    // 1,000 connections opened and dropped, one after another.
    for _ in 0..1000 {
        WsTcp::connect(addr).drop_tcp();
    }
    thread::sleep(Duration::from_millis(500));
    let mut ws = WsTcp::connect(addr);
    probe(&mut ws, 2);
    ws.close();
    report("after 1,000 connections opened and dropped");

    let _ = child.kill();
    let _ = child.wait();
}

fn probe(ws: &mut WsTcp, id: u64) {
    ws.text(&json!({"method": "Add", "args": [id, 1], "id": id}).to_string());
    assert_eq!(ws.recv_json()["result"], json!(id + 1));
}

/// `VmRSS` and `VmHWM` of process `pid`, in kB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak (`VmHWM`) of process `pid` to its current resident memory.
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
