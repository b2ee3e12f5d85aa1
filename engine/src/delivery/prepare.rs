//! Reading a due delivery for its plugin: its target's configuration or address, and its
//! messages. A digest is read in parts that fit one plugin call: members in order, up to
//! the plugin's batch (at most [`PART_MESSAGES`] messages) and a byte budget derived from
//! its memory cap ([`PartBudget`]), so
//! that neither the host nor the plugin ever holds an unbounded digest. The parts already
//! delivered are in `DIGEST_SENT`; a retry starts after them.

use crate::clock::micros;
use crate::delivery::host::PartBudget;
use crate::engine::Engine;
use crate::error::Error;
use crate::ids::{AccountId, DeliveryId};
use crate::inbox::to_message;
use crate::plugin::{Delivery, DeliveryKind, MailUnsubscribe, Recipient};
use crate::store::records::{DeliveryRecord, DeliveryState, TargetKey};
use crate::store::snapshot::Snapshot;

/// The most messages one digest call carries.
pub(crate) const PART_MESSAGES: usize = crate::plugin::MAX_BATCH;

/// The stored bytes of messages one digest call carries at most, for a plugin whose memory
/// cap is `memory_limit`: a sixteenth of it (the plugin decodes, formats and encodes the
/// text, several copies), between 64 KiB and 8 MiB. A message larger than that still goes,
/// alone.
pub(crate) fn part_bytes(memory_limit: usize) -> usize {
    (memory_limit / 16).clamp(64 << 10, 8 << 20)
}

/// The language of a delivery: its target's (`target`, the channel's or contact's), else
/// its account's, else `server`'s (the workers' [`crate::WorkerConfig::locale`]).
pub(crate) fn locale_of(
    state: &crate::store::State,
    account: AccountId,
    target: Option<&str>,
    server: &str,
) -> String {
    target
        .or_else(|| state.accounts.get(&account)?.locale.as_deref())
        .unwrap_or(server)
        .to_owned()
}

/// A due delivery as stored, before its slots are taken.
pub(crate) enum Found {
    /// Still to be attempted.
    Due(DeliveryRecord),
    /// Nothing to do: it was settled or removed meanwhile.
    Settled,
}

/// Reads delivery `id`.
pub(crate) fn find(snapshot: &Snapshot, id: u64) -> Result<Found, Error> {
    let Some(record) = snapshot.delivery(id)? else {
        return Ok(Found::Settled);
    };
    Ok(
        if matches!(
            record.state,
            DeliveryState::Delivered | DeliveryState::Failed
        ) {
            Found::Settled
        } else {
            Found::Due(record)
        },
    )
}

/// A delivery read from the store, ready for its plugin.
pub(crate) enum Prepared {
    Ready {
        config: String,
        delivery: Delivery,
        /// For a digest sent in parts: the last member this call carries, and whether
        /// members remain after it.
        part: Option<(u32, bool)>,
    },
    /// It cannot be delivered any more; the reason becomes its last error.
    Gone(String),
    /// A digest whose earlier parts arrived and whose other messages were deleted since:
    /// nothing is left to send, and it is delivered.
    Finished,
}

/// Reads what the plugin needs for `record` (delivery `id`): the target's configuration or
/// recipient, and its messages (for a digest, the next part).
pub(crate) fn prepare(
    engine: &Engine,
    snapshot: &Snapshot,
    id: u64,
    record: &DeliveryRecord,
    workers: &crate::WorkerConfig,
    part_budget: PartBudget,
) -> Result<Prepared, Error> {
    // The server's locale, for targets and accounts without one.
    let locale = workers.locale.as_str();
    let store = &engine.inner.store;
    let account = AccountId(record.account);
    let (config, recipients, locale) = {
        let state = store.state.read();
        match record.target {
            TargetKey::Channel(channel) => match state.channel(account, channel) {
                Some(c) => match engine.inner.secrets.open(&c.config, c.sealed) {
                    Ok(text) => (
                        text,
                        Vec::new(),
                        locale_of(&state, account, c.locale.as_deref(), locale),
                    ),
                    Err(why) => return Ok(Prepared::Gone(why)),
                },
                None => {
                    return Ok(Prepared::Gone(
                        "the channel was deleted before the delivery could be made".into(),
                    ));
                }
            },
            TargetKey::Contact(contact) => match state.contact(account, contact) {
                Some(c) => (
                    "{}".to_owned(),
                    vec![Recipient {
                        address: c.email.clone(),
                        name: Some(c.name.clone()),
                    }],
                    locale_of(&state, account, c.locale.as_deref(), locale),
                ),
                None => {
                    return Ok(Prepared::Gone(
                        "the contact was deleted before the delivery could be made".into(),
                    ));
                }
            },
        }
    };
    let inbox = store.inbox(account)?;
    let live = |seq: u32| inbox.read().live.contains(seq);
    let mut messages = Vec::new();
    let mut part = None;
    let mut idempotency_key = DeliveryId(id).to_string();
    let mut sent = None;
    if record.digest {
        sent = snapshot.digest_sent(id)?;
        let from = sent.map_or(0, |s| s.saturating_add(1));
        let most = part_budget.messages.min(PART_MESSAGES);
        let fits = |count: usize, bytes: usize| count < most && bytes <= part_budget.bytes;
        let next = snapshot.digest_part(account, id, from, live, fits)?;
        if let (Some((first, _)), Some((last, _))) = (next.messages.first(), next.messages.last())
            && (next.more || sent.is_some())
        {
            // One call of several: each part has a key of its own, the same at every
            // retry of that part.
            idempotency_key = format!("{idempotency_key}-{first}");
            part = Some((*last, next.more));
        }
        messages.extend(
            next.messages
                .into_iter()
                .map(|(seq, stored)| to_message(account, seq, stored, false)),
        );
    } else if live(record.seq)
        && let Some(message) = snapshot.message(account, record.seq)?
    {
        messages.push(to_message(account, record.seq, message, false));
    }
    if messages.is_empty() && sent.is_some() {
        return Ok(Prepared::Finished);
    }
    if messages.is_empty() {
        return Ok(Prepared::Gone(
            "the message was deleted before it could be delivered".into(),
        ));
    }
    let unsubscribe = match record.target {
        TargetKey::Contact(contact) => {
            let token = engine.unsubscribe_token(account, contact, record.category);
            Some(MailUnsubscribe {
                url: workers
                    .unsubscribe_url
                    .as_ref()
                    .map(|base| format!("{base}{token}")),
                token,
            })
        }
        TargetKey::Channel(_) => None,
    };
    let delivery = Delivery {
        kind: if record.digest {
            DeliveryKind::Digest
        } else {
            DeliveryKind::Single
        },
        messages,
        recipients,
        attempt: record.attempts.saturating_add(1),
        idempotency_key,
        locale,
        unsubscribe,
        timestamp_ms: u64::try_from(micros(engine.now()) / 1000).unwrap_or(0),
    };
    Ok(Prepared::Ready {
        config,
        delivery,
        part,
    })
}
