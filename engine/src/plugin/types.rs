//! What the engine hands to plugins and gets back, independent of the notifier version the
//! plugin was built for (the `bindings` module converts).

use std::time::Duration;

use crate::model::Message;

/// A plugin's description of itself, as its `info` returned it at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The unique name channels refer to, e.g. `dingtalk`.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// One sentence for the plugin list.
    pub description: String,
    /// The JSON Schema of the channel configuration.
    pub config_schema: serde_json::Value,
    /// The hosts the plugin may reach (`*.example.com` for subdomains).
    pub hosts: Vec<String>,
    /// True when the target host comes from the user's configuration: any host, public
    /// addresses only.
    pub user_supplied_host: bool,
    /// The target's limit, enforced per channel target.
    pub rate_limit: Option<RateLimit>,
    /// The notifier version the plugin implements, e.g. `0.1.0`.
    pub interface_version: String,
}

impl PluginInfo {
    /// The names of the configuration properties marked secret (`"writeOnly": true` or
    /// `"x-secret": true`) at the top level of the schema: redact them in every answer and
    /// never log them.
    pub fn secret_fields(&self) -> Vec<String> {
        let Some(properties) = self
            .config_schema
            .get("properties")
            .and_then(|p| p.as_object())
        else {
            return Vec::new();
        };
        properties
            .iter()
            .filter(|(_, schema)| {
                ["writeOnly", "x-secret"]
                    .iter()
                    .any(|mark| schema.get(mark) == Some(&serde_json::Value::Bool(true)))
            })
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// How many notifications a target accepts in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Notifications per period.
    pub count: u32,
    /// The period.
    pub period: Duration,
}

/// One message as it arrived, or a digest of several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    /// One message.
    Single,
    /// A summary of several, sent as one notification.
    Digest,
}

/// Someone a delivery is addressed to besides the channel's configuration (email contacts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address.
    pub address: String,
    /// The display name.
    pub name: Option<String>,
}

/// One delivery attempt through one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Single or digest.
    pub kind: DeliveryKind,
    /// The messages (one for `Single`), oldest first.
    pub messages: Vec<Message>,
    /// Extra recipients (email contacts).
    pub recipients: Vec<Recipient>,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// Stays the same across every retry of this delivery.
    pub idempotency_key: String,
    /// The locale of fixed words, e.g. `en`.
    pub locale: String,
    /// The engine clock's time of the attempt, Unix milliseconds.
    pub timestamp_ms: u64,
    /// How the recipient of mail unsubscribes (a contact's delivery): the host writes it
    /// into the mail's headers; the plugin never sees it, so it cannot forge it for
    /// another contact.
    pub unsubscribe: Option<MailUnsubscribe>,
}

/// The unsubscribe headers the host writes into a contact's mail: `List-Unsubscribe` with
/// the one-click URL (when the server has a public URL) and a mailto to the operator's
/// From address whose subject names the token; `List-Unsubscribe-Post` beside an https URL
/// (RFC 8058).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailUnsubscribe {
    /// The signed token naming the account, the contact and the category.
    pub token: String,
    /// The URL that unsubscribes in one click with a `POST`.
    pub url: Option<String>,
}

/// What the target answered to a successful delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The target's id for the notification, if it gave one.
    pub remote_id: Option<String>,
    /// A short note for the delivery log.
    pub detail: Option<String>,
}

/// Whether a failed delivery may be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// A passing failure: retry with backoff.
    Retryable,
    /// The target throttled: wait (at least `retry_after`, when given), then retry.
    RateLimited {
        /// What the target asked for.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help.
    Permanent,
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::Retryable => f.write_str("retryable"),
            FailureKind::RateLimited { retry_after: None } => f.write_str("rate limited"),
            FailureKind::RateLimited {
                retry_after: Some(after),
            } => write!(f, "rate limited, retry after {} s", after.as_secs()),
            FailureKind::Permanent => f.write_str("permanent"),
        }
    }
}

/// What one call of a plugin may use: the operator's caps for it, lowered to what the plugin
/// states it needs (`x-msghub-needs` in its configuration schema).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginLimits {
    /// The most linear memory one instance may use, in bytes.
    pub memory: usize,
    /// The most one call may take.
    pub deadline: Duration,
    /// The most messages one digest call carries.
    pub batch: usize,
    /// The plugin stated it needs more than the operator allows: what it asked for, for
    /// the warning that says how to grant it.
    pub short: Option<String>,
}
