//! The calls of ours that await an answer, and the ids they travel under.
//!
//! Each call sits in a [`Slab`] slot. Its wire id packs a sequence number, which grows with
//! every call this endpoint ever makes, above the slot number: `id = (seq << slot_bits | slot) + 1`.
//! So an answer finds its call in O(1), and an id is never written twice on one endpoint: a late
//! answer to a call that timed out or was cancelled finds its slot empty or holding a call
//! with another id, and is reported as unknown instead of resolving the newer call.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
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
    /// Deadlines, earliest first: those that came in order (every call with the same timeout:
    /// the usual case, O(1) each) in a queue, the others in a heap; each read takes the earlier
    /// of the two fronts. Entries of calls already resolved are skipped when met, and both are
    /// pruned when they outnumber the live ones, so they stay O(outstanding).
    in_order: VecDeque<(Instant, CallId)>,
    out_of_order: BinaryHeap<Reverse<(Instant, CallId)>>,
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
            in_order: VecDeque::new(),
            out_of_order: BinaryHeap::new(),
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
            // Ids grow with every call, so the queue stays in (deadline, id) order.
            if self.in_order.back().is_none_or(|&(last, _)| last <= at) {
                self.in_order.push_back((at, id));
            } else {
                self.out_of_order.push(Reverse((at, id)));
            }
        }
        id
    }

    /// The slab slot `id` names: below the most calls outstanding at once so far, and shared
    /// with no other outstanding call.
    pub(crate) fn slot(&self, id: CallId) -> usize {
        slot_of(self.slot_bits, id)
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
        self.earliest().map(|(at, _)| at)
    }

    /// The earliest deadline entry of an outstanding call, dropping those of resolved calls met
    /// on the way.
    fn earliest(&mut self) -> Option<(Instant, CallId)> {
        let (slots, bits) = (&self.slots, self.slot_bits);
        while let Some(&(_, id)) = self.in_order.front() {
            if live(slots, bits, id) {
                break;
            }
            self.in_order.pop_front();
        }
        while let Some(&Reverse((_, id))) = self.out_of_order.peek() {
            if live(slots, bits, id) {
                break;
            }
            self.out_of_order.pop();
        }
        match (self.in_order.front(), self.out_of_order.peek()) {
            (Some(&a), Some(&Reverse(b))) => Some(a.min(b)),
            (Some(&a), None) => Some(a),
            (None, Some(&Reverse(b))) => Some(b),
            (None, None) => None,
        }
    }

    /// Removes every call whose deadline is at or before `now` and hands it to `expired`,
    /// earliest deadline first.
    pub(crate) fn expire(&mut self, now: Instant, mut expired: impl FnMut(CallId)) {
        while let Some((at, id)) = self.earliest() {
            if at > now {
                break;
            }
            if self.in_order.front() == Some(&(at, id)) {
                self.in_order.pop_front();
            } else {
                self.out_of_order.pop();
            }
            self.slots.remove(slot_of(self.slot_bits, id));
            expired(id);
        }
    }

    /// Removes and returns every outstanding call, in id order.
    pub(crate) fn drain(&mut self) -> Vec<CallId> {
        let mut ids: Vec<CallId> = self.slots.drain().map(|p| p.id).collect();
        ids.sort_unstable();
        self.in_order.clear();
        self.out_of_order.clear();
        ids
    }

    /// Drops deadline entries of resolved calls once they outnumber the live calls.
    fn compact_deadlines(&mut self) {
        if self.in_order.len() + self.out_of_order.len() > 2 * self.slots.len() + 32 {
            let (slots, bits) = (&self.slots, self.slot_bits);
            self.in_order.retain(|(_, id)| live(slots, bits, *id));
            self.out_of_order
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Deadlines in and out of order, with resolved calls among them, expire earliest first
    /// (ties in id order), and `next_deadline` names the earliest live one.
    #[test]
    fn deadlines_expire_earliest_first_in_or_out_of_order() {
        let t = Instant::now();
        let at = |s: u64| Some(t + Duration::from_secs(s));
        let mut calls = Outstanding::new(64);
        let ids: Vec<CallId> = [at(5), at(1), at(3), at(3), None, at(2), at(9)]
            .into_iter()
            .map(|deadline| calls.insert(deadline))
            .collect();
        // The call due at 1 is answered: it no longer counts.
        assert_eq!(calls.take(ids[1]), Some(ids[1]));
        assert_eq!(calls.next_deadline(), at(2));
        let mut expired = Vec::new();
        calls.expire(t + Duration::from_secs(5), |id| expired.push(id));
        assert_eq!(expired, [ids[5], ids[2], ids[3], ids[0]]);
        assert_eq!(calls.next_deadline(), at(9));
        assert_eq!(calls.len(), 2);
        assert_eq!(calls.drain(), [ids[4], ids[6]]);
        assert_eq!(calls.next_deadline(), None);
    }
}
