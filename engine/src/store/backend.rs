//! The storage seam: what the writer's commands and the recovery at open may do to stored
//! data, as typed operations on one write transaction. A backend (redb today, in
//! [`super::redb`]) implements [`WriteTx`]; everything above it speaks in records and ids,
//! never in tables, keys or encodings.
//!
//! Every change made through one [`WriteTx`] commits together or not at all, and a read
//! through it sees the changes made through it before.

use roaring::RoaringBitmap;

use super::records::{
    AccountRecord, ChannelRecord, ContactRecord, DeliveryRecord, MessageRecord, SubscriptionRecord,
    TargetKey, TokenOwner, UserRecord,
};
use crate::access::Reader;
use crate::error::Error;
use crate::filter::TextMatcher;
use crate::ids::{AccountId, UserId};
use crate::model::Category;

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
}
