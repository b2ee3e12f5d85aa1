//! The bundled WeCom channel through the real host, against a loopback server standing in
//! for `qyapi.weixin.qq.com`: the exact request, and each kind of answer (WeCom's errors
//! come in the `errcode` of the body, whatever the HTTP status).

use msghub::plugin::{FailureKind, PluginRegistry};
use msghub_tests::channels::{bundled, failure};
use msghub_tests::{Recorded, Reply, TestServer, delivery, message, test_config};
use serde_json::json;

/// Answers by the robot's key, so one server plays every case.
fn wecom(request: &Recorded) -> Reply {
    let key = request.path.rsplit("key=").next().unwrap_or_default();
    match key {
        "throttled" => Reply::ok(r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#),
        "invalid" => Reply::ok(r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#),
        "bad-body" => {
            Reply::ok(r#"{"errcode":40058,"errmsg":"markdown.content exceed max length"}"#)
        }
        "down" => Reply::Answer(500, Vec::new(), b"internal error".to_vec()),
        _ => Reply::ok(r#"{"errcode":0,"errmsg":"ok"}"#),
    }
}

fn config(server: &TestServer, key: &str, locale: Option<&str>) -> String {
    let mut config =
        json!({"webhook_url": server.url(&format!("/cgi-bin/webhook/send?key={key}"))});
    if let Some(locale) = locale {
        config["locale"] = json!(locale);
    }
    config.to_string()
}

async fn setup() -> (PluginRegistry, TestServer) {
    (bundled(test_config()).await, TestServer::start(wecom).await)
}

#[tokio::test]
async fn a_markdown_message_reaches_the_robot_as_documented() {
    let (registry, server) = setup().await;
    let config = config(&server, "k-123", Some("zh-CN"));
    registry.validate_config("wecom", &config).await.unwrap();
    registry
        .send(
            "wecom",
            &config,
            &delivery(vec![message("磁盘 <@all> 已满")]),
        )
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/cgi-bin/webhook/send?key=k-123");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({"msgtype": "markdown", "markdown": {"content":
            "### 磁盘 &lt;@all&gt; 已满\n\
             <font color=\"warning\">严重</font> · <font color=\"comment\">安全 · 资源: ecs/i-123</font>\n\n\
             Traffic is **10x** normal.\n\n\
             [查看详情](https://console.example.com/ddos)"}})
    );
}

#[tokio::test]
async fn a_long_body_stays_within_4096_bytes() {
    let (registry, server) = setup().await;
    let mut long = message("big");
    long.body = Some("告警内容。".repeat(1000));
    registry
        .send("wecom", &config(&server, "k", None), &delivery(vec![long]))
        .await
        .unwrap();
    let body = server.requests()[0].json();
    let content = body["markdown"]["content"].as_str().unwrap();
    assert!(content.len() <= 4096, "{}", content.len());
    assert!(content.contains("Message shortened to fit"), "{content}");
}

#[tokio::test]
async fn errcodes_map_to_outcomes_whatever_the_status() {
    let (registry, server) = setup().await;
    let single = delivery(vec![message("x")]);
    for (key, kind, says) in [
        (
            "throttled",
            FailureKind::RateLimited { retry_after: None },
            "45009",
        ),
        ("invalid", FailureKind::Permanent, "93000"),
        ("bad-body", FailureKind::Permanent, "40058"),
        ("down", FailureKind::Retryable, "500"),
    ] {
        let (got, message) = failure(
            registry
                .send("wecom", &config(&server, key, None), &single)
                .await,
        );
        assert_eq!(got, kind, "{key}: {message}");
        assert!(message.contains(says), "{key}: {message}");
    }
}

#[tokio::test]
async fn a_digest_is_one_markdown_summary() {
    let (registry, server) = setup().await;
    registry
        .send(
            "wecom",
            &config(&server, "k", None),
            &delivery(vec![message("a"), message("b")]),
        )
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let content = requests[0].json()["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(content.starts_with("### Digest: 2 messages\n"), "{content}");
}

#[tokio::test]
async fn urls_without_a_key_or_off_wecom_are_refused() {
    let registry = bundled(test_config()).await;
    for (url, says) in [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "key"),
        (
            "https://qyapi.example.com/cgi-bin/webhook/send?key=k",
            "qyapi.weixin.qq.com",
        ),
    ] {
        let e = registry
            .validate_config("wecom", &json!({"webhook_url": url}).to_string())
            .await
            .unwrap_err();
        assert!(e.to_string().contains(says), "{url}: {e}");
    }
}
