//! Writes of the redb backend: [`Tables`], every table of one write transaction, implements
//! [`WriteTx`].

use redb::{ReadableTable, Table, WriteTransaction};
use roaring::RoaringBitmap;

use super::{
    ACCOUNTS, CHANNELS, CONTACTS, CUT_OFF, DEDUPE, DELIVERIES, DIGEST_MEMBERS, DIGEST_OPEN,
    DIGEST_SENT, DIGEST_TICKS, FAILED, HISTORY, HISTORY_BY_CATEGORY, HISTORY_BY_KIND,
    MANDATORY_RULES, MESSAGE_DELIVERIES, MESSAGE_INDEX, MESSAGES, META, OUTBOX, PURGE_CHUNKS,
    READ_CHUNKS, RUNNING, SEQUENCES, SUBSCRIPTIONS, TOKENS, USERS,
};
use crate::access::Reader;
use crate::error::{Error, StorageError};
use crate::filter::TextMatcher;
use crate::ids::{AccountId, UserId};
use crate::model::Category;
use crate::store::backend::WriteTx;
use crate::store::records::{
    AccountRecord, ChannelRecord, ContactRecord, DeliveryRecord, HistoryRecord,
    MandatoryRuleRecord, MessageRecord, MessageText, SubscriptionRecord, TargetKey, TokenOwner,
    UserRecord, decode, encode, has_dedupe_key, pack,
};

/// Every table, opened once per group: opening a table per job would cost more than the
/// job itself.
pub(crate) struct Tables<'t> {
    accounts: Table<'t, u64, &'static [u8]>,
    users: Table<'t, u64, &'static [u8]>,
    tokens: Table<'t, &'static [u8], &'static [u8]>,
    messages: Table<'t, (u64, u32), &'static [u8]>,
    message_index: Table<'t, (u64, u32), (i64, u8)>,
    dedupe: Table<'t, (u64, &'static str), u32>,
    read_chunks: Table<'t, (u64, u64, u16), &'static [u8]>,
    purge_chunks: Table<'t, (u64, u16), &'static [u8]>,
    sequences: Table<'t, u64, u32>,
    meta: Table<'t, &'static str, u64>,
    channels: Table<'t, (u64, u64), &'static [u8]>,
    contacts: Table<'t, (u64, u64), &'static [u8]>,
    subscriptions: Table<'t, (u64, u8), &'static [u8]>,
    deliveries: Table<'t, u64, &'static [u8]>,
    message_deliveries: Table<'t, (u64, u32, u64), ()>,
    outbox: Table<'t, u64, i64>,
    digest_open: Table<'t, (u64, u8, u8, u64), u64>,
    digest_members: Table<'t, (u64, u32), ()>,
    digest_ticks: Table<'t, (u64, u8), i64>,
    failed: Table<'t, (u64, u8, u64, u64), ()>,
    running: Table<'t, u64, ()>,
    cut_off: Table<'t, u64, u32>,
    digest_sent: Table<'t, u64, u32>,
    history: Table<'t, (u64, u64), &'static [u8]>,
    history_by_kind: Table<'t, (u64, u8, u64), ()>,
    history_by_category: Table<'t, (u64, u8, u64), ()>,
    mandatory_rules: Table<'t, u64, &'static [u8]>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Tables<'t>, Error> {
        Ok(Tables {
            accounts: txn.open_table(ACCOUNTS)?,
            users: txn.open_table(USERS)?,
            tokens: txn.open_table(TOKENS)?,
            messages: txn.open_table(MESSAGES)?,
            message_index: txn.open_table(MESSAGE_INDEX)?,
            dedupe: txn.open_table(DEDUPE)?,
            read_chunks: txn.open_table(READ_CHUNKS)?,
            purge_chunks: txn.open_table(PURGE_CHUNKS)?,
            sequences: txn.open_table(SEQUENCES)?,
            meta: txn.open_table(META)?,
            channels: txn.open_table(CHANNELS)?,
            contacts: txn.open_table(CONTACTS)?,
            subscriptions: txn.open_table(SUBSCRIPTIONS)?,
            deliveries: txn.open_table(DELIVERIES)?,
            message_deliveries: txn.open_table(MESSAGE_DELIVERIES)?,
            outbox: txn.open_table(OUTBOX)?,
            digest_open: txn.open_table(DIGEST_OPEN)?,
            digest_members: txn.open_table(DIGEST_MEMBERS)?,
            digest_ticks: txn.open_table(DIGEST_TICKS)?,
            failed: txn.open_table(FAILED)?,
            running: txn.open_table(RUNNING)?,
            cut_off: txn.open_table(CUT_OFF)?,
            digest_sent: txn.open_table(DIGEST_SENT)?,
            history: txn.open_table(HISTORY)?,
            history_by_kind: txn.open_table(HISTORY_BY_KIND)?,
            history_by_category: txn.open_table(HISTORY_BY_CATEGORY)?,
            mandatory_rules: txn.open_table(MANDATORY_RULES)?,
        })
    }
}

fn cat(category: Category) -> u8 {
    category.index() as u8
}

fn serialize(what: &'static str, bitmap: &RoaringBitmap) -> Result<Vec<u8>, StorageError> {
    let mut buf = Vec::with_capacity(bitmap.serialized_size());
    bitmap
        .serialize_into(&mut buf)
        .map_err(|e| StorageError::Corrupt {
            what,
            detail: e.to_string(),
        })?;
    Ok(buf)
}

impl WriteTx for Tables<'_> {
    fn account(&self, id: AccountId) -> Result<Option<AccountRecord>, Error> {
        match self.accounts.get(id.0)? {
            Some(bytes) => Ok(Some(decode("account", bytes.value())?)),
            None => Ok(None),
        }
    }

    fn put_account(&mut self, id: AccountId, record: &AccountRecord) -> Result<(), Error> {
        self.accounts
            .insert(id.0, encode("account", record)?.as_slice())?;
        Ok(())
    }

    fn put_token(&mut self, hash: &[u8; 32], owner: TokenOwner) -> Result<(), Error> {
        self.tokens
            .insert(hash.as_slice(), encode("token", &owner)?.as_slice())?;
        Ok(())
    }

    fn remove_token(&mut self, hash: &[u8; 32]) -> Result<(), Error> {
        self.tokens.remove(hash.as_slice())?;
        Ok(())
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>, Error> {
        match self.users.get(id.0)? {
            Some(bytes) => Ok(Some(decode("user", bytes.value())?)),
            None => Ok(None),
        }
    }

    fn put_user(&mut self, id: UserId, record: &UserRecord) -> Result<(), Error> {
        self.users
            .insert(id.0, encode("user", record)?.as_slice())?;
        Ok(())
    }

    fn remove_user(&mut self, id: UserId) -> Result<Option<UserRecord>, Error> {
        match self.users.remove(id.0)? {
            Some(bytes) => Ok(Some(decode("user", bytes.value())?)),
            None => Ok(None),
        }
    }

    fn put_next_seq(&mut self, account: AccountId, next: u32) -> Result<(), Error> {
        self.sequences.insert(account.0, next)?;
        Ok(())
    }

    fn message(&self, account: AccountId, seq: u32) -> Result<Option<MessageRecord>, Error> {
        super::message(&self.messages, account, seq)
    }

    fn message_matches(
        &self,
        account: AccountId,
        seq: u32,
        matcher: &TextMatcher,
    ) -> Result<bool, Error> {
        let Some(bytes) = self.messages.get((account.0, seq))? else {
            return Ok(false);
        };
        let text: MessageText<'_> =
            postcard::from_bytes(bytes.value()).map_err(|e| StorageError::Corrupt {
                what: "message",
                detail: e.to_string(),
            })?;
        Ok(text.matches(matcher))
    }

    fn deduped(&self, account: AccountId, key: &str) -> Result<Option<u32>, Error> {
        Ok(self.dedupe.get((account.0, key))?.map(|v| v.value()))
    }

    fn put_message(
        &mut self,
        account: AccountId,
        seq: u32,
        record: &MessageRecord,
    ) -> Result<(), Error> {
        self.messages
            .insert((account.0, seq), encode("message", record)?.as_slice())?;
        let packed = pack(
            record.category,
            record.severity,
            record.dedupe_key.is_some(),
        );
        self.message_index
            .insert((account.0, seq), (record.created, packed))?;
        if let Some(key) = &record.dedupe_key {
            self.dedupe.insert((account.0, key.as_str()), seq)?;
        }
        Ok(())
    }

    fn remove_message(&mut self, account: AccountId, seq: u32) -> Result<(), Error> {
        let has_key = match self.message_index.remove((account.0, seq))? {
            Some(row) => has_dedupe_key(row.value().1),
            None => false,
        };
        let Some(bytes) = self.messages.remove((account.0, seq))? else {
            return Ok(());
        };
        if has_key {
            let record: MessageRecord = decode("message", bytes.value())?;
            drop(bytes);
            if let Some(key) = record.dedupe_key {
                // A later message may have taken the key over since this one was deleted.
                let current = self
                    .dedupe
                    .get((account.0, key.as_str()))?
                    .map(|v| v.value());
                if current == Some(seq) {
                    self.dedupe.remove((account.0, key.as_str()))?;
                }
            }
        }
        Ok(())
    }

    fn put_read_chunk(
        &mut self,
        account: AccountId,
        reader: Reader,
        chunk: u16,
        read: &RoaringBitmap,
    ) -> Result<(), Error> {
        let bytes = serialize("read set", read)?;
        self.read_chunks
            .insert((account.0, reader.0, chunk), bytes.as_slice())?;
        Ok(())
    }

    fn remove_read_set(&mut self, account: AccountId, reader: Reader) -> Result<(), Error> {
        self.read_chunks.retain_in(
            (account.0, reader.0, 0)..=(account.0, reader.0, u16::MAX),
            |_, _| false,
        )?;
        Ok(())
    }

    fn put_purge_chunk(
        &mut self,
        account: AccountId,
        chunk: u16,
        deleted: &RoaringBitmap,
    ) -> Result<(), Error> {
        if deleted.is_empty() {
            self.purge_chunks.remove((account.0, chunk))?;
        } else {
            let bytes = serialize("deleted set", deleted)?;
            self.purge_chunks
                .insert((account.0, chunk), bytes.as_slice())?;
        }
        Ok(())
    }

    fn put_channel(
        &mut self,
        account: AccountId,
        id: u64,
        record: &ChannelRecord,
    ) -> Result<(), Error> {
        self.channels
            .insert((account.0, id), encode("channel", record)?.as_slice())?;
        Ok(())
    }

    fn remove_channel(&mut self, account: AccountId, id: u64) -> Result<bool, Error> {
        Ok(self.channels.remove((account.0, id))?.is_some())
    }

    fn put_contact(
        &mut self,
        account: AccountId,
        id: u64,
        record: &ContactRecord,
    ) -> Result<(), Error> {
        self.contacts
            .insert((account.0, id), encode("contact", record)?.as_slice())?;
        Ok(())
    }

    fn remove_contact(&mut self, account: AccountId, id: u64) -> Result<bool, Error> {
        Ok(self.contacts.remove((account.0, id))?.is_some())
    }

    fn put_subscription(
        &mut self,
        account: AccountId,
        category: Category,
        record: &SubscriptionRecord,
    ) -> Result<(), Error> {
        self.subscriptions.insert(
            (account.0, cat(category)),
            encode("subscription", record)?.as_slice(),
        )?;
        Ok(())
    }

    fn remove_subscription(
        &mut self,
        account: AccountId,
        category: Category,
    ) -> Result<bool, Error> {
        Ok(self
            .subscriptions
            .remove((account.0, cat(category)))?
            .is_some())
    }

    fn put_next_delivery(&mut self, next: u64) -> Result<(), Error> {
        self.meta.insert("next_delivery", next)?;
        Ok(())
    }

    fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>, Error> {
        match self.deliveries.get(id)? {
            Some(bytes) => Ok(Some(decode("delivery", bytes.value())?)),
            None => Ok(None),
        }
    }

    fn put_delivery(&mut self, id: u64, record: &DeliveryRecord) -> Result<(), Error> {
        self.deliveries
            .insert(id, encode("delivery", record)?.as_slice())?;
        Ok(())
    }

    fn link_delivery(&mut self, account: AccountId, seq: u32, id: u64) -> Result<(), Error> {
        self.message_deliveries.insert((account.0, seq, id), ())?;
        Ok(())
    }

    fn deliveries_of(&self, account: AccountId, seq: u32) -> Result<Vec<u64>, Error> {
        Ok(self
            .message_deliveries
            .range((account.0, seq, 0)..=(account.0, seq, u64::MAX))?
            .map(|row| row.map(|(k, _)| k.value().2))
            .collect::<Result<_, _>>()?)
    }

    fn due(&self, id: u64) -> Result<Option<i64>, Error> {
        Ok(self.outbox.get(id)?.map(|v| v.value()))
    }

    fn schedule(&mut self, id: u64, due: i64) -> Result<(), Error> {
        self.outbox.insert(id, due)?;
        Ok(())
    }

    fn unschedule(&mut self, id: u64) -> Result<(), Error> {
        self.outbox.remove(id)?;
        Ok(())
    }

    fn begin_attempt(&mut self, id: u64) -> Result<(), Error> {
        self.running.insert(id, ())?;
        Ok(())
    }

    fn end_attempt(&mut self, id: u64) -> Result<(), Error> {
        self.running.remove(id)?;
        Ok(())
    }

    fn attempts_under_way(&self) -> Result<Vec<u64>, Error> {
        Ok(self
            .running
            .iter()?
            .map(|row| row.map(|(id, _)| id.value()))
            .collect::<Result<_, _>>()?)
    }

    fn cut_off(&self, id: u64) -> Result<u32, Error> {
        Ok(self.cut_off.get(id)?.map_or(0, |v| v.value()))
    }

    fn put_cut_off(&mut self, id: u64, times: u32) -> Result<(), Error> {
        if times == 0 {
            self.cut_off.remove(id)?;
        } else {
            self.cut_off.insert(id, times)?;
        }
        Ok(())
    }

    fn put_failed(&mut self, account: u64, target: TargetKey, id: u64) -> Result<(), Error> {
        let (kind, key) = target.parts();
        self.failed.insert((account, kind, key, id), ())?;
        Ok(())
    }

    fn remove_failed(&mut self, account: u64, target: TargetKey, id: u64) -> Result<(), Error> {
        let (kind, key) = target.parts();
        self.failed.remove((account, kind, key, id))?;
        Ok(())
    }

    fn failed_to(&self, account: AccountId, target: TargetKey) -> Result<Vec<u64>, Error> {
        let (kind, id) = target.parts();
        Ok(self
            .failed
            .range((account.0, kind, id, 0)..=(account.0, kind, id, u64::MAX))?
            .map(|row| row.map(|(k, _)| k.value().3))
            .collect::<Result<_, _>>()?)
    }

    fn purge_deliveries(&mut self, account: AccountId, seq: u32) -> Result<(), Error> {
        for id in self.deliveries_of(account, seq)? {
            self.message_deliveries.remove((account.0, seq, id))?;
            if self.outbox.get(id)?.is_some() {
                continue;
            }
            let Some(record) = self.delivery(id)? else {
                continue;
            };
            if record.digest {
                continue;
            }
            self.deliveries.remove(id)?;
            self.cut_off.remove(id)?;
            self.remove_failed(record.account, record.target, id)?;
        }
        Ok(())
    }

    fn open_digest(
        &self,
        account: AccountId,
        category: Category,
        target: TargetKey,
    ) -> Result<Option<u64>, Error> {
        let (kind, key) = target.parts();
        Ok(self
            .digest_open
            .get((account.0, cat(category), kind, key))?
            .map(|v| v.value()))
    }

    fn put_open_digest(
        &mut self,
        account: AccountId,
        category: Category,
        target: TargetKey,
        id: u64,
    ) -> Result<(), Error> {
        let (kind, key) = target.parts();
        self.digest_open
            .insert((account.0, cat(category), kind, key), id)?;
        Ok(())
    }

    fn take_open_digests(
        &mut self,
        account: AccountId,
        category: Category,
    ) -> Result<Vec<u64>, Error> {
        let c = cat(category);
        let open: Vec<((u64, u8, u8, u64), u64)> = self
            .digest_open
            .range((account.0, c, 0, 0)..=(account.0, c, u8::MAX, u64::MAX))?
            .map(|row| row.map(|(k, v)| (k.value(), v.value())))
            .collect::<Result<_, _>>()?;
        let mut ids = Vec::with_capacity(open.len());
        for (key, id) in open {
            self.digest_open.remove(key)?;
            ids.push(id);
        }
        Ok(ids)
    }

    fn add_digest_member(&mut self, id: u64, seq: u32) -> Result<(), Error> {
        self.digest_members.insert((id, seq), ())?;
        Ok(())
    }

    fn digest_tick(&self, account: AccountId, category: Category) -> Result<Option<i64>, Error> {
        Ok(self
            .digest_ticks
            .get((account.0, cat(category)))?
            .map(|v| v.value()))
    }

    fn put_digest_tick(
        &mut self,
        account: AccountId,
        category: Category,
        tick: i64,
    ) -> Result<(), Error> {
        self.digest_ticks.insert((account.0, cat(category)), tick)?;
        Ok(())
    }

    fn append_history(&mut self, book: AccountId, record: &HistoryRecord) -> Result<u64, Error> {
        let id = self.meta.get("next_history")?.map_or(1, |v| v.value());
        self.meta.insert("next_history", id + 1)?;
        self.history
            .insert((book.0, id), encode("history entry", record)?.as_slice())?;
        self.history_by_kind
            .insert((book.0, record.subject.code(), id), ())?;
        if let Some(category) = record.category {
            self.history_by_category
                .insert((book.0, cat(category), id), ())?;
        }
        Ok(id)
    }

    fn remove_history_before(
        &mut self,
        book: AccountId,
        cutoff: i64,
        budget: usize,
    ) -> Result<usize, Error> {
        let mut old = Vec::new();
        for row in self.history.range((book.0, 0)..=(book.0, u64::MAX))? {
            if old.len() >= budget {
                break;
            }
            let (key, bytes) = row?;
            let record: HistoryRecord = decode("history entry", bytes.value())?;
            if record.at >= cutoff {
                break;
            }
            old.push((key.value().1, record.subject, record.category));
        }
        for &(id, subject, category) in &old {
            self.history.remove((book.0, id))?;
            self.history_by_kind.remove((book.0, subject.code(), id))?;
            if let Some(category) = category {
                self.history_by_category
                    .remove((book.0, cat(category), id))?;
            }
        }
        Ok(old.len())
    }

    fn put_mandatory_rule(&mut self, id: u64, record: &MandatoryRuleRecord) -> Result<(), Error> {
        self.mandatory_rules
            .insert(id, encode("mandatory rule", record)?.as_slice())?;
        Ok(())
    }

    fn remove_mandatory_rule(&mut self, id: u64) -> Result<Option<MandatoryRuleRecord>, Error> {
        match self.mandatory_rules.remove(id)? {
            Some(bytes) => Ok(Some(decode("mandatory rule", bytes.value())?)),
            None => Ok(None),
        }
    }

    fn put_digest_sent(&mut self, id: u64, through: u32) -> Result<(), Error> {
        self.digest_sent.insert(id, through)?;
        Ok(())
    }
}
