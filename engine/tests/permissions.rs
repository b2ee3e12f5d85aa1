//! Who may do what: policies, category scopes, other accounts, tokens.

mod common;

use common::{OPERATOR_TOKEN, hub};
use msghub::{
    Category, Filter, NewContact, NewMessage, NewUser, PageRequest, Policy, Principal, ReadStatus,
    Selection, Severity, SubscriptionSpec, UserUpdate,
};

const SCOPE: &[Category] = &[Category::Account, Category::Service];

#[tokio::test]
async fn tokens_identify_operator_root_and_users() {
    let h = hub().await;
    assert_eq!(
        h.engine.authenticate(OPERATOR_TOKEN).unwrap(),
        Principal::Operator
    );
    assert_eq!(h.engine.authenticate(&h.root_token).unwrap(), h.root);
    for bad in ["", "nope", &format!("{}x", h.root_token)] {
        assert_eq!(
            h.engine.authenticate(bad).unwrap_err().code(),
            "unauthenticated"
        );
    }
}

#[tokio::test]
async fn only_the_operator_publishes_and_creates_accounts() {
    let h = hub().await;
    let full = h
        .user("full", &[Policy::NotificationsFullAccess], None)
        .await;
    for who in [&h.root, &full] {
        let err = h
            .engine
            .publish(who, h.account, NewMessage::new(Category::Account, "x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        assert_eq!(
            h.engine
                .create_account(who, "other")
                .await
                .unwrap_err()
                .code(),
            "forbidden"
        );
    }
}

#[tokio::test]
async fn a_user_without_policy_can_do_nothing_until_granted() {
    let h = hub().await;
    h.publish_n(Category::Account, Severity::Info, 2).await;
    let created = h
        .engine
        .create_user(
            &h.root,
            h.account,
            NewUser {
                name: "bob".into(),
                ..NewUser::default()
            },
        )
        .await
        .unwrap();
    let bob = h.engine.authenticate(&created.token).unwrap();
    let list = h
        .engine
        .list_messages(&bob, h.account, &Filter::default(), &PageRequest::default())
        .await;
    assert_eq!(list.unwrap_err().code(), "forbidden");
    assert_eq!(
        h.engine.counts(&bob, h.account).unwrap_err().code(),
        "forbidden"
    );

    h.engine
        .update_user(
            &h.root,
            h.account,
            created.user.id,
            UserUpdate {
                policies: Some(vec![Policy::NotificationsReadOnlyAccess]),
                categories: None,
            },
        )
        .await
        .unwrap();
    // The grant applies to the next authentication of the same token.
    let bob = h.engine.authenticate(&created.token).unwrap();
    assert_eq!(h.engine.counts(&bob, h.account).unwrap().total, 2);
}

#[tokio::test]
async fn read_only_users_mark_read_but_cannot_delete() {
    let h = hub().await;
    let msgs = h.publish_n(Category::Product, Severity::Info, 3).await;
    let ro = h
        .user("ro", &[Policy::NotificationsReadOnlyAccess], None)
        .await;
    let marked = h
        .engine
        .mark_read(&ro, h.account, Selection::Ids(vec![msgs[0].id]))
        .await
        .unwrap();
    assert_eq!(marked, 1);
    let err = h
        .engine
        .delete_messages(&ro, h.account, Selection::Filter(Filter::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    assert!(err.to_string().contains("NotificationsFullAccess"), "{err}");
    assert_eq!(h.engine.counts(&h.root, h.account).unwrap().total, 3);
}

#[tokio::test]
async fn a_scoped_user_sees_and_acts_only_inside_its_categories() {
    let h = hub().await;
    let mut by_cat = Vec::new();
    for c in Category::ALL {
        by_cat.push(h.publish_n(c, Severity::Warning, 2).await);
    }
    let scoped = h
        .user("scoped", &[Policy::NotificationsFullAccess], Some(SCOPE))
        .await;

    // list
    let visible = h.all(&scoped, &Filter::default()).await;
    assert_eq!(visible.len(), 4);
    assert!(visible.iter().all(|m| SCOPE.contains(&m.category)));
    let asked_outside = h
        .all(&scoped, &Filter::default().categories([Category::Security]))
        .await;
    assert!(asked_outside.is_empty());

    // counts: all six present, zeros outside
    let counts = h.engine.counts(&scoped, h.account).unwrap();
    assert_eq!((counts.total, counts.unread), (4, 4));
    assert_eq!(counts.by_category.len(), 6);
    assert_eq!(counts.by_category[&Category::Security].total, 0);
    assert_eq!(counts.by_category[&Category::Service].total, 2);

    // get one: outside is not found
    let security = by_cat[Category::Security.index()][0].id;
    let err = h
        .engine
        .message(&scoped, h.account, security)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let inside = by_cat[Category::Account.index()][0].id;
    assert_eq!(
        h.engine
            .message(&scoped, h.account, inside)
            .await
            .unwrap()
            .id,
        inside
    );

    // bulk by ids: outside ids are skipped, not counted
    let marked = h
        .engine
        .mark_read(&scoped, h.account, Selection::Ids(vec![security, inside]))
        .await
        .unwrap();
    assert_eq!(marked, 1);

    // delete one outside: not found, and still there for the root
    let err = h
        .engine
        .delete_message(&scoped, h.account, security)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");

    // delete with an empty filter deletes only inside the scope
    let deleted = h
        .engine
        .delete_messages(&scoped, h.account, Selection::Filter(Filter::default()))
        .await
        .unwrap();
    assert_eq!(deleted, 4);
    let left = h.engine.counts(&h.root, h.account).unwrap();
    assert_eq!(left.total, 8);
    assert_eq!(left.by_category[&Category::Account].total, 0);
    assert_eq!(left.by_category[&Category::Security].total, 2);
}

#[tokio::test]
async fn a_delete_conflict_names_no_category_outside_the_callers_scope() {
    let h = hub().await;
    let contact = h
        .engine
        .create_contact(
            &h.root,
            h.account,
            NewContact {
                name: "Ops".into(),
                email: "ops@example.com".into(),
                locale: None,
            },
        )
        .await
        .unwrap();
    for category in [Category::Account, Category::Security] {
        let spec = SubscriptionSpec {
            contacts: vec![contact.id],
            ..SubscriptionSpec::default()
        };
        h.engine
            .put_subscription(&h.root, h.account, category, spec)
            .await
            .unwrap();
    }
    let scoped = h
        .user("scoped", &[Policy::NotificationsFullAccess], Some(SCOPE))
        .await;
    let err = h
        .engine
        .delete_contact(&scoped, h.account, contact.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict");
    let text = err.to_string();
    assert!(text.contains("account"), "{text}");
    assert!(text.contains("subscriptions you cannot see"), "{text}");
    assert!(!text.contains("security"), "{text}");

    let err = h
        .engine
        .delete_contact(&h.root, h.account, contact.id)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("account, security") && !text.contains("cannot see"),
        "{text}"
    );
}

#[tokio::test]
async fn accounts_are_isolated_from_each_other() {
    let h = hub().await;
    let mine = h.publish(NewMessage::new(Category::Account, "mine")).await;
    let other = h
        .engine
        .create_account(&Principal::Operator, "globex")
        .await
        .unwrap();
    let other_root = h.engine.authenticate(&other.root_token).unwrap();
    let theirs = h
        .engine
        .publish(
            &Principal::Operator,
            other.account.id,
            NewMessage::new(Category::Account, "theirs"),
        )
        .await
        .unwrap()
        .message;

    // Another account's root addressing mine: forbidden, whatever the operation.
    let list = h
        .engine
        .list_messages(
            &other_root,
            h.account,
            &Filter::default(),
            &PageRequest::default(),
        )
        .await;
    assert_eq!(list.unwrap_err().code(), "forbidden");
    assert_eq!(
        h.engine.counts(&other_root, h.account).unwrap_err().code(),
        "forbidden"
    );
    let del = h
        .engine
        .delete_messages(&other_root, h.account, Selection::Filter(Filter::default()))
        .await;
    assert_eq!(del.unwrap_err().code(), "forbidden");
    assert_eq!(
        h.engine.account(&other_root, h.account).unwrap_err().code(),
        "forbidden"
    );

    // Their id in my account is not found, and bulk calls skip it.
    let err = h
        .engine
        .message(&h.root, h.account, theirs.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let n = h
        .engine
        .delete_messages(&h.root, h.account, Selection::Ids(vec![theirs.id]))
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        h.engine
            .message(&other_root, other.account.id, theirs.id)
            .await
            .unwrap()
            .title,
        "theirs"
    );
    assert_eq!(
        h.engine
            .message(&h.root, h.account, mine.id)
            .await
            .unwrap()
            .title,
        "mine"
    );
}

#[tokio::test]
async fn read_state_belongs_to_each_principal() {
    let h = hub().await;
    let msgs = h.publish_n(Category::Security, Severity::Critical, 4).await;
    let alice = h
        .user("alice", &[Policy::NotificationsReadOnlyAccess], None)
        .await;
    let bob = h
        .user("bob", &[Policy::NotificationsReadOnlyAccess], None)
        .await;

    h.engine
        .mark_read(
            &alice,
            h.account,
            Selection::Ids(vec![msgs[0].id, msgs[1].id]),
        )
        .await
        .unwrap();
    let again = h
        .engine
        .mark_read(
            &alice,
            h.account,
            Selection::Ids(vec![msgs[1].id, msgs[2].id]),
        )
        .await
        .unwrap();
    assert_eq!(again, 1, "only unread-to-read changes count");

    assert_eq!(h.engine.counts(&alice, h.account).unwrap().unread, 1);
    assert_eq!(h.engine.counts(&bob, h.account).unwrap().unread, 4);
    assert_eq!(h.engine.counts(&h.root, h.account).unwrap().unread, 4);
    assert!(
        h.engine
            .message(&alice, h.account, msgs[0].id)
            .await
            .unwrap()
            .read
    );
    assert!(
        !h.engine
            .message(&bob, h.account, msgs[0].id)
            .await
            .unwrap()
            .read
    );

    let unread_for_bob = h
        .all(&bob, &Filter::default().status(ReadStatus::Unread))
        .await;
    assert_eq!(unread_for_bob.len(), 4);
    let read_for_alice = h
        .all(&alice, &Filter::default().status(ReadStatus::Read))
        .await;
    assert_eq!(read_for_alice.len(), 3);
}

#[tokio::test]
async fn users_are_managed_by_operator_and_root_only_and_deletion_revokes_the_token() {
    let h = hub().await;
    let full = h
        .user("full", &[Policy::NotificationsFullAccess], None)
        .await;
    let attempt = h
        .engine
        .create_user(
            &full,
            h.account,
            NewUser {
                name: "eve".into(),
                ..NewUser::default()
            },
        )
        .await;
    assert_eq!(attempt.unwrap_err().code(), "forbidden");

    let created = h
        .engine
        .create_user(
            &Principal::Operator,
            h.account,
            NewUser {
                name: "carol".into(),
                policies: vec![Policy::NotificationsReadOnlyAccess],
                categories: Some(vec![Category::Service]),
            },
        )
        .await
        .unwrap();
    let dup = h
        .engine
        .create_user(
            &h.root,
            h.account,
            NewUser {
                name: "carol".into(),
                ..NewUser::default()
            },
        )
        .await;
    assert_eq!(dup.unwrap_err().code(), "conflict");

    let page = h
        .engine
        .list_users(&h.root, h.account, &PageRequest::first(1))
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let rest = h
        .engine
        .list_users(
            &h.root,
            h.account,
            &PageRequest::after(1, page.next_cursor.unwrap()),
        )
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_cursor.is_none());

    assert!(h.engine.authenticate(&created.token).is_ok());
    h.engine
        .delete_user(&h.root, h.account, created.user.id)
        .await
        .unwrap();
    assert_eq!(
        h.engine.authenticate(&created.token).unwrap_err().code(),
        "unauthenticated"
    );
    let again = h
        .engine
        .delete_user(&h.root, h.account, created.user.id)
        .await;
    assert_eq!(again.unwrap_err().code(), "not_found");
}
