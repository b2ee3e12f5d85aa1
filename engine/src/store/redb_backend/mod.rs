//! The redb backend: one redb file (or memory) with a table per kind of record, records
//! encoded with postcard. [`Redb`] implements [`Backend`]; `write` holds the write
//! transaction's typed operations, `read` the reads as of one commit.

mod read;
mod write;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use roaring::RoaringBitmap;

use self::read::RedbRead;
use self::write::Tables;
use super::backend::{Backend, Loader, ReadTx, WriteTx};
use super::records::{ChannelRecord, MessageRecord, SubscriptionRecord, decode, encode};
use crate::access::Reader;
use crate::error::{Error, StorageError};
use crate::ids::{AccountId, UserId};
use crate::model::Category;
use crate::schedule::RetrySchedule;
use crate::secrets::Secrets;

/// The on-disk format this build reads and writes. Bump it, and add a migration in
/// [`Redb::open`], whenever a table or record layout changes.
pub(crate) const SCHEMA_VERSION: u64 = 3;

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
/// (book, entry id) -> a history entry: a book is an account id, or 0 for the operator's
/// own changes. Entry ids grow across the store (the next is [`META`]'s `next_history`), so
/// a book's entries are in the order they were made.
pub(crate) const HISTORY: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("history");
/// (book, subject code, entry id): a book's entries of each kind, so that a history
/// filtered by kind reads only those.
pub(crate) const HISTORY_BY_KIND: TableDefinition<(u64, u8, u64), ()> =
    TableDefinition::new("history_by_kind");
/// (book, category index, entry id): a book's entries that concern each category, so that a
/// user scoped to some categories reads only those.
pub(crate) const HISTORY_BY_CATEGORY: TableDefinition<(u64, u8, u64), ()> =
    TableDefinition::new("history_by_category");
/// rule id -> a mandatory rule.
pub(crate) const MANDATORY_RULES: TableDefinition<u64, &[u8]> =
    TableDefinition::new("mandatory_rules");

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

/// Re-encodes every account, channel, contact and subscription from the layout of schema
/// version 2 to the current one, in the transaction that opens the store: a crash during
/// the upgrade leaves the file as it was.
fn migrate_records_to_v3(txn: &redb::WriteTransaction) -> Result<(), Error> {
    use super::records::{AccountRecord, ContactRecord, v2};
    fn rewrite<K, Old, New>(
        txn: &redb::WriteTransaction,
        table: TableDefinition<K, &'static [u8]>,
        what: &'static str,
    ) -> Result<(), Error>
    where
        K: redb::Key + 'static,
        for<'a> K: redb::Value<SelfType<'a> = K>,
        K: Copy,
        Old: serde::de::DeserializeOwned,
        New: From<Old> + serde::Serialize,
    {
        let mut open = txn.open_table(table)?;
        let mut rows = Vec::new();
        for row in open.iter()? {
            let (key, value) = row?;
            let old: Old = decode(what, value.value())?;
            rows.push((key.value(), encode(what, &New::from(old))?));
        }
        for (key, bytes) in rows {
            open.insert(key, bytes.as_slice())?;
        }
        Ok(())
    }
    rewrite::<u64, v2::Account, AccountRecord>(txn, ACCOUNTS, "account")?;
    rewrite::<(u64, u64), v2::Channel, ChannelRecord>(txn, CHANNELS, "channel")?;
    rewrite::<(u64, u64), v2::Contact, ContactRecord>(txn, CONTACTS, "contact")?;
    rewrite::<(u64, u8), v2::Subscription, SubscriptionRecord>(txn, SUBSCRIPTIONS, "subscription")?;
    Ok(())
}

/// Reads one message record.
fn message(
    table: &impl ReadableTable<(u64, u32), &'static [u8]>,
    account: AccountId,
    seq: u32,
) -> Result<Option<MessageRecord>, Error> {
    match table.get((account.0, seq))? {
        Some(bytes) => Ok(Some(decode("message", bytes.value())?)),
        None => Ok(None),
    }
}

fn deserialize_bitmap(what: &'static str, bytes: &[u8]) -> Result<RoaringBitmap, StorageError> {
    RoaringBitmap::deserialize_from(bytes).map_err(|e| StorageError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// The redb backend.
pub(crate) struct Redb {
    db: Database,
}

impl Redb {
    /// Opens the file at `path` (created if missing), or a store in memory, with a page
    /// cache of `cache_bytes` (default: redb's own); see [`Redb::prepare`].
    pub(crate) fn open(
        path: Option<&std::path::Path>,
        cache_bytes: Option<usize>,
        retry: &RetrySchedule,
        secrets: &Secrets,
        now: i64,
    ) -> Result<Redb, Error> {
        let mut builder = Database::builder();
        if let Some(bytes) = cache_bytes {
            builder.set_cache_size(bytes);
        }
        let db = match path {
            Some(path) => builder.create(path)?,
            None => builder.create_with_backend(redb::backends::InMemoryBackend::new())?,
        };
        Redb::prepare(db, retry, secrets, now)
    }

    /// Prepares the tables of `db` (creating them in a new file), checks the schema
    /// version, seals channel configurations still stored plain, and settles the attempts a
    /// stop cut off, at `now` (µs), in one transaction.
    pub(crate) fn prepare(
        db: Database,
        retry: &RetrySchedule,
        secrets: &Secrets,
        now: i64,
    ) -> Result<Redb, Error> {
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get("schema_version")?.map(|v| v.value());
            match found {
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION)?;
                }
                Some(SCHEMA_VERSION) => {}
                // Version 2 added the delivery tables, created below; version 3 added
                // fields to four records, re-encoded here. Version 1 wrote those records
                // as version 2 did.
                Some(1 | 2) => {
                    meta.insert("schema_version", SCHEMA_VERSION)?;
                    drop(meta);
                    migrate_records_to_v3(&txn)?;
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
            // Added without a schema change: a store from before simply has none yet.
            txn.open_table(HISTORY)?;
            txn.open_table(HISTORY_BY_KIND)?;
            txn.open_table(HISTORY_BY_CATEGORY)?;
            txn.open_table(MANDATORY_RULES)?;
        }
        seal_plain_channels(&txn, secrets)?;
        super::recovery::settle_cut_off(&mut Tables::open(&txn)?, retry, now)?;
        txn.commit()?;
        Ok(Redb { db })
    }
}

impl Backend for Redb {
    fn write(
        &self,
        apply: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut txn = self.db.begin_write()?;
        // Durability stays Immediate (redb's default): one fsync per commit. Quick repair
        // would add allocator bookkeeping to every commit to speed up recovery after a
        // crash.
        txn.set_quick_repair(false);
        {
            let mut tables = Tables::open(&txn)?;
            apply(&mut tables)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn read(&self) -> Result<Box<dyn ReadTx + '_>, Error> {
        Ok(Box::new(RedbRead::new(self.db.begin_read()?)))
    }

    fn load(&self, loader: &mut dyn Loader) -> Result<u64, Error> {
        let txn = self.db.begin_read()?;
        for row in txn.open_table(ACCOUNTS)?.iter()? {
            let (id, bytes) = row?;
            loader.account(AccountId(id.value()), decode("account", bytes.value())?);
        }
        for row in txn.open_table(USERS)?.iter()? {
            let (id, bytes) = row?;
            loader.user(UserId(id.value()), decode("user", bytes.value())?);
        }
        for row in txn.open_table(TOKENS)?.iter()? {
            let (hash, bytes) = row?;
            let hash: [u8; 32] = hash.value().try_into().map_err(|_| StorageError::Corrupt {
                what: "token hash",
                detail: "not 32 bytes".into(),
            })?;
            loader.token(hash, decode("token", bytes.value())?);
        }
        for row in txn.open_table(PURGE_CHUNKS)?.iter()? {
            let (key, bytes) = row?;
            let (account, chunk) = key.value();
            let bitmap = deserialize_bitmap("deleted set", bytes.value())?;
            loader.deleted(AccountId(account), chunk, bitmap);
        }
        for row in txn.open_table(MESSAGE_INDEX)?.iter()? {
            let (key, value) = row?;
            let (account, seq) = key.value();
            let (created, packed) = value.value();
            let (category, severity) = super::records::unpack(packed)?;
            loader.message(AccountId(account), seq, created, category, severity);
        }
        for row in txn.open_table(READ_CHUNKS)?.iter()? {
            let (key, bytes) = row?;
            let (account, reader, chunk) = key.value();
            let bitmap = deserialize_bitmap("read set", bytes.value())?;
            loader.read(AccountId(account), Reader(reader), chunk, bitmap);
        }
        for row in txn.open_table(SEQUENCES)?.iter()? {
            let (account, next) = row?;
            loader.next_seq(AccountId(account.value()), next.value());
        }
        for row in txn.open_table(CHANNELS)?.iter()? {
            let (key, bytes) = row?;
            let (account, id) = key.value();
            loader.channel(AccountId(account), id, decode("channel", bytes.value())?);
        }
        for row in txn.open_table(CONTACTS)?.iter()? {
            let (key, bytes) = row?;
            let (account, id) = key.value();
            loader.contact(AccountId(account), id, decode("contact", bytes.value())?);
        }
        for row in txn.open_table(SUBSCRIPTIONS)?.iter()? {
            let (key, bytes) = row?;
            let (account, category) = key.value();
            let record: SubscriptionRecord = decode("subscription", bytes.value())?;
            loader.subscription(AccountId(account), category_of(category)?, record)?;
        }
        for row in txn.open_table(DIGEST_TICKS)?.iter()? {
            let (key, tick) = row?;
            let (account, category) = key.value();
            loader.digest_tick(AccountId(account), category_of(category)?, tick.value());
        }
        for row in txn.open_table(OUTBOX)?.iter()? {
            let (id, due) = row?;
            loader.due(id.value(), due.value());
        }
        for row in txn.open_table(MANDATORY_RULES)?.iter()? {
            let (id, bytes) = row?;
            loader.mandatory_rule(id.value(), decode("mandatory rule", bytes.value())?);
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
        Ok(stored.unwrap_or(1).max(after_last))
    }
}

fn category_of(index: u8) -> Result<Category, StorageError> {
    Category::from_index(usize::from(index)).ok_or_else(|| StorageError::Corrupt {
        what: "category",
        detail: format!("unknown category code {index}"),
    })
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
