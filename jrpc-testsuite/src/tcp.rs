//! A WebSocket client written byte by byte over a blocking std `TcpStream`, for the cases
//! that must send what no WebSocket library sends: fragments, control frames in between,
//! unmasked or reserved frames, lying lengths, half handshakes. It runs in a thread of its own
//! ([`blocking`](crate::hostile::blocking)), so it stays runtime-generic.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::WAIT;

/// Opcodes of RFC 6455.
pub(crate) const CONTINUATION: u8 = 0x0;
pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PING: u8 = 0x9;
pub(crate) const PONG: u8 = 0xA;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// A close frame with this code (`None`: a close frame without a code).
    Closed(Option<u16>),
    /// The TCP connection ended (EOF or reset) without a close frame.
    Dropped,
}

/// One frame as read.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) fin: bool,
    pub(crate) opcode: u8,
    pub(crate) payload: Vec<u8>,
}

/// A raw WebSocket client connection.
pub(crate) struct WsTcp {
    pub(crate) stream: TcpStream,
}

/// The opening handshake a browser would send.
pub(crate) fn upgrade_request(addr: SocketAddr) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Reads what a server answered to an HTTP request: everything up to the blank line, or to
/// the end of the stream.
pub(crate) fn read_http_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A blocking TCP connection to `addr` whose reads fail after [`WAIT`].
pub(crate) fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("TCP connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Waits for the server to end a TCP connection it was sent `stream` on (reading and
/// discarding whatever comes); how long that took. Fails after [`WAIT`].
pub(crate) fn await_tcp_end(stream: &mut TcpStream) -> Duration {
    let begun = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return begun.elapsed(),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => panic!("the server kept the connection for {WAIT:?}"),
            Err(_) => return begun.elapsed(),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl WsTcp {
    /// Connects and completes the opening handshake.
    pub(crate) fn connect(addr: SocketAddr) -> Self {
        let mut stream = tcp(addr);
        stream
            .write_all(upgrade_request(addr).as_bytes())
            .expect("send the handshake");
        let head = read_http_head(&mut stream);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "handshake refused: {head:?}"
        );
        Self { stream }
    }

    /// Writes bytes as they are.
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// One frame, masked as a client must.
    pub(crate) fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let bytes = encode(fin, opcode, payload, true, 0);
        self.raw(&bytes);
    }

    /// A text message in one frame.
    pub(crate) fn text(&mut self, text: &str) {
        self.frame(true, TEXT, text.as_bytes());
    }

    /// The next frame; `None` once the connection has ended.
    pub(crate) fn read_frame(&mut self) -> Option<Frame> {
        let mut head = [0u8; 2];
        if !self.read_exact(&mut head) {
            return None;
        }
        let fin = head[0] & 0x80 != 0;
        let opcode = head[0] & 0x0f;
        assert_eq!(head[1] & 0x80, 0, "a server must not mask its frames");
        let len = match head[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                if !self.read_exact(&mut ext) {
                    return None;
                }
                u64::from(u16::from_be_bytes(ext))
            }
            127 => {
                let mut ext = [0u8; 8];
                if !self.read_exact(&mut ext) {
                    return None;
                }
                u64::from_be_bytes(ext)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; usize::try_from(len).expect("a frame length")];
        if !self.read_exact(&mut payload) {
            return None;
        }
        Some(Frame {
            fin,
            opcode,
            payload,
        })
    }

    fn read_exact(&mut self, buffer: &mut [u8]) -> bool {
        match self.stream.read_exact(buffer) {
            Ok(()) => true,
            Err(e) if is_timeout(&e) => panic!("nothing came from the server for {WAIT:?}"),
            Err(_) => false,
        }
    }

    /// The next data message (pings and pongs skipped), which must be a complete JSON text.
    pub(crate) fn recv_json(&mut self) -> Value {
        loop {
            let frame = self
                .read_frame()
                .expect("a message, not the end of the connection");
            match frame.opcode {
                PING | PONG => continue,
                TEXT => {
                    assert!(frame.fin, "the server fragmented its message");
                    return serde_json::from_slice(&frame.payload).expect("JSON");
                }
                other => panic!("expected a text message, got opcode {other}: {frame:?}"),
            }
        }
    }

    /// Reads until the connection ends; how it ended. Data messages before the end are
    /// skipped. A close frame from the server is answered, as a client must.
    pub(crate) fn end(&mut self) -> End {
        while let Some(frame) = self.read_frame() {
            if frame.opcode == CLOSE {
                let code = (frame.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                let _ = self.stream.write_all(&encode(
                    true,
                    CLOSE,
                    &frame.payload[..2.min(frame.payload.len())],
                    true,
                    0,
                ));
                // The server drops the TCP connection after the close handshake.
                let mut rest = Vec::new();
                let _ = self.stream.read_to_end(&mut rest);
                return End::Closed(code);
            }
        }
        End::Dropped
    }

    /// Ends the connection as a client should: a close frame, then waits for the server's.
    pub(crate) fn close(mut self) {
        self.frame(true, CLOSE, &1000u16.to_be_bytes());
        assert_eq!(self.end(), End::Closed(Some(1000)));
    }

    /// Drops the TCP connection without a close frame.
    pub(crate) fn drop_tcp(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// The bytes of one frame. `rsv` goes into bits 4–6 of the first byte (0 for none).
pub(crate) fn encode(fin: bool, opcode: u8, payload: &[u8], masked: bool, rsv: u8) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(payload.len() + 14);
    bytes.push(u8::from(fin) << 7 | (rsv & 0x7) << 4 | (opcode & 0x0f));
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => bytes.push(mask_bit | n as u8),
        n @ 126..=0xffff => {
            bytes.push(mask_bit | 126);
            bytes.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            bytes.push(mask_bit | 127);
            bytes.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        bytes.extend_from_slice(&MASK);
        bytes.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, byte)| byte ^ MASK[i % 4]),
        );
    } else {
        bytes.extend_from_slice(payload);
    }
    bytes
}
