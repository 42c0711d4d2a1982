//! A minimal HTTP/1.1 responder for the examples' pages: `GET`/`HEAD` of a few files held in
//! memory, one request per connection, bounded in size, time and number of connections.
//!
//! Blocking `std::net` on threads of its own, so that it serves alike whichever async runtime
//! runs the JRPC server.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A file served: its URL path, its content type and its body.
pub(crate) type File = (&'static str, &'static str, String);

/// Largest request head read; a longer one is answered 431.
const MAX_HEAD: usize = 8 << 10;
/// How long one connection may take, from accept to the last byte of the response.
const DEADLINE: Duration = Duration::from_secs(10);
/// Connections answered at once (a thread each); more are closed unanswered.
const MAX_CONNECTIONS: usize = 64;

/// Answers requests on `listener` for the rest of the process, on a thread of its own.
pub(crate) fn spawn(listener: TcpListener, files: Arc<[File]>) -> io::Result<()> {
    thread::Builder::new()
        .name("http".to_owned())
        .spawn(move || serve(&listener, &files))?;
    Ok(())
}

fn serve(listener: &TcpListener, files: &Arc<[File]>) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "HTTP accept failed");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            tracing::debug!(%peer, "HTTP connection refused: too many at once");
            continue;
        }
        // Counts the connection until its thread ends (or fails to start).
        let slot = Slot(active.clone());
        let files = files.clone();
        let spawned = thread::Builder::new()
            .name("http-conn".to_owned())
            .spawn(move || {
                let _slot = slot;
                if let Err(e) = respond(stream, &files, Instant::now() + DEADLINE) {
                    tracing::debug!(%peer, error = %e, "HTTP request failed");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(%peer, error = %e, "cannot start an HTTP connection thread");
        }
    }
}

/// One connection's place among the [`MAX_CONNECTIONS`].
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The time left until `deadline`, or a `TimedOut` error once it has passed.
fn left(deadline: Instant) -> io::Result<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "HTTP deadline passed"))
}

/// Writes all of `bytes` by `deadline`.
fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.set_write_timeout(Some(left(deadline)?))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn respond(mut stream: TcpStream, files: &[File], deadline: Instant) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() <= MAX_HEAD {
        stream.set_read_timeout(Some(left(deadline)?))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let line = String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or_default());
    let mut words = line.split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = match target.split(['?', '#']).next().unwrap_or("") {
        "/" => "/index.html",
        path => path,
    };
    tracing::debug!(method, path, "HTTP request");
    let (status, kind, body) = match files.iter().find(|(p, _, _)| *p == path) {
        _ if head.len() > MAX_HEAD => ("431 Request Header Fields Too Large", "text/plain", ""),
        _ if method != "GET" && method != "HEAD" => ("405 Method Not Allowed", "text/plain", ""),
        Some((_, kind, body)) => ("200 OK", *kind, body.as_str()),
        None => ("404 Not Found", "text/plain", "not found\n"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    write_by(&mut stream, head.as_bytes(), deadline)?;
    if method != "HEAD" {
        write_by(&mut stream, body.as_bytes(), deadline)?;
    }
    stream.shutdown(Shutdown::Write)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Serves `files` on a free port; returns the address.
    fn server(files: Vec<File>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        spawn(listener, files.into()).unwrap();
        addr
    }

    fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn serves_get_and_head_and_refuses_the_rest() {
        let addr = server(vec![("/index.html", "text/html", "<p>hi</p>".to_owned())]);
        let get = exchange(addr, b"GET /?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
        assert!(get.contains("Content-Length: 9\r\n"), "{get}");
        assert!(get.ends_with("\r\n\r\n<p>hi</p>"), "{get}");
        let head = exchange(addr, b"HEAD /index.html HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"));
        let missing = exchange(addr, b"GET /nope HTTP/1.1\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        let post = exchange(addr, b"POST / HTTP/1.1\r\n\r\n");
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        let huge = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD + 10]].concat();
        let refused = exchange(addr, &huge);
        assert!(refused.starts_with("HTTP/1.1 431 "), "{refused}");
        // Not HTTP at all: answered, not a crash.
        let junk = exchange(addr, b"\xff\xfe\r\n\r\n");
        assert!(junk.starts_with("HTTP/1.1 "), "{junk}");
    }
}
