//! The change history: who changed what, when, with the thing before and after. Every
//! change to users, policies, channels, contacts, subscriptions, retention and mandatory
//! rules, and every unsubscribe through a link, is one entry, written by `record` inside
//! the command that makes the change: the change and its entry commit together or not at
//! all.
//!
//! Each account has its own history; the operator's mandatory rules, which concern every
//! account, are written in the operator's history (book 0). Entries are kept as long as the
//! account keeps its messages (its retention), the operator's for the default retention,
//! and purged by the scheduler with the messages.
//!
//! Secrets never enter a history: a channel is recorded as the API shows it, its
//! configuration redacted by the plugin's schema (every field when the schema is not
//! known).
//!
//! Who sees what: the operator, an account's root and its unscoped full-access users see
//! every entry of the account. A full-access user scoped to some categories sees only the
//! entries that concern one of its categories (subscriptions, unsubscribes); users, policies,
//! channels, contacts and retention concern the whole account and stay hidden from it.
//! Read-only users see no history.

pub(crate) mod commands;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::access::{Action, Principal, require, visible_categories};
use crate::clock::{from_micros, micros};
use crate::engine::Engine;
use crate::error::Error;
use crate::filter::{CategorySet, Fnv, Page, PageRequest, decode_cursor, encode_cursor};
use crate::ids::{AccountId, ChangeId, UserId};
use crate::model::Category;
use crate::store::records::{ActionRecord, ActorRecord, HistoryRecord, SubjectRecord};
use crate::store::snapshot::HistoryKeys;
use crate::store::writer::Tx;

/// The book of the operator's own changes (mandatory rules): no account has id 0.
pub(crate) const OPERATOR_BOOK: AccountId = AccountId(0);

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The operator of the hub.
    Operator,
    /// The account's root.
    Root,
    /// A user of the account.
    User {
        /// The user's id (the user may since have been deleted).
        user_id: UserId,
    },
    /// Someone who followed a one-click unsubscribe link of a message.
    Link,
}

/// What kind of thing a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A user created or deleted.
    User,
    /// A user's policies or category scope changed.
    Policy,
    /// A channel created or deleted.
    Channel,
    /// An email contact created or deleted.
    Contact,
    /// A category's subscription set or deleted.
    Subscription,
    /// The account's retention changed.
    Retention,
    /// An operator's mandatory rule created or deleted (in the operator's history).
    MandatoryRule,
    /// A subscription changed through a message's one-click unsubscribe link.
    Unsubscribe,
}

impl ChangeKind {
    /// Every kind, in the order the API lists them.
    pub const ALL: [ChangeKind; 8] = [
        ChangeKind::User,
        ChangeKind::Policy,
        ChangeKind::Channel,
        ChangeKind::Contact,
        ChangeKind::Subscription,
        ChangeKind::Retention,
        ChangeKind::MandatoryRule,
        ChangeKind::Unsubscribe,
    ];

    /// The kind's name as the API writes it, e.g. `mandatory_rule`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::User => "user",
            ChangeKind::Policy => "policy",
            ChangeKind::Channel => "channel",
            ChangeKind::Contact => "contact",
            ChangeKind::Subscription => "subscription",
            ChangeKind::Retention => "retention",
            ChangeKind::MandatoryRule => "mandatory_rule",
            ChangeKind::Unsubscribe => "unsubscribe",
        }
    }

    /// Parses a kind's name, with an error that names `field` and lists the valid names.
    pub fn parse_field(text: &str, field: &str) -> Result<ChangeKind, Error> {
        ChangeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = ChangeKind::ALL.iter().map(|k| k.as_str()).collect();
                Error::invalid(
                    field,
                    format!(
                        "kind '{}' is not one of {}",
                        text.chars().take(64).collect::<String>(),
                        names.join(", ")
                    ),
                )
            })
    }

    fn bit(self) -> u16 {
        1 << ChangeKind::ALL.iter().position(|&k| k == self).unwrap_or(0)
    }

    fn subject(self) -> SubjectRecord {
        match self {
            ChangeKind::User => SubjectRecord::User,
            ChangeKind::Policy => SubjectRecord::Policy,
            ChangeKind::Channel => SubjectRecord::Channel,
            ChangeKind::Contact => SubjectRecord::Contact,
            ChangeKind::Subscription => SubjectRecord::Subscription,
            ChangeKind::Retention => SubjectRecord::Retention,
            ChangeKind::MandatoryRule => SubjectRecord::MandatoryRule,
            ChangeKind::Unsubscribe => SubjectRecord::Unsubscribe,
        }
    }

    fn of(subject: SubjectRecord) -> ChangeKind {
        match subject {
            SubjectRecord::User => ChangeKind::User,
            SubjectRecord::Policy => ChangeKind::Policy,
            SubjectRecord::Channel => ChangeKind::Channel,
            SubjectRecord::Contact => ChangeKind::Contact,
            SubjectRecord::Subscription => ChangeKind::Subscription,
            SubjectRecord::Retention => ChangeKind::Retention,
            SubjectRecord::MandatoryRule => ChangeKind::MandatoryRule,
            SubjectRecord::Unsubscribe => ChangeKind::Unsubscribe,
        }
    }
}

/// Whether a change created, changed or deleted its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// It did not exist before.
    Created,
    /// It existed before and after.
    Changed,
    /// It does not exist after.
    Deleted,
}

/// One entry of a change history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The entry's id; entries are numbered in the order they were made.
    pub id: ChangeId,
    /// When the change was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who made it.
    pub actor: Actor,
    /// What kind of thing it touched.
    pub kind: ChangeKind,
    /// Whether it created, changed or deleted it.
    pub action: ChangeAction,
    /// The category it concerns, for subscriptions, unsubscribes and mandatory rules.
    pub category: Option<Category>,
    /// The id of what changed (a user, channel, contact, rule or account id), or the
    /// category's name for a subscription.
    pub target: String,
    /// The thing before the change, as the API shows it (secrets redacted); `None` when
    /// it was created.
    pub before: Option<serde_json::Value>,
    /// The thing after the change, as the API shows it (secrets redacted); `None` when it
    /// was deleted.
    pub after: Option<serde_json::Value>,
}

/// Which entries of a history to list. Every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Only these kinds.
    pub kinds: Option<Vec<ChangeKind>>,
    /// Made at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Made before this instant.
    pub until: Option<OffsetDateTime>,
}

impl HistoryFilter {
    /// Only entries of these kinds.
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = ChangeKind>) -> HistoryFilter {
        self.kinds = Some(kinds.into_iter().collect());
        self
    }

    /// Only entries made at or after `since`.
    pub fn since(mut self, since: OffsetDateTime) -> HistoryFilter {
        self.since = Some(since);
        self
    }

    /// Only entries made before `until`.
    pub fn until(mut self, until: OffsetDateTime) -> HistoryFilter {
        self.until = Some(until);
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.kinds.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid(
                "kind",
                "kind must name at least one kind, or be left out for all",
            ));
        }
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since > until
        {
            return Err(Error::invalid(
                "until",
                format!(
                    "until ({}) is before since ({}); since is inclusive, until exclusive",
                    crate::format_time(until),
                    crate::format_time(since)
                ),
            ));
        }
        Ok(())
    }

    fn kind_bits(&self) -> u16 {
        match &self.kinds {
            Some(kinds) => kinds.iter().fold(0, |bits, k| bits | k.bit()),
            None => u16::MAX,
        }
    }

    /// The cursor's scope: the book, the filter and what the caller may see, so that a
    /// cursor is refused under any other list.
    fn scope(&self, book: AccountId, visible: Option<CategorySet>) -> Vec<u8> {
        let mut h = Fnv::new(b"msghub-history");
        h.write(&self.kind_bits().to_le_bytes());
        for t in [self.since, self.until] {
            let nanos = t.map_or(i128::MIN, OffsetDateTime::unix_timestamp_nanos);
            h.write(&nanos.to_le_bytes());
        }
        h.write(&[visible.map_or(0xff, CategorySet::bits)]);
        let mut scope = book.0.to_be_bytes().to_vec();
        scope.extend_from_slice(&h.finish().to_be_bytes());
        scope
    }

    fn takes(&self, record: &HistoryRecord) -> bool {
        let kind = ChangeKind::of(record.subject);
        self.kind_bits() & kind.bit() != 0
            && self.since.is_none_or(|s| record.at >= micros(s))
            && self.until.is_none_or(|u| record.at < micros(u))
    }
}

/// One entry about to be recorded: build it with [`Entry::new`], add what applies, and
/// hand it to [`record`].
pub(crate) struct Entry {
    actor: ActorRecord,
    subject: SubjectRecord,
    action: ActionRecord,
    category: Option<Category>,
    target: String,
    before: Option<String>,
    after: Option<String>,
}

impl Entry {
    /// An entry: `actor` did `action` to the `subject` identified by `target`.
    pub(crate) fn new(
        actor: ActorRecord,
        subject: SubjectRecord,
        action: ActionRecord,
        target: impl Into<String>,
    ) -> Entry {
        Entry {
            actor,
            subject,
            action,
            category: None,
            target: target.into(),
            before: None,
            after: None,
        }
    }

    /// The category the change concerns: a scoped user sees the entry when it is one of
    /// its categories.
    pub(crate) fn category(mut self, category: Category) -> Entry {
        self.category = Some(category);
        self
    }

    /// The subject before the change, as the API shows it. It must hold no secret.
    pub(crate) fn before(mut self, shown: &impl Serialize) -> Entry {
        self.before = serde_json::to_string(shown).ok();
        self
    }

    /// The subject after the change, as the API shows it. It must hold no secret.
    pub(crate) fn after(mut self, shown: &impl Serialize) -> Entry {
        self.after = serde_json::to_string(shown).ok();
        self
    }
}

/// Records `entry` in the history of `book` (an account, or [`OPERATOR_BOOK`]) inside the
/// command's transaction, at the group's time: the entry commits with the change it
/// describes, or neither does. Every command that changes something the history covers
/// calls this once per change, after its checks passed. An unsubscribe through a link,
/// for instance, is recorded by the command that changes the subscription:
///
/// ```text
/// let entry = Entry::new(ActorRecord::Link, SubjectRecord::Unsubscribe, ActionRecord::Changed, category.as_str())
///     .category(category)
///     .before(&subscription_of(category, &old))
///     .after(&subscription_of(category, &new));
/// history::record(tx, account, entry)?;
/// ```
pub(crate) fn record(tx: &mut Tx<'_>, book: AccountId, entry: Entry) -> Result<(), Error> {
    let record = HistoryRecord {
        at: tx.now(),
        actor: entry.actor,
        subject: entry.subject,
        action: entry.action,
        category: entry.category,
        target: entry.target,
        before: entry.before,
        after: entry.after,
    };
    tx.db.append_history(book, &record)?;
    Ok(())
}

impl ActorRecord {
    /// Who `principal` is, as a history records it.
    pub(crate) fn of(principal: &Principal) -> ActorRecord {
        match principal {
            Principal::Operator => ActorRecord::Operator,
            Principal::Root(_) => ActorRecord::Root,
            Principal::User(grant) => ActorRecord::User(grant.user.0),
        }
    }
}

fn change_of(id: u64, record: HistoryRecord) -> Change {
    let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    Change {
        id: ChangeId(id),
        at: from_micros(record.at),
        actor: match record.actor {
            ActorRecord::Operator => Actor::Operator,
            ActorRecord::Root => Actor::Root,
            ActorRecord::User(id) => Actor::User {
                user_id: UserId(id),
            },
            ActorRecord::Link => Actor::Link,
        },
        kind: ChangeKind::of(record.subject),
        action: match record.action {
            ActionRecord::Created => ChangeAction::Created,
            ActionRecord::Changed => ChangeAction::Changed,
            ActionRecord::Deleted => ChangeAction::Deleted,
        },
        category: record.category,
        target: record.target,
        before: json(record.before),
        after: json(record.after),
    }
}

impl Engine {
    /// A page of `account`'s change history, newest first, under `filter`: for the
    /// operator, the account's root and its full-access users. A user scoped to some
    /// categories sees only the entries of those categories (see the module's docs).
    /// Paging by `next_cursor` never repeats or skips an entry, whatever is recorded or
    /// purged meanwhile.
    pub async fn history(
        &self,
        principal: &Principal,
        account: AccountId,
        filter: &HistoryFilter,
        page: &PageRequest,
    ) -> Result<Page<Change>, Error> {
        let visible = visible_categories(principal, Action::ReadHistory, account)?;
        self.inner.store.inbox(account)?;
        let scoped = match principal {
            Principal::User(grant) => grant.categories.map(|_| visible),
            _ => None,
        };
        self.history_page(account, scoped, filter, page).await
    }

    /// A page of the operator's own history (mandatory rules), newest first, under
    /// `filter`: for the operator.
    pub async fn operator_history(
        &self,
        principal: &Principal,
        filter: &HistoryFilter,
        page: &PageRequest,
    ) -> Result<Page<Change>, Error> {
        require(principal, Action::ManageMandatoryRules, None)?;
        self.history_page(OPERATOR_BOOK, None, filter, page).await
    }

    /// A page of `book`; with `scoped`, only the entries of those categories.
    async fn history_page(
        &self,
        book: AccountId,
        scoped: Option<CategorySet>,
        filter: &HistoryFilter,
        page: &PageRequest,
    ) -> Result<Page<Change>, Error> {
        filter.validate()?;
        page.validate()?;
        let scope = filter.scope(book, scoped);
        let before = match &page.cursor {
            Some(c) => Some(decode_cursor(c, &scope, None)?),
            None => None,
        };
        // Through the index that reads the fewest entries that cannot be shown.
        let keys = match (scoped, &filter.kinds) {
            (Some(set), _) => HistoryKeys::Categories(set.iter().collect()),
            (None, Some(kinds)) => {
                let mut subjects: Vec<SubjectRecord> = kinds.iter().map(|k| k.subject()).collect();
                subjects.sort_by_key(|s| s.code());
                subjects.dedup();
                HistoryKeys::Subjects(subjects)
            }
            (None, None) => HistoryKeys::All,
        };
        let filter = filter.clone();
        let limit = page.limit;
        self.blocking(move |engine| {
            let snapshot = engine.inner.store.snapshot()?;
            let mut found = Vec::with_capacity(limit + 1);
            snapshot.history(book, &keys, before, &mut |id, record| {
                let seen =
                    scoped.is_none_or(|set| record.category.is_some_and(|c| set.contains(c)));
                if seen && filter.takes(&record) {
                    found.push((id, record));
                }
                found.len() <= limit
            })?;
            let more = found.len() > limit;
            found.truncate(limit);
            let next_cursor = if more {
                found.last().map(|(id, _)| encode_cursor(*id, &scope, None))
            } else {
                None
            };
            Ok(Page {
                items: found.into_iter().map(|(id, r)| change_of(id, r)).collect(),
                next_cursor,
            })
        })
        .await
    }
}
