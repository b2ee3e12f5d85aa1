//! The inbox operations: publish, list, get, counts, mark read and delete (by ids or by
//! filter), each limited to what the caller may see.
//!
//! Lists walk the account's bitmaps chunk by chunk from the newest message down and read
//! only the messages they return (plus those a text search must look at), so a page costs
//! the same however large the inbox is.

pub(crate) mod commands;
pub mod live;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::access::{Action, Denied, Principal, authorize, require, visible_categories};
use crate::clock::from_micros;
use crate::engine::Engine;
use crate::error::Error;
use crate::filter::{
    Filter, MAX_BULK_IDS, Page, PageRequest, Selection, TextMatcher, decode_cursor, encode_cursor,
};
use crate::ids::{AccountId, MessageId};
use crate::model::{Category, Message, NewMessage, Published};
use crate::store::records::MessageRecord;
use crate::store::writer::Target;

use self::commands::{Bulk, BulkOp, Publish};

/// Total and unread messages of one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCount {
    /// Messages the caller may see.
    pub total: u64,
    /// Of those, the ones the caller has not read.
    pub unread: u64,
}

/// What the caller's inbox holds, overall and per category (all six always present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Messages the caller may see.
    pub total: u64,
    /// Of those, the ones the caller has not read.
    pub unread: u64,
    /// The same per category; zero outside the caller's scope.
    pub by_category: BTreeMap<Category, CategoryCount>,
}

pub(crate) fn to_message(
    account: AccountId,
    seq: u32,
    record: MessageRecord,
    read: bool,
) -> Message {
    Message {
        id: MessageId { account, seq },
        account_id: account,
        category: record.category,
        subtype: record.subtype,
        title: record.title,
        body: record.body,
        severity: record.severity,
        link: record.link,
        resource: record.resource,
        dedupe_key: record.dedupe_key,
        created_at: from_micros(record.created),
        read,
    }
}

fn message_not_found(id: MessageId) -> Error {
    Error::NotFound(format!("message {id} does not exist"))
}

impl Engine {
    /// Publishes a message into `account`'s inbox (operator only). When the account already
    /// holds a message with the same dedupe key, that message is returned and nothing is
    /// stored. Once this returns, the message is on disk.
    pub async fn publish(
        &self,
        principal: &Principal,
        account: AccountId,
        message: NewMessage,
    ) -> Result<Published, Error> {
        require(principal, Action::Publish, Some(account))?;
        let message = message.validate()?;
        let inbox = self.inner.store.inbox(account)?;
        let stored = self.submit(Publish { account, message }).await?;
        let read = !stored.created && inbox.read().is_read(principal.reader(), stored.seq);
        Ok(Published {
            created: stored.created,
            message: to_message(account, stored.seq, stored.record, read),
        })
    }

    /// A page of the messages under `filter` that the caller may see, newest first.
    pub async fn list_messages(
        &self,
        principal: &Principal,
        account: AccountId,
        filter: &Filter,
        page: &PageRequest,
    ) -> Result<Page<Message>, Error> {
        let visible = visible_categories(principal, Action::ReadMessages, account)?;
        filter.validate()?;
        page.validate()?;
        let reader = principal.reader();
        let scope = cursor_scope(account, reader.0);
        let before = match &page.cursor {
            Some(c) => Some(decode_cursor(c, &scope, Some(filter))?),
            None => None,
        };
        let inbox = self.inner.store.inbox(account)?;
        let filter = filter.clone();
        let limit = page.limit;
        // Without a text search a page reads at most `limit + 1` messages; a search may
        // scan many, so it leaves the async thread.
        let bounded = filter.text.is_none();
        self.bounded_or_blocking(bounded, move |engine| {
            let mut query = inbox.read().compile(&filter, visible, reader);
            if let Some(before) = before {
                query.high = query.high.min(before);
            }
            let matcher = filter.text.as_deref().map(TextMatcher::new);
            let narrowing = matcher
                .as_ref()
                .and_then(|m| engine.inner.store.text.narrowing(account, m.lowered()));
            let mut items = Vec::with_capacity(limit + 1);
            let mut snapshot = None;
            let mut top = u16::try_from(query.high.saturating_sub(1) >> 16).unwrap_or(u16::MAX);
            while !query.is_empty() && items.len() <= limit {
                // Copy out one chunk's candidates and read flags, then let go of the index
                // before touching the disk, so the writer is never held up by a reader.
                let (mut candidates, read, next) = {
                    let index = inbox.read();
                    let Some(chunk) = index.next_chunk(top) else {
                        break;
                    };
                    let read = index.read_chunk(reader, chunk).cloned().unwrap_or_default();
                    (index.candidates(&query, chunk), read, chunk.checked_sub(1))
                };
                if let Some(narrowing) = &narrowing {
                    narrowing.apply(&mut candidates);
                }
                if snapshot.is_none() {
                    snapshot = Some(engine.inner.store.snapshot()?);
                }
                let Some(snapshot) = snapshot.as_ref() else {
                    break;
                };
                let wanted = limit + 1 - items.len();
                let found = snapshot.newest(account, &candidates, matcher.as_ref(), wanted)?;
                items.extend(
                    found
                        .into_iter()
                        .map(|(seq, record)| to_message(account, seq, record, read.contains(seq))),
                );
                match next {
                    Some(next) => top = next,
                    None => break,
                }
            }
            let next_cursor = if items.len() > limit {
                items.truncate(limit);
                items
                    .last()
                    .map(|m| encode_cursor(u64::from(m.id.seq), &scope, Some(&filter)))
            } else {
                None
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    /// One message, if it exists in `account` and the caller may see its category.
    pub async fn message(
        &self,
        principal: &Principal,
        account: AccountId,
        id: MessageId,
    ) -> Result<Message, Error> {
        require(principal, Action::ReadMessages, Some(account))?;
        let inbox = self.inner.store.inbox(account)?;
        if id.account != account {
            return Err(message_not_found(id));
        }
        let principal = principal.clone();
        // One row: small enough to read on this thread.
        self.bounded_or_blocking(true, move |engine| {
            let snapshot = engine.inner.store.snapshot()?;
            // A deleted message's row may linger until it is purged: the index decides.
            if !inbox.read().live.contains(id.seq) {
                return Err(message_not_found(id));
            }
            let record = snapshot
                .message(account, id.seq)?
                .ok_or_else(|| message_not_found(id))?;
            match authorize(
                &principal,
                Action::ReadMessages,
                Some(account),
                Some(record.category),
            ) {
                Ok(()) => {}
                Err(Denied::OutOfScope) => return Err(message_not_found(id)),
                Err(Denied::Forbidden(why)) => return Err(Error::Forbidden(why)),
            }
            let read = inbox.read().is_read(principal.reader(), id.seq);
            Ok(to_message(account, id.seq, record, read))
        })
        .await
    }

    /// Total and unread messages for the caller, overall and per category.
    pub fn counts(&self, principal: &Principal, account: AccountId) -> Result<Counts, Error> {
        let visible = visible_categories(principal, Action::ReadMessages, account)?;
        let inbox = self.inner.store.inbox(account)?;
        let index = inbox.read();
        let reader = principal.reader();
        let mut counts = Counts {
            total: 0,
            unread: 0,
            by_category: BTreeMap::new(),
        };
        let all = index.counts(reader);
        for category in Category::ALL {
            let count = if visible.contains(category) {
                let (total, unread) = all[category.index()];
                CategoryCount { total, unread }
            } else {
                CategoryCount::default()
            };
            counts.total += count.total;
            counts.unread += count.unread;
            counts.by_category.insert(category, count);
        }
        Ok(counts)
    }

    /// How many deleted messages still have rows on disk, waiting to be purged in the
    /// background (a gauge for operators; deleted messages are invisible either way).
    pub fn pending_purge(&self) -> u64 {
        let state = self.inner.store.state.read();
        state.inboxes.values().map(|i| i.read().purge.len()).sum()
    }

    /// Marks messages read for the caller only, returning how many went from unread to read.
    pub async fn mark_read(
        &self,
        principal: &Principal,
        account: AccountId,
        selection: Selection,
    ) -> Result<u64, Error> {
        self.bulk(principal, account, selection, BulkOp::MarkRead)
            .await
    }

    /// Deletes messages for the whole account, returning how many were deleted. Final.
    pub async fn delete_messages(
        &self,
        principal: &Principal,
        account: AccountId,
        selection: Selection,
    ) -> Result<u64, Error> {
        self.bulk(principal, account, selection, BulkOp::Delete)
            .await
    }

    async fn bulk(
        &self,
        principal: &Principal,
        account: AccountId,
        selection: Selection,
        op: BulkOp,
    ) -> Result<u64, Error> {
        let action = match op {
            BulkOp::MarkRead => Action::MarkRead,
            BulkOp::Delete => Action::DeleteMessages,
        };
        let visible = visible_categories(principal, action, account)?;
        self.inner.store.inbox(account)?;
        let target = match target_of(account, selection)? {
            // A text scan runs here, never in the writer, which every account shares.
            Target::Filter(filter, None) if filter.text.is_some() => {
                self.blocking(move |engine| {
                    let searched = engine
                        .inner
                        .store
                        .search_for_bulk(account, &filter, visible)?;
                    Ok(Target::Filter(filter, searched))
                })
                .await?
            }
            target => target,
        };
        let reader = principal.reader();
        self.submit(Bulk {
            op,
            account,
            reader,
            visible,
            target,
        })
        .await
    }

    /// Deletes one message; not found when it does not exist or is outside the caller's
    /// categories.
    pub async fn delete_message(
        &self,
        principal: &Principal,
        account: AccountId,
        id: MessageId,
    ) -> Result<(), Error> {
        let deleted = self
            .delete_messages(principal, account, Selection::Ids(vec![id]))
            .await?;
        if deleted == 0 {
            return Err(message_not_found(id));
        }
        Ok(())
    }
}

fn cursor_scope(account: AccountId, reader: u64) -> [u8; 16] {
    let mut scope = [0u8; 16];
    scope[..8].copy_from_slice(&account.0.to_be_bytes());
    scope[8..].copy_from_slice(&reader.to_be_bytes());
    scope
}

fn target_of(account: AccountId, selection: Selection) -> Result<Target, Error> {
    match selection {
        Selection::Ids(ids) => {
            if ids.len() > MAX_BULK_IDS {
                return Err(Error::invalid(
                    "ids",
                    format!(
                        "ids names {} messages; at most {MAX_BULK_IDS} are allowed per call, or use a filter",
                        ids.len()
                    ),
                ));
            }
            let mut seqs: Vec<u32> = ids
                .into_iter()
                .filter(|id| id.account == account)
                .map(|id| id.seq)
                .collect();
            seqs.sort_unstable_by(|a, b| b.cmp(a));
            seqs.dedup();
            Ok(Target::Seqs(seqs))
        }
        Selection::Filter(filter) => {
            filter.validate()?;
            Ok(Target::Filter(filter, None))
        }
    }
}
