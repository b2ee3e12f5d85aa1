//! The writer's inbox jobs: publishing (with the message's routing, in the same
//! transaction), marking read and deleting by ids or filter, and purging the rows of deleted
//! messages a few at a time.

use std::sync::Arc;

use redb::{ReadableTable, Table};
use roaring::RoaringBitmap;

use super::{Effect, Group, Stored, Tables, Target};
use crate::access::Reader;
use crate::error::Error;
use crate::filter::{CategorySet, ReadStatus, TextMatcher};
use crate::ids::AccountId;
use crate::model::{Category, ValidMessage};
use crate::store::Store;
use crate::store::bitmap::chunk_of;
use crate::store::index::{AccountIndex, Query};
use crate::store::records::{MessageRecord, decode, encode, has_dedupe_key, pack};

impl Group<'_> {
    pub(super) fn inbox(
        &self,
        account: AccountId,
    ) -> Result<Arc<parking_lot::RwLock<AccountIndex>>, Error> {
        self.store.inbox(account)
    }

    pub(super) fn publish(
        &mut self,
        t: &mut Tables<'_>,
        account: AccountId,
        message: ValidMessage,
    ) -> Result<Stored, Error> {
        let inbox = self.inbox(account)?;
        if let Some(key) = &message.dedupe_key
            && let Some(seq) = t.dedupe.get((account.0, key.as_str()))?
            && self.is_live(&inbox, account, seq.value())
        {
            let seq = seq.value();
            let table = &t.messages;
            if let Some(record) = Store::message(table, account, seq)? {
                return Ok(Stored {
                    seq,
                    record,
                    created: false,
                });
            }
        }
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
        let record = MessageRecord {
            category: message.category,
            severity: message.severity,
            created: *created,
            subtype: message.subtype,
            title: message.title,
            body: message.body,
            link: message.link,
            resource: message.resource,
            dedupe_key: message.dedupe_key,
        };
        t.messages
            .insert((account.0, seq), encode("message", &record)?.as_slice())?;
        let packed = pack(
            record.category,
            record.severity,
            record.dedupe_key.is_some(),
        );
        t.message_index
            .insert((account.0, seq), (record.created, packed))?;
        if let Some(key) = &record.dedupe_key {
            t.dedupe.insert((account.0, key.as_str()), seq)?;
        }
        self.route(t, account, seq, &record)?;
        self.fresh.insert((account, seq));
        self.effect(Effect::Added(
            account,
            seq,
            record.category,
            record.severity,
            record.created,
        ));
        Ok(Stored {
            seq,
            record,
            created: true,
        })
    }

    /// The sequence numbers a bulk job applies to, newest first.
    pub(super) fn resolve(
        &self,
        t: &mut Tables<'_>,
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
                    let table = &t.messages;
                    let mut kept = Vec::with_capacity(seqs.len());
                    for seq in seqs {
                        let hit = match &searched {
                            Some(found) if seq < found.upto => found.matched.contains(seq),
                            _ => Store::message_if(table, account, seq, |t| t.matches(&matcher))?
                                .is_some(),
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

    pub(super) fn mark_read(
        &mut self,
        t: &mut Tables<'_>,
        account: AccountId,
        reader: Reader,
        visible: CategorySet,
        target: Target,
    ) -> Result<u64, Error> {
        let seqs = self.resolve(t, account, reader, visible, target)?;
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
    pub(super) fn is_live(
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
    pub(super) fn purge_chunk(
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
    /// their rows are removed from disk later by [`Group::purge`], a few at a time, so a bulk
    /// delete costs what it changes in the index, not a rewrite of the message table.
    pub(super) fn delete(
        &mut self,
        t: &mut Tables<'_>,
        account: AccountId,
        reader: Reader,
        visible: CategorySet,
        target: Target,
    ) -> Result<u64, Error> {
        let seqs = self.resolve(t, account, reader, visible, target)?;
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
    pub(super) fn purge(&mut self, t: &mut Tables<'_>, budget: usize) -> Result<(), Error> {
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
                let has_key = match t.message_index.remove((account.0, seq))? {
                    Some(row) => has_dedupe_key(row.value().1),
                    None => false,
                };
                remove_message(&mut t.messages, &mut t.dedupe, account, seq, has_key)?;
                self.purge_deliveries(t, account, seq)?;
            }
            let index = inbox.read();
            for seq in seqs {
                self.purge_chunk(&index, account, seq).remove(seq);
            }
        }
        Ok(())
    }
}

fn remove_message(
    messages: &mut Table<(u64, u32), &'static [u8]>,
    dedupe: &mut Table<(u64, &'static str), u32>,
    account: AccountId,
    seq: u32,
    has_key: bool,
) -> Result<(), Error> {
    let Some(bytes) = messages.remove((account.0, seq))? else {
        return Ok(());
    };
    if has_key {
        let record: MessageRecord = decode("message", bytes.value())?;
        drop(bytes);
        if let Some(key) = record.dedupe_key {
            // A later message may have taken the key over since this one was deleted.
            let current = dedupe.get((account.0, key.as_str()))?.map(|v| v.value());
            if current == Some(seq) {
                dedupe.remove((account.0, key.as_str()))?;
            }
        }
    }
    Ok(())
}
