//! The scheduler: closes digests on their cron ticks (one summary per target, each message
//! in exactly one, the tick recorded in the same transaction so a restart neither loses nor
//! repeats one) and purges messages and change history entries older than their account's
//! retention (the operator's own history is kept for the default retention).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::commands::CloseDigests;
use crate::access::Reader;
use crate::accounts::DEFAULT_RETENTION_DAYS;
use crate::clock::from_micros;
use crate::clock::micros;
use crate::engine::{Engine, Inner};
use crate::error::Error;
use crate::filter::{CategorySet, Filter};
use crate::history::OPERATOR_BOOK;
use crate::history::commands::{PURGE_BUDGET, PurgeHistory};
use crate::ids::AccountId;
use crate::inbox::commands::{Bulk, BulkOp};
use crate::model::Category;
use crate::store::writer::Target;

/// How often retention runs, in the engine clock's time.
const RETENTION_EVERY: i64 = 3_600_000_000;
/// How long the scheduler sleeps at most between looks at the clock.
const POLL: Duration = Duration::from_millis(200);

/// What one pass of the scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduledWork {
    /// Digest summaries sent out (one per target with something gathered).
    pub digests: u64,
    /// Messages deleted because they were older than their account's retention.
    pub expired: u64,
    /// Change history entries removed because they were older than their account's
    /// retention.
    pub history_expired: u64,
}

/// The scheduler's memory between passes.
#[derive(Default)]
pub(crate) struct SchedulerState {
    /// Per subscription: the instant its next tick was computed from, and that tick.
    next_ticks: HashMap<(AccountId, Category), (i64, Option<i64>)>,
    /// When retention last ran.
    last_retention: Option<i64>,
}

/// The background loop of one engine.
pub(crate) struct Scheduler {
    stopping: AtomicBool,
    stop: Notify,
    join: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Scheduler {
    pub(crate) fn start(engine: &Engine) -> Arc<Scheduler> {
        let scheduler = Arc::new(Scheduler {
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
            join: Mutex::new(None),
        });
        let handle = tokio::spawn(run(Arc::downgrade(&engine.inner), scheduler.clone()));
        *scheduler.join.lock() = Some(handle);
        scheduler
    }

    pub(crate) async fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_one();
        let join = self.join.lock().take();
        if let Some(join) = join {
            let _ = join.await;
        }
    }
}

async fn run(weak: Weak<Inner>, scheduler: Arc<Scheduler>) {
    loop {
        if scheduler.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        let engine = Engine { inner };
        if let Err(e) = engine.run_scheduled().await {
            if matches!(e, Error::Closed) {
                return;
            }
            tracing::error!(error = %e, "a scheduler pass failed; it runs again shortly");
        }
        drop(engine);
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = scheduler.stop.notified() => return,
        }
    }
}

impl Engine {
    /// Runs what is due now by the engine's clock: closes every digest whose tick has come
    /// (missed ticks collapse into one summary) and, once an hour, purges messages older
    /// than their account's retention. The engine runs this in the background; call it
    /// directly to drive an injected clock in tests.
    pub async fn run_scheduled(&self) -> Result<ScheduledWork, Error> {
        let now = micros(self.now());
        let mut work = ScheduledWork::default();
        let due: Vec<(AccountId, Category, i64)> = {
            let state = self.inner.store.state.read();
            let mut memory = self.inner.scheduler_state.lock();
            memory
                .next_ticks
                .retain(|key, _| state.subscriptions.contains_key(key));
            let mut due = Vec::new();
            for (&key, sub) in &state.subscriptions {
                let Some(schedule) = &sub.schedule else {
                    continue;
                };
                let from = state
                    .digest_ticks
                    .get(&key)
                    .copied()
                    .unwrap_or(sub.record.updated)
                    .max(sub.record.updated);
                let entry = memory.next_ticks.entry(key).or_insert((i64::MIN, None));
                if entry.0 != from {
                    *entry = (from, schedule.next_after(from));
                }
                if entry.1.is_some_and(|tick| tick <= now)
                    && let Some(tick) = schedule.latest_due(from, now)
                {
                    due.push((key.0, key.1, tick));
                }
            }
            due
        };
        for (account, category, tick) in due {
            work.digests += self
                .submit_internal(CloseDigests {
                    account,
                    category,
                    tick,
                })
                .await?;
        }
        let retention_due = {
            let mut memory = self.inner.scheduler_state.lock();
            let due = memory
                .last_retention
                .is_none_or(|last| now - last >= RETENTION_EVERY || now < last);
            if due {
                memory.last_retention = Some(now);
            }
            due
        };
        if retention_due {
            work.expired = self.expire(now).await?;
            work.history_expired = self.expire_history(now).await?;
        }
        Ok(work)
    }

    /// Deletes every message older than its account's retention.
    async fn expire(&self, now: i64) -> Result<u64, Error> {
        let accounts: Vec<(AccountId, u32)> = self
            .inner
            .store
            .state
            .read()
            .accounts
            .iter()
            .map(|(&id, r)| (id, r.retention_days))
            .collect();
        let mut expired = 0;
        for (account, days) in accounts {
            let cutoff = retention_cutoff(now, days);
            let has_old = self
                .inner
                .store
                .inbox(account)
                .map(|inbox| inbox.read().oldest_live().is_some_and(|t| t < cutoff))
                .unwrap_or(false);
            if !has_old {
                continue;
            }
            let filter = Filter::default().until(from_micros(cutoff));
            let deleted = self
                .submit_internal(Bulk {
                    op: BulkOp::Delete,
                    account,
                    reader: Reader(1),
                    visible: CategorySet::ALL,
                    target: Target::Filter(filter, None),
                })
                .await?;
            if deleted > 0 {
                tracing::info!(account = %account, deleted, days, "purged messages past the account's retention");
            }
            expired += deleted;
        }
        Ok(expired)
    }
}

impl Engine {
    /// Removes the history entries older than their book's retention: an account's, or the
    /// default for the operator's own book.
    async fn expire_history(&self, now: i64) -> Result<u64, Error> {
        let mut books: Vec<(AccountId, u32)> = self
            .inner
            .store
            .state
            .read()
            .accounts
            .iter()
            .map(|(&id, r)| (id, r.retention_days))
            .collect();
        books.push((OPERATOR_BOOK, DEFAULT_RETENTION_DAYS));
        let mut expired = 0;
        for (book, days) in books {
            let cutoff = retention_cutoff(now, days);
            loop {
                let removed = self.submit_internal(PurgeHistory { book, cutoff }).await?;
                expired += removed as u64;
                if removed < PURGE_BUDGET {
                    break;
                }
            }
        }
        Ok(expired)
    }
}

/// The instant (µs) before which an account keeping messages `days` days purges them; it
/// saturates at the clock's start, whatever the number of days.
fn retention_cutoff(now: i64, days: u32) -> i64 {
    now.saturating_sub(i64::from(days).saturating_mul(86_400_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_retention_is_a_cutoff_in_the_past_without_overflow() {
        let day = 86_400_000_000;
        assert_eq!(retention_cutoff(10 * day, 3), 7 * day);
        assert!(retention_cutoff(10 * day, u32::MAX) < 0);
        assert_eq!(retention_cutoff(i64::MIN + 5, 1), i64::MIN);
    }
}
