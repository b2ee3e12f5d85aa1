//! The plugin registry: loads plugins once, then calls them many times, each call in a
//! fresh sandboxed instance.
//!
//! Load once: one wasmtime `Engine` for every plugin (the pooling allocator keeps
//! instance memory ready, epoch interruption stops runaway code), each component compiled
//! once (or taken from the compilation cache) and pre-linked into an `InstancePre`, whose
//! imports are resolved so instantiating costs microseconds. Call many: every call gets a
//! fresh `Store`, so no state, memory or resource leaks from one delivery into the next, and
//! a crash poisons nothing. Calls run on threads of the plugin host's own, never on the
//! caller's runtime, and guest code yields at every epoch tick, so a spinning plugin never
//! holds a thread for longer than a tick nor slows the API; a tokio timeout around the
//! whole call is the deadline, for guest code (it fires at a yield) and for a guest blocked
//! in host I/O alike.
//!
//! The plugins themselves live in the catalog (`catalog`), filled by the loader (`loader`)
//! in the background: a call looks its plugin up when it starts, waiting while it loads,
//! and holds that version until it ends.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::SUPPORTED_VERSIONS;
use super::address::AddressPolicy;
use super::bindings::{self, v0_1};
use super::cache::{CompileCache, Origin};
use super::call::{Answer, Request};
use super::catalog::{Catalog, Lookup, PluginState, PluginWatch};
use super::config::PluginConfig;
use super::error::{CallError, CallKind, LoadError, RegistryError, SendError, ValidateError};
use super::http::{Outbound, RequestGuard};
use super::limits;
use super::loader::{Input, Job};
pub use super::loader::{LoadReport, Loading, PluginRegistryBuilder};
use super::mail::Mailer;
use super::sandbox::{CallState, CallTrace, MailGrant};
use super::types::{Delivery, PluginInfo, PluginLimits, Receipt};

/// How often the epoch advances: the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The channel plugins, and the sandbox that runs them. Cheap to clone.
///
/// The set of plugins may change while the registry is shared: plugins load in the
/// background ([`PluginRegistryBuilder::load_in_background`]), and a file can be loaded
/// again or removed ([`PluginRegistry::load_file`], [`PluginRegistry::remove_file`]). A call
/// runs on the version that was ready when it started; a call for a plugin still loading
/// waits for it, at most the call deadline.
#[derive(Clone)]
pub struct PluginRegistry {
    pub(super) inner: Arc<Inner>,
}

/// The host, shared by every plugin and every call.
pub(super) struct Inner {
    pub(super) engine: Engine,
    linker: Linker<CallState>,
    cache: CompileCache,
    pub(super) config: PluginConfig,
    pub(super) outbound: Arc<Outbound>,
    pub(super) mailer: Arc<Mailer>,
    /// One permit per call at once: the pooling allocator's instance slots.
    pub(super) calls: Semaphore,
    pub(super) catalog: watch::Sender<Catalog>,
}

/// One version of one loaded plugin. A call holds it (an `Arc`) until the call ends.
pub(super) struct Loaded {
    pub(super) name: Arc<str>,
    pub(super) info: Arc<PluginInfo>,
    pre: v0_1::ChannelPre<CallState>,
    guard: RequestGuard,
    /// What each call may use.
    pub(super) limits: PluginLimits,
    /// How long compiling (or reading the cache) and `info` took.
    pub(super) took: Duration,
    /// Whether it was compiled by this load (else taken from the compilation cache).
    pub(super) compiled: bool,
}

/// A component compiled and linked, before its `info` call.
pub(super) struct Linked {
    pre: v0_1::ChannelPre<CallState>,
    /// Whether it was compiled now (else taken from the compilation cache).
    pub(super) compiled: bool,
}

fn new_engine(config: &PluginConfig) -> Result<Engine, RegistryError> {
    let slots = config.max_concurrent_calls.max(1);
    // The pool's per-memory maximum sits above the store's cap, so the store limiter, not
    // the pool, refuses the growth, and its trap says "memory cap".
    let pool_memory = (config.largest_memory_limit() + (1 << 20)).next_multiple_of(1 << 16);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 8)
        .total_stacks(slots)
        .max_memory_size(pool_memory);
    let mut wasm = wasmtime::Config::new();
    wasm.epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm).map_err(|e| RegistryError::Engine {
        reason: format!("{e:#}"),
    })
}

/// The imports every plugin gets: WASI (an empty, sandboxed context), `wasi:http`, and the
/// host's `mail` and `log`.
fn new_linker(engine: &Engine) -> Result<Linker<CallState>, RegistryError> {
    let mut linker = Linker::new(engine);
    let link = |e: wasmtime::Error| RegistryError::Engine {
        reason: format!("cannot link the host interfaces: {e:#}"),
    };
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link)?;
    v0_1::msghub::notifier::mail::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)
        .map_err(link)?;
    v0_1::msghub::notifier::log::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)
        .map_err(link)?;
    Ok(linker)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("msghub-plugin-epoch".to_owned())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        // Without the ticker, the tokio timeout around each call still ends runaway calls
        // once they yield; pure loops would then run until the process ends.
        tracing::error!(error = %e, "cannot start the plugin epoch ticker");
    }
}

impl Inner {
    /// Reads, compiles (or takes from the cache) and links one component. CPU-heavy: run it
    /// on a blocking thread, never on a runtime worker.
    pub(super) fn link(&self, origin: &str, bytes: &[u8]) -> Result<Linked, LoadError> {
        check_component_header(origin, bytes)?;
        let (component, how) =
            self.cache
                .component(&self.engine, bytes)
                .map_err(|e| LoadError::NotAComponent {
                    origin: origin.to_owned(),
                    reason: format!("{e:#}"),
                })?;
        check_world(&self.engine, origin, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link {
                origin: origin.to_owned(),
                reason: format!("{e:#}"),
            })?;
        let pre = v0_1::ChannelPre::new(pre).map_err(|e| LoadError::WrongWorld {
            origin: origin.to_owned(),
            supported: SUPPORTED_VERSIONS.join(", "),
            exports: format!("a notifier interface of the wrong shape ({e:#})"),
        })?;
        Ok(Linked {
            pre,
            compiled: how == Origin::Compiled,
        })
    }

    /// Asks a linked component for its `info`, which names it and states what it may reach
    /// and what it needs. `expected` is the name it is expected to have, whose caps its
    /// `info` call runs under; `started` is when its load began, for [`Loaded::took`].
    pub(super) async fn describe(
        self: &Arc<Self>,
        origin: &str,
        expected: &str,
        linked: Linked,
        started: std::time::Instant,
    ) -> Result<Loaded, LoadError> {
        // `info` runs before the plugin's hosts are known: it may do no I/O at all.
        let unnamed: Arc<str> = Arc::from(origin);
        let guard = RequestGuard::new(unnamed.clone(), &[], false, AddressPolicy::new(&[]));
        let first = limits::before_info(&self.config, expected);
        let answer = self
            .run_apart(unnamed, linked.pre.clone(), guard, first, Request::Info)
            .await
            .map_err(|e| LoadError::Info {
                origin: origin.to_owned(),
                reason: e.to_string(),
            })?;
        let Answer::Info(raw) = answer.0 else {
            unreachable!("an info request is answered with info")
        };
        let info = bindings::info_v0_1(raw).map_err(|reason| LoadError::Info {
            origin: origin.to_owned(),
            reason,
        })?;
        let limits =
            limits::limits(&self.config, &info.name, &info.config_schema).map_err(|reason| {
                LoadError::Info {
                    origin: origin.to_owned(),
                    reason: format!("plugin '{}' states unusable needs: {reason}", info.name),
                }
            })?;
        if let Some(short) = &limits.short {
            tracing::warn!(
                plugin = %info.name,
                "the plugin states it needs {short}; it runs under the operator's cap"
            );
        }
        let name: Arc<str> = Arc::from(info.name.as_str());
        let guard = RequestGuard::new(
            name.clone(),
            &info.hosts,
            info.user_supplied_host,
            self.outbound.addresses.clone(),
        );
        Ok(Loaded {
            name,
            info: Arc::new(info),
            pre: linked.pre,
            guard,
            limits,
            took: started.elapsed(),
            compiled: linked.compiled,
        })
    }
}

/// Refuses what is not a component before handing it to the compiler, with a useful word.
fn check_component_header(origin: &str, bytes: &[u8]) -> Result<(), LoadError> {
    let refuse = |reason: &str| LoadError::NotAComponent {
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(refuse("the file is not WebAssembly"));
    }
    // The header's layer field: 0 for a core module, 1 for a component.
    if bytes[6..8] == [0, 0] {
        return Err(refuse(
            "it is a core WebAssembly module; build the plugin for wasm32-wasip2 so that it \
             is a component",
        ));
    }
    Ok(())
}

/// Checks that the component exports a notifier of a supported version.
fn check_world(engine: &Engine, origin: &str, component: &Component) -> Result<(), LoadError> {
    const PREFIX: &str = "msghub:notifier/notifier@";
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let supported = SUPPORTED_VERSIONS.join(", ");
    let Some(version) = exports.iter().find_map(|name| name.strip_prefix(PREFIX)) else {
        return Err(LoadError::WrongWorld {
            origin: origin.to_owned(),
            supported,
            exports: if exports.is_empty() {
                "nothing".to_owned()
            } else {
                exports.join(", ")
            },
        });
    };
    if exports.contains(&v0_1::NOTIFIER_EXPORT) {
        return Ok(());
    }
    Err(LoadError::UnsupportedVersion {
        origin: origin.to_owned(),
        found: version.to_owned(),
        supported,
    })
}

impl PluginRegistry {
    /// Starts collecting plugins to load under `config`.
    pub fn builder(config: PluginConfig) -> PluginRegistryBuilder {
        PluginRegistryBuilder::new(config)
    }

    /// Starts the sandbox, without plugins: the wasmtime engine, the linker, the HTTP client
    /// and the mailer.
    pub(super) fn host(config: PluginConfig) -> Result<PluginRegistry, RegistryError> {
        let engine = new_engine(&config)?;
        let linker = new_linker(&engine)?;
        let outbound = Outbound::new(&config).map_err(|reason| RegistryError::Engine { reason })?;
        let mailer = Mailer::new(
            config.smtp_url.as_deref(),
            config.smtp_allow_plaintext_auth,
            &config.mail_from,
            config.response_timeout,
        )?;
        start_epoch_ticker(&engine);
        let (catalog, _) = watch::channel(Catalog::default());
        Ok(PluginRegistry {
            inner: Arc::new(Inner {
                calls: Semaphore::new(config.max_concurrent_calls.max(1) as usize),
                cache: CompileCache::new(&engine, config.cache_dir.as_deref()),
                linker,
                engine,
                outbound: Arc::new(outbound),
                mailer: Arc::new(mailer),
                config,
                catalog,
            }),
        })
    }

    /// The plugins ready to be called, by name. A snapshot: plugins that finish loading
    /// later are not in it.
    pub fn plugins(&self) -> impl Iterator<Item = Arc<PluginInfo>> + use<> {
        let mut ready: Vec<Arc<PluginInfo>> = self
            .inner
            .catalog
            .borrow()
            .ready_plugins()
            .map(|p| p.info.clone())
            .collect();
        ready.sort_by(|a, b| a.name.cmp(&b.name));
        ready.into_iter()
    }

    /// The plugin named `name` if it is ready, as its `info` described it at load; `None`
    /// while it is still loading (see [`PluginRegistry::ready`] to wait for it).
    pub fn plugin(&self, name: &str) -> Option<Arc<PluginInfo>> {
        let catalog = self.inner.catalog.borrow();
        catalog.ready(name).map(|p| p.info.clone())
    }

    /// The plugin named `name`, once it is ready: waits while it, or a plugin whose name is
    /// not known yet, is loading, at most the call deadline. Fails as a call for it would.
    pub async fn ready(&self, name: &str) -> Result<Arc<PluginInfo>, CallError> {
        self.loaded(name).await.map(|p| p.info.clone())
    }

    /// Every plugin the registry knows, loading, ready or failed, in load order.
    pub fn states(&self) -> Vec<PluginState> {
        self.inner.catalog.borrow().states()
    }

    /// Whether any plugin is still loading.
    pub fn is_loading(&self) -> bool {
        self.inner.catalog.borrow().is_loading()
    }

    /// Follows the plugins as they finish loading, e.g. to update a list of names.
    pub fn watch(&self) -> PluginWatch {
        PluginWatch::new(self.inner.catalog.subscribe())
    }

    /// Loads the `.wasm` file at `path` in the background, or loads it again if it was
    /// loaded before (a file replaced in the plugin directory). While the new version loads,
    /// calls run on the old one; calls in flight finish on the version they started with;
    /// when the new version fails to load, the old one stays, and its state shows the error
    /// ([`PluginStatus::Ready`](super::PluginStatus::Ready)`::reload_error`). Call it from
    /// within a tokio runtime.
    pub fn load_file(&self, path: impl Into<PathBuf>) -> Result<Loading, RegistryError> {
        self.load_files(vec![path.into()])
    }

    /// [`PluginRegistry::load_file`] for several files, compiled one after another.
    pub fn load_files(&self, paths: Vec<PathBuf>) -> Result<Loading, RegistryError> {
        let runtime = super::loader::runtime()?;
        let mut jobs = Vec::with_capacity(paths.len());
        self.inner.catalog.send_modify(|c| {
            for path in paths {
                let origin = path.display().to_string();
                let name = name_of_file(&path);
                jobs.push(Job {
                    id: c.requeue(&origin, name.clone()),
                    origin,
                    name,
                    input: Input::File(path),
                });
            }
        });
        Ok(super::loader::spawn(self, jobs, &runtime))
    }

    /// What one call of `plugin` may use: its limits once it is ready; until then, the
    /// operator's caps for that name.
    pub fn limits(&self, plugin: &str) -> PluginLimits {
        match self.inner.catalog.borrow().ready(plugin) {
            Some(loaded) => loaded.limits.clone(),
            None => limits::before_info(&self.inner.config, plugin),
        }
    }

    /// Removes the plugin loaded from the file at `path` (or still loading from it); calls in
    /// flight finish on it, later calls find no such plugin. Returns whether there was one.
    pub fn remove_file(&self, path: &Path) -> bool {
        let origin = path.display().to_string();
        self.inner.catalog.send_if_modified(|c| c.remove(&origin))
    }

    /// The configuration the registry runs with.
    pub fn config(&self) -> &PluginConfig {
        &self.inner.config
    }

    /// The version of `plugin` a call runs on, waiting for it while it loads.
    async fn loaded(&self, plugin: &str) -> Result<Arc<Loaded>, CallError> {
        if let Some(loaded) = self.inner.catalog.borrow().ready(plugin) {
            return Ok(loaded.clone());
        }
        let mut catalog = self.inner.catalog.subscribe();
        let waited = self.inner.config.call_deadline;
        let found = tokio::time::timeout(waited, async {
            loop {
                let lookup = catalog.borrow_and_update().lookup(plugin);
                if !matches!(lookup, Lookup::Pending) {
                    return lookup;
                }
                if catalog.changed().await.is_err() {
                    return Lookup::Unknown;
                }
            }
        })
        .await;
        match found {
            Ok(Lookup::Ready(loaded)) => Ok(loaded),
            Ok(Lookup::Failed(error)) => Err(CallError::LoadFailed {
                plugin: plugin.to_owned(),
                reason: error.to_string(),
            }),
            Ok(Lookup::Pending | Lookup::Unknown) => Err(CallError::UnknownPlugin {
                plugin: plugin.to_owned(),
            }),
            Err(_) => Err(CallError::Loading {
                plugin: plugin.to_owned(),
                waited,
            }),
        }
    }

    /// Runs one call of the loaded plugin, on the plugin host's threads.
    async fn run(
        &self,
        loaded: &Loaded,
        request: Request,
    ) -> Result<(Answer, Arc<CallTrace>), CallError> {
        self.inner
            .run_apart(
                loaded.name.clone(),
                loaded.pre.clone(),
                loaded.guard.clone(),
                loaded.limits.clone(),
                request,
            )
            .await
    }

    /// Calls the plugin's `info` in a fresh instance.
    pub async fn info(&self, plugin: &str) -> Result<PluginInfo, CallError> {
        let loaded = self.loaded(plugin).await?;
        let (answer, _) = self.run(&loaded, Request::Info).await?;
        let Answer::Info(raw) = answer else {
            unreachable!("an info request is answered with info")
        };
        bindings::info_v0_1(raw).map_err(|reason| CallError::Trap {
            plugin: plugin.to_owned(),
            call: CallKind::Info,
            reason: format!("it answered an unusable description: {reason}"),
        })
    }

    /// Asks the plugin whether `config` (a JSON object) is a valid channel configuration.
    pub async fn validate_config(&self, plugin: &str, config: &str) -> Result<(), ValidateError> {
        let loaded = self.loaded(plugin).await?;
        let (answer, _) = self
            .run(&loaded, Request::Validate(config.to_owned()))
            .await?;
        let Answer::Validate(verdict) = answer else {
            unreachable!("a validate request is answered with a verdict")
        };
        bindings::verdict_v0_1(verdict).map_err(|message| ValidateError::Invalid {
            plugin: plugin.to_owned(),
            message,
        })
    }

    /// Delivers one attempt through the plugin, with the channel's `config` (JSON).
    pub async fn send(
        &self,
        plugin: &str,
        config: &str,
        delivery: &Delivery,
    ) -> Result<Receipt, SendError> {
        let loaded = self.loaded(plugin).await?;
        let unsubscribe = delivery.unsubscribe.clone();
        let delivery = Box::new(bindings::delivery_v0_1(delivery));
        let (answer, trace) = self
            .run(
                &loaded,
                Request::Send(config.to_owned(), delivery, unsubscribe),
            )
            .await?;
        let Answer::Send(outcome) = answer else {
            unreachable!("a send request is answered with an outcome")
        };
        bindings::outcome_v0_1(outcome).map_err(|(kind, message)| SendError::Failed {
            plugin: plugin.to_owned(),
            kind,
            message,
            refusals: trace.refusals(),
        })
    }
}

/// The name a plugin file is expected to have until its `info` answers: the file's name
/// without `.wasm`.
pub(super) fn name_of_file(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl PluginRegistry {
    /// For the benchmark: how long `rounds` instantiations of `plugin` take, each from its
    /// `InstancePre` into a fresh store (the store's own setup is not counted).
    #[doc(hidden)]
    pub async fn measure_instantiation(
        &self,
        plugin: &str,
        rounds: usize,
    ) -> Result<Vec<Duration>, CallError> {
        let loaded = self.loaded(plugin).await?;
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let trace = Arc::new(CallTrace::new());
            let denied = MailGrant::Denied("no mail while measuring".to_owned());
            let mut store = self.inner.new_store(
                &loaded.name,
                &loaded.guard,
                loaded.limits.memory,
                &trace,
                denied,
            );
            let started = std::time::Instant::now();
            let instance = loaded.pre.instantiate_async(&mut store).await;
            times.push(started.elapsed());
            instance.map_err(|e| CallError::Instantiate {
                plugin: plugin.to_owned(),
                call: CallKind::Info,
                reason: format!("{e:#}"),
            })?;
        }
        Ok(times)
    }
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let states = self.states();
        let plugins: Vec<String> = states
            .iter()
            .map(|s| format!("{} ({})", s.name, s.status.as_str()))
            .collect();
        f.debug_struct("PluginRegistry")
            .field("plugins", &plugins)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_for_a_plugin_that_does_not_finish_loading_ends_at_the_call_deadline() {
        let config = PluginConfig {
            call_deadline: Duration::from_millis(200),
            ..PluginConfig::default()
        };
        let (registry, _) = PluginRegistry::builder(config).load().await.unwrap();
        // A slot no loader works on: it stays loading.
        registry.inner.catalog.send_modify(|c| {
            c.queue("stuck.wasm".to_owned(), "stuck".to_owned());
        });
        let started = std::time::Instant::now();
        let e = registry.info("stuck").await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(matches!(e, CallError::Loading { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "plugin 'stuck' is still loading after 200ms; retry in a moment"
        );
        let e = registry
            .ready("another")
            .await
            .expect_err("any name may be the stuck plugin's");
        assert!(matches!(e, CallError::Loading { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_load_that_stops_early_fails_its_plugins_instead_of_leaving_them_loading() {
        let (registry, _) = PluginRegistry::builder(PluginConfig::default())
            .load()
            .await
            .unwrap();
        let mut id = 0;
        registry.inner.catalog.send_modify(|c| {
            id = c.queue("gone.wasm".to_owned(), "gone".to_owned());
        });
        drop(super::super::loader::Unfinished::new(
            Arc::downgrade(&registry.inner),
            vec![id],
        ));
        let e = registry.info("gone").await.unwrap_err();
        assert!(matches!(e, CallError::LoadFailed { .. }), "{e}");
        assert!(e.to_string().contains("loading stopped"), "{e}");
        assert!(!registry.is_loading());
    }
}
