//! A delivery whose attempt takes the server down does not take it down at every start: the
//! attempt is recorded before the plugin runs, an attempt a crash cut off counts as failed
//! at the next start, and a delivery that was under way at two crashes is parked as a dead
//! letter with that reason, so the third start stays up. A child process (this test binary
//! again) runs the engine; it is killed (SIGKILL) while its attempt waits on a receiver on
//! 127.0.0.1, the way a crash in the plugin would end it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use msghub::{
    Category, DeliveryStatus, Engine, MessageId, NewMessage, Principal, Requeue, RetrySchedule,
};
use msghub_tests::channels::bundled;
use msghub_tests::hub::webhook_account;
use msghub_tests::{Reply, TestServer, test_config};
use parking_lot::Mutex;

const OPERATOR: Principal = Principal::Operator;
const CHILD_ENV: &str = "MSGHUB_CRASH_LOOP_DB";

async fn open(path: &std::path::Path, background: bool) -> Engine {
    Engine::builder()
        .path(path)
        .plugins(Arc::new(bundled(test_config()).await))
        .retry_schedule(RetrySchedule::parse("0s,200ms,200ms,200ms,200ms").unwrap())
        .background(background)
        .build()
        .await
        .expect("the database opens")
}

/// Not a test on its own: the server process of
/// `a_delivery_under_way_at_two_crashes_is_parked_and_the_third_start_stays_up` (this test
/// binary, re-run with an environment variable). Opens the store with its workers and runs
/// until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let _engine = open(std::path::Path::new(&path), true).await;
    println!("READY");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
}

fn start_child(path: &std::path::Path) -> (Child, std::sync::mpsc::Receiver<()>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_loop_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready, ready_seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The test harness may have begun the line with the test's name.
            if line.ends_with("READY") {
                let _ = ready.send(());
            }
        }
    });
    (child, ready_seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_under_way_at_two_crashes_is_parked_and_the_third_start_stays_up() {
    // The receiver holds every request while `hang` is set and says when one arrived: the
    // attempt is then surely under way.
    let hang = Arc::new(AtomicBool::new(true));
    let (arrived, arrivals) = std::sync::mpsc::channel::<()>();
    let arrived = Mutex::new(arrived);
    let sink = {
        let hang = hang.clone();
        TestServer::start(move |_| {
            if hang.load(Ordering::SeqCst) {
                let _ = arrived.lock().send(());
                Reply::Hang
            } else {
                Reply::ok("")
            }
        })
        .await
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash-loop.redb");
    let (account, message) = {
        let engine = open(&path, false).await;
        let account = webhook_account(&engine, "crashy", Category::Exception, &sink).await;
        let message: MessageId = engine
            .publish(
                &OPERATOR,
                account,
                NewMessage::new(Category::Exception, "the one that crashes"),
            )
            .await
            .unwrap()
            .message
            .id;
        engine.close().await;
        (account, message)
    };

    // Two starts, each killed while its attempt is under way.
    for round in 1..=2 {
        let (mut child, _ready) = start_child(&path);
        arrivals
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("start {round} attempts the delivery"));
        child.kill().unwrap(); // SIGKILL, as a crash would end it
        child.wait().unwrap();
    }

    // The third start parks it instead of attempting it again, and stays up.
    let (mut child, ready) = start_child(&path);
    ready
        .recv_timeout(Duration::from_secs(120))
        .expect("the third start opens the store");
    assert!(
        arrivals.recv_timeout(Duration::from_secs(2)).is_err(),
        "the third start attempted the delivery that was under way at two crashes"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the third start is still up"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        sink.requests().len(),
        2,
        "one request per start that crashed"
    );

    let engine = open(&path, true).await;
    let deliveries = engine
        .deliveries(&OPERATOR, account, message)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    let parked = &deliveries[0];
    assert_eq!(parked.status, DeliveryStatus::Failed, "{parked:?}");
    assert_eq!(
        parked.attempts, 2,
        "each cut-off attempt counts: {parked:?}"
    );
    let reason = parked.last_error.as_deref().unwrap_or_default();
    assert!(
        reason.contains("server stopped during 2 attempts") && reason.contains("dead letter"),
        "{reason}"
    );

    // Once the cause is fixed, the operator takes it up again and it is delivered.
    hang.store(false, Ordering::SeqCst);
    let requeued = engine
        .requeue_failed(&OPERATOR, account, Requeue::Message(message))
        .await
        .unwrap();
    assert_eq!(requeued, 1);
    let mut status = DeliveryStatus::Failed;
    for _ in 0..200 {
        status = engine
            .deliveries(&OPERATOR, account, message)
            .await
            .unwrap()[0]
            .status;
        if status == DeliveryStatus::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, DeliveryStatus::Delivered);
    engine.close().await;
}
