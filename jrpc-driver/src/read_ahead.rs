//! Where a socket is read: under the WebSocket layer, small reads while messages are small,
//! large ones through a buffer lent for a burst.
//!
//! tungstenite reads at most its read buffer's size from the socket per call
//! ([`Config::read_buffer_size`](crate::Config::read_buffer_size), 4 KiB, kept small because
//! every connection holds it, idle or not). A 1 MiB message then takes 256 reads from the
//! kernel, and their fixed cost was a quarter of a server's CPU on large messages.
//! [`ReadAhead`] sits between the WebSocket layer and the socket (each adapter wraps its TCP
//! stream in it): a read that fills the buffer it was given starts a *burst*, during which the
//! socket is read [`AHEAD`] bytes at a time into a buffer of the burst's own, and the WebSocket
//! layer's reads are served from it. The burst ends when the socket has nothing more to read,
//! and its buffer goes back to the thread's spare (one per thread, `SPARE`; a burst takes it
//! from there before it allocates one): an idle connection holds nothing more than before, and
//! a busy one does not allocate and clear 64 KiB for each burst (at 256 small calls in flight
//! that was 4% of a server's instructions).

use std::cell::Cell;
use std::io;
use std::task::Poll;

/// Most bytes read from the socket in one call during a burst.
pub const AHEAD: usize = 64 << 10;

thread_local! {
    /// The burst buffer of the last burst that ended on this thread, for the next one to take:
    /// a thread's connections share one buffer's memory between bursts (and between two bursts
    /// of one connection), not one each.
    static SPARE: Cell<Box<[u8]>> = Cell::new(Box::default());
}

/// The read side of a connection's socket, under the WebSocket layer: a read that fills the
/// buffer it was given starts a burst, during which the socket is read [`AHEAD`] bytes at a
/// time and the caller's reads are served from those; at the first read that finds nothing,
/// the burst ends and its buffer goes back to the thread (one spare buffer per thread, taken
/// by the next burst), so an idle connection holds none. A 1 MiB message, read by
/// tungstenite's 4 KiB reads, took 256 system calls; with this, 17.
///
/// Runtime-free: an adapter's stream type calls [`ReadAhead::poll_read`] with a function that
/// reads its socket.
#[derive(Debug, Default)]
pub struct ReadAhead {
    /// The burst's buffer, empty (not allocated) outside a burst.
    buffer: Box<[u8]>,
    /// Its bytes read from the socket and not yet handed on: `buffer[start..end]`.
    start: usize,
    end: usize,
    /// Whether the last read from the socket filled what it was given (more may be waiting).
    burst: bool,
}

impl ReadAhead {
    /// Fills the start of `into` with the socket's next bytes and says how many: bytes read
    /// ahead before, or bytes `read` reads now (`read` is the socket's own non-blocking read,
    /// called at most once). `Ready(Ok(0))` only at the end of the stream (or for an empty
    /// `into`); `Pending` when `read` is (its waker registered by `read`).
    pub fn poll_read(
        &mut self,
        into: &mut [u8],
        read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if self.start < self.end {
            return Poll::Ready(Ok(self.hand_on(into)));
        }
        if into.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !self.burst || into.len() >= AHEAD {
            let result = read(into);
            match &result {
                Poll::Ready(Ok(n)) => self.burst = *n == into.len(),
                Poll::Pending => self.burst = false,
                Poll::Ready(Err(_)) => {}
            }
            return result;
        }
        if self.buffer.is_empty() {
            self.buffer = SPARE.try_with(Cell::take).unwrap_or_default();
            if self.buffer.len() != AHEAD {
                self.buffer = vec![0; AHEAD].into_boxed_slice();
            }
        }
        match read(&mut self.buffer) {
            Poll::Ready(Ok(n)) => {
                self.end = n.min(self.buffer.len());
                Poll::Ready(Ok(self.hand_on(into)))
            }
            Poll::Pending => {
                self.end_burst();
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }

    /// Bytes read ahead and not yet handed on.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Moves as many of the bytes read ahead as fit into `into`; ends the burst (gives its
    /// buffer back) if the socket read none (the end of the stream).
    fn hand_on(&mut self, into: &mut [u8]) -> usize {
        let ahead = self.buffer.get(self.start..self.end).unwrap_or_default();
        let n = ahead.len().min(into.len());
        into[..n].copy_from_slice(&ahead[..n]);
        self.start += n;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
            if n == 0 {
                self.end_burst();
            }
        }
        n
    }

    /// Ends the burst: the next read goes straight to the caller's buffer, and the burst's
    /// buffer becomes the thread's spare (the spare it replaces, if any, is freed).
    fn end_burst(&mut self) {
        self.burst = false;
        let buffer = std::mem::take(&mut self.buffer);
        if !buffer.is_empty() {
            let _ = SPARE.try_with(|spare| spare.replace(buffer));
        }
    }
}

/// A connection dropped during a burst leaves its buffer to the thread's next burst.
impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.end_burst();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket holding `data`, then `Pending` (or the end of the stream once `closed`);
    /// counts its reads.
    struct Socket {
        data: Vec<u8>,
        at: usize,
        reads: usize,
        closed: bool,
    }

    impl Socket {
        fn new(data: Vec<u8>) -> Self {
            Self {
                data,
                at: 0,
                reads: 0,
                closed: false,
            }
        }

        fn read(&mut self, into: &mut [u8]) -> Poll<io::Result<usize>> {
            self.reads += 1;
            let rest = &self.data[self.at..];
            if rest.is_empty() && !self.closed {
                return Poll::Pending;
            }
            let n = rest.len().min(into.len());
            into[..n].copy_from_slice(&rest[..n]);
            self.at += n;
            Poll::Ready(Ok(n))
        }
    }

    /// Reads through `ahead` into buffers of `size` until `Pending` or the end; what was read.
    fn read_all(ahead: &mut ReadAhead, socket: &mut Socket, size: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut into = vec![0u8; size];
        while let Poll::Ready(Ok(n @ 1..)) = ahead.poll_read(&mut into, |b| socket.read(b)) {
            got.extend_from_slice(&into[..n]);
        }
        got
    }

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn a_large_burst_is_read_in_few_reads_and_handed_on_whole_and_in_order() {
        let data = bytes(1 << 20);
        let mut socket = Socket::new(data.clone());
        let mut ahead = ReadAhead::default();
        let got = read_all(&mut ahead, &mut socket, 4 << 10);
        assert_eq!(got, data);
        // One read of 4 KiB, then AHEAD at a time, then the read that found nothing.
        let expected = 1 + ((1usize << 20) - (4 << 10)).div_ceil(AHEAD) + 1;
        assert_eq!(socket.reads, expected);
        // The burst ended at `Pending`: nothing held.
        assert!(ahead.buffer.is_empty() && ahead.buffered() == 0 && !ahead.burst);
    }

    #[test]
    fn a_burst_takes_the_buffer_the_last_one_left_on_its_thread() {
        let spare_len = || {
            SPARE.with(|spare| {
                let buffer = spare.take();
                let len = buffer.len();
                spare.set(buffer);
                len
            })
        };
        let mut ahead = ReadAhead::default();
        let mut socket = Socket::new(bytes(100 << 10));
        let mut into = [0u8; 4096];
        let mut read = |ahead: &mut ReadAhead| ahead.poll_read(&mut into, |b| socket.read(b));
        assert!(matches!(read(&mut ahead), Poll::Ready(Ok(4096))));
        assert!(matches!(read(&mut ahead), Poll::Ready(Ok(4096))));
        let address = ahead.buffer.as_ptr();
        assert_eq!((ahead.buffer.len(), spare_len()), (AHEAD, 0));
        while let Poll::Ready(Ok(1..)) = read(&mut ahead) {}
        // Ended at `Pending`: the buffer is the thread's spare now, not the connection's.
        assert_eq!((ahead.buffer.len(), spare_len()), (0, AHEAD));
        // Another connection's burst on this thread takes that same buffer.
        let mut other = ReadAhead::default();
        let mut socket = Socket::new(bytes(10 << 10));
        let mut into = [0u8; 4096];
        for _ in 0..2 {
            let _ = other.poll_read(&mut into, |b| socket.read(b));
        }
        assert_eq!(other.buffer.as_ptr(), address);
        assert_eq!(spare_len(), 0);
        // Dropped during its burst, it leaves the buffer behind.
        drop(other);
        assert_eq!(spare_len(), AHEAD);
    }

    #[test]
    fn small_reads_go_straight_to_the_callers_buffer() {
        let mut socket = Socket::new(bytes(100));
        let mut ahead = ReadAhead::default();
        assert_eq!(read_all(&mut ahead, &mut socket, 4 << 10), bytes(100));
        assert_eq!(socket.reads, 2);
        assert!(
            ahead.buffer.is_empty(),
            "no buffer for a read that did not fill its own"
        );
    }

    #[test]
    fn what_was_read_ahead_outlives_pending_and_the_end_is_reported_after_it() {
        let data = bytes(10_000);
        let mut socket = Socket::new(data.clone());
        let mut ahead = ReadAhead::default();
        let mut into = [0u8; 1000];
        // The first read fills 1000: a burst; the second reads the other 9000 ahead.
        let mut got = Vec::new();
        for _ in 0..2 {
            let Poll::Ready(Ok(n)) = ahead.poll_read(&mut into, |b| socket.read(b)) else {
                panic!("data was there");
            };
            got.extend_from_slice(&into[..n]);
        }
        assert_eq!(ahead.buffered(), 8000);
        socket.closed = true;
        got.extend(read_all(&mut ahead, &mut socket, 1000));
        assert_eq!(got, data);
        // The end of the stream came after the bytes read ahead, and freed the burst's buffer.
        let mut into = [0u8; 16];
        assert!(matches!(
            ahead.poll_read(&mut into, |b| socket.read(b)),
            Poll::Ready(Ok(0))
        ));
        assert!(ahead.buffer.is_empty());
    }

    #[test]
    fn errors_pass_through_and_an_empty_buffer_reads_nothing() {
        let mut ahead = ReadAhead::default();
        let mut into = [0u8; 8];
        let failed = ahead.poll_read(&mut into, |_| {
            Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
        });
        assert!(
            matches!(failed, Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset)
        );
        let empty = ahead.poll_read(&mut [], |_| panic!("no read for an empty buffer"));
        assert!(matches!(empty, Poll::Ready(Ok(0))));
    }
}
