//! The channel plugins msghub ships, compiled for wasm32-wasip2 from the `plugins/`
//! workspace and embedded in the program: DingTalk, email, Lark, Slack, webhook and WeCom.
//!
//! They live in a crate of their own so that the engine (`msghub`) builds without the wasm
//! target: only a program that wants these plugins depends on this crate, and its build
//! compiles them. Add them to a registry with [`BundledPlugins::bundled`]:
//!
//! ```no_run
//! use msghub::plugin::{PluginConfig, PluginRegistry};
//! use msghub_bundled::BundledPlugins as _;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (registry, _report) = PluginRegistry::builder(PluginConfig::default())
//!     .bundled()
//!     .load()
//!     .await?;
//! # Ok(()) }
//! ```

use msghub::plugin::PluginRegistryBuilder;

/// The bundled channel plugins: `(name, component bytes)`. The list lives in `build.rs`.
pub const BUNDLED: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));

/// Adds the bundled channel plugins to a registry being built.
pub trait BundledPlugins {
    /// Adds every plugin of [`BUNDLED`].
    #[must_use]
    fn bundled(self) -> Self;
}

impl BundledPlugins for PluginRegistryBuilder {
    fn bundled(self) -> Self {
        BUNDLED
            .iter()
            .fold(self, |builder, (name, bytes)| builder.embedded(name, bytes))
    }
}
