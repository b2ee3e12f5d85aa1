//! The change history over HTTP: entries for each change with secrets redacted, the
//! filters and their validation, paging, who may read it, and the operator's history of
//! mandatory rules.

mod common;

use std::collections::HashSet;

use http::Method;
use serde_json::{Value, json};

use common::sink::server;
use common::{OPERATOR, TestServer, receiver};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Every entry of `path` (a history, with or without a query) for `token`, following
/// cursors in pages of `limit`.
async fn all(s: &TestServer, path: &str, token: &str, limit: u32) -> Vec<Value> {
    let join = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{join}limit={limit}");
    let mut out = Vec::new();
    loop {
        let r = s.get(&url, token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        out.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(cursor) => url = format!("{path}{join}limit={limit}&cursor={cursor}"),
            None => return out,
        }
    }
}

#[tokio::test]
async fn changes_are_listed_with_who_before_and_after_and_no_secret() {
    let s = server("0s").await;
    let (account, root) = s.account("acme").await;
    let base = format!("/v1/accounts/{account}");
    let channel = s.webhook_channel(&account, &root, &receiver().await).await;
    let r = s
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/security"),
            &root,
            Some(json!({"channels": [channel], "min_severity": "warning"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .call(
            Method::PATCH,
            &base,
            OPERATOR,
            Some(json!({"retention_days": 30})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = s.get(&format!("{base}/history"), &root).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c["action"].as_str().unwrap(),
                c["actor"]["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("retention", "changed", "operator"),
            ("subscription", "created", "root"),
            ("channel", "created", "root"),
        ]
    );
    let channel_entry = &items[2];
    assert_eq!(channel_entry["target"], channel.as_str());
    assert!(channel_entry["before"].is_null());
    assert_eq!(channel_entry["after"]["config"]["secret"], "***");
    assert!(channel_entry["id"].as_str().unwrap().starts_with("chg_"));
    assert_eq!(items[1]["category"], "security");
    assert_eq!(items[1]["after"]["min_severity"], "warning");
    assert_eq!(items[0]["before"]["retention_days"], 180);
    assert_eq!(items[0]["after"]["retention_days"], 30);
    assert!(!r.raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));

    let r = s
        .get(&format!("{base}/history?kind=channel,retention"), &root)
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.body);
}

#[tokio::test]
async fn paging_follows_the_cursor_without_repeats_and_bad_parameters_name_their_field() {
    let s = common::start().await;
    let (account, root) = s.account("acme").await;
    let base = format!("/v1/accounts/{account}");
    for i in 0..12 {
        let r = s
            .post(
                &format!("{base}/contacts"),
                &root,
                json!({"name": format!("c{i}"), "email": format!("c{i}@example.com")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let history = format!("{base}/history");
    let paged = all(&s, &history, &root, 5).await;
    let whole = all(&s, &history, &root, 200).await;
    assert_eq!(paged.len(), 12);
    assert_eq!(paged, whole);
    let ids: HashSet<&str> = paged.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 12);

    for (query, field) in [
        ("kind=colour", "kind"),
        ("kind=", "kind"),
        ("since=yesterday", "since"),
        (
            "since=2026-11-28T12:00:00Z&until=2026-11-27T12:00:00Z",
            "until",
        ),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
        ("category=security", "category"),
    ] {
        let r = s.get(&format!("{history}?{query}"), &root).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(
            r.error(),
            ("invalid_argument".into(), Some(field.into())),
            "{query}"
        );
    }
    // A cursor of one filter is refused under another.
    let r = s.get(&format!("{history}?limit=2"), &root).await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    let r = s
        .get(&format!("{history}?kind=contact&cursor={cursor}"), &root)
        .await;
    assert_eq!(r.status, 400);
    // Nothing made since a moment in the future.
    let r = s
        .get(&format!("{history}?since=2999-01-01T00:00:00Z"), &root)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn scoped_users_see_their_categories_and_read_only_users_nothing() {
    let s = common::start().await;
    let (account, root) = s.account("acme").await;
    let base = format!("/v1/accounts/{account}");
    let r = s
        .post(
            &format!("{base}/contacts"),
            &root,
            json!({"name": "ops", "email": "ops@example.com"}),
        )
        .await;
    let contact = r.body["id"].as_str().unwrap().to_owned();
    for category in ["security", "product"] {
        let r = s
            .call(
                Method::PUT,
                &format!("{base}/subscriptions/{category}"),
                &root,
                Some(json!({"contacts": [contact]})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let scoped = s
        .user(
            &account,
            json!({"name": "sec", "policies": ["NotificationsFullAccess"], "categories": ["security"]}),
        )
        .await;
    let reader = s
        .user(
            &account,
            json!({"name": "reader", "policies": ["NotificationsReadOnlyAccess"]}),
        )
        .await;
    let seen = all(&s, &format!("{base}/history"), &scoped, 50).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["category"], "security");
    let r = s.get(&format!("{base}/history"), &reader).await;
    assert_eq!(r.status, 403);
    // Another account's root sees none of it.
    let (_, other_root) = s.account("beta").await;
    let r = s.get(&format!("{base}/history"), &other_root).await;
    assert_eq!(r.status, 403);
    // The operator's own history is the operator's.
    let r = s.get("/v1/history", &root).await;
    assert_eq!(r.status, 403);
    let r = s.get("/v1/history", OPERATOR).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
