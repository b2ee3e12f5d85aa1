//! Channel tests: one sample message through a channel's plugin, outside the outbox. They
//! run on call slots of their own ([`TEST_SENDS_IN_FLIGHT`] on the server, at most
//! [`TEST_SENDS_PER_ACCOUNT_IN_FLIGHT`] per account) and at most [`TEST_SENDS_PER_MINUTE`]
//! per account, so that tests against a slow host neither hold the delivery workers' slots
//! nor let one account keep the test slots for itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::clock::micros;
use crate::engine::Engine;
use crate::error::Error;
use crate::ids::AccountId;
use crate::plugin::{Delivery, DeliveryKind};
use crate::schedule::Bucket;

/// Channel tests in flight on one engine at most.
pub const TEST_SENDS_IN_FLIGHT: usize = 8;
/// Channel tests in flight per account at most.
pub const TEST_SENDS_PER_ACCOUNT_IN_FLIGHT: usize = 2;
/// Channel tests per account per minute (a burst of as many, then one every six seconds).
pub const TEST_SENDS_PER_MINUTE: u32 = 10;

/// The test slots and every account's test rate.
pub(crate) struct TestSends {
    slots: Arc<Semaphore>,
    accounts: Mutex<HashMap<AccountId, AccountTests>>,
}

struct AccountTests {
    bucket: Bucket,
    in_flight: usize,
}

/// One running test's hold on its slots; dropping it gives them back.
struct TestSlot {
    _permit: OwnedSemaphorePermit,
    sends: Arc<TestSends>,
    account: AccountId,
}

impl Drop for TestSlot {
    fn drop(&mut self) {
        let mut accounts = self.sends.accounts.lock();
        if let Some(tests) = accounts.get_mut(&self.account) {
            tests.in_flight = tests.in_flight.saturating_sub(1);
        }
    }
}

impl TestSends {
    /// Test slots with the default limits.
    pub(crate) fn new() -> Arc<TestSends> {
        Arc::new(TestSends {
            slots: Arc::new(Semaphore::new(TEST_SENDS_IN_FLIGHT)),
            accounts: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a test slot for `account` at `now` (µs), or says why not: the account is over
    /// its rate or has its tests in flight (429), or every test slot is taken (503).
    fn take(self: &Arc<Self>, account: AccountId, now: i64) -> Result<TestSlot, Error> {
        let mut accounts = self.accounts.lock();
        // Accounts whose buckets are full again and that run nothing are forgotten.
        if accounts.len() > 4096 {
            accounts.retain(|_, t| t.in_flight > 0 || !t.bucket.full(now));
        }
        let tests = accounts.entry(account).or_insert_with(|| AccountTests {
            bucket: Bucket::new(TEST_SENDS_PER_MINUTE, Duration::from_secs(60), now),
            in_flight: 0,
        });
        if tests.in_flight >= TEST_SENDS_PER_ACCOUNT_IN_FLIGHT {
            return Err(Error::RateLimited {
                message: format!(
                    "this account already has {TEST_SENDS_PER_ACCOUNT_IN_FLIGHT} channel tests \
                     running, the most at once; wait for them to finish"
                ),
                retry_after: Duration::from_secs(1),
            });
        }
        if let Err(when) = tests.bucket.ready(now) {
            let wait = u64::try_from(when.saturating_sub(now)).unwrap_or(0);
            return Err(Error::RateLimited {
                message: format!(
                    "this account may test channels {TEST_SENDS_PER_MINUTE} times a minute; \
                     try again in a few seconds"
                ),
                retry_after: Duration::from_micros(wait),
            });
        }
        let permit = self.slots.clone().try_acquire_owned().map_err(|_| {
            Error::Overloaded(format!(
                "all {TEST_SENDS_IN_FLIGHT} channel test slots of this server are busy; \
                 try again in a moment"
            ))
        })?;
        // Ready above, under the same lock: this takes the token.
        let _ = tests.bucket.take(now);
        tests.in_flight += 1;
        Ok(TestSlot {
            _permit: permit,
            sends: self.clone(),
            account,
        })
    }
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
        let host =
            self.inner.channels.as_ref().ok_or_else(|| {
                Error::invalid("plugin", "this engine has no channel plugins loaded")
            })?;
        let server_locale = self
            .inner
            .delivery
            .as_ref()
            .map_or("en", |d| d.config.locale.as_str());
        let (config, locale) = {
            let state = self.inner.store.state.read();
            let record = state
                .channel(account, id.0)
                .ok_or_else(|| Error::NotFound(format!("channel {id} does not exist")))?;
            let config = self
                .inner
                .secrets
                .open(&record.config, record.sealed)
                .map_err(Error::Unavailable)?;
            let locale =
                super::prepare::locale_of(&state, account, record.locale.as_deref(), server_locale);
            (config, locale)
        };
        let (title, body) = test_words(&locale, &channel.name);
        let now = self.now();
        let message = crate::Message {
            id: crate::MessageId::channel_test(account),
            account_id: account,
            category,
            subtype: Some("channel-test".into()),
            title,
            body: Some(body),
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
            locale,
            unsubscribe: None,
            timestamp_ms: u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        };
        let _slot = self.inner.test_sends.take(account, micros(self.now()))?;
        Ok(match host.send(&channel.plugin, &config, &delivery).await {
            Ok(_) => super::TestOutcome {
                status: super::DeliveryStatus::Delivered,
                error: None,
            },
            Err(e) => super::TestOutcome {
                status: super::DeliveryStatus::Failed,
                error: Some(e.to_string()),
            },
        })
    }
}

/// The title and body of a test message in `locale`, for the channel named `channel`.
fn test_words(locale: &str, channel: &str) -> (String, String) {
    match locale {
        "zh-CN" => (
            format!("来自 msghub 的测试通知：渠道“{channel}”"),
            "这是 msghub 发送的一条**测试**消息，用于检查该渠道是否正常工作。无需任何操作。"
                .to_owned(),
        ),
        _ => (
            format!("Test notification from msghub for channel '{channel}'"),
            "This is a **test** sent from msghub to check that the channel works. \
             No action is needed."
                .to_owned(),
        ),
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
