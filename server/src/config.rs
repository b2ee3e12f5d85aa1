//! The server's configuration: an optional TOML file, then the environment variables of
//! `API.md` (which override the file), then command-line flags (which override both).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use msghub::{AccountLimits, RetrySchedule, SecretKey, WorkerConfig};
use serde::Deserialize;

/// The default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;
/// The default cap on connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// The default time a client has to send a request's headers, and the most a keep-alive
/// connection may sit idle between requests.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time a client has to send a request's whole body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The default time requests in flight get to finish once shutdown begins.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often the plugin directory is looked at for changed files by default.
pub const DEFAULT_PLUGIN_POLL: Duration = Duration::from_secs(1);
/// The default address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "./msghub-data";

/// A configuration that cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("the config file {} is not valid: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said (with the line).
        message: String,
    },
    /// A setting has a value that cannot be used.
    #[error("{setting} = '{value}' is not valid: {reason}")]
    Invalid {
        /// The variable or key, e.g. `MSGHUB_LISTEN`.
        setting: String,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
}

/// The TOML file's keys (all optional), named like the variables without `MSGHUB_`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `MSGHUB_LISTEN`.
    pub listen: Option<String>,
    /// `MSGHUB_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `MSGHUB_ADMIN_TOKEN`.
    pub admin_token: Option<String>,
    /// `MSGHUB_PLUGIN_DIR`.
    pub plugin_dir: Option<PathBuf>,
    /// `MSGHUB_ALLOW_NETWORKS`.
    pub allow_networks: Option<String>,
    /// `MSGHUB_SMTP_URL`.
    pub smtp_url: Option<String>,
    /// `MSGHUB_MAIL_FROM`.
    pub mail_from: Option<String>,
    /// `MSGHUB_MAIL_PLUGINS`: the plugins that may send mail, comma-separated.
    pub mail_plugins: Option<String>,
    /// `MSGHUB_LOCALE`: the language of the words msghub adds, `en` or `zh-CN`.
    pub locale: Option<String>,
    /// `MSGHUB_PUBLIC_URL`: the https URL the server is reached at from outside, for
    /// one-click unsubscribe links.
    pub public_url: Option<String>,
    /// `MSGHUB_PLUGIN_MEMORY_MIB`: the memory cap of one plugin call, in MiB.
    pub plugin_memory_mib: Option<u64>,
    /// `MSGHUB_PLUGIN_DEADLINE_MS`: the deadline of one plugin call, in milliseconds.
    pub plugin_deadline_ms: Option<u64>,
    /// `MSGHUB_PLUGIN_LIMITS`: caps for single plugins, e.g. `gotify.memory-mib=64`.
    pub plugin_limits: Option<String>,
    /// `MSGHUB_RETRY_SCHEDULE`.
    pub retry_schedule: Option<String>,
    /// `MSGHUB_SECRET_KEY`: base64 of 32 bytes that seal channel configurations at rest.
    pub secret_key: Option<String>,
    /// `MSGHUB_SECRET_KEY_FILE`: the file that keeps the key (generated when missing).
    pub secret_key_file: Option<PathBuf>,
    /// `MSGHUB_LOG`.
    pub log: Option<String>,
    /// `MSGHUB_LOG_FORMAT`: `text` or `json`.
    pub log_format: Option<String>,
    /// `MSGHUB_BODY_LIMIT`: the most bytes a request body may have.
    pub body_limit: Option<usize>,
    /// `MSGHUB_MAX_CONNECTIONS`: the most connections served at once.
    pub max_connections: Option<usize>,
    /// `MSGHUB_HEADER_TIMEOUT`: seconds to send a request's headers (and to idle between
    /// requests on a keep-alive connection).
    pub header_timeout: Option<u64>,
    /// `MSGHUB_BODY_TIMEOUT`: seconds to send a request's whole body.
    pub body_timeout: Option<u64>,
    /// `MSGHUB_SHUTDOWN_GRACE`: seconds that requests in flight get at shutdown.
    pub shutdown_grace: Option<u64>,
    /// `MSGHUB_SMTP_ALLOW_PLAINTEXT_AUTH`: let `smtp://` send credentials to a relay that
    /// offers no STARTTLS.
    pub smtp_allow_plaintext_auth: Option<bool>,
    /// `MSGHUB_MAX_USERS_PER_ACCOUNT`: the most users one account may have.
    pub max_users_per_account: Option<usize>,
    /// `MSGHUB_MAX_CHANNELS_PER_ACCOUNT`: the most channels one account may have.
    pub max_channels_per_account: Option<usize>,
    /// `MSGHUB_MAX_CONTACTS_PER_ACCOUNT`: the most email contacts one account may have.
    pub max_contacts_per_account: Option<usize>,
    /// `MSGHUB_DELIVERY_CONCURRENCY`: delivery attempts in flight at most.
    pub delivery_concurrency: Option<usize>,
    /// `MSGHUB_SEARCH_INDEX_MIB`: the most memory the search index may hold, in MiB.
    pub search_index_mib: Option<u64>,
    /// `MSGHUB_DELIVERY_PER_ACCOUNT`: delivery attempts of one account in flight at most.
    pub delivery_per_account: Option<usize>,
    /// `MSGHUB_DELIVERY_PER_TARGET`: delivery attempts to one channel or contact in flight
    /// at most.
    pub delivery_per_target: Option<usize>,
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In the data directory: the redb file, the operator token, the plugin cache.
    Dir(PathBuf),
    /// In memory, lost at exit (tests and demos).
    Memory,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything `msghub serve` runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address to serve on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Where the store lives.
    pub storage: Storage,
    /// The operator's token; `None` generates one on first start and keeps it in the data
    /// directory.
    pub admin_token: Option<String>,
    /// Extra channel plugins (`*.wasm`) beside the bundled ones.
    pub plugin_dir: Option<PathBuf>,
    /// Whether to load the plugins bundled with the engine.
    pub bundled_plugins: bool,
    /// Where compiled plugins are cached; `None` means `<data dir>/plugin-cache` (or no
    /// cache in memory).
    pub plugin_cache_dir: Option<PathBuf>,
    /// `MSGHUB_ALLOW_NETWORKS`.
    pub allow_networks: Option<String>,
    /// `MSGHUB_SMTP_URL`.
    pub smtp_url: Option<String>,
    /// `MSGHUB_MAIL_FROM`.
    pub mail_from: Option<String>,
    /// `MSGHUB_MAIL_PLUGINS`: the plugins granted the mail capability, comma-separated;
    /// `None` keeps the engine's default (the bundled `email` plugin).
    pub mail_plugins: Option<String>,
    /// The https URL the server is reached at from outside (`MSGHUB_PUBLIC_URL`), without
    /// a trailing slash: mail to contacts then carries a one-click unsubscribe link
    /// (RFC 8058) under it. `None`: only the mailto form.
    pub public_url: Option<String>,
    /// The memory cap of one plugin call (`MSGHUB_PLUGIN_MEMORY_MIB`); `None` keeps the
    /// engine's default (16 MiB).
    pub plugin_memory_limit: Option<usize>,
    /// The deadline of one plugin call (`MSGHUB_PLUGIN_DEADLINE_MS`); `None` keeps the
    /// engine's default (10 s).
    pub plugin_call_deadline: Option<Duration>,
    /// The caps of single plugins (`MSGHUB_PLUGIN_LIMITS`), in place of the two above.
    pub plugin_caps: std::collections::BTreeMap<String, msghub::plugin::PluginCaps>,
    /// How often the plugin directory is looked at for files added, replaced or removed.
    pub plugin_poll: Duration,
    /// The delay before each delivery attempt.
    pub retry_schedule: RetrySchedule,
    /// The key that seals channel configurations at rest; it wins over `secret_key_file`.
    pub secret_key: Option<SecretKey>,
    /// The file that keeps the sealing key, generated (0600) when missing; `None` means
    /// `<data dir>/secret-key` (an in-memory store without a key keeps them plain).
    pub secret_key_file: Option<PathBuf>,
    /// The tracing filter.
    pub log: String,
    /// The log line format.
    pub log_format: LogFormat,
    /// The most bytes a request body may have.
    pub body_limit: usize,
    /// The most connections served at once; further clients wait in the listen backlog
    /// until one closes, so memory stays bounded whatever the number of clients.
    pub max_connections: usize,
    /// The time a client has to send a request's headers, counted from the connection's
    /// start or the end of its previous answer (so it also closes idle keep-alive
    /// connections).
    pub header_timeout: Duration,
    /// The time a client has to send a request's whole body, counted from its headers.
    pub body_timeout: Duration,
    /// The time requests in flight get to finish once shutdown begins; then the server
    /// closes the connections that remain and stops.
    pub shutdown_grace: Duration,
    /// Whether `smtp://` may send credentials to a relay that offers no STARTTLS.
    pub smtp_allow_plaintext_auth: bool,
    /// The most users, channels and contacts one account may have
    /// (`MSGHUB_MAX_USERS_PER_ACCOUNT`, `MSGHUB_MAX_CHANNELS_PER_ACCOUNT`,
    /// `MSGHUB_MAX_CONTACTS_PER_ACCOUNT`); one more is a 409 `limit_reached`.
    pub account_limits: AccountLimits,
    /// The most memory the search index may hold, in bytes (`MSGHUB_SEARCH_INDEX_MIB`);
    /// past it, messages are searched by reading them.
    pub search_index_bytes: u64,
    /// How the delivery workers share their call slots (`MSGHUB_DELIVERY_CONCURRENCY`,
    /// `MSGHUB_DELIVERY_PER_ACCOUNT`, `MSGHUB_DELIVERY_PER_TARGET`).
    pub workers: WorkerConfig,
}

impl ServerConfig {
    /// The defaults of `API.md`: 127.0.0.1:8080, `./msghub-data`, bundled plugins.
    pub fn new() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            storage: Storage::Dir(PathBuf::from(DEFAULT_DATA_DIR)),
            admin_token: None,
            plugin_dir: None,
            bundled_plugins: true,
            plugin_cache_dir: None,
            allow_networks: None,
            smtp_url: None,
            mail_from: None,
            mail_plugins: None,
            public_url: None,
            plugin_memory_limit: None,
            plugin_call_deadline: None,
            plugin_caps: std::collections::BTreeMap::new(),
            plugin_poll: DEFAULT_PLUGIN_POLL,
            retry_schedule: RetrySchedule::default(),
            secret_key: None,
            secret_key_file: None,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            body_limit: DEFAULT_BODY_LIMIT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            smtp_allow_plaintext_auth: false,
            account_limits: AccountLimits::default(),
            search_index_bytes: msghub::DEFAULT_SEARCH_INDEX_BYTES,
            workers: WorkerConfig::default(),
        }
    }

    /// Sets the language of the words msghub adds to deliveries whose channel, contact and
    /// account name none.
    pub fn set_locale(&mut self, setting: &str, locale: &str) -> Result<(), ConfigError> {
        let locale = locale.trim();
        if !msghub::LOCALES.contains(&locale) {
            return Err(ConfigError::Invalid {
                setting: setting.into(),
                value: locale.into(),
                reason: format!("use one of {}", msghub::LOCALES.join(", ")),
            });
        }
        self.workers.locale = locale.to_owned();
        Ok(())
    }

    /// Sets the public URL of the server: an absolute `https://` URL with a host, without a
    /// query or fragment (`http://` only for a loopback host, for tests).
    pub fn set_public_url(&mut self, setting: &str, url: &str) -> Result<(), ConfigError> {
        let invalid = |reason: &str| ConfigError::Invalid {
            setting: setting.into(),
            value: url.into(),
            reason: reason.into(),
        };
        let parsed = url::Url::parse(url.trim()).map_err(|e| {
            invalid(&format!(
                "{e}; write the address people reach the server at, e.g. https://hub.example.com"
            ))
        })?;
        let loopback = matches!(
            parsed.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        ) || parsed.host_str() == Some("localhost");
        let scheme_ok = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
        if !scheme_ok || parsed.host_str().is_none() {
            return Err(invalid(
                "one-click unsubscribe (RFC 8058) needs an https:// URL with a host, e.g. \
                 https://hub.example.com",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty()
        {
            return Err(invalid(
                "give the server's base address without credentials, query or fragment",
            ));
        }
        self.public_url = Some(parsed.as_str().trim_end_matches('/').to_owned());
        Ok(())
    }

    /// An in-memory server on a free loopback port: for tests.
    pub fn ephemeral() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage: Storage::Memory,
            ..ServerConfig::new()
        }
    }

    /// The defaults, overridden by the file at `file` (if any), then by the environment.
    pub fn load(file: Option<&Path>) -> Result<ServerConfig, ConfigError> {
        let file_config = match file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = ServerConfig::new();
        let pick = |var: &str, from_file: Option<String>| env(var).or(from_file);
        if let Some(listen) = pick("MSGHUB_LISTEN", file_config.listen) {
            config.set_listen("MSGHUB_LISTEN", &listen)?;
        }
        if let Some(dir) = env("MSGHUB_DATA_DIR")
            .map(PathBuf::from)
            .or(file_config.data_dir)
        {
            config.storage = Storage::Dir(dir);
        }
        config.admin_token = pick("MSGHUB_ADMIN_TOKEN", file_config.admin_token);
        config.plugin_dir = env("MSGHUB_PLUGIN_DIR")
            .map(PathBuf::from)
            .or(file_config.plugin_dir);
        config.allow_networks = pick("MSGHUB_ALLOW_NETWORKS", file_config.allow_networks);
        config.smtp_url = pick("MSGHUB_SMTP_URL", file_config.smtp_url);
        config.mail_from = pick("MSGHUB_MAIL_FROM", file_config.mail_from);
        config.mail_plugins = pick("MSGHUB_MAIL_PLUGINS", file_config.mail_plugins);
        if let Some(locale) = pick("MSGHUB_LOCALE", file_config.locale) {
            config.set_locale("MSGHUB_LOCALE", &locale)?;
        }
        if let Some(url) = pick("MSGHUB_PUBLIC_URL", file_config.public_url) {
            config.set_public_url("MSGHUB_PUBLIC_URL", &url)?;
        }
        if let Some(mib) = pick(
            "MSGHUB_PLUGIN_MEMORY_MIB",
            file_config.plugin_memory_mib.map(|n| n.to_string()),
        ) {
            config.set_plugin_memory("MSGHUB_PLUGIN_MEMORY_MIB", &mib)?;
        }
        if let Some(ms) = pick(
            "MSGHUB_PLUGIN_DEADLINE_MS",
            file_config.plugin_deadline_ms.map(|n| n.to_string()),
        ) {
            config.set_plugin_deadline("MSGHUB_PLUGIN_DEADLINE_MS", &ms)?;
        }
        if let Some(limits) = pick("MSGHUB_PLUGIN_LIMITS", file_config.plugin_limits) {
            config.plugin_caps =
                msghub::plugin::config::parse_plugin_caps(&limits).map_err(plugin_limit)?;
        }
        if let Some(schedule) = pick("MSGHUB_RETRY_SCHEDULE", file_config.retry_schedule) {
            config.retry_schedule =
                RetrySchedule::parse(&schedule).map_err(|e| ConfigError::Invalid {
                    setting: "MSGHUB_RETRY_SCHEDULE".into(),
                    value: schedule.clone(),
                    reason: reason_of(e),
                })?;
        }
        if let Some(key) = pick("MSGHUB_SECRET_KEY", file_config.secret_key) {
            config.secret_key =
                Some(
                    SecretKey::from_base64(&key).map_err(|e| ConfigError::Invalid {
                        setting: "MSGHUB_SECRET_KEY".into(),
                        value: "***".into(),
                        reason: reason_of(e),
                    })?,
                );
        }
        config.secret_key_file = env("MSGHUB_SECRET_KEY_FILE")
            .map(PathBuf::from)
            .or(file_config.secret_key_file);
        if let Some(log) = pick("MSGHUB_LOG", file_config.log) {
            config.log = log;
        }
        if let Some(format) = pick("MSGHUB_LOG_FORMAT", file_config.log_format) {
            config.log_format = match format.trim() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => {
                    return Err(ConfigError::Invalid {
                        setting: "MSGHUB_LOG_FORMAT".into(),
                        value: other.into(),
                        reason: "use text or json".into(),
                    });
                }
            };
        }
        let limit = match env("MSGHUB_BODY_LIMIT") {
            Some(text) => Some(text.trim().parse().map_err(|_| ConfigError::Invalid {
                setting: "MSGHUB_BODY_LIMIT".into(),
                value: text.clone(),
                reason: "use a number of bytes such as 1048576".into(),
            })?),
            None => file_config.body_limit,
        };
        if let Some(limit) = limit {
            config.body_limit = limit;
        }
        if let Some(mib) = number::<u64>(
            "MSGHUB_SEARCH_INDEX_MIB",
            env("MSGHUB_SEARCH_INDEX_MIB"),
            file_config.search_index_mib,
            "use a whole number of MiB from 0 (no index) to 1048576, such as 256",
        )? {
            if mib > 1 << 20 {
                return Err(ConfigError::Invalid {
                    setting: "MSGHUB_SEARCH_INDEX_MIB".into(),
                    value: mib.to_string(),
                    reason: "use a whole number of MiB from 0 (no index) to 1048576, such as 256"
                        .into(),
                });
            }
            config.search_index_bytes = mib << 20;
        }
        let connections = number(
            "MSGHUB_MAX_CONNECTIONS",
            env("MSGHUB_MAX_CONNECTIONS"),
            file_config.max_connections,
            "use a whole number of connections of at least 1, such as 4096",
        )?;
        if let Some(connections) = connections {
            if connections == 0 {
                return Err(ConfigError::Invalid {
                    setting: "MSGHUB_MAX_CONNECTIONS".into(),
                    value: "0".into(),
                    reason: "use a whole number of connections of at least 1, such as 4096".into(),
                });
            }
            config.max_connections = connections;
        }
        for (setting, from_file, target) in [
            (
                "MSGHUB_HEADER_TIMEOUT",
                file_config.header_timeout,
                &mut config.header_timeout,
            ),
            (
                "MSGHUB_BODY_TIMEOUT",
                file_config.body_timeout,
                &mut config.body_timeout,
            ),
            (
                "MSGHUB_SHUTDOWN_GRACE",
                file_config.shutdown_grace,
                &mut config.shutdown_grace,
            ),
        ] {
            let seconds = number(
                setting,
                env(setting),
                from_file,
                "use a whole number of seconds of at least 1, such as 10",
            )?;
            match seconds {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        setting: setting.into(),
                        value: "0".into(),
                        reason: "use a whole number of seconds of at least 1, such as 10".into(),
                    });
                }
                Some(seconds) => *target = Duration::from_secs(seconds),
                None => {}
            }
        }
        let limits = AccountLimits::default();
        let workers = WorkerConfig::default();
        // Counts that must be at least 1: (setting, from the file, where it goes, default).
        for (setting, from_file, target, default) in [
            (
                "MSGHUB_MAX_USERS_PER_ACCOUNT",
                file_config.max_users_per_account,
                &mut config.account_limits.users,
                limits.users,
            ),
            (
                "MSGHUB_MAX_CHANNELS_PER_ACCOUNT",
                file_config.max_channels_per_account,
                &mut config.account_limits.channels,
                limits.channels,
            ),
            (
                "MSGHUB_MAX_CONTACTS_PER_ACCOUNT",
                file_config.max_contacts_per_account,
                &mut config.account_limits.contacts,
                limits.contacts,
            ),
            (
                "MSGHUB_DELIVERY_CONCURRENCY",
                file_config.delivery_concurrency,
                &mut config.workers.concurrency,
                workers.concurrency,
            ),
            (
                "MSGHUB_DELIVERY_PER_ACCOUNT",
                file_config.delivery_per_account,
                &mut config.workers.per_account,
                workers.per_account,
            ),
            (
                "MSGHUB_DELIVERY_PER_TARGET",
                file_config.delivery_per_target,
                &mut config.workers.per_target,
                workers.per_target,
            ),
        ] {
            let reason = format!("use a whole number of at least 1 (the default is {default})");
            match number(setting, env(setting), from_file, &reason)? {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        setting: setting.into(),
                        value: "0".into(),
                        reason,
                    });
                }
                Some(count) => *target = count,
                None => {}
            }
        }
        if let Some(allow) = pick(
            "MSGHUB_SMTP_ALLOW_PLAINTEXT_AUTH",
            file_config.smtp_allow_plaintext_auth.map(|b| b.to_string()),
        ) {
            config.smtp_allow_plaintext_auth = match allow.trim() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                other => {
                    return Err(ConfigError::Invalid {
                        setting: "MSGHUB_SMTP_ALLOW_PLAINTEXT_AUTH".into(),
                        value: other.into(),
                        reason: "use true or false".into(),
                    });
                }
            };
        }
        Ok(config)
    }

    /// Sets the address from text such as `127.0.0.1:8080`, naming `setting` in errors.
    pub fn set_listen(&mut self, setting: &str, text: &str) -> Result<(), ConfigError> {
        self.listen = text.trim().parse().map_err(|_| ConfigError::Invalid {
            setting: setting.into(),
            value: text.into(),
            reason: "use host:port with an IP address, e.g. 127.0.0.1:8080 or [::]:8080".into(),
        })?;
        Ok(())
    }

    /// Sets the memory cap of one plugin call from text in MiB, naming `setting` in errors.
    pub fn set_plugin_memory(&mut self, setting: &str, text: &str) -> Result<(), ConfigError> {
        self.plugin_memory_limit =
            Some(msghub::plugin::config::parse_memory_mib(setting, text).map_err(plugin_limit)?);
        Ok(())
    }

    /// Sets the deadline of one plugin call from text in milliseconds, naming `setting` in
    /// errors.
    pub fn set_plugin_deadline(&mut self, setting: &str, text: &str) -> Result<(), ConfigError> {
        self.plugin_call_deadline =
            Some(msghub::plugin::config::parse_deadline_ms(setting, text).map_err(plugin_limit)?);
        Ok(())
    }

    /// The plugin host's configuration.
    pub fn plugin_config(&self) -> Result<msghub::plugin::PluginConfig, ConfigError> {
        let mut config = msghub::plugin::PluginConfig::default();
        if let Some(memory) = self.plugin_memory_limit {
            config.memory_limit = memory;
        }
        if let Some(deadline) = self.plugin_call_deadline {
            config.call_deadline = deadline;
        }
        config.plugin_caps = self.plugin_caps.clone();
        if let Some(networks) = &self.allow_networks {
            config.allow_networks =
                msghub::plugin::config::parse_networks(networks).map_err(|e| {
                    ConfigError::Invalid {
                        setting: "MSGHUB_ALLOW_NETWORKS".into(),
                        value: networks.clone(),
                        reason: e.to_string(),
                    }
                })?;
        }
        config.smtp_url = self.smtp_url.clone();
        config.smtp_allow_plaintext_auth = self.smtp_allow_plaintext_auth;
        if let Some(from) = &self.mail_from {
            config.mail_from = from.clone();
        }
        if let Some(plugins) = &self.mail_plugins {
            config.mail_plugins = msghub::plugin::config::parse_plugin_names(plugins);
        }
        config.cache_dir = match (&self.plugin_cache_dir, &self.storage) {
            (Some(dir), _) => Some(dir.clone()),
            (None, Storage::Dir(dir)) => Some(dir.join("plugin-cache")),
            (None, Storage::Memory) => None,
        };
        Ok(config)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// A number from the variable `setting` (when set) or else from the file.
fn number<T: std::str::FromStr>(
    setting: &str,
    from_env: Option<String>,
    from_file: Option<T>,
    reason: &str,
) -> Result<Option<T>, ConfigError> {
    match from_env {
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Invalid {
                setting: setting.into(),
                value: text.clone(),
                reason: reason.into(),
            }),
        None => Ok(from_file),
    }
}

/// The engine's explanation of a refused setting, without its field prefix.
/// A plugin limit the engine refused, as a setting the server names.
fn plugin_limit(error: msghub::plugin::ConfigError) -> ConfigError {
    match error {
        msghub::plugin::ConfigError::InvalidLimit {
            setting,
            value,
            allowed,
        } => ConfigError::Invalid {
            setting,
            value,
            reason: format!("use {allowed}"),
        },
        other => ConfigError::Invalid {
            setting: "MSGHUB_PLUGIN_LIMITS".into(),
            value: String::new(),
            reason: other.to_string(),
        },
    }
}

fn reason_of(error: msghub::Error) -> String {
    match error {
        msghub::Error::InvalidArgument { message, .. } => message,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_retry_schedule_is_the_contract_s() {
        let s = ServerConfig::new().retry_schedule;
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.delays()[2], std::time::Duration::from_secs(300));
        assert_eq!(s.delays()[7], std::time::Duration::from_secs(36_000));
    }

    #[test]
    fn the_public_url_must_be_https_and_the_locale_supported() {
        let mut config = ServerConfig::new();
        config
            .set_public_url("MSGHUB_PUBLIC_URL", "https://hub.example.com/msghub/")
            .unwrap();
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://hub.example.com/msghub")
        );
        config
            .set_public_url("MSGHUB_PUBLIC_URL", "http://127.0.0.1:8080")
            .unwrap();
        for bad in [
            "http://hub.example.com",
            "hub.example.com",
            "https://user:pw@hub.example.com",
            "https://hub.example.com/?a=1",
        ] {
            let e = config
                .set_public_url("MSGHUB_PUBLIC_URL", bad)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("MSGHUB_PUBLIC_URL = "), "{bad}: {e}");
        }
        config.set_locale("MSGHUB_LOCALE", "zh-CN").unwrap();
        assert_eq!(config.workers.locale, "zh-CN");
        let e = config.set_locale("MSGHUB_LOCALE", "fr").unwrap_err();
        assert!(e.to_string().contains("use one of en, zh-CN"), "{e}");
    }

    #[test]
    fn account_limits_are_read_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("msghub.toml");
        std::fs::write(
            &file,
            "max_users_per_account = 5\nmax_channels_per_account = 6\n\
             max_contacts_per_account = 7\n",
        )
        .unwrap();
        let limits = ServerConfig::load(Some(&file)).unwrap().account_limits;
        assert_eq!((limits.users, limits.channels, limits.contacts), (5, 6, 7));
    }

    #[test]
    fn an_account_limit_of_zero_in_the_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("msghub.toml");
        std::fs::write(&file, "max_channels_per_account = 0\n").unwrap();
        let e = ServerConfig::load(Some(&file)).unwrap_err().to_string();
        assert!(e.contains("MSGHUB_MAX_CHANNELS_PER_ACCOUNT = '0'"), "{e}");
        assert!(e.contains("at least 1 (the default is 1000)"), "{e}");
    }

    #[test]
    fn delivery_slots_are_read_from_the_file_and_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("msghub.toml");
        std::fs::write(
            &file,
            "delivery_concurrency = 32\ndelivery_per_account = 4\ndelivery_per_target = 2\n",
        )
        .unwrap();
        let workers = ServerConfig::load(Some(&file)).unwrap().workers;
        assert_eq!(
            (workers.concurrency, workers.per_account, workers.per_target),
            (32, 4, 2)
        );
        std::fs::write(&file, "delivery_per_account = 0\n").unwrap();
        let e = ServerConfig::load(Some(&file)).unwrap_err().to_string();
        assert!(e.contains("MSGHUB_DELIVERY_PER_ACCOUNT = '0'"), "{e}");
        assert!(e.contains("(the default is 16)"), "{e}");
    }

    #[test]
    fn the_search_index_budget_is_read_from_the_file_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("msghub.toml");
        assert_eq!(
            ServerConfig::load(None).unwrap().search_index_bytes,
            256 << 20
        );
        std::fs::write(&file, "search_index_mib = 64\n").unwrap();
        assert_eq!(
            ServerConfig::load(Some(&file)).unwrap().search_index_bytes,
            64 << 20
        );
        std::fs::write(&file, "search_index_mib = 0\n").unwrap();
        assert_eq!(
            ServerConfig::load(Some(&file)).unwrap().search_index_bytes,
            0
        );
        std::fs::write(&file, "search_index_mib = 2000000\n").unwrap();
        let e = ServerConfig::load(Some(&file)).unwrap_err().to_string();
        assert!(e.contains("MSGHUB_SEARCH_INDEX_MIB"), "{e}");
        assert!(e.contains("0 (no index) to 1048576"), "{e}");
    }

    #[test]
    fn unknown_file_keys_are_refused_by_name() {
        let e = toml::from_str::<FileConfig>("lisen = \"x\"").unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
    }
}
