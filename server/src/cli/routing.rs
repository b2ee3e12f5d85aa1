//! The commands that configure where messages go, on a running server: channels, contacts,
//! subscriptions, and the deliveries of a message. Each prints a table for people, or the
//! API's JSON with `--json`.

use clap::Subcommand;
use http::Method;
use serde_json::{Map, Value, json};

use super::remote::{Remote, account_path, encode, list_of, text};
use super::table::{render, truncate};

/// `msghub channels ...`.
#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// List the account's channels (secrets show as ***).
    List {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
    },
    /// Create a channel; the plugin checks the config first.
    #[command(
        after_help = "Example: msghub channels create --account acc_... --plugin dingtalk sre \
--config '{\"webhook_url\": \"https://oapi.dingtalk.com/robot/send?access_token=...\", \"secret\": \"SEC...\"}'\n\
`msghub plugin info FILE` or GET /v1/plugins shows each plugin's config schema."
    )]
    Create {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
        /// The plugin that delivers, e.g. webhook, dingtalk, wecom, lark, slack.
        #[arg(long)]
        plugin: String,
        /// The plugin's configuration as JSON (`@FILE` reads it from a file).
        #[arg(long)]
        config: String,
        /// The language of the words msghub adds to its deliveries: en or zh-CN [default:
        /// the account's].
        #[arg(long)]
        locale: Option<String>,
        /// A name for people.
        name: String,
    },
    /// Send one real test message through a channel.
    Test {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
        /// The category of the test message (default `service`, or the first of a scoped
        /// user's categories).
        #[arg(long)]
        category: Option<String>,
        /// The channel id.
        id: String,
    },
    /// Delete a channel (refused while a subscription names it).
    Delete {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
        /// The channel id.
        id: String,
    },
}

/// `msghub contacts ...`.
#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// List the account's email contacts.
    List {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
    },
    /// Create an email contact.
    Create {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
        /// The email address.
        #[arg(long)]
        email: String,
        /// The language of the words msghub adds to its mail: en or zh-CN [default: the
        /// account's].
        #[arg(long)]
        locale: Option<String>,
        /// A name for people.
        name: String,
    },
    /// Delete a contact (refused while a subscription names it).
    Delete {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
        /// The contact id.
        id: String,
    },
}

/// `msghub subscriptions ...`.
// Parsed once per run: the size of the `set` variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// List the account's subscriptions, one per configured category.
    List {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
    },
    /// Set (replace) the subscription of a category.
    #[command(
        after_help = "Example: msghub subscriptions set --account acc_... account --subtype low-balance \
--min-severity warning --contact cnt_... --channel chn_... --cron '0 0 9 * * *' --timezone Asia/Shanghai\n\
Quiet hours: msghub subscriptions set --account acc_... security --channel chn_... \
--quiet-hours 22:00-07:00 --quiet-timezone Asia/Shanghai --quiet-pass critical"
    )]
    Set {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
        /// account, product, security, exception, activity or service.
        category: String,
        /// Only these subtypes (repeatable or comma-separated); every subtype when left out.
        #[arg(long = "subtype", value_delimiter = ',')]
        subtypes: Vec<String>,
        /// The lowest severity delivered: info (default), warning or critical.
        #[arg(long)]
        min_severity: Option<String>,
        /// A contact id to email (repeatable or comma-separated).
        #[arg(long = "contact", value_delimiter = ',')]
        contacts: Vec<String>,
        /// A channel id to deliver to (repeatable or comma-separated).
        #[arg(long = "channel", value_delimiter = ',')]
        channels: Vec<String>,
        /// Gather messages into one summary per target at these times (cron, seconds first).
        #[arg(long)]
        cron: Option<String>,
        /// The time zone of --cron, e.g. Asia/Shanghai [default: UTC].
        #[arg(long, requires = "cron")]
        timezone: Option<String>,
        /// Hold deliveries during these hours until they end, e.g. 22:00-07:00 (local time
        /// in --quiet-timezone; digests are not affected).
        #[arg(long, value_name = "HH:MM-HH:MM")]
        quiet_hours: Option<String>,
        /// The time zone of --quiet-hours, e.g. Asia/Shanghai [default: UTC].
        #[arg(long, requires = "quiet_hours")]
        quiet_timezone: Option<String>,
        /// Severities that go out during quiet hours all the same (repeatable or
        /// comma-separated) [default: critical]; `none` holds every message.
        #[arg(long = "quiet-pass", value_delimiter = ',', requires = "quiet_hours")]
        quiet_pass: Vec<String>,
    },
    /// Remove the subscription of a category.
    Delete {
        /// Where the server is and who is asking.
        #[command(flatten)]
        remote: Remote,
        /// The account.
        #[arg(long, env = "MSGHUB_ACCOUNT")]
        account: String,
        /// The category.
        category: String,
    },
    /// Where a message would go if it were published now, and why (naming the mandatory
    /// rule that covers it, if one does).
    Explain(super::governance::ExplainArgs),
}

/// `msghub deliveries`.
#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    /// Where the server is and who is asking.
    #[command(flatten)]
    remote: Remote,
    /// The account.
    #[arg(long, env = "MSGHUB_ACCOUNT")]
    account: String,
    /// Take the failed deliveries up again first.
    #[arg(long)]
    requeue: bool,
    /// The message id.
    message: String,
}

fn items(page: &Value) -> Vec<Value> {
    page.get("items")
        .or(Some(page))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn print_table(headers: &[&str], rows: Vec<Vec<String>>, empty: &str) {
    if rows.is_empty() {
        println!("{empty}");
    } else {
        print!("{}", render(headers, &rows));
    }
}

/// Fetches every page of a list.
async fn all_pages(remote: &Remote, path: &str) -> Result<Vec<Value>, String> {
    let client = remote.client()?;
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(c) => format!("{path}?limit=200&cursor={}", encode(c)),
            None => format!("{path}?limit=200"),
        };
        let page = client.call(Method::GET, &page_path, None).await?.json()?;
        all.extend(items(&page));
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(all),
        }
    }
}

fn channel_row(c: &Value) -> Vec<String> {
    vec![
        text(c, "id"),
        text(c, "name"),
        text(c, "plugin"),
        truncate(
            &c.get("config").map(Value::to_string).unwrap_or_default(),
            60,
        ),
    ]
}

/// `msghub channels ...`.
pub async fn channels(command: ChannelsCommand) -> Result<(), String> {
    match command {
        ChannelsCommand::List { remote, account } => {
            let path = account_path(&account, "/channels");
            let list = all_pages(&remote, &path).await?;
            if remote.json {
                println!("{}", Value::Array(list));
                return Ok(());
            }
            print_table(
                &["ID", "NAME", "PLUGIN", "CONFIG"],
                list.iter().map(channel_row).collect(),
                "no channels",
            );
            Ok(())
        }
        ChannelsCommand::Create {
            remote,
            account,
            plugin,
            config,
            locale,
            name,
        } => {
            let text_config = match config.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read the config file {file}: {e}"))?,
                None => config,
            };
            let config: Value = serde_json::from_str(&text_config)
                .map_err(|e| format!("--config is not JSON: {e}"))?;
            let mut body = json!({"name": name, "plugin": plugin, "config": config});
            if let Some(locale) = locale {
                body["locale"] = json!(locale);
            }
            let answer = remote
                .client()?
                .call(
                    Method::POST,
                    &account_path(&account, "/channels"),
                    Some(&body),
                )
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            let c = answer.json()?;
            print!(
                "{}",
                render(&["ID", "NAME", "PLUGIN", "CONFIG"], &[channel_row(&c)])
            );
            Ok(())
        }
        ChannelsCommand::Test {
            remote,
            account,
            category,
            id,
        } => {
            let path = account_path(&account, &format!("/channels/{}/test", encode(&id)));
            let body = match category {
                Some(category) => json!({ "category": category }),
                None => json!({}),
            };
            let answer = remote
                .client()?
                .call(Method::POST, &path, Some(&body))
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            let outcome = answer.json()?;
            match outcome.get("error").and_then(Value::as_str) {
                None => {
                    println!("delivered");
                    Ok(())
                }
                Some(error) => Err(format!("the test message failed: {error}")),
            }
        }
        ChannelsCommand::Delete {
            remote,
            account,
            id,
        } => {
            let path = account_path(&account, &format!("/channels/{}", encode(&id)));
            remote.client()?.call(Method::DELETE, &path, None).await?;
            if !remote.json {
                println!("deleted channel {id}");
            }
            Ok(())
        }
    }
}

/// `msghub contacts ...`.
pub async fn contacts(command: ContactsCommand) -> Result<(), String> {
    let row = |c: &Value| vec![text(c, "id"), text(c, "name"), text(c, "email")];
    match command {
        ContactsCommand::List { remote, account } => {
            let list = all_pages(&remote, &account_path(&account, "/contacts")).await?;
            if remote.json {
                println!("{}", Value::Array(list));
                return Ok(());
            }
            print_table(
                &["ID", "NAME", "EMAIL"],
                list.iter().map(row).collect(),
                "no contacts",
            );
            Ok(())
        }
        ContactsCommand::Create {
            remote,
            account,
            email,
            locale,
            name,
        } => {
            let mut body = json!({"name": name, "email": email});
            if let Some(locale) = locale {
                body["locale"] = json!(locale);
            }
            let answer = remote
                .client()?
                .call(
                    Method::POST,
                    &account_path(&account, "/contacts"),
                    Some(&body),
                )
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            print!(
                "{}",
                render(&["ID", "NAME", "EMAIL"], &[row(&answer.json()?)])
            );
            Ok(())
        }
        ContactsCommand::Delete {
            remote,
            account,
            id,
        } => {
            let path = account_path(&account, &format!("/contacts/{}", encode(&id)));
            remote.client()?.call(Method::DELETE, &path, None).await?;
            if !remote.json {
                println!("deleted contact {id}");
            }
            Ok(())
        }
    }
}

fn subscription_row(s: &Value) -> Vec<String> {
    let digest = match s.get("digest") {
        Some(d) if d.is_object() => format!("{} {}", text(d, "cron"), text(d, "timezone")),
        _ => "each message".into(),
    };
    let digest = match s.get("quiet_hours") {
        Some(q) if q.is_object() => format!(
            "{digest}, quiet {}-{} {} (passes: {})",
            text(q, "start"),
            text(q, "end"),
            text(q, "timezone"),
            match list_of(q, "pass") {
                // An empty list: every message waits.
                pass if pass == "-" => "none".to_owned(),
                pass => pass,
            }
        ),
        _ => digest,
    };
    vec![
        text(s, "category"),
        list_of(s, "subtypes"),
        text(s, "min_severity"),
        list_of(s, "contacts"),
        list_of(s, "channels"),
        digest,
    ]
}

const SUBSCRIPTION_HEADERS: [&str; 6] = [
    "CATEGORY",
    "SUBTYPES",
    "MIN SEVERITY",
    "CONTACTS",
    "CHANNELS",
    "SENT",
];

/// `msghub subscriptions ...`.
pub async fn subscriptions(command: SubscriptionsCommand) -> Result<(), String> {
    match command {
        SubscriptionsCommand::List { remote, account } => {
            let answer = remote
                .client()?
                .call(Method::GET, &account_path(&account, "/subscriptions"), None)
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            let list = items(&answer.json()?);
            print_table(
                &SUBSCRIPTION_HEADERS,
                list.iter().map(subscription_row).collect(),
                "no subscriptions: every message stays in the inbox only",
            );
            Ok(())
        }
        SubscriptionsCommand::Set {
            remote,
            account,
            category,
            subtypes,
            min_severity,
            contacts,
            channels,
            cron,
            timezone,
            quiet_hours,
            quiet_timezone,
            quiet_pass,
        } => {
            let mut body = Map::new();
            if !subtypes.is_empty() {
                body.insert("subtypes".into(), json!(subtypes));
            }
            if let Some(min) = min_severity {
                body.insert("min_severity".into(), json!(min));
            }
            body.insert("contacts".into(), json!(contacts));
            body.insert("channels".into(), json!(channels));
            if let Some(cron) = cron {
                body.insert(
                    "digest".into(),
                    json!({"cron": cron, "timezone": timezone.unwrap_or_else(|| "UTC".into())}),
                );
            }
            if let Some(hours) = quiet_hours {
                let (start, end) = hours.split_once('-').ok_or_else(|| {
                    format!("--quiet-hours '{hours}' is not a range like 22:00-07:00")
                })?;
                let mut quiet = json!({
                    "start": start.trim(),
                    "end": end.trim(),
                    "timezone": quiet_timezone.unwrap_or_else(|| "UTC".into()),
                });
                if !quiet_pass.is_empty() {
                    let pass: Vec<&String> =
                        quiet_pass.iter().filter(|s| s.as_str() != "none").collect();
                    quiet["pass"] = json!(pass);
                }
                body.insert("quiet_hours".into(), quiet);
            }
            let path = account_path(&account, &format!("/subscriptions/{}", encode(&category)));
            let answer = remote
                .client()?
                .call(Method::PUT, &path, Some(&Value::Object(body)))
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            print!(
                "{}",
                render(&SUBSCRIPTION_HEADERS, &[subscription_row(&answer.json()?)])
            );
            Ok(())
        }
        SubscriptionsCommand::Delete {
            remote,
            account,
            category,
        } => {
            let path = account_path(&account, &format!("/subscriptions/{}", encode(&category)));
            remote.client()?.call(Method::DELETE, &path, None).await?;
            if !remote.json {
                println!("removed the {category} subscription");
            }
            Ok(())
        }
        SubscriptionsCommand::Explain(args) => super::governance::explain(args).await,
    }
}

/// `msghub deliveries MESSAGE`.
pub async fn deliveries(args: DeliveriesArgs) -> Result<(), String> {
    let client = args.remote.client()?;
    let message = encode(&args.message);
    if args.requeue {
        let path = account_path(&args.account, &format!("/messages/{message}/requeue"));
        let answer = client.call(Method::POST, &path, Some(&json!({}))).await?;
        if !args.remote.json {
            let n = answer
                .json()?
                .get("requeued")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let noun = if n == 1 { "delivery" } else { "deliveries" };
            println!("requeued {n} failed {noun}");
        }
    }
    let path = account_path(&args.account, &format!("/messages/{message}/deliveries"));
    let answer = client.call(Method::GET, &path, None).await?;
    if args.remote.json {
        println!("{}", answer.text());
        return Ok(());
    }
    let rows = items(&answer.json()?)
        .iter()
        .map(|d| {
            vec![
                text(d, "id"),
                format!("{} {}", text(d, "target"), text(d, "target_id")),
                text(d, "plugin"),
                text(d, "status"),
                text(d, "attempts"),
                text(d, "next_attempt_at"),
                truncate(&text(d, "last_error"), 50),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "TARGET",
            "PLUGIN",
            "STATUS",
            "ATTEMPTS",
            "NEXT",
            "LAST ERROR",
        ],
        rows,
        "no deliveries: no subscription took this message (it is in the inbox)",
    );
    Ok(())
}
