//! The store: accounts, users, token hashes, messages, read sets, channels, contacts,
//! subscriptions, deliveries, change histories and mandatory rules in a storage backend ([`backend`]: redb by default), plus
//! the in-memory state and indexes derived from it.
//!
//! Every change goes through the single writer thread ([`writer`]), which groups concurrent
//! commands into shared commits; readers use a [`snapshot`] and the indexes. The store knows
//! no domain and never decides who may do what: callers authorize first, and each domain
//! defines its commands.

pub(crate) mod backend;
mod bitmap;
pub(crate) mod index;
pub(crate) mod live;
pub(crate) mod queue;
pub(crate) mod records;
pub(crate) mod recovery;
mod redb_backend;
pub(crate) mod snapshot;
mod state;
pub(crate) mod text;
pub(crate) mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;

use self::backend::{Backend, Loader};
use self::index::{AccountIndex, Query};
use self::queue::Queue;
use self::records::{
    AccountRecord, ChannelRecord, ContactRecord, MandatoryRuleRecord, SubscriptionRecord,
    TokenOwner, UserRecord,
};
#[cfg(test)]
pub(crate) use self::redb_backend::{
    ACCOUNTS, CHANNELS, CONTACTS, KEY_FINGERPRINT, META, SUBSCRIPTIONS,
};
pub(crate) use self::state::{State, Subscribed};
use crate::access::Reader;
use crate::error::{Error, StorageError};
use crate::filter::{CategorySet, Filter, ReadStatus, TextMatcher};
use crate::ids::{AccountId, UserId};
use crate::model::{Category, Severity};
use crate::schedule::RetrySchedule;
use crate::secrets::Secrets;

/// The stored data and the state derived from it.
pub(crate) struct Store {
    /// Where the records live.
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) state: RwLock<State>,
    /// The outbox's due times and the leases of deliveries in flight.
    pub(crate) queue: Mutex<Queue>,
    /// Wakes the delivery workers when something became due.
    pub(crate) wake: tokio::sync::Notify,
    /// The next delivery id (only the writer takes ids).
    pub(crate) next_delivery: AtomicU64,
    /// The delay before each attempt.
    pub(crate) retry: RetrySchedule,
    /// Whether the writer's last group failed to commit (a full disk, an I/O error).
    pub(crate) commit_failing: AtomicBool,
    /// Which messages may contain a search text, built behind the writer.
    pub(crate) text: text::TextIndexes,
    /// The recent changes of watched accounts, for live event streams.
    pub(crate) live: live::LiveFeeds,
}

impl Store {
    /// Opens the store in the redb file at `path` (created if missing), or in memory, with a
    /// page cache of `cache_bytes` (default: redb's own). Attempts a stop cut off are
    /// settled at `now` (µs).
    pub(crate) fn open(
        path: Option<&std::path::Path>,
        cache_bytes: Option<usize>,
        retry: RetrySchedule,
        secrets: &Secrets,
        now: i64,
    ) -> Result<Store, Error> {
        let backend = redb_backend::Redb::open(path, cache_bytes, &retry, secrets, now)?;
        Store::with_backend(Box::new(backend), retry)
    }

    /// The store over a prepared backend: loads the in-memory state from it.
    pub(crate) fn with_backend(
        backend: Box<dyn Backend>,
        retry: RetrySchedule,
    ) -> Result<Store, Error> {
        let mut loading = Loading::default();
        let next_delivery = backend.load(&mut loading)?;
        let text = text::TextIndexes::opened(
            loading
                .indexes
                .iter()
                .map(|(&account, index)| (account, index.next_seq)),
        );
        let state = loading.finish();
        Ok(Store {
            backend,
            state: RwLock::new(state),
            queue: Mutex::new(loading.queue),
            wake: tokio::sync::Notify::new(),
            next_delivery: AtomicU64::new(next_delivery),
            retry,
            commit_failing: AtomicBool::new(false),
            text,
            live: live::LiveFeeds::default(),
        })
    }

    /// The index of `account`'s inbox, or not found.
    pub(crate) fn inbox(&self, account: AccountId) -> Result<Arc<RwLock<AccountIndex>>, Error> {
        self.state
            .read()
            .inboxes
            .get(&account)
            .cloned()
            .ok_or_else(|| no_account(account))
    }

    /// The text matches a bulk job with `filter` needs, found on the caller's thread from
    /// the last commit, so that the writer does not scan (see [`writer::Searched`]). `None`
    /// when the filter has no text.
    pub(crate) fn search_for_bulk(
        &self,
        account: AccountId,
        filter: &Filter,
        visible: CategorySet,
    ) -> Result<Option<writer::Searched>, Error> {
        let Some(text) = &filter.text else {
            return Ok(None);
        };
        let inbox = self.inbox(account)?;
        let (candidates, upto) = {
            let index = inbox.read();
            // Read state is the writer's to apply, as of its commit.
            let query = Query {
                status: ReadStatus::All,
                ..index.compile(filter, visible, Reader(0))
            };
            let mut candidates = RoaringBitmap::new();
            if !query.is_empty() {
                let mut top = index.next_chunk(u16::MAX);
                while let Some(chunk) = top {
                    candidates |= index.candidates(&query, chunk);
                    top = chunk.checked_sub(1).and_then(|c| index.next_chunk(c));
                }
            }
            (candidates, index.next_seq)
        };
        let matcher = TextMatcher::new(text);
        let mut candidates = candidates;
        if let Some(narrowing) = self.text.narrowing(account, matcher.lowered()) {
            narrowing.apply(&mut candidates);
        }
        let matched = self.snapshot()?.matching(account, &candidates, &matcher)?;
        Ok(Some(writer::Searched { matched, upto }))
    }
}

pub(crate) fn no_account(account: AccountId) -> Error {
    Error::NotFound(format!("account {account} does not exist"))
}

/// The in-memory state as it is built from the backend's rows at open.
#[derive(Default)]
struct Loading {
    state: State,
    indexes: HashMap<AccountId, AccountIndex>,
    queue: Queue,
}

impl Loading {
    fn finish(&mut self) -> State {
        let mut state = std::mem::take(&mut self.state);
        for (account, index) in self.indexes.drain() {
            if let Some(slot) = state.inboxes.get_mut(&account) {
                *slot = Arc::new(RwLock::new(index));
            }
        }
        state
    }
}

impl Loader for Loading {
    fn account(&mut self, id: AccountId, record: AccountRecord) {
        self.state.account_names.insert(record.name.clone(), id);
        self.state.accounts.insert(id, record);
        self.state.inboxes.insert(id, Arc::default());
    }

    fn user(&mut self, id: UserId, record: UserRecord) {
        self.state.put_user(id, record);
    }

    fn token(&mut self, hash: [u8; 32], owner: TokenOwner) {
        self.state.tokens.insert(hash, owner);
    }

    fn deleted(&mut self, account: AccountId, chunk: u16, deleted: RoaringBitmap) {
        self.indexes
            .entry(account)
            .or_default()
            .purge
            .set_chunk(chunk, deleted);
    }

    fn message(
        &mut self,
        account: AccountId,
        seq: u32,
        created: i64,
        category: Category,
        severity: Severity,
    ) {
        let index = self.indexes.entry(account).or_default();
        if index.purge.contains(seq) {
            index.note_time(seq, created);
        } else {
            index.add(seq, category, severity, created);
        }
    }

    fn read(&mut self, account: AccountId, reader: Reader, chunk: u16, read: RoaringBitmap) {
        self.indexes
            .entry(account)
            .or_default()
            .read
            .entry(reader)
            .or_default()
            .set_chunk(chunk, read);
    }

    fn next_seq(&mut self, account: AccountId, next: u32) {
        let index = self.indexes.entry(account).or_default();
        index.next_seq = index.next_seq.max(next);
    }

    fn channel(&mut self, account: AccountId, id: u64, record: ChannelRecord) {
        self.state.set_channel(account, id, Some(record));
    }

    fn contact(&mut self, account: AccountId, id: u64, record: ContactRecord) {
        self.state.set_contact(account, id, Some(record));
    }

    fn subscription(
        &mut self,
        account: AccountId,
        category: Category,
        record: SubscriptionRecord,
    ) -> Result<(), Error> {
        let subscribed = Subscribed::new(record).map_err(|e| StorageError::Corrupt {
            what: "subscription",
            detail: e.to_string(),
        })?;
        self.state
            .subscriptions
            .insert((account, category), Arc::new(subscribed));
        Ok(())
    }

    fn digest_tick(&mut self, account: AccountId, category: Category, tick: i64) {
        self.state.digest_ticks.insert((account, category), tick);
    }

    fn due(&mut self, id: u64, due: i64) {
        self.queue.schedule(id, due);
    }

    fn mandatory_rule(&mut self, id: u64, record: MandatoryRuleRecord) {
        Arc::make_mut(&mut self.state.mandatory).insert(id, record);
    }
}
