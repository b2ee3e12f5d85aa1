//! Mark read and delete, by ids and by filter: they change exactly what they select.

mod common;

use common::hub;
use msghub::{Category, Filter, NewMessage, ReadStatus, Selection, Severity, filter::MAX_BULK_IDS};

#[tokio::test]
async fn mark_all_read_under_a_filter_leaves_other_messages_unread() {
    let h = hub().await;
    h.publish_n(Category::Security, Severity::Critical, 5).await;
    h.publish_n(Category::Security, Severity::Info, 4).await;
    h.publish_n(Category::Account, Severity::Critical, 3).await;
    let filter = Filter::default()
        .categories([Category::Security])
        .severities([Severity::Critical])
        .status(ReadStatus::Unread);
    let n = h
        .engine
        .mark_read(&h.root, h.account, Selection::Filter(filter.clone()))
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(
        h.engine
            .mark_read(&h.root, h.account, Selection::Filter(filter))
            .await
            .unwrap(),
        0
    );
    let counts = h.engine.counts(&h.root, h.account).unwrap();
    assert_eq!(counts.by_category[&Category::Security].unread, 4);
    assert_eq!(counts.by_category[&Category::Account].unread, 3);
    assert_eq!(counts.unread, 7);
}

#[tokio::test]
async fn delete_all_under_filter_leaves_other_categories_untouched() {
    let h = hub().await;
    h.publish_n(Category::Activity, Severity::Info, 6).await;
    let keep = h.publish_n(Category::Exception, Severity::Info, 2).await;
    let filter = Filter::default()
        .categories([Category::Activity])
        .text("number");
    let n = h
        .engine
        .delete_messages(&h.root, h.account, Selection::Filter(filter))
        .await
        .unwrap();
    assert_eq!(n, 6);
    let left = h.all(&h.root, &Filter::default()).await;
    assert_eq!(
        left.iter().map(|m| m.id).collect::<Vec<_>>(),
        keep.iter().rev().map(|m| m.id).collect::<Vec<_>>()
    );
    assert_eq!(h.engine.counts(&h.root, h.account).unwrap().total, 2);
}

#[tokio::test]
async fn deletion_is_account_wide_and_final() {
    let h = hub().await;
    let msgs = h.publish_n(Category::Product, Severity::Warning, 3).await;
    let reader = h
        .user(
            "reader",
            &[msghub::Policy::NotificationsReadOnlyAccess],
            None,
        )
        .await;
    h.engine
        .mark_read(&reader, h.account, Selection::Ids(vec![msgs[0].id]))
        .await
        .unwrap();
    let n = h
        .engine
        .delete_messages(
            &h.root,
            h.account,
            Selection::Ids(vec![msgs[0].id, msgs[1].id, msgs[1].id]),
        )
        .await
        .unwrap();
    assert_eq!(n, 2, "a repeated id counts once");
    for who in [&h.root, &reader] {
        let counts = h.engine.counts(who, h.account).unwrap();
        assert_eq!((counts.total, counts.unread), (1, 1));
        assert_eq!(
            h.engine
                .message(who, h.account, msgs[0].id)
                .await
                .unwrap_err()
                .code(),
            "not_found"
        );
    }
    assert_eq!(
        h.engine
            .delete_message(&h.root, h.account, msgs[0].id)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    h.engine
        .delete_message(&h.root, h.account, msgs[2].id)
        .await
        .unwrap();
    assert_eq!(h.engine.counts(&h.root, h.account).unwrap().total, 0);
}

#[tokio::test]
async fn unknown_ids_are_skipped_and_too_many_ids_are_refused() {
    let h = hub().await;
    let msg = h.publish(NewMessage::new(Category::Service, "one")).await;
    let other = h
        .engine
        .create_account(&msghub::Principal::Operator, "other")
        .await
        .unwrap();
    let foreign = h
        .engine
        .publish(
            &msghub::Principal::Operator,
            other.account.id,
            NewMessage::new(Category::Service, "x"),
        )
        .await
        .unwrap()
        .message;
    let n = h
        .engine
        .mark_read(&h.root, h.account, Selection::Ids(vec![foreign.id, msg.id]))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let too_many = vec![msg.id; MAX_BULK_IDS + 1];
    let err = h
        .engine
        .mark_read(&h.root, h.account, Selection::Ids(too_many))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("ids"));
}

#[tokio::test]
async fn a_deleted_dedupe_key_can_be_published_again() {
    let h = hub().await;
    let first = h
        .publish(NewMessage::new(Category::Security, "ddos").dedupe_key("ddos-1"))
        .await;
    let again = h
        .engine
        .publish(
            &msghub::Principal::Operator,
            h.account,
            NewMessage::new(Category::Security, "ddos again").dedupe_key("ddos-1"),
        )
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.message.id, first.id);
    assert_eq!(again.message.title, "ddos");
    h.engine
        .delete_message(&h.root, h.account, first.id)
        .await
        .unwrap();
    let fresh = h
        .engine
        .publish(
            &msghub::Principal::Operator,
            h.account,
            NewMessage::new(Category::Security, "ddos 2").dedupe_key("ddos-1"),
        )
        .await
        .unwrap();
    assert!(fresh.created);
    assert_ne!(fresh.message.id, first.id);
}

#[tokio::test]
async fn dedupe_is_per_account_and_holds_under_concurrent_publishes() {
    let h = hub().await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let engine = h.engine.clone();
        let account = h.account;
        tasks.push(tokio::spawn(async move {
            engine
                .publish(
                    &msghub::Principal::Operator,
                    account,
                    NewMessage::new(Category::Exception, format!("try {i}"))
                        .dedupe_key("same-event"),
                )
                .await
                .unwrap()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for t in tasks {
        let p = t.await.unwrap();
        created += usize::from(p.created);
        ids.insert(p.message.id);
    }
    assert_eq!((created, ids.len()), (1, 1));
    let other = h
        .engine
        .create_account(&msghub::Principal::Operator, "other")
        .await
        .unwrap();
    let there = h
        .engine
        .publish(
            &msghub::Principal::Operator,
            other.account.id,
            NewMessage::new(Category::Exception, "x").dedupe_key("same-event"),
        )
        .await
        .unwrap();
    assert!(there.created);
}

#[tokio::test]
async fn deleted_rows_are_purged_in_the_background_and_keys_stay_correct() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("purge.redb");
    let open = || msghub::Engine::builder().path(&path).build();
    let engine = open().await.unwrap();
    let op = msghub::Principal::Operator;
    let a = engine
        .create_account(&op, "purge")
        .await
        .unwrap()
        .account
        .id;
    let first = engine
        .publish(
            &op,
            a,
            NewMessage::new(Category::Account, "v1").dedupe_key("key"),
        )
        .await
        .unwrap()
        .message;
    let mut tasks = Vec::new();
    for t in 0..50 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let m = NewMessage::new(Category::Product, format!("bulk {t}/{i}"));
                engine
                    .publish(&msghub::Principal::Operator, a, m)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = engine
        .delete_messages(&op, a, Selection::Filter(Filter::default()))
        .await
        .unwrap();
    assert_eq!(n, 5001);
    // The dedupe key of a deleted message is free at once.
    let second = engine
        .publish(
            &op,
            a,
            NewMessage::new(Category::Account, "v2").dedupe_key("key"),
        )
        .await
        .unwrap();
    assert!(second.created);
    // Deletion is durable before the rows are gone.
    engine.close().await;
    drop(engine);
    let engine = open().await.unwrap();
    assert_eq!(engine.counts(&op, a).unwrap().total, 1);
    assert_eq!(
        engine.message(&op, a, first.id).await.unwrap_err().code(),
        "not_found"
    );
    let started = std::time::Instant::now();
    while engine.pending_purge() > 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "purge stalled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Purging the old row must not free the key that the new message holds.
    let third = engine
        .publish(
            &op,
            a,
            NewMessage::new(Category::Account, "v3").dedupe_key("key"),
        )
        .await
        .unwrap();
    assert!(!third.created);
    assert_eq!(third.message.id, second.message.id);
    engine.close().await;
    drop(engine);
    let engine = open().await.unwrap();
    assert_eq!(engine.pending_purge(), 0);
    assert_eq!(engine.counts(&op, a).unwrap().total, 1);
}

/// Counts are cached per reader and adjusted by every change; after any sequence of
/// publishes, reads and deletes they must equal what the lists show.
#[tokio::test]
async fn counts_stay_exact_through_reads_deletes_and_publishes() {
    let h = hub().await;
    let alice = h
        .user("alice", &[msghub::Policy::NotificationsFullAccess], None)
        .await;
    let readers = [h.root.clone(), alice];
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut ids = Vec::new();
    for step in 0..150 {
        let who = &readers[next(2) as usize];
        let category = Category::ALL[next(6) as usize];
        match next(5) {
            0 | 1 => {
                let m = h
                    .publish(NewMessage::new(category, format!("step {step}")))
                    .await;
                ids.push(m.id);
            }
            2 if !ids.is_empty() => {
                let pick: Vec<_> = (0..3)
                    .map(|_| ids[next(ids.len() as u64) as usize])
                    .collect();
                h.engine
                    .mark_read(who, h.account, Selection::Ids(pick))
                    .await
                    .unwrap();
            }
            3 => {
                let filter = Filter::default().categories([category]);
                h.engine
                    .mark_read(who, h.account, Selection::Filter(filter))
                    .await
                    .unwrap();
            }
            _ if !ids.is_empty() => {
                let pick = vec![ids[next(ids.len() as u64) as usize]];
                h.engine
                    .delete_messages(&h.root, h.account, Selection::Ids(pick))
                    .await
                    .unwrap();
            }
            _ => {}
        }
        for reader in &readers {
            let counts = h.engine.counts(reader, h.account).unwrap();
            let listed = h.all(reader, &Filter::default()).await;
            for c in Category::ALL {
                let of_c: Vec<_> = listed.iter().filter(|m| m.category == c).collect();
                let unread = of_c.iter().filter(|m| !m.read).count() as u64;
                let got = counts.by_category[&c];
                assert_eq!(
                    (got.total, got.unread),
                    (of_c.len() as u64, unread),
                    "step {step}, {c}"
                );
            }
        }
    }
}
