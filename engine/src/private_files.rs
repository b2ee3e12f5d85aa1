//! Files only their owner may read: the store, the secret key, the operator token and the
//! plugin cache hold secrets or what protects them, so msghub creates its directories 0700
//! and its files 0600, whatever the process umask, and says so when it finds one that
//! group or others can read or write. It never changes the mode of a file it did not make.

use std::io::Write as _;
use std::path::Path;

/// Creates `dir` and its missing parents, only the owner having access to the ones it
/// creates (0700 on Unix).
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Options that create a file only its owner can read and write (0600 on Unix).
pub fn open_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

/// Writes `bytes` to a new or emptied file only its owner can read, and syncs it. A file
/// that already exists keeps its mode: [`loose_permissions`] reports it.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = open_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes an empty file only its owner can read, unless `path` exists already.
pub fn create_empty(path: &Path) -> std::io::Result<()> {
    match open_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A warning that says what to run when group or others may read or write `path` (a
/// directory or a file); `None` when only its owner may, when it does not exist, or off
/// Unix.
pub fn loose_permissions(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = std::fs::metadata(path).ok()?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return None;
        }
        let (kind, fix) = if metadata.is_dir() {
            ("directory", 700)
        } else {
            ("file", 600)
        };
        Some(format!(
            "the {kind} {} can be read or written by group or others (mode {mode:o}); \
             run 'chmod {fix} {}'",
            path.display(),
            path.display()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
