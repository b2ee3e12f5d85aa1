//! The commands that talk to a running server: publish, messages, accounts, users. Each
//! prints a table for people, or the API's JSON with `--json`.

use clap::{Args, Subcommand};
use http::Method;
use serde_json::{Map, Value, json};

use super::client::ApiClient;
use super::table::{render, truncate};

/// Where the server is and who is asking.
#[derive(Debug, Args)]
pub struct Remote {
    /// The server's URL.
    #[arg(long, env = "MSGHUB_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The bearer token: the operator's, an account root's or a user's.
    #[arg(long, env = "MSGHUB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON answer instead of a table (for scripts).
    #[arg(long)]
    pub json: bool,
}

impl Remote {
    /// A client for this server and token.
    pub(crate) fn client(&self) -> Result<ApiClient, String> {
        ApiClient::new(&self.url, self.token.clone())
    }
}

/// `msghub publish`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: msghub publish --account acc_... --category security \
--severity critical --title 'DDoS attack on 203.0.113.7' --body 'Traffic scrubbing is on.'"
)]
pub struct PublishArgs {
    #[command(flatten)]
    remote: Remote,
    /// The account whose inbox receives the message.
    #[arg(long, env = "MSGHUB_ACCOUNT")]
    account: String,
    /// account, product, security, exception, activity or service.
    #[arg(long)]
    category: String,
    /// One line, at most 256 characters.
    #[arg(long)]
    title: String,
    /// Markdown text.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Read the markdown body from this file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    body_file: Option<String>,
    /// info (default), warning or critical.
    #[arg(long)]
    severity: Option<String>,
    /// A finer kind inside the category, e.g. low-balance.
    #[arg(long)]
    subtype: Option<String>,
    /// An http(s) link where the reader can act.
    #[arg(long)]
    link: Option<String>,
    /// The resource it is about, e.g. ecs/i-123.
    #[arg(long)]
    resource: Option<String>,
    /// Publishing again with the same key returns the stored message instead.
    #[arg(long)]
    dedupe_key: Option<String>,
}

/// Filter flags shared by list, read and delete.
#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only these categories (comma-separated).
    #[arg(long)]
    category: Option<String>,
    /// all, unread or read.
    #[arg(long)]
    status: Option<String>,
    /// Only these severities (comma-separated).
    #[arg(long)]
    severity: Option<String>,
    /// A literal, case-insensitive substring of title or body.
    #[arg(long)]
    q: Option<String>,
    /// Created at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Created before this RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
}

impl FilterArgs {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("category", &self.category),
            ("status", &self.status),
            ("severity", &self.severity),
            ("q", &self.q),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// `msghub messages ...`.
#[derive(Debug, Subcommand)]
pub enum MessagesCommand {
    /// List messages, newest first.
    List {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
        /// Which messages.
        #[command(flatten)]
        filter: FilterArgs,
        /// How many (1 to 200).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after this cursor (printed under the previous page).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Watch the inbox: print each new message, each deletion and the caller's counts as
    /// they happen (a live event stream), until Ctrl-C. Reconnects by itself, missing
    /// nothing within five minutes.
    Watch {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
    },
    /// Mark messages read for the caller: the given ids, or every message under the filter
    /// flags (`--all` for every message you may see).
    Read(BulkArgs),
    /// Delete messages for the whole account: the given ids, or every message under the
    /// filter flags (`--all` for every message you may see). Final.
    Delete(BulkArgs),
}

/// Which messages a bulk command applies to.
#[derive(Debug, Args)]
pub struct BulkArgs {
    #[command(flatten)]
    remote: Remote,
    /// The account.
    #[arg(long, env = "MSGHUB_ACCOUNT")]
    account: String,
    /// Message ids (at most 1000).
    ids: Vec<String>,
    /// Every message you may see (or every one under the filter flags).
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

/// `msghub accounts ...`.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create an account; prints its root token once.
    Create {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account's name.
        name: String,
    },
    /// Change an account's settings; prints the account as it is now.
    Update {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account's id.
        account: String,
        /// Days messages are kept (1 to 36500).
        #[arg(long)]
        retention_days: Option<u32>,
        /// The language of the words msghub adds to deliveries whose channel or contact
        /// names none: en or zh-CN.
        #[arg(long)]
        locale: Option<String>,
    },
}

/// `msghub users ...`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; prints its token once.
    Create {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
        /// The user's name.
        name: String,
        /// NotificationsReadOnlyAccess or NotificationsFullAccess (repeatable).
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// Limit the user to these categories (repeatable or comma-separated).
        #[arg(long = "category", value_delimiter = ',')]
        categories: Vec<String>,
    },
}

/// The path of `rest` under the account.
pub(crate) fn account_path(account: &str, rest: &str) -> String {
    format!("/v1/accounts/{}{rest}", encode(account))
}

/// Percent-encodes one path segment or query value.
pub(crate) fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A field as display text (empty for null).
pub(crate) fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A list field as display text: comma-separated, `-` when empty, `all` when null (a
/// user's categories, a subscription's subtypes).
pub(crate) fn list_of(value: &Value, key: &str) -> String {
    match value.get(key).and_then(Value::as_array) {
        Some(items) if !items.is_empty() => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Some(_) => "-".into(),
        None => "all".into(),
    }
}

/// `msghub publish`.
pub async fn publish(args: PublishArgs) -> Result<(), String> {
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => Some(body.clone()),
        (None, Some(path)) if path == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| format!("cannot read the body from stdin: {e}"))?;
            Some(text)
        }
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the body file {path}: {e}"))?,
        ),
        (None, None) => None,
    };
    let mut message = Map::new();
    message.insert("category".into(), json!(args.category));
    message.insert("title".into(), json!(args.title));
    for (key, value) in [
        ("body", body),
        ("severity", args.severity),
        ("subtype", args.subtype),
        ("link", args.link),
        ("resource", args.resource),
        ("dedupe_key", args.dedupe_key),
    ] {
        if let Some(value) = value {
            message.insert(key.into(), json!(value));
        }
    }
    let answer = args
        .remote
        .client()?
        .call(
            Method::POST,
            &account_path(&args.account, "/messages"),
            Some(&Value::Object(message)),
        )
        .await?;
    if args.remote.json {
        println!("{}", answer.text());
        return Ok(());
    }
    let m = answer.json()?;
    if answer.status.as_u16() == 201 {
        println!("published {}", text(&m, "id"));
    } else {
        println!(
            "already published with this dedupe key: {} (nothing new stored)",
            text(&m, "id")
        );
    }
    Ok(())
}

/// `msghub messages ...`.
pub async fn messages(command: MessagesCommand) -> Result<(), String> {
    match command {
        MessagesCommand::List {
            remote,
            account,
            filter,
            limit,
            cursor,
        } => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in filter.pairs() {
                query.append_pair(k, v);
            }
            query.append_pair("limit", &limit.to_string());
            if let Some(cursor) = &cursor {
                query.append_pair("cursor", cursor);
            }
            let path = account_path(&account, &format!("/messages?{}", query.finish()));
            let answer = remote.client()?.call(Method::GET, &path, None).await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            let page = answer.json()?;
            let items = page
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|m| {
                    vec![
                        text(m, "id"),
                        text(m, "created_at"),
                        text(m, "category"),
                        text(m, "severity"),
                        if m.get("read") == Some(&Value::Bool(true)) {
                            "read".into()
                        } else {
                            "unread".into()
                        },
                        truncate(&text(m, "title"), 60),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("no messages");
            } else {
                print!(
                    "{}",
                    render(
                        &["ID", "CREATED", "CATEGORY", "SEVERITY", "STATE", "TITLE"],
                        &rows
                    )
                );
            }
            if let Some(next) = page.get("next_cursor").and_then(Value::as_str) {
                println!("more: add --cursor {next}");
            }
            Ok(())
        }
        MessagesCommand::Watch { remote, account } => watch(&remote, &account).await,
        MessagesCommand::Read(args) => {
            let n = bulk(&args, "/messages/mark-read", "updated").await?;
            if let Some(n) = n {
                println!("marked {n} message(s) read");
            }
            Ok(())
        }
        MessagesCommand::Delete(args) => {
            let n = bulk(&args, "/messages/delete", "deleted").await?;
            if let Some(n) = n {
                println!("deleted {n} message(s)");
            }
            Ok(())
        }
    }
}

/// Prints the account's live events until Ctrl-C; reconnects with the last event id
/// after a break (or the server's restart), waiting a little longer each time.
async fn watch(remote: &Remote, account: &str) -> Result<(), String> {
    use super::client::StreamError;
    use std::io::Write as _;
    let client = remote.client()?;
    let path = account_path(account, "/events");
    let mut last: Option<String> = None;
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        let mut heard = false;
        let mut stdout_gone = false;
        let resume = last.clone();
        let result = client
            .stream(&path, resume.as_deref(), |event| {
                heard = true;
                if !event.id.is_empty() {
                    last = Some(event.id.clone());
                }
                let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                let line = if remote.json {
                    json!({"event": event.name, "id": event.id, "data": data}).to_string()
                } else {
                    describe_event(&event.name, &data)
                };
                let mut out = std::io::stdout().lock();
                // A closed stdout (`| head`) ends the watch.
                stdout_gone = writeln!(out, "{line}").is_err() || out.flush().is_err();
                !stdout_gone
            })
            .await;
        match result {
            Err(StreamError::Refused(why)) => return Err(why),
            Err(StreamError::Broken(why)) => eprintln!("{why}; reconnecting in {wait:?}"),
            Ok(()) if stdout_gone => return Ok(()),
            Ok(()) => eprintln!("the stream ended; reconnecting in {wait:?}"),
        }
        if heard {
            wait = std::time::Duration::from_secs(1);
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_secs(30));
    }
}

/// One live event as a line for a person.
fn describe_event(name: &str, data: &Value) -> String {
    match name {
        "message" => format!(
            "new      {}  {:<9} {:<8} {}",
            text(data, "id"),
            text(data, "category"),
            text(data, "severity"),
            truncate(&text(data, "title"), 60)
        ),
        "deleted" => format!("deleted  {}", list_of(data, "ids")),
        "counts" => format!(
            "counts   {} unread of {}",
            data.get("unread").and_then(Value::as_u64).unwrap_or(0),
            data.get("total").and_then(Value::as_u64).unwrap_or(0)
        ),
        "reset" | "closed" => format!("{name:<8} {}", text(data, "reason")),
        other => format!("{other:<8} {data}"),
    }
}

/// Runs a bulk call; `None` when the JSON answer was printed instead.
async fn bulk(args: &BulkArgs, path: &str, key: &str) -> Result<Option<u64>, String> {
    let pairs = args.filter.pairs();
    let body = if !args.ids.is_empty() {
        if !pairs.is_empty() {
            return Err("give message ids or filter flags, not both".into());
        }
        json!({ "ids": args.ids })
    } else if args.all || !pairs.is_empty() {
        let mut filter = Map::new();
        for (k, v) in pairs {
            filter.insert(k.into(), json!(v));
        }
        json!({ "filter": filter })
    } else {
        return Err(
            "name the messages: give their ids, filter flags such as --category, or --all".into(),
        );
    };
    let answer = args
        .remote
        .client()?
        .call(
            Method::POST,
            &account_path(&args.account, path),
            Some(&body),
        )
        .await?;
    if args.remote.json {
        println!("{}", answer.text());
        return Ok(None);
    }
    Ok(Some(
        answer.json()?.get(key).and_then(Value::as_u64).unwrap_or(0),
    ))
}

/// `msghub accounts ...`.
pub async fn accounts(command: AccountsCommand) -> Result<(), String> {
    match command {
        AccountsCommand::Create { remote, name } => {
            let answer = remote
                .client()?
                .call(Method::POST, "/v1/accounts", Some(&json!({ "name": name })))
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            let a = answer.json()?;
            print!(
                "{}",
                render(
                    &["ID", "NAME", "CREATED"],
                    &[vec![
                        text(&a, "id"),
                        text(&a, "name"),
                        text(&a, "created_at")
                    ]]
                )
            );
            println!("root token (shown only now): {}", text(&a, "root_token"));
            Ok(())
        }
        AccountsCommand::Update {
            remote,
            account,
            retention_days,
            locale,
        } => {
            let mut body = Map::new();
            if let Some(days) = retention_days {
                body.insert("retention_days".into(), json!(days));
            }
            if let Some(locale) = locale {
                body.insert("locale".into(), json!(locale));
            }
            let path = format!("/v1/accounts/{}", encode(&account));
            let answer = remote
                .client()?
                .call(Method::PATCH, &path, Some(&Value::Object(body)))
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            let a = answer.json()?;
            let locale = match text(&a, "locale") {
                l if l.is_empty() => "(the server's)".to_owned(),
                l => l,
            };
            print!(
                "{}",
                render(
                    &["ID", "NAME", "RETENTION DAYS", "LOCALE"],
                    &[vec![
                        text(&a, "id"),
                        text(&a, "name"),
                        a.get("retention_days")
                            .and_then(Value::as_u64)
                            .map(|d| d.to_string())
                            .unwrap_or_default(),
                        locale,
                    ]]
                )
            );
            Ok(())
        }
    }
}

/// `msghub users ...`.
pub async fn users(command: UsersCommand) -> Result<(), String> {
    match command {
        UsersCommand::Create {
            remote,
            account,
            name,
            policies,
            categories,
        } => {
            let mut body = json!({ "name": name, "policies": policies });
            if !categories.is_empty() {
                body["categories"] = json!(categories);
            }
            let answer = remote
                .client()?
                .call(Method::POST, &account_path(&account, "/users"), Some(&body))
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            let u = answer.json()?;
            let list = |key: &str| list_of(&u, key);
            print!(
                "{}",
                render(
                    &["ID", "NAME", "POLICIES", "CATEGORIES"],
                    &[vec![
                        text(&u, "id"),
                        text(&u, "name"),
                        list("policies"),
                        list("categories")
                    ]]
                )
            );
            println!("token (shown only now): {}", text(&u, "token"));
            Ok(())
        }
    }
}
