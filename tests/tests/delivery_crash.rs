//! Delivery survives SIGKILL: a child process publishes into a subscribed category while its
//! workers deliver to a webhook on 127.0.0.1, and is killed at arbitrary moments, several
//! times. Afterwards every acknowledged message is stored with its delivery, every stored
//! message has exactly one delivery (never one without the other), every delivery arrives
//! at least once, and a message that arrived twice carried the same `webhook-id` both times.
//! A delivery that was under way at two of the kills is parked as a dead letter, as one that
//! crashed the server twice is, and taken up again by the operator.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use msghub::{
    AccountId, Category, DeliveryStatus, Engine, Filter, MessageId, NewMessage, PageRequest,
    Principal, Requeue, RetrySchedule,
};
use msghub_tests::channels::bundled;
use msghub_tests::hub::webhook_account;
use msghub_tests::{Reply, TestServer, test_config};

const OPERATOR: Principal = Principal::Operator;
const CHILD_ENV: &str = "MSGHUB_DELIVERY_CRASH_DB";

async fn open(path: &std::path::Path) -> Engine {
    Engine::builder()
        .path(path)
        .plugins(Arc::new(bundled(test_config()).await))
        .retry_schedule(RetrySchedule::parse("0s,200ms,200ms,200ms,200ms").unwrap())
        .build()
        .await
        .expect("the database opens")
}

/// Not a test on its own: the child process of `deliveries_survive_sigkill` (this test
/// binary, re-run with an environment variable). Publishes from 8 tasks and prints each
/// acknowledged id while its workers deliver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let account: AccountId = std::env::var("MSGHUB_DELIVERY_CRASH_ACCOUNT")
        .unwrap()
        .parse()
        .unwrap();
    let round = std::env::var("MSGHUB_DELIVERY_CRASH_ROUND").unwrap();
    let engine = open(std::path::Path::new(&path)).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<MessageId>();
    for task in 0..8 {
        let engine = engine.clone();
        let tx = tx.clone();
        let round = round.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let m = NewMessage::new(Category::Exception, format!("r{round} t{task} #{i}"));
                let p = engine.publish(&OPERATOR, account, m).await.unwrap();
                if tx.send(p.message.id).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
    drop(tx);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    while let Some(id) = rx.recv().await {
        writeln!(out, "ACK {id}").unwrap();
        out.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_sigkill() {
    let sink = TestServer::start(|_| Reply::ok("")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let engine = open(&path).await;
    let account = webhook_account(&engine, "crashy", Category::Exception, &sink).await;
    engine.close().await;
    drop(engine);

    let mut acked: Vec<MessageId> = Vec::new();
    for round in 0..4u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "delivery_crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .env("MSGHUB_DELIVERY_CRASH_ACCOUNT", account.to_string())
            .env("MSGHUB_DELIVERY_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first, first_seen) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let mut ids = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The test harness may have begun the first line with the test's name.
                if let Some(id) = line.split_once("ACK ").map(|(_, id)| id) {
                    ids.push(id.parse::<MessageId>().unwrap());
                    if ids.len() == 1 {
                        let _ = first.send(());
                    }
                }
            }
            ids
        });
        // Once the child publishes (and so delivers), kill it at an arbitrary moment.
        first_seen
            .recv_timeout(Duration::from_secs(60))
            .expect("the child starts publishing");
        std::thread::sleep(Duration::from_millis(100 + (round * 173) % 500));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let ids = reader.join().unwrap();
        acked.extend(ids);
    }
    assert!(
        !sink.requests().is_empty(),
        "the children delivered before they were killed"
    );

    // Reopen with workers: the outbox drains, deliveries leased by a killed child included.
    let engine = open(&path).await;
    let mut stored = Vec::new();
    let mut page = PageRequest {
        limit: 200,
        ..Default::default()
    };
    loop {
        let listed = engine
            .list_messages(&OPERATOR, account, &Filter::default(), &page)
            .await
            .unwrap();
        stored.extend(listed.items.iter().map(|m| (m.id, m.title.clone())));
        match listed.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    let stored_ids: BTreeSet<MessageId> = stored.iter().map(|(id, _)| *id).collect();
    for id in &acked {
        assert!(stored_ids.contains(id), "acknowledged {id} was lost");
    }
    let mut key_of: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..600 {
        key_of.clear();
        let mut settled = true;
        for (id, title) in &stored {
            let deliveries = engine.deliveries(&OPERATOR, account, *id).await.unwrap();
            assert_eq!(
                deliveries.len(),
                1,
                "message {id} has {} deliveries; routing is in the publish transaction",
                deliveries.len()
            );
            if deliveries[0].status == DeliveryStatus::Failed {
                // Under way at two of the kills: parked as a dead letter, as a delivery
                // that crashed the server twice is. The operator takes it up again.
                let reason = deliveries[0].last_error.as_deref().unwrap_or_default();
                assert!(reason.contains("dead letter"), "{deliveries:?}");
                engine
                    .requeue_failed(&OPERATOR, account, Requeue::Message(*id))
                    .await
                    .unwrap();
            }
            settled &= deliveries[0].status == DeliveryStatus::Delivered;
            key_of.insert(title.clone(), deliveries[0].id.to_string());
        }
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(engine.outbox_depth(), 0, "the outbox drained");

    // Every stored message arrived at least once, and every copy carried its delivery's key.
    let mut arrived: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let requests = sink.requests();
    for request in &requests {
        let title = request.json()["data"]["title"]
            .as_str()
            .expect("a webhook body with data.title")
            .to_owned();
        let key = request.header("webhook-id").expect("webhook-id").to_owned();
        arrived.entry(title).or_default().insert(key);
    }
    for (title, key) in &key_of {
        let keys = arrived
            .get(title)
            .unwrap_or_else(|| panic!("'{title}' never arrived"));
        assert_eq!(
            keys,
            &BTreeSet::from([key.clone()]),
            "'{title}' arrived under another key"
        );
    }
    assert_eq!(
        arrived.len(),
        key_of.len(),
        "nothing arrived that is not stored"
    );
    let duplicates = requests.len() - arrived.len();
    eprintln!(
        "{} acknowledged, {} stored, {} requests, {duplicates} duplicates after kills",
        acked.len(),
        stored.len(),
        requests.len()
    );
    engine.close().await;
}
