//! The bundled custom webhook through the real host, against a loopback receiver: the
//! exact request, the Standard Webhooks signature checked with this test's own HMAC and by
//! the reference verifier (the PyPI package `standardwebhooks`, which `.ci/run` installs),
//! secret rotation, and the outcome of each answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use msghub::plugin::{FailureKind, PluginConfig, PluginRegistry};
use msghub_tests::channels::{bundled, failure, python};
use msghub_tests::{Recorded, Reply, TestServer, delivery, message, test_config};
use serde_json::json;
use sha2::Sha256;

const OLD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Answers by the path, so one server plays every receiver.
fn receiver(request: &Recorded) -> Reply {
    let status = |code: u16| {
        Reply::Answer(
            code,
            vec![("retry-after", "9".to_owned())],
            b"said".to_vec(),
        )
    };
    match request.path.as_str() {
        "/moved" => status(301),
        "/missing" => status(404),
        "/gone" => status(410),
        "/slow-down" => status(429),
        "/bad-gateway" => status(502),
        "/broken" => status(500),
        "/hang" => Reply::Hang,
        _ => Reply::Answer(204, Vec::new(), Vec::new()),
    }
}

fn config(server: &TestServer, path: &str) -> serde_json::Value {
    json!({
        "url": server.url(path),
        "secrets": [OLD_SECRET, NEW_SECRET],
        "headers": {"X-Extra": "extra-value"},
    })
}

async fn setup() -> (PluginRegistry, TestServer) {
    (
        bundled(test_config()).await,
        TestServer::start(receiver).await,
    )
}

/// `v1,` + Base64(HMAC-SHA256(secret's bytes, id.timestamp.body)), computed here.
fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("a Base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn a_message_is_posted_signed_with_every_active_secret() {
    let (registry, server) = setup().await;
    let config = config(&server, "/hooks/msghub").to_string();
    registry.validate_config("webhook", &config).await.unwrap();
    let receipt = registry
        .send("webhook", &config, &delivery(vec![message("Disk full")]))
        .await
        .unwrap();
    assert_eq!(receipt.detail.as_deref(), Some("HTTP 204"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/msghub");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-extra"), Some("extra-value"));
    assert_eq!(request.header("webhook-id"), Some("dlv-0001"));
    assert_eq!(request.header("webhook-timestamp"), Some("1700000000"));
    let signatures: Vec<&str> = request
        .header("webhook-signature")
        .expect("signed")
        .split(' ')
        .collect();
    assert_eq!(
        signatures,
        [OLD_SECRET, NEW_SECRET].map(|secret| expected_signature(
            secret,
            "dlv-0001",
            "1700000000",
            &request.body
        ))
    );
    assert_eq!(
        request.json(),
        json!({
            "type": "message.created",
            "timestamp": "2023-11-14T22:13:20Z",
            "data": {
                "id": "msg_00000000000010000001",
                "account_id": "acc_0000000000001",
                "category": "security",
                "subtype": "ddos-attack",
                "title": "Disk full",
                "body": "Traffic is **10x** normal.",
                "severity": "critical",
                "link": "https://console.example.com/ddos",
                "resource": "ecs/i-123",
                "created_at": "2026-11-28T12:00:00Z",
            },
        })
    );
}

/// The reference verifier accepts the request with each active secret, and refuses it with
/// any other secret.
#[tokio::test]
async fn the_reference_verifier_accepts_what_is_sent() {
    let (registry, server) = setup().await;
    let mut now = delivery(vec![message("a"), message("b")]);
    // The verifier refuses timestamps more than five minutes from its clock.
    now.timestamp_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    registry
        .send(
            "webhook",
            &config(&server, "/hooks/msghub").to_string(),
            &now,
        )
        .await
        .unwrap();
    let request = &server.requests()[0];
    let headers: serde_json::Map<String, serde_json::Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|name| {
                (
                    name.to_string(),
                    json!(request.header(name).unwrap_or_default()),
                )
            })
            .collect();
    let verify = r#"
import json, sys
from standardwebhooks import Webhook
case = json.load(sys.stdin)
payload = Webhook(case["secret"]).verify(case["body"], case["headers"])
print(payload["type"], len(payload["data"]["messages"]))
"#;
    let case = |secret: &str| {
        json!({
            "secret": secret,
            "body": String::from_utf8(request.body.clone()).expect("a UTF-8 body"),
            "headers": headers,
        })
        .to_string()
    };
    for secret in [OLD_SECRET, NEW_SECRET] {
        let verified = python(verify, case(secret).as_bytes()).unwrap_or_else(|e| {
            panic!("standardwebhooks refused the request ({e}); is it installed? pip install standardwebhooks")
        });
        assert_eq!(verified.trim(), "message.digest 2");
    }
    let stranger = "whsec_c3RyYW5nZXJzdHJhbmdlcnN0cmFuZ2Vyc3RyYW5nZXI=";
    let refused = python(verify, case(stranger).as_bytes()).unwrap_err();
    assert!(refused.contains("No matching signature found"), "{refused}");
}

#[tokio::test]
async fn every_retry_carries_the_same_webhook_id() {
    let (registry, server) = setup().await;
    let config = config(&server, "/hooks/msghub").to_string();
    let mut attempt = delivery(vec![message("x")]);
    registry.send("webhook", &config, &attempt).await.unwrap();
    attempt.attempt = 2;
    attempt.timestamp_ms += 60_000;
    registry.send("webhook", &config, &attempt).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].header("webhook-id"), Some("dlv-0001"));
    assert_eq!(requests[1].header("webhook-id"), Some("dlv-0001"));
    assert_eq!(requests[1].header("webhook-timestamp"), Some("1700000060"));
}

#[tokio::test]
async fn answers_map_to_outcomes() {
    let (registry, server) = setup().await;
    let single = delivery(vec![message("x")]);
    let wait = FailureKind::RateLimited {
        retry_after: Some(Duration::from_secs(9)),
    };
    for (path, kind) in [
        ("/moved", FailureKind::Permanent),
        ("/missing", FailureKind::Permanent),
        ("/gone", FailureKind::Permanent),
        ("/slow-down", wait.clone()),
        ("/bad-gateway", wait),
        ("/broken", FailureKind::Retryable),
        ("/hang", FailureKind::Retryable),
    ] {
        let config = config(&server, path).to_string();
        let (got, message) = failure(registry.send("webhook", &config, &single).await);
        assert_eq!(got, kind, "{path}: {message}");
    }
}

#[tokio::test]
async fn private_addresses_are_refused_unless_the_operator_allows_them() {
    let registry = bundled(PluginConfig {
        allow_networks: Vec::new(),
        ..test_config()
    })
    .await;
    let server = TestServer::start(receiver).await;
    let config = config(&server, "/hooks/msghub").to_string();
    let (kind, message) = failure(
        registry
            .send("webhook", &config, &delivery(vec![message("x")]))
            .await,
    );
    assert_eq!(kind, FailureKind::Permanent);
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn bad_configurations_are_refused_with_a_reason() {
    let registry = bundled(test_config()).await;
    for (config, says) in [
        (json!({"url": "https://hooks.example.com/in"}), "secret"),
        (
            json!({"url": "http://hooks.example.com/in", "secret": OLD_SECRET}),
            "https://",
        ),
        (
            json!({"url": "https://hooks.example.com/in", "secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
            "whsec_",
        ),
        (
            json!({"url": "https://hooks.example.com/in", "secret": OLD_SECRET, "headers": {"webhook-id": "x"}}),
            "webhook-id",
        ),
    ] {
        let e = registry
            .validate_config("webhook", &config.to_string())
            .await
            .unwrap_err();
        assert!(e.to_string().contains(says), "{config}: {e}");
    }
}
