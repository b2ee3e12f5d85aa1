//! Compiled plugins on disk, so that a restart does not recompile.
//!
//! A compiled component is only valid for the engine that made it (same wasmtime, same
//! settings, same CPU features), so the key is the engine's compatibility hash plus the
//! SHA-256 of the component's bytes. Files are written to a temporary name and renamed, so
//! a crash never leaves half a file under a real key. A file that fails to load is
//! recompiled and replaced.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Compiled,
    Cached,
}

pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl CompileCache {
    pub(crate) fn new(engine: &Engine, dir: Option<&Path>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir: dir.map(Path::to_path_buf),
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn path_for(&self, bytes: &[u8]) -> Option<PathBuf> {
        let digest = Sha256::digest(bytes);
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{}-{name}.cwasm", self.engine_key)))
    }

    /// The component for `bytes`, from the cache when possible; compiles otherwise (and
    /// stores the result when there is a cache).
    pub(crate) fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, Origin)> {
        let path = self.path_for(bytes);
        if let Some(path) = &path
            && path.is_file()
        {
            // SAFETY: the file was written by `precompile_component` of an engine with the
            // same compatibility hash (it is in the name), into a directory that only the
            // operator may write (a documented requirement of `cache_dir`); wasmtime still
            // checks the header and refuses files from another engine configuration.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(component) => return Ok((component, Origin::Cached)),
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "cached plugin compilation unusable; recompiling"
                ),
            }
        }
        let compiled = engine.precompile_component(bytes)?;
        if let Some(path) = &path
            && store(path, &compiled)
        {
            // Load what was just stored, as a restart would: the code is then mapped from
            // the file (shared with the page cache) instead of held in anonymous memory,
            // so a first start is as small as the next.
            // SAFETY: the file was written just above from `precompile_component` of this
            // very engine.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, path) } {
                return Ok((component, Origin::Compiled));
            }
        }
        // SAFETY: these bytes were produced just above by `precompile_component` of this
        // very engine.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, Origin::Compiled))
    }
}

/// Writes a compiled component; a failure only costs a recompile at the next start.
/// Returns whether the file is in place.
fn store(path: &Path, compiled: &[u8]) -> bool {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            crate::private_files::create_dir(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        crate::private_files::write(&tmp, compiled)?;
        std::fs::rename(&tmp, path)
    };
    match write() {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot cache a compiled plugin");
            false
        }
    }
}
