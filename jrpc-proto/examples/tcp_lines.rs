//! Two JRPC endpoints over a blocking TCP socket, one JSON message per line: the core
//! embedded in a transport of its own, with plain threads and no async runtime.
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Instant;

use jrpc_proto::{Endpoint, Event, Params};
use serde_json::{Value, json};

/// Writes every queued frame, one per line.
fn flush(ep: &mut Endpoint, out: &mut TcpStream) -> io::Result<()> {
    while let Some(frame) = ep.poll_transmit() {
        out.write_all(frame.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Answers the peer's requests (its method: `Add`) until our `calls` are answered, then
/// half-closes and keeps answering until the peer half-closes too. Returns our results.
fn drive(ep: &mut Endpoint, stream: TcpStream, calls: usize) -> io::Result<Vec<Value>> {
    let mut out = stream.try_clone()?;
    let mut results = Vec::new();
    flush(ep, &mut out)?;
    for line in BufReader::new(stream).lines() {
        ep.handle_frame(line?.as_bytes())
            .map_err(io::Error::other)?;
        while let Some(event) = ep.poll_event() {
            match event {
                Event::Request(req) => {
                    let sum = req.params.bind::<(i64, i64)>().map(|(a, b)| json!(a + b));
                    ep.reply(req.responder, sum);
                }
                Event::Notification(n) => {
                    println!("notified: {} {:?}", n.method, n.params.to_params().args)
                }
                Event::Outcome(done) => results.push(done.result.map_err(io::Error::other)?),
                Event::Diagnostic(d) => eprintln!("ignored input: {d:?}"),
            }
        }
        flush(ep, &mut out)?;
        if results.len() == calls {
            out.shutdown(Shutdown::Write)?;
        }
    }
    Ok(results)
}

fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> io::Result<Vec<Value>> {
        let (stream, _) = listener.accept()?;
        let mut ep = Endpoint::default();
        let args = Params::positional(vec![json!(1), json!(2)]);
        ep.call("Add", &args, Instant::now(), None)
            .map_err(io::Error::other)?;
        drive(&mut ep, stream, 1)
    });
    let mut ep = Endpoint::default();
    let args = Params::positional(vec![json!(5), json!(10)]);
    ep.call("Add", &args, Instant::now(), None)
        .map_err(io::Error::other)?;
    ep.notify("Log", &Params::positional(vec![json!("hello")]))
        .map_err(io::Error::other)?;
    let client = drive(&mut ep, TcpStream::connect(addr)?, 1)?;
    let server = server
        .join()
        .map_err(|_| io::Error::other("server thread panicked"))??;
    println!("client got {client:?}, server got {server:?}");
    assert_eq!((client, server), (vec![json!(15)], vec![json!(3)]));
    Ok(())
}
