//! A tokio stream read through jrpc-driver's `ReadAhead`: what every WebSocket of the adapter
//! runs over.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use jrpc_driver::ReadAhead;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream (a TCP connection, a server's or a client's, under TLS for `wss://`; or one
/// another HTTP server upgraded) whose reads go through jrpc-driver's `ReadAhead`: a large
/// message is read from the kernel 64 KiB at a time, not in reads of the WebSocket layer's
/// small buffer. Writes pass straight through.
#[derive(Debug)]
pub struct ReadAheadStream<S> {
    io: S,
    ahead: ReadAhead,
}

impl<S> ReadAheadStream<S> {
    /// `io`, read through a read-ahead buffer during bursts.
    pub fn new(io: S) -> Self {
        Self {
            io,
            ahead: ReadAhead::default(),
        }
    }

    /// The stream underneath (reading from it directly skips bytes already read ahead).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAheadStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Self { io, ahead } = self.get_mut();
        let read = ahead.poll_read(buf.initialize_unfilled(), |into| {
            let mut into = ReadBuf::new(into);
            Pin::new(io)
                .poll_read(cx, &mut into)
                .map_ok(|()| into.filled().len())
        });
        read.map_ok(|n| buf.advance(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAheadStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
