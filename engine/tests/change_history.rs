//! The change history: every change to users, policies, channels, contacts, subscriptions
//! and retention is one entry with who, when, before and after (secrets redacted); scoped
//! users see their categories' entries only; pages never repeat or skip; entries go with
//! the account's retention.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::host::ChatHost;
use common::{Hub, hub, hub_with_host};
use msghub::{
    Actor, Category, Change, ChangeAction, ChangeKind, ErrorCode, HistoryFilter, NewChannel,
    NewContact, PageRequest, Policy, Principal, SubscriptionSpec, UserUpdate,
};

const SECRET: &str = "s3cr3t-bot-token";

/// Every entry `who` sees under `filter`, newest first, following cursors in pages of
/// `limit`.
async fn all(hub: &Hub, who: &Principal, filter: &HistoryFilter, limit: usize) -> Vec<Change> {
    let mut out = Vec::new();
    let mut request = PageRequest::first(limit);
    loop {
        let page = hub
            .engine
            .history(who, hub.account, filter, &request)
            .await
            .expect("history page");
        assert!(page.items.len() <= limit);
        out.extend(page.items);
        match page.next_cursor {
            Some(cursor) => request = PageRequest::after(limit, cursor),
            None => return out,
        }
    }
}

async fn chat_channel(hub: &Hub, who: &Principal, name: &str) -> msghub::Channel {
    hub.engine
        .create_channel(
            who,
            hub.account,
            NewChannel {
                name: name.into(),
                plugin: "chat".into(),
                config: serde_json::json!({"room": name, "token": SECRET}),
                locale: None,
            },
        )
        .await
        .expect("channel")
}

fn kinds(changes: &[Change]) -> Vec<(ChangeKind, ChangeAction)> {
    changes.iter().map(|c| (c.kind, c.action)).collect()
}

#[tokio::test]
async fn every_kind_of_change_is_recorded_with_who_before_and_after_and_no_secret() {
    let hub = hub_with_host(ChatHost::new()).await;
    let root = hub.root.clone();
    let ops = hub
        .engine
        .create_user(
            &root,
            hub.account,
            msghub::NewUser {
                name: "ops".into(),
                policies: vec![Policy::NotificationsReadOnlyAccess],
                categories: None,
            },
        )
        .await
        .unwrap();
    hub.engine
        .update_user(
            &root,
            hub.account,
            ops.user.id,
            UserUpdate {
                policies: Some(vec![Policy::NotificationsFullAccess]),
                categories: None,
            },
        )
        .await
        .unwrap();
    let ops_principal = hub.engine.authenticate(&ops.token).unwrap();
    let channel = chat_channel(&hub, &ops_principal, "alerts").await;
    let contact = hub
        .engine
        .create_contact(
            &root,
            hub.account,
            NewContact {
                name: "Team".into(),
                email: "team@example.com".into(),
                locale: None,
            },
        )
        .await
        .unwrap();
    let spec = |min| SubscriptionSpec {
        channels: vec![channel.id],
        min_severity: Some(min),
        ..SubscriptionSpec::default()
    };
    hub.engine
        .put_subscription(
            &ops_principal,
            hub.account,
            Category::Security,
            spec(msghub::Severity::Info),
        )
        .await
        .unwrap();
    hub.engine
        .put_subscription(
            &root,
            hub.account,
            Category::Security,
            spec(msghub::Severity::Critical),
        )
        .await
        .unwrap();
    hub.engine
        .delete_subscription(&root, hub.account, Category::Security)
        .await
        .unwrap();
    hub.engine
        .delete_channel(&root, hub.account, channel.id)
        .await
        .unwrap();
    hub.engine
        .delete_contact(&root, hub.account, contact.id)
        .await
        .unwrap();
    hub.engine
        .set_retention(&Principal::Operator, hub.account, 30)
        .await
        .unwrap();
    hub.engine
        .delete_user(&root, hub.account, ops.user.id)
        .await
        .unwrap();

    let history = all(&hub, &root, &HistoryFilter::default(), 50).await;
    let (created, changed, deleted) = (
        ChangeAction::Created,
        ChangeAction::Changed,
        ChangeAction::Deleted,
    );
    assert_eq!(
        kinds(&history),
        [
            (ChangeKind::User, deleted),
            (ChangeKind::Retention, changed),
            (ChangeKind::Contact, deleted),
            (ChangeKind::Channel, deleted),
            (ChangeKind::Subscription, deleted),
            (ChangeKind::Subscription, changed),
            (ChangeKind::Subscription, created),
            (ChangeKind::Contact, created),
            (ChangeKind::Channel, created),
            (ChangeKind::Policy, changed),
            (ChangeKind::User, created),
        ]
    );
    let by_ops = Actor::User {
        user_id: ops.user.id,
    };
    let [
        user_gone,
        retention,
        contact_gone,
        channel_gone,
        sub_gone,
        sub_changed,
        sub_created,
        contact_made,
        channel_made,
        policy,
        user_made,
    ] = &history[..]
    else {
        panic!("eleven entries: {history:?}");
    };
    assert_eq!(user_made.actor, Actor::Root);
    assert_eq!(user_made.target, ops.user.id.to_string());
    assert!(user_made.before.is_none());
    assert_eq!(user_made.after.as_ref().unwrap()["name"], "ops");
    assert_eq!(
        policy.before.as_ref().unwrap()["policies"],
        serde_json::json!(["NotificationsReadOnlyAccess"])
    );
    assert_eq!(
        policy.after.as_ref().unwrap()["policies"],
        serde_json::json!(["NotificationsFullAccess"])
    );
    assert_eq!(channel_made.actor, by_ops);
    assert_eq!(channel_made.target, channel.id.to_string());
    let shown = &channel_made.after.as_ref().unwrap()["config"];
    assert_eq!(shown["room"], "alerts");
    assert_eq!(shown["token"], msghub::delivery::REDACTED);
    assert_eq!(channel_gone.before.as_ref().unwrap()["config"], *shown);
    assert!(channel_gone.after.is_none());
    assert_eq!(
        contact_made.after.as_ref().unwrap()["email"],
        "team@example.com"
    );
    assert_eq!(contact_gone.before, contact_made.after);
    assert_eq!(sub_created.actor, by_ops);
    assert_eq!(sub_created.category, Some(Category::Security));
    assert_eq!(sub_created.target, "security");
    assert!(sub_created.before.is_none());
    assert_eq!(sub_changed.actor, Actor::Root);
    assert_eq!(sub_changed.before.as_ref().unwrap()["min_severity"], "info");
    assert_eq!(
        sub_changed.after.as_ref().unwrap()["min_severity"],
        "critical"
    );
    assert_eq!(sub_gone.before, sub_changed.after);
    assert!(sub_gone.after.is_none());
    assert_eq!(retention.actor, Actor::Operator);
    assert_eq!(retention.before.as_ref().unwrap()["retention_days"], 180);
    assert_eq!(retention.after.as_ref().unwrap()["retention_days"], 30);
    assert_eq!(user_gone.before.as_ref().unwrap()["name"], "ops");
    assert!(
        history.iter().all(|c| c.at == hub.engine.now()),
        "the clock did not move"
    );

    let text = serde_json::to_string(&history).unwrap();
    assert!(
        !text.contains(SECRET),
        "a secret reached the history: {text}"
    );
}

#[tokio::test]
async fn a_refused_change_records_nothing() {
    let hub = hub_with_host(ChatHost::new()).await;
    let channel = chat_channel(&hub, &hub.root, "alerts").await;
    hub.engine
        .put_subscription(
            &hub.root,
            hub.account,
            Category::Service,
            SubscriptionSpec {
                channels: vec![channel.id],
                ..SubscriptionSpec::default()
            },
        )
        .await
        .unwrap();
    let before = all(&hub, &hub.root, &HistoryFilter::default(), 50).await;
    let err = hub
        .engine
        .delete_channel(&hub.root, hub.account, channel.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    let err = hub
        .engine
        .delete_subscription(&hub.root, hub.account, Category::Product)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    // Changes that change nothing are not changes either.
    hub.engine
        .set_retention(&hub.root, hub.account, 180)
        .await
        .unwrap();
    assert_eq!(
        all(&hub, &hub.root, &HistoryFilter::default(), 50).await,
        before
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_records_nothing() {
    let hub = hub().await;
    let user = hub
        .engine
        .create_user(
            &hub.root,
            hub.account,
            msghub::NewUser {
                name: "ops".into(),
                policies: vec![Policy::NotificationsFullAccess],
                categories: None,
            },
        )
        .await
        .unwrap();
    let update = UserUpdate {
        policies: Some(vec![Policy::NotificationsFullAccess]),
        categories: Some(None),
    };
    hub.engine
        .update_user(&hub.root, hub.account, user.user.id, update)
        .await
        .unwrap();
    let history = all(&hub, &hub.root, &HistoryFilter::default(), 50).await;
    assert_eq!(kinds(&history), [(ChangeKind::User, ChangeAction::Created)]);
}

#[tokio::test]
async fn a_scoped_user_sees_only_the_entries_of_its_categories() {
    let hub = hub().await;
    let contact = hub
        .engine
        .create_contact(
            &hub.root,
            hub.account,
            NewContact {
                name: "Team".into(),
                email: "team@example.com".into(),
                locale: None,
            },
        )
        .await
        .unwrap();
    for category in [Category::Security, Category::Product, Category::Service] {
        hub.engine
            .put_subscription(
                &hub.root,
                hub.account,
                category,
                SubscriptionSpec {
                    contacts: vec![contact.id],
                    ..SubscriptionSpec::default()
                },
            )
            .await
            .unwrap();
    }
    let scoped = hub
        .user(
            "sec",
            &[Policy::NotificationsFullAccess],
            Some(&[Category::Security, Category::Service]),
        )
        .await;
    let seen = all(&hub, &scoped, &HistoryFilter::default(), 50).await;
    let categories: Vec<Option<Category>> = seen.iter().map(|c| c.category).collect();
    assert_eq!(
        categories,
        [Some(Category::Service), Some(Category::Security)],
        "{seen:?}"
    );
    // The root sees the contact and the user too.
    let everything = all(&hub, &hub.root, &HistoryFilter::default(), 50).await;
    assert_eq!(everything.len(), 5, "{everything:?}");

    let reader = hub
        .user("reader", &[Policy::NotificationsReadOnlyAccess], None)
        .await;
    let err = hub
        .engine
        .history(
            &reader,
            hub.account,
            &HistoryFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
}

#[tokio::test]
async fn pages_never_repeat_or_skip_while_entries_are_added() {
    let hub = hub().await;
    let contact = hub
        .engine
        .create_contact(
            &hub.root,
            hub.account,
            NewContact {
                name: "Team".into(),
                email: "team@example.com".into(),
                locale: None,
            },
        )
        .await
        .unwrap();
    let put = |severity| {
        hub.engine.put_subscription(
            &hub.root,
            hub.account,
            Category::Security,
            SubscriptionSpec {
                contacts: vec![contact.id],
                min_severity: Some(severity),
                ..SubscriptionSpec::default()
            },
        )
    };
    for _ in 0..23 {
        put(msghub::Severity::Warning).await.unwrap();
    }
    let existing = all(&hub, &hub.root, &HistoryFilter::default(), 200).await;
    assert_eq!(existing.len(), 24);

    let mut seen = Vec::new();
    let mut request = PageRequest::first(5);
    loop {
        let page = hub
            .engine
            .history(&hub.root, hub.account, &HistoryFilter::default(), &request)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|c| c.id));
        // Entries made while paging are newer than every page: never in a later one.
        put(msghub::Severity::Critical).await.unwrap();
        match page.next_cursor {
            Some(cursor) => request = PageRequest::after(5, cursor),
            None => break,
        }
    }
    let expected: Vec<_> = existing.iter().map(|c| c.id).collect();
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    // Filters by kind and time; a cursor from another filter is refused.
    let contacts = HistoryFilter::default().kinds([ChangeKind::Contact]);
    assert_eq!(all(&hub, &hub.root, &contacts, 2).await.len(), 1);
    let whole = all(&hub, &hub.root, &HistoryFilter::default(), 200).await;
    let two_kinds = HistoryFilter::default().kinds([ChangeKind::Subscription, ChangeKind::Contact]);
    let merged: Vec<_> = all(&hub, &hub.root, &two_kinds, 3).await;
    assert_eq!(
        merged, whole,
        "every entry is one of the two kinds, newest first"
    );
    let first = hub
        .engine
        .history(
            &hub.root,
            hub.account,
            &HistoryFilter::default(),
            &PageRequest::first(1),
        )
        .await
        .unwrap();
    let err = hub
        .engine
        .history(
            &hub.root,
            hub.account,
            &contacts,
            &PageRequest::after(1, first.next_cursor.unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("cursor"));

    let before_now = hub.engine.now();
    hub.clock.advance(Duration::from_secs(60));
    put(msghub::Severity::Info).await.unwrap();
    let since = HistoryFilter::default().since(before_now + Duration::from_secs(1));
    let recent = all(&hub, &hub.root, &since, 50).await;
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].after.as_ref().unwrap()["min_severity"], "info");
    let until = HistoryFilter::default().until(before_now + Duration::from_secs(1));
    assert_eq!(all(&hub, &hub.root, &until, 50).await.len(), 24 + 5);
    let backwards = HistoryFilter::default()
        .since(before_now)
        .until(before_now - Duration::from_secs(1));
    let err = hub
        .engine
        .history(&hub.root, hub.account, &backwards, &PageRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("until"));
}

#[tokio::test]
async fn entries_past_the_accounts_retention_are_purged() {
    let hub = hub().await;
    hub.engine
        .set_retention(&hub.root, hub.account, 30)
        .await
        .unwrap();
    hub.clock.advance(Duration::from_secs(20 * 86_400));
    let contact = hub
        .engine
        .create_contact(
            &hub.root,
            hub.account,
            NewContact {
                name: "Team".into(),
                email: "team@example.com".into(),
                locale: None,
            },
        )
        .await
        .unwrap();
    hub.clock.advance(Duration::from_secs(11 * 86_400));
    let work = hub.engine.run_scheduled().await.unwrap();
    assert_eq!(work.history_expired, 1);
    let left = all(&hub, &hub.root, &HistoryFilter::default(), 50).await;
    assert_eq!(kinds(&left), [(ChangeKind::Contact, ChangeAction::Created)]);
    assert_eq!(left[0].target, contact.id.to_string());
}
