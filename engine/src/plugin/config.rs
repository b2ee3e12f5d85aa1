//! The plugin host's knobs, with the defaults of DESIGN.md and the operator's environment
//! (`MSGHUB_ALLOW_NETWORKS`, `MSGHUB_SMTP_URL`, `MSGHUB_MAIL_FROM`, `MSGHUB_PLUGIN_MEMORY_MIB`,
//! `MSGHUB_PLUGIN_DEADLINE_MS`, `MSGHUB_PLUGIN_LIMITS`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::error::ConfigError;

/// How the plugin host runs plugins. `Default` gives the documented defaults and no
/// allow-listed networks, no SMTP relay and no compilation cache.
///
/// Host memory per call: besides the guest's own linear memory (`memory_limit`), one call
/// can make the host hold at most about `max_handles_per_call` header maps of
/// `header_bytes_per_map` each (8 MiB with the defaults), `response_bytes_per_call` of
/// answers (4 MiB), and the buffers of `max_requests_in_flight` connections: with the
/// defaults, at most about 16 MiB per call beyond the guest's memory cap, so
/// `max_concurrent_calls` calls hold at most about 2 GiB (guest memory included).
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// The most one call (`info`, `validate-config`, `send`) may take; default 10 s
    /// (`MSGHUB_PLUGIN_DEADLINE_MS`). A plugin that states a shorter need gets that.
    pub call_deadline: Duration,
    /// The most linear memory one plugin instance may use; default 16 MiB
    /// (`MSGHUB_PLUGIN_MEMORY_MIB`). A plugin that states a smaller need gets that. A
    /// digest goes to a plugin in parts of at most a sixteenth of its memory in stored bytes.
    pub memory_limit: usize,
    /// The operator's caps for single plugins, by plugin name, in place of `call_deadline`
    /// and `memory_limit` (`MSGHUB_PLUGIN_LIMITS`): to give one plugin more (or less) than
    /// the others.
    pub plugin_caps: BTreeMap<String, PluginCaps>,
    /// How many calls may run at once, across all plugins; default 64. Sizes the pooling
    /// allocator: further calls wait for a free slot.
    pub max_concurrent_calls: u32,
    /// Networks every plugin may reach over http or https, although they are loopback or
    /// private or outside the plugin's declared hosts (`MSGHUB_ALLOW_NETWORKS`).
    pub allow_networks: Vec<IpNet>,
    /// The SMTP relay for the `mail` import (`MSGHUB_SMTP_URL`): `smtp://[user:pass@]host:port`
    /// (STARTTLS when the relay offers it) or `smtps://...` (implicit TLS). `None`: mail fails
    /// with a clear error. With credentials, `smtp://` requires STARTTLS unless
    /// [`PluginConfig::smtp_allow_plaintext_auth`] says otherwise.
    pub smtp_url: Option<String>,
    /// Whether credentials of an `smtp://` relay may go in plain text to a relay that
    /// offers no STARTTLS (`MSGHUB_SMTP_ALLOW_PLAINTEXT_AUTH`); default `false`, because
    /// anyone on the path would read the password. Only for a relay on a trusted link.
    pub smtp_allow_plaintext_auth: bool,
    /// The From address of mail (`MSGHUB_MAIL_FROM`); default `msghub@localhost`. The host
    /// sets it as the From header of every mail, whatever the plugin wrote there.
    pub mail_from: String,
    /// The plugins that may send mail (`MSGHUB_MAIL_PLUGINS`, comma-separated); default
    /// the bundled `email`. They may mail only during `send`, only to the delivery's
    /// recipients and the addresses the channel's configuration names, at most 100
    /// recipients per delivery.
    pub mail_plugins: Vec<String>,
    /// The most bytes of a response body a plugin may read; default 1 MiB.
    pub response_body_limit: usize,
    /// The most bytes of response bodies one call may hold together, however many requests
    /// it makes; default 4 MiB. Answers past it fail with a body-size error.
    pub response_bytes_per_call: usize,
    /// The most HTTP requests one call may make; default 32. Further requests are refused.
    pub max_requests_per_call: u32,
    /// The most HTTP requests of one call under way at once; default 8. Further requests
    /// wait for one to finish.
    pub max_requests_in_flight: u32,
    /// The most host resources (header maps, requests, responses, streams: the handles of
    /// `wasi:http` and `wasi:io`) one call may hold at once; default 512. A plugin that
    /// holds more is stopped.
    pub max_handles_per_call: usize,
    /// The most bytes one header map may take in the host (names, values and their
    /// bookkeeping); default 16 KiB. A larger map is refused to the plugin.
    pub header_bytes_per_map: usize,
    /// The most idle connections the shared client keeps open per target host; default 8.
    pub idle_connections_per_host: usize,
    /// The most a TCP (and TLS) connection may take to open; default 5 s.
    pub connect_timeout: Duration,
    /// The most the target may take to start answering (counted from the start of the
    /// request, connecting included, so keep it above `connect_timeout`), and to send each
    /// next part of the body; default 10 s.
    pub response_timeout: Duration,
    /// Where compiled plugins are kept between restarts; `None` compiles at every start.
    /// The directory must be writable only by the operator: its files are loaded as code.
    pub cache_dir: Option<PathBuf>,
    /// For trying a plugin out locally (`msghub plugin send --capture`), never for a server:
    /// every request a plugin is allowed to make goes to this address over plain http
    /// instead of its URL's host, with the URL it asked for in the header
    /// [`CAPTURE_URL_HEADER`]. The declared-hosts rule still applies to the URL; the address
    /// itself must be allow-listed.
    pub divert_to: Option<std::net::SocketAddr>,
}

/// The header that carries a diverted request's own URL ([`PluginConfig::divert_to`]).
pub const CAPTURE_URL_HEADER: &str = "x-msghub-capture-url";

impl Default for PluginConfig {
    fn default() -> Self {
        PluginConfig {
            call_deadline: Duration::from_secs(10),
            memory_limit: 16 << 20,
            plugin_caps: BTreeMap::new(),
            max_concurrent_calls: 64,
            allow_networks: Vec::new(),
            smtp_url: None,
            smtp_allow_plaintext_auth: false,
            mail_from: "msghub@localhost".to_owned(),
            mail_plugins: vec!["email".to_owned()],
            response_body_limit: 1 << 20,
            response_bytes_per_call: 4 << 20,
            max_requests_per_call: 32,
            max_requests_in_flight: 8,
            max_handles_per_call: 512,
            header_bytes_per_map: 16 << 10,
            idle_connections_per_host: 8,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
            cache_dir: None,
            divert_to: None,
        }
    }
}

impl PluginConfig {
    /// The defaults, overridden by `MSGHUB_ALLOW_NETWORKS`, `MSGHUB_SMTP_URL`,
    /// `MSGHUB_SMTP_ALLOW_PLAINTEXT_AUTH` (`true` to allow), `MSGHUB_MAIL_FROM` and
    /// `MSGHUB_MAIL_PLUGINS` where they are set.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config = PluginConfig::default();
        if let Ok(networks) = std::env::var("MSGHUB_ALLOW_NETWORKS") {
            config.allow_networks = parse_networks(&networks)?;
        }
        if let Ok(url) = std::env::var("MSGHUB_SMTP_URL")
            && !url.trim().is_empty()
        {
            config.smtp_url = Some(url.trim().to_owned());
        }
        if let Ok(allow) = std::env::var("MSGHUB_SMTP_ALLOW_PLAINTEXT_AUTH") {
            config.smtp_allow_plaintext_auth = allow.trim() == "true";
        }
        if let Ok(from) = std::env::var("MSGHUB_MAIL_FROM")
            && !from.trim().is_empty()
        {
            config.mail_from = from.trim().to_owned();
        }
        if let Ok(plugins) = std::env::var("MSGHUB_MAIL_PLUGINS") {
            config.mail_plugins = parse_plugin_names(&plugins);
        }
        if let Ok(mib) = std::env::var("MSGHUB_PLUGIN_MEMORY_MIB")
            && !mib.trim().is_empty()
        {
            config.memory_limit = parse_memory_mib("MSGHUB_PLUGIN_MEMORY_MIB", &mib)?;
        }
        if let Ok(ms) = std::env::var("MSGHUB_PLUGIN_DEADLINE_MS")
            && !ms.trim().is_empty()
        {
            config.call_deadline = parse_deadline_ms("MSGHUB_PLUGIN_DEADLINE_MS", &ms)?;
        }
        if let Ok(limits) = std::env::var("MSGHUB_PLUGIN_LIMITS") {
            config.plugin_caps = parse_plugin_caps(&limits)?;
        }
        Ok(config)
    }

    /// The operator's caps for the plugin named `plugin`: its entry of
    /// [`PluginConfig::plugin_caps`], else the host-wide ones.
    pub fn caps_for(&self, plugin: &str) -> (usize, Duration) {
        let own = self.plugin_caps.get(plugin).copied().unwrap_or_default();
        (
            own.memory_limit.unwrap_or(self.memory_limit),
            own.call_deadline.unwrap_or(self.call_deadline),
        )
    }

    /// The largest memory cap of any plugin: what the instance pool must hold.
    pub(crate) fn largest_memory_limit(&self) -> usize {
        self.plugin_caps
            .values()
            .filter_map(|caps| caps.memory_limit)
            .fold(self.memory_limit, usize::max)
    }

    /// Allow-lists `networks`, comma-separated CIDRs as in `MSGHUB_ALLOW_NETWORKS`.
    pub fn allow_networks(mut self, networks: &str) -> Result<Self, ConfigError> {
        self.allow_networks = parse_networks(networks)?;
        Ok(self)
    }
}

/// The operator's caps for one plugin; `None` keeps the host-wide cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginCaps {
    /// In place of [`PluginConfig::memory_limit`].
    pub memory_limit: Option<usize>,
    /// In place of [`PluginConfig::call_deadline`].
    pub call_deadline: Option<Duration>,
}

/// The memory caps an operator may set, in MiB: a WebAssembly memory holds at most 4 GiB.
const MEMORY_MIB: std::ops::RangeInclusive<u64> = 1..=4096;
/// The deadlines an operator may set, in milliseconds: up to ten minutes.
const DEADLINE_MS: std::ops::RangeInclusive<u64> = 1..=600_000;

/// Parses a memory cap in MiB (`MSGHUB_PLUGIN_MEMORY_MIB`), naming `setting` in the error.
pub fn parse_memory_mib(setting: &str, text: &str) -> Result<usize, ConfigError> {
    parse_in(setting, text, MEMORY_MIB, "MiB, e.g. 64")
        .and_then(|mib| usize::try_from(mib << 20).map_err(|_| too_large(setting, text)))
}

/// Parses a call deadline in milliseconds (`MSGHUB_PLUGIN_DEADLINE_MS`), naming `setting` in
/// the error.
pub fn parse_deadline_ms(setting: &str, text: &str) -> Result<Duration, ConfigError> {
    parse_in(setting, text, DEADLINE_MS, "milliseconds, e.g. 30000").map(Duration::from_millis)
}

fn parse_in(
    setting: &str,
    text: &str,
    range: std::ops::RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, ConfigError> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigError::InvalidLimit {
            setting: setting.to_owned(),
            value: text.to_owned(),
            allowed: format!(
                "a whole number of {unit}, from {} to {}",
                range.start(),
                range.end()
            ),
        })
}

fn too_large(setting: &str, text: &str) -> ConfigError {
    ConfigError::InvalidLimit {
        setting: setting.to_owned(),
        value: text.to_owned(),
        allowed: "a memory this machine can address".to_owned(),
    }
}

/// Parses per-plugin caps as in `MSGHUB_PLUGIN_LIMITS`: comma-separated
/// `NAME.memory-mib=N` and `NAME.deadline-ms=N`, e.g.
/// `gotify.memory-mib=64, gotify.deadline-ms=30000, ntfy.memory-mib=32`.
pub fn parse_plugin_caps(text: &str) -> Result<BTreeMap<String, PluginCaps>, ConfigError> {
    let mut caps: BTreeMap<String, PluginCaps> = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let unusable = || ConfigError::InvalidLimit {
            setting: "MSGHUB_PLUGIN_LIMITS".to_owned(),
            value: item.to_owned(),
            allowed: "NAME.memory-mib=N or NAME.deadline-ms=N, comma-separated, e.g. \
                      gotify.memory-mib=64,gotify.deadline-ms=30000"
                .to_owned(),
        };
        let (key, value) = item.split_once('=').ok_or_else(unusable)?;
        let (plugin, knob) = key.trim().rsplit_once('.').ok_or_else(unusable)?;
        if plugin.is_empty() {
            return Err(unusable());
        }
        let setting = format!("MSGHUB_PLUGIN_LIMITS {}", key.trim());
        let entry = caps.entry(plugin.to_owned()).or_default();
        match knob {
            "memory-mib" => entry.memory_limit = Some(parse_memory_mib(&setting, value)?),
            "deadline-ms" => entry.call_deadline = Some(parse_deadline_ms(&setting, value)?),
            _ => return Err(unusable()),
        }
    }
    Ok(caps)
}

/// Parses comma-separated plugin names, as in `MSGHUB_MAIL_PLUGINS`; blanks are skipped.
pub fn parse_plugin_names(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses comma-separated CIDRs (`127.0.0.0/8, ::1/128`); a bare address is its own /32 or
/// /128.
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| ConfigError::InvalidNetwork {
                    value: item.to_owned(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_takes_cidrs_and_bare_addresses() {
        let nets = parse_networks(" 127.0.0.0/8, ::1 ,10.1.2.3").unwrap();
        let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.0/8", "::1/128", "10.1.2.3/32"]);
    }

    #[test]
    fn per_plugin_caps_replace_the_host_wide_ones_for_that_plugin_only() {
        let config = PluginConfig {
            plugin_caps: parse_plugin_caps(
                " gotify.memory-mib=64, gotify.deadline-ms=30000,ntfy.memory-mib=8",
            )
            .unwrap(),
            ..PluginConfig::default()
        };
        assert_eq!(
            config.caps_for("gotify"),
            (64 << 20, Duration::from_secs(30))
        );
        assert_eq!(config.caps_for("ntfy"), (8 << 20, Duration::from_secs(10)));
        assert_eq!(
            config.caps_for("slack"),
            (16 << 20, Duration::from_secs(10))
        );
        assert_eq!(config.largest_memory_limit(), 64 << 20);
    }

    #[test]
    fn unusable_limits_name_the_setting_and_what_is_allowed() {
        let e = parse_plugin_caps("gotify.memory=64")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("gotify.memory=64") && e.contains("NAME.memory-mib=N"),
            "{e}"
        );
        let e = parse_plugin_caps("gotify.memory-mib=0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("from 1 to 4096"), "{e}");
        let e = parse_deadline_ms("MSGHUB_PLUGIN_DEADLINE_MS", "soon")
            .unwrap_err()
            .to_string();
        assert!(e.contains("MSGHUB_PLUGIN_DEADLINE_MS"), "{e}");
    }

    #[test]
    fn allow_list_names_the_entry_it_cannot_read() {
        let e = parse_networks("127.0.0.0/8,localhost").unwrap_err();
        assert!(e.to_string().contains("'localhost'"), "{e}");
    }
}
