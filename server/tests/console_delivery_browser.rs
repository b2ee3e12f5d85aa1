//! The web console, driven in a real browser, creates a channel, a contact and a
//! subscription, and the message published then reaches a webhook receiver on 127.0.0.1.
//! The browser must be installed (`scripts/install-browser`); without it this test fails
//! and says so.

mod console;

use std::io::{Read, Write};
use std::net::{TcpListener as StdListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;

use console::*;

/// A plain HTTP endpoint on 127.0.0.1 that answers 200 to every request and counts them:
/// the webhook channel's receiver.
fn webhook_receiver() -> (u16, Arc<AtomicUsize>) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                if read_request(&mut stream).is_some() {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
            });
        }
    });
    (port, received)
}

/// Reads one HTTP/1.1 request, head and body (by content-length).
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&request);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return Some(request);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_contact_and_subscription_are_created_in_the_console_and_deliver() {
    let (hook_port, received) = webhook_receiver();
    let browser = Browser::start().await;
    let server = Server::start(&[("MSGHUB_ALLOW_NETWORKS", "127.0.0.0/8")]).await;
    let seeded = seed(&server).await;
    let account = seeded.account.clone();
    let b = &browser;
    b.sign_in(&server, &seeded).await;

    // A webhook channel, from the plugin's config schema.
    b.click("#nav-channels").await;
    b.until(
        "the channels page",
        "return document.getElementById('channels-list')?.getAttribute('aria-busy') ?? null",
        json!("false"),
    )
    .await;
    b.click("#channel-new").await;
    b.type_into("#channel-name", "sre-webhook").await;
    b.choose("#channel-plugin", "webhook").await;
    b.type_into(
        "#channel-config-url",
        &format!("http://127.0.0.1:{hook_port}/hook"),
    )
    .await;
    let secret = b.css("#channel-config-secret").await;
    assert_eq!(
        secret.attr("type").await.unwrap().as_deref(),
        Some("password"),
        "secrets are password inputs"
    );
    secret
        .send_keys("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .await
        .unwrap();
    b.click("#channel-submit").await;
    b.until(
        "the new channel in the list",
        "return [...document.querySelectorAll('#channels-table tbody tr')].map(r => r.cells[0].textContent)",
        json!(["sre-webhook"]),
    )
    .await;
    let channels = server
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/accounts/{account}/channels"),
            &seeded.root_token,
            None,
        )
        .await;
    let channel = &channels["items"][0];
    assert_eq!(channel["plugin"], "webhook");
    assert_eq!(
        channel["config"]["secret"], "***",
        "secrets come back redacted: {channel}"
    );
    let channel_id = channel["id"].as_str().unwrap().to_owned();

    // The test button sends one real message through the plugin.
    b.click(&format!(
        "#channels-table tr[data-id='{channel_id}'] .channel-test"
    ))
    .await;
    b.until(
        "the test-send outcome",
        &format!("return document.querySelector(\".test-result[data-channel='{channel_id}']\").dataset.status ?? null"),
        json!("delivered"),
    )
    .await;
    assert_eq!(
        received.load(Ordering::SeqCst),
        1,
        "the test message reached the webhook"
    );

    // A contact.
    b.click("#nav-contacts").await;
    b.type_into("#contact-name", "Security team").await;
    b.type_into("#contact-email", "security@example.com").await;
    b.choose("#contact-locale", "zh-CN").await;
    b.click("#contact-submit").await;
    b.until(
        "the new contact in the list",
        "return [...document.querySelectorAll('#contacts-table tbody tr')].map(r => r.cells[1].textContent)",
        json!(["security@example.com"]),
    )
    .await;
    let contacts = server
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/accounts/{account}/contacts"),
            &seeded.root_token,
            None,
        )
        .await;
    let contact_id = contacts["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(contacts["items"][0]["locale"], "zh-CN", "{contacts}");

    // The security subscription: warnings and worse, to the channel and the contact.
    b.click("#nav-subscriptions").await;
    b.until(
        "the subscriptions page",
        "return document.getElementById('subscriptions')?.getAttribute('aria-busy') ?? null",
        json!("false"),
    )
    .await;
    b.click("#sub-security-edit").await;
    b.choose("#sub-security-min-severity", "warning").await;
    b.click(&format!(
        "input[name='sub-security-channels'][value='{channel_id}']"
    ))
    .await;
    b.click(&format!(
        "input[name='sub-security-contacts'][value='{contact_id}']"
    ))
    .await;
    // Quiet hours at their defaults (22:00 to 07:00), critical passing.
    b.click("#sub-security-quiet").await;
    b.click("#sub-security-save").await;
    b.until(
        "the saved subscription",
        "return document.querySelector(\"section[data-category='security']\")?.dataset.configured ?? null",
        json!("true"),
    )
    .await;
    let subscriptions = server
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/accounts/{account}/subscriptions"),
            &seeded.root_token,
            None,
        )
        .await;
    let list = subscriptions
        .get("items")
        .unwrap_or(&subscriptions)
        .as_array()
        .unwrap()
        .clone();
    let security = list
        .iter()
        .find(|s| s["category"] == "security")
        .expect("a security subscription");
    assert_eq!(security["min_severity"], "warning");
    assert_eq!(security["channels"], json!([channel_id]));
    assert_eq!(security["contacts"], json!([contact_id]));
    let quiet = &security["quiet_hours"];
    assert_eq!(
        (&quiet["start"], &quiet["end"], &quiet["pass"]),
        (&json!("22:00"), &json!("07:00"), &json!(["critical"])),
        "{security}"
    );

    // A new critical security notice reaches the webhook, and its detail lists the delivery.
    let message = server
        .expect(
            StatusCode::CREATED,
            Method::POST,
            &format!("/v1/accounts/{account}/messages"),
            ADMIN_TOKEN,
            Some(json!({"category": "security", "subtype": "ddos-attack", "severity": "critical", "title": "DDoS attack on 203.0.113.9"})),
        )
        .await;
    let message_id = message["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + PATIENCE;
    while received.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "the notice did not reach the webhook"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.client
        .goto(&format!("{}/#/messages/{message_id}", server.url))
        .await
        .unwrap();
    b.until(
        "the channel's delivery in the message detail",
        "return [...document.querySelectorAll('#deliveries tbody tr')].some(r => r.dataset.status === 'delivered')",
        json!(true),
    )
    .await;

    browser.client.close().await.unwrap();
}
