//! What every handler shares: the engine, the plugin registry, the metrics and the limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use msghub::Engine;
use msghub::plugin::{PluginDir, PluginRegistry};

use crate::metrics::Metrics;

/// The shared state of the server's handlers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    plugins: PluginRegistry,
    plugin_dir: Option<Arc<PluginDir>>,
    metrics: Arc<Metrics>,
    body_limit: usize,
    body_timeout: Duration,
    stopping: AtomicBool,
    /// Turns true when shutdown begins: live event streams end then.
    stop: tokio::sync::watch::Sender<bool>,
    /// The tickets that open live event streams from a browser.
    tickets: crate::api::events::Tickets,
    /// The most live event streams one account may hold open.
    streams_per_account: usize,
}

impl AppState {
    /// Ties the parts together; `plugin_dir` is the plugin directory the server follows.
    pub fn new(
        engine: Engine,
        plugins: PluginRegistry,
        plugin_dir: Option<Arc<PluginDir>>,
        metrics: Arc<Metrics>,
        body_limit: usize,
        body_timeout: Duration,
        max_connections: usize,
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                engine,
                plugins,
                plugin_dir,
                metrics,
                body_limit,
                body_timeout,
                stopping: AtomicBool::new(false),
                stop: tokio::sync::watch::Sender::new(false),
                tickets: crate::api::events::Tickets::default(),
                streams_per_account: (max_connections / 4).max(1),
            }),
        }
    }

    /// The plugin directory the server follows, if it has one.
    pub fn plugin_dir(&self) -> Option<&Arc<PluginDir>> {
        self.inner.plugin_dir.as_ref()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The loaded channel plugins.
    pub fn plugins(&self) -> &PluginRegistry {
        &self.inner.plugins
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The most bytes a request body may have.
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// The time a client has to send a request's whole body.
    pub fn body_timeout(&self) -> Duration {
        self.inner.body_timeout
    }

    /// Whether shutdown has begun (health checks then fail, so a balancer drains us).
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Relaxed)
    }

    /// Marks the start of shutdown.
    pub fn begin_stopping(&self) {
        self.inner.stopping.store(true, Ordering::Relaxed);
        self.inner.stop.send_replace(true);
    }

    /// Resolves once shutdown has begun.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stop = self.inner.stop.subscribe();
        async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        }
    }

    /// The tickets that open live event streams.
    pub fn tickets(&self) -> &crate::api::events::Tickets {
        &self.inner.tickets
    }

    /// The most live event streams one account may hold open: a quarter of the server's
    /// connections, so that one account cannot take them all.
    pub fn streams_per_account(&self) -> usize {
        self.inner.streams_per_account
    }
}
