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
}

impl Error {
    /// An [`Error::InvalidArgument`] for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The contract's error code: `invalid_argument`, `unauthenticated`, `forbidden`,
    /// `not_found`, `conflict`, `internal` or `unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument { .. } => "invalid_argument",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::Storage(_) => "internal",
            Error::Closed | Error::Unavailable(_) | Error::Overloaded(_) => "unavailable",
        }
    }

    /// The request field at fault, for [`Error::InvalidArgument`].
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// A failure of the redb store, or stored data that cannot be read back.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// redb reported an error (I/O, a full disk, a corrupted file).
    #[error(transparent)]
    Redb(#[from] redb::Error),
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

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> StorageError {
                StorageError::Redb(e.into())
            }
        }
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Storage(StorageError::Redb(e.into()))
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Error {
        Error::Storage(StorageError::Redb(e))
    }
}
