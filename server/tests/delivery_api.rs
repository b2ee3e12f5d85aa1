//! Channels, contacts, subscriptions and deliveries over HTTP, with the bundled webhook
//! plugin delivering to a real HTTP server on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use http::Method;
use msghub::RetrySchedule;
use msghub_server::ServerConfig;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use common::{OPERATOR, TestServer};

/// One request the sink received: its lower-cased headers and its body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Value,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1 that answers every request with `status`.
struct Sink {
    port: u16,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(AtomicU16::new(200));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (status.clone(), received.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (s, r) = (s.clone(), r.clone());
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut buf = [0u8; 8192];
                    loop {
                        let Ok(n) = stream.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buf[..n]);
                        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&data[..end]).to_string();
                        let headers: Vec<(String, String)> = head
                            .lines()
                            .skip(1)
                            .filter_map(|l| l.split_once(':'))
                            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                            .collect();
                        let length = headers
                            .iter()
                            .find(|(n, _)| n == "content-length")
                            .and_then(|(_, v)| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if data.len() < end + 4 + length {
                            continue;
                        }
                        let body = serde_json::from_slice(&data[end + 4..end + 4 + length])
                            .unwrap_or(Value::Null);
                        let status = s.load(Ordering::SeqCst);
                        if status == 200 {
                            r.lock().push(Received { headers, body });
                        }
                        let answer = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                        let _ = stream.write_all(answer.as_bytes()).await;
                        return;
                    }
                });
            }
        });
        Sink {
            port,
            status,
            received,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }
}

async fn server(retry: &str) -> TestServer {
    common::start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        allow_networks: Some("127.0.0.0/8".into()),
        retry_schedule: RetrySchedule::parse(retry).unwrap(),
        ..ServerConfig::ephemeral()
    })
    .await
}

/// Polls the message's deliveries until `done` holds (or fails after 20 s).
async fn deliveries_until(
    server: &TestServer,
    account: &str,
    message: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/v1/accounts/{account}/messages/{message}/deliveries");
    for _ in 0..400 {
        let r = server.get(&path, OPERATOR).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let list = r.body.as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the deliveries of {message} never settled");
}

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
    let r = server
        .post(
            &format!("{base}/channels"),
            &root,
            json!({"name": "hook", "plugin": "webhook", "config": {"url": sink.url(), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let channel = r.body["id"].as_str().unwrap().to_owned();
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
        let r = server
            .post(
                &format!("{base}/channels"),
                &root,
                json!({"name": "hook", "plugin": "webhook", "config": {"url": sink.url(), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let channel = r.body["id"].as_str().unwrap().to_owned();
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
