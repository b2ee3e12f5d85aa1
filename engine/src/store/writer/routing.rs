//! The writer's delivery jobs: channels, contacts and subscriptions; routing a new message
//! to its targets inside the publishing transaction (the transactional outbox); digests;
//! attempt outcomes; re-queues.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redb::ReadableTable;

use super::{Effect, Group, Tables};
use crate::clock::micros_of;
use crate::delivery::routing;
use crate::error::Error;
use crate::filter::CategorySet;
use crate::ids::AccountId;
use crate::limits::Holding;
use crate::model::Category;
use crate::schedule::jitter;
use crate::store::Subscribed;
use crate::store::records::{
    ChannelRecord, ContactRecord, DeliveryRecord, DeliveryState, MessageRecord, TargetKey, decode,
    encode,
};

/// The plugin that delivers to email contacts.
pub(crate) const EMAIL_PLUGIN: &str = "email";

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

/// Which failed deliveries a re-queue takes up again.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RequeueScope {
    /// Those of one message.
    Message(u32),
    /// Those to one target.
    Target(TargetKey),
}

/// A delivery-side change; each answers a number (what it touched, or 0).
#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the delivery workers
pub(crate) enum DeliveryJob {
    CreateChannel {
        account: AccountId,
        id: u64,
        record: ChannelRecord,
    },
    DeleteChannel {
        account: AccountId,
        id: u64,
        /// The categories whose subscriptions the caller may see, named in a conflict.
        visible: CategorySet,
    },
    CreateContact {
        account: AccountId,
        id: u64,
        record: ContactRecord,
    },
    DeleteContact {
        account: AccountId,
        id: u64,
        /// The categories whose subscriptions the caller may see, named in a conflict.
        visible: CategorySet,
    },
    PutSubscription {
        account: AccountId,
        category: Category,
        subscription: Arc<Subscribed>,
    },
    DeleteSubscription {
        account: AccountId,
        category: Category,
    },
    /// An attempt starts: recorded before the plugin runs, so that one a crash cuts off is
    /// known at the next start. Answers 0 when the delivery was settled meanwhile.
    Begin {
        id: u64,
    },
    Outcome {
        id: u64,
        attempt: Attempt,
    },
    CloseDigests {
        account: AccountId,
        category: Category,
        tick: i64,
    },
    Requeue {
        account: AccountId,
        scope: RequeueScope,
        /// Only dead letters of messages of these categories (the caller's scope).
        categories: CategorySet,
    },
    SetRetention {
        account: AccountId,
        days: u32,
    },
}

/// Whether a subscription takes a message of its category (the rule: [`routing::verdict`]).
pub(crate) fn subscription_takes(sub: &Subscribed, message: &MessageRecord) -> bool {
    routing::verdict(&sub.record, message.severity, message.subtype.as_deref())
        == routing::Verdict::Takes
}

/// The targets of a subscription: its channels, then its contacts.
pub(crate) fn targets_of(sub: &Subscribed) -> impl Iterator<Item = TargetKey> + '_ {
    routing::targets(&sub.record)
}

fn cat(category: Category) -> u8 {
    category.index() as u8
}

impl Group<'_> {
    pub(super) fn delivery_job(
        &mut self,
        t: &mut Tables<'_>,
        job: DeliveryJob,
    ) -> Result<u64, Error> {
        match job {
            DeliveryJob::CreateChannel {
                account,
                id,
                record,
            } => {
                self.inbox(account)?;
                if self.channel_name_taken(account, &record.name) {
                    return Err(Error::Conflict(format!(
                        "a channel named '{}' already exists in this account; choose another name",
                        record.name
                    )));
                }
                self.room_for(account, Holding::Channel)?;
                t.channels
                    .insert((account.0, id), encode("channel", &record)?.as_slice())?;
                self.effect(Effect::Channel(account, id, Some(record)));
                Ok(1)
            }
            DeliveryJob::DeleteChannel {
                account,
                id,
                visible,
            } => {
                self.refuse_if_subscribed(account, TargetKey::Channel(id), visible)?;
                if t.channels.remove((account.0, id))?.is_none() {
                    return Err(Error::NotFound(format!(
                        "channel {} does not exist",
                        crate::ids::ChannelId(id)
                    )));
                }
                self.effect(Effect::Channel(account, id, None));
                Ok(1)
            }
            DeliveryJob::CreateContact {
                account,
                id,
                record,
            } => {
                self.inbox(account)?;
                self.room_for(account, Holding::Contact)?;
                t.contacts
                    .insert((account.0, id), encode("contact", &record)?.as_slice())?;
                self.effect(Effect::Contact(account, id, Some(record)));
                Ok(1)
            }
            DeliveryJob::DeleteContact {
                account,
                id,
                visible,
            } => {
                self.refuse_if_subscribed(account, TargetKey::Contact(id), visible)?;
                if t.contacts.remove((account.0, id))?.is_none() {
                    return Err(Error::NotFound(format!(
                        "contact {} does not exist",
                        crate::ids::ContactId(id)
                    )));
                }
                self.effect(Effect::Contact(account, id, None));
                Ok(1)
            }
            DeliveryJob::PutSubscription {
                account,
                category,
                subscription,
            } => {
                self.inbox(account)?;
                {
                    for target in targets_of(&subscription) {
                        if !self.target_exists(account, target) {
                            let (field, text) = match target {
                                TargetKey::Channel(id) => {
                                    ("channels", crate::ids::ChannelId(id).to_string())
                                }
                                TargetKey::Contact(id) => {
                                    ("contacts", crate::ids::ContactId(id).to_string())
                                }
                            };
                            return Err(Error::invalid(
                                field,
                                format!("{text} does not exist in this account"),
                            ));
                        }
                    }
                }
                // What was gathered under the old rules goes out now: nothing is lost.
                self.close_digests(t, account, category)?;
                t.subscriptions.insert(
                    (account.0, cat(category)),
                    encode("subscription", &subscription.record)?.as_slice(),
                )?;
                self.effect(Effect::Subscription(account, category, Some(subscription)));
                Ok(1)
            }
            DeliveryJob::DeleteSubscription { account, category } => {
                if t.subscriptions
                    .remove((account.0, cat(category)))?
                    .is_none()
                {
                    return Err(Error::NotFound(format!(
                        "there is no subscription for category '{category}'"
                    )));
                }
                self.close_digests(t, account, category)?;
                self.effect(Effect::Subscription(account, category, None));
                Ok(1)
            }
            DeliveryJob::Begin { id } => {
                let pending = match t.deliveries.get(id)? {
                    Some(bytes) => {
                        let record: DeliveryRecord = decode("delivery", bytes.value())?;
                        !matches!(
                            record.state,
                            DeliveryState::Delivered | DeliveryState::Failed
                        )
                    }
                    None => false,
                };
                if !pending || t.outbox.get(id)?.is_none() {
                    return Ok(0);
                }
                t.running.insert(id, ())?;
                Ok(1)
            }
            DeliveryJob::Outcome { id, attempt } => self.outcome(t, id, attempt),
            DeliveryJob::CloseDigests {
                account,
                category,
                tick,
            } => {
                let last = t
                    .digest_ticks
                    .get((account.0, cat(category)))?
                    .map(|v| v.value());
                if last.is_some_and(|last| last >= tick) {
                    return Ok(0);
                }
                t.digest_ticks.insert((account.0, cat(category)), tick)?;
                self.effect(Effect::DigestTick(account, category, tick));
                self.close_digests(t, account, category)
            }
            DeliveryJob::Requeue {
                account,
                scope,
                categories,
            } => self.requeue(t, account, scope, categories),
            DeliveryJob::SetRetention { account, days } => {
                let mut record: crate::store::records::AccountRecord =
                    match t.accounts.get(account.0)? {
                        Some(bytes) => decode("account", bytes.value())?,
                        None => return Err(crate::store::no_account(account)),
                    };
                record.retention_days = days;
                t.accounts
                    .insert(account.0, encode("account", &record)?.as_slice())?;
                self.effect(Effect::AccountRecord(account, record));
                Ok(1)
            }
        }
    }

    /// Refuses to delete a target a subscription still names, as the earlier jobs of this
    /// group left the subscriptions. The conflict names only the `visible` categories: a
    /// scoped caller must not learn which other categories route where.
    fn refuse_if_subscribed(
        &self,
        account: AccountId,
        target: TargetKey,
        visible: CategorySet,
    ) -> Result<(), Error> {
        let users: CategorySet = Category::ALL
            .into_iter()
            .filter(|&category| {
                self.subscription(account, category)
                    .is_some_and(|sub| targets_of(&sub).any(|t| t == target))
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

    /// Routes a message just stored: one delivery per target of its category's subscription
    /// (or a place in the target's open digest), in the publishing transaction.
    pub(super) fn route(
        &mut self,
        t: &mut Tables<'_>,
        account: AccountId,
        seq: u32,
        message: &MessageRecord,
    ) -> Result<(), Error> {
        let Some(sub) = self.subscription(account, message.category) else {
            return Ok(());
        };
        if !subscription_takes(&sub, message) {
            return Ok(());
        }
        for target in targets_of(&sub) {
            let plugin = match target {
                TargetKey::Channel(id) => self.channel_plugin(account, id),
                TargetKey::Contact(_) => Some(EMAIL_PLUGIN.to_owned()),
            };
            let Some(plugin) = plugin.filter(|_| self.target_exists(account, target)) else {
                // The writer's rules keep subscriptions to existing targets; should one be
                // missing all the same, the message says so in its deliveries rather than
                // going nowhere in silence.
                self.missing_target(t, account, seq, message.category, target)?;
                continue;
            };
            match &sub.schedule {
                None => {
                    let delay = self.store.retry.delay_before(1).unwrap_or_default();
                    let due = self.now.saturating_add(micros_of(jitter(delay)));
                    let id = self.new_delivery(
                        t,
                        account,
                        seq,
                        message.category,
                        target,
                        plugin,
                        false,
                        Some(due),
                    )?;
                    t.outbox.insert(id, due)?;
                    self.effect(Effect::Schedule(id, due));
                }
                Some(schedule) => {
                    let key = (
                        account.0,
                        cat(message.category),
                        target.parts().0,
                        target.parts().1,
                    );
                    let open = t.digest_open.get(key)?.map(|v| v.value());
                    let id = match open {
                        Some(id) => {
                            t.message_deliveries.insert((account.0, seq, id), ())?;
                            id
                        }
                        None => {
                            let tick = schedule.next_after(self.now);
                            let id = self.new_delivery(
                                t,
                                account,
                                seq,
                                message.category,
                                target,
                                plugin,
                                true,
                                tick,
                            )?;
                            t.digest_open.insert(key, id)?;
                            id
                        }
                    };
                    t.digest_members.insert((id, seq), ())?;
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn new_delivery(
        &mut self,
        t: &mut Tables<'_>,
        account: AccountId,
        seq: u32,
        category: Category,
        target: TargetKey,
        plugin: String,
        digest: bool,
        next_attempt: Option<i64>,
    ) -> Result<u64, Error> {
        let id = self.store.next_delivery.fetch_add(1, Ordering::Relaxed);
        self.deliveries_created = true;
        let record = DeliveryRecord {
            account: account.0,
            seq,
            category,
            digest,
            target,
            plugin,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt,
            updated: self.now,
        };
        t.deliveries
            .insert(id, encode("delivery", &record)?.as_slice())?;
        t.message_deliveries.insert((account.0, seq, id), ())?;
        Ok(id)
    }

    /// Records a delivery to a target that no longer exists as failed, with the reason, so
    /// that the message's deliveries show where it could not go.
    fn missing_target(
        &mut self,
        t: &mut Tables<'_>,
        account: AccountId,
        seq: u32,
        category: Category,
        target: TargetKey,
    ) -> Result<(), Error> {
        let (what, name) = match target {
            TargetKey::Channel(id) => ("channel", crate::ids::ChannelId(id).to_string()),
            TargetKey::Contact(id) => ("contact", crate::ids::ContactId(id).to_string()),
        };
        tracing::warn!(%account, target = %name, "a subscription names a {what} that does not exist");
        let id = self.new_delivery(
            t,
            account,
            seq,
            category,
            target,
            String::new(),
            false,
            None,
        )?;
        let mut record: DeliveryRecord = match t.deliveries.get(id)? {
            Some(bytes) => decode("delivery", bytes.value())?,
            None => return Ok(()),
        };
        record.state = DeliveryState::Failed;
        record.last_error = Some(format!(
            "the subscription names {what} {name}, which does not exist; \
             fix the subscription of '{category}'"
        ));
        t.deliveries
            .insert(id, encode("delivery", &record)?.as_slice())?;
        let (kind, key) = target.parts();
        t.failed.insert((account.0, kind, key, id), ())?;
        Ok(())
    }

    /// Sends every digest of `account` and `category` that is gathering, now.
    fn close_digests(
        &mut self,
        t: &mut Tables<'_>,
        account: AccountId,
        category: Category,
    ) -> Result<u64, Error> {
        let c = cat(category);
        let open: Vec<((u64, u8, u8, u64), u64)> = t
            .digest_open
            .range((account.0, c, 0, 0)..=(account.0, c, u8::MAX, u64::MAX))?
            .map(|row| row.map(|(k, v)| (k.value(), v.value())))
            .collect::<Result<_, _>>()?;
        let now = self.now;
        for (key, id) in &open {
            t.digest_open.remove(*key)?;
            let stored: Option<DeliveryRecord> = match t.deliveries.get(*id)? {
                Some(bytes) => Some(decode("delivery", bytes.value())?),
                None => None,
            };
            if let Some(mut record) = stored {
                record.next_attempt = Some(now);
                record.updated = now;
                t.deliveries
                    .insert(*id, encode("delivery", &record)?.as_slice())?;
                t.outbox.insert(*id, now)?;
                self.effect(Effect::Schedule(*id, now));
            }
        }
        Ok(open.len() as u64)
    }

    fn outcome(&mut self, t: &mut Tables<'_>, id: u64, attempt: Attempt) -> Result<u64, Error> {
        t.running.remove(id)?;
        let Some(bytes) = t.deliveries.get(id)? else {
            self.effect(Effect::Settle(id));
            return Ok(0);
        };
        let mut record: DeliveryRecord = decode("delivery", bytes.value())?;
        drop(bytes);
        if matches!(
            record.state,
            DeliveryState::Delivered | DeliveryState::Failed
        ) || t.outbox.get(id)?.is_none()
        {
            // A late report for a delivery another attempt already settled.
            return Ok(0);
        }
        record.updated = self.now;
        if let Attempt::Part { through } = attempt {
            // Not an attempt of its own: the next part goes at once, as the same attempt.
            t.digest_sent.insert(id, through)?;
            record.next_attempt = Some(self.now);
            t.outbox.insert(id, self.now)?;
            self.effect(Effect::Schedule(id, self.now));
            t.deliveries
                .insert(id, encode("delivery", &record)?.as_slice())?;
            return Ok(1);
        }
        record.attempts = record.attempts.saturating_add(1);
        match attempt {
            Attempt::Part { .. } => {}
            Attempt::Delivered => {
                record.state = DeliveryState::Delivered;
                record.next_attempt = None;
                t.outbox.remove(id)?;
                self.effect(Effect::Settle(id));
            }
            Attempt::Failed {
                error,
                retry,
                retry_after,
            } => {
                record.last_error = Some(error);
                let next = self.store.retry.delay_before(record.attempts + 1);
                match next {
                    Some(delay) if retry => {
                        let mut delay = jitter(delay);
                        if let Some(after) = retry_after
                            && after > delay
                        {
                            delay = after;
                        }
                        let due = self.now.saturating_add(micros_of(delay));
                        record.state = DeliveryState::Retrying;
                        record.next_attempt = Some(due);
                        t.outbox.insert(id, due)?;
                        self.effect(Effect::Schedule(id, due));
                    }
                    _ => {
                        record.state = DeliveryState::Failed;
                        record.next_attempt = None;
                        t.outbox.remove(id)?;
                        let (kind, target) = record.target.parts();
                        t.failed.insert((record.account, kind, target, id), ())?;
                        self.effect(Effect::Settle(id));
                    }
                }
            }
        }
        t.deliveries
            .insert(id, encode("delivery", &record)?.as_slice())?;
        Ok(1)
    }

    /// Takes the dead letters in `scope` up again, only those of messages of `categories`.
    fn requeue(
        &mut self,
        t: &mut Tables<'_>,
        account: AccountId,
        scope: RequeueScope,
        categories: CategorySet,
    ) -> Result<u64, Error> {
        let ids: Vec<u64> = match scope {
            RequeueScope::Message(seq) => t
                .message_deliveries
                .range((account.0, seq, 0)..=(account.0, seq, u64::MAX))?
                .map(|row| row.map(|(k, _)| k.value().2))
                .collect::<Result<_, _>>()?,
            RequeueScope::Target(target) => {
                let (kind, id) = target.parts();
                t.failed
                    .range((account.0, kind, id, 0)..=(account.0, kind, id, u64::MAX))?
                    .map(|row| row.map(|(k, _)| k.value().3))
                    .collect::<Result<_, _>>()?
            }
        };
        let now = self.now;
        let mut count = 0;
        for id in ids {
            let Some(bytes) = t.deliveries.get(id)? else {
                continue;
            };
            let mut record: DeliveryRecord = decode("delivery", bytes.value())?;
            drop(bytes);
            if record.state != DeliveryState::Failed || !categories.contains(record.category) {
                continue;
            }
            let (kind, target) = record.target.parts();
            t.failed.remove((record.account, kind, target, id))?;
            // Taken up on purpose (a plugin fixed, say): stops it lived through before no
            // longer count towards parking it.
            t.cut_off.remove(id)?;
            record.state = DeliveryState::Pending;
            record.attempts = 0;
            record.next_attempt = Some(now);
            record.updated = now;
            t.deliveries
                .insert(id, encode("delivery", &record)?.as_slice())?;
            t.outbox.insert(id, now)?;
            self.effect(Effect::Schedule(id, now));
            count += 1;
        }
        Ok(count)
    }

    /// Drops the delivery bookkeeping of a message whose row is being purged: its index
    /// rows, and the records of its finished single deliveries.
    pub(super) fn purge_deliveries(
        &mut self,
        t: &mut Tables<'_>,
        account: AccountId,
        seq: u32,
    ) -> Result<(), Error> {
        let ids: Vec<u64> = t
            .message_deliveries
            .range((account.0, seq, 0)..=(account.0, seq, u64::MAX))?
            .map(|row| row.map(|(k, _)| k.value().2))
            .collect::<Result<_, _>>()?;
        for id in ids {
            t.message_deliveries.remove((account.0, seq, id))?;
            if t.outbox.get(id)?.is_some() {
                continue;
            }
            let Some(bytes) = t.deliveries.get(id)? else {
                continue;
            };
            let record: DeliveryRecord = decode("delivery", bytes.value())?;
            drop(bytes);
            if record.digest {
                continue;
            }
            t.deliveries.remove(id)?;
            t.cut_off.remove(id)?;
            let (kind, target) = record.target.parts();
            t.failed.remove((record.account, kind, target, id))?;
        }
        Ok(())
    }
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
