//! One-click unsubscribe (RFC 8058) end to end: mail to a contact, received by a real SMTP
//! server (aiosmtpd), carries the host's `List-Unsubscribe` headers; the link's `GET`
//! changes nothing, its `POST` (no login) takes that contact out of that category's
//! subscription, and an altered token is refused (404: it names nothing). Without `MSGHUB_PUBLIC_URL`, mail offers
//! the mailto form only.

mod common;

use bytes::Bytes;
use http::Method;
use msghub::RetrySchedule;
use msghub_server::ServerConfig;
use msghub_tests::channels::PythonSmtpRelay;
use serde_json::{Value, json};

use common::{OPERATOR, TestServer};

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

async fn mail_server(relay: &PythonSmtpRelay, public_url: Option<&str>) -> TestServer {
    common::start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        smtp_url: Some(relay.url()),
        mail_from: Some("msghub <hub@example.com>".into()),
        public_url: public_url.map(str::to_owned),
        retry_schedule: RetrySchedule::parse("0s").unwrap(),
        ..ServerConfig::ephemeral()
    })
    .await
}

/// An account whose `security` subscription mails two contacts (the first in Chinese);
/// answers the account, its root token and the contacts' ids.
async fn subscribed(server: &TestServer) -> (String, String, [String; 2]) {
    let (account, root) = server.account("acme").await;
    let base = format!("/v1/accounts/{account}");
    let mut ids = Vec::new();
    for (name, email, locale) in [
        ("Li", "li@example.com", Some("zh-CN")),
        ("Ann", "ann@example.com", None),
    ] {
        let r = server
            .post(
                &format!("{base}/contacts"),
                &root,
                json!({"name": name, "email": email, "locale": locale}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let r = server
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/security"),
            &root,
            Some(json!({"contacts": ids})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: [String; 2] = ids.try_into().unwrap();
    (account, root, ids)
}

/// The two mails of one publish, by recipient.
fn two_mails(relay: &PythonSmtpRelay) -> (Value, Value) {
    let mut li = None;
    let mut ann = None;
    for _ in 0..2 {
        let mail = relay.next_mail().unwrap();
        match mail["rcpt_tos"][0].as_str() {
            Some("li@example.com") => li = Some(mail),
            Some("ann@example.com") => ann = Some(mail),
            other => panic!("mail to {other:?}"),
        }
    }
    (li.unwrap(), ann.unwrap())
}

async fn contacts_of(server: &TestServer, account: &str, root: &str) -> Value {
    let r = server
        .get(
            &format!("/v1/accounts/{account}/subscriptions/security"),
            root,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["contacts"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_unsubscribes_in_one_click_and_only_itself_only_from_that_category() {
    let relay = PythonSmtpRelay::start();
    let server = mail_server(&relay, Some("https://hub.example.com")).await;
    server.plugins_loaded().await;
    let (account, root, [li, ann]) = subscribed(&server).await;
    server.publish(&account, "security", "New sign-in").await;
    let (to_li, to_ann) = two_mails(&relay);

    // Each mail carries its own link, and the one-click Post header (an https URL).
    let link_of = |mail: &Value| -> (String, String) {
        let value = header(mail, "List-Unsubscribe");
        assert_eq!(value.len(), 1, "{mail}");
        let url = value[0]
            .strip_prefix('<')
            .and_then(|v| v.split_once('>'))
            .map(|(url, _)| url.to_owned())
            .unwrap();
        let token = url
            .strip_prefix("https://hub.example.com/unsubscribe/")
            .unwrap_or_else(|| panic!("{url}"))
            .to_owned();
        assert_eq!(
            value[0],
            format!("<{url}>, <mailto:hub@example.com?subject=unsubscribe%20{token}>")
        );
        assert_eq!(
            header(mail, "List-Unsubscribe-Post"),
            ["List-Unsubscribe=One-Click"]
        );
        (url, token)
    };
    let (_, li_token) = link_of(&to_li);
    let (_, ann_token) = link_of(&to_ann);
    assert_ne!(li_token, ann_token);
    // Each in the contact's language.
    assert!(
        header(&to_li, "Subject")[0].starts_with("[安全]"),
        "{to_li}"
    );
    assert!(
        header(&to_ann, "Subject")[0].starts_with("[Security]"),
        "{to_ann}"
    );

    // The link's page changes nothing (mail scanners follow links) and needs no login.
    let path = format!("/unsubscribe/{li_token}");
    let page = server.raw(Method::GET, &path, None, None).await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.raw).into_owned();
    assert!(
        html.contains("li@example.com") && html.contains("<form method=\"post\">"),
        "{html}"
    );
    assert_eq!(
        contacts_of(&server, &account, &root).await,
        json!([li, ann])
    );

    // A token altered in any way is refused, and changes nothing.
    let mut altered = li_token.clone().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for bad in [altered.as_str(), &li_token[..li_token.len() - 1], "forged"] {
        let r = server
            .raw(Method::POST, &format!("/unsubscribe/{bad}"), None, None)
            .await;
        assert_eq!(r.status, 404, "{bad}: {}", r.body);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not valid")),
            "{bad}: {}",
            r.body
        );
    }
    assert_eq!(
        contacts_of(&server, &account, &root).await,
        json!([li, ann])
    );

    // The one-click POST, as a mail client sends it.
    let body = Bytes::from_static(b"List-Unsubscribe=One-Click");
    let r = server
        .raw(Method::POST, &path, None, Some(body.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(contacts_of(&server, &account, &root).await, json!([ann]));
    // Again: nothing more changes.
    let r = server.raw(Method::POST, &path, None, Some(body)).await;
    assert_eq!(r.status, 200);
    assert_eq!(contacts_of(&server, &account, &root).await, json!([ann]));
    // The change history says who: the link, once (the repeat changed nothing).
    let history = server
        .get(
            &format!("/v1/accounts/{account}/history?kind=unsubscribe"),
            &root,
        )
        .await;
    assert_eq!(history.status, 200, "{}", history.body);
    let items = history.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", history.body);
    assert_eq!(items[0]["actor"]["kind"], "link");
    assert_eq!(items[0]["category"], "security");
    assert_eq!(items[0]["before"]["contacts"], json!([li, ann]));
    assert_eq!(items[0]["after"]["contacts"], json!([ann]));
    let page = server.raw(Method::GET, &path, None, None).await;
    assert!(
        !String::from_utf8_lossy(&page.raw).contains("<form"),
        "nothing left to confirm"
    );

    // The next message reaches the other contact only.
    server.publish(&account, "security", "Second sign-in").await;
    let mail = relay.next_mail().unwrap();
    assert_eq!(mail["rcpt_tos"], json!(["ann@example.com"]));

    // Once the contact is deleted, its link names nobody.
    let r = server
        .call(
            Method::DELETE,
            &format!("/v1/accounts/{account}/contacts/{li}"),
            &root,
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = server.raw(Method::GET, &path, None, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_url_mail_offers_the_mailto_form_only() {
    let relay = PythonSmtpRelay::start();
    let server = mail_server(&relay, None).await;
    server.plugins_loaded().await;
    let (account, _, _) = subscribed(&server).await;
    server.publish(&account, "security", "New sign-in").await;
    let (to_li, _) = two_mails(&relay);
    let value = header(&to_li, "List-Unsubscribe");
    assert_eq!(value.len(), 1, "{to_li}");
    assert!(
        value[0].starts_with("<mailto:hub@example.com?subject=unsubscribe%20")
            && !value[0].contains("https"),
        "{}",
        value[0]
    );
    assert!(
        header(&to_li, "List-Unsubscribe-Post").is_empty(),
        "{to_li}"
    );
    // The token of the mailto form works at the same address, POSTed by hand.
    let token = value[0]
        .trim_start_matches("<mailto:hub@example.com?subject=unsubscribe%20")
        .trim_end_matches('>');
    let r = server
        .raw(Method::POST, &format!("/unsubscribe/{token}"), None, None)
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    server.stop().await;
}
