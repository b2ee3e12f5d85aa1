//! The seam between delivery and what carries notifications out: the [`ChannelHost`].
//!
//! Delivery asks a host four things: which channel implementations it has (and their
//! limits and configuration schemas), whether a configuration is valid, to send one
//! delivery, and how much one call may carry. The [`PluginRegistry`] (WebAssembly plugins
//! in the wasmtime sandbox) is the host msghub ships and the one the server uses. Tests and
//! embedders may bring their own, for example an in-process fake that records what it is
//! given and fails on cue, so that retries, rate limits and dead letters are tested with
//! [`Engine::deliver_due`](crate::Engine::deliver_due) and a manual clock, without
//! WebAssembly and without sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::plugin::{
    CallError, Delivery, PluginInfo, PluginRegistry, Receipt, SendError, ValidateError,
};

/// The future a [`ChannelHost`] call returns.
pub type HostFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What delivery needs of the channel implementations. Implemented by [`PluginRegistry`].
///
/// A host is shared by every account: it must not keep anything of one call that another
/// call could see (the plugin registry runs each call in a fresh sandboxed instance).
pub trait ChannelHost: Send + Sync + 'static {
    /// Every implementation ready to be used, sorted by name.
    fn plugins(&self) -> Vec<Arc<PluginInfo>>;

    /// The implementation named `plugin` if it is ready now; `None` while it is loading, or
    /// when there is none.
    fn plugin(&self, plugin: &str) -> Option<Arc<PluginInfo>>;

    /// The implementation named `plugin` once it is ready, waiting while it loads (at most
    /// a call deadline): [`CallError::Loading`] when the wait ran out,
    /// [`CallError::UnknownPlugin`] when there is no such implementation.
    fn ready<'a>(&'a self, plugin: &'a str) -> HostFuture<'a, Result<Arc<PluginInfo>, CallError>>;

    /// Whether `config` (a JSON object) is a valid configuration for a channel of `plugin`.
    fn validate_config<'a>(
        &'a self,
        plugin: &'a str,
        config: &'a str,
    ) -> HostFuture<'a, Result<(), ValidateError>>;

    /// Delivers one attempt through `plugin`, with the channel's `config` (JSON). The
    /// error's [`SendError::kind`] decides between a retry, a wait and a dead letter.
    fn send<'a>(
        &'a self,
        plugin: &'a str,
        config: &'a str,
        delivery: &'a Delivery,
    ) -> HostFuture<'a, Result<Receipt, SendError>>;

    /// How much one `send` through `plugin` may carry: a digest larger than this goes out
    /// in several parts.
    fn part_budget(&self, plugin: &str) -> PartBudget;
}

/// How much one digest call to one implementation may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartBudget {
    /// The most messages (at least one is always sent).
    pub messages: usize,
    /// The most bytes of stored messages; a message larger than this still goes, alone.
    pub bytes: usize,
}

impl ChannelHost for PluginRegistry {
    fn plugins(&self) -> Vec<Arc<PluginInfo>> {
        PluginRegistry::plugins(self).collect()
    }

    fn plugin(&self, plugin: &str) -> Option<Arc<PluginInfo>> {
        PluginRegistry::plugin(self, plugin)
    }

    fn ready<'a>(&'a self, plugin: &'a str) -> HostFuture<'a, Result<Arc<PluginInfo>, CallError>> {
        Box::pin(PluginRegistry::ready(self, plugin))
    }

    fn validate_config<'a>(
        &'a self,
        plugin: &'a str,
        config: &'a str,
    ) -> HostFuture<'a, Result<(), ValidateError>> {
        Box::pin(PluginRegistry::validate_config(self, plugin, config))
    }

    fn send<'a>(
        &'a self,
        plugin: &'a str,
        config: &'a str,
        delivery: &'a Delivery,
    ) -> HostFuture<'a, Result<Receipt, SendError>> {
        Box::pin(PluginRegistry::send(self, plugin, config, delivery))
    }

    /// The plugin's batch and a sixteenth of its memory, as its limits say.
    fn part_budget(&self, plugin: &str) -> PartBudget {
        let limits = self.limits(plugin);
        PartBudget {
            messages: limits.batch,
            bytes: super::prepare::part_bytes(limits.memory),
        }
    }
}
