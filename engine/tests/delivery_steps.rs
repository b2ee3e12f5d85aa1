//! The delivery rules, driven step by step: an in-process fake channel host (no
//! WebAssembly), a manual clock, and `Engine::deliver_due` instead of background workers,
//! so routing, retries with their backoff, dead letters and re-queues, rate limits,
//! digests across ticks and restarts, and retention are checked at exact instants, without
//! sleeping. The same rules through the real plugins and servers on loopback:
//! `tests/tests/delivery.rs`, `delivery_isolation.rs`, `channel_*.rs`.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msghub::delivery::host::{ChannelHost, HostFuture, PartBudget};
use msghub::plugin::{
    CallError, Delivery, FailureKind, PluginInfo, RateLimit, Receipt, SendError, ValidateError,
};
use msghub::{
    AccountId, Category, ChannelId, Clock, DeliveryStatus, Digest, Engine, ManualClock, MessageId,
    NewChannel, NewMessage, Principal, Requeue, RetrySchedule, Severity, SubscriptionSpec,
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

    fn part_budget(&self, _plugin: &str) -> PartBudget {
        PartBudget {
            messages: 200,
            bytes: 1 << 20,
        }
    }
}

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    host: Arc<FakeHost>,
    account: AccountId,
    channel: ChannelId,
}

/// An engine on `path` (in memory without one) without background workers, delivering
/// through `host`, with retries at 10 s and 60 s.
async fn engine_at(path: Option<&Path>, clock: &Arc<ManualClock>, host: &Arc<FakeHost>) -> Engine {
    let builder = match path {
        Some(path) => Engine::builder().path(path),
        None => Engine::builder().in_memory(),
    };
    builder
        .clock(clock.clone())
        .background(false)
        .retry_schedule(RetrySchedule::parse("0s,10s,60s").unwrap())
        .channel_host(host.clone())
        .build()
        .await
        .unwrap()
}

/// An engine in memory (see [`engine_at`]) that delivers every `service` message of one
/// account to one channel.
async fn world(host: Arc<FakeHost>) -> World {
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    ));
    world_at(None, clock, host, Category::Service, None).await
}

/// An engine on `path` (see [`engine_at`]) that delivers every message of `category` in
/// one account to one channel, as a digest on `digest`'s schedule if given.
async fn world_at(
    path: Option<&Path>,
    clock: Arc<ManualClock>,
    host: Arc<FakeHost>,
    category: Category,
    digest: Option<Digest>,
) -> World {
    let engine = engine_at(path, &clock, &host).await;
    let operator = Principal::Operator;
    let account = engine
        .create_account(&operator, "acme")
        .await
        .unwrap()
        .account
        .id;
    let channel = create_channel(&engine, account, "ops-room").await;
    let spec = SubscriptionSpec {
        channels: vec![channel],
        digest,
        ..SubscriptionSpec::default()
    };
    engine
        .put_subscription(&operator, account, category, spec)
        .await
        .unwrap();
    World {
        engine,
        clock,
        host,
        account,
        channel,
    }
}

async fn create_channel(engine: &Engine, account: AccountId, name: &str) -> ChannelId {
    engine
        .create_channel(
            &Principal::Operator,
            account,
            NewChannel {
                name: name.to_owned(),
                plugin: "fake".to_owned(),
                config: serde_json::json!({"room": name}),
                locale: None,
            },
        )
        .await
        .unwrap()
        .id
}

/// The titles of the messages in each delivery the host was given, in order.
fn titles(sent: &[Delivery]) -> Vec<Vec<String>> {
    sent.iter()
        .map(|d| d.messages.iter().map(|m| m.title.clone()).collect())
        .collect()
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

#[tokio::test]
async fn only_messages_the_subscription_takes_are_delivered() {
    let w = world(FakeHost::new(None)).await;
    let operator = Principal::Operator;
    let spec = SubscriptionSpec {
        subtypes: Some(vec!["ddos-attack".into()]),
        min_severity: Some(Severity::Warning),
        channels: vec![w.channel],
        ..SubscriptionSpec::default()
    };
    w.engine
        .put_subscription(&operator, w.account, Category::Security, spec)
        .await
        .unwrap();
    let wanted = NewMessage::new(Category::Security, "DDoS on 203.0.113.7")
        .subtype("ddos-attack")
        .severity(Severity::Critical);
    let explained = w
        .engine
        .explain_routing(&operator, w.account, wanted.clone())
        .unwrap();
    assert!(explained.matched, "{explained:?}");
    assert_eq!(explained.targets.len(), 1);
    assert_eq!(explained.targets[0].target_id, w.channel.to_string());
    let quiet = NewMessage::new(Category::Security, "minor scan")
        .subtype("ddos-attack")
        .severity(Severity::Info);
    let why = w
        .engine
        .explain_routing(&operator, w.account, quiet.clone())
        .unwrap();
    assert!(!why.matched && why.reason.contains("below"), "{why:?}");

    for message in [
        wanted,
        quiet,
        NewMessage::new(Category::Security, "new login")
            .subtype("login")
            .severity(Severity::Critical),
        NewMessage::new(Category::Product, "unrelated").severity(Severity::Critical),
    ] {
        w.engine
            .publish(&operator, w.account, message)
            .await
            .unwrap();
    }
    assert_eq!(w.deliver_due().await, 1);
    assert_eq!(titles(&w.host.sent()), [["DDoS on 203.0.113.7"]]);
    let counts = w.engine.counts(&operator, w.account).unwrap();
    assert_eq!(
        counts.total, 4,
        "every message is in the inbox all the same"
    );
}

#[tokio::test]
async fn a_dead_letter_waits_until_requeued_then_goes_with_the_same_key() {
    let w = world(FakeHost::new(None)).await;
    w.host.fail_next([FailureKind::Permanent]);
    let message = w.publish("Disk full").await;
    assert_eq!(w.deliver_due().await, 1);
    assert_eq!(w.status(message).await.0, DeliveryStatus::Failed);
    w.clock.advance(Duration::from_secs(3600));
    assert_eq!(w.deliver_due().await, 0, "a dead letter stays failed");

    let requeued = w
        .engine
        .requeue_failed(&Principal::Operator, w.account, Requeue::Channel(w.channel))
        .await
        .unwrap();
    assert_eq!(requeued, 1);
    assert_eq!(
        w.deliver_due().await,
        1,
        "a re-queued delivery is due at once"
    );
    let (status, attempts, _) = w.status(message).await;
    assert_eq!(
        (status, attempts),
        (DeliveryStatus::Delivered, 1),
        "attempts count anew"
    );
    let sent = w.host.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].idempotency_key, sent[1].idempotency_key);
    let again = w
        .engine
        .requeue_failed(&Principal::Operator, w.account, Requeue::Message(message))
        .await
        .unwrap();
    assert_eq!(again, 0, "nothing left to re-queue");
}

#[tokio::test]
async fn a_delivery_whose_channel_was_deleted_fails_with_that_reason() {
    let w = world(FakeHost::new(None)).await;
    w.host.fail_next([FailureKind::Retryable]);
    let message = w.publish("Disk full").await;
    assert_eq!(w.deliver_due().await, 1);
    assert_eq!(w.status(message).await.0, DeliveryStatus::Retrying);
    // The channel leaves the subscription and is deleted while its delivery waits.
    let operator = Principal::Operator;
    w.engine
        .delete_subscription(&operator, w.account, Category::Service)
        .await
        .unwrap();
    w.engine
        .delete_channel(&operator, w.account, w.channel)
        .await
        .unwrap();
    w.clock.advance(Duration::from_secs(60));
    w.deliver_due().await;
    let (status, _, error) = w.status(message).await;
    assert_eq!(status, DeliveryStatus::Failed);
    assert!(error.unwrap().contains("channel was deleted"));
    assert_eq!(
        w.host.sent().len(),
        1,
        "nothing is sent to a deleted channel"
    );
}

#[tokio::test]
async fn digests_send_one_summary_per_tick_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.redb");
    let at = |t: &str| msghub::parse_time(t, "t").unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-11-28T12:00:00Z")));
    let host = FakeHost::new(None);
    let operator = Principal::Operator;
    // 09:00 in Shanghai is 01:00 UTC.
    let daily = Digest {
        cron: "0 0 9 * * *".into(),
        timezone: "Asia/Shanghai".into(),
    };
    let World {
        engine, account, ..
    } = world_at(
        Some(&path),
        clock.clone(),
        host.clone(),
        Category::Activity,
        Some(daily),
    )
    .await;
    let mut first = Vec::new();
    for i in 0..3 {
        first.push(activity(&engine, account, format!("day 1 #{i}")).await);
    }
    let gathering = engine
        .deliveries(&operator, account, first[0])
        .await
        .unwrap();
    assert_eq!(gathering.len(), 1);
    assert!(gathering[0].digest);
    assert_eq!(gathering[0].status, DeliveryStatus::Pending);
    assert_eq!(
        gathering[0].next_attempt_at,
        Some(at("2026-11-29T01:00:00Z"))
    );

    clock.set(at("2026-11-29T00:59:59Z"));
    assert_eq!(engine.run_scheduled().await.unwrap().digests, 0);
    assert_eq!(
        engine.deliver_due().await.unwrap(),
        0,
        "nothing before the tick"
    );
    clock.set(at("2026-11-29T01:00:00Z"));
    assert_eq!(engine.run_scheduled().await.unwrap().digests, 1);
    assert_eq!(engine.deliver_due().await.unwrap(), 1);
    assert_eq!(titles(&host.sent()), [["day 1 #0", "day 1 #1", "day 1 #2"]]);

    // Gather two more, then stop before the next tick.
    for i in 0..2 {
        activity(&engine, account, format!("day 2 #{i}")).await;
    }
    engine.close().await;
    drop(engine);

    // Restart long after the next tick (two ticks missed): one summary with the two.
    clock.set(at("2026-12-01T12:00:00Z"));
    let engine = engine_at(Some(&path), &clock, &host).await;
    engine.run_scheduled().await.unwrap();
    assert_eq!(engine.deliver_due().await.unwrap(), 1);
    assert_eq!(titles(&host.sent()[1..]), [["day 2 #0", "day 2 #1"]]);
    engine.close().await;
    drop(engine);

    // A second restart sends nothing again.
    let engine = engine_at(Some(&path), &clock, &host).await;
    assert_eq!(engine.run_scheduled().await.unwrap().digests, 0);
    assert_eq!(engine.deliver_due().await.unwrap(), 0);
    let sent = host.sent();
    assert_eq!(sent.len(), 2);
    assert_ne!(
        sent[0].idempotency_key, sent[1].idempotency_key,
        "each summary has its own key"
    );
    engine.close().await;
}

async fn activity(engine: &Engine, account: AccountId, title: String) -> MessageId {
    engine
        .publish(
            &Principal::Operator,
            account,
            NewMessage::new(Category::Activity, title),
        )
        .await
        .unwrap()
        .message
        .id
}

#[tokio::test]
async fn messages_past_the_retention_are_purged() {
    let w = world(FakeHost::new(None)).await;
    let operator = Principal::Operator;
    w.engine
        .set_retention(&operator, w.account, 30)
        .await
        .unwrap();
    let old = w.publish("old news").await;
    w.clock.advance(Duration::from_secs(20 * 86_400));
    let recent = w.publish("recent").await;
    w.clock.advance(Duration::from_secs(11 * 86_400));
    let work = w.engine.run_scheduled().await.unwrap();
    assert_eq!(work.expired, 1);
    assert!(w.engine.message(&operator, w.account, old).await.is_err());
    assert!(w.engine.message(&operator, w.account, recent).await.is_ok());
    assert_eq!(w.engine.counts(&operator, w.account).unwrap().total, 1);
    let err = w
        .engine
        .set_retention(&operator, w.account, 0)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("retention_days"));
}

#[tokio::test]
async fn quiet_hours_hold_a_delivery_until_they_end_also_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.redb");
    let at = |t: &str| msghub::parse_time(t, "t").unwrap();
    // 22:30 in Shanghai.
    let clock = Arc::new(ManualClock::new(at("2026-12-01T14:30:00Z")));
    // Two a minute: what the window's end releases goes out within the target's limit.
    let host = FakeHost::new(Some(RateLimit {
        count: 2,
        period: Duration::from_secs(60),
    }));
    let operator = Principal::Operator;
    let World {
        engine,
        account,
        channel,
        ..
    } = world_at(
        Some(&path),
        clock.clone(),
        host.clone(),
        Category::Service,
        None,
    )
    .await;
    let quiet = msghub::QuietHours {
        start: "22:00".into(),
        end: "07:00".into(),
        timezone: "Asia/Shanghai".into(),
        pass: vec![Severity::Critical],
    };
    let spec = SubscriptionSpec {
        channels: vec![channel],
        quiet_hours: Some(quiet.clone()),
        ..SubscriptionSpec::default()
    };
    let sub = engine
        .put_subscription(&operator, account, Category::Service, spec)
        .await
        .unwrap();
    assert_eq!(sub.quiet_hours, Some(quiet));
    // 07:00 in Shanghai is 23:00 UTC.
    let end = at("2026-12-01T23:00:00Z");
    let routing = engine
        .explain_routing(&operator, account, NewMessage::new(Category::Service, "t"))
        .unwrap();
    assert_eq!(routing.targets[0].held_until, Some(end));
    assert!(
        routing
            .reason
            .contains("quiet hours (22:00–07:00 Asia/Shanghai) hold it until"),
        "{}",
        routing.reason
    );
    let urgent = NewMessage::new(Category::Service, "urgent").severity(Severity::Critical);
    let routing = engine
        .explain_routing(&operator, account, urgent.clone())
        .unwrap();
    assert_eq!(routing.targets[0].held_until, None);

    let mut held = Vec::new();
    for i in 0..3 {
        let published = engine
            .publish(
                &operator,
                account,
                NewMessage::new(Category::Service, format!("night #{i}")),
            )
            .await
            .unwrap();
        held.push(published.message.id);
    }
    engine.publish(&operator, account, urgent).await.unwrap();
    assert_eq!(engine.deliver_due().await.unwrap(), 1, "critical passes");
    assert_eq!(titles(&host.sent()), [["urgent"]]);
    let waiting = engine
        .deliveries(&operator, account, held[0])
        .await
        .unwrap();
    assert_eq!(waiting[0].status, DeliveryStatus::Pending);
    assert_eq!(waiting[0].next_attempt_at, Some(end));

    // A mandatory notice is not held either, whatever its severity.
    engine
        .create_mandatory_rule(
            &operator,
            msghub::NewMandatoryRule {
                name: "outages".into(),
                category: Category::Service,
                subtypes: Some(vec!["outage".into()]),
                min_severity: None,
            },
        )
        .await
        .unwrap();
    let outage = NewMessage::new(Category::Service, "outage notice").subtype("outage");
    let routing = engine
        .explain_routing(&operator, account, outage.clone())
        .unwrap();
    assert_eq!(routing.targets[0].held_until, None, "{}", routing.reason);
    assert!(
        routing.reason.contains("quiet hours say"),
        "{}",
        routing.reason
    );
    engine.publish(&operator, account, outage).await.unwrap();
    assert_eq!(engine.deliver_due().await.unwrap(), 1, "mandatory passes");
    assert_eq!(titles(&host.sent()[1..]), [["outage notice"]]);

    clock.set(at("2026-12-01T22:59:59Z"));
    assert_eq!(engine.deliver_due().await.unwrap(), 0);
    engine.close().await;
    drop(engine);

    // Reopened on the same file: still held until the end, not a moment before.
    let engine = engine_at(Some(&path), &clock, &host).await;
    assert_eq!(engine.deliver_due().await.unwrap(), 0);
    clock.set(end);
    assert_eq!(
        engine.deliver_due().await.unwrap(),
        2,
        "the window's end releases what the rate limit allows"
    );
    clock.set(end + Duration::from_secs(30));
    assert_eq!(engine.deliver_due().await.unwrap(), 1);
    let mut sent: Vec<String> = titles(&host.sent()[2..]).concat();
    sent.sort();
    assert_eq!(sent, ["night #0", "night #1", "night #2"]);
    engine.close().await;
}

#[tokio::test]
async fn quiet_hours_are_checked_with_the_field_to_fix() {
    let w = world(FakeHost::new(None)).await;
    for (start, end, zone, field) in [
        ("22:00", "22:00", "UTC", "quiet_hours.end"),
        ("25:00", "07:00", "UTC", "quiet_hours.start"),
        ("22:00", "7", "UTC", "quiet_hours.end"),
        ("22:00", "07:00", "Mars/Olympus", "quiet_hours.timezone"),
    ] {
        let spec = SubscriptionSpec {
            channels: vec![w.channel],
            quiet_hours: Some(msghub::QuietHours {
                start: start.into(),
                end: end.into(),
                timezone: zone.into(),
                pass: Vec::new(),
            }),
            ..SubscriptionSpec::default()
        };
        let e = w
            .engine
            .put_subscription(&Principal::Operator, w.account, Category::Service, spec)
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some(field), "{start}-{end} {zone}: {e}");
    }
}

#[tokio::test]
async fn each_delivery_speaks_its_targets_language_else_its_accounts() {
    let w = world(FakeHost::new(None)).await;
    let operator = Principal::Operator;
    let chinese = w
        .engine
        .create_channel(
            &operator,
            w.account,
            NewChannel {
                name: "cn-room".to_owned(),
                plugin: "fake".to_owned(),
                config: serde_json::json!({"room": "cn"}),
                locale: Some("zh-CN".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(chinese.locale.as_deref(), Some("zh-CN"));
    let spec = SubscriptionSpec {
        channels: vec![w.channel, chinese.id],
        ..SubscriptionSpec::default()
    };
    w.engine
        .put_subscription(&operator, w.account, Category::Service, spec)
        .await
        .unwrap();
    w.publish("one").await;
    assert_eq!(w.deliver_due().await, 2);
    let mut locales: Vec<String> = w.host.sent().iter().map(|d| d.locale.clone()).collect();
    locales.sort();
    assert_eq!(locales, ["en", "zh-CN"], "the server's, and the channel's");

    // The account's locale is the fallback of the channel without one.
    w.engine
        .set_account_locale(&operator, w.account, Some("zh-CN".into()))
        .await
        .unwrap();
    w.publish("two").await;
    assert_eq!(w.deliver_due().await, 2);
    assert!(w.host.sent()[2..].iter().all(|d| d.locale == "zh-CN"));

    let e = w
        .engine
        .set_account_locale(&operator, w.account, Some("fr".into()))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("locale"));
    assert!(e.to_string().contains("use one of en, zh-CN"), "{e}");
}
