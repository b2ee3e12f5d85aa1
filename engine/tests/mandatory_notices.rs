//! Mandatory notices: the operator's rules override the subscriptions' subtype and
//! severity filters, keep a covered category's subscription from being deleted or emptied,
//! are named by the routing explanation, list the accounts without a target, and are
//! recorded in the operator's history.

mod common;

use common::host::ChatHost;
use common::{Hub, hub_with_host};
use msghub::{
    Category, ChangeAction, ChangeKind, ErrorCode, HistoryFilter, MandatoryRule, MissingTarget,
    NewChannel, NewMandatoryRule, NewMessage, PageRequest, Policy, Principal, Severity,
    SubscriptionSpec,
};

async fn breach_rule(hub: &Hub) -> MandatoryRule {
    hub.engine
        .create_mandatory_rule(
            &Principal::Operator,
            NewMandatoryRule {
                name: "breach-notices".into(),
                category: Category::Security,
                subtypes: Some(vec!["breach".into()]),
                min_severity: Some(Severity::Warning),
            },
        )
        .await
        .expect("rule")
}

/// Subscribes the account's security notices of subtype `login` at `critical` only to a
/// new channel.
async fn narrow_subscription(hub: &Hub) -> msghub::ChannelId {
    let channel = hub
        .engine
        .create_channel(
            &hub.root,
            hub.account,
            NewChannel {
                name: "alerts".into(),
                plugin: "chat".into(),
                config: serde_json::json!({"room": "alerts"}),
                locale: None,
            },
        )
        .await
        .unwrap()
        .id;
    hub.engine
        .put_subscription(
            &hub.root,
            hub.account,
            Category::Security,
            SubscriptionSpec {
                subtypes: Some(vec!["login".into()]),
                min_severity: Some(Severity::Critical),
                channels: vec![channel],
                ..SubscriptionSpec::default()
            },
        )
        .await
        .unwrap();
    channel
}

#[tokio::test]
async fn a_mandatory_notice_reaches_the_targets_whatever_the_subscriptions_filters() {
    let host = ChatHost::new();
    let hub = hub_with_host(host.clone()).await;
    narrow_subscription(&hub).await;
    breach_rule(&hub).await;
    for message in [
        NewMessage::new(Category::Security, "data breach")
            .subtype("breach")
            .severity(Severity::Warning),
        NewMessage::new(Category::Security, "minor breach")
            .subtype("breach")
            .severity(Severity::Info),
        NewMessage::new(Category::Security, "port scan")
            .subtype("scan")
            .severity(Severity::Critical),
        NewMessage::new(Category::Security, "new login")
            .subtype("login")
            .severity(Severity::Critical),
        NewMessage::new(Category::Product, "breach elsewhere")
            .subtype("breach")
            .severity(Severity::Critical),
    ] {
        hub.publish(message).await;
    }
    while hub.engine.deliver_due().await.unwrap() > 0 {}
    let mut sent = host.sent();
    sent.sort();
    assert_eq!(sent, ["data breach", "new login"]);
}

#[tokio::test]
async fn a_covered_subscription_cannot_be_deleted_or_left_without_a_target() {
    let hub = hub_with_host(ChatHost::new()).await;
    let channel = narrow_subscription(&hub).await;
    let rule = breach_rule(&hub).await;
    let err = hub
        .engine
        .delete_subscription(&hub.root, hub.account, Category::Security)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::MandatoryRule);
    assert!(
        matches!(&err, msghub::Error::MandatoryRule { rule: named, .. } if *named == rule.id),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("breach-notices") && text.contains(&rule.id.to_string()),
        "{text}"
    );
    let err = hub
        .engine
        .put_subscription(
            &hub.root,
            hub.account,
            Category::Security,
            SubscriptionSpec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::MandatoryRule);
    assert!(err.to_string().contains("breach-notices"), "{err}");
    // Narrowing the filters is allowed: the rule overrides them.
    hub.engine
        .put_subscription(
            &hub.root,
            hub.account,
            Category::Security,
            SubscriptionSpec {
                subtypes: Some(vec!["nothing".into()]),
                channels: vec![channel],
                ..SubscriptionSpec::default()
            },
        )
        .await
        .unwrap();
    // Other categories are not covered.
    hub.engine
        .put_subscription(
            &hub.root,
            hub.account,
            Category::Product,
            SubscriptionSpec::default(),
        )
        .await
        .unwrap();
    hub.engine
        .delete_subscription(&hub.root, hub.account, Category::Product)
        .await
        .unwrap();
    // Once the rule is gone, so is the refusal.
    hub.engine
        .delete_mandatory_rule(&Principal::Operator, rule.id)
        .await
        .unwrap();
    hub.engine
        .delete_subscription(&hub.root, hub.account, Category::Security)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_routing_explanation_names_the_rule() {
    let hub = hub_with_host(ChatHost::new()).await;
    let channel = narrow_subscription(&hub).await;
    let rule = breach_rule(&hub).await;
    let covered = NewMessage::new(Category::Security, "data breach")
        .subtype("breach")
        .severity(Severity::Warning);
    let explained = hub
        .engine
        .explain_routing(&hub.root, hub.account, covered.clone())
        .unwrap();
    assert!(explained.matched, "{explained:?}");
    assert_eq!(explained.mandatory_rule.as_ref(), Some(&rule));
    assert!(
        explained.reason.contains("breach-notices")
            && explained.reason.contains(&rule.id.to_string()),
        "{}",
        explained.reason
    );
    assert_eq!(explained.targets.len(), 1);
    assert_eq!(explained.targets[0].target_id, channel.to_string());

    let not_covered = NewMessage::new(Category::Security, "minor breach").subtype("breach");
    let explained = hub
        .engine
        .explain_routing(&hub.root, hub.account, not_covered)
        .unwrap();
    assert!(!explained.matched);
    assert!(explained.mandatory_rule.is_none());

    // Without a subscription the rule is still named, with the account's missing target.
    let other = hub
        .engine
        .create_account(&Principal::Operator, "beta")
        .await
        .unwrap();
    let explained = hub
        .engine
        .explain_routing(&Principal::Operator, other.account.id, covered)
        .unwrap();
    assert!(!explained.matched);
    assert_eq!(explained.mandatory_rule, Some(rule));
    assert!(
        explained.reason.contains("no target"),
        "{}",
        explained.reason
    );
}

#[tokio::test]
async fn the_operator_lists_the_accounts_without_a_target_for_a_rule() {
    let hub = hub_with_host(ChatHost::new()).await;
    narrow_subscription(&hub).await;
    let operator = Principal::Operator;
    let beta = hub.engine.create_account(&operator, "beta").await.unwrap();
    // Oldest account first: gamma comes after beta.
    hub.clock.advance(std::time::Duration::from_secs(1));
    let gamma = hub.engine.create_account(&operator, "gamma").await.unwrap();
    // Set before the rule existed: a subscription without targets.
    hub.engine
        .put_subscription(
            &operator,
            gamma.account.id,
            Category::Security,
            SubscriptionSpec::default(),
        )
        .await
        .unwrap();
    let rule = breach_rule(&hub).await;
    let missing = hub
        .engine
        .accounts_without_target(&operator, rule.id)
        .unwrap();
    let found: Vec<_> = missing
        .iter()
        .map(|a| (a.account_id, a.name.as_str(), a.reason))
        .collect();
    assert_eq!(
        found,
        [
            (beta.account.id, "beta", MissingTarget::NoSubscription),
            (gamma.account.id, "gamma", MissingTarget::NoTargets),
        ]
    );
    let err = hub
        .engine
        .accounts_without_target(&hub.root, rule.id)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
}

#[tokio::test]
async fn only_the_operator_manages_rules_and_they_go_into_the_operators_history() {
    let hub = hub_with_host(ChatHost::new()).await;
    let full = hub
        .user("full", &[Policy::NotificationsFullAccess], None)
        .await;
    for who in [&hub.root, &full] {
        let err = hub
            .engine
            .create_mandatory_rule(
                who,
                NewMandatoryRule {
                    name: "x".into(),
                    category: Category::Security,
                    subtypes: None,
                    min_severity: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Forbidden);
        assert!(hub.engine.mandatory_rules(who).is_err());
    }
    let rule = breach_rule(&hub).await;
    let err = hub
        .engine
        .create_mandatory_rule(
            &Principal::Operator,
            NewMandatoryRule {
                name: "breach-notices".into(),
                category: Category::Account,
                subtypes: None,
                min_severity: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    let err = hub
        .engine
        .create_mandatory_rule(
            &Principal::Operator,
            NewMandatoryRule {
                name: "empty".into(),
                category: Category::Account,
                subtypes: Some(Vec::new()),
                min_severity: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("subtypes"));
    assert_eq!(
        hub.engine.mandatory_rules(&Principal::Operator).unwrap(),
        std::slice::from_ref(&rule)
    );
    hub.engine
        .delete_mandatory_rule(&Principal::Operator, rule.id)
        .await
        .unwrap();
    assert!(
        hub.engine
            .mandatory_rules(&Principal::Operator)
            .unwrap()
            .is_empty()
    );

    let history = hub
        .engine
        .operator_history(
            &Principal::Operator,
            &HistoryFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    let entries: Vec<_> = history
        .items
        .iter()
        .map(|c| (c.kind, c.action, c.target.clone(), c.category))
        .collect();
    let target = rule.id.to_string();
    assert_eq!(
        entries,
        [
            (
                ChangeKind::MandatoryRule,
                ChangeAction::Deleted,
                target.clone(),
                Some(Category::Security)
            ),
            (
                ChangeKind::MandatoryRule,
                ChangeAction::Created,
                target,
                Some(Category::Security)
            ),
        ]
    );
    assert_eq!(
        history.items[1].after.as_ref().unwrap()["name"],
        "breach-notices"
    );
    assert_eq!(history.items[0].actor, msghub::Actor::Operator);
    let err = hub
        .engine
        .operator_history(
            &hub.root,
            &HistoryFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    // The account's own history holds only the account's changes (its user).
    let own = hub
        .engine
        .history(
            &hub.root,
            hub.account,
            &HistoryFilter::default().kinds([ChangeKind::MandatoryRule]),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(own.items.is_empty());
}

#[tokio::test]
async fn rules_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.redb");
    let open = || {
        msghub::Engine::builder()
            .path(&path)
            .background(false)
            .build()
    };
    let engine = open().await.unwrap();
    let rule = engine
        .create_mandatory_rule(
            &Principal::Operator,
            NewMandatoryRule {
                name: "outages".into(),
                category: Category::Service,
                subtypes: None,
                min_severity: Some(Severity::Critical),
            },
        )
        .await
        .unwrap();
    engine.close().await;
    drop(engine);
    let engine = open().await.unwrap();
    assert_eq!(
        engine.mandatory_rules(&Principal::Operator).unwrap(),
        [rule]
    );
}
