//! Channels, contacts and subscriptions as configured: secrets redacted in answers and
//! sealed at rest, bad input refused naming the field, names unique even when created at
//! once.

use std::sync::Arc;

use msghub::{
    Category, DeliveryStatus, Digest, Engine, NewChannel, NewContact, PageRequest, Principal,
    SecretKey, SubscriptionSpec,
};
use msghub_tests::channels::bundled;
use msghub_tests::hub::{SECRET, hub};
use msghub_tests::{Reply, TestServer, test_config};
use serde_json::json;

const OPERATOR: Principal = Principal::Operator;

#[tokio::test]
async fn secrets_are_redacted_and_sealed_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.redb");
    let key = SecretKey::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let engine = Engine::builder()
        .path(&path)
        .plugins(Arc::new(bundled(test_config()).await))
        .secret_key(key)
        .build()
        .await
        .unwrap();
    let account = engine
        .create_account(&OPERATOR, "acme")
        .await
        .unwrap()
        .account
        .id;
    let server = TestServer::start(|_| Reply::ok("")).await;
    let channel = engine
        .create_channel(
            &OPERATOR,
            account,
            NewChannel {
                name: "hook".into(),
                plugin: "webhook".into(),
                config: json!({"url": server.url("/hook"), "secret": SECRET}),
                locale: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(channel.config["secret"], "***");
    assert_eq!(channel.config["url"], server.url("/hook"));
    let listed = engine
        .channels(&OPERATOR, account, &PageRequest::default())
        .unwrap();
    assert_eq!(listed.items[0].config["secret"], "***");
    let outcome = engine
        .test_channel(&OPERATOR, account, channel.id, None)
        .await
        .unwrap();
    assert_eq!(outcome.status, DeliveryStatus::Delivered, "{outcome:?}");
    assert_eq!(server.requests().len(), 1);
    engine.close().await;
    drop(engine);
    let file = std::fs::read(&path).unwrap();
    let needle = &SECRET.as_bytes()[6..];
    assert!(
        !file.windows(needle.len()).any(|w| w == needle),
        "the secret is on disk in clear"
    );
}

#[tokio::test]
async fn bad_channels_contacts_and_subscriptions_are_refused_with_the_field() {
    let hub = hub("0s").await;
    let err = hub
        .engine
        .create_channel(
            &OPERATOR,
            hub.account,
            NewChannel {
                name: "x".into(),
                plugin: "pager".into(),
                config: json!({}),
                locale: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("plugin"));
    assert!(err.to_string().contains("webhook"), "{err}");
    let err = hub
        .engine
        .create_channel(
            &OPERATOR,
            hub.account,
            NewChannel {
                name: "x".into(),
                plugin: "webhook".into(),
                config: json!({"url": "ftp://example.com"}),
                locale: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("config.url"), "{err}");
    let err = hub
        .engine
        .create_contact(
            &OPERATOR,
            hub.account,
            NewContact {
                name: "Finance".into(),
                email: "fin.example.com".into(),
                locale: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("email"));
    let contact = hub
        .engine
        .create_contact(
            &OPERATOR,
            hub.account,
            NewContact {
                name: "Finance".into(),
                email: "fin@example.com".into(),
                locale: None,
            },
        )
        .await
        .unwrap();
    for (spec, field) in [
        (
            SubscriptionSpec {
                channels: vec!["chn_0000000000001".parse().unwrap()],
                ..SubscriptionSpec::default()
            },
            "channels",
        ),
        (
            SubscriptionSpec {
                digest: Some(Digest {
                    cron: "every day".into(),
                    timezone: "UTC".into(),
                }),
                ..SubscriptionSpec::default()
            },
            "digest.cron",
        ),
        (
            SubscriptionSpec {
                digest: Some(Digest {
                    cron: "0 0 9 * * *".into(),
                    timezone: "Moon/Base".into(),
                }),
                ..SubscriptionSpec::default()
            },
            "digest.timezone",
        ),
    ] {
        let err = hub
            .engine
            .put_subscription(&OPERATOR, hub.account, Category::Account, spec)
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
    hub.subscribe(
        Category::Account,
        SubscriptionSpec {
            contacts: vec![contact.id],
            ..SubscriptionSpec::default()
        },
    )
    .await;
    // A contact a subscription uses cannot be deleted from under it.
    let err = hub
        .engine
        .delete_contact(&OPERATOR, hub.account, contact.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict");
    hub.engine
        .delete_subscription(&OPERATOR, hub.account, Category::Account)
        .await
        .unwrap();
    hub.engine
        .delete_contact(&OPERATOR, hub.account, contact.id)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_are_unique_even_when_created_at_once() {
    let server = TestServer::start(|_| Reply::ok("")).await;
    let hub = hub("0s").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let engine = hub.engine.clone();
        let account = hub.account;
        let url = server.url("/hook");
        tasks.push(tokio::spawn(async move {
            engine
                .create_channel(
                    &OPERATOR,
                    account,
                    NewChannel {
                        name: "same".into(),
                        plugin: "webhook".into(),
                        config: json!({"url": url, "secret": SECRET}),
                        locale: None,
                    },
                )
                .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(e) => assert_eq!(e.code(), "conflict", "{e}"),
        }
    }
    assert_eq!(created, 1);
    // A user may have the name a channel has: they are different namespaces.
    hub.engine
        .create_user(
            &OPERATOR,
            hub.account,
            msghub::NewUser {
                name: "same".into(),
                policies: vec![],
                categories: None,
            },
        )
        .await
        .unwrap();
}
