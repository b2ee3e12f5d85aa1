//! The bundled DingTalk channel through the real host, against a loopback server standing
//! in for `oapi.dingtalk.com`: the exact request, its signature (checked here with this
//! test's own HMAC), and each kind of answer DingTalk gives (errors come with HTTP 200).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use msghub::plugin::{FailureKind, PluginRegistry};
use msghub_tests::channels::{bundled, failure};
use msghub_tests::{Recorded, Reply, TestServer, delivery, message, test_config};
use serde_json::json;
use sha2::Sha256;

/// Answers by the robot's access token, so one server plays every case.
fn dingtalk(request: &Recorded) -> Reply {
    let token = request
        .path
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("access_token="))
        .unwrap_or_default();
    match token {
        "too-fast" => {
            Reply::ok(r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#)
        }
        "bad-sign" => Reply::ok(r#"{"errcode":310000,"errmsg":"sign not match"}"#),
        "no-token" => Reply::ok(r#"{"errcode":300001,"errmsg":"token is not exist"}"#),
        "down" => Reply::Answer(503, Vec::new(), b"upstream unavailable".to_vec()),
        "hang" => Reply::Hang,
        _ => Reply::ok(r#"{"errcode":0,"errmsg":"ok"}"#),
    }
}

fn config(server: &TestServer, token: &str) -> String {
    json!({
        "webhook_url": server.url(&format!("/robot/send?access_token={token}")),
        "secret": "SECtestsecret",
        "keywords": ["msghub"],
    })
    .to_string()
}

async fn setup() -> (PluginRegistry, TestServer) {
    (
        bundled(test_config()).await,
        TestServer::start(dingtalk).await,
    )
}

/// The signature of CHANNELS.md, computed here independently of the plugin.
fn expected_sign(secret: &str, timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}\n{secret}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn a_signed_markdown_message_reaches_the_robot_as_documented() {
    let (registry, server) = setup().await;
    let config = config(&server, "tok123");
    registry.validate_config("dingtalk", &config).await.unwrap();
    let receipt = registry
        .send(
            "dingtalk",
            &config,
            &delivery(vec![message("DDoS attack on 203.0.113.7")]),
        )
        .await
        .unwrap();
    assert_eq!(receipt.detail.as_deref(), Some("errcode 0: ok"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    // The delivery's time in milliseconds, and CHANNELS.md's test vector, URL-encoded.
    assert_eq!(
        request.path,
        "/robot/send?access_token=tok123&timestamp=1700000000000\
         &sign=7LVwF0dAF3%2F%2BMRRulbpE4y72Ogzykc6bS2nG4I99T4s%3D"
    );
    assert_eq!(
        expected_sign("SECtestsecret", "1700000000000"),
        "7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s="
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(
        request.json(),
        json!({"msgtype": "markdown", "markdown": {
            "title": "DDoS attack on 203.0.113.7",
            "text": "#### DDoS attack on 203.0.113.7\n\n\
                     **Critical** · Security · Resource: ecs/i-123\n\n\
                     Traffic is **10x** normal.\n\n\
                     [View details](https://console.example.com/ddos)\n\nmsghub",
        }})
    );
}

#[tokio::test]
async fn the_signature_follows_the_delivery_clock() {
    let (registry, server) = setup().await;
    let mut later = delivery(vec![message("x")]);
    later.timestamp_ms = 1_795_867_200_123;
    registry
        .send("dingtalk", &config(&server, "tok"), &later)
        .await
        .unwrap();
    let path = &server.requests()[0].path;
    let expected = expected_sign("SECtestsecret", "1795867200123")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    assert!(
        path.ends_with(&format!("&timestamp=1795867200123&sign={expected}")),
        "{path}"
    );
}

#[tokio::test]
async fn errors_in_http_200_answers_map_to_outcomes() {
    let (registry, server) = setup().await;
    let single = delivery(vec![message("x")]);
    let cases = [
        (
            "too-fast",
            FailureKind::RateLimited {
                retry_after: Some(Duration::from_secs(600)),
            },
            "130101",
        ),
        ("bad-sign", FailureKind::Permanent, "310000"),
        ("no-token", FailureKind::Permanent, "300001"),
        ("down", FailureKind::Retryable, "503"),
        ("hang", FailureKind::Retryable, ""),
    ];
    for (token, kind, says) in cases {
        let (got, message) = failure(
            registry
                .send("dingtalk", &config(&server, token), &single)
                .await,
        );
        assert_eq!(got, kind, "{token}: {message}");
        assert!(message.contains(says), "{token}: {message}");
    }
}

#[tokio::test]
async fn a_digest_is_one_markdown_summary() {
    let (registry, server) = setup().await;
    let digest = delivery(vec![message("first"), message("second")]);
    registry
        .send("dingtalk", &config(&server, "tok"), &digest)
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "a digest is one message");
    let body = requests[0].json();
    assert_eq!(body["markdown"]["title"], "Digest: 2 messages");
    let text = body["markdown"]["text"].as_str().unwrap();
    assert!(
        text.contains("[first](https://console.example.com/ddos)"),
        "{text}"
    );
    assert!(
        text.contains("[second](https://console.example.com/ddos)"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_configurations_are_refused_with_a_reason() {
    let registry = bundled(test_config()).await;
    for (config, says) in [
        (json!({}), "webhook_url"),
        (
            json!({"webhook_url": "http://oapi.dingtalk.com/robot/send?access_token=t"}),
            "https://",
        ),
        (
            json!({"webhook_url": "https://oapi.dingtalk.com/robot/send"}),
            "access_token",
        ),
        (
            json!({"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t", "secret": "nope"}),
            "SEC",
        ),
    ] {
        let e = registry
            .validate_config("dingtalk", &config.to_string())
            .await
            .unwrap_err();
        assert!(e.to_string().contains(says), "{config}: {e}");
    }
}
