//! The single writer: every change to the store is a [`Job`] sent to one thread, which
//! takes all jobs waiting at that moment, applies them in ONE redb write transaction, commits
//! (one fsync for the whole group), and only then updates the in-memory state and answers.
//!
//! So an acknowledged change is durable, concurrent publishers share commits, and readers
//! never see in memory what is not yet on disk.

mod accounts;
mod inbox;
pub(crate) mod routing;
mod staged;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};

use redb::{Table, WriteTransaction};
use roaring::RoaringBitmap;
use tokio::sync::oneshot;

use self::routing::DeliveryJob;
use super::records::{AccountRecord, MessageRecord, TokenOwner, UserRecord};
use super::records::{ChannelRecord, ContactRecord};
use super::{
    ACCOUNTS, CHANNELS, CONTACTS, CUT_OFF, DEDUPE, DELIVERIES, DIGEST_MEMBERS, DIGEST_OPEN,
    DIGEST_SENT, DIGEST_TICKS, FAILED, MESSAGE_DELIVERIES, MESSAGE_INDEX, MESSAGES, META, OUTBOX,
    PURGE_CHUNKS, READ_CHUNKS, RUNNING, SEQUENCES, Store, Subscribed, TOKENS, USERS,
};
use crate::Clock;
use crate::access::{Policy, Reader};
use crate::clock::micros;
use crate::error::{Error, StorageError};
use crate::filter::{CategorySet, Filter};
use crate::ids::{AccountId, UserId};
use crate::limits::AccountLimits;
use crate::model::{Category, ValidMessage};

/// Most jobs grouped into one commit; a bound on the memory and latency of one group.
const MAX_GROUP: usize = 4096;
/// Rows of deleted messages removed from disk along with each group of jobs.
const PURGE_WHILE_BUSY: usize = 256;
/// Rows removed in one commit when no job is waiting.
const PURGE_WHILE_IDLE: usize = 4096;
/// How long the writer waits for a job before it spends the time on purging.
const IDLE: std::time::Duration = std::time::Duration::from_millis(20);

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// Which messages a bulk job applies to, already limited to one account.
pub(crate) enum Target {
    /// These sequence numbers.
    Seqs(Vec<u32>),
    /// Everything matching this filter. A filter with text comes with the text matches
    /// found before the job was sent, so that the writer reads the text only of the
    /// messages published since.
    Filter(Filter, Option<Searched>),
}

/// The messages whose title or body holds a filter's text, among those numbered below
/// `upto`: found outside the writer, since a text scan over a whole inbox would hold up every
/// other account's writes behind it. Messages never change, so the matches stay true; the
/// writer applies the rest of the filter (categories, read state, deletes) as of its commit.
pub(crate) struct Searched {
    pub(crate) matched: RoaringBitmap,
    pub(crate) upto: u32,
}

/// A stored message as the writer returns it.
pub(crate) struct Stored {
    pub(crate) seq: u32,
    pub(crate) record: MessageRecord,
    pub(crate) created: bool,
}

/// What a bulk job does to the messages it selects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BulkOp {
    /// Mark them read for the reader.
    MarkRead,
    /// Delete them for the account.
    Delete,
}

/// One change to the store.
pub(crate) enum Job {
    CreateAccount {
        id: AccountId,
        record: AccountRecord,
        root_hash: [u8; 32],
        reply: Reply<()>,
    },
    CreateUser {
        id: UserId,
        record: UserRecord,
        reply: Reply<()>,
    },
    UpdateUser {
        id: UserId,
        policies: Option<Vec<Policy>>,
        categories: Option<Option<Vec<Category>>>,
        reply: Reply<UserRecord>,
    },
    DeleteUser {
        id: UserId,
        reply: Reply<()>,
    },
    Publish {
        account: AccountId,
        message: ValidMessage,
        reply: Reply<Stored>,
    },
    Bulk {
        op: BulkOp,
        account: AccountId,
        reader: Reader,
        visible: CategorySet,
        target: Target,
        reply: Reply<u64>,
    },
    Delivery {
        job: DeliveryJob,
        reply: Reply<u64>,
    },
    /// Makes the writer thread panic: lets tests see what a dead writer looks like.
    Crash,
}

/// A change to the in-memory state, applied only after its commit succeeded.
enum Effect {
    Account(AccountId, AccountRecord, [u8; 32]),
    User(UserId, UserRecord),
    UserGone(UserId, u64, [u8; 32]),
    Added(AccountId, u32, Category, crate::model::Severity, i64),
    Removed(AccountId, u32, Category, crate::model::Severity),
    ReadChunk(AccountId, Reader, u16, RoaringBitmap),
    PurgeChunk(AccountId, u16, RoaringBitmap),
    AccountRecord(AccountId, AccountRecord),
    Channel(AccountId, u64, Option<ChannelRecord>),
    Contact(AccountId, u64, Option<ContactRecord>),
    Subscription(AccountId, Category, Option<Arc<Subscribed>>),
    DigestTick(AccountId, Category, i64),
    /// A delivery is due at this time (µs).
    Schedule(u64, i64),
    /// A delivery left the outbox.
    Settle(u64),
}

/// A reply waiting for its group's commit before it is sent.
enum PendingReply {
    Unit(Reply<()>, Result<(), Error>),
    Stored(Reply<Stored>, Result<Stored, Error>),
    Count(Reply<u64>, Result<u64, Error>),
    User(Reply<UserRecord>, Result<UserRecord, Error>),
}

impl PendingReply {
    fn send(self) {
        // A caller that gave up waiting has dropped its receiver; nothing is lost by that,
        // the change itself is committed.
        match self {
            PendingReply::Unit(r, v) => drop(r.send(v)),
            PendingReply::Stored(r, v) => drop(r.send(v)),
            PendingReply::Count(r, v) => drop(r.send(v)),
            PendingReply::User(r, v) => drop(r.send(v)),
        }
    }

    fn fail(self, why: &str) {
        match self {
            PendingReply::Unit(r, _) => drop(r.send(commit_failed(why))),
            PendingReply::Stored(r, _) => drop(r.send(commit_failed(why))),
            PendingReply::Count(r, _) => drop(r.send(commit_failed(why))),
            PendingReply::User(r, _) => drop(r.send(commit_failed(why))),
        }
    }
}

impl Job {
    fn fail(self, why: &str) {
        match self {
            Job::CreateAccount { reply, .. }
            | Job::CreateUser { reply, .. }
            | Job::DeleteUser { reply, .. } => drop(reply.send(commit_failed(why))),
            Job::UpdateUser { reply, .. } => drop(reply.send(commit_failed(why))),
            Job::Publish { reply, .. } => drop(reply.send(commit_failed(why))),
            Job::Bulk { reply, .. } | Job::Delivery { reply, .. } => {
                drop(reply.send(commit_failed(why)))
            }
            Job::Crash => {}
        }
    }
}

fn commit_failed<T>(why: &str) -> Result<T, Error> {
    Err(Error::Storage(StorageError::Commit(why.to_owned())))
}

/// Starts the writer thread, which holds every account to `limits`; it ends when every
/// sender is dropped.
pub(crate) fn spawn(
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    limits: AccountLimits,
) -> std::io::Result<(Sender<Job>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("msghub-writer".into())
        .spawn(move || run(&store, clock.as_ref(), limits, rx))?;
    Ok((tx, handle))
}

fn run(store: &Store, clock: &dyn Clock, limits: AccountLimits, jobs: Receiver<Job>) {
    // Accounts with deleted messages whose rows are still on disk.
    let mut purging: HashSet<AccountId> = store
        .state
        .read()
        .inboxes
        .iter()
        .filter(|(_, index)| index.read().purge.len() > 0)
        .map(|(&id, _)| id)
        .collect();
    loop {
        let first = if purging.is_empty() {
            match jobs.recv() {
                Ok(job) => Some(job),
                Err(_) => return,
            }
        } else {
            match jobs.recv_timeout(IDLE) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let mut group = Vec::with_capacity(64);
        group.extend(first);
        while !group.is_empty() && group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let budget = if group.is_empty() {
            PURGE_WHILE_IDLE
        } else {
            PURGE_WHILE_BUSY
        };
        commit_group(store, clock, limits, group, &mut purging, budget);
    }
}

/// What one group has changed so far, before its commit.
struct Group<'s> {
    store: &'s Store,
    now: i64,
    /// What one account may hold.
    limits: AccountLimits,
    /// Per account: (next sequence number, creation time for this group).
    sequences: HashMap<AccountId, (u32, i64)>,
    read_chunks: HashMap<(AccountId, Reader, u16), RoaringBitmap>,
    purge_chunks: HashMap<(AccountId, u16), RoaringBitmap>,
    /// Messages published in this group, live although the index does not know them yet.
    fresh: HashSet<(AccountId, u32)>,
    purging: &'s mut HashSet<AccountId>,
    /// What the earlier jobs of this group changed, for the checks of the later ones.
    staged: staged::Staged,
    effects: Vec<Effect>,
    /// Whether this group took delivery ids (the next one is then stored).
    deliveries_created: bool,
}

/// Every table, opened once per group: opening a table per job would cost more than the
/// job itself.
pub(crate) struct Tables<'t> {
    accounts: Table<'t, u64, &'static [u8]>,
    users: Table<'t, u64, &'static [u8]>,
    tokens: Table<'t, &'static [u8], &'static [u8]>,
    messages: Table<'t, (u64, u32), &'static [u8]>,
    message_index: Table<'t, (u64, u32), (i64, u8)>,
    dedupe: Table<'t, (u64, &'static str), u32>,
    read_chunks: Table<'t, (u64, u64, u16), &'static [u8]>,
    purge_chunks: Table<'t, (u64, u16), &'static [u8]>,
    sequences: Table<'t, u64, u32>,
    meta: Table<'t, &'static str, u64>,
    channels: Table<'t, (u64, u64), &'static [u8]>,
    contacts: Table<'t, (u64, u64), &'static [u8]>,
    subscriptions: Table<'t, (u64, u8), &'static [u8]>,
    deliveries: Table<'t, u64, &'static [u8]>,
    message_deliveries: Table<'t, (u64, u32, u64), ()>,
    outbox: Table<'t, u64, i64>,
    digest_open: Table<'t, (u64, u8, u8, u64), u64>,
    digest_members: Table<'t, (u64, u32), ()>,
    digest_ticks: Table<'t, (u64, u8), i64>,
    failed: Table<'t, (u64, u8, u64, u64), ()>,
    running: Table<'t, u64, ()>,
    cut_off: Table<'t, u64, u32>,
    digest_sent: Table<'t, u64, u32>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Tables<'t>, Error> {
        Ok(Tables {
            accounts: txn.open_table(ACCOUNTS)?,
            users: txn.open_table(USERS)?,
            tokens: txn.open_table(TOKENS)?,
            messages: txn.open_table(MESSAGES)?,
            message_index: txn.open_table(MESSAGE_INDEX)?,
            dedupe: txn.open_table(DEDUPE)?,
            read_chunks: txn.open_table(READ_CHUNKS)?,
            purge_chunks: txn.open_table(PURGE_CHUNKS)?,
            sequences: txn.open_table(SEQUENCES)?,
            meta: txn.open_table(META)?,
            channels: txn.open_table(CHANNELS)?,
            contacts: txn.open_table(CONTACTS)?,
            subscriptions: txn.open_table(super::SUBSCRIPTIONS)?,
            deliveries: txn.open_table(DELIVERIES)?,
            message_deliveries: txn.open_table(MESSAGE_DELIVERIES)?,
            outbox: txn.open_table(OUTBOX)?,
            digest_open: txn.open_table(DIGEST_OPEN)?,
            digest_members: txn.open_table(DIGEST_MEMBERS)?,
            digest_ticks: txn.open_table(DIGEST_TICKS)?,
            failed: txn.open_table(FAILED)?,
            running: txn.open_table(RUNNING)?,
            cut_off: txn.open_table(CUT_OFF)?,
            digest_sent: txn.open_table(DIGEST_SENT)?,
        })
    }
}

fn commit_group(
    store: &Store,
    clock: &dyn Clock,
    limits: AccountLimits,
    group: Vec<Job>,
    purging: &mut HashSet<AccountId>,
    purge_budget: usize,
) {
    let mut txn = match store.db.begin_write() {
        Ok(txn) => txn,
        Err(e) => {
            let why = e.to_string();
            tracing::error!(error = %why, "cannot begin a write transaction");
            store.commit_failing.store(true, Ordering::Relaxed);
            group.into_iter().for_each(|job| job.fail(&why));
            return;
        }
    };
    // Durability stays Immediate (redb's default): one fsync per group. Quick repair would
    // add allocator bookkeeping to every commit to speed up recovery after a crash.
    txn.set_quick_repair(false);
    let mut state = Group {
        store,
        now: micros(clock.now()),
        limits,
        sequences: HashMap::new(),
        read_chunks: HashMap::new(),
        purge_chunks: HashMap::new(),
        fresh: HashSet::new(),
        purging,
        staged: staged::Staged::default(),
        effects: Vec::new(),
        deliveries_created: false,
    };
    let mut answers = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    let applied = Tables::open(&txn)
        .map_err(|e| e.to_string())
        .and_then(|mut tables| {
            for job in jobs.by_ref() {
                match state.apply(&mut tables, job) {
                    Ok(answer) => answers.push(answer),
                    Err(failed) => {
                        let (answer, why) = *failed;
                        answers.push(answer);
                        return Err(why);
                    }
                }
            }
            state
                .purge(&mut tables, purge_budget)
                .and_then(|()| state.finish(&mut tables))
                .map_err(|e| e.to_string())
        });
    let outcome = applied.and_then(|()| txn.commit().map_err(|e| e.to_string()));
    match outcome {
        Ok(()) => {
            store.commit_failing.store(false, Ordering::Relaxed);
            state.install();
            answers.into_iter().for_each(PendingReply::send);
        }
        Err(why) => {
            tracing::error!(error = %why, "a group of changes failed to commit");
            store.commit_failing.store(true, Ordering::Relaxed);
            answers.into_iter().for_each(|a| a.fail(&why));
            jobs.for_each(|job| job.fail(&why));
        }
    }
}

/// The outcome of one job: an answer to send after the commit, or a storage failure that
/// aborts the whole group (with the failed job's answer and the reason).
type Applied = Result<PendingReply, Box<(PendingReply, String)>>;

fn split<T>(
    reply: Reply<T>,
    result: Result<T, Error>,
    wrap: fn(Reply<T>, Result<T, Error>) -> PendingReply,
) -> Applied {
    match result {
        Err(Error::Storage(e)) => {
            let why = e.to_string();
            Err(Box::new((wrap(reply, commit_failed(&why)), why)))
        }
        other => Ok(wrap(reply, other)),
    }
}

impl Group<'_> {
    fn apply(&mut self, t: &mut Tables<'_>, job: Job) -> Applied {
        match job {
            Job::CreateAccount {
                id,
                record,
                root_hash,
                reply,
            } => {
                let r = self.create_account(t, id, record, root_hash);
                split(reply, r, PendingReply::Unit)
            }
            Job::CreateUser { id, record, reply } => {
                let r = self.create_user(t, id, record);
                split(reply, r, PendingReply::Unit)
            }
            Job::UpdateUser {
                id,
                policies,
                categories,
                reply,
            } => {
                let r = self.update_user(t, id, policies, categories);
                split(reply, r, PendingReply::User)
            }
            Job::DeleteUser { id, reply } => {
                let r = self.delete_user(t, id);
                split(reply, r, PendingReply::Unit)
            }
            Job::Publish {
                account,
                message,
                reply,
            } => {
                let r = self.publish(t, account, message);
                split(reply, r, PendingReply::Stored)
            }
            Job::Bulk {
                op,
                account,
                reader,
                visible,
                target,
                reply,
            } => {
                let r = match op {
                    BulkOp::MarkRead => self.mark_read(t, account, reader, visible, target),
                    BulkOp::Delete => self.delete(t, account, reader, visible, target),
                };
                split(reply, r, PendingReply::Count)
            }
            Job::Delivery { job, reply } => {
                let r = self.delivery_job(t, job);
                split(reply, r, PendingReply::Count)
            }
            Job::Crash => panic!("the writer was told to crash"),
        }
    }

    fn finish(&mut self, t: &mut Tables<'_>) -> Result<(), Error> {
        let chunks = &mut t.read_chunks;
        let mut buf = Vec::new();
        for ((account, reader, chunk), bitmap) in self.read_chunks.drain() {
            buf.clear();
            bitmap
                .serialize_into(&mut buf)
                .map_err(|e| StorageError::Commit(e.to_string()))?;
            chunks.insert((account.0, reader.0, chunk), buf.as_slice())?;
            self.effects
                .push(Effect::ReadChunk(account, reader, chunk, bitmap));
        }
        let purged = &mut t.purge_chunks;
        for ((account, chunk), bitmap) in self.purge_chunks.drain() {
            if bitmap.is_empty() {
                purged.remove((account.0, chunk))?;
            } else {
                buf.clear();
                bitmap
                    .serialize_into(&mut buf)
                    .map_err(|e| StorageError::Commit(e.to_string()))?;
                purged.insert((account.0, chunk), buf.as_slice())?;
            }
            self.effects
                .push(Effect::PurgeChunk(account, chunk, bitmap));
        }
        let sequences = &mut t.sequences;
        for (account, (next, _)) in &self.sequences {
            sequences.insert(account.0, *next)?;
        }
        if self.deliveries_created {
            let next = self
                .store
                .next_delivery
                .load(std::sync::atomic::Ordering::Relaxed);
            t.meta.insert("next_delivery", next)?;
        }
        Ok(())
    }

    /// Applies the committed changes to the in-memory state.
    fn install(self) {
        let mut state = self.store.state.write();
        let mut queue = self.store.queue.lock();
        let mut woke = false;
        for effect in self.effects {
            match effect {
                Effect::AccountRecord(id, record) => {
                    state.accounts.insert(id, record);
                }
                Effect::Channel(account, id, record) => state.set_channel(account, id, record),
                Effect::Contact(account, id, record) => state.set_contact(account, id, record),
                Effect::Subscription(account, category, sub) => match sub {
                    Some(sub) => {
                        state.subscriptions.insert((account, category), sub);
                    }
                    None => {
                        state.subscriptions.remove(&(account, category));
                    }
                },
                Effect::DigestTick(account, category, tick) => {
                    state.digest_ticks.insert((account, category), tick);
                }
                Effect::Schedule(id, due) => {
                    queue.schedule(id, due);
                    woke = true;
                }
                Effect::Settle(id) => queue.settle(id),
                Effect::Account(id, record, root_hash) => {
                    state.account_names.insert(record.name.clone(), id);
                    state.accounts.insert(id, record);
                    state.tokens.insert(root_hash, TokenOwner::Root(id.0));
                    state.inboxes.entry(id).or_default();
                }
                Effect::User(id, record) => {
                    state
                        .tokens
                        .insert(record.token_hash, TokenOwner::User(id.0));
                    state.put_user(id, record);
                }
                Effect::UserGone(id, account, token_hash) => {
                    state.remove_user(id);
                    state.tokens.remove(&token_hash);
                    if let Some(inbox) = state.inboxes.get(&AccountId(account)) {
                        inbox.write().forget_reader(Reader(id.0));
                    }
                }
                Effect::Added(account, seq, category, severity, created) => {
                    if let Some(inbox) = state.inboxes.get(&account) {
                        inbox.write().add(seq, category, severity, created);
                    }
                }
                Effect::Removed(account, seq, category, severity) => {
                    if let Some(inbox) = state.inboxes.get(&account) {
                        inbox.write().remove(seq, category, severity);
                    }
                }
                Effect::PurgeChunk(account, chunk, bitmap) => {
                    if let Some(inbox) = state.inboxes.get(&account) {
                        inbox.write().purge.set_chunk(chunk, bitmap);
                    }
                }
                Effect::ReadChunk(account, reader, chunk, bitmap) => {
                    if let Some(inbox) = state.inboxes.get(&account) {
                        inbox.write().set_read_chunk(reader, chunk, bitmap);
                    }
                }
            }
        }
        drop(queue);
        drop(state);
        if woke {
            self.store.wake.notify_one();
        }
    }
}
