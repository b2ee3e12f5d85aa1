//! Channels, contacts, subscriptions and deliveries over HTTP, with the bundled webhook
//! plugin delivering to a real HTTP server on 127.0.0.1.

mod common;

use std::sync::atomic::Ordering;

use http::Method;
use serde_json::{Value, json};

use common::OPERATOR;
use common::sink::{Sink, deliveries_until, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_routes_a_message_to_a_webhook_channel() {
    let sink = Sink::start().await;
    let server = server("0s,1s").await;
    let (account, root) = server.account("acme").await;
    let base = format!("/v1/accounts/{account}");

    let plugins = server.get("/v1/plugins", &root).await;
    assert!(
        plugins
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "webhook"),
        "{}",
        plugins.body
    );

    // A channel: the secret never comes back.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let r = server
        .post(
            &format!("{base}/channels"),
            &root,
            json!({"name": "sre-hook", "plugin": "webhook",
                   "config": {"url": sink.url(), "secret": secret}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["config"]["secret"], "***");
    assert!(!r.raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
    let channel = r.body["id"].as_str().unwrap().to_owned();
    let listed = server.get(&format!("{base}/channels"), &root).await;
    assert_eq!(listed.body["items"][0]["id"], channel.as_str());
    assert_eq!(listed.body["items"][0]["config"]["secret"], "***");
    assert_eq!(listed.body["items"][0]["config"]["url"], sink.url());
    let one = server
        .get(&format!("{base}/channels/{channel}"), &root)
        .await;
    assert_eq!(one.body["name"], "sre-hook");

    // The plugin refuses a config it cannot use, with its own message.
    let r = server
        .post(
            &format!("{base}/channels"),
            &root,
            json!({"name": "bad", "plugin": "webhook", "config": {"url": "not a url"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server
        .post(
            &format!("{base}/channels"),
            &root,
            json!({"name": "bad", "plugin": "carrier-pigeon", "config": {}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().1.as_deref(), Some("plugin"));

    // Contacts: an invalid address is refused by field.
    let r = server
        .post(
            &format!("{base}/contacts"),
            &root,
            json!({"name": "Finance", "email": "finance-at-example.com"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error(), ("invalid_argument".into(), Some("email".into())));
    let r = server
        .post(
            &format!("{base}/contacts"),
            &root,
            json!({"name": "Finance", "email": "fin@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let contact = r.body["id"].as_str().unwrap().to_owned();

    // Subscriptions: bad references and schedules are 400s naming the field.
    let put = |body: Value| {
        let path = format!("{base}/subscriptions/security");
        let server = &server;
        let root = root.clone();
        async move { server.call(Method::PUT, &path, &root, Some(body)).await }
    };
    let r = put(json!({"channels": ["chn_doesnotexist"]})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().1.as_deref(), Some("channels"));
    let r = put(json!({"channels": [channel], "digest": {"cron": "every day", "timezone": "UTC"}}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().1.as_deref(), Some("digest.cron"));
    let r = put(json!({"channels": [channel], "digest": {"cron": "0 0 9 * * *", "timezone": "Mars/Olympus"}})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().1.as_deref(), Some("digest.timezone"));
    let r = server
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/finance"),
            &root,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r =
        put(json!({"min_severity": "warning", "channels": [channel], "contacts": [contact]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["category"], "security");
    assert_eq!(r.body["min_severity"], "warning");
    assert_eq!(r.body["subtypes"], Value::Null);
    let list = server.get(&format!("{base}/subscriptions"), &root).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1, "{}", list.body);

    // A contact a subscription names cannot be deleted.
    let r = server
        .call(
            Method::DELETE,
            &format!("{base}/contacts/{contact}"),
            &root,
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = put(json!({"min_severity": "warning", "channels": [channel]})).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Explain: an info message stays in the inbox; a critical one reaches the channel.
    let r = server
        .post(
            &format!("{base}/routing"),
            &root,
            json!({"category": "security", "title": "New login"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["matched"], false, "{}", r.body);
    assert!(r.body["targets"].as_array().unwrap().is_empty());
    let r = server
        .post(
            &format!("{base}/routing"),
            &root,
            json!({"category": "security", "title": "Root login from a new country", "severity": "critical"}),
        )
        .await;
    assert_eq!(r.body["matched"], true, "{}", r.body);
    assert_eq!(r.body["targets"][0]["target_id"], channel.as_str());
    assert_eq!(r.body["targets"][0]["plugin"], "webhook");
    assert!(sink.received.lock().is_empty(), "explain sends nothing");

    // Publish: the webhook receives it once, keyed by the delivery id.
    let r = server
        .post(
            &format!("{base}/messages"),
            OPERATOR,
            json!({"category": "security", "title": "Root login from a new country", "severity": "critical"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let message = r.body["id"].as_str().unwrap().to_owned();
    let list = deliveries_until(&server, &account, &message, |l| {
        l.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(list.len(), 1);
    let delivery = &list[0];
    assert_eq!(delivery["target"], "channel");
    assert_eq!(delivery["target_id"], channel.as_str());
    assert_eq!(delivery["plugin"], "webhook");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_error"], Value::Null);
    let received = sink.received.lock().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("webhook-id"), delivery["id"].as_str());
    assert!(received[0].header("webhook-signature").is_some());
    assert_eq!(
        received[0].body["data"]["title"], "Root login from a new country",
        "{}",
        received[0].body
    );

    // A test send goes out for real.
    let r = server
        .post(&format!("{base}/channels/{channel}/test"), &root, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"status": "delivered", "error": null}));
    assert_eq!(sink.received.lock().len(), 2);

    // Metrics count the attempt by plugin and outcome.
    let metrics = server.raw(Method::GET, "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&metrics.raw);
    assert!(
        text.contains("msghub_deliveries_total{plugin=\"webhook\",outcome=\"delivered\"}"),
        "{text}"
    );
    assert!(text.contains("msghub_outbox_depth 0"), "{text}");

    // A user who may only read cannot change routing.
    let reader = server
        .user(
            &account,
            json!({"name": "ro", "policies": ["NotificationsReadOnlyAccess"]}),
        )
        .await;
    let r = server
        .call(
            Method::DELETE,
            &format!("{base}/subscriptions/security"),
            &reader,
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = server
        .call(
            Method::DELETE,
            &format!("{base}/subscriptions/security"),
            &root,
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    for gone in [
        format!("{base}/channels/{channel}"),
        format!("{base}/contacts/{contact}"),
    ] {
        let r = server.call(Method::DELETE, &gone, &root, None).await;
        assert_eq!(r.status, 204, "{gone} the first time: {}", r.body);
        let r = server.call(Method::DELETE, &gone, &root, None).await;
        assert_eq!(r.status, 404, "{gone} again: {}", r.body);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_requeued_and_then_delivered() {
    let sink = Sink::start().await;
    sink.status.store(500, Ordering::SeqCst);
    let server = server("0s,100ms").await;
    let (account, root) = server.account("acme").await;
    let base = format!("/v1/accounts/{account}");
    let channel = server.webhook_channel(&account, &root, &sink.url()).await;
    let r = server
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/billing"),
            &root,
            Some(json!({"channels": [channel]})),
        )
        .await;
    assert_eq!(r.status, 404, "billing is not a category: {}", r.body);
    let r = server
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/account"),
            &root,
            Some(json!({"channels": [channel], "subtypes": ["low-balance"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server
        .post(
            &format!("{base}/messages"),
            OPERATOR,
            json!({"category": "account", "subtype": "low-balance", "title": "Balance under 10 USD"}),
        )
        .await;
    let message = r.body["id"].as_str().unwrap().to_owned();
    let list = deliveries_until(&server, &account, &message, |l| {
        l.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    assert_eq!(list[0]["attempts"], 2, "{:?}", list);
    let dead = list[0]["id"].clone();
    assert!(
        list[0]["last_error"].as_str().unwrap().contains("500"),
        "{:?}",
        list
    );

    sink.status.store(200, Ordering::SeqCst);
    let r = server
        .post(
            &format!("{base}/messages/{message}/requeue"),
            &root,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["requeued"], 1);
    let list = deliveries_until(&server, &account, &message, |l| {
        l.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(
        list[0]["id"], dead,
        "a requeue keeps the delivery and its key"
    );
    let received = sink.received.lock().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("webhook-id"), list[0]["id"].as_str());

    // Nothing is left to requeue.
    let r = server
        .post(
            &format!("{base}/channels/{channel}/requeue"),
            &root,
            json!({}),
        )
        .await;
    assert_eq!(r.body["requeued"], 0, "{}", r.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_is_set_per_account_within_its_range() {
    let server = server("0s").await;
    let (account, root) = server.account("acme").await;
    let path = format!("/v1/accounts/{account}");
    let r = server
        .call(
            Method::PATCH,
            &path,
            &root,
            Some(json!({"retention_days": 0})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().1.as_deref(), Some("retention_days"));
    let r = server
        .call(
            Method::PATCH,
            &path,
            &root,
            Some(json!({"retention_days": 30})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["retention_days"], 30);
    assert_eq!(server.get(&path, &root).await.body["retention_days"], 30);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_principal_gets_the_contract_s_statuses_on_routing_endpoints() {
    let server = server("0s").await;
    let s = &server;
    let (acc, root) = s.account("acme").await;
    let (_other, other_root) = s.account("globex").await;
    let full = s
        .user(
            &acc,
            json!({"name": "full", "policies": ["NotificationsFullAccess"]}),
        )
        .await;
    let read_only = s
        .user(
            &acc,
            json!({"name": "ro", "policies": ["NotificationsReadOnlyAccess"]}),
        )
        .await;
    let no_policy = s.user(&acc, json!({"name": "none"})).await;
    let scoped = s
        .user(
            &acc,
            json!({"name": "scoped", "policies": ["NotificationsFullAccess"], "categories": ["account"]}),
        )
        .await;
    let base = format!("/v1/accounts/{acc}");
    let hook = json!({"name": "h", "plugin": "webhook",
                      "config": {"url": "http://127.0.0.1:9/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}});
    let channel = s
        .post(&format!("{base}/channels"), &root, hook.clone())
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let contact = s
        .post(
            &format!("{base}/contacts"),
            &root,
            json!({"name": "c", "email": "c@example.com"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/security"),
            &root,
            Some(json!({"contacts": [contact]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let message = s.publish(&acc, "security", "attack").await;

    let ops: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{base}/channels"), None),
        (Method::GET, format!("{base}/channels/{channel}"), None),
        (Method::POST, format!("{base}/channels"), Some(hook)),
        (Method::GET, format!("{base}/contacts"), None),
        (
            Method::POST,
            format!("{base}/contacts"),
            Some(json!({"name": "d", "email": "d@example.com"})),
        ),
        (Method::GET, format!("{base}/subscriptions/security"), None),
        (
            Method::PUT,
            format!("{base}/subscriptions/security"),
            Some(json!({"contacts": [contact]})),
        ),
        (
            Method::PUT,
            format!("{base}/subscriptions/account"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("{base}/messages/{message}/deliveries"),
            None,
        ),
        (
            Method::POST,
            format!("{base}/routing"),
            Some(json!({"category": "account", "title": "t"})),
        ),
    ];
    //     channels chan  create contacts create sub-sec put-sec put-acc deliveries routing
    let cases: Vec<(&str, Option<&str>, [u16; 10])> = vec![
        (
            "operator",
            Some(OPERATOR),
            [200, 200, 201, 200, 201, 200, 200, 200, 200, 200],
        ),
        (
            "root",
            Some(&root),
            [200, 200, 201, 200, 201, 200, 200, 200, 200, 200],
        ),
        (
            "full",
            Some(&full),
            [200, 200, 201, 200, 201, 200, 200, 200, 200, 200],
        ),
        (
            "read-only",
            Some(&read_only),
            [200, 200, 403, 200, 403, 200, 403, 403, 200, 200],
        ),
        (
            "no policy",
            Some(&no_policy),
            [403, 403, 403, 403, 403, 403, 403, 403, 403, 403],
        ),
        (
            "scoped to account",
            Some(&scoped),
            [200, 200, 201, 200, 201, 404, 403, 200, 404, 200],
        ),
        ("another account's root", Some(&other_root), [403; 10]),
        ("no token", None, [401; 10]),
        ("a bad token", Some("mht_not-a-token"), [401; 10]),
    ];
    for (who, token, expected) in cases {
        let mut got = Vec::new();
        for (method, path, body) in &ops {
            // Channel names are unique in an account: each principal creates its own.
            let mut body = body.clone();
            if let Some(b) = body.as_mut().filter(|b| b["plugin"] == "webhook") {
                b["name"] = json!(format!("hook of {who}"));
            }
            let r = s
                .raw(
                    method.clone(),
                    path,
                    token,
                    body.as_ref().map(|b| bytes::Bytes::from(b.to_string())),
                )
                .await;
            if !r.status.is_success() {
                r.error();
            }
            got.push(r.status.as_u16());
        }
        assert_eq!(got, expected, "{who}");
    }
    // The scoped user sees only its categories' subscriptions.
    let list = s.get(&format!("{base}/subscriptions"), &scoped).await;
    let categories: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["category"].as_str().unwrap())
        .collect();
    assert_eq!(categories, ["account"]);
    server.stop().await;
}
