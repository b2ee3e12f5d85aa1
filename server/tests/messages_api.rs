//! The message endpoints answer as API.md says: publish (201, 200 on dedupe), list with
//! every query parameter and paging, get, counts, mark read, bulk and single delete.

mod common;

use common::{OPERATOR, start};
use http::Method;
use serde_json::json;

#[tokio::test]
async fn publish_answers_201_then_200_for_the_same_dedupe_key() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let path = format!("/v1/accounts/{acc}/messages");
    let body = json!({"category": "security", "subtype": "ddos-attack", "title": "DDoS attack on 203.0.113.7",
        "body": "Markdown text", "severity": "critical", "link": "https://example.com/x",
        "resource": "ecs/i-123", "dedupe_key": "ddos-203.0.113.7-2026-11-28"});
    let first = s.post(&path, OPERATOR, body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let m = &first.body;
    assert_eq!(m["category"], "security");
    assert_eq!(m["severity"], "critical");
    assert_eq!(m["account_id"], acc.as_str());
    assert_eq!(m["read"], false);
    assert!(m["created_at"].as_str().unwrap().ends_with('Z'));
    let again = s.post(&path, OPERATOR, body).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["id"], m["id"]);
    let list = s.get(&path, &root).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    let minimal = s
        .post(
            &path,
            OPERATOR,
            json!({"category": "account", "title": "hi"}),
        )
        .await;
    assert_eq!(minimal.status, 201);
    for field in ["subtype", "body", "link", "resource"] {
        assert!(minimal.body[field].is_null(), "{field}");
    }
    assert_eq!(minimal.body["severity"], "info");
}

#[tokio::test]
async fn list_filters_by_every_query_parameter_and_pages_without_repeats() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let path = format!("/v1/accounts/{acc}/messages");
    for i in 0..5 {
        s.post(&path, OPERATOR, json!({"category": "security", "title": format!("Attack 100% number {i}"), "severity": "critical"})).await;
        s.post(
            &path,
            OPERATOR,
            json!({"category": "account", "title": format!("Login {i}")}),
        )
        .await;
    }
    let all = s.get(&format!("{path}?limit=200"), &root).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 10);
    assert!(all.body["next_cursor"].is_null());
    let first_title = all.body["items"][0]["title"].as_str().unwrap();
    assert_eq!(first_title, "Login 4", "newest first");

    let sec = s
        .get(
            &format!("{path}?category=security,exception&severity=critical"),
            &root,
        )
        .await;
    assert_eq!(sec.body["items"].as_array().unwrap().len(), 5);
    let q = s.get(&format!("{path}?q=100%25"), &root).await;
    assert_eq!(q.body["items"].as_array().unwrap().len(), 5);
    let wildcard = s.get(&format!("{path}?q=Att_ck"), &root).await;
    assert_eq!(
        wildcard.body["items"].as_array().unwrap().len(),
        0,
        "_ is literal"
    );
    let since = s
        .get(
            &format!("{path}?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z"),
            &root,
        )
        .await;
    assert_eq!(since.body["items"].as_array().unwrap().len(), 10);
    let future = s
        .get(&format!("{path}?since=2999-01-01T00:00:00Z"), &root)
        .await;
    assert_eq!(future.body["items"].as_array().unwrap().len(), 0);

    // Paging while new messages arrive neither repeats nor skips.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=3&cursor={c}"),
            None => format!("{path}?limit=3"),
        };
        let page = s.get(&url, &root).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        s.publish(&acc, "service", "arrives while paging").await;
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected);

    let unread = s
        .get(&format!("{path}?status=unread&limit=200"), &root)
        .await;
    assert_eq!(
        unread.body["items"].as_array().unwrap().len(),
        14,
        "10 + one per page"
    );
}

#[tokio::test]
async fn get_counts_mark_read_and_delete_work_together() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let base = format!("/v1/accounts/{acc}");
    let a = s.publish(&acc, "security", "one").await;
    let b = s.publish(&acc, "security", "two").await;
    let c = s.publish(&acc, "account", "three").await;

    let got = s.get(&format!("{base}/messages/{a}"), &root).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["title"], "one");

    let counts = s.get(&format!("{base}/counts"), &root).await;
    assert_eq!(counts.body["total"], 3);
    assert_eq!(counts.body["unread"], 3);
    assert_eq!(counts.body["by_category"].as_object().unwrap().len(), 6);
    assert_eq!(
        counts.body["by_category"]["security"],
        json!({"total": 2, "unread": 2})
    );
    assert_eq!(
        counts.body["by_category"]["product"],
        json!({"total": 0, "unread": 0})
    );

    let marked = s
        .post(
            &format!("{base}/messages/mark-read"),
            &root,
            json!({"ids": [a, "msg_unknown", a]}),
        )
        .await;
    assert_eq!(marked.body, json!({"updated": 1}));
    let marked = s
        .post(
            &format!("{base}/messages/mark-read"),
            &root,
            json!({"filter": {"category": ["security", "account"], "status": "unread"}}),
        )
        .await;
    assert_eq!(marked.body, json!({"updated": 2}));
    let counts = s.get(&format!("{base}/counts"), &root).await;
    assert_eq!(counts.body["unread"], 0);
    // Read state is per principal: the operator still sees them unread.
    let op = s.get(&format!("{base}/counts"), OPERATOR).await;
    assert_eq!(op.body["unread"], 3);
    let got = s.get(&format!("{base}/messages/{b}"), &root).await;
    assert_eq!(got.body["read"], true);

    let deleted = s
        .post(
            &format!("{base}/messages/delete"),
            &root,
            json!({"filter": {"category": "account"}}),
        )
        .await;
    assert_eq!(deleted.body, json!({"deleted": 1}));
    assert_eq!(
        s.get(&format!("{base}/messages/{c}"), &root).await.status,
        404
    );
    let one = s
        .call(Method::DELETE, &format!("{base}/messages/{a}"), &root, None)
        .await;
    assert_eq!(one.status, 204);
    assert!(one.raw.is_empty());
    let again = s
        .call(Method::DELETE, &format!("{base}/messages/{a}"), &root, None)
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.error().0, "not_found");
    let rest = s
        .post(
            &format!("{base}/messages/delete"),
            &root,
            json!({"filter": {}}),
        )
        .await;
    assert_eq!(rest.body, json!({"deleted": 1}));
    let counts = s.get(&format!("{base}/counts"), &root).await;
    assert_eq!(counts.body["total"], 0);
}

#[tokio::test]
async fn bulk_calls_need_exactly_one_of_ids_and_filter() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let path = format!("/v1/accounts/{acc}/messages/mark-read");
    for body in [json!({}), json!({"ids": [], "filter": {}})] {
        let r = s.post(&path, &root, body).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.error().0, "invalid_argument");
    }
    let ids: Vec<String> = (0..1001).map(|i| format!("msg_{i}")).collect();
    let r = s.post(&path, &root, json!({"ids": ids})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error().1.as_deref(), Some("ids"));
    let r = s
        .post(&path, &root, json!({"filter": {"category": "finance"}}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error().1.as_deref(), Some("filter.category"));
}
