//! The [`Engine`] handle, its builder, and the clock it reads time from.
//!
//! The engine owns the store and its writer thread; cloning it is cheap (an `Arc`), and every
//! operation of the other modules is a method on it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::Sender;

use parking_lot::{Mutex, RwLock};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::access::{Principal, TokenHash, UserGrant};
use crate::error::Error;
use crate::ids::{AccountId, UserId};
use crate::store::Store;
use crate::store::records::TokenOwner;
use crate::store::writer::{self, Job};

/// Where the engine reads the current time; tests inject a [`ManualClock`] so that nothing
/// time-dependent needs a real wait.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock {
            micros: AtomicI64::new(writer::micros(start)),
        }
    }

    /// Moves the clock to `to` (also backwards, to test clock skew).
    pub fn set(&self, to: OffsetDateTime) {
        self.micros.store(writer::micros(to), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.micros.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        from_micros(self.micros.load(Ordering::SeqCst))
    }
}

pub(crate) fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Configures and opens an [`Engine`].
pub struct EngineBuilder {
    path: Option<PathBuf>,
    operator_token: Option<String>,
    clock: Arc<dyn Clock>,
    cache_bytes: Option<usize>,
}

impl EngineBuilder {
    /// Stores everything in the redb file at `path`, creating it if needed.
    pub fn path(mut self, path: impl Into<PathBuf>) -> EngineBuilder {
        self.path = Some(path.into());
        self
    }

    /// Keeps everything in memory (lost on drop): for tests and demos.
    pub fn in_memory(mut self) -> EngineBuilder {
        self.path = None;
        self
    }

    /// The token that authenticates as the operator.
    pub fn operator_token(mut self, token: impl Into<String>) -> EngineBuilder {
        self.operator_token = Some(token.into());
        self
    }

    /// Where time comes from (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> EngineBuilder {
        self.clock = clock;
        self
    }

    /// The size of redb's page cache in bytes (default: redb's own).
    pub fn cache_bytes(mut self, bytes: usize) -> EngineBuilder {
        self.cache_bytes = Some(bytes);
        self
    }

    /// Opens the store (running any migration), rebuilds the in-memory indexes and starts
    /// the writer.
    pub async fn build(self) -> Result<Engine, Error> {
        let EngineBuilder {
            path,
            operator_token,
            clock,
            cache_bytes,
        } = self;
        let store = tokio::task::spawn_blocking(move || {
            let mut builder = redb::Database::builder();
            if let Some(bytes) = cache_bytes {
                builder.set_cache_size(bytes);
            }
            let db = match path {
                Some(path) => builder.create(path)?,
                None => builder.create_with_backend(redb::backends::InMemoryBackend::new())?,
            };
            Store::open(db)
        })
        .await
        .map_err(|e| Error::Storage(crate::error::StorageError::WriterGone(e.to_string())))??;
        let store = Arc::new(store);
        let (sender, join) = writer::spawn(store.clone(), clock.clone())
            .map_err(|e| Error::Storage(crate::error::StorageError::WriterGone(e.to_string())))?;
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                clock,
                operator: operator_token.as_deref().map(TokenHash::of),
                writer: RwLock::new(Some(sender)),
                join: Mutex::new(Some(join)),
            }),
        })
    }
}

/// The notification hub: inboxes, accounts and users. Cheap to clone; safe to use from many
/// tasks at once.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<Store>,
    pub(crate) clock: Arc<dyn Clock>,
    operator: Option<TokenHash>,
    writer: RwLock<Option<Sender<Job>>>,
    join: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Engine {
    /// Starts configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            path: None,
            operator_token: None,
            clock: Arc::new(SystemClock),
            cache_bytes: None,
        }
    }

    /// Finds who holds `token`: the operator, an account root, or a user with the policies it
    /// holds right now.
    pub fn authenticate(&self, token: &str) -> Result<Principal, Error> {
        if token.is_empty() {
            return Err(Error::Unauthenticated(
                "a bearer token is required: send 'Authorization: Bearer <token>'".into(),
            ));
        }
        let hash = TokenHash::of(token);
        if self
            .inner
            .operator
            .as_ref()
            .is_some_and(|op| op.matches(&hash))
        {
            return Ok(Principal::Operator);
        }
        let unknown = || Error::Unauthenticated("the token is not valid (or was revoked)".into());
        let state = self.inner.store.state.read();
        let (stored, owner) = state.tokens.get_key_value(&hash.0).ok_or_else(unknown)?;
        if !TokenHash(*stored).matches(&hash) {
            return Err(unknown());
        }
        match *owner {
            TokenOwner::Root(account) => Ok(Principal::Root(AccountId(account))),
            TokenOwner::User(user) => {
                let record = state.users.get(&UserId(user)).ok_or_else(unknown)?;
                Ok(Principal::User(UserGrant {
                    account: AccountId(record.account),
                    user: UserId(user),
                    policies: record.policies.clone(),
                    categories: record
                        .categories
                        .as_ref()
                        .map(|c| c.iter().copied().collect()),
                }))
            }
        }
    }

    /// The engine's current time.
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Stops the writer after the changes already submitted, and waits for it; later calls
    /// that change anything fail with [`Error::Closed`]. The file itself is released when
    /// the last clone of the engine is dropped.
    pub async fn close(&self) {
        drop(self.inner.writer.write().take());
        let join = self.inner.join.lock().take();
        if let Some(join) = join {
            // A panic in the writer has already been reported by the panic hook.
            let _ = tokio::task::spawn_blocking(move || join.join()).await;
        }
    }

    /// Sends a job to the writer and waits for its commit.
    pub(crate) async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Job,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        {
            let writer = self.inner.writer.read();
            let sender = writer.as_ref().ok_or(Error::Closed)?;
            sender.send(job(tx)).map_err(|_| Error::Closed)?;
        }
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Runs blocking store reads off the async worker threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| Error::Storage(crate::error::StorageError::WriterGone(e.to_string())))?
    }
}
