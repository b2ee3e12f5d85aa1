//! The permission matrix of API.md on the message, channel, contact, requeue and test-send
//! endpoints: operator, root, full access, read only, no policy, category-scoped, another
//! account's root, no token, bad token.

mod common;

use common::{OPERATOR, TestServer, start_with};
use http::Method;
use msghub_server::ServerConfig;
use serde_json::{Value, json};

struct World {
    s: TestServer,
    acc: String,
    root: String,
    other_root: String,
    full: String,
    read_only: String,
    no_policy: String,
    scoped: String,
    security_msg: String,
    account_msg: String,
    /// A webhook channel and an email contact that the `security` subscription names.
    channel: String,
    contact: String,
}

async fn world() -> World {
    let s = start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        allow_networks: Some("127.0.0.0/8".into()),
        ..ServerConfig::ephemeral()
    })
    .await;
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
        .user(&acc, json!({"name": "scoped", "policies": ["NotificationsFullAccess"], "categories": ["account"]}))
        .await;
    let base = format!("/v1/accounts/{acc}");
    // Nothing listens there: test sends and deliveries fail, quickly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let channel = s.webhook_channel(&acc, &root, &url).await;
    let r = s
        .post(
            &format!("{base}/contacts"),
            &root,
            json!({"name": "Ops", "email": "ops@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let contact = r.body["id"].as_str().unwrap().to_owned();
    let r = s
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/security"),
            &root,
            Some(json!({"channels": [channel], "contacts": [contact]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let security_msg = s.publish(&acc, "security", "attack").await;
    let account_msg = s.publish(&acc, "account", "login").await;
    World {
        s,
        acc,
        root,
        other_root,
        full,
        read_only,
        no_policy,
        scoped,
        security_msg,
        account_msg,
        channel,
        contact,
    }
}

/// Status of each operation for one token (None = no Authorization header).
async fn statuses(w: &World, token: Option<&str>) -> Vec<u16> {
    let base = format!("/v1/accounts/{}", w.acc);
    // A well-formed id that names no message of the account.
    let unknown = format!("{}0000zzz", &w.security_msg[..17]);
    let body = |v: Value| Some(bytes::Bytes::from(v.to_string()));
    let ops: Vec<(Method, String, Option<bytes::Bytes>)> = vec![
        (
            Method::POST,
            format!("{base}/messages"),
            body(json!({"category": "service", "title": "t"})),
        ),
        (Method::GET, format!("{base}/messages"), None),
        (
            Method::GET,
            format!("{base}/messages/{}", w.security_msg),
            None,
        ),
        (Method::GET, format!("{base}/counts"), None),
        (
            Method::POST,
            format!("{base}/messages/mark-read"),
            body(json!({"ids": [w.security_msg]})),
        ),
        (
            Method::POST,
            format!("{base}/messages/delete"),
            body(json!({"ids": ["msg_none"]})),
        ),
        (Method::DELETE, format!("{base}/messages/{unknown}"), None),
        (Method::GET, format!("{base}/users"), None),
        (Method::GET, format!("{base}/channels/{}", w.channel), None),
        // Still named by the security subscription: 409 to whoever may delete.
        (
            Method::DELETE,
            format!("{base}/channels/{}", w.channel),
            None,
        ),
        (
            Method::POST,
            format!("{base}/channels/{}/test", w.channel),
            None,
        ),
        (
            Method::POST,
            format!("{base}/channels/{}/test", w.channel),
            body(json!({"category": "security"})),
        ),
        (
            Method::POST,
            format!("{base}/channels/{}/requeue", w.channel),
            None,
        ),
        (Method::GET, format!("{base}/contacts/{}", w.contact), None),
        (
            Method::DELETE,
            format!("{base}/contacts/{}", w.contact),
            None,
        ),
        (
            Method::POST,
            format!("{base}/contacts/{}/requeue", w.contact),
            None,
        ),
        (
            Method::POST,
            format!("{base}/messages/{}/requeue", w.security_msg),
            None,
        ),
        (
            Method::GET,
            format!("{base}/messages/{}/deliveries", w.security_msg),
            None,
        ),
        (Method::GET, format!("{base}/subscriptions"), None),
        (
            Method::POST,
            format!("{base}/routing"),
            body(json!({"category": "security", "title": "t"})),
        ),
        (Method::GET, format!("{base}/history"), None),
        (Method::GET, "/v1/mandatory-rules".to_owned(), None),
    ];
    let mut out = Vec::new();
    for (method, path, body) in ops {
        let r = w.s.raw(method, &path, token, body).await;
        if !r.status.is_success() {
            r.error();
        }
        out.push(r.status.as_u16());
    }
    out
}

#[tokio::test]
async fn each_principal_gets_exactly_the_statuses_of_the_contract() {
    let w = world().await;
    // Columns, in the order of `statuses`:
    //   messages: publish list get counts mark-read delete delete-one users
    //   channel:  get delete test test-security requeue
    //   contact:  get delete requeue
    //   security: message-requeue deliveries; subscriptions routing-security
    //   history; mandatory rules
    let cases: Vec<(&str, Option<&str>, [u16; 22])> = vec![
        (
            "operator",
            Some(OPERATOR),
            [
                201, 200, 200, 200, 200, 200, 404, 200, 200, 409, 200, 200, 200, 200, 409, 200,
                200, 200, 200, 200, 200, 200,
            ],
        ),
        (
            "root",
            Some(&w.root),
            [
                403, 200, 200, 200, 200, 200, 404, 200, 200, 409, 200, 200, 200, 200, 409, 200,
                200, 200, 200, 200, 200, 403,
            ],
        ),
        (
            "full access",
            Some(&w.full),
            [
                403, 200, 200, 200, 200, 200, 404, 403, 200, 409, 200, 200, 200, 200, 409, 200,
                200, 200, 200, 200, 200, 403,
            ],
        ),
        (
            "read only",
            Some(&w.read_only),
            [
                403, 200, 200, 200, 200, 403, 403, 403, 200, 403, 403, 403, 403, 200, 403, 403,
                403, 200, 200, 200, 403, 403,
            ],
        ),
        ("no policy", Some(&w.no_policy), [403; 22]),
        (
            "scoped to account",
            Some(&w.scoped),
            [
                403, 200, 404, 200, 200, 200, 404, 403, 200, 409, 200, 403, 200, 200, 409, 200,
                404, 404, 200, 403, 200, 403,
            ],
        ),
        ("other root", Some(&w.other_root), [403; 22]),
        ("no token", None, [401; 22]),
        ("bad token", Some("mhu_not-a-real-token"), [401; 22]),
    ];
    for (who, token, expected) in cases {
        assert_eq!(statuses(&w, token).await, expected, "{who}");
    }
}

#[tokio::test]
async fn a_scoped_user_sees_and_touches_only_its_categories() {
    let w = world().await;
    let base = format!("/v1/accounts/{}", w.acc);
    let list = w.s.get(&format!("{base}/messages"), &w.scoped).await;
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [w.account_msg.as_str()]);
    let counts = w.s.get(&format!("{base}/counts"), &w.scoped).await;
    assert_eq!(counts.body["total"], 1);
    assert_eq!(
        counts.body["by_category"]["security"],
        json!({"total": 0, "unread": 0})
    );
    assert_eq!(counts.body["by_category"].as_object().unwrap().len(), 6);
    // Named outside its scope: skipped, not counted.
    let r =
        w.s.post(
            &format!("{base}/messages/delete"),
            &w.scoped,
            json!({"ids": [w.security_msg]}),
        )
        .await;
    assert_eq!(r.body, json!({"deleted": 0}));
    let r =
        w.s.call(
            Method::DELETE,
            &format!("{base}/messages/{}", w.security_msg),
            &w.scoped,
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    // An empty filter deletes only inside the scope.
    let r =
        w.s.post(
            &format!("{base}/messages/delete"),
            &w.scoped,
            json!({"filter": {}}),
        )
        .await;
    assert_eq!(r.body, json!({"deleted": 1}));
    let root_view = w.s.get(&format!("{base}/counts"), &w.root).await;
    assert_eq!(root_view.body["total"], 1);
    assert_eq!(root_view.body["by_category"]["security"]["total"], 1);
}

#[tokio::test]
async fn reading_marks_only_the_callers_own_state() {
    let w = world().await;
    let base = format!("/v1/accounts/{}", w.acc);
    let r =
        w.s.post(
            &format!("{base}/messages/mark-read"),
            &w.read_only,
            json!({"filter": {}}),
        )
        .await;
    assert_eq!(r.body, json!({"updated": 2}));
    let mine = w.s.get(&format!("{base}/counts"), &w.read_only).await;
    assert_eq!(mine.body["unread"], 0);
    let theirs = w.s.get(&format!("{base}/counts"), &w.full).await;
    assert_eq!(theirs.body["unread"], 2);
}
