//! The writer's queue is bounded for callers: when it is full a change is refused at once,
//! with nothing of it applied, instead of queueing without bound; once the queue drains, the
//! next change goes through.

use msghub::{Category, Engine, Error, Filter, NewMessage, PageRequest, Principal};

const OPERATOR: Principal = Principal::Operator;

#[tokio::test]
async fn a_full_writer_queue_refuses_a_change_at_once_and_applies_nothing() {
    // On disk, the first publish's commit waits for fdatasync: it cannot be answered before
    // the second publish is sent, however the threads are scheduled.
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .path(dir.path().join("hub.redb"))
        .max_pending_writes(1)
        .build()
        .await
        .unwrap();
    let account = engine
        .create_account(&OPERATOR, "acme")
        .await
        .unwrap()
        .account
        .id;
    // The first publish holds the only place in the queue until its commit answers; the
    // second, sent while it waits, finds the queue full.
    let (first, second) = tokio::join!(
        engine.publish(
            &OPERATOR,
            account,
            NewMessage::new(Category::Security, "one")
        ),
        engine.publish(
            &OPERATOR,
            account,
            NewMessage::new(Category::Security, "two")
        ),
    );
    first.unwrap();
    match second {
        Err(Error::Overloaded(message)) => assert!(message.contains("retry"), "{message}"),
        other => panic!("expected the full queue to refuse the change: {other:?}"),
    }
    let page = engine
        .list_messages(
            &OPERATOR,
            account,
            &Filter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    let titles: Vec<&str> = page.items.iter().map(|m| m.title.as_str()).collect();
    assert_eq!(titles, ["one"], "nothing of the refused change is stored");

    engine
        .publish(
            &OPERATOR,
            account,
            NewMessage::new(Category::Security, "three"),
        )
        .await
        .expect("the queue has room again once the first change is stored");
}
