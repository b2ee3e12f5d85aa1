//! msghub: an embeddable notification hub.
//!
//! One inbox per account for every important notice (six categories, severities, read state
//! per reader), with permissions for an account's root and its users, stored durably in one
//! redb file.
//!
//! # Map
//!
//! - [`model`]: categories, severities, messages and their validation.
//! - [`ids`]: the opaque ids of accounts, users and messages.
//! - [`filter`]: filters, selections for bulk operations, pages and cursors.
//! - [`access`]: principals, policies, tokens, and `authorize`, the one permission rule.
//! - [`accounts`]: accounts and users, as methods on [`Engine`]; their changes as commands
//!   (`accounts::commands`).
//! - [`history`]: the change history of each account (and the operator's own), written by
//!   the domains' commands in the transaction of the change they record, read a page at a
//!   time, purged with the account's retention.
//! - [`limits`]: how many users, channels and contacts one account may hold.
//! - [`inbox`]: publish, list, get, counts, mark read and delete, as methods on [`Engine`];
//!   publish, mark read and delete as commands (`inbox::commands`).
//! - [`delivery`]: channels, contacts, subscriptions, their changes and a message's routing
//!   as commands (`delivery::commands`), routing (`delivery::routing`, the rule as pure
//!   functions), the operator's mandatory rules that override it
//!   ([`delivery::mandatory`]), the outbox workers with retries, rate limits and fair call
//!   slots per account and target (`worker`, `slots`; [`Engine::deliver_due`] runs one step
//!   of them by hand), digests read in parts that fit one call (`prepare`, which also picks
//!   each delivery's language: its target's, its account's, the server's), quiet hours
//!   (a held delivery is due at their end in the outbox), channel tests on slots of their
//!   own (`test_send`), one-click unsubscribe with signed tokens (`unsubscribe`), and
//!   retention. [`delivery::host`] is the seam to what
//!   sends: the [`ChannelHost`] trait, implemented by the plugin registry, or by an
//!   embedder's own channels or a test's fake.
//! - `clock`: where time comes from ([`Clock`], [`ManualClock`]) and every conversion to
//!   the store's microseconds.
//! - `store`: the storage seam (`backend`: typed writes, reads as of one commit, loading at
//!   open) and its redb implementation (`redb_backend`, the only module that knows redb),
//!   the in-memory state keyed by account and the bitmap indexes, the search index built
//!   behind the writer (`text`: which messages may contain a `q`), the single writer thread
//!   that applies the domains' commands in shared commits (`writer`: `Command`, `Tx`),
//!   `snapshot` (the only way readers outside the store see stored data) and `recovery`
//!   (attempts a crash cut off, settled at open). The store imports no domain.
//! - `plugin`: the channel plugin host (feature `plugins`, on by default): loads
//!   WebAssembly channel plugins and runs each call in a sandbox.
//! - [`schedule`]: the time rules: retry schedules, digest schedules (cron in a time
//!   zone), quiet hours (a daily window in a time zone), token buckets. `secrets`: channel
//!   configurations sealed at rest and redacted, and the key that signs unsubscribe tokens.
//!   Both lie below the store and delivery, which use them.
//! - [`private_files`]: directories 0700 and files 0600 for everything msghub keeps on
//!   disk, and the warning when one is open to group or others.
//! - [`Engine`]: the handle that ties them together (built by [`EngineBuilder`]).
//!
//! # How a request flows
//!
//! A caller authenticates a token into a [`Principal`]. Each operation first asks
//! [`access::authorize`] what the principal may do (and in which categories), then either
//! reads (the account's in-memory index picks the matching sequence numbers; a snapshot
//! loads just those messages) or sends a command to the writer. The writer applies every
//! command waiting at that moment in one transaction of the backend, commits once, then
//! updates the in-memory indexes and answers: an acknowledged change is on disk.
//!
//! # Example
//!
//! ```
//! use msghub::{Category, Engine, Filter, NewMessage, PageRequest, Principal, ReadStatus, Selection};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let engine = Engine::builder().in_memory().build().await?;
//! let operator = Principal::Operator;
//! let acme = engine.create_account(&operator, "acme").await?;
//! engine
//!     .publish(&operator, acme.account.id, NewMessage::new(Category::Security, "New sign-in"))
//!     .await?;
//!
//! let root = engine.authenticate(&acme.root_token)?;
//! let unread = Filter::default().status(ReadStatus::Unread);
//! let page = engine.list_messages(&root, acme.account.id, &unread, &PageRequest::default()).await?;
//! assert_eq!(page.items.len(), 1);
//! let marked = engine.mark_read(&root, acme.account.id, Selection::Filter(unread)).await?;
//! assert_eq!(marked, 1);
//! # Ok::<(), msghub::Error>(())
//! # }).unwrap();
//! ```

#![deny(missing_docs)]

pub mod access;
pub mod accounts;
mod clock;
pub mod delivery;
mod engine;
mod error;
pub mod filter;
pub mod history;
pub mod ids;
pub mod inbox;
pub mod limits;
pub mod model;
#[cfg(feature = "plugins")]
pub mod plugin;
pub mod private_files;
pub mod schedule;
mod secrets;
mod store;
#[cfg(test)]
mod tests;

pub use access::{Action, Policy, Principal, UserGrant, generate_operator_token};
pub use accounts::{Account, CreatedAccount, CreatedUser, NewUser, User, UserUpdate};
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "plugins")]
pub use delivery::host::ChannelHost;
pub use delivery::scheduler::ScheduledWork;
#[cfg(feature = "plugins")]
pub use delivery::test_send::{
    TEST_SENDS_IN_FLIGHT, TEST_SENDS_PER_ACCOUNT_IN_FLIGHT, TEST_SENDS_PER_MINUTE,
};
pub use delivery::unsubscribe::Unsubscription;
#[cfg(feature = "plugins")]
pub use delivery::worker::{DeliveryObserver, WorkerConfig};
pub use delivery::{
    AccountWithoutTarget, Channel, Contact, DeliveryInfo, DeliveryStatus, Digest, MandatoryRule,
    MissingTarget, NewChannel, NewContact, NewMandatoryRule, QuietHours, Requeue, RetrySchedule,
    Route, Routing, SecretKey, Subscription, SubscriptionSpec, TargetKind, TestOutcome,
};
pub use engine::{DEFAULT_MAX_PENDING_WRITES, Engine, EngineBuilder};
pub use error::{Error, ErrorCode, StorageError};
pub use filter::{
    CategorySet, Filter, Page, PageRequest, ReadStatus, Selection, SeveritySet, format_time,
    parse_time,
};
pub use history::{Actor, Change, ChangeAction, ChangeKind, HistoryFilter};
pub use ids::{AccountId, ChangeId, ChannelId, ContactId, DeliveryId, MessageId, RuleId, UserId};
pub use inbox::live::{Event, EventKind, Events};
pub use inbox::{CategoryCount, Counts};
pub use limits::{
    AccountLimits, DEFAULT_MAX_CHANNELS_PER_ACCOUNT, DEFAULT_MAX_CONTACTS_PER_ACCOUNT,
    DEFAULT_MAX_USERS_PER_ACCOUNT,
};
pub use model::{
    Category, LOCALES, Message, NewMessage, Published, Severity, ValidMessage, check_locale,
};
pub use store::text::{DEFAULT_SEARCH_INDEX_BYTES, SearchIndexStats};
