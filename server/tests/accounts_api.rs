//! Accounts, users and plugins answer as API.md says.

mod common;

use common::{OPERATOR, start, start_with};
use http::Method;
use msghub_server::ServerConfig;
use serde_json::json;

#[tokio::test]
async fn accounts_are_created_by_the_operator_and_read_without_their_token() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let r = s.get(&format!("/v1/accounts/{acc}"), &root).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "acme");
    assert!(r.body.get("root_token").is_none());
    let r = s
        .post("/v1/accounts", &root, json!({"name": "other"}))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error().0, "forbidden");
    let r = s.get("/v1/accounts/acc_0000000000009", OPERATOR).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn users_are_created_listed_changed_and_deleted() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let users = format!("/v1/accounts/{acc}/users");
    let r = s
        .post(&users, &root, json!({"name": "alice", "policies": ["NotificationsReadOnlyAccess"], "categories": ["account", "service"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let alice = r.body["id"].as_str().unwrap().to_owned();
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(r.body["policies"], json!(["NotificationsReadOnlyAccess"]));
    assert_eq!(r.body["categories"], json!(["account", "service"]));

    for (body, field) in [
        (json!({"name": "bob", "policies": ["Admin"]}), "policies"),
        (
            json!({"name": "bob", "categories": ["finance"]}),
            "categories",
        ),
    ] {
        let r = s.post(&users, &root, body).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.error(), ("invalid_argument".into(), Some(field.into())));
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is not one of")
        );
    }
    s.post(&users, &root, json!({"name": "carol"})).await;

    let page = s.get(&format!("{users}?limit=1"), &root).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert!(page.body["items"][0].get("token").is_none());
    let next = page.body["next_cursor"].as_str().unwrap();
    let page2 = s
        .get(&format!("{users}?limit=1&cursor={next}"), &root)
        .await;
    assert_eq!(page2.body["items"].as_array().unwrap().len(), 1);
    assert_ne!(page2.body["items"][0]["id"], page.body["items"][0]["id"]);

    // The user may read; a policy change applies on its next request.
    assert_eq!(
        s.get(&format!("/v1/accounts/{acc}/counts"), &token)
            .await
            .status,
        200
    );
    let r = s
        .call(
            Method::PATCH,
            &format!("{users}/{alice}"),
            &root,
            Some(json!({"policies": [], "categories": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["categories"].is_null());
    assert_eq!(
        s.get(&format!("/v1/accounts/{acc}/counts"), &token)
            .await
            .status,
        403
    );

    let r = s
        .call(Method::DELETE, &format!("{users}/{alice}"), &root, None)
        .await;
    assert_eq!(r.status, 204);
    let r = s.get(&format!("/v1/accounts/{acc}/counts"), &token).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error().0, "unauthenticated");
    let r = s
        .call(Method::DELETE, &format!("{users}/{alice}"), &root, None)
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn plugins_are_listed_for_any_valid_token() {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    let s = start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        plugin_cache_dir: Some(cache),
        ..ServerConfig::ephemeral()
    })
    .await;
    let health = s.plugins_loaded().await;
    let (acc, _root) = s.account("acme").await;
    let nobody = s.user(&acc, json!({"name": "nobody"})).await;
    let r = s.get("/v1/plugins", &nobody).await;
    assert_eq!(r.status, 200);
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["dingtalk", "email", "lark", "slack", "webhook", "wecom"]
    );
    assert!(r.body[0]["config_schema"].is_object());
    assert!(r.body[0]["version"].is_string());
    assert_eq!(r.body[0]["status"], "ready");
    let r = s.raw(Method::GET, "/v1/plugins", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        health["plugins"],
        json!({"ready": ["dingtalk", "email", "lark", "slack", "webhook", "wecom"],
               "loading": [], "failed": [], "reload_failed": []})
    );
    let metrics = s.raw(Method::GET, "/metrics", None, None).await;
    assert!(String::from_utf8_lossy(&metrics.raw).contains("msghub_plugins_loaded 6"));
}

/// JSON Schema counts `30.0` an integer, so a client generated from the document may send
/// it; the server takes it as 30 and still refuses fractions and out-of-range days.
#[tokio::test]
async fn retention_days_written_as_a_whole_float_is_accepted_as_an_integer() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let path = format!("/v1/accounts/{acc}");
    let r = s
        .call(
            Method::PATCH,
            &path,
            &root,
            Some(json!({"retention_days": 30.0})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["retention_days"], 30);
    let r = s
        .call(
            Method::PATCH,
            &path,
            &root,
            Some(json!({"retention_days": 30.5})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().1.as_deref(), Some("retention_days"));
    let r = s
        .call(
            Method::PATCH,
            &path,
            &root,
            Some(json!({"retention_days": 191105378.0})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.error().0 == "invalid_argument", "{}", r.body);
}
