//! Reads outside the writer. A [`Snapshot`] is the store as of one commit, with typed
//! operations: a message, the newest messages among candidates (optionally matching a
//! text), a delivery, the deliveries of a message, a digest's next part. Readers (the inbox,
//! delivery attempts, delivery lists) use these and never the backend's transactions or
//! tables, so a second backend implements the same operations.

use std::cell::OnceCell;

use redb::{ReadOnlyTable, ReadTransaction, ReadableDatabase};
use roaring::RoaringBitmap;

use super::records::{DeliveryRecord, MessageRecord, decode};
use super::{DELIVERIES, DIGEST_MEMBERS, DIGEST_SENT, MESSAGE_DELIVERIES, MESSAGES, Store};
use crate::error::Error;
use crate::filter::TextMatcher;
use crate::ids::AccountId;

/// The store as of the last commit when it was taken; later commits are not seen. Cheap to
/// take; tables open on first use.
pub(crate) struct Snapshot {
    txn: ReadTransaction,
    messages: OnceCell<ReadOnlyTable<(u64, u32), &'static [u8]>>,
}

/// The next part of a digest: its messages in member order, and whether members remain
/// after them.
#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // read by the delivery workers
pub(crate) struct DigestPart {
    pub(crate) messages: Vec<(u32, MessageRecord)>,
    pub(crate) more: bool,
}

impl Store {
    /// A consistent read of the store as of now.
    pub(crate) fn snapshot(&self) -> Result<Snapshot, Error> {
        Ok(Snapshot {
            txn: self.db.begin_read()?,
            messages: OnceCell::new(),
        })
    }
}

impl Snapshot {
    fn messages(&self) -> Result<&ReadOnlyTable<(u64, u32), &'static [u8]>, Error> {
        if let Some(table) = self.messages.get() {
            return Ok(table);
        }
        let table = self.txn.open_table(MESSAGES)?;
        Ok(self.messages.get_or_init(|| table))
    }

    /// The stored message `seq` of `account`, deleted or not (the account's index says
    /// which messages are live).
    pub(crate) fn message(
        &self,
        account: AccountId,
        seq: u32,
    ) -> Result<Option<MessageRecord>, Error> {
        Store::message(self.messages()?, account, seq)
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
        let table = self.messages()?;
        if let Some(matcher) = matcher {
            return Store::search(table, account, candidates, matcher, wanted);
        }
        let mut found = Vec::with_capacity(wanted.min(candidates.len() as usize));
        for seq in candidates.iter().rev() {
            if found.len() == wanted {
                break;
            }
            if let Some(record) = Store::message(table, account, seq)? {
                found.push((seq, record));
            }
        }
        Ok(found)
    }

    /// Delivery `id`, if it is still stored.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // read by the delivery workers
    pub(crate) fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>, Error> {
        let table = self.txn.open_table(DELIVERIES)?;
        match table.get(id)? {
            Some(bytes) => Ok(Some(decode("delivery", bytes.value())?)),
            None => Ok(None),
        }
    }

    /// The deliveries of message `seq` of `account`, by id.
    pub(crate) fn deliveries_of(
        &self,
        account: AccountId,
        seq: u32,
    ) -> Result<Vec<(u64, DeliveryRecord)>, Error> {
        let index = self.txn.open_table(MESSAGE_DELIVERIES)?;
        let records = self.txn.open_table(DELIVERIES)?;
        let mut list = Vec::new();
        for row in index.range((account.0, seq, 0)..=(account.0, seq, u64::MAX))? {
            let id = row?.0.value().2;
            if let Some(bytes) = records.get(id)? {
                list.push((id, decode("delivery", bytes.value())?));
            }
        }
        Ok(list)
    }

    /// The last member of digest `id` that an earlier part carried, if one arrived.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // read by the delivery workers
    pub(crate) fn digest_sent(&self, id: u64) -> Result<Option<u32>, Error> {
        Ok(self
            .txn
            .open_table(DIGEST_SENT)?
            .get(id)?
            .map(|v| v.value()))
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
        let members = self.txn.open_table(DIGEST_MEMBERS)?;
        let messages = self.messages()?;
        let mut part = DigestPart {
            messages: Vec::new(),
            more: false,
        };
        let mut bytes_taken = 0usize;
        for row in members.range((id, from)..=(id, u32::MAX))? {
            let seq = row?.0.value().1;
            if !live(seq) {
                continue;
            }
            let Some(bytes) = messages.get((account.0, seq))? else {
                continue;
            };
            let with_it = bytes_taken.saturating_add(bytes.value().len());
            if !part.messages.is_empty() && !fits(part.messages.len(), with_it) {
                part.more = true;
                break;
            }
            bytes_taken = with_it;
            part.messages.push((seq, decode("message", bytes.value())?));
        }
        Ok(part)
    }
}
