//! The bundled Lark channel through the real host, against a loopback server standing in
//! for `open.feishu.cn`: the exact request, its signature (checked here with this test's
//! own HMAC: seconds, key = timestamp + "\n" + secret, empty message), and each answer.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use msghub::plugin::{FailureKind, PluginRegistry};
use msghub_tests::channels::{bundled, failure};
use msghub_tests::{Recorded, Reply, TestServer, delivery, message, test_config};
use serde_json::json;
use sha2::Sha256;

/// Answers by the bot's token, so one server plays every case.
fn lark(request: &Recorded) -> Reply {
    match request.path.rsplit('/').next().unwrap_or_default() {
        "bad-sign" => Reply::ok(
            r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
        ),
        "throttled" => Reply::ok(r#"{"code":11232,"msg":"frequency limited psm"}"#),
        "too-many" => Reply::Answer(429, vec![("retry-after", "5".to_owned())], b"{}".to_vec()),
        "down" => Reply::Answer(502, Vec::new(), b"bad gateway".to_vec()),
        _ => Reply::ok(r#"{"code":0,"data":{},"msg":"success"}"#),
    }
}

fn config(server: &TestServer, token: &str) -> String {
    json!({
        "webhook_url": server.url(&format!("/open-apis/bot/v2/hook/{token}")),
        "secret": "testsecret",
    })
    .to_string()
}

async fn setup() -> (PluginRegistry, TestServer) {
    (bundled(test_config()).await, TestServer::start(lark).await)
}

/// Lark's signature, computed here independently of the plugin.
fn expected_sign(secret: &str, timestamp: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn a_signed_card_reaches_the_bot_as_documented() {
    let (registry, server) = setup().await;
    let config = config(&server, "hook-token");
    registry.validate_config("lark", &config).await.unwrap();
    registry
        .send(
            "lark",
            &config,
            &delivery(vec![message("DDoS <at id=all></at>")]),
        )
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/open-apis/bot/v2/hook/hook-token");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json();
    // Seconds, as a string; CHANNELS.md's test vector.
    assert_eq!(body["timestamp"], "1700000000");
    assert_eq!(body["sign"], "AOc8oJ7//5OlQlfWC3nRL0R+IkuzcD1FKcAyibRK9Q8=");
    assert_eq!(
        body["sign"],
        expected_sign("testsecret", "1700000000").as_str()
    );
    assert_eq!(
        body,
        json!({
            "timestamp": "1700000000",
            "sign": "AOc8oJ7//5OlQlfWC3nRL0R+IkuzcD1FKcAyibRK9Q8=",
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": true},
                "header": {"template": "red", "title": {"tag": "plain_text", "content": "DDoS <at id=all></at>"}},
                "elements": [
                    {"tag": "markdown", "content": "**Critical** · Security · Resource: ecs/i-123\n\nTraffic is **10x** normal."},
                    {"tag": "action", "actions": [{
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": "View details"},
                        "type": "primary",
                        "url": "https://console.example.com/ddos",
                    }]},
                ],
            },
        })
    );
}

#[tokio::test]
async fn codes_and_statuses_map_to_outcomes() {
    let (registry, server) = setup().await;
    let single = delivery(vec![message("x")]);
    for (token, kind, says) in [
        ("bad-sign", FailureKind::Permanent, "19021"),
        (
            "throttled",
            FailureKind::RateLimited { retry_after: None },
            "11232",
        ),
        (
            "too-many",
            FailureKind::RateLimited {
                retry_after: Some(Duration::from_secs(5)),
            },
            "429",
        ),
        ("down", FailureKind::Retryable, "502"),
    ] {
        let (got, message) = failure(
            registry
                .send("lark", &config(&server, token), &single)
                .await,
        );
        assert_eq!(got, kind, "{token}: {message}");
        assert!(message.contains(says), "{token}: {message}");
    }
}

#[tokio::test]
async fn a_digest_is_one_card_and_stays_within_20_kb() {
    let (registry, server) = setup().await;
    let messages = (0..300)
        .map(|i| message(&format!("alert {i} on a rather long resource name")))
        .collect();
    registry
        .send("lark", &config(&server, "t"), &delivery(messages))
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].body.len() <= 20 * 1024,
        "{}",
        requests[0].body.len()
    );
    let body = requests[0].json();
    assert_eq!(
        body["card"]["header"]["title"]["content"],
        "Digest: 300 messages"
    );
    let content = body["card"]["elements"][0]["content"].as_str().unwrap();
    assert!(content.contains("more not shown"), "{content}");
}

#[tokio::test]
async fn unsigned_bots_get_no_signature_fields() {
    let (registry, server) = setup().await;
    let config = json!({"webhook_url": server.url("/open-apis/bot/v2/hook/t")}).to_string();
    registry
        .send("lark", &config, &delivery(vec![message("x")]))
        .await
        .unwrap();
    let body = server.requests()[0].json();
    assert!(
        body.get("sign").is_none() && body.get("timestamp").is_none(),
        "{body}"
    );
}
