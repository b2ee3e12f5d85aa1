//! The inbox's stored messages as a group's commands change them: sequence numbers, new
//! messages, the messages a bulk command selects, read and deleted sets staged across the
//! group, and purging the rows of deleted messages a few at a time.

use roaring::RoaringBitmap;

use super::{Effect, Tx};
use crate::access::Reader;
use crate::error::Error;
use crate::filter::{CategorySet, Filter, ReadStatus, TextMatcher};
use crate::ids::AccountId;
use crate::model::Category;
use crate::store::bitmap::chunk_of;
use crate::store::index::{AccountIndex, Query};
use crate::store::records::MessageRecord;

/// Which messages a bulk command applies to, already limited to one account.
pub(crate) enum Target {
    /// These sequence numbers.
    Seqs(Vec<u32>),
    /// Everything matching this filter. A filter with text comes with the text matches
    /// found before the command was sent, so that the writer reads the text only of the
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

impl Tx<'_> {
    /// The live message holding a dedupe key, as of this group: one deleted since (also
    /// earlier in this group) no longer holds it.
    pub(crate) fn deduped(
        &self,
        account: AccountId,
        key: &str,
    ) -> Result<Option<(u32, MessageRecord)>, Error> {
        let Some(seq) = self.db.deduped(account, key)? else {
            return Ok(None);
        };
        let inbox = self.inbox(account)?;
        if !self.is_live(&inbox, account, seq) {
            return Ok(None);
        }
        Ok(self.db.message(account, seq)?.map(|record| (seq, record)))
    }

    /// Takes the next sequence number of an account and the creation time of a message
    /// published now: never before an earlier message of the account, so that the order of
    /// numbers and of times agree.
    pub(crate) fn next_message(&mut self, account: AccountId) -> Result<(u32, i64), Error> {
        let inbox = self.inbox(account)?;
        let now = self.now;
        let (next, created) = self.sequences.entry(account).or_insert_with(|| {
            let index = inbox.read();
            (index.next_seq, now.max(index.last_created))
        });
        let seq = *next;
        let used_up = || {
            Error::Conflict(format!(
                "account {account} has used all {} message numbers",
                u32::MAX
            ))
        };
        if !crate::ids::MessageId::is_real_seq(seq) {
            return Err(used_up());
        }
        *next = next.checked_add(1).ok_or_else(used_up)?;
        Ok((seq, *created))
    }

    /// Stores a new message numbered by [`Tx::next_message`]; it is live for the rest of
    /// the group and in the index once committed.
    pub(crate) fn put_message(
        &mut self,
        account: AccountId,
        seq: u32,
        record: &MessageRecord,
    ) -> Result<(), Error> {
        self.db.put_message(account, seq, record)?;
        self.fresh.insert((account, seq));
        self.effect(Effect::Added(
            account,
            seq,
            record.category,
            record.severity,
            record.created,
        ));
        self.effect(Effect::Text(
            account,
            seq,
            record.title.as_str().into(),
            record.body.as_deref().map(Into::into),
        ));
        Ok(())
    }

    /// The sequence numbers a bulk command applies to, newest first, as of this group.
    pub(crate) fn select(
        &self,
        account: AccountId,
        reader: Reader,
        visible: CategorySet,
        target: Target,
    ) -> Result<Vec<u32>, Error> {
        let inbox = self.inbox(account)?;
        let index = inbox.read();
        // Messages deleted by an earlier job of this group are gone for this one too.
        let staged_deleted = |seq: u32| {
            self.purge_chunks
                .get(&(account, chunk_of(seq)))
                .is_some_and(|c| c.contains(seq))
        };
        match target {
            Target::Seqs(seqs) => Ok(seqs
                .into_iter()
                .filter(|&seq| {
                    !staged_deleted(seq)
                        && Category::ALL.into_iter().any(|c| {
                            visible.contains(c) && index.categories[c.index()].contains(seq)
                        })
                })
                .collect()),
            Target::Filter(filter, searched) => {
                let query = index.compile(&filter, visible, reader);
                let mut seqs = Vec::new();
                if query.is_empty() {
                    return Ok(seqs);
                }
                // The read state as earlier jobs of this group left it, where they changed it.
                let any_status = Query {
                    status: ReadStatus::All,
                    ..query.clone()
                };
                let mut top = index.next_chunk(u16::MAX);
                while let Some(chunk) = top {
                    let staged_read = self.read_chunks.get(&(account, reader, chunk));
                    let mut set = match (query.status, staged_read) {
                        (ReadStatus::Unread, Some(read)) => {
                            index.candidates(&any_status, chunk) - read
                        }
                        (ReadStatus::Read, Some(read)) => {
                            index.candidates(&any_status, chunk) & read
                        }
                        _ => index.candidates(&query, chunk),
                    };
                    if let Some(deleted) = self.purge_chunks.get(&(account, chunk)) {
                        set -= deleted;
                    }
                    seqs.extend(set.iter().rev());
                    top = chunk.checked_sub(1).and_then(|c| index.next_chunk(c));
                }
                drop(index);
                if let Some(text) = &filter.text {
                    let matcher = TextMatcher::new(text);
                    let mut kept = Vec::with_capacity(seqs.len());
                    for seq in seqs {
                        let hit = match &searched {
                            Some(found) if seq < found.upto => found.matched.contains(seq),
                            _ => self.db.message_matches(account, seq, &matcher)?,
                        };
                        if hit {
                            kept.push(seq);
                        }
                    }
                    seqs = kept;
                }
                Ok(seqs)
            }
        }
    }

    /// Marks messages read for a reader; answers how many were unread.
    pub(crate) fn mark_read(
        &mut self,
        account: AccountId,
        reader: Reader,
        seqs: Vec<u32>,
    ) -> Result<u64, Error> {
        let inbox = self.inbox(account)?;
        let index = inbox.read();
        let mut updated = 0;
        for seq in seqs {
            let chunk = self
                .read_chunks
                .entry((account, reader, chunk_of(seq)))
                .or_insert_with(|| {
                    index
                        .read
                        .get(&reader)
                        .and_then(|r| r.chunk(chunk_of(seq)))
                        .cloned()
                        .unwrap_or_default()
                });
            updated += u64::from(chunk.insert(seq));
        }
        Ok(updated)
    }

    /// Whether `seq` is a live message, counting this group's publishes and deletes.
    fn is_live(
        &self,
        inbox: &parking_lot::RwLock<AccountIndex>,
        account: AccountId,
        seq: u32,
    ) -> bool {
        let staged_deleted = self
            .purge_chunks
            .get(&(account, chunk_of(seq)))
            .is_some_and(|c| c.contains(seq));
        !staged_deleted && (self.fresh.contains(&(account, seq)) || inbox.read().live.contains(seq))
    }

    /// The staged chunk of `account`'s deleted-rows set that holds `seq`.
    fn purge_chunk(
        &mut self,
        index: &AccountIndex,
        account: AccountId,
        seq: u32,
    ) -> &mut RoaringBitmap {
        self.purge_chunks
            .entry((account, chunk_of(seq)))
            .or_insert_with(|| {
                index
                    .purge
                    .chunk(chunk_of(seq))
                    .cloned()
                    .unwrap_or_default()
            })
    }

    /// Deletes messages: each becomes a bit in the account's deleted set, in this commit;
    /// their rows are removed from disk later by [`Tx::purge`], a few at a time, so a bulk
    /// delete costs what it changes in the index, not a rewrite of the message table.
    pub(crate) fn delete(&mut self, account: AccountId, seqs: Vec<u32>) -> Result<u64, Error> {
        let inbox = self.inbox(account)?;
        let index = inbox.read();
        let mut deleted = 0;
        for seq in seqs {
            let Some((category, severity)) = index.locate(seq) else {
                continue;
            };
            if !self.purge_chunk(&index, account, seq).insert(seq) {
                continue;
            }
            self.effect(Effect::Removed(account, seq, category, severity));
            deleted += 1;
        }
        if deleted > 0 {
            self.purging.insert(account);
        }
        Ok(deleted)
    }

    /// Removes the rows of up to `budget` deleted messages from disk, with their dedupe keys.
    pub(super) fn purge(&mut self, budget: usize) -> Result<(), Error> {
        let mut left = budget;
        let accounts: Vec<AccountId> = self.purging.iter().copied().collect();
        for account in accounts {
            if left == 0 {
                break;
            }
            let Ok(inbox) = self.inbox(account) else {
                self.purging.remove(&account);
                continue;
            };
            let (seqs, rest) = {
                let index = inbox.read();
                let seqs: Vec<u32> = index.purge.iter().take(left).collect();
                let rest = index.purge.len() - seqs.len() as u64;
                (seqs, rest)
            };
            if rest == 0 {
                self.purging.remove(&account);
            }
            left -= seqs.len();
            for &seq in &seqs {
                self.db.remove_message(account, seq)?;
                self.db.purge_deliveries(account, seq)?;
            }
            let index = inbox.read();
            for seq in seqs {
                self.purge_chunk(&index, account, seq).remove(seq);
            }
        }
        Ok(())
    }
}
