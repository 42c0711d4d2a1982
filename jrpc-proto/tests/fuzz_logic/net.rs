//! Two checked endpoints A and B joined by a network that may deliver, reorder, drop or
//! duplicate the frames in flight, with a clock: the world both the `ops` fuzz target and the
//! proptest model of `tests/model.rs` drive, each with operations of its own. Every endpoint
//! operation goes through [`Peer`], which checks it.

use std::collections::VecDeque;
use std::time::Instant;

use arbitrary::Arbitrary;
use serde_json::json;

use super::peer::{Limits, Peer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// What the network does with a frame in flight; a number picks a frame (modulo their count).
#[derive(Debug, Clone, Arbitrary)]
pub enum Fate {
    /// Deliver the oldest frame.
    Head,
    /// Deliver some frame, overtaking the older ones.
    Reorder(u16),
    /// Lose a frame.
    Drop(u16),
    /// Deliver a copy of a frame and keep it in flight.
    Duplicate(u16),
}

/// The two endpoints, the frames in flight between them and the time.
pub struct Net {
    /// Milliseconds since the start (the base `Instant` both peers share).
    pub now_ms: u64,
    pub a: Peer,
    pub b: Peer,
    /// Frames in flight from A to B, and from B to A.
    ab: VecDeque<Vec<u8>>,
    ba: VecDeque<Vec<u8>>,
}

impl Net {
    pub fn new(la: Limits, lb: Limits) -> Self {
        let base = Instant::now();
        Self {
            now_ms: 0,
            a: Peer::new("A", la, base),
            b: Peer::new("B", lb, base),
            ab: VecDeque::new(),
            ba: VecDeque::new(),
        }
    }

    pub fn peer(&mut self, side: Side) -> &mut Peer {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Frames in flight from `from`.
    pub fn wire(&mut self, from: Side) -> &mut VecDeque<Vec<u8>> {
        match from {
            Side::A => &mut self.ab,
            Side::B => &mut self.ba,
        }
    }

    /// Moves every frame `side` queued onto the network.
    pub fn flush(&mut self, side: Side) {
        let frames = self.peer(side).flush();
        self.wire(side).extend(frames);
    }

    /// The network acts on the frames in flight from `from`.
    pub fn deliver(&mut self, from: Side, fate: &Fate) {
        let wire = self.wire(from);
        if wire.is_empty() {
            return;
        }
        let at = |i: &u16| usize::from(*i) % wire.len();
        let frame = match fate {
            Fate::Head => wire.pop_front(),
            Fate::Reorder(i) => wire.remove(at(i)),
            Fate::Drop(i) => {
                wire.remove(at(i));
                None
            }
            Fate::Duplicate(i) => wire.get(at(i)).cloned(),
        };
        if let Some(frame) = frame {
            // What an endpoint sends is text, and goes as a text message.
            let text = String::from_utf8(frame).expect("an endpoint sends UTF-8");
            self.peer(from.other())
                .receive_text(&text, "a frame from the peer");
        }
    }

    /// A frame in flight to `to` (the `pick`th, modulo their count), cut to `at` bytes (modulo
    /// its length) and handed over as a binary message.
    pub fn truncate(&mut self, to: Side, pick: u16, at: u16) {
        let wire = self.wire(to.other());
        if wire.is_empty() {
            return;
        }
        let frame = &wire[usize::from(pick) % wire.len()];
        let cut = frame[..usize::from(at) % frame.len().max(1)].to_vec();
        self.peer(to).receive(&cut, "a frame cut short");
    }

    /// A request `extra` bytes over the inbound limit of `to`, which closes it.
    pub fn oversized(&mut self, to: Side, extra: u16) {
        let peer = self.peer(to);
        let pad = "o".repeat(peer.limits().inbound + usize::from(extra));
        let frame = json!({"method": "Log", "args": [pad]}).to_string();
        peer.receive_text(&frame, "an oversized message");
    }

    /// `ms` pass, then `handle_timeout` on one side, or on both.
    pub fn advance(&mut self, ms: u64, who: Option<Side>) {
        self.now_ms += ms;
        let now = self.now_ms;
        match who {
            Some(side) => self.peer(side).timeout(now),
            None => {
                self.a.timeout(now);
                self.b.timeout(now);
            }
        }
    }

    /// Both endpoints' state (see [`Peer::check_state`]).
    pub fn check_state(&mut self) {
        self.a.check_state();
        self.b.check_state();
    }

    /// The end: twice, the queues drain onto the wire and every frame in flight arrives (as a
    /// binary message); then both close, and every call has resolved exactly once.
    pub fn finish(&mut self) {
        for _ in 0..2 {
            for side in [Side::A, Side::B] {
                self.flush(side);
            }
            for side in [Side::A, Side::B] {
                while let Some(frame) = self.wire(side).pop_front() {
                    self.peer(side.other())
                        .receive(&frame, "a frame at the end");
                }
            }
        }
        self.a.finish();
        self.b.finish();
    }
}
