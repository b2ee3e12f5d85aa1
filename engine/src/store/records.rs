//! The records as stored, whatever the backend, and their postcard encoding. Changing a
//! layout means bumping the backend's schema version (`redb_backend::SCHEMA_VERSION`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::access::Policy;
use crate::error::StorageError;
use crate::model::{Category, Severity};

/// An account as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccountRecord {
    pub(crate) name: String,
    pub(crate) created: i64,
    pub(crate) retention_days: u32,
    /// The language of the words msghub adds, for targets without one of their own.
    pub(crate) locale: Option<String>,
}

/// A user as stored (its token only as a hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub(crate) account: u64,
    pub(crate) name: String,
    pub(crate) policies: Vec<Policy>,
    pub(crate) categories: Option<Vec<Category>>,
    pub(crate) created: i64,
    pub(crate) token_hash: [u8; 32],
}

/// Whom a token hash belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TokenOwner {
    /// The root of this account.
    Root(u64),
    /// This user.
    User(u64),
}

/// A message as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MessageRecord {
    pub(crate) category: Category,
    pub(crate) severity: Severity,
    pub(crate) created: i64,
    pub(crate) subtype: Option<String>,
    pub(crate) title: String,
    pub(crate) body: Option<String>,
    pub(crate) link: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) dedupe_key: Option<String>,
}

/// The text of a stored message, borrowed from the stored bytes: a text search looks at it
/// without copying the message. Its fields mirror the start of [`MessageRecord`].
#[derive(Debug, Deserialize)]
pub(crate) struct MessageText<'a> {
    _category: Category,
    _severity: Severity,
    _created: i64,
    #[serde(borrow)]
    _subtype: Option<&'a str>,
    #[serde(borrow)]
    title: &'a str,
    #[serde(borrow)]
    body: Option<&'a str>,
}

impl<'a> MessageText<'a> {
    /// The message's title.
    pub(crate) fn title(&self) -> &'a str {
        self.title
    }

    /// The message's body, if it has one.
    pub(crate) fn body(&self) -> Option<&'a str> {
        self.body
    }

    /// Whether the title or the body contains the search text.
    pub(crate) fn matches(&self, matcher: &crate::filter::TextMatcher) -> bool {
        matcher.matches(self.title) || self.body.is_some_and(|b| matcher.matches(b))
    }
}

/// A channel as stored: its plugin and the configuration the plugin accepted, as JSON text,
/// sealed with the operator's key when one is configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChannelRecord {
    pub(crate) name: String,
    pub(crate) plugin: String,
    pub(crate) config: Vec<u8>,
    pub(crate) sealed: bool,
    pub(crate) created: i64,
    /// The language of the words msghub adds to its deliveries; the account's when absent.
    pub(crate) locale: Option<String>,
}

/// An email contact as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ContactRecord {
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) created: i64,
    /// The language of the words msghub adds to its mail; the account's when absent.
    pub(crate) locale: Option<String>,
}

/// A digest schedule as stored: a cron expression (seconds first) and an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DigestRecord {
    pub(crate) cron: String,
    pub(crate) timezone: String,
}

/// The subscription of one account and category as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SubscriptionRecord {
    pub(crate) subtypes: Option<Vec<String>>,
    pub(crate) min_severity: Severity,
    pub(crate) contacts: Vec<u64>,
    pub(crate) channels: Vec<u64>,
    pub(crate) digest: Option<DigestRecord>,
    pub(crate) updated: i64,
    /// When deliveries wait instead of going out.
    pub(crate) quiet_hours: Option<QuietHoursRecord>,
}

/// Quiet hours as stored: from `start` to `end` (minutes after local midnight; a window
/// with `end <= start` crosses midnight) in an IANA time zone; messages of the `pass`
/// severities go out all the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QuietHoursRecord {
    pub(crate) start: u16,
    pub(crate) end: u16,
    pub(crate) timezone: String,
    pub(crate) pass: Vec<Severity>,
}

/// Where a delivery goes: a channel or an email contact of the delivery's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum TargetKey {
    Channel(u64),
    Contact(u64),
}

impl TargetKey {
    /// The target as the two numbers of a table key.
    pub(crate) fn parts(self) -> (u8, u64) {
        match self {
            TargetKey::Channel(id) => (0, id),
            TargetKey::Contact(id) => (1, id),
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DeliveryState {
    Pending,
    Retrying,
    Delivered,
    Failed,
}

/// One delivery job as stored: one message (or a digest of several) to one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeliveryRecord {
    pub(crate) account: u64,
    /// The message; for a digest, the first message gathered.
    pub(crate) seq: u32,
    pub(crate) category: Category,
    pub(crate) digest: bool,
    pub(crate) target: TargetKey,
    pub(crate) plugin: String,
    pub(crate) state: DeliveryState,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    /// When the next attempt is due (for a digest still gathering: its tick), in µs.
    pub(crate) next_attempt: Option<i64>,
    pub(crate) updated: i64,
}

/// Who made a recorded change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ActorRecord {
    /// The operator of the hub.
    Operator,
    /// The account's root.
    Root,
    /// A user of the account, by id.
    User(u64),
    /// Someone following a one-click unsubscribe link of a message.
    Link,
}

/// What kind of thing a recorded change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SubjectRecord {
    User,
    Policy,
    Channel,
    Contact,
    Subscription,
    Retention,
    MandatoryRule,
    Unsubscribe,
}

impl SubjectRecord {
    /// The subject as one number of a table key.
    pub(crate) fn code(self) -> u8 {
        match self {
            SubjectRecord::User => 0,
            SubjectRecord::Policy => 1,
            SubjectRecord::Channel => 2,
            SubjectRecord::Contact => 3,
            SubjectRecord::Subscription => 4,
            SubjectRecord::Retention => 5,
            SubjectRecord::MandatoryRule => 6,
            SubjectRecord::Unsubscribe => 7,
        }
    }
}

/// The layouts of schema version 2, read once by the migration to version 3 (which added
/// locales to accounts, channels and contacts, and quiet hours to subscriptions).
pub(crate) mod v2 {
    use serde::Deserialize;

    use super::{AccountRecord, ChannelRecord, ContactRecord, DigestRecord, SubscriptionRecord};
    use crate::model::Severity;

    /// An account as version 2 stored it.
    #[derive(Debug, Clone, serde::Serialize, Deserialize)]
    pub(crate) struct Account {
        pub(crate) name: String,
        pub(crate) created: i64,
        pub(crate) retention_days: u32,
    }

    /// A channel as version 2 stored it.
    #[derive(Debug, Clone, serde::Serialize, Deserialize)]
    pub(crate) struct Channel {
        pub(crate) name: String,
        pub(crate) plugin: String,
        pub(crate) config: Vec<u8>,
        pub(crate) sealed: bool,
        pub(crate) created: i64,
    }

    /// A contact as version 2 stored it.
    #[derive(Debug, Clone, serde::Serialize, Deserialize)]
    pub(crate) struct Contact {
        pub(crate) name: String,
        pub(crate) email: String,
        pub(crate) created: i64,
    }

    /// A subscription as version 2 stored it.
    #[derive(Debug, Clone, serde::Serialize, Deserialize)]
    pub(crate) struct Subscription {
        pub(crate) subtypes: Option<Vec<String>>,
        pub(crate) min_severity: Severity,
        pub(crate) contacts: Vec<u64>,
        pub(crate) channels: Vec<u64>,
        pub(crate) digest: Option<DigestRecord>,
        pub(crate) updated: i64,
    }

    impl From<Account> for AccountRecord {
        fn from(old: Account) -> AccountRecord {
            AccountRecord {
                name: old.name,
                created: old.created,
                retention_days: old.retention_days,
                locale: None,
            }
        }
    }

    impl From<Channel> for ChannelRecord {
        fn from(old: Channel) -> ChannelRecord {
            ChannelRecord {
                name: old.name,
                plugin: old.plugin,
                config: old.config,
                sealed: old.sealed,
                created: old.created,
                locale: None,
            }
        }
    }

    impl From<Contact> for ContactRecord {
        fn from(old: Contact) -> ContactRecord {
            ContactRecord {
                name: old.name,
                email: old.email,
                created: old.created,
                locale: None,
            }
        }
    }

    impl From<Subscription> for SubscriptionRecord {
        fn from(old: Subscription) -> SubscriptionRecord {
            SubscriptionRecord {
                subtypes: old.subtypes,
                min_severity: old.min_severity,
                contacts: old.contacts,
                channels: old.channels,
                digest: old.digest,
                updated: old.updated,
                quiet_hours: None,
            }
        }
    }
}

/// Whether a recorded change created, changed or deleted its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ActionRecord {
    Created,
    Changed,
    Deleted,
}

/// One entry of a change history as stored: who, when, what, and the subject before and
/// after as JSON text (secrets already redacted: no secret is ever stored here).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HistoryRecord {
    pub(crate) at: i64,
    pub(crate) actor: ActorRecord,
    pub(crate) subject: SubjectRecord,
    pub(crate) action: ActionRecord,
    /// The category the change concerns (subscriptions, unsubscribes, mandatory rules).
    pub(crate) category: Option<Category>,
    /// The id (or name) of what changed, as the API writes it.
    pub(crate) target: String,
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
}

/// A mandatory rule as stored: notices of its category (and subtypes), at least its
/// severity, reach the category's subscribed targets whatever the subscription's filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MandatoryRuleRecord {
    pub(crate) name: String,
    pub(crate) category: Category,
    pub(crate) subtypes: Option<Vec<String>>,
    pub(crate) min_severity: Severity,
    pub(crate) created: i64,
}

pub(crate) fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StorageError> {
    postcard::to_stdvec(value).map_err(|e| StorageError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, StorageError> {
    postcard::from_bytes(bytes).map_err(|e| StorageError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// Packs a message's category, severity and whether it has a dedupe key into one byte.
pub(crate) fn pack(category: Category, severity: Severity, has_dedupe_key: bool) -> u8 {
    category.index() as u8 | (severity.index() as u8) << 4 | u8::from(has_dedupe_key) << 7
}

/// Whether a packed byte says the message has a dedupe key.
pub(crate) fn has_dedupe_key(packed: u8) -> bool {
    packed & 0x80 != 0
}

pub(crate) fn unpack(packed: u8) -> Result<(Category, Severity), StorageError> {
    let category = Category::from_index(usize::from(packed & 0x0f));
    let severity = Severity::from_index(usize::from((packed >> 4) & 0x07));
    category.zip(severity).ok_or(StorageError::Corrupt {
        what: "message index",
        detail: format!("unknown category/severity code {packed:#x}"),
    })
}
