//! A measurement, not a floor: a WebSocket as a `Stream` and a `Sink` of messages written
//! straight over tungstenite's own `WebSocket`, without tokio-tungstenite's compatibility
//! layer, which registers the task's waker in two `AtomicWaker`s and wraps the socket's
//! errors for every message. Here the socket holds the task's waker (compared at each poll,
//! cloned only when it changed), and each read or write of tungstenite polls it with that
//! waker. `echo-direct` and
//! `jrpc-direct` (opt-in systems) run `echo` and jrpc-tokio's connections on it, to measure
//! what that layer costs each (BENCHMARKS.md's ledger).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message};

/// An async socket seen as a blocking one by tungstenite: `Pending` becomes `WouldBlock`, and
/// the waker it registers is the one the last poll of the [`Direct`] socket brought.
struct Io<S> {
    stream: S,
    waker: Waker,
}

impl<S: AsyncRead + Unpin> io::Read for Io<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(&self.waker);
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut self.stream).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(())) => Ok(buf.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<S: AsyncWrite + Unpin> io::Write for Io<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(&self.waker);
        match Pin::new(&mut self.stream).poll_write(&mut cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut cx = Context::from_waker(&self.waker);
        match Pin::new(&mut self.stream).poll_flush(&mut cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// A server's WebSocket after its handshake, driven by tungstenite directly.
pub struct Direct<S> {
    ws: WebSocket<Io<S>>,
    /// A frame was taken while the socket was full: flush before the next.
    full: bool,
    ended: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Direct<S> {
    /// The server's side of the connection on `stream`, its handshake done.
    pub fn server(stream: S, config: WebSocketConfig) -> Self {
        let io = Io {
            stream,
            waker: Waker::noop().clone(),
        };
        Self {
            ws: WebSocket::from_raw_socket(io, Role::Server, Some(config)),
            full: false,
            ended: false,
        }
    }

    /// Keeps the task's waker for the socket's reads and writes (cloned only when it changed).
    fn register(&mut self, cx: &Context<'_>) {
        let waker = &mut self.ws.get_mut().waker;
        if !waker.will_wake(cx.waker()) {
            waker.clone_from(cx.waker());
        }
    }

    fn poll_flush_inner(&mut self) -> Poll<Result<(), Error>> {
        match self.ws.flush() {
            Ok(()) => {
                self.full = false;
                Poll::Ready(Ok(()))
            }
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for Direct<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        this.register(cx);
        match this.ws.read() {
            Ok(message) => Poll::Ready(Some(Ok(message))),
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(Error::ConnectionClosed | Error::AlreadyClosed) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Err(e) => {
                this.ended = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for Direct<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if !this.full {
            return Poll::Ready(Ok(()));
        }
        this.register(cx);
        this.poll_flush_inner()
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        let this = self.get_mut();
        match this.ws.write(item) {
            Ok(()) => Ok(()),
            // Taken into tungstenite's buffer; the socket is full for now.
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                this.full = true;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.register(cx);
        this.poll_flush_inner()
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.register(cx);
        match this.ws.close(None) {
            Ok(()) | Err(Error::ConnectionClosed | Error::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
