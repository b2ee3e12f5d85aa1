//! Commands of one commit group see each other, across domains: each test hands the writer a
//! group directly, as concurrent requests would make it, and checks what the later command
//! did.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::access::Reader;
use crate::accounts::commands::{CreateAccount, CreateUser, DeleteUser};
use crate::clock::SystemClock;
use crate::delivery::commands::{
    CreateChannel, CreateContact, CreateRule, DeleteChannel, DeleteContact, DeleteSubscription,
    PutSubscription,
};
use crate::error::Error;
use crate::filter::{CategorySet, Filter, ReadStatus};
use crate::ids::{AccountId, UserId};
use crate::inbox::commands::{Bulk, BulkOp, Publish, Stored};
use crate::limits::{AccountLimits, Holding};
use crate::model::{Category, Severity, ValidMessage};
use crate::schedule::RetrySchedule;
use crate::store::Store;
use crate::store::Subscribed;
use crate::store::records::{AccountRecord, ActorRecord, MandatoryRuleRecord};
use crate::store::records::{ChannelRecord, ContactRecord, SubscriptionRecord, UserRecord};
use crate::store::writer::{Command, Job, Target, commit_group};

const ACCOUNT: AccountId = AccountId(7);
const READER: Reader = Reader(1);

fn store() -> Store {
    let secrets = crate::secrets::Secrets::new(None);
    let store = Store::open(None, None, RetrySchedule::default(), &secrets, 0).unwrap();
    let (reply, _) = oneshot::channel();
    let record = AccountRecord {
        name: "acme".into(),
        created: 0,
        retention_days: 180,
        locale: None,
    };
    run(
        &store,
        vec![Job::new(
            CreateAccount {
                id: ACCOUNT,
                record,
                root_hash: [1; 32],
            },
            reply,
        )],
    );
    store
}

fn run(store: &Store, group: Vec<Job>) {
    run_under(store, AccountLimits::default(), group);
}

fn run_under(store: &Store, limits: AccountLimits, group: Vec<Job>) {
    commit_group(store, &SystemClock, limits, group, &mut HashSet::new(), 0);
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
    let job = Job::new(
        Publish {
            account: ACCOUNT,
            message,
        },
        reply,
    );
    (job, answer)
}

fn bulk(op: BulkOp, target: Target) -> (Job, oneshot::Receiver<Result<u64, Error>>) {
    let (reply, answer) = oneshot::channel();
    let job = Job::new(
        Bulk {
            op,
            account: ACCOUNT,
            reader: READER,
            visible: CategorySet::ALL,
            target,
        },
        reply,
    );
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

/// A job for `command`, and where its answer arrives.
fn job<C: Command>(command: C) -> (Job, Answer<C::Output>) {
    let (reply, answer) = oneshot::channel();
    (Job::new(command, reply), answer)
}

fn subscription_to(channel: u64) -> PutSubscription {
    let record = SubscriptionRecord {
        subtypes: None,
        min_severity: Severity::Info,
        contacts: Vec::new(),
        channels: vec![channel],
        digest: None,
        updated: 0,
        quiet_hours: None,
    };
    PutSubscription {
        account: ACCOUNT,
        category: Category::Security,
        subscription: Arc::new(Subscribed::new(record).unwrap()),
        by: ActorRecord::Root,
    }
}

/// A channel as the history would show it.
fn shown(id: u64, name: &str) -> crate::Channel {
    crate::Channel {
        id: crate::ChannelId(id),
        name: name.into(),
        plugin: "webhook".into(),
        config: serde_json::json!({}),
        locale: None,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
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
        locale: None,
    };
    let (job, _) = job(CreateChannel {
        account: ACCOUNT,
        id: 9,
        record,
        shown: shown(9, "hook"),
        by: ActorRecord::Root,
    });
    run(&store, vec![job]);
    store
}

/// The deliveries the store holds for a message.
fn deliveries_of(store: &Store, seq: u32) -> usize {
    let snapshot = store.snapshot().unwrap();
    snapshot.deliveries_of(ACCOUNT, seq).unwrap().len()
}

#[test]
fn a_publish_goes_by_the_subscription_set_earlier_in_its_group() {
    let store = with_channel();
    let (put, put_answer) = job(subscription_to(9));
    let (publish, stored) = publish_job("routed");
    run(&store, vec![put, publish]);
    put_answer.blocking_recv().unwrap().unwrap();
    let seq = stored.blocking_recv().unwrap().unwrap().seq;
    assert_eq!(deliveries_of(&store, seq), 1);
}

#[test]
fn a_publish_ignores_the_subscription_removed_earlier_in_its_group() {
    let store = with_channel();
    let (put, _) = job(subscription_to(9));
    run(&store, vec![put]);
    let (remove, removed) = job(DeleteSubscription {
        account: ACCOUNT,
        category: Category::Security,
        by: ActorRecord::Root,
    });
    let (publish, stored) = publish_job("not routed");
    run(&store, vec![remove, publish]);
    removed.blocking_recv().unwrap().unwrap();
    let seq = stored.blocking_recv().unwrap().unwrap().seq;
    assert_eq!(deliveries_of(&store, seq), 0);
}

fn breach_rule(id: u64) -> CreateRule {
    CreateRule {
        id,
        record: MandatoryRuleRecord {
            name: format!("breach-{id}"),
            category: Category::Security,
            subtypes: None,
            min_severity: Severity::Info,
            created: 0,
        },
        by: ActorRecord::Operator,
    }
}

#[test]
fn a_rule_created_earlier_in_its_group_refuses_the_delete_of_its_subscription() {
    let store = with_channel();
    let (put, _) = job(subscription_to(9));
    run(&store, vec![put]);
    let (rule, created) = job(breach_rule(77));
    let (remove, removed) = job(DeleteSubscription {
        account: ACCOUNT,
        category: Category::Security,
        by: ActorRecord::Root,
    });
    run(&store, vec![rule, remove]);
    created.blocking_recv().unwrap().unwrap();
    let refused = removed.blocking_recv().unwrap().unwrap_err();
    assert!(
        matches!(refused, Error::MandatoryRule { rule, .. } if rule == crate::RuleId(77)),
        "{refused:?}"
    );
    assert!(
        store
            .state
            .read()
            .subscriptions
            .contains_key(&(ACCOUNT, Category::Security))
    );
}

#[test]
fn a_publish_goes_by_a_rule_created_earlier_in_its_group() {
    let store = with_channel();
    let (put, _) = job(PutSubscription {
        subscription: Arc::new(
            Subscribed::new(SubscriptionRecord {
                subtypes: Some(vec!["other".into()]),
                min_severity: Severity::Critical,
                contacts: Vec::new(),
                channels: vec![9],
                digest: None,
                updated: 0,
                quiet_hours: None,
            })
            .unwrap(),
        ),
        ..subscription_to(9)
    });
    run(&store, vec![put]);
    let (rule, _) = job(breach_rule(78));
    let (publish, stored) = publish_job("breach");
    run(&store, vec![rule, publish]);
    let seq = stored.blocking_recv().unwrap().unwrap().seq;
    assert_eq!(
        deliveries_of(&store, seq),
        1,
        "the rule overrides the filters"
    );
}

type Answer<T> = oneshot::Receiver<Result<T, Error>>;

/// The same limit on users, channels and contacts.
fn at_most(n: usize) -> AccountLimits {
    AccountLimits {
        users: n,
        channels: n,
        contacts: n,
    }
}

fn create_user(n: u64) -> (Job, Answer<()>) {
    let (reply, answer) = oneshot::channel();
    let record = UserRecord {
        account: ACCOUNT.0,
        name: format!("user-{n}"),
        policies: Vec::new(),
        categories: None,
        created: 0,
        token_hash: [u8::try_from(n).unwrap().wrapping_add(100); 32],
    };
    let id = UserId(1000 + n);
    (
        Job::new(
            CreateUser {
                id,
                record,
                by: ActorRecord::Root,
            },
            reply,
        ),
        answer,
    )
}

fn delete_user(n: u64) -> (Job, Answer<()>) {
    let (reply, answer) = oneshot::channel();
    let id = UserId(1000 + n);
    (
        Job::new(
            DeleteUser {
                id,
                by: ActorRecord::Root,
            },
            reply,
        ),
        answer,
    )
}

fn create_channel(n: u64) -> (Job, Answer<()>) {
    let record = ChannelRecord {
        name: format!("hook-{n}"),
        plugin: "webhook".into(),
        config: b"{}".to_vec(),
        sealed: false,
        created: 0,
        locale: None,
    };
    job(CreateChannel {
        account: ACCOUNT,
        id: 1000 + n,
        record,
        shown: shown(1000 + n, &format!("hook-{n}")),
        by: ActorRecord::Root,
    })
}

fn delete_channel(n: u64) -> (Job, Answer<()>) {
    job(DeleteChannel {
        account: ACCOUNT,
        id: 1000 + n,
        visible: CategorySet::ALL,
        shown: None,
        by: ActorRecord::Root,
    })
}

fn create_contact(n: u64) -> (Job, Answer<()>) {
    let record = ContactRecord {
        name: format!("team-{n}"),
        email: format!("team-{n}@example.com"),
        created: 0,
        locale: None,
    };
    job(CreateContact {
        account: ACCOUNT,
        id: 1000 + n,
        record,
        by: ActorRecord::Root,
    })
}

fn delete_contact(n: u64) -> (Job, Answer<()>) {
    job(DeleteContact {
        account: ACCOUNT,
        id: 1000 + n,
        visible: CategorySet::ALL,
        shown: None,
        by: ActorRecord::Root,
    })
}

/// Whether a create went through (true) or was refused for the limit (false); any other
/// answer fails the test.
fn admitted<T>(answer: Answer<T>) -> bool {
    match answer.blocking_recv().unwrap() {
        Ok(_) => true,
        Err(Error::LimitReached(_)) => false,
        Err(other) => panic!("neither created nor refused for the limit: {other}"),
    }
}

fn held(store: &Store, kind: Holding) -> usize {
    store.state.read().held(ACCOUNT, kind)
}

/// Runs `group` under `limits`, then answers whether each of its jobs went through.
fn admitted_in_group<T>(
    store: &Store,
    limits: AccountLimits,
    group: Vec<(Job, Answer<T>)>,
) -> Vec<bool> {
    let (jobs, answers): (Vec<Job>, Vec<Answer<T>>) = group.into_iter().unzip();
    run_under(store, limits, jobs);
    answers.into_iter().map(admitted).collect()
}

#[test]
fn two_creates_sharing_a_group_at_one_below_the_limit_let_exactly_one_through() {
    let store = store();
    let limits = at_most(2);
    let (user, users) = create_user(1);
    let (channel, channels) = create_channel(1);
    let (contact, contacts) = create_contact(1);
    run_under(&store, limits, vec![user, channel, contact]);
    assert!(admitted(users) && admitted(channels) && admitted(contacts));

    let users = admitted_in_group(&store, limits, vec![create_user(2), create_user(3)]);
    assert_eq!(users, [true, false]);
    let group = vec![create_channel(2), create_channel(3)];
    assert_eq!(admitted_in_group(&store, limits, group), [true, false]);
    let group = vec![create_contact(2), create_contact(3)];
    assert_eq!(admitted_in_group(&store, limits, group), [true, false]);
    for kind in [Holding::User, Holding::Channel, Holding::Contact] {
        assert_eq!(held(&store, kind), 2, "{kind:?}");
    }
}

#[test]
fn a_delete_earlier_in_the_group_makes_room_for_a_create() {
    let store = store();
    let limits = at_most(1);
    let (user, users) = create_user(1);
    let (channel, channels) = create_channel(1);
    let (contact, contacts) = create_contact(1);
    run_under(&store, limits, vec![user, channel, contact]);
    assert!(admitted(users) && admitted(channels) && admitted(contacts));

    let users = admitted_in_group(&store, limits, vec![delete_user(1), create_user(2)]);
    assert_eq!(users, [true, true]);
    let group = vec![delete_channel(1), create_channel(2)];
    assert_eq!(admitted_in_group(&store, limits, group), [true, true]);
    let group = vec![delete_contact(1), create_contact(2)];
    assert_eq!(admitted_in_group(&store, limits, group), [true, true]);
    for kind in [Holding::User, Holding::Channel, Holding::Contact] {
        assert_eq!(held(&store, kind), 1, "{kind:?}");
    }
}

#[test]
fn a_create_before_the_delete_in_its_group_finds_no_room() {
    let store = store();
    let limits = at_most(1);
    let (channel, created) = create_channel(1);
    run_under(&store, limits, vec![channel]);
    assert!(admitted(created));

    let group = vec![create_channel(2), delete_channel(1)];
    assert_eq!(admitted_in_group(&store, limits, group), [false, true]);
    assert_eq!(held(&store, Holding::Channel), 0);
}

#[test]
fn a_lowered_limit_keeps_what_an_account_holds_and_refuses_new_ones() {
    let store = store();
    let group = vec![create_channel(1), create_channel(2), create_channel(3)];
    let created = admitted_in_group(&store, AccountLimits::default(), group);
    assert_eq!(created, [true, true, true]);

    let lowered = at_most(2);
    let (create, refused) = create_channel(4);
    run_under(&store, lowered, vec![create]);
    let Err(Error::LimitReached(message)) = refused.blocking_recv().unwrap() else {
        panic!("a fourth channel was not refused under a limit of two");
    };
    assert!(
        message.contains("account 'acme' has 3 channels"),
        "{message}"
    );
    assert!(message.contains("delete 2"), "{message}");
    assert_eq!(
        held(&store, Holding::Channel),
        3,
        "nothing held was removed"
    );

    let group = vec![delete_channel(1), create_channel(4)];
    assert_eq!(admitted_in_group(&store, lowered, group), [true, false]);
    let group = vec![delete_channel(2), create_channel(4)];
    assert_eq!(admitted_in_group(&store, lowered, group), [true, true]);
}

#[test]
fn what_an_account_holds_is_counted_again_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msghub.redb");
    let open = || {
        let secrets = crate::secrets::Secrets::new(None);
        Store::open(Some(&path), None, RetrySchedule::default(), &secrets, 0).unwrap()
    };
    let store = open();
    let (reply, _) = oneshot::channel();
    let record = AccountRecord {
        name: "acme".into(),
        created: 0,
        retention_days: 180,
        locale: None,
    };
    let account = Job::new(
        CreateAccount {
            id: ACCOUNT,
            record,
            root_hash: [1; 32],
        },
        reply,
    );
    let group = vec![create_user(1), create_user(2)];
    run(&store, vec![account]);
    assert_eq!(admitted_in_group(&store, at_most(2), group), [true, true]);
    drop(store);

    let store = open();
    assert_eq!(held(&store, Holding::User), 2);
    let group = vec![create_user(3)];
    assert_eq!(admitted_in_group(&store, at_most(2), group), [false]);
}
