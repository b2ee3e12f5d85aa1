//! The `msghub` command line: `serve`, the commands that talk to a running server
//! ([`remote`] for the inbox, [`routing`] for channels, contacts, subscriptions and
//! deliveries, [`governance`] for mandatory rules, change histories and routing
//! explanations), the commands that run a plugin file locally ([`plugin`]), and the one that
//! writes a new plugin project ([`plugin_new`]).

mod capture;
pub mod client;
pub mod governance;
pub mod plugin;
pub mod plugin_new;
pub mod remote;
pub mod routing;
pub mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::ServerConfig;

/// msghub: a notification hub with an inbox per account and delivery to chat and email
/// channels through WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "msghub", version, propagate_version = true)]
#[command(
    after_help = "Start a server with `msghub serve`, then talk to it with the other \
commands (MSGHUB_URL and MSGHUB_TOKEN say where and as whom)."
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (API, web console, metrics) until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Publish a message into an account's inbox (needs the operator token).
    Publish(remote::PublishArgs),
    /// List messages, mark them read, delete them.
    #[command(subcommand)]
    Messages(remote::MessagesCommand),
    /// Create accounts (operator).
    #[command(subcommand)]
    Accounts(remote::AccountsCommand),
    /// Create users of an account (operator or the account's root).
    #[command(subcommand)]
    Users(remote::UsersCommand),
    /// Bot channels of an account: list, create, send a test message, delete.
    #[command(subcommand)]
    Channels(routing::ChannelsCommand),
    /// Email contacts of an account: list, create, delete.
    #[command(subcommand)]
    Contacts(routing::ContactsCommand),
    /// Which messages of a category go to which contacts and channels, and when.
    #[command(subcommand)]
    Subscriptions(routing::SubscriptionsCommand),
    /// Where a message was delivered: each channel and contact, its status and attempts.
    Deliveries(routing::DeliveriesArgs),
    /// Notices that cannot be unsubscribed (operator): list, create, delete, the accounts
    /// without a target, and the rules' history.
    #[command(subcommand)]
    Rules(governance::RulesCommand),
    /// Who changed what in an account, when, before and after (newest first).
    History(governance::HistoryArgs),
    /// Inspect, validate and try out channel plugins locally, without a server.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

/// `msghub serve`: the environment variables of the configuration table override the
/// file; these flags override both.
#[derive(Debug, Args)]
#[command(
    after_help = "Environment: MSGHUB_LISTEN, MSGHUB_DATA_DIR, MSGHUB_ADMIN_TOKEN, \
MSGHUB_PLUGIN_DIR, MSGHUB_ALLOW_NETWORKS, MSGHUB_SMTP_URL, MSGHUB_MAIL_FROM, \
MSGHUB_MAIL_PLUGINS (plugins that may send mail; default email), \
MSGHUB_RETRY_SCHEDULE, MSGHUB_SECRET_KEY (base64 of 32 bytes; seals channel configs at rest, \
wins over the key file), MSGHUB_SECRET_KEY_FILE (default <data dir>/secret-key, generated on \
first start), \
MSGHUB_LOG, MSGHUB_LOG_FORMAT (text or json), MSGHUB_BODY_LIMIT, MSGHUB_MAX_CONNECTIONS, \
MSGHUB_HEADER_TIMEOUT, MSGHUB_BODY_TIMEOUT, MSGHUB_SHUTDOWN_GRACE (seconds), \
MSGHUB_SMTP_ALLOW_PLAINTEXT_AUTH, MSGHUB_MAX_USERS_PER_ACCOUNT (default 10000), \
MSGHUB_MAX_CHANNELS_PER_ACCOUNT (default 1000), MSGHUB_MAX_CONTACTS_PER_ACCOUNT (default 10000), \
MSGHUB_DELIVERY_CONCURRENCY (default 64), MSGHUB_DELIVERY_PER_ACCOUNT (default 16), \
MSGHUB_DELIVERY_PER_TARGET (default 8), MSGHUB_PLUGIN_MEMORY_MIB (default 16), \
MSGHUB_PLUGIN_DEADLINE_MS (default 10000), MSGHUB_PLUGIN_LIMITS (per plugin, e.g. \
gotify.memory-mib=64,gotify.deadline-ms=30000), MSGHUB_SEARCH_INDEX_MIB (default 256).\n\
With no configuration the server listens on 127.0.0.1:8080, keeps its data in ./msghub-data \
and prints a generated operator token once."
)]
pub struct ServeArgs {
    /// A TOML file with any of: listen, data_dir, admin_token, plugin_dir, allow_networks,
    /// smtp_url, mail_from, mail_plugins, retry_schedule, secret_key, secret_key_file, log,
    /// log_format, body_limit, max_connections, header_timeout, body_timeout, shutdown_grace,
    /// smtp_allow_plaintext_auth, max_users_per_account, max_channels_per_account,
    /// max_contacts_per_account, plugin_memory_mib, plugin_deadline_ms, plugin_limits,
    /// search_index_mib.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The address to serve on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Where the redb file and the operator token live [default: ./msghub-data].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// A directory of extra channel plugins (*.wasm) to load beside the bundled ones; files
    /// added, replaced or removed there are picked up while the server runs.
    #[arg(long, value_name = "DIR")]
    pub plugins: Option<PathBuf>,
    /// The memory cap of one plugin call, in MiB [default: 16]; a plugin that states a
    /// smaller need gets that.
    #[arg(long, value_name = "MIB")]
    pub plugin_memory_mib: Option<String>,
    /// The deadline of one plugin call, in milliseconds [default: 10000].
    #[arg(long, value_name = "MS")]
    pub plugin_deadline_ms: Option<String>,
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Publish(args) => remote::publish(args).await,
            Command::Messages(command) => remote::messages(command).await,
            Command::Accounts(command) => remote::accounts(command).await,
            Command::Users(command) => remote::users(command).await,
            Command::Channels(command) => routing::channels(command).await,
            Command::Contacts(command) => routing::contacts(command).await,
            Command::Subscriptions(command) => routing::subscriptions(command).await,
            Command::Deliveries(args) => routing::deliveries(args).await,
            Command::Rules(command) => governance::rules(command).await,
            Command::History(args) => governance::history(args).await,
            Command::Plugin(command) => plugin::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let mut config = ServerConfig::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(listen) = &args.listen {
        config
            .set_listen("--listen", listen)
            .map_err(|e| e.to_string())?;
    }
    if let Some(data) = args.data {
        config.storage = crate::config::Storage::Dir(data);
    }
    if let Some(plugins) = args.plugins {
        config.plugin_dir = Some(plugins);
    }
    if let Some(mib) = &args.plugin_memory_mib {
        config
            .set_plugin_memory("--plugin-memory-mib", mib)
            .map_err(|e| e.to_string())?;
    }
    if let Some(ms) = &args.plugin_deadline_ms {
        config
            .set_plugin_deadline("--plugin-deadline-ms", ms)
            .map_err(|e| e.to_string())?;
    }
    crate::server::init_logging(&config.log, config.log_format).map_err(|e| e.to_string())?;
    let token_file = match &config.storage {
        crate::config::Storage::Dir(dir) => dir.join(crate::server::TOKEN_FILE),
        crate::config::Storage::Memory => PathBuf::from("(memory)"),
    };
    let running = crate::server::start(config, crate::server::shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(token) = &running.generated_token {
        println!(
            "Generated the operator token; it is shown only now and kept in {}:",
            token_file.display()
        );
        println!("{token}");
    }
    println!(
        "msghub listening on http://{} ({} channel plugins loading in the background; \
         /healthz lists those ready)",
        running.addr, running.plugins
    );
    running.wait().await.map_err(|e| e.to_string())
}
