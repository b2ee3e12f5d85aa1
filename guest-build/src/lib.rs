//! Build-script support: compiles msghub's WebAssembly guest crates for `wasm32-wasip2`.
//!
//! Channel plugins and the hostile test fixtures are guests: they are never compiled for the
//! host, so they live outside the root workspace (in the `plugins/` workspace, or standalone
//! like the example plugin). A build script that needs their `.wasm` files calls
//! [`build`], which runs a nested `cargo build --release --target wasm32-wasip2` with its own
//! target directory (`target/wasm`), so it never waits on the outer cargo's lock, and with
//! the outer build's flags removed, so host flags never leak into guests.
//!
//! ```no_run
//! // build.rs
//! let manifest_dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
//! let root = manifest_dir.parent().unwrap();
//! let wasm = msghub_guest_build::build(&root.join("plugins/Cargo.toml"), &["email"]).unwrap();
//! assert_eq!(wasm[0].file_name().unwrap(), "email.wasm");
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest target.
pub const TARGET: &str = "wasm32-wasip2";

/// Environment that a build script inherits from the outer cargo and that must not reach the
/// nested guest build: host flags, the outer target and target directory.
const CLEARED_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_PATH",
];

/// Builds `packages` of the guest workspace or crate at `manifest` in release for
/// `wasm32-wasip2`, and returns the path of each package's `.wasm` file, in order.
///
/// Also tells cargo to rerun the calling build script when the guests' sources, the SDK or
/// the WIT files change. Fails with the nested cargo's output.
pub fn build(manifest: &Path, packages: &[&str]) -> Result<Vec<PathBuf>, String> {
    let root = workspace_root(manifest)?;
    let crate_dir = manifest
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", manifest.display()))?;
    for watched in [crate_dir.to_path_buf(), root.join("sdk"), root.join("wit")] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    let target_dir = root.join("target").join("wasm");
    if packages.is_empty() {
        return Ok(Vec::new());
    }
    ensure_target(&target_dir)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    for var in CLEARED_ENV {
        command.env_remove(var);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo to build the wasm guests: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("can't find crate for `core`")
            || stderr.contains("target may not be installed")
        {
            "\nThe wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`."
        } else {
            ""
        };
        return Err(format!(
            "building the wasm guests {packages:?} of {} failed:\n{stderr}{hint}",
            manifest.display(),
        ));
    }
    let out_dir = target_dir.join(TARGET).join("release");
    packages
        .iter()
        .map(|package| {
            let wasm = out_dir.join(format!("{}.wasm", package.replace('-', "_")));
            if wasm.is_file() {
                Ok(wasm)
            } else {
                Err(format!(
                    "{package} built but {} is missing: is it a cdylib?",
                    wasm.display()
                ))
            }
        })
        .collect()
}

/// Makes sure the toolchain that builds the guests has the `wasm32-wasip2` standard library.
///
/// rustup installs the targets of `rust-toolchain.toml` only when it installs the toolchain
/// itself, so a machine whose toolchain was already there lacks the target, and the first
/// `cargo run` would fail. The build adds it through rustup (once, under a lock, since the
/// engine's and the tests' build scripts may run at the same time) and says so.
fn ensure_target(target_dir: &Path) -> Result<(), String> {
    if target_installed()? {
        return Ok(());
    }
    std::fs::create_dir_all(target_dir)
        .map_err(|e| format!("cannot create {}: {e}", target_dir.display()))?;
    let lock_path = target_dir.join(".rustup-target.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if target_installed()? {
        return Ok(());
    }
    let mut command = Command::new("rustup");
    command.args(["target", "add", TARGET]);
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        command.arg("--toolchain").arg(toolchain);
    }
    let output = command.output().map_err(|e| {
        format!(
            "the {TARGET} target is missing and rustup cannot be run ({e}): \
             install the {TARGET} standard library for this toolchain"
        )
    })?;
    if !output.status.success() {
        return Err(format!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    println!(
        "cargo:warning=the {TARGET} target was missing from this toolchain; \
         added it with `rustup target add {TARGET}`"
    );
    Ok(())
}

/// Whether the toolchain's sysroot holds the guest target's standard library.
fn target_installed() -> Result<bool, String> {
    // The rustc beside the cargo that runs this build: `RUSTC` may be the rustup proxy,
    // which can resolve to another toolchain from a build script's directory.
    let rustc = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .map(|cargo| cargo.with_file_name("rustc"))
        .filter(|rustc| rustc.is_file())
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("RUSTC"))
        .unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .map_err(|e| format!("cannot run rustc to find its sysroot: {e}"))?;
    if !output.status.success() {
        // An unknown target: rustc too old to know it. The nested build says what to do.
        return Ok(true);
    }
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let has_core = std::fs::read_dir(&libdir)
        .map(|entries| {
            entries.flatten().any(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| name.starts_with("libcore-"))
            })
        })
        .unwrap_or(false);
    Ok(has_core)
}

/// The root of the msghub repository: the nearest ancestor of `manifest` with a `wit/` dir.
fn workspace_root(manifest: &Path) -> Result<PathBuf, String> {
    let manifest = manifest
        .canonicalize()
        .map_err(|e| format!("cannot find {}: {e}", manifest.display()))?;
    manifest
        .ancestors()
        .find(|dir| dir.join("wit").is_dir() && dir.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("no repository root with wit/ above {}", manifest.display()))
}
