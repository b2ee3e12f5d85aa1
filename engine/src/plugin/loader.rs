//! Loading plugins: the builder that collects where they come from, and the background task
//! that compiles them and asks each for its `info`.
//!
//! A load lists its sources at once (a plugin directory that cannot be listed is the
//! caller's error), gives each component a slot in the registry's catalog, loading, and
//! hands the registry back before anything is compiled. The task then compiles the
//! components one after another on a blocking thread, so that the runtime's workers stay
//! free to answer requests, and asks each for its `info` in a task of its own, so that a
//! slow `info` holds up no other plugin. Each slot turns ready or failed as soon as its own
//! plugin is done.
//!
//! This module must never leave a slot loading for ever: when the task stops early (the
//! registry was dropped, the runtime is shutting down, a bug panicked), the slots it did not
//! finish fail, so calls waiting for them end.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::catalog::Catalog;
use super::config::PluginConfig;
use super::error::{LoadError, RegistryError};
use super::registry::{Inner, PluginRegistry, name_of_file};

/// Where a plugin comes from.
enum Source {
    Bytes {
        origin: String,
        name: String,
        bytes: Cow<'static, [u8]>,
    },
    File(PathBuf),
    Dir(PathBuf),
}

/// The component of one slot, not read yet.
pub(super) enum Input {
    Bytes(Cow<'static, [u8]>),
    File(PathBuf),
}

/// One component to load.
pub(super) struct Job {
    /// Its slot in the catalog.
    pub(super) id: u64,
    /// Where it comes from, for errors.
    pub(super) origin: String,
    /// The name it is expected to have until its `info` answers.
    pub(super) name: String,
    pub(super) input: Input,
}

/// Collects the plugins to load; [`PluginRegistryBuilder::load`] loads them before it
/// returns, [`PluginRegistryBuilder::load_in_background`] while the registry is in use.
pub struct PluginRegistryBuilder {
    config: PluginConfig,
    sources: Vec<Source>,
}

impl PluginRegistryBuilder {
    pub(super) fn new(config: PluginConfig) -> Self {
        PluginRegistryBuilder {
            config,
            sources: Vec::new(),
        }
    }

    /// Adds a component embedded in the program, such as one of the channel plugins msghub
    /// ships (the `msghub-bundled` crate adds them all): named `name` until its `info`
    /// answers, and `bundled plugin 'NAME'` in errors.
    pub fn embedded(mut self, name: &str, bytes: &'static [u8]) -> Self {
        self.sources.push(Source::Bytes {
            origin: format!("bundled plugin '{name}'"),
            name: name.to_owned(),
            bytes: Cow::Borrowed(bytes),
        });
        self
    }

    /// Adds a component given as bytes; `origin` names it in errors, and in the list of
    /// plugins until its `info` gives its name.
    pub fn component(mut self, origin: &str, bytes: Vec<u8>) -> Self {
        self.sources.push(Source::Bytes {
            origin: origin.to_owned(),
            name: origin.to_owned(),
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

    /// Starts the sandbox and loads every plugin added, returning once all are done. A
    /// plugin that cannot be loaded is reported in [`LoadReport::refused`] and the others
    /// load regardless; only a host that cannot start, or a plugin directory that cannot be
    /// listed, is an error.
    pub async fn load(self) -> Result<(PluginRegistry, LoadReport), RegistryError> {
        let (registry, loading) = self.load_in_background()?;
        let report = loading.finished().await;
        Ok((registry, report))
    }

    /// Starts the sandbox and returns the registry at once, every plugin added loading in
    /// the background: calls for a plugin wait until it is loaded (at most the call
    /// deadline), [`PluginRegistry::states`] says which are ready, and
    /// [`Loading::finished`] waits for the whole load. Call it from within a tokio runtime.
    /// Errors as [`PluginRegistryBuilder::load`] does.
    pub fn load_in_background(self) -> Result<(PluginRegistry, Loading), RegistryError> {
        let runtime = runtime()?;
        let sources = expand(self.sources)?;
        let registry = PluginRegistry::host(self.config)?;
        let mut jobs = Vec::with_capacity(sources.len());
        registry.inner.catalog.send_modify(|catalog| {
            for (origin, name, input) in sources {
                let id = catalog.queue(origin.clone(), name.clone());
                jobs.push(Job {
                    id,
                    origin,
                    name,
                    input,
                });
            }
        });
        let loading = spawn(&registry, jobs, &runtime);
        Ok((registry, loading))
    }
}

/// The runtime that loads in the background: the caller's.
pub(super) fn runtime() -> Result<Handle, RegistryError> {
    Handle::try_current().map_err(|_| RegistryError::NoRuntime)
}

/// Lists every source as `(origin, expected name, input)`; a directory is listed now, its
/// files are read by the loader.
fn expand(sources: Vec<Source>) -> Result<Vec<(String, String, Input)>, RegistryError> {
    let mut out = Vec::new();
    let file = |path: PathBuf| (path.display().to_string(), name_of_file(&path), path);
    for source in sources {
        match source {
            Source::Bytes {
                origin,
                name,
                bytes,
            } => out.push((origin, name, Input::Bytes(bytes))),
            Source::File(path) => {
                let (origin, name, path) = file(path);
                out.push((origin, name, Input::File(path)));
            }
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
                for path in files {
                    let (origin, name, path) = file(path);
                    out.push((origin, name, Input::File(path)));
                }
            }
        }
    }
    Ok(out)
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

/// A load under way in the background. Dropping it does not stop the load.
#[derive(Debug)]
pub struct Loading {
    ids: Vec<u64>,
    catalog: watch::Receiver<Catalog>,
    task: JoinHandle<Tally>,
}

impl Loading {
    /// Waits until every plugin of this load is ready or failed, and reports them.
    pub async fn finished(self) -> LoadReport {
        let tally = match self.task.await {
            Ok(tally) => tally,
            Err(e) => {
                // Its slots were failed as the task unwound; the report lists them.
                tracing::error!(error = %e, "plugin loading stopped");
                Tally::default()
            }
        };
        let catalog = self.catalog.borrow();
        let mut report = LoadReport {
            compiled: tally.compiled,
            cached: tally.cached,
            ..LoadReport::default()
        };
        for id in &self.ids {
            match catalog.outcome(*id) {
                Some(Ok(name)) => report.loaded.push(name.to_owned()),
                Some(Err(error)) => report.refused.push(error.clone()),
                None => {}
            }
        }
        report
    }
}

/// How the components of one load were obtained.
#[derive(Debug, Default)]
struct Tally {
    compiled: usize,
    cached: usize,
}

/// Starts loading `jobs`, whose slots are queued in the registry's catalog, on `runtime`.
pub(super) fn spawn(registry: &PluginRegistry, jobs: Vec<Job>, runtime: &Handle) -> Loading {
    let ids = jobs.iter().map(|job| job.id).collect();
    let catalog = registry.inner.catalog.subscribe();
    // The task holds the registry only while it works on a plugin: a registry dropped by
    // everyone else stops loading at the next plugin.
    let task = runtime.spawn(run(Arc::downgrade(&registry.inner), jobs));
    Loading { ids, catalog, task }
}

async fn run(registry: Weak<Inner>, jobs: Vec<Job>) -> Tally {
    let _unfinished = Unfinished::new(registry.clone(), jobs.iter().map(|job| job.id).collect());
    let mut tally = Tally::default();
    let mut describing = JoinSet::new();
    for Job {
        id,
        origin,
        name,
        input,
    } in jobs
    {
        let Some(inner) = registry.upgrade() else {
            break;
        };
        let started = Instant::now();
        let linking = {
            let (inner, origin) = (inner.clone(), origin.clone());
            tokio::task::spawn_blocking(move || inner.link(&origin, &read(&origin, input)?))
        };
        let linked = match linking.await {
            Ok(Ok(linked)) => linked,
            Ok(Err(error)) => {
                inner.catalog.send_modify(|c| c.settle(id, Err(error)));
                continue;
            }
            Err(e) => {
                let error = LoadError::Interrupted {
                    origin,
                    reason: format!("compilation stopped: {e}"),
                };
                inner.catalog.send_modify(|c| c.settle(id, Err(error)));
                continue;
            }
        };
        if linked.compiled {
            tally.compiled += 1;
        } else {
            tally.cached += 1;
        }
        describing.spawn(async move {
            let outcome = inner.describe(&origin, &name, linked, started).await;
            inner.catalog.send_modify(|c| c.settle(id, outcome));
        });
    }
    while let Some(done) = describing.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "asking a plugin for its info stopped");
        }
    }
    tally
}

fn read(origin: &str, input: Input) -> Result<Cow<'static, [u8]>, LoadError> {
    match input {
        Input::Bytes(bytes) => Ok(bytes),
        Input::File(path) => {
            std::fs::read(&path)
                .map(Cow::Owned)
                .map_err(|source| LoadError::Read {
                    origin: origin.to_owned(),
                    source: Arc::new(source),
                })
        }
    }
}

/// Fails the slots of a load that its task did not finish, when the task ends however it
/// ends (returned, cancelled, panicked).
pub(super) struct Unfinished {
    registry: Weak<Inner>,
    ids: Vec<u64>,
}

impl Unfinished {
    pub(super) fn new(registry: Weak<Inner>, ids: Vec<u64>) -> Unfinished {
        Unfinished { registry, ids }
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(inner) = self.registry.upgrade() {
            let reason = "its loader stopped before it was done (the runtime shut down, or \
                          see the log)";
            inner
                .catalog
                .send_if_modified(|c| c.interrupt(&self.ids, reason));
        }
    }
}
