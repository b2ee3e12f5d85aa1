//! Live events: what a stream sees of publishes, deletes and read changes, what it must not
//! see, and how it resumes.

mod common;

use std::time::Duration;

use common::hub;
use msghub::{
    Category, EventKind, Events, Filter, NewMessage, Policy, Principal, Selection, UserUpdate,
};

/// The next batch of a stream, failing the test if none comes within a few seconds.
async fn next(events: &mut Events) -> Vec<EventKind> {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream works")
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Whether the stream stays silent for a while.
async fn silent(events: &mut Events) -> bool {
    tokio::time::timeout(Duration::from_millis(300), events.next())
        .await
        .is_err()
}

fn titles(kinds: &[EventKind]) -> Vec<String> {
    kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::Message(m) => Some(m.title.clone()),
            _ => None,
        })
        .collect()
}

fn unread(kinds: &[EventKind]) -> Option<u64> {
    kinds.iter().rev().find_map(|k| match k {
        EventKind::Counts(c) => Some(c.unread),
        _ => None,
    })
}

#[tokio::test]
async fn a_stream_opens_with_counts_and_sees_each_new_message() {
    let h = hub().await;
    h.publish(NewMessage::new(Category::Activity, "before"))
        .await;
    let mut events = h.engine.events(&h.root, h.account, None).unwrap();
    let first = next(&mut events).await;
    assert_eq!(
        titles(&first),
        Vec::<String>::new(),
        "no replay without an id"
    );
    assert_eq!(unread(&first), Some(1));

    h.publish(NewMessage::new(Category::Security, "new login"))
        .await;
    let batch = next(&mut events).await;
    assert_eq!(titles(&batch), ["new login"]);
    let EventKind::Message(message) = &batch[0] else {
        panic!("a message first: {batch:?}");
    };
    assert_eq!(message.category, Category::Security);
    assert!(!message.read);
    assert_eq!(unread(&batch), Some(2), "the counts follow the message");
    assert_eq!(h.engine.event_streams_of(h.account), 1);
    drop(events);
    assert_eq!(h.engine.event_streams(), 0);
}

#[tokio::test]
async fn a_scoped_user_sees_only_its_categories() {
    let h = hub().await;
    let scoped = h
        .user(
            "sec",
            &[Policy::NotificationsReadOnlyAccess],
            Some(&[Category::Security]),
        )
        .await;
    let mut events = h.engine.events(&scoped, h.account, None).unwrap();
    next(&mut events).await;
    let hidden = h
        .publish(NewMessage::new(Category::Activity, "invoice"))
        .await;
    assert!(
        silent(&mut events).await,
        "an activity message reached a security-only user"
    );
    h.publish(NewMessage::new(Category::Security, "alert"))
        .await;
    let batch = next(&mut events).await;
    assert_eq!(titles(&batch), ["alert"]);
    assert_eq!(unread(&batch), Some(1), "counts only of its categories");
    // Deleting the hidden message says nothing to it either.
    h.engine
        .delete_messages(&h.root, h.account, Selection::Ids(vec![hidden.id]))
        .await
        .unwrap();
    assert!(
        silent(&mut events).await,
        "a hidden message's deletion was told"
    );
}

#[tokio::test]
async fn reads_reach_only_the_reader_and_deletes_reach_everyone() {
    let h = hub().await;
    let alice = h
        .user("alice", &[Policy::NotificationsFullAccess], None)
        .await;
    let m = h
        .publish(NewMessage::new(Category::Product, "launch"))
        .await;
    let mut root_events = h.engine.events(&h.root, h.account, None).unwrap();
    let mut alice_events = h.engine.events(&alice, h.account, None).unwrap();
    next(&mut root_events).await;
    next(&mut alice_events).await;

    h.engine
        .mark_read(&alice, h.account, Selection::Ids(vec![m.id]))
        .await
        .unwrap();
    assert_eq!(unread(&next(&mut alice_events).await), Some(0));
    assert!(
        silent(&mut root_events).await,
        "alice's read changed root's stream"
    );

    h.engine
        .delete_messages(&alice, h.account, Selection::Ids(vec![m.id]))
        .await
        .unwrap();
    for events in [&mut root_events, &mut alice_events] {
        let batch = next(events).await;
        assert_eq!(batch[0], EventKind::Deleted(vec![m.id]));
        assert!(matches!(batch.last(), Some(EventKind::Counts(c)) if c.total == 0));
    }
}

#[tokio::test]
async fn a_stream_resumes_after_its_last_event_without_loss() {
    let h = hub().await;
    let mut events = h.engine.events(&h.root, h.account, None).unwrap();
    next(&mut events).await;
    h.publish(NewMessage::new(Category::Service, "one")).await;
    next(&mut events).await;
    let last = events.last_id();
    drop(events);

    // Published while no stream was open.
    h.publish(NewMessage::new(Category::Service, "two")).await;
    h.publish(NewMessage::new(Category::Service, "three")).await;
    let mut resumed = h.engine.events(&h.root, h.account, Some(&last)).unwrap();
    let batch = next(&mut resumed).await;
    assert_eq!(titles(&batch), ["two", "three"]);
    assert_eq!(unread(&batch), Some(3));

    // An id from another run of the server (another epoch) cannot resume: reset first.
    let (epoch, position) = last.split_once('-').unwrap();
    let other = format!(
        "{:08x}-{position}",
        u32::from_str_radix(epoch, 16).unwrap() ^ 1
    );
    let mut stale = h.engine.events(&h.root, h.account, Some(&other)).unwrap();
    let batch = next(&mut stale).await;
    assert!(matches!(&batch[0], EventKind::Reset(why) if why.contains("restarted")));
    assert_eq!(titles(&batch), Vec::<String>::new());

    let err = h
        .engine
        .events(&h.root, h.account, Some("yesterday"))
        .err()
        .expect("nonsense is refused");
    assert_eq!(err.code(), "invalid_argument");
}

#[tokio::test]
async fn a_large_delete_asks_for_a_reload_instead_of_listing_every_id() {
    let h = hub().await;
    for i in 0..1001 {
        h.engine
            .publish(
                &Principal::Operator,
                h.account,
                NewMessage::new(Category::Account, format!("m{i}")),
            )
            .await
            .unwrap();
    }
    let mut events = h.engine.events(&h.root, h.account, None).unwrap();
    next(&mut events).await;
    let deleted = h
        .engine
        .delete_messages(&h.root, h.account, Selection::Filter(Filter::default()))
        .await
        .unwrap();
    assert_eq!(deleted, 1001);
    let batch = next(&mut events).await;
    assert!(matches!(&batch[0], EventKind::Reset(why) if why.contains("reload")));
    assert!(matches!(batch.last(), Some(EventKind::Counts(c)) if c.total == 0));
}

#[tokio::test]
async fn only_readers_of_the_account_may_watch() {
    let h = hub().await;
    let other = h
        .engine
        .create_account(&Principal::Operator, "other")
        .await
        .unwrap();
    let stranger = h.engine.authenticate(&other.root_token).unwrap();
    let err = h
        .engine
        .events(&stranger, h.account, None)
        .err()
        .expect("another account's root is refused");
    assert_eq!(err.code(), "forbidden");
    let nobody = h.user("nobody", &[], None).await;
    assert!(h.engine.may_watch(&nobody, h.account).is_err());
    assert!(h.engine.may_watch(&h.root, h.account).is_ok());
}

#[tokio::test]
async fn a_stream_closes_when_its_user_is_deleted_or_its_rights_change() {
    let h = hub().await;
    let changed = h
        .user("changed", &[Policy::NotificationsFullAccess], None)
        .await;
    let deleted = h
        .user("deleted", &[Policy::NotificationsFullAccess], None)
        .await;
    let bystander = h
        .user("bystander", &[Policy::NotificationsFullAccess], None)
        .await;
    let user_id = |p: &Principal| match p {
        Principal::User(grant) => grant.user,
        other => panic!("not a user: {other:?}"),
    };
    let mut changed_events = h.engine.events(&changed, h.account, None).unwrap();
    let mut deleted_events = h.engine.events(&deleted, h.account, None).unwrap();
    let mut bystander_events = h.engine.events(&bystander, h.account, None).unwrap();
    for events in [
        &mut changed_events,
        &mut deleted_events,
        &mut bystander_events,
    ] {
        next(events).await;
    }

    h.engine
        .update_user(
            &h.root,
            h.account,
            user_id(&changed),
            UserUpdate {
                policies: None,
                categories: Some(Some(vec![Category::Security])),
            },
        )
        .await
        .unwrap();
    let batch = next(&mut changed_events).await;
    assert!(
        matches!(batch.last(), Some(EventKind::Closed(why)) if why.contains("rights changed")),
        "{batch:?}"
    );
    h.engine
        .delete_user(&h.root, h.account, user_id(&deleted))
        .await
        .unwrap();
    let batch = next(&mut deleted_events).await;
    assert!(
        matches!(batch.last(), Some(EventKind::Closed(why)) if why.contains("deleted")),
        "{batch:?}"
    );
    // Nothing more comes on a closed stream, and others' changes close nobody else.
    h.publish(NewMessage::new(Category::Security, "after"))
        .await;
    assert!(silent(&mut deleted_events).await);
    let batch = next(&mut bystander_events).await;
    assert_eq!(titles(&batch), ["after"]);
}
