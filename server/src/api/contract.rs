//! The contract's closed sets of names, as the OpenAPI document lists them: categories,
//! severities, read states, policies, delivery statuses, target kinds and locales.
//!
//! The engine keeps its own enums free of any HTTP or OpenAPI concern; these mirror them one
//! to one (the `From` conversions are exhaustive matches, so a new engine variant does not
//! compile until it is named here too).
//!
//! The text rules of the request types are written in their `#[schema]` attributes as
//! literals (utoipa takes no constants), with two patterns used throughout:
//! `^[^\x00-\x1f\x7f-\x9f]*$` (no control characters, the engine's `char::is_control`) and
//! the same with at least one character that is not white space (not blank, the engine's
//! `trim().is_empty()`). `tests/openapi_contract.rs` holds the limits to the engine's
//! constants.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A message's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Sign-ins, profile and ownership changes.
    Account,
    /// Resources expiring, quotas, version end of life.
    Product,
    /// Attacks, vulnerabilities, leaked keys.
    Security,
    /// Failures and outages of the customer's resources.
    Exception,
    /// Campaigns, events and offers.
    Activity,
    /// Maintenance, billing and platform announcements.
    Service,
}

impl From<msghub::Category> for Category {
    fn from(category: msghub::Category) -> Self {
        match category {
            msghub::Category::Account => Category::Account,
            msghub::Category::Product => Category::Product,
            msghub::Category::Security => Category::Security,
            msghub::Category::Exception => Category::Exception,
            msghub::Category::Activity => Category::Activity,
            msghub::Category::Service => Category::Service,
        }
    }
}

/// How urgent a message is, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information; the default.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

impl From<msghub::Severity> for Severity {
    fn from(severity: msghub::Severity) -> Self {
        match severity {
            msghub::Severity::Info => Severity::Info,
            msghub::Severity::Warning => Severity::Warning,
            msghub::Severity::Critical => Severity::Critical,
        }
    }
}

/// Which messages by the caller's own read state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadStatus {
    /// Read or not; the default.
    All,
    /// Only those the caller has not read.
    Unread,
    /// Only those the caller has read.
    Read,
}

/// A policy a user can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Policy {
    /// View messages, counts, deliveries, channels, contacts and subscriptions; mark read.
    NotificationsReadOnlyAccess,
    /// All of read-only, plus delete messages and manage channels, contacts, subscriptions.
    NotificationsFullAccess,
}

impl From<msghub::Policy> for Policy {
    fn from(policy: msghub::Policy) -> Self {
        match policy {
            msghub::Policy::NotificationsReadOnlyAccess => Policy::NotificationsReadOnlyAccess,
            msghub::Policy::NotificationsFullAccess => Policy::NotificationsFullAccess,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt (or, for a digest, for its tick).
    Pending,
    /// The target accepted it.
    Delivered,
    /// An attempt failed; another is scheduled.
    Retrying,
    /// Given up; stays visible until requeued.
    Failed,
}

impl From<msghub::DeliveryStatus> for DeliveryStatus {
    fn from(status: msghub::DeliveryStatus) -> Self {
        match status {
            msghub::DeliveryStatus::Pending => DeliveryStatus::Pending,
            msghub::DeliveryStatus::Delivered => DeliveryStatus::Delivered,
            msghub::DeliveryStatus::Retrying => DeliveryStatus::Retrying,
            msghub::DeliveryStatus::Failed => DeliveryStatus::Failed,
        }
    }
}

/// Whether a delivery goes to a channel or to an email contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// A channel (a plugin and its configuration).
    Channel,
    /// An email contact.
    Contact,
}

impl From<msghub::TargetKind> for TargetKind {
    fn from(kind: msghub::TargetKind) -> Self {
        match kind {
            msghub::TargetKind::Channel => TargetKind::Channel,
            msghub::TargetKind::Contact => TargetKind::Contact,
        }
    }
}

/// What kind of thing a recorded change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A user created or deleted.
    User,
    /// A user's policies or category scope changed.
    Policy,
    /// A channel created or deleted (its configuration's secrets redacted).
    Channel,
    /// An email contact created or deleted.
    Contact,
    /// A category's subscription set or deleted.
    Subscription,
    /// The account's retention changed.
    Retention,
    /// A mandatory rule created or deleted (in the operator's history).
    MandatoryRule,
    /// A subscription changed through a message's one-click unsubscribe link.
    Unsubscribe,
}

impl From<msghub::ChangeKind> for ChangeKind {
    fn from(kind: msghub::ChangeKind) -> Self {
        match kind {
            msghub::ChangeKind::User => ChangeKind::User,
            msghub::ChangeKind::Policy => ChangeKind::Policy,
            msghub::ChangeKind::Channel => ChangeKind::Channel,
            msghub::ChangeKind::Contact => ChangeKind::Contact,
            msghub::ChangeKind::Subscription => ChangeKind::Subscription,
            msghub::ChangeKind::Retention => ChangeKind::Retention,
            msghub::ChangeKind::MandatoryRule => ChangeKind::MandatoryRule,
            msghub::ChangeKind::Unsubscribe => ChangeKind::Unsubscribe,
        }
    }
}

/// Whether a change created, changed or deleted its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// It did not exist before.
    Created,
    /// It existed before and after.
    Changed,
    /// It does not exist after.
    Deleted,
}

impl From<msghub::ChangeAction> for ChangeAction {
    fn from(action: msghub::ChangeAction) -> Self {
        match action {
            msghub::ChangeAction::Created => ChangeAction::Created,
            msghub::ChangeAction::Changed => ChangeAction::Changed,
            msghub::ChangeAction::Deleted => ChangeAction::Deleted,
        }
    }
}

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The operator of the hub.
    Operator,
    /// The account's root.
    Root,
    /// A user of the account (`user_id` says which).
    User,
    /// Someone who followed a message's one-click unsubscribe link.
    Link,
}

/// Why an account has no target for a mandatory rule's notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingTarget {
    /// No subscription for the rule's category.
    NoSubscription,
    /// A subscription that names no channel and no contact.
    NoTargets,
}

impl From<msghub::MissingTarget> for MissingTarget {
    fn from(reason: msghub::MissingTarget) -> Self {
        match reason {
            msghub::MissingTarget::NoSubscription => MissingTarget::NoSubscription,
            msghub::MissingTarget::NoTargets => MissingTarget::NoTargets,
        }
    }
}

/// A language of the words msghub adds to deliveries (subject prefix, footer, digest
/// headings, the test message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Locale {
    /// English.
    #[serde(rename = "en")]
    En,
    /// Simplified Chinese.
    #[serde(rename = "zh-CN")]
    ZhCn,
}
