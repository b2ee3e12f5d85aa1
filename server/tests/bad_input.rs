//! Malformed requests always get the contract's error shape with a status below 500 and a
//! message naming the field: never axum's plain text, a 500 or a dropped connection.

mod common;

use bytes::Bytes;
use common::{OPERATOR, start, start_with};
use http::Method;
use msghub_server::ServerConfig;
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
        // Given but empty: a number, a closed set's name or a time is never empty.
        ("limit=", "limit"),
        ("status=", "status"),
        ("category=", "category"),
        ("severity=,", "severity"),
        ("until=", "until"),
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

/// The JSON kinds a field takes; a value of any other kind must be refused.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Object,
    Array,
    Text,
    Number,
    Null,
}

/// The fields of a request and the JSON types each accepts.
type Fields<'a> = &'a [(&'a str, &'a [Kind])];

/// One wrong value of every kind.
fn wrong_values() -> [(Kind, serde_json::Value); 5] {
    [
        (Kind::Object, json!({})),
        (Kind::Array, json!([])),
        (Kind::Text, json!("x")),
        (Kind::Number, json!(7)),
        (Kind::Null, json!(null)),
    ]
}

/// Sets the field at a dotted path of `body` to `value`.
fn with_field(body: &serde_json::Value, path: &str, value: serde_json::Value) -> serde_json::Value {
    let mut body = body.clone();
    let mut at = &mut body;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            at[part] = value;
            break;
        }
        at = &mut at[part];
    }
    body
}

#[tokio::test]
async fn wrong_typed_bodies_are_400_naming_the_field_on_every_endpoint() {
    use Kind::*;
    let s = start().await;
    let (acc, _) = s.account("acme").await;
    let user = s
        .post(
            &format!("/v1/accounts/{acc}/users"),
            OPERATOR,
            json!({"name": "ann"}),
        )
        .await;
    let user = user.body["id"].as_str().expect("user id").to_owned();
    let filter = json!({"category": "security", "status": "all", "severity": "info",
        "q": "x", "since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"});
    let filter_fields: &[(&str, &[Kind])] = &[
        ("filter", &[Object]),
        ("filter.category", &[Text, Array, Null]),
        ("filter.status", &[Text, Null]),
        ("filter.severity", &[Text, Array, Null]),
        ("filter.q", &[Text, Null]),
        ("filter.since", &[Text, Null]),
        ("filter.until", &[Text, Null]),
    ];
    let message = json!({"category": "security", "title": "t", "subtype": "s", "body": "b",
        "severity": "info", "link": "https://example.com/x", "resource": "r", "dedupe_key": "k"});
    let message_fields: &[(&str, &[Kind])] = &[
        ("category", &[Text, Null]),
        ("title", &[Text, Null]),
        ("subtype", &[Text, Null]),
        ("body", &[Text, Null]),
        ("severity", &[Text, Null]),
        ("link", &[Text, Null]),
        ("resource", &[Text, Null]),
        ("dedupe_key", &[Text, Null]),
    ];
    let cases: Vec<(Method, String, serde_json::Value, Fields<'_>)> = vec![
        (
            Method::POST,
            "/v1/accounts".into(),
            json!({"name": "beta"}),
            &[("name", &[Text])],
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{acc}"),
            json!({"retention_days": 30}),
            &[("retention_days", &[Number, Null])],
        ),
        (
            Method::POST,
            format!("/v1/accounts/{acc}/users"),
            json!({"name": "bob", "policies": [], "categories": ["security"]}),
            &[
                ("name", &[Text]),
                ("policies", &[Array]),
                ("categories", &[Array, Null]),
            ],
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{acc}/users/{user}"),
            json!({"policies": [], "categories": ["security"]}),
            &[("policies", &[Array, Null]), ("categories", &[Array, Null])],
        ),
        (
            Method::POST,
            format!("/v1/accounts/{acc}/messages"),
            message.clone(),
            message_fields,
        ),
        (
            Method::POST,
            format!("/v1/accounts/{acc}/routing"),
            message,
            message_fields,
        ),
        (
            Method::POST,
            format!("/v1/accounts/{acc}/messages/mark-read"),
            json!({"filter": filter}),
            filter_fields,
        ),
        (
            Method::POST,
            format!("/v1/accounts/{acc}/messages/delete"),
            json!({"filter": filter}),
            filter_fields,
        ),
        (
            Method::POST,
            format!("/v1/accounts/{acc}/messages/mark-read"),
            json!({"ids": []}),
            &[("ids", &[Array])],
        ),
        (
            Method::POST,
            format!("/v1/accounts/{acc}/messages/delete"),
            json!({"ids": []}),
            &[("ids", &[Array])],
        ),
        (
            Method::POST,
            format!("/v1/accounts/{acc}/channels"),
            json!({"name": "c", "plugin": "webhook", "config": {}}),
            &[
                ("name", &[Text]),
                ("plugin", &[Text]),
                ("config", &[Object]),
            ],
        ),
        (
            Method::POST,
            format!("/v1/accounts/{acc}/contacts"),
            json!({"name": "n", "email": "n@example.com"}),
            &[("name", &[Text]), ("email", &[Text])],
        ),
        (
            Method::PUT,
            format!("/v1/accounts/{acc}/subscriptions/security"),
            json!({"subtypes": ["a"], "min_severity": "info", "contacts": [], "channels": [],
                "digest": {"cron": "0 0 9 * * *", "timezone": "UTC"}}),
            &[
                ("subtypes", &[Array, Null]),
                ("min_severity", &[Text, Null]),
                ("contacts", &[Array]),
                ("channels", &[Array]),
                ("digest", &[Object, Null]),
                ("digest.cron", &[Text]),
                ("digest.timezone", &[Text]),
            ],
        ),
    ];
    for (method, path, body, fields) in cases {
        for (_, top) in wrong_values().into_iter().filter(|(k, _)| *k != Object) {
            let r = s
                .call(method.clone(), &path, OPERATOR, Some(top.clone()))
                .await;
            assert_eq!(r.status, 400, "{method} {path} {top}: {}", r.body);
            assert_eq!(r.error().0, "invalid_argument");
            let said = r.body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                said.contains("must be a JSON object"),
                "{method} {path} {top}: {said}"
            );
        }
        for (field, takes) in fields {
            for (kind, wrong) in wrong_values() {
                if takes.contains(&kind) {
                    continue;
                }
                let sent = with_field(&body, field, wrong);
                let r = s
                    .call(method.clone(), &path, OPERATOR, Some(sent.clone()))
                    .await;
                assert_eq!(r.status, 400, "{method} {path} {sent}: {}", r.body);
                let (code, named) = r.error();
                assert_eq!(code, "invalid_argument");
                assert_eq!(
                    named.as_deref(),
                    Some(*field),
                    "{method} {path} {sent}: {}",
                    r.body
                );
            }
        }
    }
}

/// (total, unread) of the operator's counts.
async fn counts(s: &common::TestServer, acc: &str) -> (u64, u64) {
    let r = s.get(&format!("/v1/accounts/{acc}/counts"), OPERATOR).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (
        r.body["total"].as_u64().expect("total"),
        r.body["unread"].as_u64().expect("unread"),
    )
}

#[tokio::test]
async fn a_malformed_bulk_body_never_marks_read_or_deletes_anything() {
    let s = start().await;
    let (acc, _) = s.account("acme").await;
    let first = s.publish(&acc, "security", "one").await;
    s.publish(&acc, "account", "two").await;
    s.publish(&acc, "product", "three").await;
    assert_eq!(counts(&s, &acc).await, (3, 3));
    let refused: Vec<(&str, Option<&str>)> = vec![
        (r#"{"filter": []}"#, Some("filter")),
        (r#"{"filter": "x"}"#, Some("filter")),
        (r#"{"filter": 1}"#, Some("filter")),
        (r#"{"filter": true}"#, Some("filter")),
        (r#"{"filter": null}"#, Some("filter")),
        (r#"{"filter": [{}]}"#, Some("filter")),
        (
            r#"{"filter": {"categories": {}}}"#,
            Some("filter.categories"),
        ),
        (r#"{"filter": {"category": {}}}"#, Some("filter.category")),
        (r#"{"filter": {"category": []}}"#, Some("filter.category")),
        (
            r#"{"filter": {"category": [1]}}"#,
            Some("filter.category[0]"),
        ),
        (r#"{"filter": {"status": ["read"]}}"#, Some("filter.status")),
        (r#"{"ids": null}"#, Some("ids")),
        (r#"{"ids": {}}"#, Some("ids")),
        (r#"{"ids": "all"}"#, Some("ids")),
        (r#"{"ids": [], "filter": {}}"#, None),
        (r#"{"ids": [], "filter": null}"#, Some("filter")),
        (
            r#"{"filter": {"category": "security"}, "filter": {}}"#,
            Some("filter"),
        ),
        (
            r#"{"filter": {"category": "security", "category": "account"}}"#,
            Some("filter.category"),
        ),
        ("[]", None),
        ("[{}]", None),
        ("null", None),
        (r#""filter""#, None),
        ("{}", None),
    ];
    for action in ["mark-read", "delete"] {
        let path = format!("/v1/accounts/{acc}/messages/{action}");
        for (body, field) in &refused {
            let r = s
                .raw(
                    Method::POST,
                    &path,
                    Some(OPERATOR),
                    Some(Bytes::from(body.to_string())),
                )
                .await;
            assert_eq!(r.status, 400, "{action} {body}: {}", r.body);
            let (code, named) = r.error();
            assert_eq!(code, "invalid_argument");
            assert_eq!(named.as_deref(), *field, "{action} {body}: {}", r.body);
            assert_eq!(
                counts(&s, &acc).await,
                (3, 3),
                "{action} {body} changed data"
            );
        }
        // An empty or unknown id list acts on nothing.
        for body in [json!({"ids": []}), json!({"ids": ["msg_nope", "x"]})] {
            let r = s.post(&path, OPERATOR, body.clone()).await;
            assert_eq!(r.status, 200, "{action} {body}: {}", r.body);
            assert_eq!(
                counts(&s, &acc).await,
                (3, 3),
                "{action} {body} changed data"
            );
        }
    }
    let r = s
        .post(
            &format!("/v1/accounts/{acc}/messages/mark-read"),
            OPERATOR,
            json!({"filter": []}),
        )
        .await;
    assert_eq!(
        r.body["error"]["message"],
        "filter must be a JSON object, not an array"
    );
    // The same calls, well formed, still act.
    let r = s
        .post(
            &format!("/v1/accounts/{acc}/messages/mark-read"),
            OPERATOR,
            json!({"ids": [first]}),
        )
        .await;
    assert_eq!(r.body["updated"], 1, "{}", r.body);
    assert_eq!(counts(&s, &acc).await, (3, 2));
}

#[tokio::test]
async fn numbers_must_be_numbers_in_range() {
    let s = start().await;
    let (acc, _) = s.account("acme").await;
    let path = format!("/v1/accounts/{acc}");
    for body in [
        r#"{"retention_days": "30"}"#,
        r#"{"retention_days": 30.5}"#,
        r#"{"retention_days": -1}"#,
        r#"{"retention_days": 4294967296}"#,
        r#"{"retention_days": 18446744073709551616}"#,
        r#"{"retention_days": 0, "retention_days": 30}"#,
    ] {
        let r = s
            .raw(
                Method::PATCH,
                &path,
                Some(OPERATOR),
                Some(Bytes::from(body)),
            )
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(
            r.error(),
            ("invalid_argument".into(), Some("retention_days".into())),
            "{body}: {}",
            r.body
        );
    }
    let r = s.get(&path, OPERATOR).await;
    assert_eq!(r.body["retention_days"], 180, "{}", r.body);
}

#[tokio::test]
async fn channel_configs_missing_or_mistyping_a_field_are_400_naming_config_field() {
    let s = start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        ..ServerConfig::ephemeral()
    })
    .await;
    let (acc, _) = s.account("acme").await;
    let path = format!("/v1/accounts/{acc}/channels");
    let cases = [
        ("email", json!({}), "config.to"),
        ("email", json!({"to": []}), "config.to"),
        ("email", json!({"to": "ops@example.com"}), "config.to"),
        ("email", json!({"to": [""]}), "config.to"),
        (
            "email",
            json!({"to": ["ops@example.com"], "locale": 7}),
            "config.locale",
        ),
        ("dingtalk", json!({}), "config.webhook_url"),
        ("dingtalk", json!({"webhook_url": ""}), "config.webhook_url"),
        ("dingtalk", json!({"webhook_url": 7}), "config.webhook_url"),
        ("wecom", json!({"webhook_url": ["x"]}), "config.webhook_url"),
        ("lark", json!({"webhook_url": null}), "config.webhook_url"),
        ("slack", json!({"webhook_url": ""}), "config.webhook_url"),
        ("webhook", json!({"url": {}}), "config.url"),
        (
            "webhook",
            json!({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
            "config.url",
        ),
    ];
    for (plugin, config, field) in cases {
        let r = s
            .post(
                &path,
                OPERATOR,
                json!({"name": "c", "plugin": plugin, "config": config}),
            )
            .await;
        assert_eq!(r.status, 400, "{plugin} {config}: {}", r.body);
        assert_eq!(
            r.error(),
            ("invalid_argument".into(), Some(field.into())),
            "{plugin} {config}: {}",
            r.body
        );
    }
    let r = s.get(&path, OPERATOR).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.body);
}
