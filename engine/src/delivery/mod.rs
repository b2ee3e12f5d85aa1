//! Delivery beyond the inbox: channels (a plugin and its configuration), email contacts,
//! subscriptions that route each new message of a category to them, and the deliveries
//! that result, with their status and attempts.
//!
//! Publishing writes the message and one delivery per matching target in one transaction
//! (the outbox); workers (`worker`) claim due deliveries, call the channel's plugin and
//! record each outcome with retries on the [`RetrySchedule`]; the scheduler (`scheduler`)
//! sends digests on their cron ticks and purges messages past the account's retention.

#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // checks configs of plugin channels
mod channel_config;
pub(crate) mod commands;
#[cfg(feature = "plugins")]
pub mod host;
pub mod mandatory;
#[cfg(feature = "plugins")]
mod prepare;
pub(crate) mod routing;
pub(crate) mod scheduler;
#[cfg(feature = "plugins")]
mod slots;
mod subscriptions;
#[cfg(feature = "plugins")]
pub(crate) mod test_send;
pub(crate) mod unsubscribe;
#[cfg(feature = "plugins")]
pub(crate) mod worker;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use self::commands::{
    CreateChannel, CreateContact, DeleteChannel, DeleteContact, EMAIL_PLUGIN, RequeueDead,
    RequeueScope,
};
use crate::access::{Action, Denied, Principal, authorize, require, visible_categories};
use crate::accounts::commands::{SetAccountLocale, SetRetention};
use crate::accounts::validate_name;
use crate::clock::from_micros;
use crate::clock::micros;
use crate::engine::Engine;
use crate::error::Error;
use crate::filter::{Page, PageRequest, decode_cursor, encode_cursor};
use crate::ids::{AccountId, ChannelId, ContactId, DeliveryId, MessageId};
use crate::model::{Category, NewMessage, Severity};
pub use crate::schedule::{DEFAULT_RETRY_SCHEDULE, RetrySchedule};
pub use crate::secrets::SecretKey;
use crate::store::Subscribed;
use crate::store::records::{
    ActorRecord, ChannelRecord, ContactRecord, DeliveryRecord, DeliveryState, DigestRecord,
    MessageRecord, SubscriptionRecord, TargetKey,
};

pub use self::mandatory::{AccountWithoutTarget, MandatoryRule, MissingTarget, NewMandatoryRule};

pub use crate::secrets::REDACTED;

/// A channel: a plugin and the configuration it accepted, with secrets redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// The channel's id.
    pub id: ChannelId,
    /// Its name, unique in the account.
    pub name: String,
    /// The plugin that delivers through it.
    pub plugin: String,
    /// The configuration, secret fields shown as `***`.
    pub config: serde_json::Value,
    /// The language of the words msghub adds to its deliveries; `None`: the account's.
    pub locale: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What a new channel is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// A name, unique in the account.
    pub name: String,
    /// The plugin, e.g. `dingtalk`.
    pub plugin: String,
    /// The configuration as a JSON object; the plugin checks it.
    pub config: serde_json::Value,
    /// The language of the words msghub adds (one of [`crate::LOCALES`]); `None`: the
    /// account's.
    #[serde(default)]
    pub locale: Option<String>,
}

/// An email contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The contact's id.
    pub id: ContactId,
    /// A display name.
    pub name: String,
    /// The address.
    pub email: String,
    /// The language of the words msghub adds to its mail; `None`: the account's.
    pub locale: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What a new contact is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    /// A display name.
    pub name: String,
    /// The address.
    pub email: String,
    /// The language of the words msghub adds to its mail (one of [`crate::LOCALES`]);
    /// `None`: the account's.
    #[serde(default)]
    pub locale: Option<String>,
}

/// A digest schedule: a cron expression with seconds first, in an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    /// E.g. `0 0 9 * * *` for 09:00:00 every day.
    pub cron: String,
    /// E.g. `Asia/Shanghai`.
    pub timezone: String,
}

/// Quiet hours: deliveries of a subscription that fall between `start` and `end` (local
/// wall-clock time in `timezone`) wait for `end`, except those of the `pass` severities.
/// Digests are not affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, e.g. `22:00`.
    pub start: String,
    /// `HH:MM`, e.g. `07:00`; before `start`, the window crosses midnight.
    pub end: String,
    /// An IANA time zone, e.g. `Asia/Shanghai`.
    pub timezone: String,
    /// Severities that go out during quiet hours all the same (default: `critical`).
    #[serde(default = "default_quiet_pass")]
    pub pass: Vec<Severity>,
}

fn default_quiet_pass() -> Vec<Severity> {
    vec![Severity::Critical]
}

/// What a subscription routes: given to [`Engine::put_subscription`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// Only these subtypes; `None` means every subtype.
    #[serde(default)]
    pub subtypes: Option<Vec<String>>,
    /// Only messages at least this severe (default `info`: all).
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Email contacts to deliver to.
    #[serde(default)]
    pub contacts: Vec<ContactId>,
    /// Channels to deliver to.
    #[serde(default)]
    pub channels: Vec<ChannelId>,
    /// Gather and send summaries on this schedule instead of one delivery per message.
    #[serde(default)]
    pub digest: Option<Digest>,
    /// Hold deliveries during these hours until they end.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
}

/// The subscription of one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The category it routes.
    pub category: Category,
    /// Only these subtypes; `None` means every subtype.
    pub subtypes: Option<Vec<String>>,
    /// Only messages at least this severe.
    pub min_severity: Severity,
    /// Email contacts.
    pub contacts: Vec<ContactId>,
    /// Channels.
    pub channels: Vec<ChannelId>,
    /// The digest schedule, if messages are gathered.
    pub digest: Option<Digest>,
    /// The quiet hours, if deliveries wait during some hours.
    pub quiet_hours: Option<QuietHours>,
    /// When it was last set.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt (or, for a digest, for its tick).
    Pending,
    /// The target accepted it.
    Delivered,
    /// An attempt failed; another is scheduled.
    Retrying,
    /// Given up: a permanent error, or the last attempt failed. Stays visible until
    /// re-queued.
    Failed,
}

/// Whether a delivery goes to a channel or to an email contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// A channel.
    Channel,
    /// An email contact.
    Contact,
}

/// One delivery of a message (or of a digest it is part of) to one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryInfo {
    /// The delivery's id, also the idempotency key of every attempt.
    pub id: DeliveryId,
    /// Channel or contact.
    pub target: TargetKind,
    /// The channel's or contact's id.
    pub target_id: String,
    /// The plugin that delivers it.
    pub plugin: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When the next attempt is due (for a gathering digest: its tick).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Whether it is a digest of several messages.
    pub digest: bool,
}

/// The outcome of a test send through a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// `delivered` or `failed`.
    pub status: DeliveryStatus,
    /// Why it failed.
    pub error: Option<String>,
}

/// One target a message would reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Channel or contact.
    pub target: TargetKind,
    /// Its id.
    pub target_id: String,
    /// Its name.
    pub name: String,
    /// The plugin that would deliver.
    pub plugin: String,
    /// For a digest subscription: when the summary would go out.
    #[serde(with = "time::serde::rfc3339::option")]
    pub digest_at: Option<OffsetDateTime>,
    /// When quiet hours hold the delivery: when it would go out (their end).
    #[serde(with = "time::serde::rfc3339::option")]
    pub held_until: Option<OffsetDateTime>,
}

/// Where a message would go if it were published now, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// The message's category.
    pub category: Category,
    /// Whether the category's subscription takes it.
    pub matched: bool,
    /// Why (or why not), in words.
    pub reason: String,
    /// The subscription consulted, if the category has one.
    pub subscription: Option<Subscription>,
    /// The targets it would reach (besides the inbox, which gets everything).
    pub targets: Vec<Route>,
    /// The operator's mandatory rule that covers the message, if one does: it goes to the
    /// subscription's targets whatever the subscription's filters say.
    pub mandatory_rule: Option<MandatoryRule>,
}

/// Which failed deliveries to take up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Every failed delivery of this message.
    Message(MessageId),
    /// Every failed delivery to this channel.
    Channel(ChannelId),
    /// Every failed delivery to this contact.
    Contact(ContactId),
}

/// Most subtypes in one subscription.
const MAX_SUBTYPES: usize = 100;
/// Most targets of each kind in one subscription.
const MAX_TARGETS: usize = 100;

fn channel_not_found(id: ChannelId) -> Error {
    Error::NotFound(format!("channel {id} does not exist"))
}

fn contact_not_found(id: ContactId) -> Error {
    Error::NotFound(format!("contact {id} does not exist"))
}

/// Checks an email address the way a mail form would: one `@`, a local part, a domain with a
/// dot, no spaces or control characters, at most 254 characters.
pub(crate) fn check_email(field: &str, email: &str) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::invalid(
            field,
            format!(
                "'{}' is not an email address ({why}); write one like ops@example.com",
                email.chars().take(80).collect::<String>()
            ),
        )
    };
    if email.len() > 254 {
        return Err(bad("longer than 254 characters"));
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
    {
        return Err(bad(
            "it contains spaces or characters not allowed in an address",
        ));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(bad("it has no '@'"));
    };
    if local.is_empty() || local.contains('@') {
        return Err(bad("the part before '@' is empty or holds another '@'"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-')) {
        return Err(bad("the domain is not a name like example.com"));
    }
    Ok(())
}

fn channel_of(engine: &Engine, account: AccountId, id: u64, record: &ChannelRecord) -> Channel {
    let config = engine
        .inner
        .secrets
        .open(&record.config, record.sealed)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .unwrap_or(serde_json::Value::Null);
    let _ = account;
    Channel {
        id: ChannelId(id),
        name: record.name.clone(),
        plugin: record.plugin.clone(),
        config: match engine.config_schema(&record.plugin) {
            Some(schema) => crate::secrets::redact(config, &schema),
            // Which fields are secret is not known yet: none is shown.
            None => crate::secrets::redact_all(config),
        },
        locale: record.locale.clone(),
        created_at: from_micros(record.created),
    }
}

fn contact_of(id: u64, record: &ContactRecord) -> Contact {
    Contact {
        id: ContactId(id),
        name: record.name.clone(),
        email: record.email.clone(),
        locale: record.locale.clone(),
        created_at: from_micros(record.created),
    }
}

fn subscription_of(category: Category, record: &SubscriptionRecord) -> Subscription {
    Subscription {
        category,
        subtypes: record.subtypes.clone(),
        min_severity: record.min_severity,
        contacts: record.contacts.iter().map(|&id| ContactId(id)).collect(),
        channels: record.channels.iter().map(|&id| ChannelId(id)).collect(),
        digest: record.digest.as_ref().map(|d| Digest {
            cron: d.cron.clone(),
            timezone: d.timezone.clone(),
        }),
        quiet_hours: record.quiet_hours.as_ref().map(|q| QuietHours {
            start: crate::schedule::clock_time(q.start),
            end: crate::schedule::clock_time(q.end),
            timezone: q.timezone.clone(),
            pass: q.pass.clone(),
        }),
        updated_at: from_micros(record.updated),
    }
}

pub(crate) fn target_text(target: TargetKey) -> (TargetKind, String) {
    match target {
        TargetKey::Channel(id) => (TargetKind::Channel, ChannelId(id).to_string()),
        TargetKey::Contact(id) => (TargetKind::Contact, ContactId(id).to_string()),
    }
}

fn delivery_of(id: u64, record: &DeliveryRecord) -> DeliveryInfo {
    let (target, target_id) = target_text(record.target);
    DeliveryInfo {
        id: DeliveryId(id),
        target,
        target_id,
        plugin: record.plugin.clone(),
        status: match record.state {
            DeliveryState::Pending => DeliveryStatus::Pending,
            DeliveryState::Retrying => DeliveryStatus::Retrying,
            DeliveryState::Delivered => DeliveryStatus::Delivered,
            DeliveryState::Failed => DeliveryStatus::Failed,
        },
        attempts: record.attempts,
        last_error: record.last_error.clone(),
        next_attempt_at: record.next_attempt.map(from_micros),
        updated_at: from_micros(record.updated),
        digest: record.digest,
    }
}

/// A page of `items` sorted by id, after the cursor's id.
fn page_by_id<T>(
    account: AccountId,
    kind: &[u8],
    mut items: Vec<(u64, T)>,
    page: &PageRequest,
) -> Result<Page<T>, Error> {
    page.validate()?;
    let mut scope = account.0.to_be_bytes().to_vec();
    scope.extend_from_slice(kind);
    let after = match &page.cursor {
        Some(c) => Some(decode_cursor(c, &scope, None)?),
        None => None,
    };
    items.retain(|(id, _)| after.is_none_or(|a| *id > a));
    items.sort_by_key(|(id, _)| *id);
    let more = items.len() > page.limit;
    items.truncate(page.limit);
    let next_cursor = if more {
        items.last().map(|(id, _)| encode_cursor(*id, &scope, None))
    } else {
        None
    };
    Ok(Page {
        items: items.into_iter().map(|(_, t)| t).collect(),
        next_cursor,
    })
}

impl Engine {
    /// The JSON Schema of the plugin's configuration, which marks the secret fields; `None`
    /// while the plugin is not ready (still loading, failed, or gone).
    fn config_schema(&self, plugin: &str) -> Option<serde_json::Value> {
        #[cfg(feature = "plugins")]
        if let Some(host) = &self.inner.channels {
            return host.plugin(plugin).map(|p| p.config_schema.clone());
        }
        let _ = plugin;
        None
    }

    fn check_account(&self, account: AccountId) -> Result<(), Error> {
        self.inner.store.inbox(account).map(drop)
    }

    /// Creates a channel after its plugin accepted the configuration (operator, root or
    /// full access). Secret fields are redacted in the answer and sealed at rest when the
    /// engine has a secret key.
    #[cfg(feature = "plugins")]
    pub async fn create_channel(
        &self,
        principal: &Principal,
        account: AccountId,
        channel: NewChannel,
    ) -> Result<Channel, Error> {
        require(principal, Action::ManageConfig, Some(account))?;
        self.check_account(account)?;
        validate_name("name", &channel.name)?;
        if let Some(locale) = &channel.locale {
            crate::model::check_locale("locale", locale)?;
        }
        let host =
            self.inner.channels.as_ref().ok_or_else(|| {
                Error::invalid("plugin", "this engine has no channel plugins loaded")
            })?;
        // A plugin still loading is waited for (at most the plugin call deadline).
        let info = host.ready(&channel.plugin).await.map_err(|e| match e {
            crate::plugin::CallError::UnknownPlugin { .. } => {
                let names: Vec<String> = host.plugins().iter().map(|p| p.name.clone()).collect();
                Error::invalid(
                    "plugin",
                    format!(
                        "there is no plugin named '{}'; loaded plugins: {}",
                        channel.plugin.chars().take(64).collect::<String>(),
                        names.join(", ")
                    ),
                )
            }
            crate::plugin::CallError::LoadFailed { .. } => Error::invalid("plugin", e.to_string()),
            other => Error::Unavailable(other.to_string()),
        })?;
        let properties = channel_config::check_shape(&info.config_schema, &channel.config)?;
        let text = channel.config.to_string();
        host.validate_config(&channel.plugin, &text)
            .await
            .map_err(|e| match e {
                crate::plugin::ValidateError::Invalid { message, .. } => {
                    let field = match channel_config::field_named(&message, &properties) {
                        Some(name) => format!("config.{name}"),
                        None => "config".to_owned(),
                    };
                    Error::invalid(field, message)
                }
                other => Error::Unavailable(other.to_string()),
            })?;
        let (config, sealed) = self.inner.secrets.seal(&text)?;
        let id = crate::ids::fresh_id();
        let record = ChannelRecord {
            name: channel.name,
            plugin: channel.plugin,
            config,
            sealed,
            created: micros(self.now()),
            locale: channel.locale,
        };
        let answer = channel_of(self, account, id, &record);
        self.submit(CreateChannel {
            account,
            id,
            record,
            shown: answer.clone(),
            by: ActorRecord::of(principal),
        })
        .await?;
        Ok(answer)
    }

    /// A page of the account's channels, secrets redacted.
    pub fn channels(
        &self,
        principal: &Principal,
        account: AccountId,
        page: &PageRequest,
    ) -> Result<Page<Channel>, Error> {
        require(principal, Action::ReadConfig, Some(account))?;
        self.check_account(account)?;
        let state = self.inner.store.state.read();
        let items = state
            .channels_of(account)
            .map(|(id, r)| (id, channel_of(self, account, id, r)))
            .collect();
        page_by_id(account, b"channels", items, page)
    }

    /// One channel, secrets redacted.
    pub fn channel(
        &self,
        principal: &Principal,
        account: AccountId,
        id: ChannelId,
    ) -> Result<Channel, Error> {
        require(principal, Action::ReadConfig, Some(account))?;
        self.check_account(account)?;
        let state = self.inner.store.state.read();
        let record = state
            .channel(account, id.0)
            .ok_or_else(|| channel_not_found(id))?;
        Ok(channel_of(self, account, id.0, record))
    }

    /// Deletes a channel. A channel a subscription still names is a conflict: remove it
    /// from the subscription first. The conflict names only the subscriptions the caller
    /// may see. Deliveries still due to it fail with that reason.
    pub async fn delete_channel(
        &self,
        principal: &Principal,
        account: AccountId,
        id: ChannelId,
    ) -> Result<(), Error> {
        require(principal, Action::ManageConfig, Some(account))?;
        let visible = visible_categories(principal, Action::ReadConfig, account)?;
        self.check_account(account)?;
        let shown = {
            let state = self.inner.store.state.read();
            state
                .channel(account, id.0)
                .map(|r| channel_of(self, account, id.0, r))
        };
        // The writer answers 404 for an id the account does not have.
        self.submit(DeleteChannel {
            account,
            id: id.0,
            visible,
            shown,
            by: ActorRecord::of(principal),
        })
        .await
        .map(drop)
    }

    /// Creates an email contact after checking the address.
    pub async fn create_contact(
        &self,
        principal: &Principal,
        account: AccountId,
        contact: NewContact,
    ) -> Result<Contact, Error> {
        require(principal, Action::ManageConfig, Some(account))?;
        self.check_account(account)?;
        validate_name("name", &contact.name)?;
        check_email("email", &contact.email)?;
        if let Some(locale) = &contact.locale {
            crate::model::check_locale("locale", locale)?;
        }
        let id = crate::ids::fresh_id();
        let record = ContactRecord {
            name: contact.name,
            email: contact.email,
            created: micros(self.now()),
            locale: contact.locale,
        };
        let answer = contact_of(id, &record);
        self.submit(CreateContact {
            account,
            id,
            record,
            by: ActorRecord::of(principal),
        })
        .await?;
        Ok(answer)
    }

    /// A page of the account's contacts.
    pub fn contacts(
        &self,
        principal: &Principal,
        account: AccountId,
        page: &PageRequest,
    ) -> Result<Page<Contact>, Error> {
        require(principal, Action::ReadConfig, Some(account))?;
        self.check_account(account)?;
        let state = self.inner.store.state.read();
        let items = state
            .contacts_of(account)
            .map(|(id, r)| (id, contact_of(id, r)))
            .collect();
        page_by_id(account, b"contacts", items, page)
    }

    /// One contact.
    pub fn contact(
        &self,
        principal: &Principal,
        account: AccountId,
        id: ContactId,
    ) -> Result<Contact, Error> {
        require(principal, Action::ReadConfig, Some(account))?;
        self.check_account(account)?;
        let state = self.inner.store.state.read();
        let record = state
            .contact(account, id.0)
            .ok_or_else(|| contact_not_found(id))?;
        Ok(contact_of(id.0, record))
    }

    /// Deletes a contact; a contact a subscription still names is a conflict, which names
    /// only the subscriptions the caller may see.
    pub async fn delete_contact(
        &self,
        principal: &Principal,
        account: AccountId,
        id: ContactId,
    ) -> Result<(), Error> {
        require(principal, Action::ManageConfig, Some(account))?;
        let visible = visible_categories(principal, Action::ReadConfig, account)?;
        self.check_account(account)?;
        let shown = {
            let state = self.inner.store.state.read();
            state.contact(account, id.0).map(|r| contact_of(id.0, r))
        };
        // The writer answers 404 for an id the account does not have.
        self.submit(DeleteContact {
            account,
            id: id.0,
            visible,
            shown,
            by: ActorRecord::of(principal),
        })
        .await
        .map(drop)
    }

    /// The deliveries of a message the caller may see, oldest first.
    pub async fn deliveries(
        &self,
        principal: &Principal,
        account: AccountId,
        id: MessageId,
    ) -> Result<Vec<DeliveryInfo>, Error> {
        self.message(principal, account, id).await?;
        self.blocking(move |engine| {
            let snapshot = engine.inner.store.snapshot()?;
            Ok(snapshot
                .deliveries_of(account, id.seq)?
                .iter()
                .map(|(delivery, record)| delivery_of(*delivery, record))
                .collect())
        })
        .await
    }

    /// Takes up failed deliveries again (dead letters) of a message, a channel or a
    /// contact, with a fresh schedule of attempts; returns how many. A user scoped to some
    /// categories takes up only the dead letters of messages of those categories: the
    /// others stay failed and are not counted.
    pub async fn requeue_failed(
        &self,
        principal: &Principal,
        account: AccountId,
        which: Requeue,
    ) -> Result<u64, Error> {
        let categories = visible_categories(principal, Action::ManageConfig, account)?;
        self.check_account(account)?;
        let scope = match which {
            Requeue::Message(id) => {
                self.message(principal, account, id).await?;
                RequeueScope::Message(id.seq)
            }
            Requeue::Channel(id) => {
                self.channel(principal, account, id)?;
                RequeueScope::Target(TargetKey::Channel(id.0))
            }
            Requeue::Contact(id) => {
                self.contact(principal, account, id)?;
                RequeueScope::Target(TargetKey::Contact(id.0))
            }
        };
        self.submit(RequeueDead {
            account,
            scope,
            categories,
        })
        .await
    }

    /// Sets how many days the account keeps messages (operator or root); older ones are
    /// purged by the scheduler.
    pub async fn set_retention(
        &self,
        principal: &Principal,
        account: AccountId,
        days: u32,
    ) -> Result<crate::Account, Error> {
        require(principal, Action::ManageUsers, Some(account))?;
        self.check_account(account)?;
        if !(1..=36_500).contains(&days) {
            return Err(Error::invalid(
                "retention_days",
                format!("retention_days {days} is out of range: use 1 to 36500"),
            ));
        }
        self.submit(SetRetention {
            account,
            days,
            by: ActorRecord::of(principal),
        })
        .await?;
        self.account(principal, account)
    }

    /// Sets the language of the words msghub adds to the account's deliveries whose channel
    /// or contact names none (operator or root); `None` goes back to the server's. Only
    /// the locales of [`crate::LOCALES`] are accepted.
    pub async fn set_account_locale(
        &self,
        principal: &Principal,
        account: AccountId,
        locale: Option<String>,
    ) -> Result<crate::Account, Error> {
        require(principal, Action::ManageUsers, Some(account))?;
        self.check_account(account)?;
        if let Some(locale) = &locale {
            crate::model::check_locale("locale", locale)?;
        }
        self.submit(SetAccountLocale { account, locale }).await?;
        self.account(principal, account)
    }

    /// Deliveries waiting in the outbox or in flight.
    pub fn outbox_depth(&self) -> usize {
        self.inner.store.queue.lock().len()
    }
}

/// Requires `action` on `category` in `account`; a category outside a user's scope is
/// forbidden here (there is no single thing to hide).
fn scoped(
    principal: &Principal,
    action: Action,
    account: AccountId,
    category: Category,
) -> Result<(), Error> {
    match authorize(principal, action, Some(account), Some(category)) {
        Ok(()) => Ok(()),
        Err(Denied::Forbidden(why)) => Err(Error::Forbidden(why)),
        Err(Denied::OutOfScope) => Err(Error::Forbidden(format!(
            "you may act only on messages of your categories, not '{category}'"
        ))),
    }
}
