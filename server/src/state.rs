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
    }
}
