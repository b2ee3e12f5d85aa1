//! A message's body reaches the console as HTML rendered and sanitized by the server:
//! hostile bodies render quickly into bounded, balanced HTML, with nothing that runs.

mod common;

use common::{OPERATOR, start};
use serde_json::json;

async fn body_html_of(body: &str) -> String {
    let s = start().await;
    let (acc, _) = s.account("acme").await;
    let r = s
        .post(
            &format!("/v1/accounts/{acc}/messages"),
            OPERATOR,
            json!({"category": "service", "title": "t", "body": body}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let one = s
        .get(&format!("/v1/accounts/{acc}/messages/{id}"), OPERATOR)
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    one.body["body_html"]
        .as_str()
        .expect("body_html in the answer for one message")
        .to_owned()
}

#[tokio::test]
async fn deeply_nested_quotes_render_into_balanced_bounded_html() {
    let body = format!("{} deep", ">".repeat(12_000));
    let html = body_html_of(&body).await;
    assert_eq!(
        html.matches("<blockquote>").count(),
        html.matches("</blockquote>").count()
    );
    assert!(html.contains("deep"));
    assert!(html.len() < 32 * body.len(), "{} bytes", html.len());
}

#[tokio::test]
async fn a_body_of_brackets_renders_as_text() {
    let body = "[".repeat(65_000);
    let html = body_html_of(&body).await;
    assert!(html.contains("[[[["));
    assert!(html.len() < 4 * body.len(), "{} bytes", html.len());
}

#[tokio::test]
async fn scripts_and_javascript_links_are_stripped() {
    let html = body_html_of(
        "Hi <script>alert(1)</script>\n\n[click](javascript:alert(1)) and <img src=x onerror=alert(1)>\n\n[ok](https://example.com)",
    )
    .await;
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("href=\"javascript:"), "{html}");
    assert!(
        html.contains(">click</a>") || html.contains("click"),
        "{html}"
    );
    assert!(html.contains("href=\"https://example.com\""), "{html}");
}
