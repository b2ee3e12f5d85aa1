//! Embedding msghub in an application: open an engine on a file, create an account and a
//! read-only user scoped to security notices, publish, list the user's unread security
//! messages, and mark them read.
//!
//! Run: `cargo run -p msghub --example embed` (add a path argument to keep the file).

use msghub::{
    Category, Engine, Filter, NewMessage, NewUser, PageRequest, Policy, Principal, ReadStatus,
    Selection, Severity,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("inbox.redb"));
    let engine = Engine::builder().path(&path).build().await?;

    // The platform (the operator) creates a tenant; the tenant's root creates a user.
    let operator = Principal::Operator;
    let acme = engine.create_account(&operator, "acme").await?;
    let account = acme.account.id;
    let root = engine.authenticate(&acme.root_token)?;
    let alice = engine
        .create_user(
            &root,
            account,
            NewUser {
                name: "alice".into(),
                policies: vec![Policy::NotificationsReadOnlyAccess],
                categories: Some(vec![Category::Security]),
            },
        )
        .await?;
    let alice_principal = engine.authenticate(&alice.token)?;

    // The platform publishes notices; a retry with the same dedupe key is harmless.
    for (category, severity, title) in [
        (
            Category::Security,
            Severity::Critical,
            "DDoS attack on 203.0.113.7",
        ),
        (
            Category::Security,
            Severity::Warning,
            "New sign-in from an unknown device",
        ),
        (
            Category::Service,
            Severity::Info,
            "Scheduled maintenance on Sunday",
        ),
    ] {
        let message = NewMessage::new(category, title)
            .severity(severity)
            .body("See the **console** for details.")
            .dedupe_key(title);
        engine.publish(&operator, account, message.clone()).await?;
        let retry = engine.publish(&operator, account, message).await?;
        assert!(!retry.created);
    }

    // Alice sees only security notices, and only her own read state.
    let unread_security = Filter::default()
        .categories([Category::Security])
        .status(ReadStatus::Unread);
    let page = engine
        .list_messages(
            &alice_principal,
            account,
            &unread_security,
            &PageRequest::default(),
        )
        .await?;
    println!("alice has {} unread security messages:", page.items.len());
    for m in &page.items {
        println!(
            "  [{}] {} ({})",
            m.severity,
            m.title,
            msghub::format_time(m.created_at)
        );
    }
    let marked = engine
        .mark_read(
            &alice_principal,
            account,
            Selection::Filter(unread_security),
        )
        .await?;
    let counts = engine.counts(&alice_principal, account)?;
    println!(
        "marked {marked} read; alice now has {} unread",
        counts.unread
    );
    let root_counts = engine.counts(&root, account)?;
    println!(
        "the root still has {} unread of {} (read state is per reader)",
        root_counts.unread, root_counts.total
    );
    engine.close().await;
    Ok(())
}
