//! Delivery driven step by step: an in-process fake channel host (no WebAssembly), a manual
//! clock, and `Engine::deliver_due` instead of background workers, so retries, backoff,
//! rate limits and dead letters are checked at exact instants, without sleeping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msghub::delivery::host::{ChannelHost, HostFuture};
use msghub::plugin::{
    CallError, Delivery, FailureKind, PluginInfo, RateLimit, Receipt, SendError, ValidateError,
};
use msghub::{
    AccountId, Category, Clock, DeliveryStatus, Engine, ManualClock, MessageId, NewChannel,
    NewMessage, Principal, RetrySchedule, SubscriptionSpec,
};
use time::OffsetDateTime;

/// A channel host with one implementation, `fake`, that answers each send with the next
/// scripted outcome (success once the script is used up) and keeps what it was sent.
struct FakeHost {
    info: Arc<PluginInfo>,
    script: Mutex<VecDeque<FailureKind>>,
    sent: Mutex<Vec<Delivery>>,
}

impl FakeHost {
    fn new(rate_limit: Option<RateLimit>) -> Arc<FakeHost> {
        Arc::new(FakeHost {
            info: Arc::new(PluginInfo {
                name: "fake".to_owned(),
                version: "1.0.0".to_owned(),
                description: "An in-process channel for tests".to_owned(),
                config_schema: serde_json::json!({
                    "type": "object",
                    "properties": {"room": {"type": "string"}},
                }),
                hosts: Vec::new(),
                user_supplied_host: false,
                rate_limit,
                interface_version: "0.1.0".to_owned(),
            }),
            script: Mutex::new(VecDeque::new()),
            sent: Mutex::new(Vec::new()),
        })
    }

    /// The next sends fail this way, in order.
    fn fail_next(&self, failures: impl IntoIterator<Item = FailureKind>) {
        self.script.lock().unwrap().extend(failures);
    }

    fn sent(&self) -> Vec<Delivery> {
        self.sent.lock().unwrap().clone()
    }
}

impl ChannelHost for FakeHost {
    fn plugins(&self) -> Vec<Arc<PluginInfo>> {
        vec![self.info.clone()]
    }

    fn plugin(&self, plugin: &str) -> Option<Arc<PluginInfo>> {
        (plugin == self.info.name).then(|| self.info.clone())
    }

    fn ready<'a>(&'a self, plugin: &'a str) -> HostFuture<'a, Result<Arc<PluginInfo>, CallError>> {
        let found = self.plugin(plugin);
        Box::pin(async move {
            found.ok_or_else(|| CallError::UnknownPlugin {
                plugin: plugin.to_owned(),
            })
        })
    }

    fn validate_config<'a>(
        &'a self,
        _plugin: &'a str,
        config: &'a str,
    ) -> HostFuture<'a, Result<(), ValidateError>> {
        let verdict = if config.contains("\"room\"") {
            Ok(())
        } else {
            Err(ValidateError::Invalid {
                plugin: "fake".to_owned(),
                message: "room is required".to_owned(),
            })
        };
        Box::pin(async move { verdict })
    }

    fn send<'a>(
        &'a self,
        plugin: &'a str,
        _config: &'a str,
        delivery: &'a Delivery,
    ) -> HostFuture<'a, Result<Receipt, SendError>> {
        self.sent.lock().unwrap().push(delivery.clone());
        let outcome = match self.script.lock().unwrap().pop_front() {
            None => Ok(Receipt::default()),
            Some(kind) => Err(SendError::Failed {
                plugin: plugin.to_owned(),
                kind,
                message: "the room is closed".to_owned(),
                refusals: Vec::new(),
            }),
        };
        Box::pin(async move { outcome })
    }

    fn part_budget(&self) -> usize {
        1 << 20
    }
}

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    host: Arc<FakeHost>,
    account: AccountId,
}

/// An engine without background workers, delivering through `host` every `service`
/// message of one account to one channel, with retries at 10 s and 60 s.
async fn world(host: Arc<FakeHost>) -> World {
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    ));
    let engine = Engine::builder()
        .in_memory()
        .clock(clock.clone())
        .background(false)
        .retry_schedule(RetrySchedule::parse("0s,10s,60s").unwrap())
        .channel_host(host.clone())
        .build()
        .await
        .unwrap();
    let operator = Principal::Operator;
    let account = engine
        .create_account(&operator, "acme")
        .await
        .unwrap()
        .account
        .id;
    let channel = engine
        .create_channel(
            &operator,
            account,
            NewChannel {
                name: "ops-room".to_owned(),
                plugin: "fake".to_owned(),
                config: serde_json::json!({"room": "ops"}),
            },
        )
        .await
        .unwrap();
    let spec = SubscriptionSpec {
        channels: vec![channel.id],
        ..SubscriptionSpec::default()
    };
    engine
        .put_subscription(&operator, account, Category::Service, spec)
        .await
        .unwrap();
    World {
        engine,
        clock,
        host,
        account,
    }
}

impl World {
    async fn publish(&self, title: &str) -> MessageId {
        self.engine
            .publish(
                &Principal::Operator,
                self.account,
                NewMessage::new(Category::Service, title),
            )
            .await
            .unwrap()
            .message
            .id
    }

    async fn status(&self, message: MessageId) -> (DeliveryStatus, u32, Option<String>) {
        let deliveries = self
            .engine
            .deliveries(&Principal::Operator, self.account, message)
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        let d = &deliveries[0];
        (d.status, d.attempts, d.last_error.clone())
    }

    /// Checks that the one pending delivery's retry is due `delay` from now, plus at most
    /// the 20 % jitter; then that nothing is attempted a microsecond before it, and that it
    /// is attempted at that instant.
    async fn retry_falls_due(&self, delay: Duration) {
        let now = self.clock.now();
        let pending = self.engine.outbox_depth();
        assert_eq!(pending, 1, "one delivery waits");
        let next = self.next_attempt().await;
        assert!(
            next >= now + delay && next <= now + delay.mul_f64(1.2),
            "the retry is due {:?} after the failure, the schedule says {delay:?} (+20 %)",
            next - now
        );
        self.clock.set(next - Duration::from_micros(1));
        assert_eq!(
            self.deliver_due().await,
            0,
            "not attempted before it is due"
        );
        self.clock.set(next);
        assert_eq!(self.deliver_due().await, 1, "attempted once it is due");
    }

    async fn next_attempt(&self) -> OffsetDateTime {
        let messages = self
            .engine
            .list_messages(
                &Principal::Operator,
                self.account,
                &msghub::Filter::default(),
                &msghub::PageRequest::default(),
            )
            .await
            .unwrap();
        let mut next = Vec::new();
        for message in messages.items {
            for d in self
                .engine
                .deliveries(&Principal::Operator, self.account, message.id)
                .await
                .unwrap()
            {
                next.extend(d.next_attempt_at);
            }
        }
        assert_eq!(next.len(), 1, "one delivery has a next attempt");
        next[0]
    }

    async fn deliver_due(&self) -> usize {
        self.engine.deliver_due().await.unwrap()
    }
}

#[tokio::test]
async fn a_retryable_failure_is_retried_on_the_schedule_then_dead_lettered() {
    let w = world(FakeHost::new(None)).await;
    w.host
        .fail_next(std::iter::repeat_n(FailureKind::Retryable, 3));
    let message = w.publish("Disk almost full").await;

    assert_eq!(w.deliver_due().await, 1, "the first attempt is due at once");
    let (status, attempts, error) = w.status(message).await;
    assert_eq!((status, attempts), (DeliveryStatus::Retrying, 1));
    assert!(error.unwrap().contains("the room is closed"));

    w.retry_falls_due(Duration::from_secs(10)).await;
    assert_eq!(w.status(message).await.1, 2);

    w.retry_falls_due(Duration::from_secs(60)).await;
    let (status, attempts, error) = w.status(message).await;
    assert_eq!(
        (status, attempts),
        (DeliveryStatus::Failed, 3),
        "the schedule is used up: a dead letter"
    );
    assert!(error.unwrap().contains("the room is closed"));

    w.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        w.deliver_due().await,
        0,
        "a dead letter is not attempted again"
    );
    let sent = w.host.sent();
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|d| d.idempotency_key == sent[0].idempotency_key),
        "every attempt carries the delivery's idempotency key"
    );
    let numbers: Vec<u32> = sent.iter().map(|d| d.attempt).collect();
    assert_eq!(numbers, [1, 2, 3]);
}

#[tokio::test]
async fn a_retry_after_the_schedule_succeeds_and_settles() {
    let w = world(FakeHost::new(None)).await;
    w.host.fail_next([FailureKind::Retryable]);
    let message = w.publish("Certificate expires in 7 days").await;
    assert_eq!(w.deliver_due().await, 1);
    w.retry_falls_due(Duration::from_secs(10)).await;
    let (status, attempts, error) = w.status(message).await;
    assert_eq!((status, attempts), (DeliveryStatus::Delivered, 2));
    assert!(
        error.unwrap().contains("the room is closed"),
        "the earlier failure stays on record"
    );
    w.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        w.deliver_due().await,
        0,
        "a delivered message is not sent again"
    );
    assert_eq!(w.host.sent().len(), 2);
}

#[tokio::test]
async fn a_permanent_failure_is_a_dead_letter_at_once() {
    let w = world(FakeHost::new(None)).await;
    w.host.fail_next([FailureKind::Permanent]);
    let message = w.publish("Payment failed").await;
    assert_eq!(w.deliver_due().await, 1);
    let (status, attempts, error) = w.status(message).await;
    assert_eq!((status, attempts), (DeliveryStatus::Failed, 1));
    assert!(error.unwrap().contains("permanent"));
    w.clock.advance(Duration::from_secs(3600));
    assert_eq!(w.deliver_due().await, 0);
}

#[tokio::test]
async fn a_target_that_asks_to_wait_is_retried_after_its_wait() {
    let w = world(FakeHost::new(None)).await;
    w.host.fail_next([FailureKind::RateLimited {
        retry_after: Some(Duration::from_secs(120)),
    }]);
    let message = w.publish("Quota reached").await;
    assert_eq!(w.deliver_due().await, 1);
    w.clock.advance(Duration::from_secs(60));
    assert_eq!(
        w.deliver_due().await,
        0,
        "the target's 120 s win over the schedule's 10 s"
    );
    w.clock.advance(Duration::from_secs(60));
    assert_eq!(w.deliver_due().await, 1);
    assert_eq!(w.status(message).await.0, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn a_burst_over_the_targets_rate_limit_waits_for_tokens() {
    let limit = RateLimit {
        count: 2,
        period: Duration::from_secs(60),
    };
    let w = world(FakeHost::new(Some(limit))).await;
    let mut messages = Vec::new();
    for n in 0..3 {
        messages.push(w.publish(&format!("Alert {n}")).await);
    }
    assert_eq!(
        w.deliver_due().await,
        2,
        "two tokens: two sends, the third waits"
    );
    assert_eq!(w.host.sent().len(), 2);
    w.clock.advance(Duration::from_secs(29));
    assert_eq!(w.deliver_due().await, 0, "a token comes every 30 s");
    w.clock.advance(Duration::from_secs(1));
    assert_eq!(w.deliver_due().await, 1);
    for message in messages {
        assert_eq!(w.status(message).await.0, DeliveryStatus::Delivered);
    }
    assert_eq!(w.host.sent().len(), 3, "each message was sent once");
}
