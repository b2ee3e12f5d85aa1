//! A plugin directory followed while the registry runs: files added, replaced or removed
//! are loaded, loaded again or unloaded without a restart.
//!
//! [`PluginDir`] remembers each `*.wasm` file by its size and modification time, and each
//! look at the directory compares. A look from the poll ([`PluginDir::poll`]) acts on a
//! change only once the file looked the same at two looks in a row, so that a file still
//! being copied is not loaded half-written; the operator's reload ([`PluginDir::reload`])
//! acts at once. Loading goes through the registry ([`PluginRegistry::load_files`],
//! [`PluginRegistry::remove_file`]): calls in flight finish on the version they started
//! with, and a new version that fails to load leaves the old one in service.
//!
//! This module must never load a file outside the directory (its subdirectories included)
//! nor hold the registry alive: the poll stops once the registry is gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use super::error::RegistryError;
use super::loader::Loading;
use super::registry::{Inner, PluginRegistry};

/// What a file looked like at one look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// The files of the directory: as loaded, and as seen at the previous look.
#[derive(Default)]
struct Files {
    loaded: BTreeMap<PathBuf, Stamp>,
    seen: BTreeMap<PathBuf, Stamp>,
}

/// A plugin directory whose changes reach the registry. Share it (`Arc`) between the poll
/// and the operator's reload.
pub struct PluginDir {
    dir: PathBuf,
    files: Mutex<Files>,
}

/// What one look at the directory changed. The loads run in the background:
/// [`DirChanges::loading`] waits for them.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DirChanges {
    /// New files, loading.
    pub added: Vec<PathBuf>,
    /// Files replaced, their new version loading (the old one serves meanwhile).
    pub replaced: Vec<PathBuf>,
    /// Files gone, their plugins unloaded (calls in flight finish).
    pub removed: Vec<PathBuf>,
    /// The loads of the added and replaced files.
    pub loading: Option<Loading>,
}

impl DirChanges {
    /// Whether the look found nothing to do.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty()
    }
}

/// Whether a look acts on a change at once, or once the file stopped changing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    WhenSteady,
    Now,
}

impl PluginDir {
    /// Takes note of the `*.wasm` files of `dir` as they are now, as loaded. Call it just
    /// before the registry loads the directory
    /// ([`PluginRegistryBuilder::dir`](crate::plugin::PluginRegistryBuilder::dir)): a file
    /// changed in between is loaded again at the next look, never missed.
    pub fn new(dir: impl Into<PathBuf>) -> Result<PluginDir, RegistryError> {
        let dir = dir.into();
        let now = list(&dir)?;
        Ok(PluginDir {
            dir,
            files: Mutex::new(Files {
                loaded: now.clone(),
                seen: now,
            }),
        })
    }

    /// The directory followed.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// One look from the poll: acts on files that changed and then stayed the same since
    /// the previous look.
    pub fn poll(&self, registry: &PluginRegistry) -> Result<DirChanges, RegistryError> {
        self.look(registry, Act::WhenSteady)
    }

    /// The operator's reload: acts on every file that changed, at once.
    pub fn reload(&self, registry: &PluginRegistry) -> Result<DirChanges, RegistryError> {
        self.look(registry, Act::Now)
    }

    /// Polls the directory every `every` on the caller's runtime, for as long as the
    /// registry lives, logging what changed and when the directory cannot be read.
    pub fn follow(self: Arc<Self>, registry: &PluginRegistry, every: Duration) {
        let weak: Weak<Inner> = Arc::downgrade(&registry.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                match self.poll(&PluginRegistry { inner }) {
                    Ok(_) => failing = false,
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "cannot read the plugin directory; its plugins stay as they are");
                    }
                    Err(_) => {}
                }
            }
        });
    }

    fn look(&self, registry: &PluginRegistry, act: Act) -> Result<DirChanges, RegistryError> {
        let now = list(&self.dir)?;
        let Ok(mut files) = self.files.lock() else {
            // A look panicked midway; the next process start reads the directory anew.
            return Ok(DirChanges::default());
        };
        let files = &mut *files;
        let mut changes = DirChanges::default();
        let paths: std::collections::BTreeSet<PathBuf> =
            files.loaded.keys().chain(now.keys()).cloned().collect();
        for path in paths {
            let (was, is) = (files.loaded.get(&path).copied(), now.get(&path).copied());
            if was == is || (act == Act::WhenSteady && files.seen.get(&path).copied() != is) {
                continue;
            }
            match (was, is) {
                (None, Some(stamp)) => {
                    files.loaded.insert(path.clone(), stamp);
                    changes.added.push(path);
                }
                (Some(_), Some(stamp)) => {
                    files.loaded.insert(path.clone(), stamp);
                    changes.replaced.push(path);
                }
                (Some(_), None) => {
                    files.loaded.remove(&path);
                    changes.removed.push(path);
                }
                (None, None) => {}
            }
        }
        files.seen = now;
        for path in &changes.added {
            tracing::info!(path = %path.display(), "plugin file added; loading it");
        }
        for path in &changes.replaced {
            tracing::info!(
                path = %path.display(),
                "plugin file replaced; loading its new version (the old one serves meanwhile)"
            );
        }
        for path in &changes.removed {
            registry.remove_file(path);
            tracing::info!(
                path = %path.display(),
                "plugin file removed; its plugin is unloaded (calls in flight finish)"
            );
        }
        let load: Vec<PathBuf> = changes
            .added
            .iter()
            .chain(&changes.replaced)
            .cloned()
            .collect();
        if !load.is_empty() {
            changes.loading = Some(registry.load_files(load)?);
        }
        Ok(changes)
    }
}

impl std::fmt::Debug for PluginDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginDir")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The `*.wasm` files directly in `dir` (not in its subdirectories), with their stamps.
fn list(dir: &Path) -> Result<BTreeMap<PathBuf, Stamp>, RegistryError> {
    let listing = std::fs::read_dir(dir).map_err(|source| RegistryError::PluginDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = BTreeMap::new();
    for entry in listing.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "wasm") {
            continue;
        }
        // Followed like the loader follows them: a link to a file counts as the file.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() {
            let stamp = Stamp {
                len: meta.len(),
                modified: meta.modified().ok(),
            };
            files.insert(path, stamp);
        }
    }
    Ok(files)
}
