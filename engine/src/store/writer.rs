//! The single writer: every change to the store is a [`Command`] sent to one thread as a
//! [`Job`]. The thread takes all jobs waiting at that moment, applies them in ONE write
//! transaction of the backend, commits (one fsync for the whole group), and only then
//! updates the in-memory state and answers.
//!
//! So an acknowledged change is durable, concurrent publishers share commits, and readers
//! never see in memory what is not yet on disk.
//!
//! The writer knows no domain: each domain (`accounts`, `inbox`, `delivery`) defines its
//! commands, and a command changes stored data only through [`Tx`], which sees the changes
//! of the earlier commands of its group (see `staged`).

mod messages;
mod staged;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};

use roaring::RoaringBitmap;
use tokio::sync::oneshot;

pub(crate) use self::messages::{Searched, Target};
use super::backend::WriteTx;
use super::index::AccountIndex;
use super::live::{self, Change};
use super::records::{
    AccountRecord, ChannelRecord, ContactRecord, MandatoryRuleRecord, TokenOwner, UserRecord,
};
use super::{Store, Subscribed};
use crate::Clock;
use crate::access::Reader;
use crate::clock::micros;
use crate::error::{Error, StorageError};
use crate::ids::{AccountId, UserId};
use crate::limits::AccountLimits;
use crate::model::{Category, Severity};
use crate::schedule::RetrySchedule;

/// Most jobs grouped into one commit; a bound on the memory and latency of one group.
const MAX_GROUP: usize = 4096;
/// Rows of deleted messages removed from disk along with each group of jobs.
const PURGE_WHILE_BUSY: usize = 256;
/// Rows removed in one commit when no job is waiting.
const PURGE_WHILE_IDLE: usize = 4096;
/// How long the writer waits for a job before it spends the time on purging.
const IDLE: std::time::Duration = std::time::Duration::from_millis(20);

/// Where a command's answer goes once its group committed.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// One change, defined by the domain it belongs to and applied by the writer in a group's
/// transaction.
pub(crate) trait Command: Send + 'static {
    /// What the caller gets back once the change is committed.
    type Output: Send + 'static;

    /// Checks the domain's rules and makes the change through `tx`. An error other than
    /// [`Error::Storage`] refuses this command alone; a storage error fails the whole group.
    fn apply(self, tx: &mut Tx<'_>) -> Result<Self::Output, Error>;
}

/// A command on its way to the writer, with where its answer goes.
pub(crate) struct Job(Box<dyn Queued>);

impl Job {
    /// A command whose answer goes to `reply`.
    pub(crate) fn new<C: Command>(command: C, reply: Reply<C::Output>) -> Job {
        Job(Box::new(Sent { command, reply }))
    }

    fn fail(self, why: &str) {
        self.0.fail(why);
    }
}

/// Makes the writer thread panic: lets tests see what a dead writer looks like.
pub(crate) struct Crash;

impl Command for Crash {
    type Output = ();

    fn apply(self, _: &mut Tx<'_>) -> Result<(), Error> {
        panic!("the writer was told to crash")
    }
}

/// A command and its reply, with the command's type erased.
trait Queued: Send {
    fn apply(self: Box<Self>, tx: &mut Tx<'_>) -> Applied;
    fn fail(self: Box<Self>, why: &str);
}

struct Sent<C: Command> {
    command: C,
    reply: Reply<C::Output>,
}

impl<C: Command> Queued for Sent<C> {
    fn apply(self: Box<Self>, tx: &mut Tx<'_>) -> Applied {
        let Sent { command, reply } = *self;
        match command.apply(tx) {
            Err(Error::Storage(e)) => {
                let why = e.to_string();
                Err(Box::new((
                    Box::new(Answered(reply, commit_failed(&why))),
                    why,
                )))
            }
            other => Ok(Box::new(Answered(reply, other))),
        }
    }

    fn fail(self: Box<Self>, why: &str) {
        drop(self.reply.send(commit_failed(why)));
    }
}

/// An answer waiting for its group's commit before it is sent.
trait Pending: Send {
    fn send(self: Box<Self>);
    fn fail(self: Box<Self>, why: &str);
}

struct Answered<T>(Reply<T>, Result<T, Error>);

impl<T: Send> Pending for Answered<T> {
    fn send(self: Box<Self>) {
        // A caller that gave up waiting has dropped its receiver; nothing is lost by that,
        // the change itself is committed.
        drop(self.0.send(self.1));
    }

    fn fail(self: Box<Self>, why: &str) {
        drop(self.0.send(commit_failed(why)));
    }
}

/// The outcome of one job: an answer to send after the commit, or a storage failure that
/// aborts the whole group (with the failed job's answer and the reason).
type Applied = Result<Box<dyn Pending>, Box<(Box<dyn Pending>, String)>>;

fn commit_failed<T>(why: &str) -> Result<T, Error> {
    Err(Error::Storage(StorageError::Commit(why.to_owned())))
}

/// A change to the in-memory state, applied only after its commit succeeded. Commands
/// report theirs through [`Tx::effect`]; the message changes come from [`Tx`]'s own
/// operations.
pub(crate) enum Effect {
    /// A new account, with its root token's hash.
    Account(AccountId, AccountRecord, [u8; 32]),
    /// A new or changed user.
    User(UserId, UserRecord),
    /// A user removed: its id, account and token hash.
    UserGone(UserId, u64, [u8; 32]),
    Added(AccountId, u32, Category, Severity, i64),
    /// A new message's title and body, for the search index.
    Text(AccountId, u32, Box<str>, Option<Box<str>>),
    Removed(AccountId, u32, Category, Severity),
    ReadChunk(AccountId, Reader, u16, RoaringBitmap),
    PurgeChunk(AccountId, u16, RoaringBitmap),
    /// An account's record changed.
    AccountRecord(AccountId, AccountRecord),
    /// A channel stored, or removed (`None`).
    Channel(AccountId, u64, Option<ChannelRecord>),
    /// A contact stored, or removed (`None`).
    Contact(AccountId, u64, Option<ContactRecord>),
    /// A category's subscription set, or removed (`None`).
    Subscription(AccountId, Category, Option<Arc<Subscribed>>),
    /// The last digest tick closed for a category.
    DigestTick(AccountId, Category, i64),
    /// A delivery is due at this time (µs).
    Schedule(u64, i64),
    /// A delivery left the outbox.
    Settle(u64),
    /// A mandatory rule stored, or removed (`None`).
    MandatoryRule(u64, Option<MandatoryRuleRecord>),
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

/// A group's transaction as its commands see it: the backend's typed operations ([`Tx::db`])
/// and what the earlier commands of the group changed, before the commit.
pub(crate) struct Tx<'g> {
    /// The backend's write transaction.
    pub(crate) db: &'g mut dyn WriteTx,
    store: &'g Store,
    now: i64,
    /// What one account may hold.
    limits: AccountLimits,
    /// Per account: (next sequence number, creation time for this group).
    sequences: HashMap<AccountId, (u32, i64)>,
    read_chunks: HashMap<(AccountId, Reader, u16), RoaringBitmap>,
    purge_chunks: HashMap<(AccountId, u16), RoaringBitmap>,
    /// Messages published in this group, live although the index does not know them yet.
    fresh: HashSet<(AccountId, u32)>,
    purging: &'g mut HashSet<AccountId>,
    /// What the earlier jobs of this group changed, for the checks of the later ones.
    staged: staged::Staged,
    effects: Vec<Effect>,
    /// Whether this group took delivery ids (the next one is then stored).
    deliveries_created: bool,
}

impl Tx<'_> {
    /// The group's time (µs): every command of one group happens at the same moment.
    pub(crate) fn now(&self) -> i64 {
        self.now
    }

    /// The delay before each delivery attempt.
    pub(crate) fn retry(&self) -> &RetrySchedule {
        &self.store.retry
    }

    /// A new delivery id; ids are never reused.
    pub(crate) fn new_delivery_id(&mut self) -> u64 {
        self.deliveries_created = true;
        self.store.next_delivery.fetch_add(1, Ordering::Relaxed)
    }

    /// The index of an account's inbox, or not found: also the check that an account exists.
    pub(crate) fn inbox(
        &self,
        account: AccountId,
    ) -> Result<Arc<parking_lot::RwLock<AccountIndex>>, Error> {
        self.store.inbox(account)
    }
}

/// Applies one group of jobs in one transaction and commits it, then installs its effects
/// and answers; a failed commit fails every job of the group.
pub(crate) fn commit_group(
    store: &Store,
    clock: &dyn Clock,
    limits: AccountLimits,
    group: Vec<Job>,
    purging: &mut HashSet<AccountId>,
    purge_budget: usize,
) {
    let now = micros(clock.now());
    let mut answers: Vec<Box<dyn Pending>> = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    let mut effects = Vec::new();
    // The reason a command's storage failure gives, kept as the command reported it.
    let mut failed_with = None;
    let outcome = store.backend.write(&mut |db| {
        let mut tx = Tx {
            db,
            store,
            now,
            limits,
            sequences: HashMap::new(),
            read_chunks: HashMap::new(),
            purge_chunks: HashMap::new(),
            fresh: HashSet::new(),
            purging: &mut *purging,
            staged: staged::Staged::default(),
            effects: Vec::new(),
            deliveries_created: false,
        };
        for job in jobs.by_ref() {
            match job.0.apply(&mut tx) {
                Ok(answer) => answers.push(answer),
                Err(failed) => {
                    let (answer, why) = *failed;
                    answers.push(answer);
                    failed_with = Some(why.clone());
                    return Err(Error::Storage(StorageError::Commit(why)));
                }
            }
        }
        tx.purge(purge_budget)?;
        tx.finish()?;
        effects = std::mem::take(&mut tx.effects);
        Ok(())
    });
    match outcome {
        Ok(()) => {
            store.commit_failing.store(false, Ordering::Relaxed);
            install(store, effects);
            answers.into_iter().for_each(|a| a.send());
        }
        Err(e) => {
            let why = failed_with.unwrap_or_else(|| e.to_string());
            tracing::error!(error = %why, "a group of changes failed to commit");
            store.commit_failing.store(true, Ordering::Relaxed);
            answers.into_iter().for_each(|a| a.fail(&why));
            jobs.for_each(|job| job.fail(&why));
        }
    }
}

impl Tx<'_> {
    /// Writes what the group staged across commands: read and deleted sets, sequence
    /// numbers, the next delivery id.
    fn finish(&mut self) -> Result<(), Error> {
        for ((account, reader, chunk), bitmap) in self.read_chunks.drain() {
            self.db.put_read_chunk(account, reader, chunk, &bitmap)?;
            self.effects
                .push(Effect::ReadChunk(account, reader, chunk, bitmap));
        }
        for ((account, chunk), bitmap) in self.purge_chunks.drain() {
            self.db.put_purge_chunk(account, chunk, &bitmap)?;
            self.effects
                .push(Effect::PurgeChunk(account, chunk, bitmap));
        }
        for (account, (next, _)) in &self.sequences {
            self.db.put_next_seq(*account, *next)?;
        }
        if self.deliveries_created {
            let next = self.store.next_delivery.load(Ordering::Relaxed);
            self.db.put_next_delivery(next)?;
        }
        Ok(())
    }
}

/// Applies a committed group's effects to the in-memory state.
fn install(store: &Store, effects: Vec<Effect>) {
    let mut state = store.state.write();
    let mut queue = store.queue.lock();
    let mut woke = false;
    let mut stored = false;
    let mut live = store.live.any().then(LiveChanges::default);
    for effect in effects {
        if let Some(live) = &mut live {
            live.note(&effect);
        }
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
            Effect::MandatoryRule(id, record) => {
                let rules = std::sync::Arc::make_mut(&mut state.mandatory);
                match record {
                    Some(record) => rules.insert(id, record),
                    None => rules.remove(&id),
                };
            }
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
            Effect::Text(account, seq, title, body) => {
                store.text.feed(account, seq, title, body);
                stored = true;
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
        store.wake.notify_one();
    }
    if stored {
        store.text.wake();
    }
    if let Some(live) = live {
        store.live.record(live.finish());
    }
}

/// What a group changed in the inboxes, gathered for the live feeds while its effects are
/// installed: the feeds get it once the state shows it.
#[derive(Default)]
struct LiveChanges {
    changes: HashMap<AccountId, Vec<Change>>,
    removed: HashMap<AccountId, Vec<(u32, Category)>>,
}

impl LiveChanges {
    fn note(&mut self, effect: &Effect) {
        match effect {
            Effect::Added(account, seq, category, ..) => self
                .changes
                .entry(*account)
                .or_default()
                .push(Change::Added(*seq, *category)),
            Effect::Removed(account, seq, category, _) => {
                self.removed
                    .entry(*account)
                    .or_default()
                    .push((*seq, *category));
            }
            Effect::User(id, record) => self
                .changes
                .entry(AccountId(record.account))
                .or_default()
                .push(Change::Access(id.0)),
            Effect::UserGone(id, account, _) => self
                .changes
                .entry(AccountId(*account))
                .or_default()
                .push(Change::Access(id.0)),
            Effect::ReadChunk(account, reader, ..) => {
                let changes = self.changes.entry(*account).or_default();
                let read = Change::Read(*reader);
                if !changes
                    .iter()
                    .any(|c| matches!(c, Change::Read(r) if r == reader))
                {
                    changes.push(read);
                }
            }
            _ => {}
        }
    }

    fn finish(mut self) -> HashMap<AccountId, Vec<Change>> {
        for (account, removed) in self.removed {
            let change = if removed.len() > live::MAX_LISTED {
                let mut categories: Vec<Category> = removed.iter().map(|&(_, c)| c).collect();
                categories.sort_unstable_by_key(|c| c.index());
                categories.dedup();
                Change::ManyRemoved(categories)
            } else {
                Change::Removed(removed)
            };
            self.changes.entry(account).or_default().push(change);
        }
        self.changes
    }
}
