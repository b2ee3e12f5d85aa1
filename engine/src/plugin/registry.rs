//! The plugin registry: loads plugins once, then calls them many times, each call in a
//! fresh sandboxed instance.
//!
//! Load once: one wasmtime `Engine` for every plugin (the pooling allocator keeps
//! instance memory ready, epoch interruption stops runaway code), each component compiled
//! once (or taken from the compilation cache) and pre-linked into an `InstancePre`, whose
//! imports are resolved so instantiating costs microseconds. Call many: every call gets a
//! fresh `Store`, so no state, memory or resource leaks from one delivery into the next, and
//! a crash poisons nothing. Guest code yields to tokio at every epoch tick, so a spinning
//! plugin never holds a runtime thread for longer than a tick; a tokio timeout around the
//! whole call is the deadline, for guest code (it fires at a yield) and for a guest blocked
//! in host I/O alike.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTableError};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use super::bindings::v0_1::exports::msghub::notifier::notifier as n01;
use super::bindings::{self, v0_1};
use super::cache::{CompileCache, Origin};
use super::config::PluginConfig;
use super::error::{CallError, CallKind, LoadError, RegistryError, SendError, ValidateError};
use super::http::{AddressPolicy, CallQuota, Outbound, PluginHttp, RequestGuard};
use super::mail::Mailer;
use super::sandbox::{CallState, CallTrace, MAIL_RECIPIENTS, MailGrant};
use super::types::{Delivery, PluginInfo, Receipt};
use super::{BUNDLED, SUPPORTED_VERSIONS};

/// How often the epoch advances: the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The loaded channel plugins, and the sandbox that runs them. Cheap to clone.
#[derive(Clone)]
pub struct PluginRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    plugins: BTreeMap<String, Loaded>,
    config: PluginConfig,
    outbound: Arc<Outbound>,
    mailer: Arc<Mailer>,
    slots: Semaphore,
}

/// One loaded plugin.
struct Loaded {
    info: PluginInfo,
    origin: String,
    pre: v0_1::ChannelPre<CallState>,
    guard: RequestGuard,
}

/// What a load did: the plugins loaded, the files refused (with the reason), and how many
/// components were compiled or taken from the compilation cache.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LoadReport {
    /// The names of the plugins loaded, in load order.
    pub loaded: Vec<String>,
    /// The plugins refused; the others loaded regardless.
    pub refused: Vec<LoadError>,
    /// Components compiled by this load.
    pub compiled: usize,
    /// Components taken from the compilation cache.
    pub cached: usize,
}

/// Where a plugin comes from.
enum Source {
    Bytes {
        origin: String,
        bytes: Cow<'static, [u8]>,
    },
    File(PathBuf),
    Dir(PathBuf),
}

/// Collects the plugins to load; [`PluginRegistryBuilder::load`] loads them.
pub struct PluginRegistryBuilder {
    config: PluginConfig,
    sources: Vec<Source>,
}

impl PluginRegistryBuilder {
    /// Adds the plugins bundled with the engine ([`BUNDLED`]).
    pub fn bundled(mut self) -> Self {
        for (name, bytes) in BUNDLED {
            self.sources.push(Source::Bytes {
                origin: format!("bundled plugin '{name}'"),
                bytes: Cow::Borrowed(bytes),
            });
        }
        self
    }

    /// Adds a component given as bytes; `origin` names it in errors.
    pub fn component(mut self, origin: &str, bytes: Vec<u8>) -> Self {
        self.sources.push(Source::Bytes {
            origin: origin.to_owned(),
            bytes: Cow::Owned(bytes),
        });
        self
    }

    /// Adds one `.wasm` file.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.sources.push(Source::File(path.into()));
        self
    }

    /// Adds every `*.wasm` file of a directory (not its subdirectories), in name order.
    pub fn dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.sources.push(Source::Dir(path.into()));
        self
    }

    /// Starts the sandbox and loads every plugin added. A plugin that cannot be loaded is
    /// reported in [`LoadReport::refused`] and the others load regardless; only a host that
    /// cannot start, or a plugin directory that cannot be listed, is an error.
    pub async fn load(self) -> Result<(PluginRegistry, LoadReport), RegistryError> {
        let config = self.config;
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
        let mut inner = Inner {
            slots: Semaphore::new(config.max_concurrent_calls.max(1) as usize),
            engine,
            plugins: BTreeMap::new(),
            outbound: Arc::new(outbound),
            mailer: Arc::new(mailer),
            config,
        };
        let cache = Arc::new(CompileCache::new(
            &inner.engine,
            inner.config.cache_dir.as_deref(),
        ));
        let mut report = LoadReport::default();
        for source in expand(self.sources)? {
            let (origin, bytes) = match source {
                Ok(found) => found,
                Err(e) => {
                    report.refused.push(e);
                    continue;
                }
            };
            match inner.load_one(&linker, &cache, &origin, bytes).await {
                Ok((name, how)) => {
                    match how {
                        Origin::Compiled => report.compiled += 1,
                        Origin::Cached => report.cached += 1,
                    }
                    tracing::info!(plugin = %name, %origin, "channel plugin loaded");
                    report.loaded.push(name);
                }
                Err(e) => {
                    tracing::error!(error = %e, "channel plugin refused");
                    report.refused.push(e);
                }
            }
        }
        let registry = PluginRegistry {
            inner: Arc::new(inner),
        };
        Ok((registry, report))
    }
}

/// Reads every source into `(origin, bytes)`; unreadable files become load errors.
#[allow(clippy::type_complexity)]
fn expand(
    sources: Vec<Source>,
) -> Result<Vec<Result<(String, Cow<'static, [u8]>), LoadError>>, RegistryError> {
    let mut out = Vec::new();
    for source in sources {
        match source {
            Source::Bytes { origin, bytes } => out.push(Ok((origin, bytes))),
            Source::File(path) => out.push(read(&path)),
            Source::Dir(dir) => {
                let listing =
                    std::fs::read_dir(&dir).map_err(|source| RegistryError::PluginDir {
                        path: dir.clone(),
                        source,
                    })?;
                let mut files: Vec<PathBuf> = listing
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|ext| ext == "wasm") && p.is_file())
                    .collect();
                files.sort();
                out.extend(files.iter().map(|p| read(p)));
            }
        }
    }
    Ok(out)
}

fn read(path: &Path) -> Result<(String, Cow<'static, [u8]>), LoadError> {
    let origin = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => Ok((origin, Cow::Owned(bytes))),
        Err(source) => Err(LoadError::Read { origin, source }),
    }
}

fn new_engine(config: &PluginConfig) -> Result<Engine, RegistryError> {
    let slots = config.max_concurrent_calls.max(1);
    // The pool's per-memory maximum sits above the store's cap, so the store limiter, not
    // the pool, refuses the growth, and its trap says "memory cap".
    let pool_memory = (config.memory_limit + (1 << 20)).next_multiple_of(1 << 16);
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

/// What a call asks of the plugin.
enum Request<'a> {
    Info,
    Validate(&'a str),
    Send(&'a str, &'a n01::Delivery),
}

/// What the plugin answered.
enum Answer {
    Info(n01::PluginInfo),
    Validate(Result<(), String>),
    Send(Result<n01::Receipt, n01::SendError>),
}

impl Request<'_> {
    fn kind(&self) -> CallKind {
        match self {
            Request::Info => CallKind::Info,
            Request::Validate(_) => CallKind::ValidateConfig,
            Request::Send(..) => CallKind::Send,
        }
    }
}

/// Where a call failed.
enum Stage {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

impl Inner {
    async fn load_one(
        &mut self,
        linker: &Linker<CallState>,
        cache: &Arc<CompileCache>,
        origin: &str,
        bytes: Cow<'static, [u8]>,
    ) -> Result<(String, Origin), LoadError> {
        check_component_header(origin, &bytes)?;
        let (component, how) = {
            let engine = self.engine.clone();
            let cache = cache.clone();
            tokio::task::spawn_blocking(move || cache.component(&engine, &bytes))
                .await
                .map_err(|e| LoadError::NotAComponent {
                    origin: origin.to_owned(),
                    reason: format!("compilation stopped: {e}"),
                })?
                .map_err(|e| LoadError::NotAComponent {
                    origin: origin.to_owned(),
                    reason: format!("{e:#}"),
                })?
        };
        check_world(&self.engine, origin, &component)?;
        let pre = linker
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
        // `info` runs before the plugin's hosts are known: it may do no I/O at all.
        let unnamed: Arc<str> = Arc::from(origin);
        let guard = RequestGuard::new(unnamed.clone(), &[], false, AddressPolicy::new(&[]));
        let answer = self
            .run(&unnamed, &pre, &guard, Request::Info)
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
        if let Some(first) = self.plugins.get(&info.name) {
            return Err(LoadError::Duplicate {
                origin: origin.to_owned(),
                name: info.name,
                first: first.origin.clone(),
            });
        }
        let name = info.name.clone();
        let guard = RequestGuard::new(
            Arc::from(name.as_str()),
            &info.hosts,
            info.user_supplied_host,
            self.outbound.addresses.clone(),
        );
        self.plugins.insert(
            name.clone(),
            Loaded {
                info,
                origin: origin.to_owned(),
                pre,
                guard,
            },
        );
        Ok((name, how))
    }

    /// Runs one call in a fresh store, under the deadline and the memory cap.
    async fn run(
        &self,
        plugin: &Arc<str>,
        pre: &v0_1::ChannelPre<CallState>,
        guard: &RequestGuard,
        request: Request<'_>,
    ) -> Result<(Answer, Arc<CallTrace>), CallError> {
        let kind = request.kind();
        let deadline = self.config.call_deadline;
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| CallError::Instantiate {
                plugin: plugin.to_string(),
                call: kind,
                reason: "the plugin host is shutting down".to_owned(),
            })?;
        let trace = Arc::new(CallTrace::default());
        let grant = self.mail_grant(plugin, &request);
        let mut store = self.new_store(plugin, guard, &trace, grant);
        let work = async {
            let channel = pre
                .instantiate_async(&mut store)
                .await
                .map_err(Stage::Instantiate)?;
            let notifier = channel.msghub_notifier_notifier();
            let answer = match request {
                Request::Info => notifier.call_info(&mut store).await.map(Answer::Info),
                Request::Validate(config) => notifier
                    .call_validate_config(&mut store, config)
                    .await
                    .map(Answer::Validate),
                Request::Send(config, delivery) => notifier
                    .call_send(&mut store, config, delivery)
                    .await
                    .map(Answer::Send),
            };
            answer.map_err(Stage::Call)
        };
        let error = match tokio::time::timeout(deadline, work).await {
            Ok(Ok(answer)) => return Ok((answer, trace)),
            Ok(Err(stage)) => stage,
            Err(_) => {
                return Err(CallError::Timeout {
                    plugin: plugin.to_string(),
                    call: kind,
                    deadline,
                });
            }
        };
        Err(self.call_error(plugin, kind, error, &trace))
    }

    /// Whether the call may mail, and to whom: only plugins the operator lists, only in
    /// `send`, only to the delivery's recipients and the addresses its channel's
    /// configuration names.
    fn mail_grant(&self, plugin: &str, request: &Request<'_>) -> MailGrant {
        if !self.config.mail_plugins.iter().any(|p| p == plugin) {
            return MailGrant::Denied(format!(
                "plugin '{plugin}' may not send mail: the operator grants mail only to the \
                 plugins listed in MSGHUB_MAIL_PLUGINS (now: {})",
                if self.config.mail_plugins.is_empty() {
                    "none".to_owned()
                } else {
                    self.config.mail_plugins.join(", ")
                }
            ));
        }
        let Request::Send(config, delivery) = request else {
            return MailGrant::Denied(format!(
                "mail can be sent only while delivering (send), not from {}",
                request.kind()
            ));
        };
        let mut allowed: std::collections::HashSet<String> = delivery
            .recipients
            .iter()
            .map(|r| r.address.to_lowercase())
            .collect();
        if let Ok(config) = serde_json::from_str::<serde_json::Value>(config) {
            collect_addresses(&config, &mut allowed);
        }
        MailGrant::Granted {
            allowed,
            left: MAIL_RECIPIENTS,
        }
    }

    /// A fresh store for one call: the sandboxed state, the memory cap, the epoch deadline.
    fn new_store(
        &self,
        plugin: &Arc<str>,
        guard: &RequestGuard,
        trace: &Arc<CallTrace>,
        mail: MailGrant,
    ) -> Store<CallState> {
        let http = PluginHttp {
            guard: guard.clone(),
            outbound: self.outbound.clone(),
            refusals: trace.refusals.clone(),
            quota: Arc::new(CallQuota::new(&self.config)),
        };
        let state = CallState::new(
            plugin.clone(),
            http,
            (self.mailer.clone(), mail),
            &self.config,
            trace.clone(),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state.limiter());
        // Guest code runs on the caller's (tokio) thread and never yields by itself: at
        // every epoch tick it yields, so a spinning plugin holds a worker thread for one
        // tick at a time, never for the whole deadline. The deadline itself is the tokio
        // timeout around the call, which fires at a yield.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        store
    }

    fn call_error(
        &self,
        plugin: &str,
        call: CallKind,
        stage: Stage,
        trace: &CallTrace,
    ) -> CallError {
        let plugin = plugin.to_owned();
        let (e, instantiating) = match stage {
            Stage::Instantiate(e) => (e, true),
            Stage::Call(e) => (e, false),
        };
        if e.chain()
            .any(|c| matches!(c.downcast_ref(), Some(ResourceTableError::Full)))
        {
            return CallError::HostResources {
                plugin,
                call,
                limit: self.config.max_handles_per_call,
            };
        }
        if trace.memory_exhausted() {
            return CallError::MemoryExhausted {
                plugin,
                call,
                limit: self.config.memory_limit,
            };
        }
        let mut reason = match e.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{e:#}"),
        };
        let output = trace.output_tail();
        if !output.is_empty() {
            reason.push_str("; its last output: ");
            reason.push_str(&output);
        }
        if instantiating && e.downcast_ref::<Trap>().is_none() {
            CallError::Instantiate {
                plugin,
                call,
                reason,
            }
        } else {
            CallError::Trap {
                plugin,
                call,
                reason,
            }
        }
    }
}

/// Adds every string of `config` that looks like a mail address, lowercase: the addresses
/// the user who saved the channel chose.
fn collect_addresses(config: &serde_json::Value, into: &mut std::collections::HashSet<String>) {
    match config {
        serde_json::Value::String(s) if s.contains('@') => {
            into.insert(s.trim().to_lowercase());
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| collect_addresses(v, into));
        }
        serde_json::Value::Object(fields) => {
            fields.values().for_each(|v| collect_addresses(v, into));
        }
        _ => {}
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
        PluginRegistryBuilder {
            config,
            sources: Vec::new(),
        }
    }

    /// The loaded plugins, by name.
    pub fn plugins(&self) -> impl Iterator<Item = &PluginInfo> {
        self.inner.plugins.values().map(|p| &p.info)
    }

    /// The plugin named `name`, as its `info` described it at load.
    pub fn plugin(&self, name: &str) -> Option<&PluginInfo> {
        self.inner.plugins.get(name).map(|p| &p.info)
    }

    /// The configuration the registry runs with.
    pub fn config(&self) -> &PluginConfig {
        &self.inner.config
    }

    fn loaded(&self, plugin: &str) -> Result<(&Loaded, Arc<str>), CallError> {
        let loaded = self
            .inner
            .plugins
            .get(plugin)
            .ok_or_else(|| CallError::UnknownPlugin {
                plugin: plugin.to_owned(),
            })?;
        Ok((loaded, Arc::from(plugin)))
    }

    /// Calls the plugin's `info` in a fresh instance.
    pub async fn info(&self, plugin: &str) -> Result<PluginInfo, CallError> {
        let (loaded, name) = self.loaded(plugin)?;
        let (answer, _) = self
            .inner
            .run(&name, &loaded.pre, &loaded.guard, Request::Info)
            .await?;
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
        let (loaded, name) = self.loaded(plugin)?;
        let (answer, _) = self
            .inner
            .run(&name, &loaded.pre, &loaded.guard, Request::Validate(config))
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
        let (loaded, name) = self.loaded(plugin)?;
        let delivery = bindings::delivery_v0_1(delivery);
        let (answer, trace) = self
            .inner
            .run(
                &name,
                &loaded.pre,
                &loaded.guard,
                Request::Send(config, &delivery),
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

impl PluginRegistry {
    /// For the benchmark: how long `rounds` instantiations of `plugin` take, each from its
    /// `InstancePre` into a fresh store (the store's own setup is not counted).
    #[doc(hidden)]
    pub async fn measure_instantiation(
        &self,
        plugin: &str,
        rounds: usize,
    ) -> Result<Vec<Duration>, CallError> {
        let (loaded, name) = self.loaded(plugin)?;
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let trace = Arc::new(CallTrace::default());
            let denied = MailGrant::Denied("no mail while measuring".to_owned());
            let mut store = self.inner.new_store(&name, &loaded.guard, &trace, denied);
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
        f.debug_struct("PluginRegistry")
            .field("plugins", &self.inner.plugins.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
