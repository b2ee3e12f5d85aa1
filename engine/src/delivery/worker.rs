//! Delivery workers: a dispatcher claims due deliveries from the outbox queue with a lease,
//! keeps each target under its plugin's rate limit with a token bucket, and runs each
//! attempt as a task (bounded by a semaphore): read the delivery, call the plugin, and hand
//! the outcome to the writer, which records the attempt and schedules a retry or settles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redb::ReadableDatabase;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::schedule::Bucket;
use crate::engine::{Engine, Inner};
use crate::error::Error;
use crate::ids::{AccountId, DeliveryId};
use crate::inbox::to_message;
use crate::plugin::{Delivery, DeliveryKind, FailureKind, PluginRegistry, Recipient};
use crate::store::records::{DeliveryRecord, DeliveryState, TargetKey, decode};
use crate::store::writer::Job;
use crate::store::writer::micros;
use crate::store::writer::routing::{Attempt, DeliveryJob};
use crate::store::{DELIVERIES, DIGEST_MEMBERS, MESSAGES, Store};

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
    /// How long a claimed delivery stays leased before another worker may take it.
    pub lease: Duration,
    /// The locale of fixed words in notifications.
    pub locale: String,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            concurrency: 64,
            lease: Duration::from_secs(60),
            locale: "en".to_owned(),
        }
    }
}

/// The running workers of one engine.
pub(crate) struct Workers {
    stopping: AtomicBool,
    stop: Notify,
    join: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Shared {
    registry: Arc<PluginRegistry>,
    config: WorkerConfig,
    observer: Option<Arc<dyn DeliveryObserver>>,
    buckets: Mutex<HashMap<(AccountId, TargetKey), Bucket>>,
}

impl Workers {
    /// Starts the dispatcher on the current tokio runtime.
    pub(crate) fn start(
        engine: &Engine,
        registry: Arc<PluginRegistry>,
        config: WorkerConfig,
        observer: Option<Arc<dyn DeliveryObserver>>,
    ) -> Arc<Workers> {
        let workers = Arc::new(Workers {
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
            join: Mutex::new(None),
        });
        let shared = Arc::new(Shared {
            registry,
            config,
            observer,
            buckets: Mutex::new(HashMap::new()),
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
    shared: Arc<Shared>,
) {
    let limit = shared.config.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(limit));
    let lease = i64::try_from(shared.config.lease.as_micros()).unwrap_or(i64::MAX);
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
                tokio::spawn(attempt(engine, shared.clone(), id, permit));
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

/// A delivery read from the store, ready for its plugin.
enum Prepared {
    Ready {
        account: AccountId,
        target: TargetKey,
        plugin: String,
        config: String,
        delivery: Delivery,
    },
    /// It cannot be delivered any more; the reason becomes its last error.
    Gone(String),
    /// Nothing to do: it was settled meanwhile.
    Settled,
}

async fn attempt(engine: Engine, shared: Arc<Shared>, id: u64, permit: OwnedSemaphorePermit) {
    let _permit = permit;
    let store = engine.inner.store.clone();
    let prepared = match prepare(&engine, &shared, id) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(delivery = %DeliveryId(id), error = %e, "cannot read a due delivery; trying again in a second");
            let later = micros(engine.now()) + 1_000_000;
            store.queue.lock().release(id, later);
            return;
        }
    };
    let outcome = match prepared {
        Prepared::Settled => {
            store.queue.lock().settle(id);
            return;
        }
        Prepared::Gone(reason) => Attempt::Failed {
            error: reason,
            retry: false,
            retry_after: None,
        },
        Prepared::Ready {
            account,
            target,
            plugin,
            config,
            delivery,
        } => {
            if let Some(limit) = shared.registry.plugin(&plugin).and_then(|p| p.rate_limit) {
                let now = micros(engine.now());
                let mut buckets = shared.buckets.lock();
                let bucket = buckets
                    .entry((account, target))
                    .or_insert_with(|| Bucket::new(limit.count, limit.period, now));
                if let Err(when) = bucket.take(now) {
                    drop(buckets);
                    // Over the target's limit: wait for a token instead of being refused.
                    store.queue.lock().release(id, when);
                    return;
                }
            }
            let started = Instant::now();
            let result = shared.registry.send(&plugin, &config, &delivery).await;
            let elapsed = started.elapsed();
            let (label, outcome) = match result {
                Ok(_) => ("delivered", Attempt::Delivered),
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
        .submit_internal(|reply| Job::Delivery {
            job: DeliveryJob::Outcome {
                id,
                attempt: outcome,
            },
            reply,
        })
        .await;
    if let Err(e) = recorded {
        // The lease runs out and the delivery is attempted again (at least once).
        tracing::error!(delivery = %DeliveryId(id), error = %e, "cannot record a delivery attempt");
    }
}

fn prepare(engine: &Engine, shared: &Shared, id: u64) -> Result<Prepared, Error> {
    let store = &engine.inner.store;
    let txn = store.db.begin_read()?;
    let deliveries = txn.open_table(DELIVERIES)?;
    let Some(bytes) = deliveries.get(id)? else {
        return Ok(Prepared::Settled);
    };
    let record: DeliveryRecord = decode("delivery", bytes.value())?;
    if matches!(
        record.state,
        DeliveryState::Delivered | DeliveryState::Failed
    ) {
        return Ok(Prepared::Settled);
    }
    let account = AccountId(record.account);
    let (config, recipients) = {
        let state = store.state.read();
        match record.target {
            TargetKey::Channel(channel) => match state.channels.get(&(account, channel)) {
                Some(c) => match engine.inner.secrets.open(&c.config, c.sealed) {
                    Ok(text) => (text, Vec::new()),
                    Err(why) => return Ok(Prepared::Gone(why)),
                },
                None => {
                    return Ok(Prepared::Gone(
                        "the channel was deleted before the delivery could be made".into(),
                    ));
                }
            },
            TargetKey::Contact(contact) => match state.contacts.get(&(account, contact)) {
                Some(c) => (
                    "{}".to_owned(),
                    vec![Recipient {
                        address: c.email.clone(),
                        name: Some(c.name.clone()),
                    }],
                ),
                None => {
                    return Ok(Prepared::Gone(
                        "the contact was deleted before the delivery could be made".into(),
                    ));
                }
            },
        }
    };
    let seqs: Vec<u32> = if record.digest {
        let members = txn.open_table(DIGEST_MEMBERS)?;
        members
            .range((id, 0)..=(id, u32::MAX))?
            .map(|row| row.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?
    } else {
        vec![record.seq]
    };
    let inbox = store.inbox(account)?;
    let messages_table = txn.open_table(MESSAGES)?;
    let mut messages = Vec::with_capacity(seqs.len());
    for seq in seqs {
        if !inbox.read().live.contains(seq) {
            continue;
        }
        if let Some(message) = Store::message(&messages_table, account, seq)? {
            messages.push(to_message(account, seq, message, false));
        }
    }
    if messages.is_empty() {
        return Ok(Prepared::Gone(
            "the message was deleted before it could be delivered".into(),
        ));
    }
    let delivery = Delivery {
        kind: if record.digest {
            DeliveryKind::Digest
        } else {
            DeliveryKind::Single
        },
        messages,
        recipients,
        attempt: record.attempts.saturating_add(1),
        idempotency_key: DeliveryId(id).to_string(),
        locale: shared.config.locale.clone(),
        timestamp_ms: u64::try_from(micros(engine.now()) / 1000).unwrap_or(0),
    };
    Ok(Prepared::Ready {
        account,
        target: record.target,
        plugin: record.plugin,
        config,
        delivery,
    })
}

impl Engine {
    /// Sends a sample message of `category` through a channel once, outside the outbox, and
    /// says whether the target accepted it (operator, root or full access). A category
    /// outside a scoped user's categories is forbidden, as for a subscription; without
    /// one the message is a `service` message, or for a user scoped away from `service`, a
    /// message of the first of its categories.
    pub async fn test_channel(
        &self,
        principal: &crate::Principal,
        account: AccountId,
        id: crate::ids::ChannelId,
        category: Option<crate::Category>,
    ) -> Result<super::TestOutcome, Error> {
        let category = match category {
            Some(category) => category,
            None => test_category(principal, account)?,
        };
        super::scoped(principal, crate::Action::ManageConfig, account, category)?;
        let channel = self.channel(principal, account, id)?;
        let registry =
            self.inner.plugins.as_ref().ok_or_else(|| {
                Error::invalid("plugin", "this engine has no channel plugins loaded")
            })?;
        let config = {
            let state = self.inner.store.state.read();
            let record = state
                .channels
                .get(&(account, id.0))
                .ok_or_else(|| Error::NotFound(format!("channel {id} does not exist")))?;
            self.inner
                .secrets
                .open(&record.config, record.sealed)
                .map_err(Error::Unavailable)?
        };
        let now = self.now();
        let message = crate::Message {
            id: crate::MessageId::channel_test(account),
            account_id: account,
            category,
            subtype: Some("channel-test".into()),
            title: format!(
                "Test notification from msghub for channel '{}'",
                channel.name
            ),
            body: Some(
                "This is a **test** sent from msghub to check that the channel works. \
                 No action is needed."
                    .into(),
            ),
            severity: crate::Severity::Info,
            link: None,
            resource: None,
            dedupe_key: None,
            created_at: now,
            read: false,
        };
        let delivery = Delivery {
            kind: DeliveryKind::Single,
            messages: vec![message],
            recipients: Vec::new(),
            attempt: 1,
            idempotency_key: format!("test_{:016x}", rand::random::<u64>()),
            locale: "en".into(),
            timestamp_ms: u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        };
        Ok(
            match registry.send(&channel.plugin, &config, &delivery).await {
                Ok(_) => super::TestOutcome {
                    status: super::DeliveryStatus::Delivered,
                    error: None,
                },
                Err(e) => super::TestOutcome {
                    status: super::DeliveryStatus::Failed,
                    error: Some(e.to_string()),
                },
            },
        )
    }
}

/// The category of a test message when the caller names none: `service`, unless the caller
/// is scoped away from it, then the first of its categories.
fn test_category(
    principal: &crate::Principal,
    account: AccountId,
) -> Result<crate::Category, Error> {
    let mine = crate::access::visible_categories(principal, crate::Action::ManageConfig, account)?;
    Ok(if mine.contains(crate::Category::Service) {
        crate::Category::Service
    } else {
        mine.iter().next().unwrap_or(crate::Category::Service)
    })
}
