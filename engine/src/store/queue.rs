//! The in-memory view of the outbox: which deliveries are due when, and which are leased to
//! a worker right now.
//!
//! The outbox table is the truth (written in the publishing transaction); this queue is
//! rebuilt from it on open and changed only after commits, plus leases, which live only in
//! memory: after a crash nothing is leased, so every unfinished delivery is due again.

use std::collections::{BTreeSet, HashMap};

/// Due deliveries and leases.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    due: BTreeSet<(i64, u64)>,
    at: HashMap<u64, i64>,
    leased: HashMap<u64, i64>,
}

impl Queue {
    /// Makes `id` due at `when` (a new delivery, a retry, a re-queue), ending its lease.
    pub(crate) fn schedule(&mut self, id: u64, when: i64) {
        self.leased.remove(&id);
        if let Some(old) = self.at.insert(id, when) {
            self.due.remove(&(old, id));
        }
        self.due.insert((when, id));
    }

    /// Forgets `id`: delivered, failed for good, or gone.
    pub(crate) fn settle(&mut self, id: u64) {
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

    /// Deliveries waiting or in flight.
    pub(crate) fn len(&self) -> usize {
        self.at.len() + self.leased.len()
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
}
