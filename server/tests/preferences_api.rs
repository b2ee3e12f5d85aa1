//! Recipients' preferences over HTTP: the language of each contact, channel and account,
//! and the quiet hours of a subscription, with the routing explanation that says when a
//! held message goes out.

mod common;

use http::Method;
use serde_json::json;

use common::sink::{Sink, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_channels_and_accounts_carry_a_checked_locale() {
    let sink = Sink::start().await;
    let server = server("0s").await;
    let (account, root) = server.account("acme").await;
    let base = format!("/v1/accounts/{account}");

    let r = server
        .post(
            &format!("{base}/contacts"),
            &root,
            json!({"name": "Li", "email": "li@example.com", "locale": "zh-CN"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["locale"], "zh-CN");
    let contact = r.body["id"].as_str().unwrap().to_owned();
    let shown = server
        .get(&format!("{base}/contacts/{contact}"), &root)
        .await;
    assert_eq!(shown.body["locale"], "zh-CN");
    let r = server
        .post(
            &format!("{base}/contacts"),
            &root,
            json!({"name": "Ann", "email": "ann@example.com"}),
        )
        .await;
    assert_eq!(r.body["locale"], json!(null), "{}", r.body);

    let r = server
        .post(
            &format!("{base}/channels"),
            &root,
            json!({"name": "hook", "plugin": "webhook", "locale": "zh-CN",
                   "config": {"url": sink.url(), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["locale"], "zh-CN");

    // Only the supported locales, with an error that names the field and the choices.
    for (path, body) in [
        (
            format!("{base}/contacts"),
            json!({"name": "X", "email": "x@example.com", "locale": "fr"}),
        ),
        (
            format!("{base}/channels"),
            json!({"name": "x", "plugin": "webhook", "locale": "zh",
                   "config": {"url": sink.url(), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
        ),
    ] {
        let r = server.post(&path, &root, body).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.error().1.as_deref(), Some("locale"));
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("use one of en, zh-CN"), "{message}");
    }

    let path = base.clone();
    let r = server
        .call(
            Method::PATCH,
            &path,
            &root,
            Some(json!({"locale": "en-US"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().1.as_deref(), Some("locale"));
    assert_eq!(server.get(&path, &root).await.body["locale"], json!(null));
    let r = server
        .call(
            Method::PATCH,
            &path,
            &root,
            Some(json!({"locale": "zh-CN", "retention_days": 30})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["locale"], &r.body["retention_days"]),
        (&json!("zh-CN"), &json!(30))
    );
    assert_eq!(server.get(&path, &root).await.body["locale"], "zh-CN");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_are_set_shown_and_explained() {
    let sink = Sink::start().await;
    let server = server("0s").await;
    let (account, root) = server.account("acme").await;
    let base = format!("/v1/accounts/{account}");
    let channel = server.webhook_channel(&account, &root, &sink.url()).await;
    let path = format!("{base}/subscriptions/security");

    let r = server
        .call(
            Method::PUT,
            &path,
            &root,
            Some(json!({"channels": [channel],
                        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Asia/Shanghai"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["quiet_hours"],
        json!({"start": "22:00", "end": "07:00", "timezone": "Asia/Shanghai", "pass": ["critical"]})
    );

    // A window from an hour ago to an hour from now (across midnight or not), which lets
    // no severity pass: the explanation says until when a critical message waits.
    let now = time::OffsetDateTime::now_utc();
    let start = format!("{:02}:{:02}", (now.hour() + 23) % 24, now.minute());
    let end = format!("{:02}:{:02}", (now.hour() + 1) % 24, now.minute());
    let r = server
        .call(
            Method::PUT,
            &path,
            &root,
            Some(json!({"channels": [channel],
                        "quiet_hours": {"start": start, "end": end, "timezone": "UTC", "pass": []}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server
        .post(
            &format!("{base}/routing"),
            &root,
            json!({"category": "security", "severity": "critical", "title": "t"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let held = r.body["targets"][0]["held_until"]
        .as_str()
        .unwrap_or_default();
    let held = msghub::parse_time(held, "held_until").unwrap();
    let wait = held - now;
    assert!(
        wait > time::Duration::minutes(58) && wait <= time::Duration::minutes(60),
        "{}",
        r.body
    );
    assert!(
        r.body["reason"].as_str().unwrap().contains("quiet hours"),
        "{}",
        r.body
    );

    for (quiet, field) in [
        (
            json!({"start": "22:00", "end": "22:00", "timezone": "UTC"}),
            "quiet_hours.end",
        ),
        (
            json!({"start": "9:00", "end": "22:00", "timezone": "UTC"}),
            "quiet_hours.start",
        ),
        (
            json!({"start": "22:00", "end": "07:00", "timezone": "Nowhere/City"}),
            "quiet_hours.timezone",
        ),
        (
            json!({"start": "22:00", "end": "07:00", "timezone": "UTC", "pass": ["urgent"]}),
            "quiet_hours.pass",
        ),
        (
            json!({"start": "22:00", "end": "07:00", "timezone": "UTC", "mute": true}),
            "quiet_hours.mute",
        ),
    ] {
        let r = server
            .call(
                Method::PUT,
                &path,
                &root,
                Some(json!({"channels": [channel], "quiet_hours": quiet})),
            )
            .await;
        assert_eq!(r.status, 400, "{quiet}: {}", r.body);
        assert_eq!(r.error().1.as_deref(), Some(field), "{quiet}: {}", r.body);
    }
    server.stop().await;
}
