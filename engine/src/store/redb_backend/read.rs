//! Reads of the redb backend as of one commit: [`RedbRead`] implements [`ReadTx`]. Message
//! text is matched on the stored bytes, borrowed, without decoding whole messages.

use std::cell::OnceCell;
use std::ops::Bound;

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable};
use roaring::RoaringBitmap;

use super::{
    DELIVERIES, DIGEST_MEMBERS, DIGEST_SENT, HISTORY, HISTORY_BY_CATEGORY, HISTORY_BY_KIND,
    MESSAGE_DELIVERIES, MESSAGES, message,
};
use crate::error::{Error, StorageError};
use crate::filter::TextMatcher;
use crate::ids::AccountId;
use crate::store::backend::{DigestPart, HistoryKeys, ReadTx};
use crate::store::records::{DeliveryRecord, HistoryRecord, MessageRecord, MessageText, decode};

/// A redb read transaction; tables open on first use.
pub(crate) struct RedbRead {
    txn: ReadTransaction,
    messages: OnceCell<ReadOnlyTable<(u64, u32), &'static [u8]>>,
}

impl RedbRead {
    pub(super) fn new(txn: ReadTransaction) -> RedbRead {
        RedbRead {
            txn,
            messages: OnceCell::new(),
        }
    }

    fn messages(&self) -> Result<&ReadOnlyTable<(u64, u32), &'static [u8]>, Error> {
        if let Some(table) = self.messages.get() {
            return Ok(table);
        }
        let table = self.txn.open_table(MESSAGES)?;
        Ok(self.messages.get_or_init(|| table))
    }
}

impl ReadTx for RedbRead {
    fn history(
        &self,
        book: AccountId,
        keys: &HistoryKeys,
        before: Option<u64>,
        visit: &mut dyn FnMut(u64, HistoryRecord) -> bool,
    ) -> Result<(), Error> {
        let table = self.txn.open_table(HISTORY)?;
        // Entry ids never reach u64::MAX: "below MAX" is every entry.
        let below = before.unwrap_or(u64::MAX);
        let (index, codes) = match keys {
            HistoryKeys::All => {
                for row in table.range((book.0, 0)..(book.0, below))?.rev() {
                    let (key, bytes) = row?;
                    if !visit(key.value().1, decode("history entry", bytes.value())?) {
                        break;
                    }
                }
                return Ok(());
            }
            HistoryKeys::Subjects(subjects) => (
                HISTORY_BY_KIND,
                subjects.iter().map(|s| s.code()).collect::<Vec<u8>>(),
            ),
            HistoryKeys::Categories(categories) => (
                HISTORY_BY_CATEGORY,
                categories.iter().map(|c| c.index() as u8).collect(),
            ),
        };
        let index = self.txn.open_table(index)?;
        // One backwards walk per key, merged by id: newest first across all of them.
        let mut walks = Vec::with_capacity(codes.len());
        for code in codes {
            walks.push(
                index
                    .range((book.0, code, 0)..(book.0, code, below))?
                    .rev()
                    .peekable(),
            );
        }
        loop {
            let mut newest: Option<(usize, u64)> = None;
            for (i, walk) in walks.iter_mut().enumerate() {
                if let Some(Err(_)) = walk.peek()
                    && let Some(Err(e)) = walk.next()
                {
                    return Err(e.into());
                }
                if let Some(Ok((key, _))) = walk.peek() {
                    let id = key.value().2;
                    if newest.is_none_or(|(_, n)| id > n) {
                        newest = Some((i, id));
                    }
                }
            }
            let Some((i, id)) = newest else {
                return Ok(());
            };
            walks[i].next();
            let Some(bytes) = table.get((book.0, id))? else {
                continue;
            };
            if !visit(id, decode("history entry", bytes.value())?) {
                return Ok(());
            }
        }
    }

    fn message(&self, account: AccountId, seq: u32) -> Result<Option<MessageRecord>, Error> {
        message(self.messages()?, account, seq)
    }

    fn newest(
        &self,
        account: AccountId,
        candidates: &RoaringBitmap,
        matcher: Option<&TextMatcher>,
        wanted: usize,
    ) -> Result<Vec<(u32, MessageRecord)>, Error> {
        let table = self.messages()?;
        let mut found = Vec::with_capacity(wanted.min(candidates.len() as usize));
        if let Some(matcher) = matcher {
            scan_text(table, account, candidates, matcher, |seq, bytes| {
                found.push((seq, decode("message", bytes)?));
                Ok(found.len() < wanted)
            })?;
            return Ok(found);
        }
        for seq in candidates.iter().rev() {
            if found.len() == wanted {
                break;
            }
            if let Some(record) = message(table, account, seq)? {
                found.push((seq, record));
            }
        }
        Ok(found)
    }

    fn matching(
        &self,
        account: AccountId,
        candidates: &RoaringBitmap,
        matcher: &TextMatcher,
    ) -> Result<RoaringBitmap, Error> {
        let mut matched = RoaringBitmap::new();
        scan_text(self.messages()?, account, candidates, matcher, |seq, _| {
            matched.insert(seq);
            Ok(true)
        })?;
        Ok(matched)
    }

    fn texts(
        &self,
        account: AccountId,
        from: u32,
        to: u32,
        visit: &mut dyn FnMut(u32, &str, Option<&str>),
    ) -> Result<(), Error> {
        if from >= to {
            return Ok(());
        }
        for row in self.messages()?.range((account.0, from)..(account.0, to))? {
            let (key, bytes) = row?;
            let text = decode_text(bytes.value())?;
            visit(key.value().1, text.title(), text.body());
        }
        Ok(())
    }

    fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>, Error> {
        let table = self.txn.open_table(DELIVERIES)?;
        match table.get(id)? {
            Some(bytes) => Ok(Some(decode("delivery", bytes.value())?)),
            None => Ok(None),
        }
    }

    fn deliveries_of(
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

    fn digest_sent(&self, id: u64) -> Result<Option<u32>, Error> {
        Ok(self
            .txn
            .open_table(DIGEST_SENT)?
            .get(id)?
            .map(|v| v.value()))
    }

    fn digest_part(
        &self,
        account: AccountId,
        id: u64,
        from: u32,
        live: &dyn Fn(u32) -> bool,
        fits: &dyn Fn(usize, usize) -> bool,
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

/// Calls `hit` with each message among `candidates` whose title or body contains the
/// matcher's text, newest first, until it answers false. Each chunk of 65,536 sequence
/// numbers is read on its own: where its candidates are dense, with one backwards range
/// scan (each B-tree leaf once); where they are sparse (as the search index leaves them),
/// with point lookups.
fn scan_text(
    table: &impl ReadableTable<(u64, u32), &'static [u8]>,
    account: AccountId,
    candidates: &RoaringBitmap,
    matcher: &TextMatcher,
    mut hit: impl FnMut(u32, &[u8]) -> Result<bool, Error>,
) -> Result<(), Error> {
    let mut top = candidates.max();
    while let Some(t) = top {
        // The candidates of the chunk holding `t`, then the highest one below it.
        let start = t & !0xFFFF;
        let mut part = candidates.clone();
        part.remove_range(..start);
        part.remove_range((Bound::Excluded(t), Bound::Unbounded));
        top = match start.checked_sub(1).map(|below| candidates.rank(below)) {
            Some(rank) if rank > 0 => u32::try_from(rank - 1)
                .ok()
                .and_then(|n| candidates.select(n)),
            _ => None,
        };
        let (Some(low), Some(high)) = (part.min(), part.max()) else {
            continue;
        };
        if part.len() * 4 < u64::from(high - low) + 1 {
            for seq in part.iter().rev() {
                let Some(bytes) = table.get((account.0, seq))? else {
                    continue;
                };
                let bytes = bytes.value();
                if decode_text(bytes)?.matches(matcher) && !hit(seq, bytes)? {
                    return Ok(());
                }
            }
            continue;
        }
        for row in table.range((account.0, low)..=(account.0, high))?.rev() {
            let (key, bytes) = row?;
            let seq = key.value().1;
            if !part.contains(seq) {
                continue;
            }
            let bytes = bytes.value();
            if decode_text(bytes)?.matches(matcher) && !hit(seq, bytes)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn decode_text(bytes: &[u8]) -> Result<MessageText<'_>, StorageError> {
    postcard::from_bytes(bytes).map_err(|e| StorageError::Corrupt {
        what: "message",
        detail: e.to_string(),
    })
}
