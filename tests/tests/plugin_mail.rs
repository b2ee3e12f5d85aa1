//! The `mail` import: a plugin's rendered message reaches the operator's SMTP relay as it
//! is; without a relay, or when the relay refuses, the delivery fails with a clear error.

use msghub::plugin::{FailureKind, PluginConfig, PluginRegistry, SendError};
use msghub_tests::{SmtpServer, delivery, message, registry, test_config};

async fn mail(registry: &PluginRegistry, to: &str) -> Result<Option<String>, SendError> {
    let config = format!(r#"{{"mail_to": ["{to}"]}}"#);
    registry
        .send("echo", &config, &delivery(vec![message("Disk full")]))
        .await
        .map(|r| r.detail)
}

#[tokio::test]
async fn a_rendered_message_reaches_the_relay_as_it_is() {
    let relay = SmtpServer::start().await;
    let config = PluginConfig {
        smtp_url: Some(relay.url()),
        mail_from: "msghub <hub@example.com>".to_owned(),
        ..test_config()
    };
    let registry = registry(config, &["echo"]).await;
    let answer = mail(&registry, "ops@example.com").await.unwrap();
    assert_eq!(answer.as_deref(), Some("250 queued as test-1"));
    let mails = relay.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].from, "hub@example.com");
    assert_eq!(mails[0].to, ["ops@example.com"]);
    // lettre always ends DATA with CRLF "." CRLF, so a message that ends with CRLF arrives
    // with one empty line more; the message itself is unchanged.
    assert_eq!(
        mails[0].data.trim_end_matches("\r\n"),
        "From: msghub <hub@example.com>\r\nTo: ops@example.com\r\nSubject: Disk full\r\n\
         Message-ID: <dlv-0001@msghub.test>\r\n\r\nTraffic is **10x** normal."
    );
}

#[tokio::test]
async fn without_a_relay_mail_fails_permanently_saying_so() {
    let registry = registry(test_config(), &["echo"]).await;
    match mail(&registry, "ops@example.com").await {
        Err(SendError::Failed { kind, message, .. }) => {
            assert_eq!(kind, FailureKind::Permanent);
            assert!(message.contains("MSGHUB_SMTP_URL"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_recipient_the_relay_refuses_fails_permanently() {
    let relay = SmtpServer::start().await;
    let config = PluginConfig {
        smtp_url: Some(relay.url()),
        ..test_config()
    };
    let registry = registry(config, &["echo"]).await;
    match mail(&registry, "reject@example.com").await {
        Err(SendError::Failed { kind, message, .. }) => {
            assert_eq!(kind, FailureKind::Permanent);
            assert!(message.contains("no such mailbox"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(relay.mails().is_empty());
}
