//! No tenant starves another through delivery: an account's attempts in flight are capped,
//! so a tenant whose channels all point at a host that never answers leaves slots for the
//! others; channel tests run on slots of their own and are rate-limited per account; and a
//! digest too large for one plugin call goes out in parts that each fit, resuming after
//! the parts that arrived when one fails.

use std::sync::Arc;
use std::time::Duration;

use msghub::plugin::PluginConfig;
use msghub::{
    AccountId, Category, ChannelId, DeliveryStatus, Digest, Engine, Error, ManualClock, NewChannel,
    NewMessage, Principal, RetrySchedule, SubscriptionSpec, TEST_SENDS_PER_MINUTE,
};
use msghub_tests::channels::bundled;
use msghub_tests::{Recorded, Reply, TestServer, test_config};
use serde_json::json;

const OPERATOR: Principal = Principal::Operator;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The test configuration, but a target that does not answer holds its call for 10 s, as a
/// tarpit would in production.
fn patient() -> PluginConfig {
    PluginConfig {
        call_deadline: Duration::from_secs(10),
        response_timeout: Duration::from_secs(10),
        ..test_config()
    }
}

async fn engine(config: PluginConfig, clock: Option<Arc<ManualClock>>, retry: &str) -> Engine {
    let mut builder = Engine::builder()
        .in_memory()
        .plugins(Arc::new(bundled(config).await))
        .retry_schedule(RetrySchedule::parse(retry).unwrap());
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    builder.build().await.unwrap()
}

async fn account(engine: &Engine, name: &str) -> AccountId {
    engine
        .create_account(&OPERATOR, name)
        .await
        .unwrap()
        .account
        .id
}

async fn webhook(engine: &Engine, account: AccountId, name: &str, url: String) -> ChannelId {
    engine
        .create_channel(
            &OPERATOR,
            account,
            NewChannel {
                name: name.into(),
                plugin: "webhook".into(),
                config: json!({"url": url, "secret": SECRET}),
                locale: None,
            },
        )
        .await
        .unwrap()
        .id
}

async fn subscribe(engine: &Engine, account: AccountId, spec: SubscriptionSpec) {
    engine
        .put_subscription(&OPERATOR, account, Category::Exception, spec)
        .await
        .unwrap();
}

/// The titles of the messages one webhook request carried.
fn titles(request: &Recorded) -> Vec<String> {
    let body = request.json();
    let data = body["data"].clone();
    data["messages"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![data.clone()])
        .into_iter()
        .map(|m| m["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_whose_channels_all_hang_leaves_call_slots_for_the_others() {
    let tarpit = TestServer::start(|_| Reply::Hang).await;
    let healthy = TestServer::start(|_| Reply::ok("")).await;
    let engine = engine(patient(), None, "0s,1s").await;

    // 20 channels of one account, all pointing at a host that never answers, and 10
    // messages to each: 200 attempts want a slot at once.
    let greedy = account(&engine, "greedy").await;
    let mut channels = Vec::new();
    for i in 0..20 {
        channels.push(webhook(&engine, greedy, &format!("tarpit-{i}"), tarpit.url("/")).await);
    }
    subscribe(
        &engine,
        greedy,
        SubscriptionSpec {
            channels,
            ..Default::default()
        },
    )
    .await;
    let mut greedy_messages = Vec::new();
    for i in 0..10 {
        let published = engine
            .publish(
                &OPERATOR,
                greedy,
                NewMessage::new(Category::Exception, format!("stuck #{i}")),
            )
            .await
            .unwrap();
        greedy_messages.push(published.message.id);
    }
    let share = msghub::WorkerConfig::default().per_account;
    for _ in 0..600 {
        if tarpit.connections() >= share {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(tarpit.connections(), share, "the account holds its share");

    // Another tenant's delivery goes out while every attempt of the first is still stuck.
    let other = account(&engine, "other").await;
    let channel = webhook(&engine, other, "fine", healthy.url("/hook")).await;
    subscribe(
        &engine,
        other,
        SubscriptionSpec {
            channels: vec![channel],
            ..Default::default()
        },
    )
    .await;
    let message = engine
        .publish(
            &OPERATOR,
            other,
            NewMessage::new(Category::Exception, "on time"),
        )
        .await
        .unwrap()
        .message
        .id;
    let mut delivered = false;
    for _ in 0..3000 {
        let deliveries = engine.deliveries(&OPERATOR, other, message).await.unwrap();
        if deliveries[0].status == DeliveryStatus::Delivered {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(delivered, "the other tenant's delivery went out");
    let mut attempted = 0;
    for id in &greedy_messages {
        for delivery in engine.deliveries(&OPERATOR, greedy, *id).await.unwrap() {
            attempted += delivery.attempts;
        }
    }
    assert_eq!(
        attempted, 0,
        "the other tenant did not wait for the stuck attempts to end"
    );
    assert_eq!(
        tarpit.connections(),
        share,
        "the stuck account never held more than its share"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_tests_have_their_own_slots_and_a_rate_per_account() {
    let clock = Arc::new(ManualClock::new(
        msghub::parse_time("2026-11-28T08:00:00Z", "start").unwrap(),
    ));
    let tarpit = TestServer::start(|_| Reply::Hang).await;
    let healthy = TestServer::start(|_| Reply::ok("")).await;
    let engine = engine(patient(), Some(clock.clone()), "0s").await;
    let slow = account(&engine, "slow").await;
    let stuck = webhook(&engine, slow, "tarpit", tarpit.url("/")).await;

    // Two tests of one account may run at once; a third is refused at once, not queued.
    let mut running = Vec::new();
    for _ in 0..2 {
        let engine = engine.clone();
        running.push(tokio::spawn(async move {
            engine.test_channel(&OPERATOR, slow, stuck, None).await
        }));
    }
    for _ in 0..600 {
        if tarpit.connections() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(tarpit.connections(), 2);
    match engine.test_channel(&OPERATOR, slow, stuck, None).await {
        Err(Error::RateLimited { retry_after, .. }) => assert!(retry_after > Duration::ZERO),
        other => panic!("a third test of one account ran: {other:?}"),
    }

    // Another account tests its channel meanwhile, and may do so ten times a minute.
    let busy = account(&engine, "busy").await;
    let fine = webhook(&engine, busy, "fine", healthy.url("/hook")).await;
    for i in 0..TEST_SENDS_PER_MINUTE {
        let outcome = engine
            .test_channel(&OPERATOR, busy, fine, None)
            .await
            .unwrap_or_else(|e| panic!("test {i} refused: {e}"));
        assert_eq!(outcome.status, DeliveryStatus::Delivered, "{outcome:?}");
    }
    let wait = match engine.test_channel(&OPERATOR, busy, fine, None).await {
        Err(Error::RateLimited { retry_after, .. }) => retry_after,
        other => panic!("test {} ran: {other:?}", TEST_SENDS_PER_MINUTE + 1),
    };
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(6),
        "{wait:?}"
    );
    assert_eq!(healthy.requests().len(), TEST_SENDS_PER_MINUTE as usize);
    // After the wait it names, one more goes.
    clock.advance(wait + Duration::from_millis(1));
    let outcome = engine
        .test_channel(&OPERATOR, busy, fine, None)
        .await
        .unwrap();
    assert_eq!(outcome.status, DeliveryStatus::Delivered);
    for task in running {
        task.abort();
    }
}

/// A digest subscription on `server` in a fresh account, with 40 messages of 60,000 bytes
/// gathered (2.4 MB together, more than one call may carry) and its tick passed.
async fn big_digest(engine: &Engine, clock: &ManualClock, server: &TestServer) -> AccountId {
    let account = account(engine, "digesting").await;
    let channel = webhook(engine, account, "daily", server.url("/hook")).await;
    subscribe(
        engine,
        account,
        SubscriptionSpec {
            channels: vec![channel],
            digest: Some(Digest {
                cron: "0 0 9 * * *".into(),
                timezone: "UTC".into(),
            }),
            ..Default::default()
        },
    )
    .await;
    for i in 0..40 {
        engine
            .publish(
                &OPERATOR,
                account,
                NewMessage::new(Category::Exception, format!("big #{i:02}"))
                    .body("x".repeat(60_000)),
            )
            .await
            .unwrap();
    }
    clock.set(msghub::parse_time("2026-11-28T09:00:00Z", "tick").unwrap());
    engine.run_scheduled().await.unwrap();
    account
}

async fn settled_digest(engine: &Engine, account: AccountId) -> msghub::DeliveryInfo {
    let first = engine
        .list_messages(
            &OPERATOR,
            account,
            &msghub::Filter::default(),
            &msghub::PageRequest {
                limit: 200,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items
        .last()
        .unwrap()
        .id;
    for _ in 0..1000 {
        let delivery = engine.deliveries(&OPERATOR, account, first).await.unwrap()[0].clone();
        if matches!(
            delivery.status,
            DeliveryStatus::Delivered | DeliveryStatus::Failed
        ) {
            return delivery;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the digest did not settle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_too_large_for_one_call_goes_out_in_parts_that_fit() {
    let clock = Arc::new(ManualClock::new(
        msghub::parse_time("2026-11-28T08:00:00Z", "start").unwrap(),
    ));
    let server = TestServer::start(|_| Reply::ok("")).await;
    let engine = engine(test_config(), Some(clock.clone()), "0s").await;
    let account = big_digest(&engine, &clock, &server).await;
    let delivery = settled_digest(&engine, account).await;
    assert_eq!(delivery.status, DeliveryStatus::Delivered, "{delivery:?}");
    assert_eq!(delivery.attempts, 1, "the parts are one attempt");

    let requests = server.requests();
    assert!(requests.len() >= 3, "{} calls", requests.len());
    let mut all: Vec<String> = requests.iter().flat_map(titles).collect();
    let sent = all.len();
    all.sort();
    all.dedup();
    assert_eq!((sent, all.len()), (40, 40), "each message once");
    let budget = msghub::plugin::PluginConfig::default().memory_limit / 16;
    for request in &requests {
        assert!(
            request.body.len() < budget + (budget / 4),
            "one call carried {} bytes",
            request.body.len()
        );
    }
    let mut keys: Vec<&str> = requests
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), requests.len(), "each part has its own key");
    let id = delivery.id.to_string();
    assert!(keys.iter().all(|k| k.starts_with(&id)), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_follows_the_memory_cap_the_operator_gave_its_plugin() {
    let clock = Arc::new(ManualClock::new(
        msghub::parse_time("2026-11-28T08:00:00Z", "start").unwrap(),
    ));
    let server = TestServer::start(|_| Reply::ok("")).await;
    // The webhook plugin gets 4 MiB instead of 16: parts of at most 256 KiB.
    let mut config = test_config();
    config.plugin_caps.insert(
        "webhook".to_owned(),
        msghub::plugin::PluginCaps {
            memory_limit: Some(4 << 20),
            call_deadline: None,
        },
    );
    let engine = engine(config, Some(clock.clone()), "0s").await;
    let account = big_digest(&engine, &clock, &server).await;
    let delivery = settled_digest(&engine, account).await;
    assert_eq!(delivery.status, DeliveryStatus::Delivered, "{delivery:?}");

    let requests = server.requests();
    let budget = (4 << 20) / 16;
    assert!(requests.len() >= 10, "{} calls", requests.len());
    for request in &requests {
        assert!(
            request.body.len() < budget + (budget / 4),
            "one call carried {} bytes",
            request.body.len()
        );
    }
    let sent: usize = requests.iter().map(|r| titles(r).len()).sum();
    assert_eq!(sent, 40, "each message once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_part_is_retried_without_sending_the_parts_that_arrived_again() {
    let clock = Arc::new(ManualClock::new(
        msghub::parse_time("2026-11-28T08:00:00Z", "start").unwrap(),
    ));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = {
        let calls = calls.clone();
        TestServer::start(move |_| {
            // The second call fails once.
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                Reply::Answer(500, Vec::new(), b"try again".to_vec())
            } else {
                Reply::ok("")
            }
        })
        .await
    };
    let engine = engine(test_config(), Some(clock.clone()), "0s,0s,0s").await;
    let account = big_digest(&engine, &clock, &server).await;
    let delivery = settled_digest(&engine, account).await;
    assert_eq!(delivery.status, DeliveryStatus::Delivered, "{delivery:?}");
    assert_eq!(delivery.attempts, 2, "the failed part counts as an attempt");

    let requests = server.requests();
    // The failed call and its retry carry the same part under the same key.
    assert_eq!(titles(&requests[1]), titles(&requests[2]));
    assert_eq!(
        requests[1].header("webhook-id"),
        requests[2].header("webhook-id")
    );
    let mut arrived: Vec<String> = requests
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .flat_map(|(_, r)| titles(r))
        .collect();
    let sent = arrived.len();
    arrived.sort();
    arrived.dedup();
    assert_eq!((sent, arrived.len()), (40, 40), "each message arrived once");
}
