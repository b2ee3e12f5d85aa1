//! The `mail` import: a plugin's rendered message reaches the operator's SMTP relay, from
//! the operator's address, with CRLF line ends; without a relay, or when the relay refuses,
//! the delivery fails with a clear error. Mail is a grant: only plugins the operator lists,
//! only while delivering, only to the delivery's recipients and the addresses its channel's
//! configuration names, at most 100 of them.

use msghub::plugin::{
    FailureKind, PluginConfig, PluginRegistry, Recipient, SendError, ValidateError,
};
use msghub_tests::{SmtpServer, delivery, message, registry, test_config};

/// The test configuration with `relay`, mail granted to `plugins`.
fn mail_config(relay: &SmtpServer, plugins: &[&str]) -> PluginConfig {
    PluginConfig {
        smtp_url: Some(relay.url()),
        mail_from: "msghub <hub@example.com>".to_owned(),
        mail_plugins: plugins.iter().map(|p| (*p).to_owned()).collect(),
        ..test_config()
    }
}

/// The hostile plugin mails `rendered` to `recipients` (the delivery's) and `invent` more
/// addresses of its own; its report of the outcome.
async fn hostile_mail(
    registry: &PluginRegistry,
    recipients: &[&str],
    rendered: &str,
    invent: u32,
) -> String {
    let mut delivery = delivery(vec![message("Disk full")]);
    delivery.recipients = recipients
        .iter()
        .map(|a| Recipient {
            address: (*a).to_owned(),
            name: None,
        })
        .collect();
    let attack = serde_json::json!({"attack": "mail", "message": rendered, "invent": invent});
    registry
        .send("hostile", &attack.to_string(), &delivery)
        .await
        .expect("the plugin reports the outcome")
        .detail
        .unwrap_or_default()
}

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
    let registry = registry(mail_config(&relay, &["echo"]), &["echo"]).await;
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
    let config = PluginConfig {
        mail_plugins: vec!["echo".to_owned()],
        ..test_config()
    };
    let registry = registry(config, &["echo"]).await;
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
    let registry = registry(mail_config(&relay, &["echo"]), &["echo"]).await;
    match mail(&registry, "reject@example.com").await {
        Err(SendError::Failed { kind, message, .. }) => {
            assert_eq!(kind, FailureKind::Permanent);
            assert!(message.contains("no such mailbox"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(relay.mails().is_empty());
}

#[tokio::test]
async fn a_plugin_the_operator_did_not_list_cannot_mail() {
    let relay = SmtpServer::start().await;
    let registry = registry(mail_config(&relay, &["email"]), &["hostile"]).await;
    let outcome = hostile_mail(&registry, &["ops@example.com"], "Subject: x\r\n\r\nx", 0).await;
    assert!(
        outcome.contains("plugin 'hostile' may not send mail")
            && outcome.contains("MSGHUB_MAIL_PLUGINS (now: email)"),
        "{outcome}"
    );
    assert!(relay.mails().is_empty());
}

#[tokio::test]
async fn mail_cannot_be_sent_while_validating_a_configuration() {
    let relay = SmtpServer::start().await;
    let registry = registry(mail_config(&relay, &["hostile"]), &["hostile"]).await;
    let config = r#"{"attack": "mail-while-validating", "to": "ops@example.com"}"#;
    match registry.validate_config("hostile", config).await {
        Err(ValidateError::Invalid { message, .. }) => assert!(
            message.contains("only while delivering (send), not from validate-config"),
            "{message}"
        ),
        other => panic!("expected the plugin's verdict, got {other:?}"),
    }
    assert!(relay.mails().is_empty());
}

#[tokio::test]
async fn mail_goes_only_to_the_deliverys_recipients() {
    let relay = SmtpServer::start().await;
    let registry = registry(mail_config(&relay, &["hostile"]), &["hostile"]).await;
    let outcome = hostile_mail(
        &registry,
        &["ops@example.com"],
        "Subject: x\r\n\r\nx",
        20_000,
    )
    .await;
    assert!(
        outcome.contains("'victim0@evil.test' is neither a recipient of this delivery"),
        "{outcome}"
    );
    assert!(relay.mails().is_empty(), "no RCPT TO reached the relay");
}

#[tokio::test]
async fn one_delivery_mails_at_most_a_hundred_recipients() {
    let relay = SmtpServer::start().await;
    let registry = registry(mail_config(&relay, &["hostile"]), &["hostile"]).await;
    let many: Vec<String> = (0..150).map(|i| format!("member{i}@example.com")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let outcome = hostile_mail(&registry, &many, "Subject: x\r\n\r\nx", 0).await;
    assert!(outcome.contains("at most 100 recipients"), "{outcome}");
    assert!(relay.mails().is_empty());
}

#[tokio::test]
async fn the_host_sets_from_and_a_bare_dot_line_cannot_end_the_message() {
    let relay = SmtpServer::start().await;
    let registry = registry(mail_config(&relay, &["hostile"]), &["hostile"]).await;
    let forged = "From: ceo@bank.test\nTo: ops@example.com\nSubject: hi\n\nfirst\n.\nRCPT TO:<victim@evil.test>\n";
    let outcome = hostile_mail(&registry, &["ops@example.com"], forged, 0).await;
    assert_eq!(outcome, "mailed: 250 queued as test-1");
    let mails = relay.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].from, "hub@example.com");
    assert_eq!(mails[0].to, ["ops@example.com"]);
    assert_eq!(
        mails[0].data.trim_end_matches("\r\n"),
        "From: msghub <hub@example.com>\r\nTo: ops@example.com\r\nSubject: hi\r\n\r\n\
         first\r\n.\r\nRCPT TO:<victim@evil.test>"
    );
}
