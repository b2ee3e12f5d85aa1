//! Reads outside the writer. A [`Snapshot`] is the store as of one commit, with typed
//! operations: a message, the newest messages among candidates (optionally matching a
//! text), a delivery, the deliveries of a message, a digest's next part. Readers (the inbox,
//! delivery attempts, delivery lists) use these and never the backend's transactions.

use roaring::RoaringBitmap;

use super::Store;
use super::backend::ReadTx;
pub(crate) use super::backend::{DigestPart, HistoryKeys};
use super::records::{DeliveryRecord, HistoryRecord, MessageRecord};
use crate::error::Error;
use crate::filter::TextMatcher;
use crate::ids::AccountId;

/// The store as of the last commit when it was taken; later commits are not seen. Cheap to
/// take.
pub(crate) struct Snapshot<'s>(Box<dyn ReadTx + 's>);

impl Store {
    /// A consistent read of the store as of now.
    pub(crate) fn snapshot(&self) -> Result<Snapshot<'_>, Error> {
        Ok(Snapshot(self.backend.read()?))
    }
}

impl Snapshot<'_> {
    /// The stored message `seq` of `account`, deleted or not (the account's index says
    /// which messages are live).
    pub(crate) fn message(
        &self,
        account: AccountId,
        seq: u32,
    ) -> Result<Option<MessageRecord>, Error> {
        self.0.message(account, seq)
    }

    /// The newest `wanted` stored messages of `account` among `candidates`, newest first;
    /// with a `matcher`, only those whose title or body contains its text.
    pub(crate) fn newest(
        &self,
        account: AccountId,
        candidates: &RoaringBitmap,
        matcher: Option<&TextMatcher>,
        wanted: usize,
    ) -> Result<Vec<(u32, MessageRecord)>, Error> {
        self.0.newest(account, candidates, matcher, wanted)
    }

    /// Calls `visit` with the title and body of each stored message of `account` in
    /// `from..to`, lowest first.
    pub(crate) fn texts(
        &self,
        account: AccountId,
        from: u32,
        to: u32,
        visit: &mut dyn FnMut(u32, &str, Option<&str>),
    ) -> Result<(), Error> {
        self.0.texts(account, from, to, visit)
    }

    /// The messages of `account` among `candidates` whose title or body contains the
    /// matcher's text.
    pub(crate) fn matching(
        &self,
        account: AccountId,
        candidates: &RoaringBitmap,
        matcher: &TextMatcher,
    ) -> Result<RoaringBitmap, Error> {
        self.0.matching(account, candidates, matcher)
    }

    /// Delivery `id`, if it is still stored.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // read by the delivery workers
    pub(crate) fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>, Error> {
        self.0.delivery(id)
    }

    /// The deliveries of message `seq` of `account`, by id.
    pub(crate) fn deliveries_of(
        &self,
        account: AccountId,
        seq: u32,
    ) -> Result<Vec<(u64, DeliveryRecord)>, Error> {
        self.0.deliveries_of(account, seq)
    }

    /// The last member of digest `id` that an earlier part carried, if one arrived.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // read by the delivery workers
    pub(crate) fn digest_sent(&self, id: u64) -> Result<Option<u32>, Error> {
        self.0.digest_sent(id)
    }

    /// The next part of digest `id` of `account`: its members from `from` on that `live`
    /// keeps, in order, as long as `fits(messages taken, stored bytes taken with the next
    /// one)` allows one more; the first is always taken, however large. Each message is
    /// read and decoded only once it is taken.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // read by the delivery workers
    pub(crate) fn digest_part(
        &self,
        account: AccountId,
        id: u64,
        from: u32,
        live: impl Fn(u32) -> bool,
        fits: impl Fn(usize, usize) -> bool,
    ) -> Result<DigestPart, Error> {
        self.0.digest_part(account, id, from, &live, &fits)
    }

    /// Calls `visit` with the history entries of `book` among `keys` below the id `before`
    /// (all when `None`), newest first, until it answers false.
    pub(crate) fn history(
        &self,
        book: AccountId,
        keys: &HistoryKeys,
        before: Option<u64>,
        visit: &mut dyn FnMut(u64, HistoryRecord) -> bool,
    ) -> Result<(), Error> {
        self.0.history(book, keys, before, visit)
    }
}
