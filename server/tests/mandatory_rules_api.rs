//! Mandatory rules over HTTP: operator-only management with strict validation, the 409
//! `mandatory_rule` refusal naming the rule, the routing explanation, the accounts without
//! a target, and the rules' entries in the operator's history.

mod common;

use http::Method;
use serde_json::json;

use common::{OPERATOR, start};

#[tokio::test]
async fn only_the_operator_manages_rules_and_bad_input_names_its_field() {
    let s = start().await;
    let (account, root) = s.account("acme").await;
    let full = s
        .user(
            &account,
            json!({"name": "full", "policies": ["NotificationsFullAccess"]}),
        )
        .await;
    let rule = json!({"name": "breach", "category": "security"});
    for token in [&root, &full] {
        let r = s.post("/v1/mandatory-rules", token, rule.clone()).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(s.get("/v1/mandatory-rules", token).await.status, 403);
    }
    for (body, field) in [
        (
            json!({"name": "x", "category": "weather"}),
            Some("category"),
        ),
        (json!({"name": "", "category": "security"}), Some("name")),
        (
            json!({"name": "x", "category": "security", "min_severity": "loud"}),
            Some("min_severity"),
        ),
        (
            json!({"name": "x", "category": "security", "subtypes": []}),
            Some("subtypes"),
        ),
        (
            json!({"name": "x", "category": "security", "colour": "red"}),
            None,
        ),
    ] {
        let r = s.post("/v1/mandatory-rules", OPERATOR, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let (code, got) = r.error();
        assert_eq!(code, "invalid_argument");
        if let Some(field) = field {
            assert_eq!(got.as_deref(), Some(field), "{body}");
        }
    }
    let r = s.post("/v1/mandatory-rules", OPERATOR, rule.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("mnd_"));
    assert_eq!(r.body["min_severity"], "info");
    assert!(r.body["subtypes"].is_null());
    let r = s.post("/v1/mandatory-rules", OPERATOR, rule).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error().0, "conflict");
    let r = s.get("/v1/mandatory-rules", OPERATOR).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = s.get(&format!("/v1/mandatory-rules/{id}"), OPERATOR).await;
    assert_eq!(r.body["name"], "breach");
    let r = s
        .call(
            Method::DELETE,
            &format!("/v1/mandatory-rules/{id}"),
            OPERATOR,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = s.get(&format!("/v1/mandatory-rules/{id}"), OPERATOR).await;
    assert_eq!(r.status, 404);
    let r = s.get("/v1/mandatory-rules/mnd_nope", OPERATOR).await;
    assert_eq!(r.status, 404);

    let r = s.get("/v1/history?kind=mandatory_rule", OPERATOR).await;
    let actions: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["deleted", "created"]);
}

#[tokio::test]
async fn a_covered_subscription_is_kept_and_the_rule_is_named() {
    let s = start().await;
    let (account, root) = s.account("acme").await;
    let (beta, _) = s.account("beta").await;
    let base = format!("/v1/accounts/{account}");
    let r = s
        .post(
            &format!("{base}/contacts"),
            &root,
            json!({"name": "ops", "email": "ops@example.com"}),
        )
        .await;
    let contact = r.body["id"].as_str().unwrap().to_owned();
    let r = s
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/security"),
            &root,
            Some(json!({"contacts": [contact], "subtypes": ["login"], "min_severity": "critical"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(
            "/v1/mandatory-rules",
            OPERATOR,
            json!({"name": "breach-notices", "category": "security",
                   "subtypes": ["breach"], "min_severity": "warning"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rule = r.body["id"].as_str().unwrap().to_owned();

    let r = s
        .call(
            Method::DELETE,
            &format!("{base}/subscriptions/security"),
            &root,
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error().0, "mandatory_rule");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("breach-notices") && message.contains(&rule),
        "{message}"
    );
    let r = s
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/security"),
            &root,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error().0, "mandatory_rule");

    let r = s
        .post(
            &format!("{base}/routing"),
            &root,
            json!({"category": "security", "title": "breach", "subtype": "breach", "severity": "warning"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["matched"], true);
    assert_eq!(r.body["mandatory_rule"]["id"], rule.as_str());
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("breach-notices")
    );
    assert_eq!(r.body["targets"].as_array().unwrap().len(), 1);
    let r = s
        .post(
            &format!("{base}/routing"),
            &root,
            json!({"category": "security", "title": "scan", "subtype": "scan", "severity": "warning"}),
        )
        .await;
    assert_eq!(r.body["matched"], false);
    assert!(r.body["mandatory_rule"].is_null());

    let r = s
        .get(
            &format!("/v1/mandatory-rules/{rule}/accounts-without-target"),
            OPERATOR,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!([{"account_id": beta, "name": "beta", "reason": "no_subscription"}])
    );
    let r = s
        .get(
            &format!("/v1/mandatory-rules/{rule}/accounts-without-target"),
            &root,
        )
        .await;
    assert_eq!(r.status, 403);
}
