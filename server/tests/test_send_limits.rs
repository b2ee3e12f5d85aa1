//! Channel tests over HTTP are limited per account: ten a minute, then 429 `rate_limited`
//! with a `Retry-After` in whole seconds; another account is not affected.

mod common;

use common::{OPERATOR, TestServer, receiver};
use msghub_server::ServerConfig;
use serde_json::json;

async fn channel(server: &TestServer, account: &str, url: &str) -> String {
    let r = server
        .post(
            &format!("/v1/accounts/{account}/channels"),
            OPERATOR,
            json!({"name": "hook", "plugin": "webhook",
                   "config": {"url": url, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_channel_test_in_a_minute_is_429_with_retry_after() {
    let server = common::start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        allow_networks: Some("127.0.0.0/8".into()),
        ..ServerConfig::ephemeral()
    })
    .await;
    let url = receiver().await;
    let (busy, _) = server.account("busy").await;
    let hook = channel(&server, &busy, &url).await;
    let test = format!("/v1/accounts/{busy}/channels/{hook}/test");
    for i in 0..msghub::TEST_SENDS_PER_MINUTE {
        let r = server.post(&test, OPERATOR, json!({})).await;
        assert_eq!(r.status, 200, "test {i}: {}", r.body);
        assert_eq!(r.body["status"], "delivered", "{}", r.body);
    }
    let r = server.post(&test, OPERATOR, json!({})).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.error().0, "rate_limited");
    let wait: u64 = r.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    assert!((1..=6).contains(&wait), "Retry-After: {wait}");

    // Another account tests its channel meanwhile.
    let (calm, _) = server.account("calm").await;
    let hook = channel(&server, &calm, &url).await;
    let r = server
        .post(
            &format!("/v1/accounts/{calm}/channels/{hook}/test"),
            OPERATOR,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
