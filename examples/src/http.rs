//! A minimal HTTP/1.1 responder for the examples' pages: `GET`/`HEAD` of a few files held in
//! memory, one request per connection, bounded in size and time.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A file served: its URL path, its content type and its body.
pub(crate) type File = (&'static str, &'static str, String);

const MAX_HEAD: usize = 8 << 10;
const DEADLINE: Duration = Duration::from_secs(10);

/// Answers requests on `listener` forever, each connection in a task of its own.
pub(crate) async fn serve(listener: TcpListener, files: Arc<[File]>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let files = files.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(DEADLINE, respond(stream, &files)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTP request failed"),
                Err(_) => tracing::debug!(%peer, "HTTP request timed out"),
            }
        });
    }
}

async fn respond(mut stream: TcpStream, files: &[File]) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() <= MAX_HEAD {
        match stream.read(&mut buf).await? {
            0 => return Ok(()),
            n => head.extend_from_slice(&buf[..n]),
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
    stream.write_all(head.as_bytes()).await?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}
