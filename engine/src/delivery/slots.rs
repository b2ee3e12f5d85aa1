//! Fair call slots: how many delivery attempts one account, and one target, may have in
//! flight at once. Attempts share the workers' global limit; without a share per account,
//! one tenant with a hundred channels pointing at a host that never answers would hold
//! every slot, and every other tenant's deliveries would wait behind it.
//!
//! An attempt takes a slot of its account and of its target before calling its plugin; when
//! either is full, the delivery is parked in the queue under what it waits for
//! ([`Wait`]), and the attempt that frees such a slot makes the longest-parked delivery due
//! again. Taking, parking and freeing happen under one lock, so no wake-up is lost.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::Clock;
use crate::clock::micros;
use crate::store::Store;
use crate::store::queue::Wait;
use crate::store::records::TargetKey;

/// Attempts in flight per account and per target, against their shares.
#[derive(Debug)]
pub(crate) struct Slots {
    per_account: usize,
    per_target: usize,
    accounts: HashMap<u64, usize>,
    targets: HashMap<(u64, u8, u64), usize>,
}

impl Slots {
    /// Slots with these shares (each at least 1).
    pub(crate) fn new(per_account: usize, per_target: usize) -> Slots {
        Slots {
            per_account: per_account.max(1),
            per_target: per_target.max(1),
            accounts: HashMap::new(),
            targets: HashMap::new(),
        }
    }

    /// Takes a slot of `account` and of `target`, or says which of them is full.
    fn take(&mut self, account: u64, target: TargetKey) -> Result<(), Wait> {
        let (kind, id) = target.parts();
        let in_account = self.accounts.get(&account).copied().unwrap_or(0);
        if in_account >= self.per_account {
            return Err(Wait::Account(account));
        }
        let in_target = self.targets.get(&(account, kind, id)).copied().unwrap_or(0);
        if in_target >= self.per_target {
            return Err(Wait::Target(account, kind, id));
        }
        self.accounts.insert(account, in_account + 1);
        self.targets.insert((account, kind, id), in_target + 1);
        Ok(())
    }

    /// Gives back the slots [`Slots::take`] took.
    fn give_back(&mut self, account: u64, target: TargetKey) {
        let (kind, id) = target.parts();
        if let Some(n) = self.accounts.get_mut(&account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.accounts.remove(&account);
            }
        }
        if let Some(n) = self.targets.get_mut(&(account, kind, id)) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.targets.remove(&(account, kind, id));
            }
        }
    }
}

/// The slots one attempt holds; dropping it frees them and wakes a parked delivery of the
/// same account and one of the same target.
pub(crate) struct Slot {
    slots: Arc<Mutex<Slots>>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    account: u64,
    target: TargetKey,
}

/// Takes the slots of an attempt of delivery `id` (leased) to `target` of `account`, or
/// parks the delivery until one frees up and answers `None`.
pub(crate) fn take_or_park(
    slots: &Arc<Mutex<Slots>>,
    store: &Arc<Store>,
    clock: &Arc<dyn Clock>,
    id: u64,
    account: u64,
    target: TargetKey,
) -> Option<Slot> {
    let mut held = slots.lock();
    match held.take(account, target) {
        Ok(()) => Some(Slot {
            slots: slots.clone(),
            store: store.clone(),
            clock: clock.clone(),
            account,
            target,
        }),
        Err(wait) => {
            store.queue.lock().park(id, wait);
            None
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.lock();
        held.give_back(self.account, self.target);
        let (kind, id) = self.target.parts();
        let now = micros(self.clock.now());
        let mut queue = self.store.queue.lock();
        let woke = queue.unpark(Wait::Target(self.account, kind, id), now)
            | queue.unpark(Wait::Account(self.account), now);
        drop(queue);
        drop(held);
        if woke {
            self.store.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_and_a_target_hold_at_most_their_share() {
        let mut slots = Slots::new(3, 2);
        let a = TargetKey::Channel(1);
        let b = TargetKey::Channel(2);
        assert_eq!(slots.take(1, a), Ok(()));
        assert_eq!(slots.take(1, a), Ok(()));
        assert_eq!(slots.take(1, a), Err(Wait::Target(1, 0, 1)));
        assert_eq!(slots.take(1, b), Ok(()));
        assert_eq!(slots.take(1, b), Err(Wait::Account(1)));
        // Another account is not affected, even for a target with the same id.
        assert_eq!(slots.take(2, a), Ok(()));
        slots.give_back(1, a);
        assert_eq!(slots.take(1, b), Ok(()));
        assert_eq!(slots.take(1, a), Err(Wait::Account(1)));
        for _ in 0..3 {
            slots.give_back(1, b);
        }
        slots.give_back(1, a);
        slots.give_back(2, a);
        assert!(slots.accounts.is_empty() && slots.targets.is_empty());
    }
}
