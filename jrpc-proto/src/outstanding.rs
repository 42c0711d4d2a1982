//! The calls of ours that await an answer, and the ids they travel under.
//!
//! Each call sits in a [`Slab`] slot. Its wire id packs a sequence number, which grows with
//! every call this endpoint ever makes, above the slot number: `id = (seq << slot_bits | slot) + 1`.
//! So an answer finds its call in O(1), and an id is never written twice on one endpoint: a late
//! answer to a call that timed out or was cancelled finds its slot empty or holding a call
//! with another id, and is reported as unknown instead of resolving the newer call.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use serde_json::Value;
use slab::Slab;

use crate::CallError;

/// The largest id a peer of this project writes: 2^53 − 1, the largest integer a JavaScript
/// number holds exactly.
pub const MAX_ID: u64 = (1 << 53) - 1;

/// Identifies one of our calls; [`CallId::get`] is the id written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(u64);

impl CallId {
    /// The id as written on the wire: a positive integer at most 2^53 − 1.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One outstanding call.
#[derive(Debug)]
struct Pending {
    id: CallId,
    deadline: Option<Instant>,
}

/// The table of outstanding calls, keyed by wire id, with their deadlines.
#[derive(Debug)]
pub(crate) struct Outstanding {
    slots: Slab<Pending>,
    limit: usize,
    slot_bits: u32,
    next_seq: u64,
    seq_end: u64,
    /// Deadlines, earliest first. Entries of calls already resolved are skipped when met, and
    /// the heap is rebuilt when they outnumber the live ones, so it stays O(outstanding).
    deadlines: BinaryHeap<Reverse<(Instant, CallId)>>,
}

impl Outstanding {
    /// A table that holds at most `limit` calls (1..=2^20).
    pub(crate) fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        let slot_bits = (usize::BITS - (limit - 1).leading_zeros()).max(1);
        Self {
            slots: Slab::new(),
            limit,
            slot_bits,
            next_seq: 0,
            // Keeps every id at or below MAX_ID: ((seq_end - 1) << bits | mask) + 1 <= 2^53 - 1.
            seq_end: (1u64 << (53 - slot_bits)) - 1,
            deadlines: BinaryHeap::new(),
        }
    }

    /// Number of calls awaiting an answer.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether one more call would be refused for the limit.
    pub(crate) fn check_room(&self) -> Result<(), CallError> {
        if self.slots.len() >= self.limit {
            return Err(CallError::TooManyOutstanding { limit: self.limit });
        }
        if self.next_seq >= self.seq_end {
            return Err(CallError::IdsExhausted);
        }
        Ok(())
    }

    /// The id the next call will get, once [`Outstanding::check_room`] passed.
    pub(crate) fn next_id(&self) -> CallId {
        let slot = self.slots.vacant_key() as u64;
        CallId(((self.next_seq << self.slot_bits) | slot) + 1)
    }

    /// Records a new call under [`Outstanding::next_id`].
    pub(crate) fn insert(&mut self, deadline: Option<Instant>) -> CallId {
        let id = self.next_id();
        self.next_seq += 1;
        self.slots.insert(Pending { id, deadline });
        if let Some(at) = deadline {
            self.deadlines.push(Reverse((at, id)));
        }
        id
    }

    /// Removes and returns the call this wire id names, if it is outstanding.
    pub(crate) fn take_wire(&mut self, id: &Value) -> Option<CallId> {
        let raw = id.as_u64().filter(|&n| (1..=MAX_ID).contains(&n))?;
        self.take(CallId(raw))
    }

    /// Removes the call, if it is outstanding.
    pub(crate) fn take(&mut self, id: CallId) -> Option<CallId> {
        if !live(&self.slots, self.slot_bits, id) {
            return None;
        }
        let pending = self.slots.remove(slot_of(self.slot_bits, id));
        if pending.deadline.is_some() {
            self.compact_deadlines();
        }
        Some(pending.id)
    }

    /// The earliest deadline of an outstanding call.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.deadlines.peek().copied() {
            if live(&self.slots, self.slot_bits, id) {
                return Some(at);
            }
            self.deadlines.pop();
        }
        None
    }

    /// Removes every call whose deadline is at or before `now` and hands it to `expired`,
    /// earliest deadline first.
    pub(crate) fn expire(&mut self, now: Instant, mut expired: impl FnMut(CallId)) {
        while let Some(Reverse((at, id))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if live(&self.slots, self.slot_bits, id) {
                self.slots.remove(slot_of(self.slot_bits, id));
                expired(id);
            }
        }
    }

    /// Removes and returns every outstanding call, in id order.
    pub(crate) fn drain(&mut self) -> Vec<CallId> {
        let mut ids: Vec<CallId> = self.slots.drain().map(|p| p.id).collect();
        ids.sort_unstable();
        self.deadlines.clear();
        ids
    }

    /// Drops deadline entries of resolved calls once they outnumber the live calls.
    fn compact_deadlines(&mut self) {
        if self.deadlines.len() > 2 * self.slots.len() + 32 {
            let (slots, bits) = (&self.slots, self.slot_bits);
            self.deadlines
                .retain(|Reverse((_, id))| live(slots, bits, *id));
        }
    }
}

/// The slab slot an id of ours names (its low `bits` bits, which are below 2^20).
fn slot_of(bits: u32, id: CallId) -> usize {
    ((id.0 - 1) & ((1u64 << bits) - 1)) as usize
}

/// Whether `id` is outstanding: its slot holds a call with exactly this id.
fn live(slots: &Slab<Pending>, bits: u32, id: CallId) -> bool {
    slots.get(slot_of(bits, id)).is_some_and(|p| p.id == id)
}
