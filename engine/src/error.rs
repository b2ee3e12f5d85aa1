//! The engine's errors: one enum whose variants map one-to-one onto the HTTP contract's
//! error codes, so every caller (the HTTP layer, the CLI, an embedding app) can tell a
//! person what to fix.

use thiserror::Error;

/// Everything an engine operation can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The input broke a rule; `field` names the offending input and `message` says what is
    /// allowed.
    #[error("{message}")]
    InvalidArgument {
        /// The request field at fault, e.g. `title` or `filter.category`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// No token, or a token that is not (or no longer) known.
    #[error("{0}")]
    Unauthenticated(String),
    /// The principal is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The addressed thing does not exist, or is invisible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with what exists, such as a name already taken.
    #[error("{0}")]
    Conflict(String),
    /// The store failed; the request's changes were not applied.
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The engine was closed while the request was in flight.
    #[error("the engine is shutting down; retry against a running instance")]
    Closed,
    /// A part the operation needs is not working right now (a plugin that crashed or timed
    /// out while checking a configuration); retrying later may help.
    #[error("{0}")]
    Unavailable(String),
    /// Too many changes are waiting for the store; nothing of this request was applied.
    /// Retrying after a short pause succeeds once the queue has drained.
    #[error("{0}")]
    Overloaded(String),
    /// The account holds as many of something (users, channels, contacts) as the operator
    /// allows; nothing was created. The message names the limit and how it is raised.
    #[error("{0}")]
    LimitReached(String),
    /// The change would leave notices that an operator's mandatory rule covers with no
    /// target in the account (deleting the category's subscription, or leaving it without
    /// channels and contacts); nothing was changed. The message names the rule.
    #[error("{message}")]
    MandatoryRule {
        /// The rule that refused the change.
        rule: crate::ids::RuleId,
        /// What was refused, which rule refused it, and what to do instead.
        message: String,
    },
    /// The caller did this too often; nothing was done. Retrying after `retry_after`
    /// succeeds.
    #[error("{message}")]
    RateLimited {
        /// What was limited and how much is allowed.
        message: String,
        /// How long until the next try is allowed.
        retry_after: std::time::Duration,
    },
}

impl Error {
    /// An [`Error::InvalidArgument`] for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The contract's error code, which says what kind of failure this is (and so which
    /// HTTP status the server answers).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::LimitReached(_) => ErrorCode::LimitReached,
            Error::MandatoryRule { .. } => ErrorCode::MandatoryRule,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::Storage(_) => ErrorCode::Internal,
            Error::Closed | Error::Unavailable(_) | Error::Overloaded(_) => ErrorCode::Unavailable,
        }
    }

    /// The request field at fault, for [`Error::InvalidArgument`].
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { field, .. } => Some(field),
            _ => None,
        }
    }

    /// How long the caller should wait before trying again, for [`Error::RateLimited`].
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// The kinds of failure the contract names, one per error code of the HTTP API. A caller
/// (the server, the CLI, an embedding application) decides what to do by the kind, not by
/// the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_argument`: the input broke a rule (400).
    InvalidArgument,
    /// `unauthenticated`: no token, or an unknown one (401).
    Unauthenticated,
    /// `forbidden`: known, but not allowed (403).
    Forbidden,
    /// `not_found`: nothing there, or nothing the caller may see (404).
    NotFound,
    /// `conflict`: clashes with what exists (409).
    Conflict,
    /// `limit_reached`: the account holds as many as allowed (409).
    LimitReached,
    /// `mandatory_rule`: an operator's mandatory rule needs what the change would remove
    /// (409).
    MandatoryRule,
    /// `rate_limited`: too often; retry later (429).
    RateLimited,
    /// `internal`: the store failed (500).
    Internal,
    /// `unavailable`: shutting down, overloaded or a part not working now (503).
    Unavailable,
}

impl ErrorCode {
    /// The code as the contract spells it, e.g. `invalid_argument`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::LimitReached => "limit_reached",
            ErrorCode::MandatoryRule => "mandatory_rule",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A failure of the store, or stored data that cannot be read back.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The storage backend (redb) reported an error: I/O, a full disk, a corrupted file.
    /// The source is the backend's own error.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A stored record did not decode; the file was written by an incompatible version or
    /// is damaged.
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// The file's schema version is not one this build can read.
    #[error(
        "the database has schema version {found}, this build reads version {supported}; use a matching msghub version"
    )]
    UnsupportedSchema {
        /// The version in the file.
        found: u64,
        /// The version this build writes.
        supported: u64,
    },
    /// A commit failed, so none of the changes grouped into it were saved.
    #[error("the change was not saved: {0}")]
    Commit(String),
    /// The store's channel configurations are sealed with another secret key than the one
    /// the engine was given (or it was given none): opening them would fail, and sealing new
    /// ones with this key would mix two keys in one store.
    #[error(
        "the channel configurations in this store are sealed with a different secret key; start with the key they were sealed with (MSGHUB_SECRET_KEY, MSGHUB_SECRET_KEY_FILE, or the secret-key file next to the store)"
    )]
    SecretKeyMismatch,
    /// The store file or the secret key file cannot be created or read.
    #[error("cannot use {}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer thread stopped unexpectedly.
    #[error("the store's writer stopped: {0}")]
    WriterGone(String),
}
