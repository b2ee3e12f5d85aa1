//! Live events of an inbox: what changed for the caller, as it happens.
//!
//! [`Engine::events`] opens a stream on an account for a principal. Its [`Events::next`]
//! waits for the next commit that concerns the caller and returns what it changed: each new
//! message the caller may see, the ids of deleted messages it may see, and then the caller's
//! counts. Every event has an id; a client that reconnects with the last id it received
//! gets what it missed, if that happened within the last five minutes (and the account's
//! last 4,096 changes); otherwise it gets a [`EventKind::Reset`] first and should reload what
//! it shows.

use std::sync::Arc;

use tokio::sync::watch;

use crate::access::{Action, Principal, Reader, visible_categories};
use crate::engine::Engine;
use crate::error::Error;
use crate::filter::CategorySet;
use crate::ids::{AccountId, MessageId};
use crate::inbox::{Counts, to_message};
use crate::store::live::{self, Change, Watch};

/// One event of a live stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Names the event's place in the stream: give the last one received back to
    /// [`Engine::events`] to resume after it.
    pub id: String,
    /// What happened.
    pub kind: EventKind,
}

/// What an [`Event`] says.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A new message the caller may see (shared by the streams that send it).
    Message(Arc<crate::model::Message>),
    /// Messages the caller may see were deleted.
    Deleted(Vec<MessageId>),
    /// The caller's counts after the changes before this event.
    Counts(Counts),
    /// Changes were missed (the stream resumed too late, or too many messages changed at
    /// once to list): the client should reload what it shows. Says why.
    Reset(String),
    /// The stream is over: its user was deleted or its rights changed. Says why; nothing
    /// follows.
    Closed(String),
}

/// An open live stream of one account for one principal. Dropping it closes it.
pub struct Events {
    engine: Engine,
    principal: Principal,
    account: AccountId,
    visible: CategorySet,
    reader: Reader,
    watch: Watch,
    changed: watch::Receiver<u64>,
    /// The position of the last change looked at.
    position: u64,
    /// Whether the first call of [`Events::next`] is still to come.
    opening: bool,
    /// Why the stream cannot resume where its client asked, said in its first events.
    missed: Option<String>,
    /// Whether the stream sent [`EventKind::Closed`].
    closed: bool,
}

impl Engine {
    /// Checks that `principal` may watch `account`'s inbox (it may read its messages).
    pub fn may_watch(&self, principal: &Principal, account: AccountId) -> Result<(), Error> {
        visible_categories(principal, Action::ReadMessages, account)?;
        self.inner.store.inbox(account)?;
        Ok(())
    }

    /// Opens a live stream of `account`'s inbox for `principal`, who must be allowed to
    /// read its messages; it sees only the categories the principal may see, as they were
    /// when the stream opened. With `last_event_id` (an [`Event::id`] of an earlier stream)
    /// it starts with what came after that event.
    pub fn events(
        &self,
        principal: &Principal,
        account: AccountId,
        last_event_id: Option<&str>,
    ) -> Result<Events, Error> {
        let visible = visible_categories(principal, Action::ReadMessages, account)?;
        self.inner.store.inbox(account)?;
        let feeds = &self.inner.store.live;
        let resume = match last_event_id {
            Some(id) => Some(parse_id(id)?),
            None => None,
        };
        let watch = feeds.watch(account);
        let changed = watch.feed().subscribe();
        let now = watch.feed().latest();
        let (position, missed) = match resume {
            None => (now, None),
            Some((epoch, position)) if epoch == feeds.epoch && position <= feeds.position() => {
                if watch.feed().after(position).gap {
                    (
                        now,
                        Some(format!(
                            "the changes after event {} are no longer kept (the last {} \
                             minutes are); reload",
                            format_id(epoch, position),
                            live::WINDOW.as_secs() / 60
                        )),
                    )
                } else {
                    (position, None)
                }
            }
            Some(_) => (
                now,
                Some("the server restarted since that event; reload".to_owned()),
            ),
        };
        Ok(Events {
            engine: self.clone(),
            principal: principal.clone(),
            account,
            visible,
            reader: principal.reader(),
            watch,
            changed,
            position,
            opening: true,
            missed,
            closed: false,
        })
    }

    /// How many live streams are open, over every account.
    pub fn event_streams(&self) -> usize {
        self.inner.store.live.watchers()
    }

    /// How many live streams are open on `account`.
    pub fn event_streams_of(&self, account: AccountId) -> usize {
        self.inner.store.live.watchers_of(account)
    }
}

impl Events {
    /// The account this stream watches.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The id of the last change this stream looked at: resuming from it misses nothing.
    pub fn last_id(&self) -> String {
        format_id(self.engine.inner.store.live.epoch, self.position)
    }

    /// Waits for the next changes that concern the caller and returns their events (never
    /// none). The first call returns at once: a [`EventKind::Reset`] if the stream could not
    /// resume where asked, what was missed since the event it resumed after, and the
    /// caller's counts. Safe to cancel (in a `select!`): nothing is lost.
    pub async fn next(&mut self) -> Result<Vec<Event>, Error> {
        if self.closed {
            std::future::pending::<()>().await;
        }
        if self.opening {
            self.opening = false;
            let mut events = Vec::new();
            if let Some(why) = self.missed.take() {
                events.push(Event {
                    id: self.last_id(),
                    kind: EventKind::Reset(why),
                });
            }
            events.extend(self.catch_up(true)?);
            return Ok(events);
        }
        loop {
            if self.changed.changed().await.is_err() {
                // The feed lives as long as this stream holds it; nothing to wait for.
                std::future::pending::<()>().await;
            }
            let events = self.catch_up(false)?;
            if !events.is_empty() {
                return Ok(events);
            }
        }
    }

    /// The events of the changes after this stream's position, ending with the counts if
    /// any change concerned the caller (or `counts` asks for them anyway).
    fn catch_up(&mut self, mut counts: bool) -> Result<Vec<Event>, Error> {
        let since = self.watch.feed().after(self.position);
        let epoch = self.engine.inner.store.live.epoch;
        let mut events = Vec::new();
        if since.gap {
            // Entries this stream had not read were dropped: it fell too far behind.
            events.push(Event {
                id: format_id(epoch, since.latest),
                kind: EventKind::Reset(format!(
                    "this stream fell more than {} changes behind; reload",
                    live::MAX_ENTRIES
                )),
            });
            counts = true;
        }
        let store = &self.engine.inner.store;
        let inbox = store.inbox(self.account)?;
        let mut snapshot = None;
        for entry in &since.entries {
            let id = || format_id(epoch, entry.position);
            match &entry.change {
                Change::Added(seq, category) => {
                    if !self.visible.contains(*category) {
                        continue;
                    }
                    counts = true;
                    let (live, read) = {
                        let index = inbox.read();
                        (index.live.contains(*seq), index.is_read(self.reader, *seq))
                    };
                    if !live {
                        // Deleted already: its removal follows.
                        continue;
                    }
                    let shared = match self.watch.feed().shared(entry.position) {
                        Some(shared) => shared,
                        None => {
                            if snapshot.is_none() {
                                snapshot = Some(store.snapshot()?);
                            }
                            let Some(snapshot) = &snapshot else { continue };
                            let Some(record) = snapshot.message(self.account, *seq)? else {
                                continue;
                            };
                            let message = Arc::new(to_message(self.account, *seq, record, false));
                            self.watch.feed().share(
                                entry.position,
                                message.clone(),
                                &store.live.shared_bytes,
                            );
                            message
                        }
                    };
                    // Shared as unread; a reader who read it already gets its own copy.
                    let message = if read {
                        let mut own = (*shared).clone();
                        own.read = true;
                        Arc::new(own)
                    } else {
                        shared
                    };
                    events.push(Event {
                        id: id(),
                        kind: EventKind::Message(message),
                    });
                }
                Change::Removed(removed) => {
                    let ids: Vec<MessageId> = removed
                        .iter()
                        .filter(|(_, category)| self.visible.contains(*category))
                        .map(|&(seq, _)| MessageId {
                            account: self.account,
                            seq,
                        })
                        .collect();
                    if !ids.is_empty() {
                        counts = true;
                        events.push(Event {
                            id: id(),
                            kind: EventKind::Deleted(ids),
                        });
                    }
                }
                Change::ManyRemoved(categories) => {
                    if categories.iter().any(|c| self.visible.contains(*c)) {
                        counts = true;
                        events.push(Event {
                            id: id(),
                            kind: EventKind::Reset(format!(
                                "more than {} messages were deleted at once; reload",
                                live::MAX_LISTED
                            )),
                        });
                    }
                }
                Change::Read(reader) => counts |= *reader == self.reader,
                Change::Access(user) => {
                    if let Some(why) = self.revoked(*user) {
                        self.closed = true;
                        self.position = entry.position;
                        events.push(Event {
                            id: id(),
                            kind: EventKind::Closed(why),
                        });
                        return Ok(events);
                    }
                }
            }
        }
        self.position = since.latest.max(self.position);
        if counts {
            events.push(Event {
                id: format_id(epoch, self.position),
                kind: EventKind::Counts(self.engine.counts(&self.principal, self.account)?),
            });
        }
        Ok(events)
    }
}

impl Events {
    /// Why this stream may no longer go on after `user` changed, if it is that user's and
    /// the user is gone or holds other rights now.
    fn revoked(&self, user: u64) -> Option<String> {
        let Principal::User(grant) = &self.principal else {
            return None;
        };
        if grant.user.0 != user {
            return None;
        }
        let state = self.engine.inner.store.state.read();
        let Some(record) = state.user(grant.user) else {
            return Some("this user was deleted".into());
        };
        let categories: Option<CategorySet> = record
            .categories
            .as_ref()
            .map(|c| c.iter().copied().collect());
        (record.policies != grant.policies || categories != grant.categories)
            .then(|| "this user's rights changed; open a new stream".into())
    }
}

fn format_id(epoch: u32, position: u64) -> String {
    format!("{epoch:08x}-{position}")
}

fn parse_id(id: &str) -> Result<(u32, u64), Error> {
    let bad = || {
        Error::invalid(
            "last_event_id",
            format!(
                "'{}' is not an event id of this server; leave it out to start from now",
                id.chars().take(64).collect::<String>()
            ),
        )
    };
    let (epoch, position) = id.split_once('-').ok_or_else(bad)?;
    if epoch.len() != 8 {
        return Err(bad());
    }
    let epoch = u32::from_str_radix(epoch, 16).map_err(|_| bad())?;
    let position = position.parse().map_err(|_| bad())?;
    Ok((epoch, position))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_nonsense_is_refused() {
        assert_eq!(
            parse_id(&format_id(0xdead_beef, 42)).ok(),
            Some((0xdead_beef, 42))
        );
        for bad in [
            "",
            "42",
            "deadbeef",
            "deadbeef-",
            "dead-42",
            "zzzzzzzz-1",
            "deadbeef-x",
        ] {
            assert!(parse_id(bad).is_err(), "{bad:?} was taken");
        }
    }
}
