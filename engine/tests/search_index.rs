//! The search index narrows a `q` to the messages that may contain it: answers must be the
//! same whether the index has caught up or not, across deletes, bulk operations under a
//! `q`, and a restart (after which the index is rebuilt in the background).

use std::time::{Duration, Instant};

use msghub::{
    AccountId, Category, Engine, Filter, Message, NewMessage, PageRequest, Principal, Selection,
};

const NEEDLES: &[&str] = &[
    "kernel panic",
    "KERNEL",
    "磁盘",
    "盘告",
    "磁盘告警",
    "straße",
    "STRASSE",
    "ab",
    "q",
    "instance 1234",
    "no such words anywhere",
    "%_",
];

fn text_of(i: usize) -> (String, String) {
    match i % 97 {
        0 => (
            format!("Kernel panic on instance {i}"),
            "the host rebooted".into(),
        ),
        1 => (format!("实例 {i} 磁盘告警"), "磁盘使用率超过 90%".into()),
        2 => (format!("Großer Ärger in der Straße {i}"), "STRASSE".into()),
        3 => (format!("Rate {i}%_off"), "promo".into()),
        _ => (
            format!("Instance {i} billing notice"),
            format!("Quota renewal for instance {i}; abc def"),
        ),
    }
}

async fn new_account(engine: &Engine, name: &str) -> AccountId {
    engine
        .create_account(&Principal::Operator, name)
        .await
        .expect("account")
        .account
        .id
}

async fn publish_all(engine: &Engine, account: AccountId, range: std::ops::Range<usize>) {
    for i in range {
        let (title, body) = text_of(i);
        let category = Category::ALL[i % 6];
        engine
            .publish(
                &Principal::Operator,
                account,
                NewMessage::new(category, title).body(body),
            )
            .await
            .expect("publish");
    }
}

async fn search(engine: &Engine, account: AccountId, needle: &str) -> Vec<Message> {
    list(engine, account, &Filter::default().text(needle)).await
}

async fn list(engine: &Engine, account: AccountId, filter: &Filter) -> Vec<Message> {
    let mut out = Vec::new();
    let mut page = engine
        .list_messages(
            &Principal::Operator,
            account,
            filter,
            &PageRequest::first(50),
        )
        .await
        .expect("list");
    loop {
        out.extend(page.items);
        let Some(cursor) = page.next_cursor else {
            return out;
        };
        page = engine
            .list_messages(
                &Principal::Operator,
                account,
                filter,
                &PageRequest::after(50, cursor),
            )
            .await
            .expect("next page");
    }
}

/// What a scan of every message answers: case-insensitive substring of title or body.
fn reference(all: &[Message], needle: &str) -> Vec<String> {
    let needle = needle.to_lowercase();
    all.iter()
        .filter(|m| {
            m.title.to_lowercase().contains(&needle)
                || m.body
                    .as_deref()
                    .is_some_and(|b| b.to_lowercase().contains(&needle))
        })
        .map(|m| m.id.to_string())
        .collect()
}

async fn check_every_needle(engine: &Engine, account: AccountId, when: &str) {
    let all = list(engine, account, &Filter::default()).await;
    assert!(!all.is_empty());
    for needle in NEEDLES {
        let got: Vec<String> = search(engine, account, needle)
            .await
            .iter()
            .map(|m| m.id.to_string())
            .collect();
        assert_eq!(got, reference(&all, needle), "q={needle:?} {when}");
    }
}

async fn wait_indexed(engine: &Engine) {
    let started = Instant::now();
    while engine.search_index().pending > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the search index did not catch up: {:?}",
            engine.search_index()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_the_same_before_and_after_the_index_catches_up_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.redb");
    let engine = Engine::builder().path(&path).build().await.unwrap();
    let account = new_account(&engine, "acme").await;
    publish_all(&engine, account, 0..3000).await;
    // Whatever the indexer has reached by now.
    check_every_needle(&engine, account, "while indexing").await;
    wait_indexed(&engine).await;
    let stats = engine.search_index();
    assert_eq!(stats.indexed, 3000);
    assert!(stats.bytes > 0);
    check_every_needle(&engine, account, "once indexed").await;

    // Deletes under a q go through the index too.
    let before = search(&engine, account, "kernel panic").await.len();
    assert!(before > 20);
    let deleted = engine
        .delete_messages(
            &Principal::Operator,
            account,
            Selection::Filter(Filter::default().text("KERNEL PANIC")),
        )
        .await
        .unwrap();
    assert_eq!(deleted as usize, before);
    assert!(search(&engine, account, "kernel").await.is_empty());
    let marked = engine
        .mark_read(
            &Principal::Operator,
            account,
            Selection::Filter(Filter::default().text("磁盘告警")),
        )
        .await
        .unwrap();
    assert_eq!(
        marked as usize,
        reference(
            &list(&engine, account, &Filter::default()).await,
            "磁盘告警"
        )
        .len()
    );
    check_every_needle(&engine, account, "after deletes").await;

    // New messages are found at once, whether or not the indexer has seen them.
    publish_all(&engine, account, 3000..3100).await;
    check_every_needle(&engine, account, "right after more publishes").await;
    engine.close().await;
    drop(engine);

    // After a restart the index starts empty and fills in behind.
    let engine = Engine::builder().path(&path).build().await.unwrap();
    check_every_needle(&engine, account, "right after a restart").await;
    wait_indexed(&engine).await;
    check_every_needle(&engine, account, "after the rebuild").await;
    engine.close().await;
}

#[tokio::test]
async fn each_account_has_its_own_index() {
    let engine = Engine::builder().in_memory().build().await.unwrap();
    let a = new_account(&engine, "a").await;
    let b = new_account(&engine, "b").await;
    publish_all(&engine, a, 0..200).await;
    engine
        .publish(
            &Principal::Operator,
            b,
            NewMessage::new(Category::Security, "Kernel panic in b"),
        )
        .await
        .unwrap();
    wait_indexed(&engine).await;
    let in_b = search(&engine, b, "kernel panic").await;
    assert_eq!(in_b.len(), 1);
    assert_eq!(in_b[0].title, "Kernel panic in b");
    assert_eq!(search(&engine, a, "kernel panic").await.len(), 3);
    engine.close().await;
}

#[tokio::test]
async fn a_message_with_too_many_grams_and_an_index_without_budget_still_answer() {
    // A body of 20,000 distinct Chinese characters has far more grams than one message may
    // put in the index: it is read by every search instead.
    let huge: String = (0..20_000u32)
        .filter_map(|i| char::from_u32(0x4E00 + i))
        .collect();
    for budget in [msghub::DEFAULT_SEARCH_INDEX_BYTES, 0] {
        let engine = Engine::builder()
            .in_memory()
            .search_index_bytes(budget)
            .build()
            .await
            .unwrap();
        let account = new_account(&engine, "acme").await;
        publish_all(&engine, account, 0..300).await;
        engine
            .publish(
                &Principal::Operator,
                account,
                NewMessage::new(Category::Product, "catalog").body(format!("{huge} needle-xyz")),
            )
            .await
            .unwrap();
        if budget > 0 {
            wait_indexed(&engine).await;
            assert!(
                engine.search_index().bytes < 4 << 20,
                "{:?}",
                engine.search_index()
            );
        } else {
            // Without a budget nothing is indexed, and the stats say what is left to read.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let stats = engine.search_index();
            assert_eq!((stats.indexed, stats.bytes), (0, 0));
            assert_eq!(stats.pending, 301);
        }
        for needle in ["NEEDLE-XYZ", "一丁丂", "kernel panic", "磁盘告警"] {
            let all = list(&engine, account, &Filter::default()).await;
            let got: Vec<String> = search(&engine, account, needle)
                .await
                .iter()
                .map(|m| m.id.to_string())
                .collect();
            assert_eq!(got, reference(&all, needle), "q={needle:?} budget {budget}");
            assert!(!got.is_empty(), "q={needle:?}");
        }
        engine.close().await;
    }
}
