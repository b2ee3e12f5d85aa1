//! `msghub plugin list|validate|send`: the plugin host run locally on plugin files, for
//! plugin authors and for operators checking a channel configuration before using it.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use msghub::plugin::{Delivery, DeliveryKind, PluginConfig, PluginInfo, PluginRegistry, Recipient};
use msghub::{Category, Engine, NewMessage, Principal, Severity};
use msghub_bundled::BundledPlugins as _;
use serde_json::{Value, json};

use super::table::{render, truncate};

/// `msghub plugin ...`. The sandbox reads MSGHUB_ALLOW_NETWORKS, MSGHUB_SMTP_URL and
/// MSGHUB_MAIL_FROM like the server does.
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
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send one sample message through a plugin with a channel configuration (a real send)
    /// and print the outcome.
    Send {
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
        /// The sample message's severity.
        #[arg(long, default_value = "info")]
        severity: String,
        /// A recipient address (for email plugins); repeatable.
        #[arg(long = "to")]
        recipients: Vec<String>,
    },
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
        PluginCommand::Validate { file, config, json } => {
            validate(&file, config.as_deref(), json).await
        }
        PluginCommand::Send {
            plugin,
            config,
            title,
            body,
            category,
            severity,
            recipients,
        } => {
            let message = NewMessage::new(
                Category::parse_field(&category, "--category").map_err(|e| e.to_string())?,
                title,
            )
            .body(body)
            .severity(Severity::parse_field(&severity, "--severity").map_err(|e| e.to_string())?);
            send(&plugin, &config, message, recipients).await
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

fn host_config() -> Result<PluginConfig, String> {
    PluginConfig::from_env().map_err(|e| e.to_string())
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

async fn load_file(file: &Path) -> Result<(PluginRegistry, String), String> {
    let (registry, report) = PluginRegistry::builder(host_config()?)
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
    Ok((registry, name))
}

fn info_json(info: &PluginInfo) -> Value {
    json!({
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "interface_version": info.interface_version,
        "hosts": info.hosts,
        "user_supplied_host": info.user_supplied_host,
        "rate_limit": info.rate_limit.map(|r| json!({"count": r.count, "period_ms": r.period.as_millis() as u64})),
        "secret_fields": info.secret_fields(),
        "config_schema": info.config_schema,
    })
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
        let list: Vec<Value> = registry.plugins().map(|p| info_json(&p)).collect();
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

async fn validate(file: &Path, config: Option<&str>, as_json: bool) -> Result<(), String> {
    let (registry, name) = load_file(file).await?;
    let info = registry
        .plugin(&name)
        .ok_or_else(|| format!("plugin '{name}' vanished after loading"))?;
    let verdict = match config {
        Some(text) => {
            let config = read_config(text)?;
            Some(registry.validate_config(&name, &config).await)
        }
        None => None,
    };
    if as_json {
        let mut out = info_json(&info);
        if let Some(verdict) = &verdict {
            out["config_valid"] = json!(verdict.is_ok());
            out["config_error"] = json!(verdict.as_ref().err().map(ToString::to_string));
        }
        println!("{out}");
    } else {
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
            "  config schema: {}",
            serde_json::to_string_pretty(&info.config_schema).unwrap_or_default()
        );
        if let Some(verdict) = &verdict {
            match verdict {
                Ok(()) => println!("config: valid"),
                Err(e) => println!("config: {e}"),
            }
        }
    }
    match verdict {
        Some(Err(e)) => Err(e.to_string()),
        _ => Ok(()),
    }
}

async fn send(
    plugin: &str,
    config: &str,
    message: NewMessage,
    recipients: Vec<String>,
) -> Result<(), String> {
    let config = read_config(config)?;
    let as_file = Path::new(plugin);
    let (registry, name) = if plugin.ends_with(".wasm") || as_file.is_file() {
        load_file(as_file).await?
    } else {
        let (registry, _) = PluginRegistry::builder(host_config()?)
            .bundled()
            .load()
            .await
            .map_err(|e| e.to_string())?;
        if registry.plugin(plugin).is_none() {
            let names: Vec<String> = registry.plugins().map(|p| p.name.clone()).collect();
            return Err(format!(
                "no bundled plugin '{plugin}' (bundled: {}); give a .wasm file to send through another",
                names.join(", ")
            ));
        }
        (registry, plugin.to_owned())
    };
    registry
        .validate_config(&name, &config)
        .await
        .map_err(|e| e.to_string())?;
    let message = sample_message(message).await?;
    let timestamp_ms =
        u64::try_from(message.created_at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
    let delivery = Delivery {
        kind: DeliveryKind::Single,
        messages: vec![message],
        recipients: recipients
            .into_iter()
            .map(|address| Recipient {
                address,
                name: None,
            })
            .collect(),
        attempt: 1,
        idempotency_key: format!("msghub-cli-{:016x}", rand::random::<u64>()),
        locale: "en".to_owned(),
        timestamp_ms,
    };
    match registry.send(&name, &config, &delivery).await {
        Ok(receipt) => {
            let mut line = format!("delivered through {name}");
            if let Some(id) = receipt.remote_id {
                line.push_str(&format!(", remote id {id}"));
            }
            if let Some(detail) = receipt.detail {
                line.push_str(&format!(": {detail}"));
            }
            println!("{line}");
            Ok(())
        }
        Err(e) => Err(format!("not delivered ({}): {e}", e.kind())),
    }
}

/// A real stored message (with a real id), made in a throwaway in-memory engine.
async fn sample_message(message: NewMessage) -> Result<msghub::Message, String> {
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
    let published = engine
        .publish(&operator, account.account.id, message)
        .await
        .map_err(|e| e.to_string())?;
    engine.close().await;
    Ok(published.message)
}
