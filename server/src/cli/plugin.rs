//! `msghub plugin list|validate|send|wit`: the plugin host run locally on plugin files, for
//! plugin authors and for operators checking a channel configuration before using it.
//! Compiled plugins are kept in the user's cache directory ([`cache_dir`]), the same
//! compilation cache the server keeps in its data directory.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use msghub::ChannelHost;
use msghub::plugin::{
    Delivery, DeliveryKind, PluginConfig, PluginInfo, PluginLimits, PluginRegistry, Recipient,
};
use msghub::{Category, Engine, NewMessage, Principal, Severity};
use msghub_bundled::BundledPlugins as _;
use serde_json::{Value, json};

use super::capture::Capture;
use super::table::{render, truncate};

/// `msghub plugin ...`. The sandbox reads MSGHUB_ALLOW_NETWORKS, MSGHUB_SMTP_URL,
/// MSGHUB_MAIL_FROM, MSGHUB_PLUGIN_MEMORY_MIB, MSGHUB_PLUGIN_DEADLINE_MS and
/// MSGHUB_PLUGIN_LIMITS like the server does. Compiled plugins are cached in
/// $XDG_CACHE_HOME/msghub/plugins (or ~/.cache/msghub/plugins), so that the second run on
/// the same file starts at once.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the bundled plugins (and those of --plugins DIR).
    List {
        /// Also load the *.wasm files of this directory.
        #[arg(long, value_name = "DIR", env = "MSGHUB_PLUGIN_DIR")]
        plugins: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load a plugin file and print what it declares; with --config, also ask it whether
    /// that channel configuration is valid.
    Validate {
        /// The plugin component (.wasm).
        file: PathBuf,
        /// A channel configuration: JSON text, or @FILE to read it from a file.
        #[arg(long)]
        config: Option<String>,
        /// Also print the configuration's JSON Schema.
        #[arg(long)]
        schema: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Show the plugin's log, stdout and stderr, the sandbox's refusals and whether the
        /// compile cache served.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Send sample messages through a plugin with a channel configuration (a real send,
    /// unless --capture) and print the outcome.
    Send(Box<SendArgs>),
    /// Write the plugin contract (the WIT package `msghub:notifier` and the WASI packages it
    /// uses) into DIR, for toolchains that generate bindings from WIT files
    /// (componentize-py, componentize-js, wit-bindgen).
    Wit {
        /// Where to write `notifier.wit` and `deps/`; created if missing.
        dir: PathBuf,
    },
    /// Create a plugin project in Rust, Python or JavaScript that builds with one command
    /// into a component: a channel that posts each delivery as JSON to a configured URL,
    /// with its README and tests.
    New(super::plugin_new::NewPlugin),
}

/// `msghub plugin send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// A plugin file (.wasm) or the name of a bundled plugin (e.g. webhook).
    plugin: String,
    /// The channel configuration: JSON text, or @FILE to read it from a file.
    #[arg(long)]
    config: String,
    /// The sample message's title.
    #[arg(long, default_value = "Test notification from msghub")]
    title: String,
    /// The sample message's markdown body.
    #[arg(long, default_value = "If you can read this, the channel works.")]
    body: String,
    /// The sample message's category.
    #[arg(long, default_value = "service")]
    category: String,
    /// The sample message's severity: info, warning or critical.
    #[arg(long, default_value = "info")]
    severity: String,
    /// The sample message's subtype, e.g. ddos-attack.
    #[arg(long)]
    subtype: Option<String>,
    /// The sample message's link to its details.
    #[arg(long)]
    link: Option<String>,
    /// The locale of the delivery's fixed words, e.g. zh-CN.
    #[arg(long, default_value = "en")]
    locale: String,
    /// Send a digest of N sample messages instead of one message, in parts as the server
    /// would (the plugin's batch and a sixteenth of its memory cap per call).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    digest: Option<u32>,
    /// A recipient address (for email plugins); repeatable.
    #[arg(long = "to")]
    recipients: Vec<String>,
    /// Send nothing out: every request the plugin is allowed to make goes to a server on a
    /// loopback address that answers 200 with `{}`, and is printed (method, URL, headers,
    /// body). The declared-hosts rule still applies.
    #[arg(long)]
    capture: bool,
    /// Show the plugin's log, stdout and stderr, the sandbox's refusals and whether the
    /// compile cache served.
    #[arg(long, short)]
    verbose: bool,
}

/// The plugin contract as this build of msghub runs it: `(path in the package, text)`.
pub const WIT_FILES: &[(&str, &str)] = &[
    ("notifier.wit", include_str!("../../../wit/notifier.wit")),
    ("deps/cli.wit", include_str!("../../../wit/deps/cli.wit")),
    (
        "deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    ("deps/http.wit", include_str!("../../../wit/deps/http.wit")),
    ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../../wit/deps/sockets.wit"),
    ),
];

/// Runs a plugin command.
pub async fn run(command: PluginCommand) -> Result<(), String> {
    match command {
        PluginCommand::List { plugins, json } => list(plugins.as_deref(), json).await,
        PluginCommand::Validate {
            file,
            config,
            schema,
            json,
            verbose,
        } => {
            show_plugin_log(verbose);
            let shown = Shown { schema, json };
            validate(&file, config.as_deref(), shown, verbose).await
        }
        PluginCommand::Send(args) => {
            show_plugin_log(args.verbose);
            send(*args).await
        }
        PluginCommand::Wit { dir } => write_wit(&dir),
        PluginCommand::New(args) => super::plugin_new::run(args).map_err(|e| e.to_string()),
    }
}

/// Writes [`WIT_FILES`] under `dir`, replacing older copies of them, and says what it wrote.
fn write_wit(dir: &Path) -> Result<(), String> {
    for (path, text) in WIT_FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create the directory {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        println!("{}", target.display());
    }
    println!(
        "the world to implement: msghub:notifier/channel@{} (in {})",
        msghub::plugin::SUPPORTED_VERSIONS[0],
        dir.join("notifier.wit").display()
    );
    Ok(())
}

/// Where compiled plugins are cached between runs: `$XDG_CACHE_HOME/msghub/plugins`, else
/// `~/.cache/msghub/plugins`; none when neither is known.
pub fn cache_dir() -> Option<PathBuf> {
    let set = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    set("XDG_CACHE_HOME")
        .or_else(|| set("HOME").map(|home| home.join(".cache")))
        .map(|base| base.join("msghub").join("plugins"))
}

/// With `verbose`, the plugin's own lines (log, stdout, stderr) and the sandbox's refusals
/// and warnings go to stderr; never the host's other logs, so that an error is shown once,
/// by the command's result.
fn show_plugin_log(verbose: bool) {
    if !verbose {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::new(
        "warn,msghub::plugin::sandbox=trace,msghub::plugin::catalog=off",
    );
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .try_init();
}

fn host_config() -> Result<PluginConfig, String> {
    let mut config = PluginConfig::from_env().map_err(|e| e.to_string())?;
    config.cache_dir = cache_dir();
    Ok(config)
}

fn read_config(text: &str) -> Result<String, String> {
    let raw = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the config file {path}: {e}"))?,
        None => text.to_owned(),
    };
    serde_json::from_str::<Value>(&raw).map_err(|e| format!("--config is not valid JSON: {e}"))?;
    Ok(raw)
}

/// Loads one plugin file; with `verbose`, says whether the compile cache served.
async fn load_file(
    config: PluginConfig,
    file: &Path,
    verbose: bool,
) -> Result<(PluginRegistry, String), String> {
    let cache = config.cache_dir.clone();
    let started = std::time::Instant::now();
    let (registry, report) = PluginRegistry::builder(config)
        .file(file)
        .load()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(refused) = report.refused.first() {
        return Err(refused.to_string());
    }
    let name = report
        .loaded
        .first()
        .cloned()
        .ok_or_else(|| format!("{} holds no plugin", file.display()))?;
    if verbose {
        let took = started.elapsed().as_millis();
        match (&cache, report.cached > 0) {
            (Some(dir), true) => eprintln!(
                "loaded {name} in {took} ms, from the compile cache ({})",
                dir.display()
            ),
            (Some(dir), false) => eprintln!(
                "loaded {name} in {took} ms, compiled (now cached in {})",
                dir.display()
            ),
            (None, _) => eprintln!("loaded {name} in {took} ms, compiled (no cache directory)"),
        }
    }
    Ok((registry, name))
}

fn info_json(info: &PluginInfo, limits: &PluginLimits, schema: bool) -> Value {
    let mut out = json!({
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "interface_version": info.interface_version,
        "hosts": info.hosts,
        "user_supplied_host": info.user_supplied_host,
        "rate_limit": info.rate_limit.map(|r| json!({"count": r.count, "period_ms": r.period.as_millis() as u64})),
        "secret_fields": info.secret_fields(),
        "limits": {
            "memory_bytes": limits.memory,
            "deadline_ms": limits.deadline.as_millis() as u64,
            "batch": limits.batch,
            "short": limits.short,
        },
    });
    if schema {
        out["config_schema"] = info.config_schema.clone();
    }
    out
}

async fn list(dir: Option<&Path>, as_json: bool) -> Result<(), String> {
    let mut builder = PluginRegistry::builder(host_config()?).bundled();
    if let Some(dir) = dir {
        builder = builder.dir(dir);
    }
    let (registry, report) = builder.load().await.map_err(|e| e.to_string())?;
    for refused in &report.refused {
        eprintln!("refused: {refused}");
    }
    if as_json {
        let list: Vec<Value> = registry
            .plugins()
            .map(|p| info_json(&p, &registry.limits(&p.name), true))
            .collect();
        println!("{}", Value::Array(list));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = registry
        .plugins()
        .map(|p| {
            vec![
                p.name.clone(),
                p.version.clone(),
                truncate(&p.description, 70),
            ]
        })
        .collect();
    print!("{}", render(&["NAME", "VERSION", "DESCRIPTION"], &rows));
    Ok(())
}

/// What `validate` prints besides the plugin's description.
struct Shown {
    schema: bool,
    json: bool,
}

async fn validate(
    file: &Path,
    config: Option<&str>,
    shown: Shown,
    verbose: bool,
) -> Result<(), String> {
    let config = config.map(read_config).transpose()?;
    let (registry, name) = load_file(host_config()?, file, verbose).await?;
    let info = registry
        .plugin(&name)
        .ok_or_else(|| format!("plugin '{name}' vanished after loading"))?;
    let limits = registry.limits(&name);
    let verdict = match &config {
        Some(config) => Some(registry.validate_config(&name, config).await),
        None => None,
    };
    if shown.json {
        let mut out = info_json(&info, &limits, shown.schema);
        if let Some(verdict) = &verdict {
            out["config_valid"] = json!(verdict.is_ok());
        }
        println!("{out}");
    } else {
        describe(&info, &limits, shown.schema);
        if let Some(Ok(())) = &verdict {
            println!("config: valid");
        }
    }
    // An invalid configuration is said once, as the command's error.
    match verdict {
        Some(Err(e)) => Err(e.to_string()),
        _ => Ok(()),
    }
}

/// Prints what a plugin declares, as text.
fn describe(info: &PluginInfo, limits: &PluginLimits, schema: bool) {
    println!(
        "{} {} (notifier {})",
        info.name, info.version, info.interface_version
    );
    println!("  {}", info.description);
    if info.user_supplied_host {
        println!("  hosts: any public host named in the configuration");
    } else {
        println!("  hosts: {}", info.hosts.join(", "));
    }
    if let Some(limit) = info.rate_limit {
        println!(
            "  rate limit: {} per {} ms",
            limit.count,
            limit.period.as_millis()
        );
    }
    let secrets = info.secret_fields();
    if !secrets.is_empty() {
        println!("  secret fields: {}", secrets.join(", "));
    }
    println!(
        "  limits: {} MiB of memory, {} ms per call, digests of at most {} messages per call",
        limits.memory >> 20,
        limits.deadline.as_millis(),
        limits.batch
    );
    if let Some(short) = &limits.short {
        println!("  warning: it states it needs {short}");
    }
    if schema {
        println!(
            "  config schema: {}",
            serde_json::to_string_pretty(&info.config_schema).unwrap_or_default()
        );
    }
}

async fn send(args: SendArgs) -> Result<(), String> {
    let config = read_config(&args.config)?;
    let mut host = host_config()?;
    let capture = match args.capture {
        true => {
            let capture = Capture::start().await?;
            host.divert_to = Some(capture.addr);
            host.allow_networks.push(capture.addr.ip().into());
            Some(capture)
        }
        false => None,
    };
    let as_file = Path::new(&args.plugin);
    let (registry, name) = if args.plugin.ends_with(".wasm") || as_file.is_file() {
        load_file(host, as_file, args.verbose).await?
    } else {
        bundled(host, &args.plugin).await?
    };
    registry
        .validate_config(&name, &config)
        .await
        .map_err(|e| e.to_string())?;
    let messages = sample_messages(&args).await?;
    let parts = split(&registry, &name, messages);
    let count = parts.len();
    let mut failed = None;
    for (at, messages) in parts.into_iter().enumerate() {
        let delivery = sample_delivery(&args, messages);
        let part = match count {
            1 => String::new(),
            _ => format!(" (part {} of {count})", at + 1),
        };
        match registry.send(&name, &config, &delivery).await {
            Ok(receipt) => {
                let mut line = format!("delivered through {name}{part}");
                if let Some(id) = receipt.remote_id {
                    line.push_str(&format!(", remote id {id}"));
                }
                if let Some(detail) = receipt.detail {
                    line.push_str(&format!(": {detail}"));
                }
                println!("{line}");
            }
            Err(e) => {
                failed = Some(format!("not delivered{part} ({}): {e}", e.kind()));
                break;
            }
        }
    }
    if let Some(capture) = capture {
        capture.print();
    }
    failed.map_or(Ok(()), Err)
}

/// Loads the bundled plugin named `name`.
async fn bundled(host: PluginConfig, name: &str) -> Result<(PluginRegistry, String), String> {
    let (registry, _) = PluginRegistry::builder(host)
        .bundled()
        .load()
        .await
        .map_err(|e| e.to_string())?;
    if registry.plugin(name).is_none() {
        let names: Vec<String> = registry.plugins().map(|p| p.name.clone()).collect();
        return Err(format!(
            "no bundled plugin '{name}' (bundled: {}); give a .wasm file to send through another",
            names.join(", ")
        ));
    }
    Ok((registry, name.to_owned()))
}

/// The messages in parts as the server sends a digest: each part within the plugin's batch
/// and a sixteenth of its memory cap (counted here in bytes of titles and bodies).
fn split(
    registry: &PluginRegistry,
    name: &str,
    messages: Vec<msghub::Message>,
) -> Vec<Vec<msghub::Message>> {
    let budget = ChannelHost::part_budget(registry, name);
    let mut parts: Vec<Vec<msghub::Message>> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = message.title.len() + message.body.as_ref().map_or(0, String::len);
        let full = parts
            .last()
            .is_none_or(|p| p.len() >= budget.messages || bytes + size > budget.bytes);
        if full {
            parts.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(part) = parts.last_mut() {
            part.push(message);
        }
    }
    parts
}

fn sample_delivery(args: &SendArgs, messages: Vec<msghub::Message>) -> Delivery {
    let timestamp_ms = messages
        .first()
        .and_then(|m| u64::try_from(m.created_at.unix_timestamp_nanos() / 1_000_000).ok())
        .unwrap_or_default();
    Delivery {
        kind: match args.digest {
            Some(_) => DeliveryKind::Digest,
            None => DeliveryKind::Single,
        },
        messages,
        recipients: args
            .recipients
            .iter()
            .map(|address| Recipient {
                address: address.clone(),
                name: None,
            })
            .collect(),
        attempt: 1,
        idempotency_key: format!("msghub-cli-{:016x}", rand::random::<u64>()),
        locale: args.locale.clone(),
        unsubscribe: None,
        timestamp_ms,
    }
}

/// The sample messages of `args` (one, or the digest's), as real stored messages with real
/// ids, made in a throwaway in-memory engine.
async fn sample_messages(args: &SendArgs) -> Result<Vec<msghub::Message>, String> {
    let category =
        Category::parse_field(&args.category, "--category").map_err(|e| e.to_string())?;
    let severity =
        Severity::parse_field(&args.severity, "--severity").map_err(|e| e.to_string())?;
    let engine = Engine::builder()
        .in_memory()
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let operator = Principal::Operator;
    let account = engine
        .create_account(&operator, "cli")
        .await
        .map_err(|e| e.to_string())?;
    let count = args.digest.unwrap_or(1);
    let mut messages = Vec::with_capacity(count as usize);
    for n in 1..=count {
        let title = match args.digest {
            Some(_) => format!("{} ({n} of {count})", args.title),
            None => args.title.clone(),
        };
        let mut message = NewMessage::new(category, title)
            .body(args.body.clone())
            .severity(severity);
        if let Some(subtype) = &args.subtype {
            message = message.subtype(subtype.clone());
        }
        if let Some(link) = &args.link {
            message = message.link(link.clone());
        }
        let published = engine
            .publish(&operator, account.account.id, message)
            .await
            .map_err(|e| e.to_string())?;
        messages.push(published.message);
    }
    engine.close().await;
    Ok(messages)
}
