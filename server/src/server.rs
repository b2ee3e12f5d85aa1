//! Starting and stopping the server: the data directory and operator token, the engine, the
//! plugins, the listener, and graceful shutdown.
//!
//! No client may hold the server's resources for long: at most `max_connections`
//! connections are served at once (the rest wait in the kernel's listen backlog), headers
//! must arrive within `header_timeout` (which also ends idle keep-alive connections), a body
//! within `body_timeout`, and shutdown waits for requests in flight at most
//! `shutdown_grace` before it closes what remains.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use msghub::plugin::{Loading, PluginDir, PluginRegistry, PluginStatus, PluginWatch};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use msghub::{Engine, private_files};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::{ConfigError, ServerConfig, Storage};
use crate::metrics::Metrics;
use crate::state::AppState;

/// The file in the data directory that keeps a generated operator token.
pub const TOKEN_FILE: &str = "operator-token";
/// The redb file in the data directory.
pub const STORE_FILE: &str = "msghub.redb";
/// The fewest characters an operator token from the configuration may have: a shorter
/// one can be guessed, and it opens every account.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory or the token file cannot be used.
    #[error("cannot use {}: {source}", path.display())]
    DataDir {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The engine did not open.
    #[error("cannot open the store: {0}")]
    Engine(#[from] msghub::Error),
    /// The plugin host did not start.
    #[error("cannot start the plugin host: {0}")]
    Plugins(#[from] msghub::plugin::RegistryError),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source} (set MSGHUB_LISTEN or --listen to another address)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The serving task panicked.
    #[error("the server task failed: {0}")]
    Task(String),
}

/// A started server.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// The operator token when this start generated it (show it once); `None` when it came
    /// from the configuration or from an earlier start.
    pub generated_token: Option<String>,
    /// The operator token in use.
    pub operator_token: String,
    /// How many channel plugins this start loads. They load in the background, after
    /// `start` returned: `/healthz` says which are ready.
    pub plugins: usize,
    /// The engine serving the requests (for tests that reach past the HTTP API).
    #[doc(hidden)]
    pub engine: Engine,
    /// What to fix in the data directory (a directory or file that group or others may
    /// read), each saying what to run; also logged at start.
    pub warnings: Vec<String>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// Waits until the server has stopped (after `shutdown` resolved, the in-flight
    /// requests finished and the engine closed).
    pub async fn wait(self) -> Result<(), ServeError> {
        self.task
            .await
            .map_err(|e| ServeError::Task(e.to_string()))?
    }
}

/// Opens everything `config` names, starts serving, and returns once the listener is bound.
/// The channel plugins load in the background meanwhile: a request that needs one waits
/// for it. When `shutdown` resolves the server stops accepting, finishes in-flight requests,
/// closes the engine and [`Running::wait`] returns.
pub async fn start(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, ServeError> {
    check_admin_token(config.admin_token.as_deref())?;
    raise_open_files_limit(config.max_connections);
    let (engine_builder, token, generated, mut warnings) = prepare_storage(&config)?;
    let (plugins, loading, plugin_dir) = load_plugins(&config)?;
    let metrics = Arc::new(Metrics::new());
    follow_plugins(plugins.watch(), loading, metrics.clone());
    let mut workers = config.workers.clone();
    workers.unsubscribe_url = config
        .public_url
        .as_ref()
        .map(|url| format!("{}/unsubscribe/", url.trim_end_matches('/')));
    match &workers.unsubscribe_url {
        Some(url) => tracing::info!(
            url = %url,
            "one-click unsubscribe is on: mail to contacts links to it (RFC 8058)"
        ),
        None => tracing::info!(
            "one-click unsubscribe is off: MSGHUB_PUBLIC_URL is not set, so mail to contacts \
             offers only the mailto form of List-Unsubscribe"
        ),
    }
    let mut engine_builder = engine_builder
        .operator_token(token.clone())
        .retry_schedule(config.retry_schedule.clone())
        .account_limits(config.account_limits)
        .search_index_bytes(config.search_index_bytes)
        .workers(workers)
        .plugins(Arc::new(plugins.clone()))
        .observer(metrics.clone());
    if let Some(key) = &config.secret_key {
        engine_builder = engine_builder.secret_key(key.clone());
    } else if let Some(file) = &config.secret_key_file {
        engine_builder = engine_builder.secret_key_file(file);
    }
    let engine = engine_builder.build().await?;
    warnings.extend(engine.storage_warnings().iter().cloned());
    let plugin_count = plugins.states().len();
    let engine_handle = engine.clone();
    let state = AppState::new(
        engine.clone(),
        plugins,
        plugin_dir,
        metrics,
        config.body_limit,
        config.body_timeout,
        config.max_connections,
    );
    let app = crate::api::router(state.clone());
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        plugins_loading = plugin_count,
        "msghub is serving; channel plugins load in the background"
    );
    let limits = Limits::of(&config);
    let task = tokio::spawn(async move {
        let stopping = state.clone();
        let shutdown = async move {
            shutdown.await;
            // Health checks fail from now on, so a balancer drains this instance.
            stopping.begin_stopping();
        };
        serve(listener, app, limits, shutdown).await;
        engine.close().await;
        tracing::info!("stopped");
        Ok(())
    });
    Ok(Running {
        addr,
        generated_token: generated.then(|| token.clone()),
        operator_token: token,
        plugins: plugin_count,
        engine: engine_handle,
        warnings,
        task,
    })
}

/// Refuses an operator token from the configuration that is too short to resist guessing.
fn check_admin_token(token: Option<&str>) -> Result<(), ConfigError> {
    let Some(token) = token else {
        return Ok(());
    };
    let chars = token.chars().count();
    if chars >= MIN_ADMIN_TOKEN_CHARS {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        setting: "MSGHUB_ADMIN_TOKEN".into(),
        value: "***".into(),
        reason: format!(
            "the operator token has {chars} characters, it needs at least \
             {MIN_ADMIN_TOKEN_CHARS}; make one with 'openssl rand -hex 32', or unset it to \
             have msghub generate one"
        ),
    })
}

/// What bounds the connections of one server.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_connections: usize,
    header_timeout: Duration,
    shutdown_grace: Duration,
}

impl Limits {
    fn of(config: &ServerConfig) -> Limits {
        Limits {
            max_connections: config.max_connections.max(1),
            header_timeout: config.header_timeout,
            shutdown_grace: config.shutdown_grace,
        }
    }
}

/// Accepts connections until `shutdown` resolves, never more than `max_connections` at
/// once, then lets the requests in flight finish within the grace period and closes every
/// connection left.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first, then the connection: over the cap, clients wait in the listen
        // backlog, which the kernel bounds, instead of in our memory.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok(slot) = slot else { break };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let mut app = app.clone();
            tower_service::Service::call(&mut app, request.map(axum::body::Body::new))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(
        grace_seconds = limits.shutdown_grace.as_secs_f64(),
        "shutting down: finishing in-flight requests"
    );
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(
                open = connections.len(),
                "requests still in flight after the shutdown grace period; closing them"
            );
        }
    }
    connections.shutdown().await;
}

/// The engine to build, the operator token, whether it was generated now, and what to fix
/// in the data directory.
type Prepared = (msghub::EngineBuilder, String, bool, Vec<String>);

/// Creates the data directory (0700) and finds the operator token: from the configuration,
/// from the token file of an earlier start, or newly generated (then kept in the token
/// file, 0600). A directory or token file that group or others may read is reported.
fn prepare_storage(config: &ServerConfig) -> Result<Prepared, ServeError> {
    match &config.storage {
        Storage::Memory => {
            let (token, generated) = match &config.admin_token {
                Some(token) => (token.clone(), false),
                None => (msghub::generate_operator_token(), true),
            };
            Ok((Engine::builder().in_memory(), token, generated, Vec::new()))
        }
        Storage::Dir(dir) => {
            private_files::create_dir(dir).map_err(|source| ServeError::DataDir {
                path: dir.clone(),
                source,
            })?;
            let mut warnings: Vec<String> =
                private_files::loose_permissions(dir).into_iter().collect();
            let token_file = dir.join(TOKEN_FILE);
            let (token, generated) = match &config.admin_token {
                Some(token) => (token.clone(), false),
                None => stored_or_new_token(&token_file)?,
            };
            if !generated {
                warnings.extend(private_files::loose_permissions(&token_file));
            }
            for warning in &warnings {
                tracing::warn!("{warning}");
            }
            Ok((
                Engine::builder().path(dir.join(STORE_FILE)),
                token,
                generated,
                warnings,
            ))
        }
    }
}

fn stored_or_new_token(path: &Path) -> Result<(String, bool), ServeError> {
    let io = |source| ServeError::DataDir {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok((text.trim().to_owned(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let token = msghub::generate_operator_token();
    private_files::write(path, format!("{token}\n").as_bytes()).map_err(io)?;
    Ok((token, true))
}

/// Starts loading the bundled plugins and those of the plugin directory, in the background,
/// and follows the directory: files added, replaced or removed there are picked up.
fn load_plugins(
    config: &ServerConfig,
) -> Result<(PluginRegistry, Loading, Option<Arc<PluginDir>>), ServeError> {
    use msghub_bundled::BundledPlugins as _;
    let mut builder = PluginRegistry::builder(config.plugin_config()?);
    if config.bundled_plugins {
        builder = builder.bundled();
    }
    let mut dir = None;
    if let Some(path) = &config.plugin_dir {
        // Noted before the builder lists it, so that no change in between is missed.
        dir = Some(Arc::new(PluginDir::new(path)?));
        builder = builder.dir(path);
    }
    let (registry, loading) = builder.load_in_background()?;
    if let Some(dir) = &dir {
        dir.clone().follow(&registry, config.plugin_poll);
    }
    Ok((registry, loading, dir))
}

/// Keeps the metrics' plugin list and counts in step with the plugins as they finish
/// loading (until the registry is gone), and once the load is over logs it and gives the
/// memory that compiling used back to the system.
fn follow_plugins(mut watch: PluginWatch, loading: Loading, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        loop {
            let states = watch.states();
            let count = |f: fn(&PluginStatus) -> bool| {
                i64::try_from(states.iter().filter(|s| f(&s.status)).count()).unwrap_or(i64::MAX)
            };
            metrics
                .plugins_loaded
                .set(count(|s| matches!(s, PluginStatus::Ready { .. })));
            metrics
                .plugins_refused
                .set(count(|s| matches!(s, PluginStatus::Failed { .. })));
            metrics.set_plugins(
                states
                    .iter()
                    .filter(|s| matches!(s.status, PluginStatus::Ready { .. }))
                    .map(|s| s.name.clone()),
            );
            if !watch.changed().await {
                break;
            }
        }
    });
    let started = Instant::now();
    tokio::spawn(async move {
        let report = loading.finished().await;
        tracing::info!(
            loaded = ?report.loaded,
            refused = report.refused.len(),
            compiled = report.compiled,
            cached = report.cached,
            took_ms = started.elapsed().as_millis() as u64,
            "plugins loaded"
        );
        release_freed_memory();
    });
}

/// Raises the soft limit of open files towards the hard one when `max_connections` (each a
/// socket), plus room for the store and the plugins, would not fit under it: distributions
/// start services with a soft limit of 1,024, which would refuse connections (and event
/// streams, which stay open) long before the configured cap.
fn raise_open_files_limit(max_connections: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let wanted = u64::try_from(max_connections)
            .unwrap_or(u64::MAX)
            .saturating_add(256);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the struct passed; they have no
        // other effect than on this process's limit.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= wanted {
                return;
            }
            let raised = wanted.min(limit.rlim_max);
            if raised > limit.rlim_cur {
                limit.rlim_cur = raised;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return;
                }
            }
        }
        if limit.rlim_cur < wanted {
            tracing::warn!(
                open_files = limit.rlim_cur,
                max_connections,
                "the open files limit is below MSGHUB_MAX_CONNECTIONS; raise it (ulimit -n, \
                 LimitNOFILE=) or lower MSGHUB_MAX_CONNECTIONS"
            );
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = max_connections;
}

/// Gives the heap pages freed after loading back to the system. Compiling the plugins on a
/// first start allocates tens of MiB that are freed at once, but glibc keeps freed pages
/// of its arenas; without this an idle server that compiled its plugins stays twice as
/// large as one that loaded them from the cache.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the allocator's own arenas to the
    // kernel; it touches no memory in use and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A future that resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled, so a signal that arrives while the
/// server is still starting is not lost (nor does it kill the process uncleanly). Call it
/// inside the tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Sets up logging: `filter` as a tracing filter (e.g. `info`, `msghub=debug`), as text or
/// JSON lines on stderr. Calling it twice keeps the first setup.
pub fn init_logging(filter: &str, format: crate::config::LogFormat) -> Result<(), ConfigError> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| ConfigError::Invalid {
            setting: "MSGHUB_LOG".into(),
            value: filter.into(),
            reason: e.to_string(),
        })?;
    use std::io::IsTerminal as _;
    // Colours only for a person at a terminal, never into a file or a log collector.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Json => builder.json().try_init(),
        crate::config::LogFormat::Text => builder.try_init(),
    };
    Ok(())
}
