//! Delivery workers: a dispatcher claims due deliveries from the outbox queue with a lease
//! and runs each attempt as a task, bounded by a semaphore. An attempt reads its delivery,
//! takes a call slot of its account and of its target ([`super::slots`]: a fair share, or
//! the delivery is parked until one frees up), keeps the target under its plugin's rate
//! limit with a token bucket, records that it starts (so a crash during it is known at the
//! next start), calls the plugin, and hands the outcome to the writer, which records the
//! attempt and schedules a retry or settles. A digest too large for one call goes out in
//! parts ([`super::prepare`]). The plugin is reached through the engine's
//! [`ChannelHost`]; [`Engine::deliver_due`] runs the same attempts by hand, one step at a
//! time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::commands::{Attempt, Begin, Outcome};
use super::host::ChannelHost;
use super::prepare::{Found, Prepared, find, prepare};
use super::slots::{Slots, take_or_park};
use crate::clock::{micros, micros_of};
use crate::engine::{Engine, Inner};
use crate::error::Error;
use crate::ids::{AccountId, DeliveryId};
use crate::plugin::{CallError, FailureKind};
use crate::schedule::Bucket;
use crate::store::Store;
use crate::store::records::TargetKey;

/// What an embedding application learns about every attempt, e.g. for metrics.
pub trait DeliveryObserver: Send + Sync + 'static {
    /// An attempt through `plugin` ended with `outcome` (`delivered`, `retryable`,
    /// `rate_limited` or `permanent`) after `elapsed` in the plugin.
    fn attempt(&self, plugin: &str, outcome: &'static str, elapsed: Duration);
}

/// How the workers run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Attempts in flight at most.
    pub concurrency: usize,
    /// Attempts in flight per account at most: the share of `concurrency` one tenant may
    /// hold, however many targets it has (default a quarter of `concurrency`).
    pub per_account: usize,
    /// Attempts in flight per target (channel or contact) at most (default an eighth of
    /// `concurrency`).
    pub per_target: usize,
    /// How long a claimed delivery stays leased before another worker may take it.
    pub lease: Duration,
    /// The locale of the words msghub adds to deliveries whose channel or contact, and
    /// whose account, name none (one of [`crate::LOCALES`]).
    pub locale: String,
    /// Where one-click unsubscribe links of mail to contacts point: the token is appended
    /// to it (e.g. `https://hub.example.com/unsubscribe/`). `None`: mail carries only the
    /// mailto form of `List-Unsubscribe`.
    pub unsubscribe_url: Option<String>,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            concurrency: 64,
            per_account: 16,
            per_target: 8,
            lease: Duration::from_secs(60),
            locale: "en".to_owned(),
            unsubscribe_url: None,
        }
    }
}

/// The running workers of one engine.
pub(crate) struct Workers {
    stopping: AtomicBool,
    stop: Notify,
    join: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What every attempt of one engine shares, whether the background workers or
/// [`Engine::deliver_due`] run it: the channel host, the fair call slots and the targets'
/// rate limits.
pub(crate) struct Delivering {
    host: Arc<dyn ChannelHost>,
    pub(crate) config: WorkerConfig,
    observer: Option<Arc<dyn DeliveryObserver>>,
    buckets: Mutex<HashMap<(AccountId, TargetKey), Bucket>>,
    slots: Arc<Mutex<Slots>>,
}

impl Delivering {
    pub(crate) fn new(
        host: Arc<dyn ChannelHost>,
        config: WorkerConfig,
        observer: Option<Arc<dyn DeliveryObserver>>,
    ) -> Arc<Delivering> {
        Arc::new(Delivering {
            host,
            slots: Arc::new(Mutex::new(Slots::new(
                config.per_account,
                config.per_target,
            ))),
            config,
            observer,
            buckets: Mutex::new(HashMap::new()),
        })
    }
}

impl Workers {
    /// Starts the dispatcher on the current tokio runtime.
    pub(crate) fn start(engine: &Engine, shared: Arc<Delivering>) -> Arc<Workers> {
        let workers = Arc::new(Workers {
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
            join: Mutex::new(None),
        });
        let handle = tokio::spawn(dispatch(
            Arc::downgrade(&engine.inner),
            engine.inner.store.clone(),
            workers.clone(),
            shared,
        ));
        *workers.join.lock() = Some(handle);
        workers
    }

    /// Stops claiming and waits until every attempt in flight has recorded its outcome.
    pub(crate) async fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_one();
        let join = self.join.lock().take();
        if let Some(join) = join {
            let _ = join.await;
        }
    }
}

/// How long the dispatcher sleeps at most before looking at the clock again: an injected
/// clock may jump.
const POLL: Duration = Duration::from_millis(100);

async fn dispatch(
    weak: Weak<Inner>,
    store: Arc<Store>,
    workers: Arc<Workers>,
    shared: Arc<Delivering>,
) {
    let limit = shared.config.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(limit));
    let lease = micros_of(shared.config.lease);
    loop {
        if workers.stopping.load(Ordering::SeqCst) {
            break;
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = workers.stop.notified() => break,
        };
        let Some(inner) = weak.upgrade() else { break };
        let engine = Engine { inner };
        let now = micros(engine.now());
        let claimed = store.queue.lock().claim(now, now.saturating_add(lease));
        match claimed {
            Ok(id) => {
                tokio::spawn(attempt(engine, shared.clone(), id, Some(permit)));
            }
            Err(next) => {
                drop(permit);
                drop(engine);
                let wait = next
                    .map(|due| Duration::from_micros(u64::try_from(due - now).unwrap_or(0)))
                    .unwrap_or(POLL)
                    .min(POLL);
                tokio::select! {
                    () = store.wake.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                    () = workers.stop.notified() => break,
                }
            }
        }
    }
    // Let the attempts in flight finish and record their outcomes.
    let _ = permits
        .acquire_many(u32::try_from(limit).unwrap_or(u32::MAX))
        .await;
}

impl Engine {
    /// Attempts every delivery that is due now by the engine's clock, each once, and
    /// returns when all of them have recorded their outcome; answers how many outcomes were
    /// recorded. The background workers do this as deliveries fall due; call it directly on
    /// an engine built with `background(false)` to drive delivery step by step, with a
    /// [`ManualClock`](crate::ManualClock) for retries and rate limits. A delivery over its
    /// account's or target's fair share of call slots, or over its target's rate limit,
    /// is not attempted: it waits for a later call (after the clock moved on, for a rate
    /// limit). Without a channel host, nothing is delivered.
    pub async fn deliver_due(&self) -> Result<usize, Error> {
        let Some(shared) = self.inner.delivery.clone() else {
            return Ok(0);
        };
        let store = self.inner.store.clone();
        let now = micros(self.now());
        let until = now.saturating_add(micros_of(shared.config.lease));
        let mut attempts = tokio::task::JoinSet::new();
        loop {
            let claimed = store.queue.lock().claim(now, until);
            let Ok(id) = claimed else { break };
            attempts.spawn(attempt(self.clone(), shared.clone(), id, None));
        }
        let mut ran = 0;
        while let Some(done) = attempts.join_next().await {
            match done {
                Ok(recorded) => ran += usize::from(recorded),
                Err(e) => {
                    return Err(Error::Unavailable(format!(
                        "a delivery attempt stopped: {e}"
                    )));
                }
            }
        }
        Ok(ran)
    }
}

/// Runs one attempt of the claimed delivery `id`; `permit` is its place among the
/// attempts in flight, when the background dispatcher started it.
async fn attempt(
    engine: Engine,
    shared: Arc<Delivering>,
    id: u64,
    permit: Option<OwnedSemaphorePermit>,
) -> bool {
    let _permit = permit;
    let store = engine.inner.store.clone();
    let retry_soon = |e: Error| {
        tracing::error!(delivery = %DeliveryId(id), error = %e, "cannot read a due delivery; trying again in a second");
        let later = micros(engine.now()) + 1_000_000;
        store.queue.lock().release(id, later);
        false
    };
    let read = store
        .snapshot()
        .and_then(|snapshot| find(&snapshot, id).map(|found| (snapshot, found)));
    let (snapshot, record) = match read {
        Ok((_, Found::Settled)) => {
            store.queue.lock().settle(id);
            return false;
        }
        Ok((snapshot, Found::Due(record))) => (snapshot, record),
        Err(e) => return retry_soon(e),
    };
    let account = AccountId(record.account);
    let Some(_slot) = take_or_park(
        &shared.slots,
        &store,
        &engine.inner.clock,
        id,
        record.account,
        record.target,
    ) else {
        return false;
    };
    let budget = shared.host.part_budget(&record.plugin);
    let prepared = match prepare(&engine, &snapshot, id, &record, &shared.config, budget) {
        Ok(prepared) => prepared,
        Err(e) => return retry_soon(e),
    };
    drop(snapshot);
    let outcome = match prepared {
        Prepared::Finished => Attempt::Delivered,
        Prepared::Gone(reason) => Attempt::Failed {
            error: reason,
            retry: false,
            retry_after: None,
        },
        Prepared::Ready {
            config,
            delivery,
            part,
        } => {
            let plugin = record.plugin;
            // The plugin's stated limit is known once it is loaded: wait for that (at most a
            // call deadline) rather than send past the limit while the server starts.
            let limit = match shared.host.ready(&plugin).await {
                Ok(info) => info.rate_limit,
                Err(CallError::Loading { .. }) => {
                    let later = micros(engine.now()) + 1_000_000;
                    store.queue.lock().release(id, later);
                    return false;
                }
                // The send fails the same way and records why.
                Err(_) => None,
            };
            if let Some(limit) = limit {
                let now = micros(engine.now());
                let mut buckets = shared.buckets.lock();
                let bucket = buckets
                    .entry((account, record.target))
                    .or_insert_with(|| Bucket::new(limit.count, limit.period, now));
                if let Err(when) = bucket.take(now) {
                    drop(buckets);
                    // Over the target's limit: wait for a token instead of being refused.
                    store.queue.lock().release(id, when);
                    return false;
                }
            }
            // Written before the plugin runs: if it takes the process down, the next start
            // knows which attempt did.
            let begun = engine.submit_internal(Begin { id }).await;
            match begun {
                Ok(false) => {
                    store.queue.lock().settle(id);
                    return false;
                }
                Ok(true) => {}
                Err(e) => {
                    tracing::error!(delivery = %DeliveryId(id), error = %e, "cannot record that an attempt starts; trying again in a second");
                    let later = micros(engine.now()) + 1_000_000;
                    store.queue.lock().release(id, later);
                    return false;
                }
            }
            let started = Instant::now();
            let result = shared.host.send(&plugin, &config, &delivery).await;
            let elapsed = started.elapsed();
            let (label, outcome) = match result {
                Ok(_) => (
                    "delivered",
                    match part {
                        Some((through, true)) => Attempt::Part { through },
                        _ => Attempt::Delivered,
                    },
                ),
                Err(e) => {
                    let kind = e.kind();
                    let label = match kind {
                        FailureKind::Retryable => "retryable",
                        FailureKind::RateLimited { .. } => "rate_limited",
                        FailureKind::Permanent => "permanent",
                    };
                    let (retry, retry_after) = match kind {
                        FailureKind::Retryable => (true, None),
                        FailureKind::RateLimited { retry_after } => (true, retry_after),
                        FailureKind::Permanent => (false, None),
                    };
                    tracing::info!(delivery = %DeliveryId(id), plugin = %plugin, error = %e, "a delivery attempt failed");
                    (
                        label,
                        Attempt::Failed {
                            error: e.to_string(),
                            retry,
                            retry_after,
                        },
                    )
                }
            };
            if let Some(observer) = &shared.observer {
                observer.attempt(&plugin, label, elapsed);
            }
            outcome
        }
    };
    let recorded = engine
        .submit_internal(Outcome {
            id,
            attempt: outcome,
        })
        .await;
    if let Err(e) = &recorded {
        // The lease runs out and the delivery is attempted again (at least once).
        tracing::error!(delivery = %DeliveryId(id), error = %e, "cannot record a delivery attempt");
    }
    recorded.is_ok()
}
