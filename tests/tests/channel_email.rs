//! The bundled email channel through the real host and a real SMTP server on loopback
//! (Python's `aiosmtpd`, which `.ci/run` installs; Python's `email` package parses each
//! mail): the envelope, the MIME structure, the headers, and the escaping of user text.

use msghub::plugin::{FailureKind, PluginConfig, PluginRegistry, Recipient};
use msghub_tests::channels::{PythonSmtpRelay, bundled, failure};
use msghub_tests::{SmtpServer, delivery, message, test_config};
use serde_json::{Value, json};

async fn registry_for(smtp_url: String) -> PluginRegistry {
    bundled(PluginConfig {
        smtp_url: Some(smtp_url),
        mail_from: "msghub <hub@example.com>".to_owned(),
        ..test_config()
    })
    .await
}

fn header<'a>(mail: &'a Value, name: &str) -> Vec<&'a str> {
    mail["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pair| {
            pair[0]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .filter_map(|pair| pair[1].as_str())
        .collect()
}

fn part(mail: &Value, index: usize) -> (&str, &str) {
    let part = &mail["parts"][index];
    (
        part["content_type"].as_str().unwrap_or_default(),
        part["content"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_message_arrives_as_text_then_html_with_every_header() {
    let relay = PythonSmtpRelay::start();
    let registry = registry_for(relay.url()).await;
    let config = json!({
        "to": ["ops@example.com"],
        "unsubscribe_url": "https://hub.example.com/unsubscribe/sub-1",
    })
    .to_string();
    registry.validate_config("email", &config).await.unwrap();
    let mut evil = message("Login from <script>alert(1)</script>");
    evil.body = Some(
        "**New** sign-in & <img src=x onerror=alert(1)> from [here](https://geo.example/?ip=1&x=2)"
            .to_owned(),
    );
    let mut attempt = delivery(vec![evil]);
    attempt.recipients = vec![Recipient {
        address: "fin@example.com".to_owned(),
        name: Some("Finance 团队".to_owned()),
    }];
    let receipt = registry.send("email", &config, &attempt).await.unwrap();
    assert_eq!(receipt.remote_id.as_deref(), Some("<dlv-0001@example.com>"));
    assert!(
        receipt
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("accepted by the test relay"),
        "{receipt:?}"
    );

    let mail = relay.next_mail().unwrap();
    assert_eq!(mail["mail_from"], "hub@example.com");
    assert_eq!(
        mail["rcpt_tos"],
        json!(["ops@example.com", "fin@example.com"])
    );
    assert_eq!(
        mail["defects"],
        json!([]),
        "the MIME structure parses cleanly"
    );
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert_eq!(header(&mail, "From"), ["msghub <hub@example.com>"]);
    assert_eq!(
        header(&mail, "To"),
        ["ops@example.com, Finance 团队 <fin@example.com>"]
    );
    assert_eq!(
        header(&mail, "Subject"),
        ["[Security] Login from <script>alert(1)</script>"]
    );
    assert_eq!(header(&mail, "Date"), ["Tue, 14 Nov 2023 22:13:20 +0000"]);
    assert_eq!(header(&mail, "Message-ID"), ["<dlv-0001@example.com>"]);
    assert_eq!(
        header(&mail, "List-Unsubscribe"),
        [
            "<https://hub.example.com/unsubscribe/sub-1>, <mailto:hub@example.com?subject=unsubscribe>"
        ]
    );
    assert_eq!(
        header(&mail, "List-Unsubscribe-Post"),
        ["List-Unsubscribe=One-Click"]
    );

    let (text_type, text) = part(&mail, 0);
    let (html_type, html) = part(&mail, 1);
    assert_eq!((text_type, html_type), ("text/plain", "text/html"));
    assert_eq!(mail["parts"].as_array().map(Vec::len), Some(2));
    assert!(
        text.starts_with("Login from <script>alert(1)</script>\nCritical · Security"),
        "{text}"
    );
    assert!(
        text.contains(
            "New sign-in & <img src=x onerror=alert(1)> from here (https://geo.example/?ip=1&x=2)"
        ),
        "{text}"
    );
    assert!(
        html.contains("<h1>Login from &lt;script&gt;alert(1)&lt;/script&gt;</h1>"),
        "{html}"
    );
    assert!(html.contains("<strong>New</strong> sign-in &amp; &lt;img src=x onerror=alert(1)&gt; from <a href=\"https://geo.example/?ip=1&amp;x=2\">here</a>"), "{html}");
    assert!(
        html.contains("<a href=\"https://console.example.com/ddos\">View details</a>"),
        "{html}"
    );
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "{html}"
    );
}

#[tokio::test]
async fn a_digest_in_chinese_is_one_mail_with_an_encoded_subject() {
    let relay = PythonSmtpRelay::start();
    let registry = registry_for(relay.url()).await;
    let config = json!({"to": ["ops@example.com"], "locale": "zh-CN"}).to_string();
    registry
        .send(
            "email",
            &config,
            &delivery(vec![message("磁盘已满"), message("登录异常")]),
        )
        .await
        .unwrap();
    let mail = relay.next_mail().unwrap();
    assert_eq!(header(&mail, "Subject"), ["[安全] 消息摘要：2 条消息"]);
    assert!(
        mail["raw"]
            .as_str()
            .unwrap_or_default()
            .contains("Subject: =?UTF-8?B?")
    );
    // Without an https unsubscribe URL, no one-click header (RFC 8058).
    assert_eq!(
        header(&mail, "List-Unsubscribe"),
        ["<mailto:hub@example.com?subject=unsubscribe>"]
    );
    assert!(header(&mail, "List-Unsubscribe-Post").is_empty());
    let (_, text) = part(&mail, 0);
    assert!(
        text.starts_with("消息摘要：2 条消息\n\n磁盘已满\n严重 · 安全"),
        "{text}"
    );
    assert!(text.contains("登录异常"), "{text}");
    let (_, html) = part(&mail, 1);
    assert!(
        html.contains("<h2>磁盘已满</h2>") && html.contains("<h2>登录异常</h2>"),
        "{html}"
    );
}

#[tokio::test]
async fn a_refused_recipient_fails_permanently_and_a_missing_relay_says_so() {
    let relay = SmtpServer::start().await;
    let registry = registry_for(relay.url()).await;
    let config = json!({"to": ["reject@example.com"]}).to_string();
    let (kind, text) = failure(
        registry
            .send("email", &config, &delivery(vec![message("x")]))
            .await,
    );
    assert_eq!(kind, FailureKind::Permanent, "{text}");

    let unconfigured = bundled(test_config()).await;
    let (kind, text) = failure(
        unconfigured
            .send(
                "email",
                &json!({"to": ["ops@example.com"]}).to_string(),
                &delivery(vec![message("x")]),
            )
            .await,
    );
    assert_eq!(kind, FailureKind::Permanent);
    assert!(text.contains("MSGHUB_SMTP_URL"), "{text}");
}

#[tokio::test]
async fn bad_addresses_are_refused_with_a_reason() {
    let registry = bundled(test_config()).await;
    for (config, says) in [
        (json!({"to": ["ops.example.com"]}), "ops.example.com"),
        (
            json!({"to": ["ops@example.com"], "unsubscribe_url": "http://u.example/1"}),
            "https://",
        ),
    ] {
        let e = registry
            .validate_config("email", &config.to_string())
            .await
            .unwrap_err();
        assert!(e.to_string().contains(says), "{config}: {e}");
    }
}
