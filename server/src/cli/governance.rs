//! The commands about what may not be unsubscribed and who changed what, on a running
//! server: the operator's mandatory rules (`msghub rules`), an account's change history
//! (`msghub history`), and the routing explanation of a message
//! (`msghub subscriptions explain`). Each prints a table for people, or the API's JSON with
//! `--json`.

use clap::{Args, Subcommand};
use http::Method;
use serde_json::{Map, Value, json};

use super::remote::{Remote, account_path, encode, list_of, text};
use super::table::{render, truncate};

/// `msghub rules ...`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the mandatory rules.
    List {
        /// Where the server is and who is asking (the operator).
        #[command(flatten)]
        remote: Remote,
    },
    /// Mark a kind of notices mandatory: they reach the category's subscribed targets
    /// whatever the subscriptions' subtypes and minimum severity say, and no subscription
    /// of the category may be deleted or left without a target.
    #[command(
        after_help = "Example: msghub rules create security-breach --category security \
--subtype breach --min-severity warning"
    )]
    Create {
        /// Where the server is and who is asking (the operator).
        #[command(flatten)]
        remote: Remote,
        /// A name, unique among the rules; refusals and routing explanations name it.
        name: String,
        /// account, product, security, exception, activity or service.
        #[arg(long)]
        category: String,
        /// Only these subtypes (repeatable or comma-separated); every subtype when left out.
        #[arg(long = "subtype", value_delimiter = ',')]
        subtypes: Vec<String>,
        /// The lowest severity covered: info (default), warning or critical.
        #[arg(long)]
        min_severity: Option<String>,
    },
    /// Delete a mandatory rule.
    Delete {
        /// Where the server is and who is asking (the operator).
        #[command(flatten)]
        remote: Remote,
        /// The rule id (mnd_...).
        rule: String,
    },
    /// The accounts with no target at all for a rule's notices (no subscription for its
    /// category, or one without channels and contacts): they get them in the inbox only.
    Uncovered {
        /// Where the server is and who is asking (the operator).
        #[command(flatten)]
        remote: Remote,
        /// The rule id (mnd_...).
        rule: String,
    },
    /// The operator's history: mandatory rules created and deleted, newest first.
    History(HistoryFilterArgs),
}

/// `msghub history`: an account's change history, newest first.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: msghub history --account acc_... --kind subscription,channel \
--since 2026-11-01T00:00:00Z"
)]
pub struct HistoryArgs {
    /// The account.
    #[arg(long, env = "MSGHUB_ACCOUNT")]
    account: String,
    #[command(flatten)]
    filter: HistoryFilterArgs,
}

/// Which entries of a history to show.
#[derive(Debug, Args)]
pub struct HistoryFilterArgs {
    /// Where the server is and who is asking.
    #[command(flatten)]
    remote: Remote,
    /// Only these kinds (repeatable or comma-separated): user, policy, channel, contact,
    /// subscription, retention, mandatory_rule, unsubscribe.
    #[arg(long = "kind", value_delimiter = ',')]
    kinds: Vec<String>,
    /// Only changes made at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Only changes made before this RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
    /// Show at most this many entries, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

/// `msghub subscriptions explain`: where a message would go if it were published now.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: msghub subscriptions explain --account acc_... --category security \
--subtype breach --severity warning --title 'Data breach'"
)]
pub struct ExplainArgs {
    /// Where the server is and who is asking.
    #[command(flatten)]
    remote: Remote,
    /// The account.
    #[arg(long, env = "MSGHUB_ACCOUNT")]
    account: String,
    /// account, product, security, exception, activity or service.
    #[arg(long)]
    category: String,
    /// The message's title.
    #[arg(long, default_value = "routing check")]
    title: String,
    /// The message's subtype.
    #[arg(long)]
    subtype: Option<String>,
    /// info (default), warning or critical.
    #[arg(long)]
    severity: Option<String>,
}

fn rule_row(r: &Value) -> Vec<String> {
    let subtypes = match list_of(r, "subtypes") {
        s if s.is_empty() => "(all)".to_owned(),
        s => s,
    };
    vec![
        text(r, "id"),
        text(r, "name"),
        text(r, "category"),
        subtypes,
        text(r, "min_severity"),
    ]
}

const RULE_HEADERS: [&str; 5] = ["ID", "NAME", "CATEGORY", "SUBTYPES", "MIN SEVERITY"];

fn print_rows(headers: &[&str], rows: Vec<Vec<String>>, empty: &str) {
    if rows.is_empty() {
        println!("{empty}");
    } else {
        print!("{}", render(headers, &rows));
    }
}

/// `msghub rules ...`.
pub async fn rules(command: RulesCommand) -> Result<(), String> {
    match command {
        RulesCommand::List { remote } => {
            let answer = remote
                .client()?
                .call(Method::GET, "/v1/mandatory-rules", None)
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            let list = answer.json()?.as_array().cloned().unwrap_or_default();
            print_rows(
                &RULE_HEADERS,
                list.iter().map(rule_row).collect(),
                "no mandatory rules: every notice follows the subscriptions' filters",
            );
            Ok(())
        }
        RulesCommand::Create {
            remote,
            name,
            category,
            subtypes,
            min_severity,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            body.insert("category".into(), json!(category));
            if !subtypes.is_empty() {
                body.insert("subtypes".into(), json!(subtypes));
            }
            if let Some(min) = min_severity {
                body.insert("min_severity".into(), json!(min));
            }
            let answer = remote
                .client()?
                .call(
                    Method::POST,
                    "/v1/mandatory-rules",
                    Some(&Value::Object(body)),
                )
                .await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            print!("{}", render(&RULE_HEADERS, &[rule_row(&answer.json()?)]));
            Ok(())
        }
        RulesCommand::Delete { remote, rule } => {
            let path = format!("/v1/mandatory-rules/{}", encode(&rule));
            remote.client()?.call(Method::DELETE, &path, None).await?;
            if !remote.json {
                println!("deleted mandatory rule {rule}");
            }
            Ok(())
        }
        RulesCommand::Uncovered { remote, rule } => {
            let path = format!(
                "/v1/mandatory-rules/{}/accounts-without-target",
                encode(&rule)
            );
            let answer = remote.client()?.call(Method::GET, &path, None).await?;
            if remote.json {
                println!("{}", answer.text());
                return Ok(());
            }
            let list = answer.json()?.as_array().cloned().unwrap_or_default();
            let rows = list
                .iter()
                .map(|a| {
                    let reason = match a.get("reason").and_then(Value::as_str) {
                        Some("no_subscription") => "no subscription for the category",
                        Some("no_targets") => "a subscription without channels or contacts",
                        _ => "",
                    };
                    vec![text(a, "account_id"), text(a, "name"), reason.to_owned()]
                })
                .collect();
            print_rows(
                &["ACCOUNT", "NAME", "WHY"],
                rows,
                "every account has a target for this rule's notices",
            );
            Ok(())
        }
        RulesCommand::History(filter) => show_history(&filter, "/v1/history").await,
    }
}

/// `msghub history`.
pub async fn history(args: HistoryArgs) -> Result<(), String> {
    show_history(&args.filter, &account_path(&args.account, "/history")).await
}

/// Fetches the newest `limit` entries of the history at `path` under the filter, then
/// prints them.
async fn show_history(filter: &HistoryFilterArgs, path: &str) -> Result<(), String> {
    let client = filter.remote.client()?;
    let mut query = Vec::new();
    if !filter.kinds.is_empty() {
        query.push(format!("kind={}", encode(&filter.kinds.join(","))));
    }
    if let Some(since) = &filter.since {
        query.push(format!("since={}", encode(since)));
    }
    if let Some(until) = &filter.until {
        query.push(format!("until={}", encode(until)));
    }
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    while entries.len() < filter.limit {
        let mut params = query.clone();
        params.push(format!("limit={}", (filter.limit - entries.len()).min(200)));
        if let Some(c) = &cursor {
            params.push(format!("cursor={}", encode(c)));
        }
        let page = client
            .call(Method::GET, &format!("{path}?{}", params.join("&")), None)
            .await?
            .json()?;
        entries.extend(
            page.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    if filter.remote.json {
        println!("{}", Value::Array(entries));
        return Ok(());
    }
    let rows = entries.iter().map(history_row).collect();
    print_rows(
        &["AT", "WHO", "KIND", "ACTION", "TARGET", "CHANGE"],
        rows,
        "no changes recorded",
    );
    Ok(())
}

fn history_row(c: &Value) -> Vec<String> {
    let actor = c.get("actor").cloned().unwrap_or(Value::Null);
    let who = match text(&actor, "kind").as_str() {
        "user" => text(&actor, "user_id"),
        other => other.to_owned(),
    };
    let change = match (c.get("before"), c.get("after")) {
        (Some(before), Some(after)) if !before.is_null() && !after.is_null() => {
            changed_fields(before, after)
        }
        (_, Some(after)) if !after.is_null() => after.to_string(),
        (Some(before), _) if !before.is_null() => before.to_string(),
        _ => String::new(),
    };
    vec![
        text(c, "at"),
        who,
        text(c, "kind"),
        text(c, "action"),
        text(c, "target"),
        truncate(&change, 70),
    ]
}

/// The fields that differ between two objects, as `field: before -> after`.
fn changed_fields(before: &Value, after: &Value) -> String {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return format!("{before} -> {after}");
    };
    after
        .iter()
        .filter(|(key, value)| before.get(*key) != Some(value))
        .map(|(key, value)| {
            let old = before.get(key).cloned().unwrap_or(Value::Null);
            format!("{key}: {old} -> {value}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `msghub subscriptions explain`.
pub async fn explain(args: ExplainArgs) -> Result<(), String> {
    let mut body = Map::new();
    body.insert("category".into(), json!(args.category));
    body.insert("title".into(), json!(args.title));
    if let Some(subtype) = args.subtype {
        body.insert("subtype".into(), json!(subtype));
    }
    if let Some(severity) = args.severity {
        body.insert("severity".into(), json!(severity));
    }
    let answer = args
        .remote
        .client()?
        .call(
            Method::POST,
            &account_path(&args.account, "/routing"),
            Some(&Value::Object(body)),
        )
        .await?;
    if args.remote.json {
        println!("{}", answer.text());
        return Ok(());
    }
    let routing = answer.json()?;
    println!("{}", text(&routing, "reason"));
    if let Some(rule) = routing.get("mandatory_rule").filter(|r| r.is_object()) {
        println!(
            "mandatory rule: {} ({})",
            text(rule, "name"),
            text(rule, "id")
        );
    }
    let targets = routing
        .get("targets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let rows = targets
        .iter()
        .map(|t| {
            vec![
                format!("{} {}", text(t, "target"), text(t, "target_id")),
                text(t, "name"),
                text(t, "plugin"),
                text(t, "digest_at"),
            ]
        })
        .collect();
    print_rows(
        &["TARGET", "NAME", "PLUGIN", "DIGEST AT"],
        rows,
        "no targets: the message reaches the inbox only",
    );
    Ok(())
}
