//! The delivery side's changes, applied by the writer in a group's transaction: channels,
//! contacts and subscriptions (each recorded in the account's history in the same
//! transaction); routing a new message to its targets inside the publishing transaction
//! (the transactional outbox); digests; attempts and their outcomes; re-queues.

use std::sync::Arc;
use std::time::Duration;

use super::routing;
use crate::clock::micros_of;
use crate::error::Error;
use crate::filter::CategorySet;
use crate::history::{self, Entry, OPERATOR_BOOK};
use crate::ids::{AccountId, ChannelId, ContactId, RuleId};
use crate::limits::Holding;
use crate::model::Category;
use crate::schedule::jitter;
use crate::store::Subscribed;
use crate::store::records::{
    ActionRecord, ActorRecord, ChannelRecord, ContactRecord, DeliveryRecord, DeliveryState,
    MandatoryRuleRecord, MessageRecord, SubjectRecord, TargetKey,
};
use crate::store::writer::{Command, Effect, Tx};

/// The plugin that delivers to email contacts.
pub(crate) const EMAIL_PLUGIN: &str = "email";

/// Creates a channel, its name unique in the account, within the account's limit.
pub(crate) struct CreateChannel {
    pub(crate) account: AccountId,
    pub(crate) id: u64,
    pub(crate) record: ChannelRecord,
    /// The channel as the API shows it, secrets redacted: what the history records.
    pub(crate) shown: super::Channel,
    /// Who creates it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for CreateChannel {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let CreateChannel {
            account,
            id,
            record,
            shown,
            by,
        } = self;
        tx.inbox(account)?;
        if tx.channel_name_taken(account, &record.name) {
            return Err(Error::Conflict(format!(
                "a channel named '{}' already exists in this account; choose another name",
                record.name
            )));
        }
        tx.room_for(account, Holding::Channel)?;
        tx.db.put_channel(account, id, &record)?;
        let entry = Entry::new(
            by,
            SubjectRecord::Channel,
            ActionRecord::Created,
            ChannelId(id).to_string(),
        )
        .after(&shown);
        history::record(tx, account, entry)?;
        tx.effect(Effect::Channel(account, id, Some(record)));
        Ok(())
    }
}

/// Deletes a channel no subscription names.
pub(crate) struct DeleteChannel {
    pub(crate) account: AccountId,
    pub(crate) id: u64,
    /// The categories whose subscriptions the caller may see, named in a conflict.
    pub(crate) visible: CategorySet,
    /// The channel as the API shows it, secrets redacted: what the history records.
    pub(crate) shown: Option<super::Channel>,
    /// Who deletes it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for DeleteChannel {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let DeleteChannel {
            account,
            id,
            visible,
            shown,
            by,
        } = self;
        refuse_if_subscribed(tx, account, TargetKey::Channel(id), visible)?;
        if !tx.db.remove_channel(account, id)? {
            return Err(Error::NotFound(format!(
                "channel {} does not exist",
                ChannelId(id)
            )));
        }
        let mut entry = Entry::new(
            by,
            SubjectRecord::Channel,
            ActionRecord::Deleted,
            ChannelId(id).to_string(),
        );
        if let Some(shown) = &shown {
            entry = entry.before(shown);
        }
        history::record(tx, account, entry)?;
        tx.effect(Effect::Channel(account, id, None));
        Ok(())
    }
}

/// Creates an email contact, within the account's limit.
pub(crate) struct CreateContact {
    pub(crate) account: AccountId,
    pub(crate) id: u64,
    pub(crate) record: ContactRecord,
    /// Who creates it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for CreateContact {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let CreateContact {
            account,
            id,
            record,
            by,
        } = self;
        tx.inbox(account)?;
        tx.room_for(account, Holding::Contact)?;
        tx.db.put_contact(account, id, &record)?;
        let entry = Entry::new(
            by,
            SubjectRecord::Contact,
            ActionRecord::Created,
            ContactId(id).to_string(),
        )
        .after(&super::contact_of(id, &record));
        history::record(tx, account, entry)?;
        tx.effect(Effect::Contact(account, id, Some(record)));
        Ok(())
    }
}

/// Deletes a contact no subscription names.
pub(crate) struct DeleteContact {
    pub(crate) account: AccountId,
    pub(crate) id: u64,
    /// The categories whose subscriptions the caller may see, named in a conflict.
    pub(crate) visible: CategorySet,
    /// The contact as it was, for the history.
    pub(crate) shown: Option<super::Contact>,
    /// Who deletes it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for DeleteContact {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let DeleteContact {
            account,
            id,
            visible,
            shown,
            by,
        } = self;
        refuse_if_subscribed(tx, account, TargetKey::Contact(id), visible)?;
        if !tx.db.remove_contact(account, id)? {
            return Err(Error::NotFound(format!(
                "contact {} does not exist",
                ContactId(id)
            )));
        }
        let mut entry = Entry::new(
            by,
            SubjectRecord::Contact,
            ActionRecord::Deleted,
            ContactId(id).to_string(),
        );
        if let Some(shown) = &shown {
            entry = entry.before(shown);
        }
        history::record(tx, account, entry)?;
        tx.effect(Effect::Contact(account, id, None));
        Ok(())
    }
}

/// Sets the subscription of a category; every target it names must exist, and a category
/// a mandatory rule covers keeps at least one target. The digests gathered under the old
/// rules go out at once: nothing is lost.
pub(crate) struct PutSubscription {
    pub(crate) account: AccountId,
    pub(crate) category: Category,
    pub(crate) subscription: Arc<Subscribed>,
    /// Who sets it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for PutSubscription {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let PutSubscription {
            account,
            category,
            subscription,
            by,
        } = self;
        tx.inbox(account)?;
        for target in routing::targets(&subscription.record) {
            if !tx.target_exists(account, target) {
                let (field, text) = match target {
                    TargetKey::Channel(id) => ("channels", ChannelId(id).to_string()),
                    TargetKey::Contact(id) => ("contacts", ContactId(id).to_string()),
                };
                return Err(Error::invalid(
                    field,
                    format!("{text} does not exist in this account"),
                ));
            }
        }
        if routing::targets(&subscription.record).next().is_none() {
            refuse_if_mandatory(tx, category, "left without a channel or contact")?;
        }
        let before = tx.subscription(account, category);
        close_digests(tx, account, category)?;
        tx.db
            .put_subscription(account, category, &subscription.record)?;
        let action = match before {
            Some(_) => ActionRecord::Changed,
            None => ActionRecord::Created,
        };
        let mut entry = Entry::new(by, SubjectRecord::Subscription, action, category.as_str())
            .category(category)
            .after(&super::subscription_of(category, &subscription.record));
        if let Some(before) = &before {
            entry = entry.before(&super::subscription_of(category, &before.record));
        }
        history::record(tx, account, entry)?;
        tx.effect(Effect::Subscription(account, category, Some(subscription)));
        Ok(())
    }
}

/// Removes the subscription of a category, sending what its digests gathered; refused
/// while a mandatory rule covers the category.
pub(crate) struct DeleteSubscription {
    pub(crate) account: AccountId,
    pub(crate) category: Category,
    /// Who deletes it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for DeleteSubscription {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let DeleteSubscription {
            account,
            category,
            by,
        } = self;
        let Some(before) = tx.subscription(account, category) else {
            return Err(Error::NotFound(format!(
                "there is no subscription for category '{category}'"
            )));
        };
        refuse_if_mandatory(tx, category, "deleted")?;
        if !tx.db.remove_subscription(account, category)? {
            return Err(Error::NotFound(format!(
                "there is no subscription for category '{category}'"
            )));
        }
        close_digests(tx, account, category)?;
        let entry = Entry::new(
            by,
            SubjectRecord::Subscription,
            ActionRecord::Deleted,
            category.as_str(),
        )
        .category(category)
        .before(&super::subscription_of(category, &before.record));
        history::record(tx, account, entry)?;
        tx.effect(Effect::Subscription(account, category, None));
        Ok(())
    }
}

/// Refuses a change that would leave `category` with no target while a mandatory rule
/// covers it, naming the first such rule; `what` says what the subscription would be.
fn refuse_if_mandatory(tx: &Tx<'_>, category: Category, what: &str) -> Result<(), Error> {
    let rules = tx.mandatory_rules();
    let Some((id, rule)) = routing::rules_of(&rules, category).next() else {
        return Ok(());
    };
    let rule_id = RuleId(id);
    Err(Error::MandatoryRule {
        message: format!(
            "the subscription of '{category}' cannot be {what}: the operator's mandatory rule \
             '{}' ({rule_id}) requires {} to reach at least one channel or contact; \
             change its targets instead, or ask the operator about the rule",
            rule.name,
            super::mandatory::describe(rule)
        ),
        rule: rule_id,
    })
}

/// Creates a mandatory rule of the operator, its name unique among the rules, and records
/// it in the operator's history.
pub(crate) struct CreateRule {
    pub(crate) id: u64,
    pub(crate) record: MandatoryRuleRecord,
    /// Who creates it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for CreateRule {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let CreateRule { id, record, by } = self;
        if tx
            .mandatory_rules()
            .values()
            .any(|rule| rule.name == record.name)
        {
            return Err(Error::Conflict(format!(
                "a mandatory rule named '{}' already exists; choose another name",
                record.name
            )));
        }
        tx.db.put_mandatory_rule(id, &record)?;
        let entry = Entry::new(
            by,
            SubjectRecord::MandatoryRule,
            ActionRecord::Created,
            RuleId(id).to_string(),
        )
        .category(record.category)
        .after(&super::mandatory::rule_of(id, &record));
        history::record(tx, OPERATOR_BOOK, entry)?;
        tx.effect(Effect::MandatoryRule(id, Some(record)));
        Ok(())
    }
}

/// Deletes a mandatory rule and records it in the operator's history.
pub(crate) struct DeleteRule {
    pub(crate) id: u64,
    /// Who deletes it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for DeleteRule {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let DeleteRule { id, by } = self;
        let Some(record) = tx.db.remove_mandatory_rule(id)? else {
            return Err(Error::NotFound(format!(
                "mandatory rule {} does not exist",
                RuleId(id)
            )));
        };
        let entry = Entry::new(
            by,
            SubjectRecord::MandatoryRule,
            ActionRecord::Deleted,
            RuleId(id).to_string(),
        )
        .category(record.category)
        .before(&super::mandatory::rule_of(id, &record));
        history::record(tx, OPERATOR_BOOK, entry)?;
        tx.effect(Effect::MandatoryRule(id, None));
        Ok(())
    }
}

/// An attempt starts: recorded before the plugin runs, so that one a crash cuts off is
/// known at the next start. Answers false when the delivery was settled meanwhile.
pub(crate) struct Begin {
    pub(crate) id: u64,
}

impl Command for Begin {
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, Error> {
        let id = self.id;
        let pending = tx.db.delivery(id)?.is_some_and(|record| !settled(&record));
        if !pending || tx.db.due(id)?.is_none() {
            return Ok(false);
        }
        tx.db.begin_attempt(id)?;
        Ok(true)
    }
}

/// How one attempt ended, as a worker reports it.
#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the delivery workers
#[derive(Debug, Clone)]
pub(crate) enum Attempt {
    /// The target accepted it.
    Delivered,
    /// The target accepted one part of a digest too large for one call, ending with the
    /// member `through`; the rest is due at once.
    Part { through: u32 },
    /// It failed; `retry` says whether another attempt may help, and not before when.
    Failed {
        error: String,
        retry: bool,
        retry_after: Option<Duration>,
    },
}

/// Records how an attempt ended: delivered, the next part due, retried on the retry
/// schedule (not before the target asked), or filed as a dead letter. Answers false for a
/// late report about a delivery already settled.
pub(crate) struct Outcome {
    pub(crate) id: u64,
    pub(crate) attempt: Attempt,
}

impl Command for Outcome {
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, Error> {
        let Outcome { id, attempt } = self;
        tx.db.end_attempt(id)?;
        let Some(mut record) = tx.db.delivery(id)? else {
            tx.effect(Effect::Settle(id));
            return Ok(false);
        };
        if settled(&record) || tx.db.due(id)?.is_none() {
            // A late report for a delivery another attempt already settled.
            return Ok(false);
        }
        let now = tx.now();
        record.updated = now;
        if let Attempt::Part { through } = attempt {
            // Not an attempt of its own: the next part goes at once, as the same attempt.
            tx.db.put_digest_sent(id, through)?;
            record.next_attempt = Some(now);
            tx.db.schedule(id, now)?;
            tx.effect(Effect::Schedule(id, now));
            tx.db.put_delivery(id, &record)?;
            return Ok(true);
        }
        record.attempts = record.attempts.saturating_add(1);
        match attempt {
            Attempt::Part { .. } => {}
            Attempt::Delivered => {
                record.state = DeliveryState::Delivered;
                record.next_attempt = None;
                tx.db.unschedule(id)?;
                tx.effect(Effect::Settle(id));
            }
            Attempt::Failed {
                error,
                retry,
                retry_after,
            } => {
                record.last_error = Some(error);
                match tx.retry().delay_before(record.attempts + 1) {
                    Some(delay) if retry => {
                        let mut delay = jitter(delay);
                        if let Some(after) = retry_after
                            && after > delay
                        {
                            delay = after;
                        }
                        let due = now.saturating_add(micros_of(delay));
                        record.state = DeliveryState::Retrying;
                        record.next_attempt = Some(due);
                        tx.db.schedule(id, due)?;
                        tx.effect(Effect::Schedule(id, due));
                    }
                    _ => {
                        record.state = DeliveryState::Failed;
                        record.next_attempt = None;
                        tx.db.unschedule(id)?;
                        tx.db.put_failed(record.account, record.target, id)?;
                        tx.effect(Effect::Settle(id));
                    }
                }
            }
        }
        tx.db.put_delivery(id, &record)?;
        Ok(true)
    }
}

/// Closes a digest tick of a category: every digest gathering for it goes out now. Each
/// tick is closed once: answers 0 for a tick at or before the last one closed, else how
/// many digests went out.
pub(crate) struct CloseDigests {
    pub(crate) account: AccountId,
    pub(crate) category: Category,
    pub(crate) tick: i64,
}

impl Command for CloseDigests {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, Error> {
        let CloseDigests {
            account,
            category,
            tick,
        } = self;
        let last = tx.db.digest_tick(account, category)?;
        if last.is_some_and(|last| last >= tick) {
            return Ok(0);
        }
        tx.db.put_digest_tick(account, category, tick)?;
        tx.effect(Effect::DigestTick(account, category, tick));
        close_digests(tx, account, category)
    }
}

/// Which failed deliveries a re-queue takes up again.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RequeueScope {
    /// Those of one message.
    Message(u32),
    /// Those to one target.
    Target(TargetKey),
}

/// Takes the dead letters in a scope up again, only those of messages of `categories` (the
/// caller's scope); answers how many.
pub(crate) struct RequeueDead {
    pub(crate) account: AccountId,
    pub(crate) scope: RequeueScope,
    pub(crate) categories: CategorySet,
}

impl Command for RequeueDead {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, Error> {
        let RequeueDead {
            account,
            scope,
            categories,
        } = self;
        let ids = match scope {
            RequeueScope::Message(seq) => tx.db.deliveries_of(account, seq)?,
            RequeueScope::Target(target) => tx.db.failed_to(account, target)?,
        };
        let now = tx.now();
        let mut count = 0;
        for id in ids {
            let Some(mut record) = tx.db.delivery(id)? else {
                continue;
            };
            if record.state != DeliveryState::Failed || !categories.contains(record.category) {
                continue;
            }
            tx.db.remove_failed(record.account, record.target, id)?;
            // Taken up on purpose (a plugin fixed, say): stops it lived through before no
            // longer count towards parking it.
            tx.db.put_cut_off(id, 0)?;
            record.state = DeliveryState::Pending;
            record.attempts = 0;
            record.next_attempt = Some(now);
            record.updated = now;
            tx.db.put_delivery(id, &record)?;
            tx.db.schedule(id, now)?;
            tx.effect(Effect::Schedule(id, now));
            count += 1;
        }
        Ok(count)
    }
}

/// Whether a delivery has reached its end (delivered, or a dead letter).
fn settled(record: &DeliveryRecord) -> bool {
    matches!(
        record.state,
        DeliveryState::Delivered | DeliveryState::Failed
    )
}

/// Routes a message just stored: one delivery per target of its category's subscription
/// (or a place in the target's open digest), in the publishing transaction.
pub(crate) fn route(
    tx: &mut Tx<'_>,
    account: AccountId,
    seq: u32,
    message: &MessageRecord,
) -> Result<(), Error> {
    let Some(sub) = tx.subscription(account, message.category) else {
        return Ok(());
    };
    let rules = tx.mandatory_rules();
    let verdict = routing::verdict(
        &sub.record,
        &rules,
        message.category,
        message.severity,
        message.subtype.as_deref(),
    );
    if !verdict.takes() {
        return Ok(());
    }
    for target in routing::targets(&sub.record) {
        let plugin = match target {
            TargetKey::Channel(id) => tx.channel_plugin(account, id),
            TargetKey::Contact(_) => Some(EMAIL_PLUGIN.to_owned()),
        };
        let Some(plugin) = plugin.filter(|_| tx.target_exists(account, target)) else {
            // The rules keep subscriptions to existing targets; should one be missing all
            // the same, the message says so in its deliveries rather than going nowhere in
            // silence.
            missing_target(tx, account, seq, message.category, target)?;
            continue;
        };
        let new = NewDelivery {
            account,
            seq,
            category: message.category,
            target,
            plugin,
        };
        match &sub.schedule {
            None => {
                let delay = tx.retry().delay_before(1).unwrap_or_default();
                let mut due = tx.now().saturating_add(micros_of(jitter(delay)));
                // Quiet hours hold it in the outbox, due at their end: a restart keeps the
                // hold, and the target's rate limit paces what the end releases.
                // A mandatory notice is not held.
                if let Some(end) = sub
                    .quiet
                    .as_ref()
                    .filter(|_| verdict.mandatory().is_none())
                    .and_then(|quiet| quiet.held_until(due, message.severity))
                {
                    due = end;
                }
                let id = new.store(tx, false, Some(due))?;
                tx.db.schedule(id, due)?;
                tx.effect(Effect::Schedule(id, due));
            }
            Some(schedule) => {
                let id = match tx.db.open_digest(account, message.category, target)? {
                    Some(id) => {
                        tx.db.link_delivery(account, seq, id)?;
                        id
                    }
                    None => {
                        let tick = schedule.next_after(tx.now());
                        let id = new.store(tx, true, tick)?;
                        tx.db
                            .put_open_digest(account, message.category, target, id)?;
                        id
                    }
                };
                tx.db.add_digest_member(id, seq)?;
            }
        }
    }
    Ok(())
}

/// A delivery about to be stored.
struct NewDelivery {
    account: AccountId,
    seq: u32,
    category: Category,
    target: TargetKey,
    plugin: String,
}

impl NewDelivery {
    /// Stores the delivery, pending, linked to its message; answers its new id.
    fn store(self, tx: &mut Tx<'_>, digest: bool, next_attempt: Option<i64>) -> Result<u64, Error> {
        let id = tx.new_delivery_id();
        let record = DeliveryRecord {
            account: self.account.0,
            seq: self.seq,
            category: self.category,
            digest,
            target: self.target,
            plugin: self.plugin,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt,
            updated: tx.now(),
        };
        tx.db.put_delivery(id, &record)?;
        tx.db.link_delivery(self.account, self.seq, id)?;
        Ok(id)
    }
}

/// Records a delivery to a target that no longer exists as failed, with the reason, so
/// that the message's deliveries show where it could not go.
fn missing_target(
    tx: &mut Tx<'_>,
    account: AccountId,
    seq: u32,
    category: Category,
    target: TargetKey,
) -> Result<(), Error> {
    let (what, name) = match target {
        TargetKey::Channel(id) => ("channel", ChannelId(id).to_string()),
        TargetKey::Contact(id) => ("contact", ContactId(id).to_string()),
    };
    tracing::warn!(%account, target = %name, "a subscription names a {what} that does not exist");
    let new = NewDelivery {
        account,
        seq,
        category,
        target,
        plugin: String::new(),
    };
    let id = new.store(tx, false, None)?;
    let Some(mut record) = tx.db.delivery(id)? else {
        return Ok(());
    };
    record.state = DeliveryState::Failed;
    record.last_error = Some(format!(
        "the subscription names {what} {name}, which does not exist; \
         fix the subscription of '{category}'"
    ));
    tx.db.put_delivery(id, &record)?;
    tx.db.put_failed(account.0, target, id)?;
    Ok(())
}

/// Sends every digest of `account` and `category` that is gathering, now.
fn close_digests(tx: &mut Tx<'_>, account: AccountId, category: Category) -> Result<u64, Error> {
    let open = tx.db.take_open_digests(account, category)?;
    let now = tx.now();
    for &id in &open {
        if let Some(mut record) = tx.db.delivery(id)? {
            record.next_attempt = Some(now);
            record.updated = now;
            tx.db.put_delivery(id, &record)?;
            tx.db.schedule(id, now)?;
            tx.effect(Effect::Schedule(id, now));
        }
    }
    Ok(open.len() as u64)
}

/// Refuses to delete a target a subscription still names, as the earlier commands of this
/// group left the subscriptions. The conflict names only the `visible` categories: a scoped
/// caller must not learn which other categories route where.
fn refuse_if_subscribed(
    tx: &Tx<'_>,
    account: AccountId,
    target: TargetKey,
    visible: CategorySet,
) -> Result<(), Error> {
    let users: CategorySet = Category::ALL
        .into_iter()
        .filter(|&category| {
            tx.subscription(account, category)
                .is_some_and(|sub| routing::targets(&sub.record).any(|t| t == target))
        })
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    let what = match target {
        TargetKey::Channel(_) => "channel",
        TargetKey::Contact(_) => "contact",
    };
    Err(Error::Conflict(in_use_text(what, users, visible)))
}
/// Why a target cannot be deleted, naming the subscriptions of `users` that the caller may
/// see and only hinting at the others.
fn in_use_text(what: &str, users: CategorySet, visible: CategorySet) -> String {
    let named: Vec<&str> = users
        .intersect(visible)
        .iter()
        .map(|c| c.as_str())
        .collect();
    let hidden = users.iter().any(|c| !visible.contains(c));
    match (named.is_empty(), hidden) {
        (false, false) => format!(
            "the {what} is used by the subscription(s) of {}; remove it there first",
            named.join(", ")
        ),
        (false, true) => format!(
            "the {what} is used by the subscription(s) of {} and by subscriptions you cannot see; \
             remove it there first, and ask the account root about the others",
            named.join(", ")
        ),
        (true, _) => format!(
            "the {what} is used by subscriptions you cannot see; ask the account root to remove \
             it there first"
        ),
    }
}
