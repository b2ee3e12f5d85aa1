//! Subscriptions and reliable delivery through the engine: routing by category, subtype and
//! severity; each outcome kind with retries that keep their idempotency key; dead letters and
//! re-queues; per-target rate limits; digests across a tick and across a restart; retention.
//! Channel configuration (secrets, refusals, names): `delivery_config.rs`. Time is a `ManualClock`, so nothing waits for real delays.

use std::sync::Arc;
use std::time::Duration;

use msghub::{
    Category, ChannelId, DeliveryStatus, Digest, ManualClock, NewChannel, NewMessage, Principal,
    Requeue, Severity, SubscriptionSpec,
};
use msghub_tests::hub::{SECRET, hub, hub_at, start, status_is, titles, wait_requests};
use msghub_tests::{Reply, TestServer};
use serde_json::json;

const OPERATOR: Principal = Principal::Operator;

#[tokio::test]
async fn only_messages_the_subscription_takes_are_delivered() {
    let hub = hub("0s").await;
    let server = TestServer::start(|_| Reply::ok("")).await;
    let channel = hub.webhook("sre", &server).await;
    hub.subscribe(
        Category::Security,
        SubscriptionSpec {
            subtypes: Some(vec!["ddos-attack".into()]),
            min_severity: Some(Severity::Warning),
            channels: vec![channel],
            ..SubscriptionSpec::default()
        },
    )
    .await;

    let wanted = NewMessage::new(Category::Security, "DDoS on 203.0.113.7")
        .subtype("ddos-attack")
        .severity(Severity::Critical);
    let explained = hub
        .engine
        .explain_routing(&OPERATOR, hub.account, wanted.clone())
        .unwrap();
    assert!(explained.matched, "{explained:?}");
    assert_eq!(explained.targets.len(), 1);
    assert_eq!(explained.targets[0].target_id, channel.to_string());

    let quiet = NewMessage::new(Category::Security, "minor scan")
        .subtype("ddos-attack")
        .severity(Severity::Info);
    let why = hub
        .engine
        .explain_routing(&OPERATOR, hub.account, quiet.clone())
        .unwrap();
    assert!(!why.matched && why.reason.contains("below"), "{why:?}");

    let delivered = hub.publish(wanted).await;
    hub.publish(quiet).await;
    hub.publish(
        NewMessage::new(Category::Security, "new login")
            .subtype("login")
            .severity(Severity::Critical),
    )
    .await;
    hub.publish(NewMessage::new(Category::Product, "unrelated").severity(Severity::Critical))
        .await;

    let list = hub
        .wait_for(delivered, status_is(DeliveryStatus::Delivered))
        .await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].attempts, 1);
    // Give any wrong delivery the time to arrive, then check nothing else came.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let requests = server.requests();
    assert_eq!(titles(&requests), vec!["DDoS on 203.0.113.7"]);
    assert_eq!(
        requests[0].header("webhook-id"),
        Some(list[0].id.to_string().as_str())
    );
    // Every message is in the inbox all the same.
    let counts = hub.engine.counts(&OPERATOR, hub.account).unwrap();
    assert_eq!(counts.total, 4);
}

#[tokio::test]
async fn retries_keep_their_key_and_end_as_a_dead_letter_that_can_be_requeued() {
    let hub = hub("0s,5s,10s").await;
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = healthy.clone();
    let server = TestServer::start(move |_| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::ok("")
        } else {
            Reply::Answer(500, Vec::new(), b"down".to_vec())
        }
    })
    .await;
    let channel = hub.webhook("flaky", &server).await;
    hub.subscribe(
        Category::Exception,
        SubscriptionSpec {
            channels: vec![channel],
            ..SubscriptionSpec::default()
        },
    )
    .await;
    let id = hub
        .publish(NewMessage::new(Category::Exception, "disk full"))
        .await;

    let list = hub.wait_for(id, status_is(DeliveryStatus::Retrying)).await;
    assert_eq!(list[0].attempts, 1);
    assert!(
        list[0].last_error.as_deref().unwrap().contains("500"),
        "{list:?}"
    );
    let next = list[0].next_attempt_at.unwrap();
    let wait = next - start();
    assert!(
        wait >= time::Duration::seconds(5) && wait <= time::Duration::seconds(6),
        "{wait}"
    );

    // Nothing happens before the retry is due.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(server.requests().len(), 1);

    hub.clock.advance(Duration::from_secs(7));
    hub.wait_for(id, |l| l[0].attempts == 2).await;
    hub.clock.advance(Duration::from_secs(13));
    let list = hub.wait_for(id, status_is(DeliveryStatus::Failed)).await;
    assert_eq!(list[0].attempts, 3);
    assert_eq!(list[0].next_attempt_at, None);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let keys: Vec<_> = requests
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert!(
        keys.iter().all(|k| *k == list[0].id.to_string()),
        "{keys:?}"
    );

    // The dead letter stays failed until someone re-queues it.
    hub.clock.advance(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(server.requests().len(), 3);

    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let requeued = hub
        .engine
        .requeue_failed(&OPERATOR, hub.account, Requeue::Channel(channel))
        .await
        .unwrap();
    assert_eq!(requeued, 1);
    let list = hub.wait_for(id, status_is(DeliveryStatus::Delivered)).await;
    assert_eq!(list[0].attempts, 1);
    assert_eq!(
        server.requests()[3].header("webhook-id"),
        Some(list[0].id.to_string().as_str())
    );
    // Nothing left to re-queue.
    let again = hub
        .engine
        .requeue_failed(&OPERATOR, hub.account, Requeue::Message(id))
        .await
        .unwrap();
    assert_eq!(again, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_channel_was_deleted_fails_with_that_reason() {
    let hub = hub("0s,5s,10s").await;
    let server = TestServer::start(|_| Reply::Answer(503, Vec::new(), b"busy".to_vec())).await;
    let channel = hub.webhook("doomed", &server).await;
    hub.subscribe(
        Category::Exception,
        SubscriptionSpec {
            channels: vec![channel],
            ..SubscriptionSpec::default()
        },
    )
    .await;
    let id = hub
        .publish(NewMessage::new(Category::Exception, "disk full"))
        .await;
    hub.wait_for(id, status_is(DeliveryStatus::Retrying)).await;

    // The channel leaves the subscription and is deleted while its delivery waits.
    hub.engine
        .delete_subscription(&OPERATOR, hub.account, Category::Exception)
        .await
        .unwrap();
    hub.engine
        .delete_channel(&OPERATOR, hub.account, channel)
        .await
        .unwrap();
    hub.clock.advance(Duration::from_secs(7));
    let list = hub.wait_for(id, status_is(DeliveryStatus::Failed)).await;
    let error = list[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("channel was deleted"), "{list:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "nothing is sent to a deleted channel"
    );
}

#[tokio::test]
async fn permanent_errors_fail_at_once_and_retry_after_is_honoured() {
    let hub = hub("0s,5s,10s").await;
    let gone = TestServer::start(|_| Reply::Answer(410, Vec::new(), Vec::new())).await;
    let throttled =
        TestServer::start(|_| Reply::Answer(429, vec![("retry-after", "120".into())], Vec::new()))
            .await;
    let a = hub.webhook("gone", &gone).await;
    let b = hub.webhook("throttled", &throttled).await;
    hub.subscribe(
        Category::Account,
        SubscriptionSpec {
            channels: vec![a, b],
            ..SubscriptionSpec::default()
        },
    )
    .await;
    let id = hub
        .publish(NewMessage::new(Category::Account, "password changed"))
        .await;
    let list = hub
        .wait_for(id, |l| l.len() == 2 && l.iter().all(|d| d.attempts == 1))
        .await;
    let by = |channel: ChannelId| {
        list.iter()
            .find(|d| d.target_id == channel.to_string())
            .unwrap()
            .clone()
    };
    let failed = by(a);
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert!(failed.last_error.unwrap().contains("410"));
    let waiting = by(b);
    assert_eq!(waiting.status, DeliveryStatus::Retrying);
    // The receiver asked for 120 s, longer than the schedule's 5 s: it wins.
    assert_eq!(
        waiting.next_attempt_at.unwrap() - start(),
        time::Duration::seconds(120)
    );
}

#[tokio::test]
async fn a_burst_beyond_the_plugin_limit_waits_for_tokens() {
    let hub = hub("0s").await;
    let server = TestServer::start(|_| Reply::ok(r#"{"errcode":0,"errmsg":"ok"}"#)).await;
    let channel = hub
        .engine
        .create_channel(
            &OPERATOR,
            hub.account,
            NewChannel {
                name: "ding".into(),
                plugin: "dingtalk".into(),
                config: json!({"webhook_url": server.url("/robot/send?access_token=t")}),
            },
        )
        .await
        .unwrap();
    hub.subscribe(
        Category::Service,
        SubscriptionSpec {
            channels: vec![channel.id],
            ..SubscriptionSpec::default()
        },
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            hub.publish(NewMessage::new(Category::Service, format!("notice {i}")))
                .await,
        );
    }
    // DingTalk takes 20 a minute: 20 go at once, the rest wait instead of being refused.
    wait_requests(&server, 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.requests().len(), 20);
    let pending = hub.deliveries(ids[24]).await;
    assert_eq!(pending[0].status, DeliveryStatus::Pending);
    assert_eq!(pending[0].attempts, 0);
    // One token every 3 s.
    hub.clock.advance(Duration::from_secs(7));
    wait_requests(&server, 22).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.requests().len(), 22);
    hub.clock.advance(Duration::from_secs(60));
    wait_requests(&server, 25).await;
    for id in ids {
        hub.wait_for(id, status_is(DeliveryStatus::Delivered)).await;
    }
}

#[tokio::test]
async fn digests_send_one_summary_per_tick_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.redb");
    let clock = Arc::new(ManualClock::new(start()));
    let server = TestServer::start(|_| Reply::ok("")).await;
    let engine = hub_at(Some(&path), clock.clone(), "0s").await;
    let account = engine
        .create_account(&OPERATOR, "acme")
        .await
        .unwrap()
        .account
        .id;
    let channel = engine
        .create_channel(
            &OPERATOR,
            account,
            NewChannel {
                name: "daily".into(),
                plugin: "webhook".into(),
                config: json!({"url": server.url("/hook"), "secret": SECRET}),
            },
        )
        .await
        .unwrap()
        .id;
    engine
        .put_subscription(
            &OPERATOR,
            account,
            Category::Activity,
            SubscriptionSpec {
                channels: vec![channel],
                // 09:00 in Shanghai is 01:00 UTC.
                digest: Some(Digest {
                    cron: "0 0 9 * * *".into(),
                    timezone: "Asia/Shanghai".into(),
                }),
                ..SubscriptionSpec::default()
            },
        )
        .await
        .unwrap();
    let mut first = Vec::new();
    for i in 0..3 {
        let id = engine
            .publish(
                &OPERATOR,
                account,
                NewMessage::new(Category::Activity, format!("day 1 #{i}")),
            )
            .await
            .unwrap()
            .message
            .id;
        first.push(id);
    }
    let gathering = engine
        .deliveries(&OPERATOR, account, first[0])
        .await
        .unwrap();
    assert_eq!(gathering.len(), 1);
    assert!(gathering[0].digest);
    assert_eq!(gathering[0].status, DeliveryStatus::Pending);
    assert_eq!(
        gathering[0].next_attempt_at,
        Some(msghub::parse_time("2026-11-29T01:00:00Z", "t").unwrap())
    );
    // Before the tick nothing is sent.
    clock.set(msghub::parse_time("2026-11-29T00:59:59Z", "t").unwrap());
    assert_eq!(engine.run_scheduled().await.unwrap().digests, 0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(server.requests().is_empty());

    clock.set(msghub::parse_time("2026-11-29T01:00:00Z", "t").unwrap());
    engine.run_scheduled().await.unwrap();
    let requests = wait_requests(&server, 1).await;
    assert_eq!(titles(&requests), vec!["day 1 #0", "day 1 #1", "day 1 #2"]);

    // Gather two more, then stop before the next tick.
    for i in 0..2 {
        engine
            .publish(
                &OPERATOR,
                account,
                NewMessage::new(Category::Activity, format!("day 2 #{i}")),
            )
            .await
            .unwrap();
    }
    engine.close().await;
    drop(engine);

    // Restart long after the next tick (two ticks missed): one summary with the two.
    clock.set(msghub::parse_time("2026-12-01T12:00:00Z", "t").unwrap());
    let engine = hub_at(Some(&path), clock.clone(), "0s").await;
    let requests = wait_requests(&server, 2).await;
    assert_eq!(titles(&requests[1..]), vec!["day 2 #0", "day 2 #1"]);
    engine.run_scheduled().await.unwrap();
    engine.close().await;
    drop(engine);
    // And a second restart sends nothing again.
    let engine = hub_at(Some(&path), clock.clone(), "0s").await;
    engine.run_scheduled().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.requests().len(), 2);
    let ids: std::collections::HashSet<_> = server
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "each summary has its own key");
    engine.close().await;
}

#[tokio::test]
async fn messages_past_the_retention_are_purged() {
    let hub = hub("0s").await;
    hub.engine
        .set_retention(&OPERATOR, hub.account, 30)
        .await
        .unwrap();
    let old = hub
        .publish(NewMessage::new(Category::Product, "old news"))
        .await;
    hub.clock.advance(Duration::from_secs(20 * 86_400));
    let recent = hub
        .publish(NewMessage::new(Category::Product, "recent"))
        .await;
    hub.clock.advance(Duration::from_secs(11 * 86_400));
    let work = hub.engine.run_scheduled().await.unwrap();
    assert_eq!(work.expired, 1);
    assert!(
        hub.engine
            .message(&OPERATOR, hub.account, old)
            .await
            .is_err()
    );
    assert!(
        hub.engine
            .message(&OPERATOR, hub.account, recent)
            .await
            .is_ok()
    );
    assert_eq!(hub.engine.counts(&OPERATOR, hub.account).unwrap().total, 1);
    let err = hub
        .engine
        .set_retention(&OPERATOR, hub.account, 0)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("retention_days"));
}
