//! A fixed-capacity deadline queue: ping, stale-data, reconnect backoff,
//! rotation and order timeouts all live here.
//!
//! An indexed binary min-heap over a slab of slots. Every array is allocated
//! in [`Timers::with_capacity`]; scheduling, cancelling, rescheduling and
//! popping never allocate. A full queue hands the key back instead of
//! growing. Equal deadlines fire in scheduling order, so runs are
//! reproducible. A [`TimerId`] carries a generation, so cancelling a timer
//! that already fired (and whose slot was reused) is a harmless no-op.

use odex_shared::market::Nanos;

/// Names one scheduled timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot<K> {
    deadline: Nanos,
    seq: u64,
    generation: u32,
    /// Position in `heap` while scheduled.
    pos: Option<u32>,
    key: Option<K>,
}

/// The timer queue, generic over the key handed back when a timer fires.
#[derive(Debug)]
pub struct Timers<K> {
    slots: Vec<Slot<K>>,
    heap: Vec<u32>,
    free: Vec<u32>,
    seq: u64,
}

impl<K: Copy> Timers<K> {
    /// A queue holding at most `capacity` timers (capped at `u32::MAX`).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.min(u32::MAX as usize);
        let slots = (0..capacity)
            .map(|_| Slot { deadline: Nanos(0), seq: 0, generation: 0, pos: None, key: None })
            .collect::<Vec<_>>();
        let free = (0..capacity).rev().filter_map(|i| u32::try_from(i).ok()).collect::<Vec<_>>();
        Self { slots, heap: Vec::with_capacity(capacity), free, seq: 0 }
    }

    /// Timers currently scheduled.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The most timers this queue holds.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Schedules `key` to fire at `deadline`.
    ///
    /// # Errors
    /// When the queue is full the key is handed back.
    pub fn schedule(&mut self, deadline: Nanos, key: K) -> Result<TimerId, K> {
        let Some(slot_index) = self.free.pop() else { return Err(key) };
        let pos = u32::try_from(self.heap.len()).unwrap_or(u32::MAX);
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let Some(slot) = self.slots.get_mut(slot_index as usize) else { return Err(key) };
        slot.deadline = deadline;
        slot.seq = seq;
        slot.pos = Some(pos);
        slot.key = Some(key);
        let id = TimerId { slot: slot_index, generation: slot.generation };
        self.heap.push(slot_index);
        self.sift_up(pos as usize);
        Ok(id)
    }

    /// Cancels a timer; returns its key if it was still scheduled.
    pub fn cancel(&mut self, id: TimerId) -> Option<K> {
        let pos = self.live_pos(id)?;
        self.remove_at(pos)
    }

    /// Moves a scheduled timer to `deadline`; false if it is no longer scheduled.
    pub fn reschedule(&mut self, id: TimerId, deadline: Nanos) -> bool {
        let Some(pos) = self.live_pos(id) else { return false };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        if let Some(slot) = self.slots.get_mut(id.slot as usize) {
            slot.deadline = deadline;
            slot.seq = seq;
        }
        self.sift_up(pos);
        self.sift_down(pos);
        true
    }

    /// True while `id` is scheduled.
    pub fn is_scheduled(&self, id: TimerId) -> bool {
        self.live_pos(id).is_some()
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<Nanos> {
        let first = self.heap.first()?;
        self.slots.get(*first as usize).map(|s| s.deadline)
    }

    /// Removes and returns the earliest timer whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Nanos) -> Option<(TimerId, K)> {
        let first = *self.heap.first()?;
        let slot = self.slots.get(first as usize)?;
        if slot.deadline > now {
            return None;
        }
        let id = TimerId { slot: first, generation: slot.generation };
        self.remove_at(0).map(|k| (id, k))
    }

    fn live_pos(&self, id: TimerId) -> Option<usize> {
        let slot = self.slots.get(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.pos.map(|p| p as usize)
    }

    fn remove_at(&mut self, pos: usize) -> Option<K> {
        let last = self.heap.len().checked_sub(1)?;
        let slot_index = *self.heap.get(pos)?;
        self.swap(pos, last);
        self.heap.pop();
        if pos < self.heap.len() {
            self.sift_up(pos);
            self.sift_down(pos);
        }
        let slot = self.slots.get_mut(slot_index as usize)?;
        slot.pos = None;
        slot.generation = slot.generation.wrapping_add(1);
        let key = slot.key.take();
        self.free.push(slot_index);
        key
    }

    /// Orders by (deadline, scheduling sequence).
    fn less(&self, a: usize, b: usize) -> bool {
        let key = |p: usize| self.heap.get(p).and_then(|s| self.slots.get(*s as usize)).map(|s| (s.deadline, s.seq));
        match (key(a), key(b)) {
            (Some(x), Some(y)) => x < y,
            _ => false,
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b || a >= self.heap.len() || b >= self.heap.len() {
            return;
        }
        self.heap.swap(a, b);
        for p in [a, b] {
            if let Some(s) = self.heap.get(p).copied()
                && let Some(slot) = self.slots.get_mut(s as usize)
            {
                slot.pos = u32::try_from(p).ok();
            }
        }
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if !self.less(pos, parent) {
                break;
            }
            self.swap(pos, parent);
            pos = parent;
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        loop {
            let left = pos.saturating_mul(2).saturating_add(1);
            let right = left.saturating_add(1);
            let mut smallest = pos;
            if left < self.heap.len() && self.less(left, smallest) {
                smallest = left;
            }
            if right < self.heap.len() && self.less(right, smallest) {
                smallest = right;
            }
            if smallest == pos {
                break;
            }
            self.swap(pos, smallest);
            pos = smallest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SimClock};

    #[test]
    fn fires_in_deadline_then_scheduling_order() {
        let clock = SimClock::new(Nanos(0));
        let mut t = Timers::with_capacity(8);
        t.schedule(Nanos(30), 'c').unwrap();
        t.schedule(Nanos(10), 'a').unwrap();
        t.schedule(Nanos(20), 'b').unwrap();
        t.schedule(Nanos(20), 'B').unwrap();
        assert_eq!(t.next_deadline(), Some(Nanos(10)));
        assert!(t.pop_expired(clock.monotonic()).is_none());
        clock.set(Nanos(20));
        let fired: Vec<char> = std::iter::from_fn(|| t.pop_expired(clock.monotonic()).map(|x| x.1)).collect();
        assert_eq!(fired, ['a', 'b', 'B']);
        clock.advance(Nanos(100));
        assert_eq!(t.pop_expired(clock.monotonic()).map(|x| x.1), Some('c'));
        assert!(t.is_empty());
    }

    #[test]
    fn full_queue_hands_the_key_back_and_cancel_frees() {
        let mut t = Timers::with_capacity(2);
        let a = t.schedule(Nanos(1), 1).unwrap();
        t.schedule(Nanos(2), 2).unwrap();
        assert_eq!(t.schedule(Nanos(3), 3), Err(3));
        assert_eq!(t.cancel(a), Some(1));
        assert_eq!(t.cancel(a), None, "second cancel is a no-op");
        let c = t.schedule(Nanos(0), 4).unwrap();
        // the reused slot does not answer to the old id
        assert!(!t.is_scheduled(a));
        assert!(t.is_scheduled(c));
        assert_eq!(t.pop_expired(Nanos(5)).map(|x| x.1), Some(4));
        assert_eq!(t.pop_expired(Nanos(5)).map(|x| x.1), Some(2));
        assert_eq!(t.capacity(), 2);
    }

    #[test]
    fn reschedule_moves_both_ways() {
        let mut t = Timers::with_capacity(4);
        let a = t.schedule(Nanos(10), 'a').unwrap();
        let b = t.schedule(Nanos(20), 'b').unwrap();
        assert!(t.reschedule(b, Nanos(5)));
        assert_eq!(t.next_deadline(), Some(Nanos(5)));
        assert!(t.reschedule(b, Nanos(50)));
        assert!(t.reschedule(a, Nanos(60)));
        assert_eq!(t.pop_expired(Nanos(100)).map(|x| x.1), Some('b'));
        assert!(!t.reschedule(b, Nanos(1)), "fired timers cannot be moved");
        assert_eq!(t.pop_expired(Nanos(100)).map(|x| x.1), Some('a'));
    }

    #[test]
    fn matches_a_sorted_model_under_random_operations() {
        let mut rng = crate::net::rng::SeededRng::new(99);
        let mut t = Timers::with_capacity(64);
        let mut model: Vec<(u64, u64, TimerId)> = Vec::new(); // (deadline, seq, id)
        let mut seq = 0u64;
        let mut now = 0u64;
        for _ in 0..20_000 {
            match rng.up_to(3) {
                0 | 1 => {
                    let d = now + rng.up_to(1000);
                    seq += 1;
                    match t.schedule(Nanos(d), seq) {
                        Ok(id) => model.push((d, seq, id)),
                        Err(_) => assert_eq!(model.len(), 64),
                    }
                }
                2 if !model.is_empty() => {
                    let i = rng.up_to(model.len() as u64 - 1) as usize;
                    let (_, s, id) = model.remove(i);
                    assert_eq!(t.cancel(id), Some(s));
                }
                _ => {
                    now += rng.up_to(300);
                    model.sort_by_key(|m| (m.0, m.1));
                    while let Some((id, k)) = t.pop_expired(Nanos(now)) {
                        let (d, s, mid) = model.remove(0);
                        assert!(d <= now);
                        assert_eq!((k, id), (s, mid));
                    }
                    assert!(model.first().is_none_or(|m| m.0 > now));
                }
            }
            assert_eq!(t.len(), model.len());
        }
    }
}
