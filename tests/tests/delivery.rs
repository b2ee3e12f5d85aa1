//! Delivery end to end through the real bundled webhook plugin and a receiver on loopback:
//! a routed message arrives once with its delivery id as the `webhook-id`, and a failure
//! the plugin reports is retried with the same key. The rules themselves (routing, retries,
//! dead letters and re-queues, rate limits, digests, retention) are stepped through with a
//! fake channel host and a manual clock in `engine/tests/delivery_steps.rs`; channel
//! configuration (secrets, refusals, names) is in `delivery_config.rs`.

use std::sync::Arc;
use std::time::Duration;

use msghub::{Category, DeliveryStatus, NewMessage, Severity, SubscriptionSpec};
use msghub_tests::hub::{hub, status_is, titles};
use msghub_tests::{Reply, TestServer};

#[tokio::test]
async fn a_routed_message_reaches_the_webhook_once_keyed_by_its_delivery() {
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
    let quiet = hub
        .publish(
            NewMessage::new(Category::Security, "minor scan")
                .subtype("ddos-attack")
                .severity(Severity::Info),
        )
        .await;
    let delivered = hub
        .publish(
            NewMessage::new(Category::Security, "DDoS on 203.0.113.7")
                .subtype("ddos-attack")
                .severity(Severity::Critical),
        )
        .await;
    let list = hub
        .wait_for(delivered, status_is(DeliveryStatus::Delivered))
        .await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].attempts, 1);
    // Routing is decided at publish: the message the subscription does not take has no
    // delivery, so nothing can arrive for it later.
    assert!(hub.deliveries(quiet).await.is_empty());
    let requests = server.requests();
    assert_eq!(titles(&requests), vec!["DDoS on 203.0.113.7"]);
    assert_eq!(
        requests[0].header("webhook-id"),
        Some(list[0].id.to_string().as_str())
    );
}

#[tokio::test]
async fn a_failure_the_plugin_reports_is_retried_with_the_same_key() {
    let hub = hub("0s,5s").await;
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
    assert!(
        list[0].last_error.as_deref().unwrap().contains("500"),
        "{list:?}"
    );
    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    hub.clock.advance(Duration::from_secs(7));
    let list = hub.wait_for(id, status_is(DeliveryStatus::Delivered)).await;
    assert_eq!(list[0].attempts, 2);
    let keys: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(keys, [list[0].id.to_string(), list[0].id.to_string()]);
}
