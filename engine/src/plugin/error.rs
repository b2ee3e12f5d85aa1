//! The plugin host's errors: one type per operation, each naming the plugin (or file) and
//! saying what went wrong.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::types::FailureKind;

/// A configuration value the host cannot use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An entry of the allow-list is neither a CIDR nor an address.
    #[error("allow-listed network '{value}' is not a CIDR such as 127.0.0.0/8 or ::1/128")]
    InvalidNetwork {
        /// The entry as written.
        value: String,
    },
    /// The SMTP relay URL cannot be used.
    #[error("SMTP relay URL is unusable: {reason}")]
    InvalidSmtpUrl {
        /// What is wrong with it (the URL itself is not repeated: it may hold a password).
        reason: String,
    },
    /// A memory cap or deadline is not a number in the allowed range.
    #[error("{setting} = '{value}' is not usable: use {allowed}")]
    InvalidLimit {
        /// The variable (and for `MSGHUB_PLUGIN_LIMITS`, the entry).
        setting: String,
        /// The value as written.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// The From address is not an email address.
    #[error("mail From address '{value}' is not a valid address")]
    InvalidMailFrom {
        /// The address as written.
        value: String,
    },
}

/// The plugin host could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// wasmtime refused the engine configuration.
    #[error("cannot create the WebAssembly engine: {reason}")]
    Engine {
        /// wasmtime's reason.
        reason: String,
    },
    /// The plugin directory cannot be listed.
    #[error("cannot read the plugin directory {}: {source}", path.display())]
    PluginDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Loading in the background needs a tokio runtime, and the caller is not on one.
    #[error(
        "plugins load on a tokio runtime: start loading from within one (e.g. under \
         #[tokio::main])"
    )]
    NoRuntime,
}

/// One plugin could not be loaded; the others still are. Cloned into the registry's state,
/// so that every call for the plugin can say why it is not there.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{origin}: cannot read it: {source}")]
    Read {
        /// The file.
        origin: String,
        /// The I/O error.
        source: Arc<std::io::Error>,
    },
    /// The bytes are not a WebAssembly component (a core module, or not WebAssembly).
    #[error("{origin}: not a WebAssembly component: {reason}")]
    NotAComponent {
        /// The file, or `bundled:<name>`.
        origin: String,
        /// Why.
        reason: String,
    },
    /// A component of another world: it does not export the notifier interface.
    #[error(
        "{origin}: does not implement the msghub channel world (it should export \
         msghub:notifier/notifier@{supported}; it exports: {exports})"
    )]
    WrongWorld {
        /// The file.
        origin: String,
        /// The versions this host supports.
        supported: String,
        /// What the component exports instead.
        exports: String,
    },
    /// A channel built for a notifier version this host does not run.
    #[error(
        "{origin}: implements msghub:notifier@{found}, but this host supports only \
         msghub:notifier@{supported}; rebuild the plugin against a supported version"
    )]
    UnsupportedVersion {
        /// The file.
        origin: String,
        /// The version the plugin implements.
        found: String,
        /// The versions this host supports.
        supported: String,
    },
    /// The component imports something the host does not provide.
    #[error("{origin}: cannot be linked: {reason}")]
    Link {
        /// The file.
        origin: String,
        /// wasmtime's reason, naming the missing import.
        reason: String,
    },
    /// The plugin's `info` call failed or returned something unusable.
    #[error("{origin}: {reason}")]
    Info {
        /// The file.
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// Another plugin already has this name.
    #[error("{origin}: a plugin named '{name}' is already loaded (from {first})")]
    Duplicate {
        /// The file.
        origin: String,
        /// The plugin name.
        name: String,
        /// Where the first one came from.
        first: String,
    },
    /// Loading stopped before this plugin was done: the registry was dropped, the runtime
    /// shut down, or the loader failed.
    #[error("{origin}: loading stopped before it finished: {reason}")]
    Interrupted {
        /// The file.
        origin: String,
        /// What stopped it.
        reason: String,
    },
}

/// Which export of a plugin a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `info`
    Info,
    /// `validate-config`
    ValidateConfig,
    /// `send`
    Send,
}

impl std::fmt::Display for CallKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallKind::Info => "info",
            CallKind::ValidateConfig => "validate-config",
            CallKind::Send => "send",
        })
    }
}

/// A call into a plugin failed in the host or the sandbox (the plugin did not answer).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No loaded plugin has that name, and none is still loading.
    #[error("no plugin named '{plugin}' is loaded")]
    UnknownPlugin {
        /// The name asked for.
        plugin: String,
    },
    /// The plugin was still loading when the wait for it (the call deadline) ran out;
    /// retrying in a moment finds it loaded.
    #[error("plugin '{plugin}' is still loading after {waited:?}; retry in a moment")]
    Loading {
        /// The name asked for.
        plugin: String,
        /// How long the call waited for it.
        waited: Duration,
    },
    /// The plugin could not be loaded; the reason is the load error, which names the file.
    #[error("plugin '{plugin}' failed to load: {reason}")]
    LoadFailed {
        /// The name asked for.
        plugin: String,
        /// Why it failed ([`LoadError`]'s message).
        reason: String,
    },
    /// The call ran past its deadline and was stopped.
    #[error("plugin '{plugin}' did not finish {call} within {deadline:?} and was stopped")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The call.
        call: CallKind,
        /// The deadline.
        deadline: Duration,
    },
    /// The plugin asked for more memory than its cap and was stopped.
    #[error(
        "plugin '{plugin}' exceeded its memory cap of {limit} bytes in {call} and was stopped; \
         the operator sets the cap (MSGHUB_PLUGIN_MEMORY_MIB, or MSGHUB_PLUGIN_LIMITS for one \
         plugin)"
    )]
    MemoryExhausted {
        /// The plugin.
        plugin: String,
        /// The call.
        call: CallKind,
        /// The cap.
        limit: usize,
    },
    /// The plugin held more host resources (handles) at once than a call may, and was
    /// stopped.
    #[error(
        "plugin '{plugin}' held more than {limit} host resources (header maps, requests, \
         streams) at once in {call} and was stopped; drop each one when done with it"
    )]
    HostResources {
        /// The plugin.
        plugin: String,
        /// The call.
        call: CallKind,
        /// The cap (`PluginConfig::max_handles_per_call`).
        limit: usize,
    },
    /// The plugin trapped or panicked.
    #[error("plugin '{plugin}' crashed in {call}: {reason}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// The call.
        call: CallKind,
        /// The trap, and the plugin's last words on stderr (a panic message) if any.
        reason: String,
    },
    /// A fresh instance could not be made.
    #[error("plugin '{plugin}' could not be instantiated for {call}: {reason}")]
    Instantiate {
        /// The plugin.
        plugin: String,
        /// The call.
        call: CallKind,
        /// wasmtime's reason.
        reason: String,
    },
}

/// `validate-config` did not accept a configuration.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    /// The plugin rejected the configuration; show `message` to the user.
    #[error("plugin '{plugin}' rejected the configuration: {message}")]
    Invalid {
        /// The plugin.
        plugin: String,
        /// The plugin's words.
        message: String,
    },
    /// The call itself failed.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// A delivery attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The plugin reported the failure.
    #[error("{}", describe_failure(plugin, kind, message, refusals))]
    Failed {
        /// The plugin.
        plugin: String,
        /// Whether to retry, wait, or give up.
        kind: FailureKind,
        /// The plugin's words.
        message: String,
        /// The requests the sandbox refused during the call, with the reason: what the
        /// operator needs to see when a target is not allowed.
        refusals: Vec<String>,
    },
    /// The call itself failed (timeout, trap, memory cap).
    #[error(transparent)]
    Call(#[from] CallError),
}

fn describe_failure(
    plugin: &str,
    kind: &FailureKind,
    message: &str,
    refusals: &[String],
) -> String {
    let mut text = format!("plugin '{plugin}' failed to deliver ({kind}): {message}");
    for refusal in refusals {
        text.push_str("; refused by the sandbox: ");
        text.push_str(refusal);
    }
    text
}

impl SendError {
    /// Whether trying again later may succeed, and when: a plugin's own verdict, a timeout
    /// or a plugin still loading (retryable), or a crash (permanent: the same input crashes
    /// again).
    pub fn kind(&self) -> FailureKind {
        match self {
            SendError::Failed { kind, .. } => kind.clone(),
            SendError::Call(CallError::Timeout { .. }) => FailureKind::Retryable,
            SendError::Call(CallError::Instantiate { .. }) => FailureKind::Retryable,
            SendError::Call(CallError::Loading { .. }) => FailureKind::Retryable,
            SendError::Call(_) => FailureKind::Permanent,
        }
    }
}
