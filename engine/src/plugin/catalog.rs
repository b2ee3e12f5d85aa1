//! The plugins a registry knows, each in one slot that is loading, ready or failed.
//!
//! A slot is one component from one origin (a file, or bytes such as a bundled plugin), in
//! load order. A slot that loaded keeps its version in service while a new version of its
//! file loads, and keeps it when the new version fails. The registry keeps the catalog in a `tokio::sync::watch` channel: a call
//! takes the `Arc` of the version that is ready when it starts and keeps it until it ends,
//! so a plugin replaced or removed meanwhile never changes under a call in flight; a call
//! for a plugin still loading waits for the next change.
//!
//! The catalog must never hold two ready slots of the same plugin name: of two components
//! that claim one name, the one earlier in load order is ready and the other failed, whichever
//! finished loading first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::error::LoadError;
use super::registry::Loaded;
use super::types::{PluginInfo, PluginLimits};

/// Every slot, in load order.
#[derive(Default)]
pub(super) struct Catalog {
    slots: Vec<Slot>,
    next_id: u64,
}

struct Slot {
    /// Unique per load: a reload of the same origin gets a new id, so the result of an
    /// older load that finishes late is dropped instead of replacing a newer one.
    id: u64,
    origin: String,
    /// The plugin's name once its `info` answered; until then the name it is expected to
    /// have (a bundled plugin's, or its file's stem).
    name: String,
    queued: Instant,
    /// The version calls run on, once one loaded. A reload replaces it only when the new
    /// version is ready, so a new version that fails leaves it in place.
    current: Option<Arc<Loaded>>,
    /// How the latest load of this origin stands.
    load: Load,
}

enum Load {
    Loading,
    Done,
    Failed(LoadError),
}

/// What a call finds under a plugin name.
pub(super) enum Lookup {
    Ready(Arc<Loaded>),
    Failed(LoadError),
    /// Not ready, but it may still be: a slot of that name, or one whose name is not
    /// known yet, is loading.
    Pending,
    Unknown,
}

impl Catalog {
    /// Adds a slot, loading, at the end of the load order; returns its id.
    pub(super) fn queue(&mut self, origin: String, name: String) -> u64 {
        let id = self.new_id();
        self.slots.push(Slot {
            id,
            origin,
            name,
            queued: Instant::now(),
            current: None,
            load: Load::Loading,
        });
        id
    }

    /// Starts loading `origin` again: its slot keeps its place in the load order, and the
    /// version it holds serves calls until the new one is ready; a new origin is queued at
    /// the end. Returns the slot's new id.
    pub(super) fn requeue(&mut self, origin: &str, name: String) -> u64 {
        let id = self.new_id();
        let Some(slot) = self.slots.iter_mut().find(|s| s.origin == origin) else {
            self.slots.push(Slot {
                id,
                origin: origin.to_owned(),
                name,
                queued: Instant::now(),
                current: None,
                load: Load::Loading,
            });
            return id;
        };
        if slot.current.is_none() {
            slot.name = name;
        }
        slot.id = id;
        slot.queued = Instant::now();
        slot.load = Load::Loading;
        id
    }

    /// Forgets the slot of `origin`; calls in flight finish on the version they hold.
    /// Returns whether there was one.
    pub(super) fn remove(&mut self, origin: &str) -> bool {
        let before = self.slots.len();
        self.slots.retain(|s| s.origin != origin);
        self.slots.len() != before
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Records how the load of slot `id` ended, and logs it. Nothing happens when the slot
    /// was reloaded or removed meanwhile.
    pub(super) fn settle(&mut self, id: u64, outcome: Result<Loaded, LoadError>) {
        let Some(at) = self.slots.iter().position(|s| s.id == id) else {
            return;
        };
        let loaded = match outcome {
            Ok(loaded) => loaded,
            Err(error) => {
                self.fail(at, error);
                return;
            }
        };
        let name = loaded.info.name.clone();
        let rival = self
            .slots
            .iter()
            .position(|s| s.id != id && s.ready_as(&name).is_some());
        if let Some(rival) = rival {
            let (kept, refused) = if rival < at { (rival, at) } else { (at, rival) };
            let error = LoadError::Duplicate {
                origin: self.slots[refused].origin.clone(),
                name: name.clone(),
                first: self.slots[kept].origin.clone(),
            };
            if refused == at {
                self.fail(at, error);
                return;
            }
            tracing::error!(error = %error, "channel plugin refused");
            self.slots[refused].current = None;
            self.slots[refused].load = Load::Failed(error);
        }
        let slot = &mut self.slots[at];
        let replaced = slot.current.as_ref().map(|old| old.info.version.clone());
        tracing::info!(
            plugin = %name,
            origin = %slot.origin,
            version = %loaded.info.version,
            replaced = replaced.as_deref().unwrap_or("none"),
            took_ms = loaded.took.as_millis() as u64,
            ready_after_ms = slot.queued.elapsed().as_millis() as u64,
            compiled = loaded.compiled,
            "channel plugin ready"
        );
        slot.name = name;
        slot.current = Some(Arc::new(loaded));
        slot.load = Load::Done;
    }

    /// Records that the latest load of the slot at `at` failed; a version loaded before
    /// stays in service.
    fn fail(&mut self, at: usize, error: LoadError) {
        let slot = &mut self.slots[at];
        match &slot.current {
            Some(old) => tracing::error!(
                error = %error,
                plugin = %slot.name,
                version = %old.info.version,
                "new version of a channel plugin refused; the version loaded before stays"
            ),
            None => tracing::error!(error = %error, "channel plugin refused"),
        }
        slot.load = Load::Failed(error);
    }

    /// Fails every slot of `ids` still loading: their loader stopped. Returns whether there
    /// was one.
    pub(super) fn interrupt(&mut self, ids: &[u64], reason: &str) -> bool {
        let stopped: Vec<usize> = (0..self.slots.len())
            .filter(|at| {
                let slot = &self.slots[*at];
                ids.contains(&slot.id) && matches!(slot.load, Load::Loading)
            })
            .collect();
        for &at in &stopped {
            let error = LoadError::Interrupted {
                origin: self.slots[at].origin.clone(),
                reason: reason.to_owned(),
            };
            self.fail(at, error);
        }
        !stopped.is_empty()
    }

    /// The ready plugin named `name`.
    pub(super) fn ready(&self, name: &str) -> Option<&Arc<Loaded>> {
        self.slots.iter().find_map(|s| s.ready_as(name))
    }

    /// Every ready plugin, in load order.
    pub(super) fn ready_plugins(&self) -> impl Iterator<Item = &Arc<Loaded>> {
        self.slots.iter().filter_map(|s| s.current.as_ref())
    }

    /// What a call for `name` finds: the ready plugin; else, while a slot of that name or of
    /// a name not known yet is loading, something to wait for; else why it failed to load.
    pub(super) fn lookup(&self, name: &str) -> Lookup {
        if let Some(loaded) = self.ready(name) {
            return Lookup::Ready(loaded.clone());
        }
        let first_loading = |s: &&Slot| s.current.is_none() && matches!(s.load, Load::Loading);
        if self
            .slots
            .iter()
            .filter(first_loading)
            .any(|s| s.name == name)
        {
            return Lookup::Pending;
        }
        let failed = self.slots.iter().find_map(|s| match &s.load {
            Load::Failed(error) if s.name == name && s.current.is_none() => Some(error.clone()),
            _ => None,
        });
        match failed {
            Some(error) => Lookup::Failed(error),
            None if self.slots.iter().any(|s| first_loading(&s)) => Lookup::Pending,
            None => Lookup::Unknown,
        }
    }

    /// Whether any slot is still loading (a first version or a new one).
    pub(super) fn is_loading(&self) -> bool {
        self.slots.iter().any(|s| matches!(s.load, Load::Loading))
    }

    /// How the load of slot `id` ended: the plugin's name, or the load error; `None` while it
    /// loads or once it was reloaded or removed.
    pub(super) fn outcome(&self, id: u64) -> Option<Result<&str, &LoadError>> {
        let slot = self.slots.iter().find(|s| s.id == id)?;
        match &slot.load {
            Load::Loading => None,
            Load::Done => Some(Ok(&slot.name)),
            Load::Failed(error) => Some(Err(error)),
        }
    }

    /// Every slot as callers see it, in load order.
    pub(super) fn states(&self) -> Vec<PluginState> {
        self.slots
            .iter()
            .map(|s| PluginState {
                name: s.name.clone(),
                origin: s.origin.clone(),
                status: match (&s.current, &s.load) {
                    (Some(loaded), load) => PluginStatus::Ready {
                        info: loaded.info.clone(),
                        took: loaded.took,
                        limits: loaded.limits.clone(),
                        reloading: matches!(load, Load::Loading),
                        reload_error: match load {
                            Load::Failed(error) => Some(error.clone()),
                            _ => None,
                        },
                    },
                    (None, Load::Failed(error)) => PluginStatus::Failed {
                        error: error.clone(),
                    },
                    (None, _) => PluginStatus::Loading,
                },
            })
            .collect()
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.states()).finish()
    }
}

impl Slot {
    fn ready_as(&self, name: &str) -> Option<&Arc<Loaded>> {
        self.current.as_ref().filter(|_| self.name == name)
    }
}

/// One plugin the registry knows, as [`PluginRegistry::states`](super::PluginRegistry::states)
/// and [`PluginWatch::states`] report it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PluginState {
    /// The plugin's name: the one its `info` gave once it answered; before, the name it is
    /// expected to have (a bundled plugin's, or its file's name without `.wasm`).
    pub name: String,
    /// Where it comes from: a file's path, or `bundled plugin '<name>'`.
    pub origin: String,
    /// Whether it can be called.
    pub status: PluginStatus,
}

/// Whether a plugin can be called.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PluginStatus {
    /// Being compiled or asked for its `info`; calls for it wait until it is ready.
    Loading,
    /// Loaded: calls run.
    Ready {
        /// What its `info` said.
        info: Arc<PluginInfo>,
        /// How long compiling (or reading the compilation cache) and `info` took.
        took: Duration,
        /// What each call may use.
        limits: PluginLimits,
        /// A new version of its file is loading; calls run on this one meanwhile.
        reloading: bool,
        /// The latest new version of its file failed to load, for this reason; this version
        /// stays in service.
        reload_error: Option<LoadError>,
    },
    /// Refused: calls for it fail with this error.
    Failed {
        /// Why.
        error: LoadError,
    },
}

impl PluginStatus {
    /// `loading`, `ready` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PluginStatus::Loading => "loading",
            PluginStatus::Ready { .. } => "ready",
            PluginStatus::Failed { .. } => "failed",
        }
    }
}

/// Follows the plugins of a registry as they finish loading (or, later, are reloaded).
/// Holding one does not keep the registry alive.
pub struct PluginWatch {
    catalog: watch::Receiver<Catalog>,
}

impl PluginWatch {
    pub(super) fn new(catalog: watch::Receiver<Catalog>) -> PluginWatch {
        PluginWatch { catalog }
    }

    /// Every plugin as it stands now, in load order; [`PluginWatch::changed`] then waits
    /// for the next change after this.
    pub fn states(&mut self) -> Vec<PluginState> {
        self.catalog.borrow_and_update().states()
    }

    /// Waits until a plugin changed state since the last [`PluginWatch::states`]; `false`
    /// once the registry is gone (nothing will change any more).
    pub async fn changed(&mut self) -> bool {
        self.catalog.changed().await.is_ok()
    }
}

impl std::fmt::Debug for PluginWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginWatch").finish_non_exhaustive()
    }
}
