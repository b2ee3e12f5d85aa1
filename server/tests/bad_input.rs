//! Malformed requests always get the contract's error shape with a status below 500 and a
//! message naming the field: never axum's plain text, a 500 or a dropped connection.

mod common;

use bytes::Bytes;
use common::{OPERATOR, start};
use http::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_bodies_are_400_naming_the_field() {
    let s = start().await;
    let (acc, _) = s.account("acme").await;
    let path = format!("/v1/accounts/{acc}/messages");
    let cases: Vec<(&str, Option<&str>)> = vec![
        ("{\"category\": \"security\", \"title\": ", None),
        ("not json", None),
        ("", None),
        ("[1,2]", None),
        ("{\"category\": \"security\", \"title\": 5}", Some("title")),
        (
            "{\"category\": \"finance\", \"title\": \"x\"}",
            Some("category"),
        ),
        (
            "{\"category\": \"security\", \"title\": \"x\", \"severity\": \"urgent\"}",
            Some("severity"),
        ),
        ("{\"category\": \"security\"}", Some("title")),
        ("{\"title\": \"x\"}", Some("category")),
        (
            "{\"category\": \"security\", \"title\": \"x\", \"colour\": \"red\"}",
            Some("colour"),
        ),
        (
            "{\"category\": \"security\", \"title\": \"x\"} trailing",
            None,
        ),
    ];
    for (body, field) in cases {
        let r = s
            .raw(
                Method::POST,
                &path,
                Some(OPERATOR),
                Some(Bytes::from(body.to_owned())),
            )
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let (code, got_field) = r.error();
        assert_eq!(code, "invalid_argument");
        assert_eq!(got_field.as_deref(), field, "{body}: {}", r.body);
    }
    let long = "x".repeat(257);
    let r = s
        .post(
            &path,
            OPERATOR,
            json!({"category": "security", "title": long}),
        )
        .await;
    assert_eq!(r.error(), ("invalid_argument".into(), Some("title".into())));
    let big_body = "b".repeat(65_537);
    let r = s
        .post(
            &path,
            OPERATOR,
            json!({"category": "security", "title": "t", "body": big_body}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error().1.as_deref(), Some("body"));
    let r = s
        .post(
            &format!("/v1/accounts/{acc}/messages/mark-read"),
            OPERATOR,
            json!({"filter": {"since": "yesterday"}}),
        )
        .await;
    assert_eq!(r.error().1.as_deref(), Some("filter.since"));
    let r = s
        .post(
            &format!("/v1/accounts/{acc}/messages/mark-read"),
            OPERATOR,
            json!({"ids": "msg_x"}),
        )
        .await;
    assert_eq!(r.error().1.as_deref(), Some("ids"));
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_in_the_error_shape_on_a_live_connection() {
    let s = start().await;
    let (acc, _) = s.account("acme").await;
    let path = format!("/v1/accounts/{acc}/messages");
    let huge = format!(
        "{{\"category\":\"security\",\"title\":\"t\",\"body\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    let r = s
        .raw(Method::POST, &path, Some(OPERATOR), Some(Bytes::from(huge)))
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error().0, "payload_too_large");
    // The server still answers on the same client afterwards.
    let ok = s
        .post(
            &path,
            OPERATOR,
            json!({"category": "security", "title": "fine"}),
        )
        .await;
    assert_eq!(ok.status, 201);
}

#[tokio::test]
async fn bad_query_parameters_cursors_and_timestamps_are_400() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let path = format!("/v1/accounts/{acc}/messages");
    let cases = [
        ("category=finance", "category"),
        ("status=new", "status"),
        ("severity=urgent", "severity"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("catgory=security", "catgory"),
    ];
    for (query, field) in cases {
        let r = s.get(&format!("{path}?{query}"), &root).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        let (code, got) = r.error();
        assert_eq!(code, "invalid_argument");
        assert_eq!(got.as_deref(), Some(field), "{query}: {}", r.body);
    }
    let r = s
        .get(&format!("/v1/accounts/{acc}/users?cursor=zzz"), &root)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error().1.as_deref(), Some("cursor"));
}

#[tokio::test]
async fn unknown_routes_and_methods_get_404_and_405_in_the_error_shape() {
    let s = start().await;
    let r = s.raw(Method::GET, "/v1/nothing", None, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error().0, "not_found");
    let r = s
        .raw(Method::DELETE, "/v1/accounts", Some(OPERATOR), None)
        .await;
    assert_eq!(r.status, 405);
    assert!(r.headers.contains_key("allow"));
    assert_eq!(r.error().0, "method_not_allowed");
    let r = s
        .get("/v1/accounts/not-an-id/messages/also-not", OPERATOR)
        .await;
    assert_eq!(r.status, 404);
    r.error();
    let r = s
        .raw(Method::GET, "/v1/accounts/%FF%FE", Some(OPERATOR), None)
        .await;
    assert!(r.status.is_client_error());
    r.error();
}
