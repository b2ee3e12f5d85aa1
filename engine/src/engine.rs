//! The [`Engine`] handle and its builder.
//!
//! The engine owns the store and its writer thread; cloning it is cheap (an `Arc`), and every
//! operation of the other modules is a method on it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Sender;

use parking_lot::{Mutex, RwLock};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::access::{Principal, TokenHash, UserGrant};
use crate::clock::{Clock, SystemClock};
use crate::delivery::SecretKey;
use crate::delivery::scheduler::{Scheduler, SchedulerState};
use crate::error::Error;
use crate::ids::{AccountId, UserId};
use crate::limits::AccountLimits;
use crate::schedule::RetrySchedule;
use crate::secrets::Secrets;
use crate::store::Store;
use crate::store::records::TokenOwner;
use crate::store::writer::{self, Command, Job};

/// Configures and opens an [`Engine`].
/// How many callers' changes may wait for the writer at once by default: about a quarter
/// of a second of publishing at full speed.
pub const DEFAULT_MAX_PENDING_WRITES: usize = 8192;

/// Builds an [`Engine`].
pub struct EngineBuilder {
    path: Option<PathBuf>,
    operator_token: Option<String>,
    clock: Arc<dyn Clock>,
    cache_bytes: Option<usize>,
    retry: RetrySchedule,
    secret_key: Option<SecretKey>,
    secret_key_file: Option<PathBuf>,
    background: bool,
    max_pending_writes: usize,
    account_limits: AccountLimits,
    search_index_bytes: u64,
    #[cfg(feature = "plugins")]
    plugins: Option<Arc<crate::plugin::PluginRegistry>>,
    #[cfg(feature = "plugins")]
    channels: Option<Arc<dyn crate::delivery::host::ChannelHost>>,
    #[cfg(feature = "plugins")]
    workers: crate::delivery::worker::WorkerConfig,
    #[cfg(feature = "plugins")]
    observer: Option<Arc<dyn crate::delivery::worker::DeliveryObserver>>,
}

impl EngineBuilder {
    /// Stores everything in the redb file at `path`, creating it if needed (0600: only its
    /// owner may read it). Channel configurations in a file are always sealed: with the
    /// [`EngineBuilder::secret_key`] when one is given, else with the key in
    /// [`EngineBuilder::secret_key_file`], by default the file `secret-key` beside the
    /// store, generated (0600) on first open.
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

    /// How many changes callers may have waiting for the writer at once (default
    /// [`DEFAULT_MAX_PENDING_WRITES`]). Beyond it a change is refused at once with
    /// [`Error::Overloaded`] instead of queueing without bound; deliveries and the scheduler's
    /// own changes always wait their turn.
    pub fn max_pending_writes(mut self, writes: usize) -> EngineBuilder {
        self.max_pending_writes = writes;
        self
    }

    /// The most users, channels and contacts one account may have (default
    /// [`AccountLimits::default`]). A create beyond a limit fails with
    /// [`Error::LimitReached`]; lowering a limit below what an account holds keeps what it
    /// holds and refuses new ones.
    pub fn account_limits(mut self, limits: AccountLimits) -> EngineBuilder {
        self.account_limits = limits;
        self
    }

    /// Where time comes from (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> EngineBuilder {
        self.clock = clock;
        self
    }

    /// The most memory the search index may hold, in bytes (default 256 MiB, about 3
    /// million templated notices). Past it, messages stored later are searched by reading
    /// them, as without an index; 0 turns the index off.
    pub fn search_index_bytes(mut self, bytes: u64) -> EngineBuilder {
        self.search_index_bytes = bytes;
        self
    }

    /// The size of redb's page cache in bytes (default: redb's own).
    pub fn cache_bytes(mut self, bytes: usize) -> EngineBuilder {
        self.cache_bytes = Some(bytes);
        self
    }

    /// The delay before each delivery attempt (default: the contract's
    /// `0s,5s,5m,30m,2h,5h,10h,10h`).
    pub fn retry_schedule(mut self, schedule: RetrySchedule) -> EngineBuilder {
        self.retry = schedule;
        self
    }

    /// Seals channel configurations at rest with this key; it wins over any key file.
    pub fn secret_key(mut self, key: SecretKey) -> EngineBuilder {
        self.secret_key = Some(key);
        self
    }

    /// Seals channel configurations at rest with the key kept in this file, generated
    /// (0600) when the file does not exist. A file store without one uses `secret-key`
    /// beside the store; an in-memory store without a key or key file stores them plain.
    pub fn secret_key_file(mut self, path: impl Into<PathBuf>) -> EngineBuilder {
        self.secret_key_file = Some(path.into());
        self
    }

    /// Whether the engine runs its delivery workers and scheduler in the background
    /// (default: yes). Without them, deliveries wait in the outbox and
    /// [`Engine::run_scheduled`] runs digests and retention when called.
    pub fn background(mut self, run: bool) -> EngineBuilder {
        self.background = run;
        self
    }

    /// The channel plugins that deliver to channels and contacts; without them channels
    /// cannot be created and deliveries wait in the outbox.
    #[cfg(feature = "plugins")]
    pub fn plugins(mut self, registry: Arc<crate::plugin::PluginRegistry>) -> EngineBuilder {
        self.plugins = Some(registry);
        self
    }

    /// Delivers through `host` instead of the plugin registry: an embedder's own channels,
    /// or a test's in-process fake (see [`crate::delivery::host`]). Without it, the engine
    /// delivers through [`EngineBuilder::plugins`].
    #[cfg(feature = "plugins")]
    pub fn channel_host(
        mut self,
        host: Arc<dyn crate::delivery::host::ChannelHost>,
    ) -> EngineBuilder {
        self.channels = Some(host);
        self
    }

    /// How the delivery workers run (concurrency, lease, locale).
    #[cfg(feature = "plugins")]
    pub fn workers(mut self, config: crate::delivery::worker::WorkerConfig) -> EngineBuilder {
        self.workers = config;
        self
    }

    /// Told about every delivery attempt (for metrics).
    #[cfg(feature = "plugins")]
    pub fn observer(
        mut self,
        observer: Arc<dyn crate::delivery::worker::DeliveryObserver>,
    ) -> EngineBuilder {
        self.observer = Some(observer);
        self
    }

    /// Opens the store (running any migration), rebuilds the in-memory indexes and starts
    /// the writer, and (unless turned off) the delivery workers and the scheduler on the
    /// current tokio runtime.
    pub async fn build(self) -> Result<Engine, Error> {
        let EngineBuilder {
            path,
            operator_token,
            clock,
            cache_bytes,
            retry,
            secret_key,
            secret_key_file,
            background,
            max_pending_writes,
            account_limits,
            search_index_bytes,
            #[cfg(feature = "plugins")]
            plugins,
            #[cfg(feature = "plugins")]
            channels,
            #[cfg(feature = "plugins")]
            workers,
            #[cfg(feature = "plugins")]
            observer,
        } = self;
        #[cfg(feature = "plugins")]
        let channels = channels.or_else(|| {
            plugins
                .clone()
                .map(|p| p as Arc<dyn crate::delivery::host::ChannelHost>)
        });
        let now = crate::clock::micros(clock.now());
        let (store, secrets, warnings) = tokio::task::spawn_blocking(move || {
            open_store(path, cache_bytes, retry, secret_key, secret_key_file, now)
        })
        .await
        .map_err(|e| Error::Storage(crate::error::StorageError::WriterGone(e.to_string())))??;
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let store = Arc::new(store);
        store.text.set_budget(search_index_bytes);
        let (sender, join) = writer::spawn(store.clone(), clock.clone(), account_limits)
            .map_err(|e| Error::Storage(crate::error::StorageError::WriterGone(e.to_string())))?;
        let indexer = crate::store::text::spawn_indexer(&store)
            .map_err(|e| Error::Storage(crate::error::StorageError::WriterGone(e.to_string())))?;
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                clock,
                operator: operator_token.as_deref().map(TokenHash::of),
                writer: RwLock::new(Some(sender)),
                pending: Arc::new(tokio::sync::Semaphore::new(max_pending_writes)),
                max_pending_writes,
                join: Mutex::new(Some(join)),
                indexer: Mutex::new(Some(indexer)),
                secrets,
                warnings,
                scheduler_state: Mutex::new(SchedulerState::default()),
                background: Mutex::new(Background::default()),
                #[cfg(feature = "plugins")]
                plugins,
                #[cfg(feature = "plugins")]
                delivery: channels
                    .clone()
                    .map(|host| crate::delivery::worker::Delivering::new(host, workers, observer)),
                #[cfg(feature = "plugins")]
                channels,
                #[cfg(feature = "plugins")]
                test_sends: crate::delivery::test_send::TestSends::new(),
            }),
        };
        if background {
            let mut running = engine.inner.background.lock();
            running.scheduler = Some(Scheduler::start(&engine));
            #[cfg(feature = "plugins")]
            if let Some(delivering) = &engine.inner.delivery {
                running.workers = Some(crate::delivery::worker::Workers::start(
                    &engine,
                    delivering.clone(),
                ));
            }
        }
        Ok(engine)
    }
}

/// Opens the redb file (created 0600) or a memory store with the secret key the builder
/// chose, and says which of the files it uses group or others may read.
fn open_store(
    path: Option<PathBuf>,
    cache_bytes: Option<usize>,
    retry: RetrySchedule,
    secret_key: Option<SecretKey>,
    secret_key_file: Option<PathBuf>,
    now: i64,
) -> Result<(Store, Secrets, Vec<String>), Error> {
    let io = |path: &std::path::Path, source: std::io::Error| {
        Error::Storage(crate::error::StorageError::File {
            path: path.to_owned(),
            source,
        })
    };
    let mut warnings = Vec::new();
    if let Some(path) = &path {
        crate::private_files::create_empty(path).map_err(|e| io(path, e))?;
        warnings.extend(crate::private_files::loose_permissions(path));
    }
    let key_file = match (&secret_key, secret_key_file, &path) {
        (Some(_), _, _) => None,
        (None, Some(file), _) => Some(file),
        (None, None, Some(path)) => Some(
            path.parent()
                .unwrap_or(std::path::Path::new("."))
                .join(crate::secrets::SECRET_KEY_FILE),
        ),
        (None, None, None) => None,
    };
    let mut generated = None;
    let key = match (secret_key, &key_file) {
        (Some(key), _) => Some(key),
        (None, Some(file)) => {
            let (key, created) = SecretKey::load_or_create(file)?;
            if created {
                generated = Some(file.clone());
            } else {
                warnings.extend(crate::private_files::loose_permissions(file));
            }
            Some(key)
        }
        (None, None) => None,
    };
    let secrets = Secrets::new(key.as_ref());
    match Store::open(path.as_deref(), cache_bytes, retry, &secrets, now) {
        Ok(store) => Ok((store, secrets, warnings)),
        Err(e) => {
            // A key generated for a store sealed with another one must not stay behind
            // and be taken for the right key at the next start.
            if let Some(file) = generated {
                let _ = std::fs::remove_file(file);
            }
            Err(e)
        }
    }
}

/// The notification hub: inboxes, accounts and users. Cheap to clone; safe to use from many
/// tasks at once.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) store: Arc<Store>,
    pub(crate) clock: Arc<dyn Clock>,
    operator: Option<TokenHash>,
    writer: RwLock<Option<Sender<Job>>>,
    /// Permits for callers' changes waiting for the writer: the bound of its queue.
    pending: Arc<tokio::sync::Semaphore>,
    max_pending_writes: usize,
    join: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The search index's thread (see [`crate::store::text`]).
    indexer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(crate) secrets: Secrets,
    warnings: Vec<String>,
    pub(crate) scheduler_state: Mutex<SchedulerState>,
    background: Mutex<Background>,
    #[cfg(feature = "plugins")]
    pub(crate) plugins: Option<Arc<crate::plugin::PluginRegistry>>,
    /// What delivers to channels and contacts: the plugins, or a host of the embedder's.
    #[cfg(feature = "plugins")]
    pub(crate) channels: Option<Arc<dyn crate::delivery::host::ChannelHost>>,
    /// The delivery attempts' shared state (slots, rate limits), for the background
    /// workers and [`Engine::deliver_due`] alike; `None` without a channel host.
    #[cfg(feature = "plugins")]
    pub(crate) delivery: Option<Arc<crate::delivery::worker::Delivering>>,
    /// The channel tests' own call slots and per-account rates.
    #[cfg(feature = "plugins")]
    pub(crate) test_sends: Arc<crate::delivery::test_send::TestSends>,
}

/// The background tasks of an engine.
#[derive(Default)]
struct Background {
    scheduler: Option<Arc<Scheduler>>,
    #[cfg(feature = "plugins")]
    workers: Option<Arc<crate::delivery::worker::Workers>>,
}

impl Engine {
    /// Starts configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            path: None,
            operator_token: None,
            clock: Arc::new(SystemClock),
            cache_bytes: None,
            retry: RetrySchedule::default(),
            secret_key: None,
            secret_key_file: None,
            background: true,
            max_pending_writes: DEFAULT_MAX_PENDING_WRITES,
            account_limits: AccountLimits::default(),
            search_index_bytes: crate::store::text::DEFAULT_SEARCH_INDEX_BYTES,
            #[cfg(feature = "plugins")]
            plugins: None,
            #[cfg(feature = "plugins")]
            channels: None,
            #[cfg(feature = "plugins")]
            workers: crate::delivery::worker::WorkerConfig::default(),
            #[cfg(feature = "plugins")]
            observer: None,
        }
    }

    /// The channel plugins the engine delivers with, if it has any.
    #[cfg(feature = "plugins")]
    pub fn plugins(&self) -> Option<&Arc<crate::plugin::PluginRegistry>> {
        self.inner.plugins.as_ref()
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
                let record = state.user(UserId(user)).ok_or_else(unknown)?;
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

    /// What the engine found wrong with the files it opened (a store or key file that
    /// group or others may read), each saying what to run; also logged at start.
    pub fn storage_warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Whether the store can save changes now: its writer thread runs and its last commit
    /// succeeded. A health check answers from this.
    pub fn can_commit(&self) -> bool {
        let writer_runs = self
            .inner
            .join
            .lock()
            .as_ref()
            .is_some_and(|join| !join.is_finished());
        writer_runs
            && self.inner.writer.read().is_some()
            && !self
                .inner
                .store
                .commit_failing
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes the writer thread panic, as a bug would: for tests of what depends on
    /// [`Engine::can_commit`]. Not for use outside tests.
    #[doc(hidden)]
    pub async fn crash_writer_for_tests(&self) {
        if let Some(sender) = self.inner.writer.read().as_ref() {
            let (reply, _) = oneshot::channel();
            let _ = sender.send(Job::new(writer::Crash, reply));
        }
        let finished = || {
            self.inner
                .join
                .lock()
                .as_ref()
                .is_none_or(|join| join.is_finished())
        };
        while !finished() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// The engine's current time.
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Shuts down gracefully: stops claiming deliveries and waits for the attempts in
    /// flight to record their outcomes, stops the scheduler, then stops the writer after
    /// the changes already submitted; later calls that change anything fail with
    /// [`Error::Closed`]. The file itself is released when the last clone of the engine is
    /// dropped.
    pub async fn close(&self) {
        let (scheduler, workers) = {
            let mut running = self.inner.background.lock();
            #[cfg(feature = "plugins")]
            let workers = running.workers.take();
            #[cfg(not(feature = "plugins"))]
            let workers: Option<()> = None;
            (running.scheduler.take(), workers)
        };
        #[cfg(feature = "plugins")]
        if let Some(workers) = workers {
            workers.stop().await;
        }
        #[cfg(not(feature = "plugins"))]
        let _ = workers;
        if let Some(scheduler) = scheduler {
            scheduler.stop().await;
        }
        self.inner.store.text.stop();
        let indexer = self.inner.indexer.lock().take();
        if let Some(indexer) = indexer {
            let _ = tokio::task::spawn_blocking(move || indexer.join()).await;
        }
        drop(self.inner.writer.write().take());
        let join = self.inner.join.lock().take();
        if let Some(join) = join {
            // A panic in the writer has already been reported by the panic hook.
            let _ = tokio::task::spawn_blocking(move || join.join()).await;
        }
    }

    /// How far the search index has come: messages indexed, messages still waiting (a
    /// search reads those one by one), and about how much memory it holds. The index is
    /// built in the background, new messages first, and again after each start.
    pub fn search_index(&self) -> crate::store::text::SearchIndexStats {
        self.inner.store.search_index_stats()
    }

    /// Sends a job to the writer and waits for its commit.
    pub(crate) async fn submit<C: Command>(&self, command: C) -> Result<C::Output, Error> {
        let Ok(_permit) = self.inner.pending.clone().try_acquire_owned() else {
            return Err(Error::Overloaded(format!(
                "{} changes are already waiting to be stored; retry in a moment",
                self.inner.max_pending_writes
            )));
        };
        self.submit_internal(command).await
    }

    /// Sends a change of the engine's own (a delivery outcome, a digest, a purge) to the
    /// writer: it waits its turn however long the queue, since refusing it would lose work.
    pub(crate) async fn submit_internal<C: Command>(&self, command: C) -> Result<C::Output, Error> {
        let (tx, rx) = oneshot::channel();
        {
            let writer = self.inner.writer.read();
            let sender = writer.as_ref().ok_or(Error::Closed)?;
            sender
                .send(Job::new(command, tx))
                .map_err(|_| Error::Closed)?;
        }
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Runs `f` right here when its work is small and bounded (a page of at most 201
    /// messages read through the index), saving the hop to the blocking pool; otherwise on
    /// the blocking pool, as [`Engine::blocking`].
    pub(crate) async fn bounded_or_blocking<T: Send + 'static>(
        &self,
        bounded: bool,
        f: impl FnOnce(&Engine) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        if bounded {
            f(self)
        } else {
            self.blocking(f).await
        }
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
