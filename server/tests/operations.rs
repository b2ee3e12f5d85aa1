//! `/healthz`, `/metrics`, `/openapi.json`, the console, and request ids.

mod common;

use common::{OPERATOR, start};
use http::Method;
use serde_json::{Value, json};

/// Every route the router serves, as the OpenAPI document must list it.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/accounts"),
    ("get", "/v1/accounts/{account}"),
    ("post", "/v1/accounts/{account}/users"),
    ("get", "/v1/accounts/{account}/users"),
    ("patch", "/v1/accounts/{account}/users/{user}"),
    ("delete", "/v1/accounts/{account}/users/{user}"),
    ("post", "/v1/accounts/{account}/messages"),
    ("get", "/v1/accounts/{account}/messages"),
    ("get", "/v1/accounts/{account}/messages/{id}"),
    ("delete", "/v1/accounts/{account}/messages/{id}"),
    ("get", "/v1/accounts/{account}/counts"),
    ("post", "/v1/accounts/{account}/messages/mark-read"),
    ("post", "/v1/accounts/{account}/messages/delete"),
    ("get", "/v1/accounts/{account}/messages/{id}/deliveries"),
    ("post", "/v1/accounts/{account}/messages/{id}/requeue"),
    ("patch", "/v1/accounts/{account}"),
    ("post", "/v1/accounts/{account}/channels"),
    ("get", "/v1/accounts/{account}/channels"),
    ("get", "/v1/accounts/{account}/channels/{channel}"),
    ("delete", "/v1/accounts/{account}/channels/{channel}"),
    ("post", "/v1/accounts/{account}/channels/{channel}/test"),
    ("post", "/v1/accounts/{account}/channels/{channel}/requeue"),
    ("post", "/v1/accounts/{account}/contacts"),
    ("get", "/v1/accounts/{account}/contacts"),
    ("get", "/v1/accounts/{account}/contacts/{contact}"),
    ("delete", "/v1/accounts/{account}/contacts/{contact}"),
    ("post", "/v1/accounts/{account}/contacts/{contact}/requeue"),
    ("get", "/v1/accounts/{account}/subscriptions"),
    ("put", "/v1/accounts/{account}/subscriptions/{category}"),
    ("get", "/v1/accounts/{account}/subscriptions/{category}"),
    ("delete", "/v1/accounts/{account}/subscriptions/{category}"),
    ("post", "/v1/accounts/{account}/routing"),
    ("get", "/v1/accounts/{account}/events"),
    ("post", "/v1/accounts/{account}/events/ticket"),
    ("get", "/v1/accounts/{account}/history"),
    ("get", "/v1/history"),
    ("post", "/v1/mandatory-rules"),
    ("get", "/v1/mandatory-rules"),
    ("get", "/v1/mandatory-rules/{rule}"),
    ("delete", "/v1/mandatory-rules/{rule}"),
    ("get", "/v1/mandatory-rules/{rule}/accounts-without-target"),
    ("get", "/v1/plugins"),
    ("post", "/v1/plugins/reload"),
    ("get", "/unsubscribe/{token}"),
    ("post", "/unsubscribe/{token}"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/"),
    ("get", "/console/{path}"),
];

#[tokio::test]
async fn openapi_lists_every_route_the_server_serves() {
    let s = start().await;
    let r = s.raw(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = r.body["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing"
        );
    }
    let listed: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        listed,
        ROUTES.len(),
        "the document lists routes this test does not know"
    );
    // And each documented operation is really served (not 404 "no route").
    let (acc, _) = s.account("acme").await;
    for (method, path) in ROUTES {
        if path.ends_with("/events") {
            // A stream that does not end; served as tests/events_api.rs shows.
            continue;
        }
        let concrete = path
            .replace("{account}", &acc)
            .replace("{user}", "usr_0000000000002")
            .replace("{id}", "msg_x")
            .replace("{channel}", "chn_x")
            .replace("{contact}", "cnt_x")
            .replace("{category}", "security")
            .replace("{token}", "not-a-token")
            .replace("{path}", "index.html");
        let method: Method = method.to_uppercase().parse().unwrap();
        let r = s
            .raw(
                method.clone(),
                &concrete,
                Some(OPERATOR),
                Some(bytes::Bytes::from("{}")),
            )
            .await;
        let no_route = r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no route"));
        assert!(
            !no_route && r.status != 405,
            "{method} {concrete}: {}",
            r.status
        );
    }
}

#[tokio::test]
async fn health_metrics_and_request_ids() {
    let s = start().await;
    let r = s.raw(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    assert!(r.headers.contains_key("x-request-id"));
    let (acc, root) = s.account("acme").await;
    s.publish(&acc, "security", "one").await;
    s.get(&format!("/v1/accounts/{acc}/messages"), &root).await;
    s.raw(Method::GET, "/v1/nothing", None, None).await;

    let req = http::Request::builder()
        .uri(format!("{}/healthz", s.url()))
        .header("x-request-id", "trace-me-42")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let res = s.client.request(req).await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");

    let m = s.raw(Method::GET, "/metrics", None, None).await;
    let text = String::from_utf8(m.raw.to_vec()).unwrap();
    assert!(
        m.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(text.contains("msghub_messages_published_total 1"), "{text}");
    assert!(text.contains(
        "msghub_http_requests_total{route=\"/v1/accounts/{account}/messages\",method=\"GET\",status=\"200\"} 1"
    ));
    assert!(text.contains("route=\"unmatched\",method=\"GET\",status=\"404\""));
    assert!(text.contains("msghub_http_request_duration_seconds_bucket{route=\"/v1/accounts/{account}/messages\",method=\"POST\",le=\"+Inf\"} 1"));
    // The published message reaches the search index in the background.
    let mut text = text;
    for _ in 0..500 {
        if text.contains("msghub_search_index_pending 0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let m = s.raw(Method::GET, "/metrics", None, None).await;
        text = String::from_utf8(m.raw.to_vec()).unwrap();
    }
    assert!(text.contains("msghub_search_index_pending 0"), "{text}");
    assert!(!text.contains("msghub_search_index_bytes 0"), "{text}");
    for line in text.lines().filter(|l| !l.is_empty()) {
        let name = line
            .trim_start_matches("# HELP ")
            .trim_start_matches("# TYPE ");
        assert!(name.starts_with("msghub_"), "{line}");
    }
}

#[tokio::test]
async fn the_console_is_served_with_content_types_and_revalidation() {
    let s = start().await;
    let index = s.raw(Method::GET, "/", None, None).await;
    assert_eq!(index.status, 200);
    assert!(
        index.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&index.raw).contains("<html"));
    let etag = index.headers["etag"].clone();
    assert_eq!(index.headers["cache-control"], "no-cache");
    let req = http::Request::builder()
        .uri(format!("{}/", s.url()))
        .header("if-none-match", etag)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(s.client.request(req).await.unwrap().status(), 304);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let r = s
            .raw(Method::GET, &format!("/console/{name}"), None, None)
            .await;
        assert_eq!(r.status, 200, "{name}");
        let ct = r.headers["content-type"].to_str().unwrap().to_owned();
        if name.ends_with(".js") {
            assert!(ct.starts_with("text/javascript"), "{name}: {ct}");
        } else if name.ends_with(".css") {
            assert!(ct.starts_with("text/css"), "{name}: {ct}");
        }
    }
    let missing = s.raw(Method::GET, "/console/nope.js", None, None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error().0, "not_found");
    let _: Value = missing.body;
}

#[tokio::test]
async fn healthz_is_503_once_the_store_cannot_commit() {
    let s = start().await;
    let r = s.raw(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.engine().crash_writer_for_tests().await;
    let r = s.raw(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error().0, "unavailable");
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("cannot save changes"), "{message}");
}

/// The document states what the engine enforces, so a client that follows it is not
/// refused: the limits are the engine's constants, the closed sets are enums, and a
/// conflict is a documented answer.
#[tokio::test]
async fn openapi_states_the_limits_and_names_the_engine_enforces() {
    let s = start().await;
    let doc = s.raw(Method::GET, "/openapi.json", None, None).await.body;
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let publish = schema("PublishRequest")["properties"].clone();
    let max = |v: &Value| v["maxLength"].as_u64().map(|n| n as usize);
    assert_eq!(max(&publish["title"]), Some(msghub::model::MAX_TITLE_CHARS));
    assert_eq!(publish["title"]["minLength"], 1);
    assert_eq!(max(&publish["body"]), Some(msghub::model::MAX_BODY_BYTES));
    assert_eq!(
        max(&publish["subtype"]),
        Some(msghub::model::MAX_SUBTYPE_CHARS)
    );
    assert_eq!(
        max(&publish["resource"]),
        Some(msghub::model::MAX_RESOURCE_CHARS)
    );
    assert_eq!(max(&publish["link"]), Some(msghub::model::MAX_LINK_BYTES));
    assert_eq!(
        max(&publish["dedupe_key"]),
        Some(msghub::model::MAX_DEDUPE_KEY_BYTES)
    );
    let account = schema("CreateAccountRequest")["properties"]["name"].clone();
    assert_eq!(max(&account), Some(msghub::accounts::MAX_NAME_CHARS));
    assert_eq!(account["minLength"], 1);
    let retention = schema("UpdateAccountRequest")["properties"]["retention_days"].clone();
    assert_eq!(
        (retention["minimum"].clone(), retention["maximum"].clone()),
        (json!(1), json!(36500))
    );
    let filter = schema("FilterBody")["properties"]["q"].clone();
    assert_eq!(max(&filter), Some(msghub::filter::MAX_QUERY_CHARS));
    let ids = schema("BulkRequest")["properties"]["ids"].clone();
    assert_eq!(
        ids["maxItems"].as_u64(),
        Some(msghub::filter::MAX_BULK_IDS as u64)
    );

    let names = |name: &str| schema(name)["enum"].clone();
    let categories: Vec<&str> = msghub::Category::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(names("Category"), json!(categories));
    let severities: Vec<&str> = msghub::Severity::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(names("Severity"), json!(severities));
    assert_eq!(names("ReadStatus"), json!(["all", "unread", "read"]));
    assert_eq!(
        names("DeliveryStatus"),
        json!(["pending", "delivered", "retrying", "failed"])
    );
    assert_eq!(
        names("Policy"),
        json!(["NotificationsReadOnlyAccess", "NotificationsFullAccess"])
    );
    let kinds: Vec<&str> = msghub::ChangeKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names("ChangeKind"), json!(kinds));
    let rule = schema("CreateRuleRequest")["properties"].clone();
    assert_eq!(max(&rule["name"]), Some(msghub::accounts::MAX_NAME_CHARS));
    assert_eq!(rule["subtypes"]["minItems"], 1);
    assert_eq!(rule["subtypes"]["maxItems"], 100);
    for (path, method) in [
        ("/v1/accounts/{account}/subscriptions/{category}", "put"),
        ("/v1/accounts/{account}/subscriptions/{category}", "delete"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"].get("409").is_some(),
            "{method} {path} documents no 409 mandatory_rule"
        );
    }
    assert_eq!(names("Locale"), json!(msghub::LOCALES));
    let quiet = schema("QuietHoursView")["properties"].clone();
    for end in ["start", "end"] {
        let pattern = quiet[end]["pattern"].as_str().unwrap_or_default();
        assert_eq!(pattern, "^([01][0-9]|2[0-3]):[0-5][0-9]$", "{quiet}");
    }

    let list = &doc["paths"]["/v1/accounts/{account}/messages"]["get"]["parameters"];
    let limit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(
        limit["schema"]["maximum"].as_u64(),
        Some(msghub::filter::MAX_PAGE_LIMIT as u64)
    );

    let create = &doc["paths"]["/v1/accounts"]["post"]["responses"];
    for status in ["201", "400", "401", "403", "409", "413", "503"] {
        assert!(
            create.get(status).is_some(),
            "POST /v1/accounts documents no {status}"
        );
    }
}
