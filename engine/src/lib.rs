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
//! - [`accounts`]: accounts and users, as methods on [`Engine`].
//! - [`inbox`]: publish, list, get, counts, mark read and delete, as methods on [`Engine`].
//! - [`delivery`]: channels, contacts, subscriptions, routing, the outbox workers with
//!   retries and rate limits, digests and retention.
//! - `store`: the redb tables, the in-memory bitmap indexes, and the single writer thread
//!   that groups concurrent changes into shared commits.
//! - `plugin`: the channel plugin host (feature `plugins`, on by default): loads
//!   WebAssembly channel plugins and runs each call in a sandbox.
//! - [`private_files`]: directories 0700 and files 0600 for everything msghub keeps on
//!   disk, and the warning when one is open to group or others.
//! - [`Engine`]: the handle that ties them together (built by [`EngineBuilder`]).
//!
//! # How a request flows
//!
//! A caller authenticates a token into a [`Principal`]. Each operation first asks
//! [`access::authorize`] what the principal may do (and in which categories), then either
//! reads (the account's in-memory index picks the matching sequence numbers; a redb read
//! transaction loads just those messages) or sends a job to the writer. The writer applies
//! every job waiting at that moment in one redb transaction, commits once, then updates the
//! in-memory indexes and answers: an acknowledged change is on disk.
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
pub mod delivery;
mod engine;
mod error;
pub mod filter;
pub mod ids;
pub mod inbox;
pub mod model;
#[cfg(feature = "plugins")]
pub mod plugin;
pub mod private_files;
mod store;

pub use access::{Action, Policy, Principal, UserGrant, generate_operator_token};
pub use accounts::{Account, CreatedAccount, CreatedUser, NewUser, User, UserUpdate};
pub use delivery::scheduler::ScheduledWork;
#[cfg(feature = "plugins")]
pub use delivery::worker::{DeliveryObserver, WorkerConfig};
pub use delivery::{
    Channel, Contact, DeliveryInfo, DeliveryStatus, Digest, NewChannel, NewContact, Requeue,
    RetrySchedule, Route, Routing, SecretKey, Subscription, SubscriptionSpec, TargetKind,
    TestOutcome,
};
pub use engine::{
    Clock, DEFAULT_MAX_PENDING_WRITES, Engine, EngineBuilder, ManualClock, SystemClock,
};
pub use error::{Error, StorageError};
pub use filter::{
    CategorySet, Filter, Page, PageRequest, ReadStatus, Selection, SeveritySet, format_time,
    parse_time,
};
pub use ids::{AccountId, ChannelId, ContactId, DeliveryId, MessageId, UserId};
pub use inbox::{CategoryCount, Counts};
pub use model::{Category, Message, NewMessage, Published, Severity, ValidMessage};
