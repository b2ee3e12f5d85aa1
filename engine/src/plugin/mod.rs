//! The channel plugin host: loads WebAssembly channel plugins and calls them in a sandbox.
//!
//! A channel plugin is a component of the WIT world `msghub:notifier/channel` (`wit/` at the
//! repository root). This module owns everything between the engine and those components:
//!
//! - [`registry`]: the [`PluginRegistry`]: one wasmtime `Engine` (pooling allocator, epoch
//!   interruption), one pre-linked `InstancePre` per plugin, and the typed calls
//!   [`PluginRegistry::info`], [`PluginRegistry::validate_config`] and
//!   [`PluginRegistry::send`].
//! - `call`: one call, in a fresh `Store` with a deadline and a memory cap, on threads of
//!   the plugin host's own, and the error that says how it ended.
//! - `loader`: the [`PluginRegistryBuilder`] (embedded plugins, files, a plugin directory)
//!   and the background task that compiles each plugin on a blocking thread and asks it for
//!   its `info`, so a registry is usable before its plugins are ([`Loading`]).
//! - `catalog`: which plugins are loading, ready or failed ([`PluginState`]); a call takes
//!   the version ready when it starts and keeps it, and waits for a plugin still loading.
//! - `directory`: a plugin directory followed while the server runs ([`PluginDir`]): files
//!   added, replaced or removed are loaded, loaded again or unloaded without a restart.
//! - `cache`: compiled components on disk, keyed by the engine's compatibility hash and the
//!   component's digest, so a restart does not recompile.
//! - `bindings`: the host bindings of each supported notifier version (0.1 today), and the
//!   conversions between them and this module's [`types`].
//! - `sandbox`: the per-call store state: an empty WASI context (no files, environment,
//!   sockets), stdout/stderr into the log under one budget per call, the memory limiter, the
//!   caps on host resources, the `log` import and the mail grant.
//! - `http`: the outgoing request policy (declared hosts, public addresses, allow-listed
//!   networks, no redirects, timeouts, body cap) and the one shared, pooled HTTP client.
//! - `mail`: the `mail` import, submitting through the operator's SMTP relay with lettre.
//! - `limits`: what one call of a plugin may use: the operator's caps, lowered to the
//!   needs the plugin states in its configuration schema ([`PluginLimits`]).
//! - [`config`] and [`error`]: the knobs, and one error type per operation.
//!
//! This module must never let a plugin reach anything the sandbox does not grant, never let
//! a plugin's failure escape the one call it happened in, and never log a plugin's
//! configuration (it holds secrets).

mod address;
mod bindings;
mod cache;
mod call;
mod catalog;
pub mod config;
mod directory;
pub mod error;
mod http;
mod limits;
mod loader;
mod mail;
pub mod registry;
mod sandbox;
pub mod types;

pub use catalog::{PluginState, PluginStatus, PluginWatch};
pub use config::{PluginCaps, PluginConfig};
pub use directory::{DirChanges, PluginDir};
pub use error::{CallError, ConfigError, LoadError, RegistryError, SendError, ValidateError};
pub use limits::MAX_BATCH;
pub use registry::{LoadReport, Loading, PluginRegistry, PluginRegistryBuilder};
pub use types::{
    Delivery, DeliveryKind, FailureKind, MailUnsubscribe, PluginInfo, PluginLimits, RateLimit,
    Receipt, Recipient,
};

/// The notifier versions this host runs, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1.0"];
