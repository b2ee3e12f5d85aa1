//! Durability: everything survives a reopen, and an acknowledged publish survives a SIGKILL
//! right after the acknowledgement.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::OPERATOR_TOKEN;
use msghub::{
    AccountId, Category, Engine, Filter, HistoryFilter, MessageId, NewMessage, NewUser, Policy,
    Principal, ReadStatus, Selection, Severity,
};

async fn open(path: &std::path::Path) -> Engine {
    Engine::builder()
        .path(path)
        .operator_token(OPERATOR_TOKEN)
        .build()
        .await
        .expect("database opens")
}

#[tokio::test]
async fn reopening_the_file_restores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.redb");
    let engine = open(&path).await;
    let op = Principal::Operator;
    let acme = engine.create_account(&op, "acme").await.unwrap();
    let a = acme.account.id;
    let user = engine
        .create_user(
            &op,
            a,
            NewUser {
                name: "alice".into(),
                policies: vec![Policy::NotificationsReadOnlyAccess],
                categories: Some(vec![Category::Security, Category::Account]),
            },
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..50 {
        let m = NewMessage::new(Category::ALL[i % 6], format!("m{i}"))
            .severity(Severity::ALL[i % 3])
            .dedupe_key(format!("k{i}"));
        ids.push(engine.publish(&op, a, m).await.unwrap().message.id);
    }
    let alice = engine.authenticate(&user.token).unwrap();
    engine
        .mark_read(&alice, a, Selection::Filter(Filter::default()))
        .await
        .unwrap();
    engine
        .delete_messages(&op, a, Selection::Ids(ids[..5].to_vec()))
        .await
        .unwrap();
    let counts_root = engine
        .counts(&engine.authenticate(&acme.root_token).unwrap(), a)
        .unwrap();
    let counts_alice = engine.counts(&alice, a).unwrap();
    let listed = engine
        .list_messages(&alice, a, &Filter::default(), &Default::default())
        .await
        .unwrap();
    let history = engine
        .history(&op, a, &HistoryFilter::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(history.items.len(), 1, "the user's creation");
    engine.close().await;
    drop(engine);

    let engine = open(&path).await;
    let root = engine
        .authenticate(&acme.root_token)
        .expect("root token survives");
    let alice = engine
        .authenticate(&user.token)
        .expect("user token survives");
    assert_eq!(engine.counts(&root, a).unwrap(), counts_root);
    assert_eq!(engine.counts(&alice, a).unwrap(), counts_alice);
    let relisted = engine
        .list_messages(&alice, a, &Filter::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(relisted, listed);
    // The history survives, and its entry numbers go on where they were.
    let rehistory = engine
        .history(&op, a, &HistoryFilter::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(rehistory, history);
    engine.set_retention(&op, a, 30).await.unwrap();
    let newest = engine
        .history(&op, a, &HistoryFilter::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(newest.items.len(), 2);
    assert!(newest.items[0].id > history.items[0].id);
    // Dedupe keys survive; deleted ones are free again; numbers are never reused.
    let again = engine
        .publish(
            &op,
            a,
            NewMessage::new(Category::Account, "x").dedupe_key("k10"),
        )
        .await
        .unwrap();
    assert!(!again.created);
    let fresh = engine
        .publish(
            &op,
            a,
            NewMessage::new(Category::Account, "y").dedupe_key("k0"),
        )
        .await
        .unwrap();
    assert!(fresh.created);
    assert!(!ids.contains(&fresh.message.id));
    assert!(!fresh.message.read, "a new message is unread for everybody");
    let unread = engine
        .list_messages(
            &alice,
            a,
            &Filter::default().status(ReadStatus::Unread),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(unread.items.len(), 1);
    assert_eq!(
        engine.create_account(&op, "acme").await.unwrap_err().code(),
        "conflict"
    );
}

const CHILD_ENV: &str = "MSGHUB_CRASH_CHILD_DB";

/// Not a test on its own: the body of the child process that `acknowledged_publishes_survive_sigkill`
/// starts (this test binary, re-run with an environment variable) and kills mid-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_entry() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let account: AccountId = std::env::var("MSGHUB_CRASH_ACCOUNT")
        .unwrap()
        .parse()
        .unwrap();
    let engine = open(std::path::Path::new(&path)).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<MessageId>();
    for worker in 0..16 {
        let engine = engine.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let m = NewMessage::new(Category::Exception, format!("w{worker} #{i}"))
                    .body("x".repeat(512));
                let p = engine
                    .publish(&Principal::Operator, account, m)
                    .await
                    .unwrap();
                if tx.send(p.message.id).is_err() {
                    return;
                }
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
async fn acknowledged_publishes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let engine = open(&path).await;
    let account = engine
        .create_account(&Principal::Operator, "crashy")
        .await
        .unwrap()
        .account
        .id;
    engine.close().await;
    drop(engine);

    let mut acked: Vec<MessageId> = Vec::new();
    for round in 0..4u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .env("MSGHUB_CRASH_ACCOUNT", account.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let kill_after = Duration::from_millis(150 + (round * 137) % 400);
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
        // Wait until the child is publishing (however long its start takes on a busy
        // machine), then kill it at an arbitrary moment.
        first_seen
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("round {round}: the child never acknowledged a publish"));
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let ids = reader.join().unwrap();
        assert!(
            !ids.is_empty(),
            "round {round}: the child acknowledged nothing"
        );
        acked.extend(ids);

        let engine = open(&path).await;
        for id in &acked {
            engine
                .message(&Principal::Operator, account, *id)
                .await
                .unwrap_or_else(|e| panic!("round {round}: acknowledged {id} lost: {e}"));
        }
        let counts = engine.counts(&Principal::Operator, account).unwrap();
        assert!(counts.total >= acked.len() as u64);
        engine.close().await;
    }
}
