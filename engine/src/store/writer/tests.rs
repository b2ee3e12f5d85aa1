//! Jobs of one commit group see each other: each test hands the writer a group directly,
//! as concurrent requests would make it, and checks what the later job did.

use std::collections::HashSet;
use std::sync::Arc;

use redb::ReadableDatabase;
use tokio::sync::oneshot;

use super::routing::DeliveryJob;
use crate::store::records::{ChannelRecord, SubscriptionRecord};
use crate::store::{MESSAGE_DELIVERIES, Subscribed};

use super::{BulkOp, Job, Stored, Target, commit_group};
use crate::access::Reader;
use crate::delivery::schedule::RetrySchedule;
use crate::engine::SystemClock;
use crate::error::Error;
use crate::filter::{CategorySet, Filter, ReadStatus};
use crate::ids::AccountId;
use crate::model::{Category, Severity, ValidMessage};
use crate::store::Store;
use crate::store::records::AccountRecord;

const ACCOUNT: AccountId = AccountId(7);
const READER: Reader = Reader(1);

fn store() -> Store {
    let db = redb::Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .unwrap();
    let secrets = crate::delivery::secrets::Secrets::new(None);
    let store = Store::open(db, RetrySchedule::default(), &secrets).unwrap();
    let (reply, _) = oneshot::channel();
    let record = AccountRecord {
        name: "acme".into(),
        created: 0,
        retention_days: 180,
    };
    run(
        &store,
        vec![Job::CreateAccount {
            id: ACCOUNT,
            record,
            root_hash: [1; 32],
            reply,
        }],
    );
    store
}

fn run(store: &Store, group: Vec<Job>) {
    commit_group(store, &SystemClock, group, &mut HashSet::new(), 0);
}

fn publish(store: &Store, title: &str) -> u32 {
    let (job, answer) = publish_job(title);
    run(store, vec![job]);
    answer.blocking_recv().unwrap().unwrap().seq
}

fn publish_job(title: &str) -> (Job, oneshot::Receiver<Result<Stored, Error>>) {
    let (reply, answer) = oneshot::channel::<Result<Stored, Error>>();
    let message = ValidMessage {
        category: Category::Security,
        subtype: None,
        title: title.into(),
        body: None,
        severity: Severity::Info,
        link: None,
        resource: None,
        dedupe_key: None,
    };
    let job = Job::Publish {
        account: ACCOUNT,
        message,
        reply,
    };
    (job, answer)
}

fn bulk(op: BulkOp, target: Target) -> (Job, oneshot::Receiver<Result<u64, Error>>) {
    let (reply, answer) = oneshot::channel();
    let job = Job::Bulk {
        op,
        account: ACCOUNT,
        reader: READER,
        visible: CategorySet::ALL,
        target,
        reply,
    };
    (job, answer)
}

fn live(store: &Store, seq: u32) -> bool {
    store.inbox(ACCOUNT).unwrap().read().live.contains(seq)
}

#[test]
fn delete_of_read_messages_sees_a_mark_read_earlier_in_its_group() {
    let store = store();
    let seq = publish(&store, "one");
    let (mark, marked) = bulk(BulkOp::MarkRead, Target::Seqs(vec![seq]));
    let read = Filter::default().status(ReadStatus::Read);
    let (delete, deleted) = bulk(BulkOp::Delete, Target::Filter(read, None));
    run(&store, vec![mark, delete]);
    assert_eq!(marked.blocking_recv().unwrap().unwrap(), 1);
    assert_eq!(deleted.blocking_recv().unwrap().unwrap(), 1);
    assert!(!live(&store, seq));
}

#[test]
fn mark_read_does_not_count_a_message_deleted_earlier_in_its_group() {
    let store = store();
    let seq = publish(&store, "one");
    let (delete, deleted) = bulk(BulkOp::Delete, Target::Seqs(vec![seq]));
    let (mark, marked) = bulk(BulkOp::MarkRead, Target::Seqs(vec![seq]));
    let unread = Filter::default().status(ReadStatus::Unread);
    let (mark_all, marked_all) = bulk(BulkOp::MarkRead, Target::Filter(unread, None));
    run(&store, vec![delete, mark, mark_all]);
    assert_eq!(deleted.blocking_recv().unwrap().unwrap(), 1);
    assert_eq!(marked.blocking_recv().unwrap().unwrap(), 0);
    assert_eq!(marked_all.blocking_recv().unwrap().unwrap(), 0);
}

#[test]
fn unread_filter_sees_reads_earlier_in_its_group() {
    let store = store();
    let first = publish(&store, "one");
    let second = publish(&store, "two");
    let (mark, _) = bulk(BulkOp::MarkRead, Target::Seqs(vec![first]));
    let unread = Filter::default().status(ReadStatus::Unread);
    let (delete, deleted) = bulk(BulkOp::Delete, Target::Filter(unread, None));
    run(&store, vec![mark, delete]);
    assert_eq!(deleted.blocking_recv().unwrap().unwrap(), 1);
    assert!(
        live(&store, first),
        "the message read just before is not unread"
    );
    assert!(!live(&store, second));
}

fn delivery(job: DeliveryJob) -> (Job, oneshot::Receiver<Result<u64, Error>>) {
    let (reply, answer) = oneshot::channel();
    (Job::Delivery { job, reply }, answer)
}

fn subscription_to(channel: u64) -> DeliveryJob {
    let record = SubscriptionRecord {
        subtypes: None,
        min_severity: Severity::Info,
        contacts: Vec::new(),
        channels: vec![channel],
        digest: None,
        updated: 0,
    };
    DeliveryJob::PutSubscription {
        account: ACCOUNT,
        category: Category::Security,
        subscription: Arc::new(Subscribed::new(record).unwrap()),
    }
}

fn with_channel() -> Store {
    let store = store();
    let record = ChannelRecord {
        name: "hook".into(),
        plugin: "webhook".into(),
        config: b"{}".to_vec(),
        sealed: false,
        created: 0,
    };
    let (job, _) = delivery(DeliveryJob::CreateChannel {
        account: ACCOUNT,
        id: 9,
        record,
    });
    run(&store, vec![job]);
    store
}

/// The deliveries the store holds for a message.
fn deliveries_of(store: &Store, seq: u32) -> usize {
    let txn = store.db.begin_read().unwrap();
    let table = txn.open_table(MESSAGE_DELIVERIES).unwrap();
    table
        .range((ACCOUNT.0, seq, 0)..=(ACCOUNT.0, seq, u64::MAX))
        .unwrap()
        .count()
}

#[test]
fn a_publish_goes_by_the_subscription_set_earlier_in_its_group() {
    let store = with_channel();
    let (put, put_answer) = delivery(subscription_to(9));
    let (publish, stored) = publish_job("routed");
    run(&store, vec![put, publish]);
    put_answer.blocking_recv().unwrap().unwrap();
    let seq = stored.blocking_recv().unwrap().unwrap().seq;
    assert_eq!(deliveries_of(&store, seq), 1);
}

#[test]
fn a_publish_ignores_the_subscription_removed_earlier_in_its_group() {
    let store = with_channel();
    let (put, _) = delivery(subscription_to(9));
    run(&store, vec![put]);
    let (remove, removed) = delivery(DeliveryJob::DeleteSubscription {
        account: ACCOUNT,
        category: Category::Security,
    });
    let (publish, stored) = publish_job("not routed");
    run(&store, vec![remove, publish]);
    removed.blocking_recv().unwrap().unwrap();
    let seq = stored.blocking_recv().unwrap().unwrap().seq;
    assert_eq!(deliveries_of(&store, seq), 0);
}
