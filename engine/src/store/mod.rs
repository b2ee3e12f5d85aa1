//! The store: one redb file (or memory) holding accounts, users, token hashes, messages and
//! read sets, plus the in-memory indexes derived from it.
//!
//! Every change goes through the single writer thread ([`writer`]), which groups concurrent
//! requests into shared commits; readers use redb read transactions and the indexes. The
//! store never decides who may do what: callers authorize first.

pub(crate) mod backend;
mod bitmap;
pub(crate) mod index;
pub(crate) mod queue;
pub(crate) mod records;
pub(crate) mod recovery;
mod redb_backend;
pub(crate) mod snapshot;
mod state;
pub(crate) mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use parking_lot::{Mutex, RwLock};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use roaring::RoaringBitmap;

use self::index::{AccountIndex, Query};
use self::queue::Queue;
use self::records::{
    AccountRecord, ChannelRecord, MessageRecord, MessageText, SubscriptionRecord, decode, encode,
};
pub(crate) use self::state::{State, Subscribed};
use crate::access::Reader;
use crate::error::{Error, StorageError};
use crate::filter::{CategorySet, Filter, ReadStatus, TextMatcher};
use crate::ids::{AccountId, UserId};
use crate::model::Category;
use crate::schedule::RetrySchedule;
use crate::secrets::Secrets;

/// The on-disk format this build reads and writes. Bump it, and add a migration in
/// [`Store::open`], whenever a table or record layout changes.
pub(crate) const SCHEMA_VERSION: u64 = 2;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The [`META`] key of the fingerprint of the secret key that sealed the channel
/// configurations; absent while none is sealed (an in-memory store without a key).
pub(crate) const KEY_FINGERPRINT: &str = "secret_key_fingerprint";
pub(crate) const ACCOUNTS: TableDefinition<u64, &[u8]> = TableDefinition::new("accounts");
pub(crate) const USERS: TableDefinition<u64, &[u8]> = TableDefinition::new("users");
pub(crate) const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tokens");
/// (account, seq) -> the message record.
pub(crate) const MESSAGES: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("messages");
/// (account, seq) -> (created µs, category index | severity index << 4): small rows that
/// rebuild the bitmaps on open without reading message bodies.
pub(crate) const MESSAGE_INDEX: TableDefinition<(u64, u32), (i64, u8)> =
    TableDefinition::new("message_index");
/// (account, dedupe key) -> seq.
pub(crate) const DEDUPE: TableDefinition<(u64, &str), u32> = TableDefinition::new("dedupe");
/// (account, reader, chunk) -> a serialized roaring bitmap of read sequence numbers.
pub(crate) const READ_CHUNKS: TableDefinition<(u64, u64, u16), &[u8]> =
    TableDefinition::new("read_chunks");
/// (account, chunk) -> a serialized roaring bitmap of deleted messages whose rows are still
/// on disk: deletion is this bit, the rows go later in small batches.
pub(crate) const PURGE_CHUNKS: TableDefinition<(u64, u16), &[u8]> =
    TableDefinition::new("purge_chunks");
/// account -> the next sequence number, so numbers are never reused after deletes.
pub(crate) const SEQUENCES: TableDefinition<u64, u32> = TableDefinition::new("sequences");

/// (account, channel id) -> the channel record.
pub(crate) const CHANNELS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("channels");
/// (account, contact id) -> the contact record.
pub(crate) const CONTACTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("contacts");
/// (account, category index) -> the subscription record.
pub(crate) const SUBSCRIPTIONS: TableDefinition<(u64, u8), &[u8]> =
    TableDefinition::new("subscriptions");
/// delivery id -> the delivery record.
pub(crate) const DELIVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("deliveries");
/// (account, seq, delivery id): the deliveries of each message, digests included.
pub(crate) const MESSAGE_DELIVERIES: TableDefinition<(u64, u32, u64), ()> =
    TableDefinition::new("message_deliveries");
/// delivery id -> when it is due (µs): the outbox, every delivery still to be attempted. It
/// is written in the same transaction as the message it delivers.
pub(crate) const OUTBOX: TableDefinition<u64, i64> = TableDefinition::new("outbox");
/// (account, category index, target kind, target id) -> the digest delivery gathering
/// messages for that target until the subscription's next tick.
pub(crate) const DIGEST_OPEN: TableDefinition<(u64, u8, u8, u64), u64> =
    TableDefinition::new("digest_open");
/// (digest delivery id, seq): the messages a digest gathered.
pub(crate) const DIGEST_MEMBERS: TableDefinition<(u64, u32), ()> =
    TableDefinition::new("digest_members");
/// (account, category index) -> the last digest tick that was closed, µs.
pub(crate) const DIGEST_TICKS: TableDefinition<(u64, u8), i64> =
    TableDefinition::new("digest_ticks");
/// (account, target kind, target id, delivery id): failed deliveries, for re-queueing a
/// channel's dead letters.
pub(crate) const FAILED: TableDefinition<(u64, u8, u64, u64), ()> = TableDefinition::new("failed");
/// delivery id -> (): attempts under way, written before the plugin runs and removed with
/// the outcome; a row found at open is an attempt a stop cut off (see [`recovery`]).
pub(crate) const RUNNING: TableDefinition<u64, ()> = TableDefinition::new("running");
/// delivery id -> how many of its attempts a stop of the server cut off.
pub(crate) const CUT_OFF: TableDefinition<u64, u32> = TableDefinition::new("cut_off");
/// digest delivery id -> the last member (message sequence) delivered: a digest too large
/// for one plugin call goes out in parts, and a retry starts after the parts that arrived.
pub(crate) const DIGEST_SENT: TableDefinition<u64, u32> = TableDefinition::new("digest_sent");

/// Seals the channel configurations stored plain (by a build that sealed only with an
/// operator's key, or before the store had a key) and records the key's fingerprint. It
/// runs in the transaction that opens the store, so the upgrade happens once and whole. A
/// store sealed with another key is refused: neither re-sealed nor left half readable.
fn seal_plain_channels(txn: &redb::WriteTransaction, secrets: &Secrets) -> Result<(), Error> {
    let mut meta = txn.open_table(META)?;
    let stored = meta.get(KEY_FINGERPRINT)?.map(|v| v.value());
    let Some(ours) = secrets.fingerprint() else {
        return match stored {
            Some(_) => Err(StorageError::SecretKeyMismatch.into()),
            None => Ok(()),
        };
    };
    if stored.is_some_and(|stored| stored != ours) {
        return Err(StorageError::SecretKeyMismatch.into());
    }
    let mut channels = txn.open_table(CHANNELS)?;
    let mut plain = Vec::new();
    for row in channels.iter()? {
        let (key, value) = row?;
        let record: ChannelRecord = decode("channel", value.value())?;
        if !record.sealed {
            plain.push((key.value(), record));
        } else if stored.is_none() && secrets.open(&record.config, true).is_err() {
            // Sealed before fingerprints were kept, with another key.
            return Err(StorageError::SecretKeyMismatch.into());
        }
    }
    for (key, mut record) in plain {
        let text = secrets
            .open(&record.config, false)
            .map_err(|detail| StorageError::Corrupt {
                what: "channel",
                detail,
            })?;
        (record.config, record.sealed) = secrets.seal(&text)?;
        channels.insert(key, encode("channel", &record)?.as_slice())?;
    }
    meta.insert(KEY_FINGERPRINT, ours)?;
    Ok(())
}

/// The database and the state derived from it.
pub(crate) struct Store {
    pub(crate) db: Database,
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
}

impl Store {
    /// Opens the store in the file at `path` (created if missing), or in memory, with a
    /// page cache of `cache_bytes` (default: redb's own); see [`Store::open_database`].
    pub(crate) fn open(
        path: Option<&std::path::Path>,
        cache_bytes: Option<usize>,
        retry: RetrySchedule,
        secrets: &Secrets,
        now: i64,
    ) -> Result<Store, Error> {
        let mut builder = Database::builder();
        if let Some(bytes) = cache_bytes {
            builder.set_cache_size(bytes);
        }
        let db = match path {
            Some(path) => builder.create(path)?,
            None => builder.create_with_backend(redb::backends::InMemoryBackend::new())?,
        };
        Store::open_database(db, retry, secrets, now)
    }

    /// Prepares the tables of `db` (creating them in a new file), checks the schema
    /// version, seals channel configurations still stored plain, and loads the state.
    /// Attempts a stop cut off are settled at `now` (µs).
    pub(crate) fn open_database(
        db: Database,
        retry: RetrySchedule,
        secrets: &Secrets,
        now: i64,
    ) -> Result<Store, Error> {
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get("schema_version")?.map(|v| v.value());
            match found {
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION)?;
                }
                Some(SCHEMA_VERSION) => {}
                // Version 2 added the delivery tables, created below.
                Some(1) => {
                    meta.insert("schema_version", SCHEMA_VERSION)?;
                }
                Some(found) => {
                    return Err(StorageError::UnsupportedSchema {
                        found,
                        supported: SCHEMA_VERSION,
                    }
                    .into());
                }
            }
            txn.open_table(ACCOUNTS)?;
            txn.open_table(USERS)?;
            txn.open_table(TOKENS)?;
            txn.open_table(MESSAGES)?;
            txn.open_table(MESSAGE_INDEX)?;
            txn.open_table(DEDUPE)?;
            txn.open_table(READ_CHUNKS)?;
            txn.open_table(SEQUENCES)?;
            txn.open_table(PURGE_CHUNKS)?;
            txn.open_table(CHANNELS)?;
            txn.open_table(CONTACTS)?;
            txn.open_table(SUBSCRIPTIONS)?;
            txn.open_table(DELIVERIES)?;
            txn.open_table(MESSAGE_DELIVERIES)?;
            txn.open_table(OUTBOX)?;
            txn.open_table(DIGEST_OPEN)?;
            txn.open_table(DIGEST_MEMBERS)?;
            txn.open_table(DIGEST_TICKS)?;
            txn.open_table(FAILED)?;
            txn.open_table(RUNNING)?;
            txn.open_table(CUT_OFF)?;
            txn.open_table(DIGEST_SENT)?;
        }
        seal_plain_channels(&txn, secrets)?;
        recovery::settle_cut_off(&mut redb_backend::Tables::open(&txn)?, &retry, now)?;
        txn.commit()?;
        let state = load(&db)?;
        let (queue, next_delivery) = load_outbox(&db)?;
        Ok(Store {
            db,
            state: RwLock::new(state),
            queue: Mutex::new(queue),
            wake: tokio::sync::Notify::new(),
            next_delivery: AtomicU64::new(next_delivery),
            retry,
            commit_failing: AtomicBool::new(false),
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

    /// Reads one message record in a read transaction.
    pub(crate) fn message(
        table: &impl ReadableTable<(u64, u32), &'static [u8]>,
        account: AccountId,
        seq: u32,
    ) -> Result<Option<MessageRecord>, Error> {
        match table.get((account.0, seq))? {
            Some(bytes) => Ok(Some(decode("message", bytes.value())?)),
            None => Ok(None),
        }
    }
}

fn deserialize_bitmap(what: &'static str, bytes: &[u8]) -> Result<RoaringBitmap, StorageError> {
    RoaringBitmap::deserialize_from(bytes).map_err(|e| StorageError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

impl Store {
    /// The newest `wanted` messages among `candidates` whose title or body contains the
    /// matcher's text, newest first.
    pub(crate) fn search(
        table: &impl ReadableTable<(u64, u32), &'static [u8]>,
        account: AccountId,
        candidates: &RoaringBitmap,
        matcher: &TextMatcher,
        wanted: usize,
    ) -> Result<Vec<(u32, MessageRecord)>, Error> {
        let mut found = Vec::new();
        Store::scan_text(table, account, candidates, matcher, |seq, bytes| {
            found.push((seq, decode("message", bytes)?));
            Ok(found.len() < wanted)
        })?;
        Ok(found)
    }

    /// Calls `hit` with each message among `candidates` whose title or body contains the
    /// matcher's text, newest first, until it answers false. Dense candidates are read with
    /// one backwards range scan (each B-tree leaf once); sparse ones with point lookups.
    fn scan_text(
        table: &impl ReadableTable<(u64, u32), &'static [u8]>,
        account: AccountId,
        candidates: &RoaringBitmap,
        matcher: &TextMatcher,
        mut hit: impl FnMut(u32, &[u8]) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let (Some(low), Some(high)) = (candidates.min(), candidates.max()) else {
            return Ok(());
        };
        if candidates.len() * 4 < u64::from(high - low) + 1 {
            for seq in candidates.iter().rev() {
                let Some(bytes) = table.get((account.0, seq))? else {
                    continue;
                };
                let bytes = bytes.value();
                if decode_text(bytes)?.matches(matcher) && !hit(seq, bytes)? {
                    break;
                }
            }
            return Ok(());
        }
        for row in table.range((account.0, low)..=(account.0, high))?.rev() {
            let (key, bytes) = row?;
            let seq = key.value().1;
            if !candidates.contains(seq) {
                continue;
            }
            let bytes = bytes.value();
            if decode_text(bytes)?.matches(matcher) && !hit(seq, bytes)? {
                break;
            }
        }
        Ok(())
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
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MESSAGES)?;
        let mut matched = RoaringBitmap::new();
        Store::scan_text(&table, account, &candidates, &matcher, |seq, _| {
            matched.insert(seq);
            Ok(true)
        })?;
        Ok(Some(writer::Searched { matched, upto }))
    }
}

fn decode_text(bytes: &[u8]) -> Result<MessageText<'_>, StorageError> {
    postcard::from_bytes(bytes).map_err(|e| StorageError::Corrupt {
        what: "message",
        detail: e.to_string(),
    })
}

pub(crate) fn no_account(account: AccountId) -> Error {
    Error::NotFound(format!("account {account} does not exist"))
}

fn load(db: &Database) -> Result<State, Error> {
    let txn = db.begin_read()?;
    let mut state = State::default();
    for row in txn.open_table(ACCOUNTS)?.iter()? {
        let (id, bytes) = row?;
        let record: AccountRecord = decode("account", bytes.value())?;
        let id = AccountId(id.value());
        state.account_names.insert(record.name.clone(), id);
        state.accounts.insert(id, record);
        state.inboxes.insert(id, Arc::default());
    }
    for row in txn.open_table(USERS)?.iter()? {
        let (id, bytes) = row?;
        state.put_user(UserId(id.value()), decode("user", bytes.value())?);
    }
    for row in txn.open_table(TOKENS)?.iter()? {
        let (hash, bytes) = row?;
        let hash: [u8; 32] = hash.value().try_into().map_err(|_| StorageError::Corrupt {
            what: "token hash",
            detail: "not 32 bytes".into(),
        })?;
        state.tokens.insert(hash, decode("token", bytes.value())?);
    }
    let mut indexes: HashMap<AccountId, AccountIndex> = HashMap::new();
    for row in txn.open_table(PURGE_CHUNKS)?.iter()? {
        let (key, bytes) = row?;
        let (account, chunk) = key.value();
        let bitmap = deserialize_bitmap("deleted set", bytes.value())?;
        indexes
            .entry(AccountId(account))
            .or_default()
            .purge
            .set_chunk(chunk, bitmap);
    }
    for row in txn.open_table(MESSAGE_INDEX)?.iter()? {
        let (key, value) = row?;
        let (account, seq) = key.value();
        let (created, packed) = value.value();
        let (category, severity) = records::unpack(packed)?;
        let index = indexes.entry(AccountId(account)).or_default();
        if index.purge.contains(seq) {
            index.note_time(seq, created);
        } else {
            index.add(seq, category, severity, created);
        }
    }
    for row in txn.open_table(READ_CHUNKS)?.iter()? {
        let (key, bytes) = row?;
        let (account, reader, chunk) = key.value();
        let bitmap =
            RoaringBitmap::deserialize_from(bytes.value()).map_err(|e| StorageError::Corrupt {
                what: "read set",
                detail: e.to_string(),
            })?;
        indexes
            .entry(AccountId(account))
            .or_default()
            .read
            .entry(Reader(reader))
            .or_default()
            .set_chunk(chunk, bitmap);
    }
    for row in txn.open_table(SEQUENCES)?.iter()? {
        let (account, next) = row?;
        let index = indexes.entry(AccountId(account.value())).or_default();
        index.next_seq = index.next_seq.max(next.value());
    }
    for row in txn.open_table(CHANNELS)?.iter()? {
        let (key, bytes) = row?;
        let (account, id) = key.value();
        state.set_channel(
            AccountId(account),
            id,
            Some(decode("channel", bytes.value())?),
        );
    }
    for row in txn.open_table(CONTACTS)?.iter()? {
        let (key, bytes) = row?;
        let (account, id) = key.value();
        state.set_contact(
            AccountId(account),
            id,
            Some(decode("contact", bytes.value())?),
        );
    }
    for row in txn.open_table(SUBSCRIPTIONS)?.iter()? {
        let (key, bytes) = row?;
        let (account, category) = key.value();
        let category = category_of(category)?;
        let record: SubscriptionRecord = decode("subscription", bytes.value())?;
        let subscribed = Subscribed::new(record).map_err(|e| StorageError::Corrupt {
            what: "subscription",
            detail: e.to_string(),
        })?;
        state
            .subscriptions
            .insert((AccountId(account), category), Arc::new(subscribed));
    }
    for row in txn.open_table(DIGEST_TICKS)?.iter()? {
        let (key, tick) = row?;
        let (account, category) = key.value();
        state
            .digest_ticks
            .insert((AccountId(account), category_of(category)?), tick.value());
    }
    for (account, index) in indexes {
        if let Some(slot) = state.inboxes.get_mut(&account) {
            *slot = Arc::new(RwLock::new(index));
        }
    }
    Ok(state)
}

fn category_of(index: u8) -> Result<Category, StorageError> {
    Category::from_index(usize::from(index)).ok_or_else(|| StorageError::Corrupt {
        what: "category",
        detail: format!("unknown category code {index}"),
    })
}

/// The outbox as a queue (everything due when it was due: nothing is leased after a
/// restart), and the next delivery id.
fn load_outbox(db: &Database) -> Result<(Queue, u64), Error> {
    let txn = db.begin_read()?;
    let mut queue = Queue::default();
    for row in txn.open_table(OUTBOX)?.iter()? {
        let (id, due) = row?;
        queue.schedule(id.value(), due.value());
    }
    // Ids are never reused, even after purges: each is an idempotency key that receivers
    // may remember.
    let stored = txn
        .open_table(META)?
        .get("next_delivery")?
        .map(|v| v.value());
    let after_last = txn
        .open_table(DELIVERIES)?
        .last()?
        .map_or(1, |(id, _)| id.value() + 1);
    let next = stored.unwrap_or(1).max(after_last);
    Ok((queue, next))
}

// redb's errors become the backend errors of the store ([`StorageError::Backend`]).
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> StorageError {
                StorageError::Backend(Box::new(redb::Error::from(e)))
            }
        }
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Storage(StorageError::Backend(Box::new(redb::Error::from(e))))
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Error {
        Error::Storage(StorageError::Backend(Box::new(e)))
    }
}
