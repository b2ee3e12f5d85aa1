//! The in-memory view of the outbox: which deliveries are due when, and which are leased to
//! a worker right now.
//!
//! The outbox table is the truth (written in the publishing transaction); this queue is
//! rebuilt from it on open and changed only after commits, plus leases and parked
//! deliveries, which live only in memory: after a crash nothing is leased or parked, so
//! every unfinished delivery is due again.
//!
//! A delivery whose account or target already has as many attempts in flight as it may is
//! parked under that [`Wait`] rather than kept due: it leaves the due order, so the
//! dispatcher does not meet it again and again while others wait behind it, and it comes
//! back (due at once) when an attempt of its account or target ends.

use std::collections::{BTreeSet, HashMap, VecDeque};

/// What a parked delivery waits for: a free call slot of its account, or of its target.
#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the delivery workers
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Wait {
    /// The account (by id) has its share of attempts in flight.
    Account(u64),
    /// The target (account, target kind, target id) has its share in flight.
    Target(u64, u8, u64),
}

/// Due deliveries, leases and parked deliveries.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the delivery workers
pub(crate) struct Queue {
    due: BTreeSet<(i64, u64)>,
    at: HashMap<u64, i64>,
    leased: HashMap<u64, i64>,
    /// Parked deliveries in the order they were parked. A delivery scheduled or settled
    /// while parked stays in its line until met, and is then skipped: `parked_on` is the
    /// truth.
    lines: HashMap<Wait, VecDeque<u64>>,
    parked_on: HashMap<u64, Wait>,
}

#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the delivery workers
impl Queue {
    /// Makes `id` due at `when` (a new delivery, a retry, a re-queue), ending its lease.
    pub(crate) fn schedule(&mut self, id: u64, when: i64) {
        self.parked_on.remove(&id);
        self.leased.remove(&id);
        if let Some(old) = self.at.insert(id, when) {
            self.due.remove(&(old, id));
        }
        self.due.insert((when, id));
    }

    /// Forgets `id`: delivered, failed for good, or gone.
    pub(crate) fn settle(&mut self, id: u64) {
        self.parked_on.remove(&id);
        self.leased.remove(&id);
        if let Some(old) = self.at.remove(&id) {
            self.due.remove(&(old, id));
        }
    }

    /// Leases the first delivery due at or before `now` until `until`; otherwise says when
    /// the next one is due. Expired leases are due again first.
    pub(crate) fn claim(&mut self, now: i64, until: i64) -> Result<u64, Option<i64>> {
        let expired: Vec<u64> = self
            .leased
            .iter()
            .filter(|&(_, &end)| end <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            tracing::warn!(delivery = id, "a delivery's lease expired; it is due again");
            self.schedule(id, now);
        }
        match self.due.first().copied() {
            Some((when, id)) if when <= now => {
                self.due.remove(&(when, id));
                self.at.remove(&id);
                self.leased.insert(id, until);
                Ok(id)
            }
            Some((when, _)) => Err(Some(when)),
            None => Err(None),
        }
    }

    /// Puts a leased delivery back, due at `when`, without an attempt (its target's token
    /// bucket is empty, or the engine is stopping).
    pub(crate) fn release(&mut self, id: u64, when: i64) {
        if self.leased.remove(&id).is_some() {
            self.at.insert(id, when);
            self.due.insert((when, id));
        }
    }

    /// Parks a leased delivery until a slot of `wait` frees up: [`Queue::unpark`].
    pub(crate) fn park(&mut self, id: u64, wait: Wait) {
        if self.leased.remove(&id).is_some() {
            self.parked_on.insert(id, wait);
            self.lines.entry(wait).or_default().push_back(id);
        }
    }

    /// Makes the delivery parked longest under `wait` due at `now`; says whether one was.
    pub(crate) fn unpark(&mut self, wait: Wait, now: i64) -> bool {
        let Some(line) = self.lines.get_mut(&wait) else {
            return false;
        };
        let mut woken = None;
        while let Some(id) = line.pop_front() {
            if self.parked_on.get(&id) == Some(&wait) {
                woken = Some(id);
                break;
            }
        }
        if line.is_empty() {
            self.lines.remove(&wait);
        }
        match woken {
            Some(id) => {
                self.parked_on.remove(&id);
                self.at.insert(id, now);
                self.due.insert((now, id));
                true
            }
            None => false,
        }
    }

    /// Deliveries waiting, parked or in flight.
    pub(crate) fn len(&self) -> usize {
        self.at.len() + self.leased.len() + self.parked_on.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_expire_and_settled_deliveries_leave() {
        let mut q = Queue::default();
        q.schedule(1, 10);
        q.schedule(2, 5);
        assert_eq!(q.claim(0, 100), Err(Some(5)));
        assert_eq!(q.claim(10, 100), Ok(2));
        assert_eq!(q.claim(10, 100), Ok(1));
        assert_eq!(q.len(), 2);
        q.settle(1);
        // The lease of 2 runs out: it is due again.
        assert_eq!(q.claim(100, 200), Ok(2));
        q.schedule(2, 150);
        assert_eq!(q.claim(120, 300), Err(Some(150)));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn parked_deliveries_leave_the_due_order_and_come_back_one_per_freed_slot() {
        let mut q = Queue::default();
        let busy = Wait::Account(7);
        for id in 1..=3 {
            q.schedule(id, 0);
        }
        q.schedule(9, 5);
        for id in 1..=3 {
            assert_eq!(q.claim(10, 100), Ok(id));
            q.park(id, busy);
        }
        // Parked ones are not met again: the next claim is the other account's.
        assert_eq!(q.claim(10, 100), Ok(9));
        assert_eq!(q.claim(10, 100), Err(None));
        assert_eq!(q.len(), 4);
        // A parked delivery re-queued meanwhile is skipped when its line moves.
        q.schedule(1, 50);
        assert!(q.unpark(busy, 20));
        assert_eq!(q.claim(20, 100), Ok(2));
        q.settle(3);
        assert!(!q.unpark(busy, 30));
        assert!(!q.unpark(Wait::Target(7, 0, 1), 30));
        assert_eq!(q.claim(60, 200), Ok(1));
        // Parked deliveries do not expire like leases do.
        q.park(1, busy);
        q.settle(9);
        q.settle(2);
        assert_eq!(q.claim(10_000, 20_000), Err(None));
        assert_eq!(q.len(), 1);
    }
}
