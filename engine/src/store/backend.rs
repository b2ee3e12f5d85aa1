//! The storage seam. A backend stores the records and hands out three things: a write
//! transaction with typed operations ([`WriteTx`]), used by the writer's commands and by
//! the recovery at open; a consistent read as of one commit ([`ReadTx`]), used by readers
//! outside the writer; and, at open, every row the in-memory state is built from
//! ([`Loader`]). Everything above it speaks in records and ids, never in tables, keys or
//! encodings; the redb backend (`redb_backend`) is the only module that knows redb.
//!
//! Every change made through one [`WriteTx`] commits together or not at all, and a read
//! through it sees the changes made through it before.

use roaring::RoaringBitmap;

use super::records::{
    AccountRecord, ChannelRecord, ContactRecord, DeliveryRecord, HistoryRecord,
    MandatoryRuleRecord, MessageRecord, SubjectRecord, SubscriptionRecord, TargetKey, TokenOwner,
    UserRecord,
};
use crate::access::Reader;
use crate::error::Error;
use crate::filter::TextMatcher;
use crate::ids::{AccountId, UserId};
use crate::model::{Category, Severity};

/// A storage backend: where the records live.
pub(crate) trait Backend: Send + Sync {
    /// Runs `apply` in one write transaction and commits what it changed, durably, before
    /// answering; nothing is committed when `apply` or the commit fails.
    fn write(
        &self,
        apply: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), Error>,
    ) -> Result<(), Error>;

    /// A consistent read of what is committed now; later commits are not seen through it.
    fn read(&self) -> Result<Box<dyn ReadTx + '_>, Error>;

    /// Hands every row the in-memory state is built from to `loader` (deleted sets before
    /// the messages of their account), and answers the next delivery id.
    fn load(&self, loader: &mut dyn Loader) -> Result<u64, Error>;
}

/// A consistent read of a backend as of one commit.
pub(crate) trait ReadTx: Send {
    /// A stored message, deleted or not (the account's index says which messages are live).
    fn message(&self, account: AccountId, seq: u32) -> Result<Option<MessageRecord>, Error>;
    /// The newest `wanted` stored messages of `account` among `candidates`, newest first;
    /// with a `matcher`, only those whose title or body contains its text.
    fn newest(
        &self,
        account: AccountId,
        candidates: &RoaringBitmap,
        matcher: Option<&TextMatcher>,
        wanted: usize,
    ) -> Result<Vec<(u32, MessageRecord)>, Error>;
    /// The messages among `candidates` whose title or body contains the matcher's text.
    fn matching(
        &self,
        account: AccountId,
        candidates: &RoaringBitmap,
        matcher: &TextMatcher,
    ) -> Result<RoaringBitmap, Error>;
    /// Calls `visit` with the title and body of each stored message of `account` whose
    /// sequence number is in `from..to`, lowest first (what the text index is built from).
    fn texts(
        &self,
        account: AccountId,
        from: u32,
        to: u32,
        visit: &mut dyn FnMut(u32, &str, Option<&str>),
    ) -> Result<(), Error>;
    /// A delivery, if it is still stored.
    fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>, Error>;
    /// The deliveries of a message, by id.
    fn deliveries_of(
        &self,
        account: AccountId,
        seq: u32,
    ) -> Result<Vec<(u64, DeliveryRecord)>, Error>;
    /// The last member of a digest that an earlier part carried, if one arrived.
    fn digest_sent(&self, id: u64) -> Result<Option<u32>, Error>;
    /// The next part of a digest: see [`super::snapshot::Snapshot::digest_part`].
    fn digest_part(
        &self,
        account: AccountId,
        id: u64,
        from: u32,
        live: &dyn Fn(u32) -> bool,
        fits: &dyn Fn(usize, usize) -> bool,
    ) -> Result<DigestPart, Error>;
    /// Calls `visit` with the history entries of `book` (an account, or the operator's
    /// book) among `keys` whose ids are below `before` (all when `None`), newest first,
    /// until it answers false. Entries outside `keys` are not read.
    fn history(
        &self,
        book: AccountId,
        keys: &HistoryKeys,
        before: Option<u64>,
        visit: &mut dyn FnMut(u64, HistoryRecord) -> bool,
    ) -> Result<(), Error>;
}

/// Which entries of a history book a read walks: every one, or (through an index) only
/// those of some subjects, or only those that concern some categories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HistoryKeys {
    All,
    Subjects(Vec<SubjectRecord>),
    Categories(Vec<Category>),
}

/// The next part of a digest: its messages in member order, and whether members remain
/// after them.
#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // read by the delivery workers
pub(crate) struct DigestPart {
    pub(crate) messages: Vec<(u32, MessageRecord)>,
    pub(crate) more: bool,
}

/// Receives the stored rows the in-memory state is built from, when the store opens.
pub(crate) trait Loader {
    /// An account.
    fn account(&mut self, id: AccountId, record: AccountRecord);
    /// A user.
    fn user(&mut self, id: UserId, record: UserRecord);
    /// A token hash and whom it belongs to.
    fn token(&mut self, hash: [u8; 32], owner: TokenOwner);
    /// A chunk of an account's set of deleted messages whose rows remain.
    fn deleted(&mut self, account: AccountId, chunk: u16, deleted: RoaringBitmap);
    /// A stored message's index row.
    fn message(
        &mut self,
        account: AccountId,
        seq: u32,
        created: i64,
        category: Category,
        severity: Severity,
    );
    /// A chunk of a reader's read set.
    fn read(&mut self, account: AccountId, reader: Reader, chunk: u16, read: RoaringBitmap);
    /// An account's next sequence number.
    fn next_seq(&mut self, account: AccountId, next: u32);
    /// A channel.
    fn channel(&mut self, account: AccountId, id: u64, record: ChannelRecord);
    /// A contact.
    fn contact(&mut self, account: AccountId, id: u64, record: ContactRecord);
    /// A subscription; an error when its stored rules no longer parse.
    fn subscription(
        &mut self,
        account: AccountId,
        category: Category,
        record: SubscriptionRecord,
    ) -> Result<(), Error>;
    /// The last digest tick closed for a category (µs).
    fn digest_tick(&mut self, account: AccountId, category: Category, tick: i64);
    /// A delivery in the outbox, due at `due` (µs).
    fn due(&mut self, id: u64, due: i64);
    /// A mandatory rule.
    fn mandatory_rule(&mut self, id: u64, record: MandatoryRuleRecord);
}

/// One write transaction of a storage backend.
pub(crate) trait WriteTx {
    // Accounts, users and tokens.

    /// An account's record.
    fn account(&self, id: AccountId) -> Result<Option<AccountRecord>, Error>;
    /// Stores an account's record (new or changed).
    fn put_account(&mut self, id: AccountId, record: &AccountRecord) -> Result<(), Error>;
    /// Records whom a token hash belongs to.
    fn put_token(&mut self, hash: &[u8; 32], owner: TokenOwner) -> Result<(), Error>;
    /// Forgets a token hash.
    fn remove_token(&mut self, hash: &[u8; 32]) -> Result<(), Error>;
    /// A user's record.
    fn user(&self, id: UserId) -> Result<Option<UserRecord>, Error>;
    /// Stores a user's record (new or changed).
    fn put_user(&mut self, id: UserId, record: &UserRecord) -> Result<(), Error>;
    /// Removes a user's record, answering what it was.
    fn remove_user(&mut self, id: UserId) -> Result<Option<UserRecord>, Error>;

    // Messages and their read and deleted sets.

    /// The next sequence number of an account, stored so numbers are never reused.
    fn put_next_seq(&mut self, account: AccountId, next: u32) -> Result<(), Error>;
    /// A message.
    fn message(&self, account: AccountId, seq: u32) -> Result<Option<MessageRecord>, Error>;
    /// Whether a message exists and its title or body holds the matcher's text; reads only
    /// the text.
    fn message_matches(
        &self,
        account: AccountId,
        seq: u32,
        matcher: &TextMatcher,
    ) -> Result<bool, Error>;
    /// The message that holds a dedupe key, if any (it may be deleted: callers check).
    fn deduped(&self, account: AccountId, key: &str) -> Result<Option<u32>, Error>;
    /// Stores a new message with its index row and its dedupe key.
    fn put_message(
        &mut self,
        account: AccountId,
        seq: u32,
        record: &MessageRecord,
    ) -> Result<(), Error>;
    /// Removes a message's rows, and its dedupe key unless a later message took it over.
    fn remove_message(&mut self, account: AccountId, seq: u32) -> Result<(), Error>;
    /// Stores one chunk of a reader's read set.
    fn put_read_chunk(
        &mut self,
        account: AccountId,
        reader: Reader,
        chunk: u16,
        read: &RoaringBitmap,
    ) -> Result<(), Error>;
    /// Removes every chunk of a reader's read set (the reader is gone).
    fn remove_read_set(&mut self, account: AccountId, reader: Reader) -> Result<(), Error>;
    /// Stores one chunk of an account's set of deleted messages whose rows remain; an empty
    /// chunk is removed.
    fn put_purge_chunk(
        &mut self,
        account: AccountId,
        chunk: u16,
        deleted: &RoaringBitmap,
    ) -> Result<(), Error>;

    // Channels, contacts and subscriptions.

    /// Stores a channel (new or changed).
    fn put_channel(
        &mut self,
        account: AccountId,
        id: u64,
        record: &ChannelRecord,
    ) -> Result<(), Error>;
    /// Removes a channel; false when there was none.
    fn remove_channel(&mut self, account: AccountId, id: u64) -> Result<bool, Error>;
    /// Stores a contact (new or changed).
    fn put_contact(
        &mut self,
        account: AccountId,
        id: u64,
        record: &ContactRecord,
    ) -> Result<(), Error>;
    /// Removes a contact; false when there was none.
    fn remove_contact(&mut self, account: AccountId, id: u64) -> Result<bool, Error>;
    /// Stores the subscription of a category.
    fn put_subscription(
        &mut self,
        account: AccountId,
        category: Category,
        record: &SubscriptionRecord,
    ) -> Result<(), Error>;
    /// Removes the subscription of a category; false when there was none.
    fn remove_subscription(
        &mut self,
        account: AccountId,
        category: Category,
    ) -> Result<bool, Error>;

    // Deliveries and the outbox.

    /// The next delivery id, stored so ids are never reused.
    fn put_next_delivery(&mut self, next: u64) -> Result<(), Error>;
    /// A delivery.
    fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>, Error>;
    /// Stores a delivery (new or changed).
    fn put_delivery(&mut self, id: u64, record: &DeliveryRecord) -> Result<(), Error>;
    /// Records that a delivery carries a message (a digest carries several).
    fn link_delivery(&mut self, account: AccountId, seq: u32, id: u64) -> Result<(), Error>;
    /// The deliveries that carry a message, oldest first.
    fn deliveries_of(&self, account: AccountId, seq: u32) -> Result<Vec<u64>, Error>;
    /// When a delivery in the outbox is due (µs); `None` when it is not in the outbox.
    fn due(&self, id: u64) -> Result<Option<i64>, Error>;
    /// Puts a delivery into the outbox, due at `due` (µs), or moves it there.
    fn schedule(&mut self, id: u64, due: i64) -> Result<(), Error>;
    /// Takes a delivery out of the outbox.
    fn unschedule(&mut self, id: u64) -> Result<(), Error>;
    /// Records an attempt under way, before its plugin runs.
    fn begin_attempt(&mut self, id: u64) -> Result<(), Error>;
    /// Forgets an attempt under way (its outcome is being recorded).
    fn end_attempt(&mut self, id: u64) -> Result<(), Error>;
    /// The attempts under way when the store was last closed.
    fn attempts_under_way(&self) -> Result<Vec<u64>, Error>;
    /// How many attempts of a delivery a stop cut off.
    fn cut_off(&self, id: u64) -> Result<u32, Error>;
    /// Stores how many attempts of a delivery a stop cut off; 0 forgets it.
    fn put_cut_off(&mut self, id: u64, times: u32) -> Result<(), Error>;
    /// Files a delivery as a dead letter of its target.
    fn put_failed(&mut self, account: u64, target: TargetKey, id: u64) -> Result<(), Error>;
    /// Takes a delivery out of its target's dead letters.
    fn remove_failed(&mut self, account: u64, target: TargetKey, id: u64) -> Result<(), Error>;
    /// The dead letters of one target.
    fn failed_to(&self, account: AccountId, target: TargetKey) -> Result<Vec<u64>, Error>;
    /// Drops the bookkeeping of a message whose rows are purged: its delivery links, and the
    /// records of its single deliveries that left the outbox (digests stay: they carry
    /// other messages too).
    fn purge_deliveries(&mut self, account: AccountId, seq: u32) -> Result<(), Error>;

    // Digests.

    /// The digest gathering messages of a category for one target.
    fn open_digest(
        &self,
        account: AccountId,
        category: Category,
        target: TargetKey,
    ) -> Result<Option<u64>, Error>;
    /// Records the digest now gathering for a category and target.
    fn put_open_digest(
        &mut self,
        account: AccountId,
        category: Category,
        target: TargetKey,
        id: u64,
    ) -> Result<(), Error>;
    /// Closes every digest gathering for a category, answering their delivery ids.
    fn take_open_digests(
        &mut self,
        account: AccountId,
        category: Category,
    ) -> Result<Vec<u64>, Error>;
    /// Adds a message to a digest.
    fn add_digest_member(&mut self, id: u64, seq: u32) -> Result<(), Error>;
    /// The last digest tick of a category that was closed (µs).
    fn digest_tick(&self, account: AccountId, category: Category) -> Result<Option<i64>, Error>;
    /// Stores the last digest tick of a category that was closed (µs).
    fn put_digest_tick(
        &mut self,
        account: AccountId,
        category: Category,
        tick: i64,
    ) -> Result<(), Error>;
    /// Stores the last member of a digest delivered so far (it goes out in parts).
    fn put_digest_sent(&mut self, id: u64, through: u32) -> Result<(), Error>;

    // Change history and mandatory rules.

    /// Appends an entry to the history of `book` (an account, or the operator's book) and
    /// answers its id: ids grow with every entry of the store and are never reused, so a
    /// page cursor stays valid while entries are added and purged.
    fn append_history(&mut self, book: AccountId, record: &HistoryRecord) -> Result<u64, Error>;
    /// Removes the oldest history entries of `book` made before `cutoff` (µs), at most
    /// `budget` of them, stopping at the first entry made at or after it; answers how many
    /// went.
    fn remove_history_before(
        &mut self,
        book: AccountId,
        cutoff: i64,
        budget: usize,
    ) -> Result<usize, Error>;
    /// Stores a mandatory rule (new or changed).
    fn put_mandatory_rule(&mut self, id: u64, record: &MandatoryRuleRecord) -> Result<(), Error>;
    /// Removes a mandatory rule, answering what it was.
    fn remove_mandatory_rule(&mut self, id: u64) -> Result<Option<MandatoryRuleRecord>, Error>;
}
