//! Scoped users and deliveries over HTTP: a user scoped to some categories requeues,
//! tests and reads conflicts only within them, with the bundled webhook plugin delivering
//! to a real HTTP server on 127.0.0.1.

mod common;

use std::sync::atomic::Ordering;

use http::Method;
use serde_json::{Value, json};

use common::TestServer;
use common::sink::{Sink, deliveries_until, server};

/// An account whose `account` and `security` subscriptions both route to one webhook channel
/// (to `sink`) and one email contact, with a user scoped to `account` holding full access.
struct Scoped {
    server: TestServer,
    account: String,
    root: String,
    scoped: String,
    channel: String,
    contact: String,
}

impl Scoped {
    async fn start(sink: &Sink) -> Scoped {
        let server = server("0s").await;
        let (account, root) = server.account("acme").await;
        let base = format!("/v1/accounts/{account}");
        let channel = server.webhook_channel(&account, &root, &sink.url()).await;
        let r = server
            .post(
                &format!("{base}/contacts"),
                &root,
                json!({"name": "Ops", "email": "ops@example.com"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let contact = r.body["id"].as_str().unwrap().to_owned();
        for category in ["account", "security"] {
            let r = server
                .call(
                    Method::PUT,
                    &format!("{base}/subscriptions/{category}"),
                    &root,
                    Some(json!({"channels": [channel], "contacts": [contact]})),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let scoped = server
            .user(
                &account,
                json!({"name": "scoped", "policies": ["NotificationsFullAccess"], "categories": ["account"]}),
            )
            .await;
        Scoped {
            server,
            account,
            root,
            scoped,
            channel,
            contact,
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/v1/accounts/{}{rest}", self.account)
    }

    /// Publishes a message of `category` and waits until its deliveries are dead letters.
    async fn dead_letters_of(&self, category: &str) -> String {
        let message = self.server.publish(&self.account, category, category).await;
        deliveries_until(&self.server, &self.account, &message, |l| {
            l.len() == 2 && l.iter().all(|d| d["status"] == "failed")
        })
        .await;
        message
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_requeue_by_channel_or_contact_leaves_other_categories_dead_letters_failed() {
    let sink = Sink::start().await;
    sink.status.store(500, Ordering::SeqCst);
    let w = Scoped::start(&sink).await;
    let own = w.dead_letters_of("account").await;
    let foreign = w.dead_letters_of("security").await;
    sink.status.store(200, Ordering::SeqCst);

    let r = w
        .server
        .post(
            &w.path(&format!("/channels/{}/requeue", w.channel)),
            &w.scoped,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["requeued"], 1, "only the account letter: {}", r.body);
    let r = w
        .server
        .post(
            &w.path(&format!("/contacts/{}/requeue", w.contact)),
            &w.scoped,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["requeued"], 1, "only the account letter: {}", r.body);

    // The caller's own letter to the channel goes out again; the security one stays dead.
    let is_channel = |d: &&Value| d["target"] == "channel";
    deliveries_until(&w.server, &w.account, &own, |l| {
        l.iter()
            .find(is_channel)
            .is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    let list = deliveries_until(&w.server, &w.account, &foreign, |_| true).await;
    assert!(
        list.iter().all(|d| d["status"] == "failed"),
        "a user scoped to account revived security deliveries: {list:?}"
    );
    let received = sink.received.lock().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].body["data"]["category"], "account");

    // The account root still finds the security letters to take up.
    let r = w
        .server
        .post(
            &w.path(&format!("/channels/{}/requeue", w.channel)),
            &w.root,
            json!({}),
        )
        .await;
    assert_eq!(r.body["requeued"], 1, "{}", r.body);
    w.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_send_carries_only_a_category_the_caller_may_act_on() {
    let sink = Sink::start().await;
    let w = Scoped::start(&sink).await;
    let test = w.path(&format!("/channels/{}/test", w.channel));

    let r = w
        .server
        .post(&test, &w.scoped, json!({"category": "security"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error().0, "forbidden");
    assert!(sink.received.lock().is_empty(), "nothing was sent");

    // Without a category, a user scoped away from `service` tests with one of its own.
    let r = w
        .server
        .raw(Method::POST, &test, Some(&w.scoped), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "delivered", "{}", r.body);
    let r = w
        .server
        .post(&test, &w.root, json!({"category": "security"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = w.server.post(&test, &w.root, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let categories: Vec<Value> = sink
        .received
        .lock()
        .iter()
        .map(|r| r.body["data"]["category"].clone())
        .collect();
    assert_eq!(
        categories,
        [json!("account"), json!("security"), json!("service")]
    );

    let r = w
        .server
        .post(&test, &w.root, json!({"category": "finance"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().1.as_deref(), Some("category"));
    // The body is optional in the document, and `null` is how JSON says so.
    let r = w
        .server
        .raw(Method::POST, &test, Some(&w.root), Some("null".into()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    w.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_conflict_names_only_the_subscriptions_the_caller_may_see() {
    let sink = Sink::start().await;
    let w = Scoped::start(&sink).await;
    for target in [
        format!("/channels/{}", w.channel),
        format!("/contacts/{}", w.contact),
    ] {
        let path = w.path(&target);
        let r = w.server.call(Method::DELETE, &path, &w.root, None).await;
        assert_eq!(r.status, 409, "{}", r.body);
        let root_text = r.body["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            root_text.contains("account") && root_text.contains("security"),
            "{root_text}"
        );

        let r = w.server.call(Method::DELETE, &path, &w.scoped, None).await;
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.error().0, "conflict");
        let text = r.body["error"]["message"].as_str().unwrap();
        assert!(text.contains("account"), "{text}");
        assert!(text.contains("you cannot see"), "{text}");
        assert!(!text.contains("security"), "{text}");
    }

    // Used only by a subscription the caller cannot see: still no category named.
    let r = w
        .server
        .call(
            Method::PUT,
            &w.path("/subscriptions/account"),
            &w.scoped,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for target in [
        format!("/channels/{}", w.channel),
        format!("/contacts/{}", w.contact),
    ] {
        let r = w
            .server
            .call(Method::DELETE, &w.path(&target), &w.scoped, None)
            .await;
        assert_eq!(r.status, 409, "{}", r.body);
        let text = r.body["error"]["message"].as_str().unwrap();
        assert!(text.contains("you cannot see"), "{text}");
        assert!(!text.contains("security"), "{text}");
    }
    w.server.stop().await;
}
