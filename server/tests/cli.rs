//! The `msghub` binary against a running server: tables for people, `--json` for scripts,
//! errors on stderr with a non-zero exit; `--help` everywhere; graceful shutdown.

mod common;

use std::process::{Command, Output};

use common::{OPERATOR, receiver, start};
use msghub_server::ServerConfig;
use serde_json::Value;

fn msghub(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args(args)
        .env("MSGHUB_URL", url)
        .env("MSGHUB_TOKEN", token)
        .env_remove("MSGHUB_ACCOUNT")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[tokio::test]
async fn accounts_users_publish_list_read_delete_from_the_command_line() {
    let s = start().await;
    let url = s.url();
    let out = tokio::task::spawn_blocking(move || {
        let account: Value = serde_json::from_str(&stdout(&msghub(
            &url,
            OPERATOR,
            &["accounts", "create", "acme", "--json"],
        )))
        .unwrap();
        let acc = account["id"].as_str().unwrap().to_owned();
        let root = account["root_token"].as_str().unwrap().to_owned();
        let table = stdout(&msghub(&url, OPERATOR, &["accounts", "create", "globex"]));
        assert!(table.starts_with("ID"), "{table}");
        assert!(
            table.contains("root token (shown only now): mhr_"),
            "{table}"
        );

        let user = stdout(&msghub(
            &url,
            &root,
            &[
                "users",
                "create",
                "--account",
                &acc,
                "alice",
                "--policy",
                "NotificationsReadOnlyAccess",
                "--category",
                "security,account",
            ],
        ));
        assert!(
            user.contains("alice") && user.contains("token (shown only now): mhu_"),
            "{user}"
        );

        let published: Value = serde_json::from_str(&stdout(&msghub(
            &url,
            OPERATOR,
            &[
                "publish",
                "--account",
                &acc,
                "--category",
                "security",
                "--severity",
                "critical",
                "--title",
                "DDoS attack",
                "--dedupe-key",
                "k1",
                "--json",
            ],
        )))
        .unwrap();
        let id = published["id"].as_str().unwrap().to_owned();
        let again = stdout(&msghub(
            &url,
            OPERATOR,
            &[
                "publish",
                "--account",
                &acc,
                "--category",
                "security",
                "--title",
                "DDoS attack",
                "--dedupe-key",
                "k1",
            ],
        ));
        assert!(again.contains("already published"), "{again}");
        stdout(&msghub(
            &url,
            OPERATOR,
            &[
                "publish",
                "--account",
                &acc,
                "--category",
                "account",
                "--title",
                "New sign-in",
            ],
        ));

        let listed = stdout(&msghub(
            &url,
            &root,
            &["messages", "list", "--account", &acc],
        ));
        assert!(listed.lines().next().unwrap().starts_with("ID"), "{listed}");
        assert!(
            listed.contains("DDoS attack") && listed.contains("unread"),
            "{listed}"
        );
        let page: Value = serde_json::from_str(&stdout(&msghub(
            &url,
            &root,
            &[
                "messages",
                "list",
                "--account",
                &acc,
                "--category",
                "security",
                "--json",
            ],
        )))
        .unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 1);

        let read = stdout(&msghub(
            &url,
            &root,
            &["messages", "read", "--account", &acc, &id],
        ));
        assert_eq!(read.trim(), "marked 1 message(s) read");
        let read: Value = serde_json::from_str(&stdout(&msghub(
            &url,
            &root,
            &["messages", "read", "--account", &acc, "--all", "--json"],
        )))
        .unwrap();
        assert_eq!(read["updated"], 1);
        let deleted = stdout(&msghub(
            &url,
            &root,
            &[
                "messages",
                "delete",
                "--account",
                &acc,
                "--category",
                "account",
            ],
        ));
        assert_eq!(deleted.trim(), "deleted 1 message(s)");

        // API errors: the message on stderr and a failing exit code.
        let denied = msghub(
            &url,
            &root,
            &[
                "publish",
                "--account",
                &acc,
                "--category",
                "security",
                "--title",
                "x",
            ],
        );
        assert!(!denied.status.success());
        let err = String::from_utf8_lossy(&denied.stderr);
        assert!(
            err.starts_with("error: ") && err.contains("HTTP 403"),
            "{err}"
        );
        let bad = msghub(
            &url,
            OPERATOR,
            &[
                "publish",
                "--account",
                &acc,
                "--category",
                "finance",
                "--title",
                "x",
            ],
        );
        assert!(String::from_utf8_lossy(&bad.stderr).contains("[field: category]"));
        let unreachable = msghub(
            "http://127.0.0.1:1",
            OPERATOR,
            &["messages", "list", "--account", &acc],
        );
        assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the server"));
        true
    })
    .await
    .unwrap();
    assert!(out);
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["publish", "--help"],
        vec!["messages", "--help"],
        vec!["messages", "list", "--help"],
        vec!["messages", "read", "--help"],
        vec!["messages", "delete", "--help"],
        vec!["messages", "watch", "--help"],
        vec!["accounts", "create", "--help"],
        vec!["accounts", "update", "--help"],
        vec!["users", "create", "--help"],
        vec!["plugin", "--help"],
        vec!["plugin", "list", "--help"],
        vec!["plugin", "validate", "--help"],
        vec!["plugin", "send", "--help"],
        vec!["plugin", "wit", "--help"],
        vec!["rules", "create", "--help"],
        vec!["rules", "uncovered", "--help"],
        vec!["rules", "history", "--help"],
        vec!["history", "--help"],
        vec!["subscriptions", "explain", "--help"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_msghub"))
            .args(&args)
            .output()
            .unwrap();
        let text = stdout(&o);
        assert!(text.contains("Usage: msghub"), "{args:?}: {text}");
    }
}

#[test]
fn sigterm_stops_the_server_gracefully_with_exit_code_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("MSGHUB_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let listening = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("msghub listening on http://") {
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    // The server answers, then SIGTERM ends it cleanly.
    let mut conn = std::net::TcpStream::connect(&listening).unwrap();
    std::io::Write::write_all(
        &mut conn,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut conn, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn contacts_subscriptions_and_deliveries_from_the_command_line() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let message = s.publish(&acc, "security", "New sign-in").await;
    let url = s.url();
    tokio::task::spawn_blocking(move || {
        let with_account = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend(["--account", acc.as_str()]);
            msghub(&url, &root, &all)
        };
        // A bad address fails with the field to fix, and nothing is created.
        let bad = with_account(&["contacts", "create", "--email", "finance", "Finance"]);
        assert!(!bad.status.success());
        let error = String::from_utf8_lossy(&bad.stderr);
        assert!(error.contains("[field: email]"), "{error}");
        assert_eq!(
            stdout(&with_account(&["contacts", "list"])),
            "no contacts\n"
        );

        let created: Value = serde_json::from_str(&stdout(&with_account(&[
            "contacts",
            "create",
            "--email",
            "fin@example.com",
            "Finance",
            "--json",
        ])))
        .unwrap();
        let contact = created["id"].as_str().unwrap().to_owned();
        let table = stdout(&with_account(&["contacts", "list"]));
        assert!(table.contains("fin@example.com"), "{table}");

        let bad_cron = with_account(&[
            "subscriptions",
            "set",
            "account",
            "--contact",
            &contact,
            "--cron",
            "daily",
        ]);
        assert!(!bad_cron.status.success());
        let error = String::from_utf8_lossy(&bad_cron.stderr);
        assert!(error.contains("[field: digest.cron]"), "{error}");
        let set = stdout(&with_account(&[
            "subscriptions",
            "set",
            "account",
            "--subtype",
            "low-balance",
            "--min-severity",
            "warning",
            "--contact",
            &contact,
            "--cron",
            "0 0 9 * * *",
            "--timezone",
            "Asia/Shanghai",
        ]));
        assert!(set.contains("low-balance"), "{set}");
        assert!(set.contains("0 0 9 * * * Asia/Shanghai"), "{set}");
        let list: Value =
            serde_json::from_str(&stdout(&with_account(&["subscriptions", "list", "--json"])))
                .unwrap();
        assert_eq!(list[0]["contacts"][0], contact.as_str());

        // A contact in Chinese, an account language, and quiet hours from the command line.
        let bad = with_account(&[
            "contacts",
            "create",
            "--email",
            "li@example.com",
            "--locale",
            "fr",
            "Li",
        ]);
        assert!(!bad.status.success());
        let error = String::from_utf8_lossy(&bad.stderr);
        assert!(error.contains("[field: locale]"), "{error}");
        let li: Value = serde_json::from_str(&stdout(&with_account(&[
            "contacts",
            "create",
            "--email",
            "li@example.com",
            "--locale",
            "zh-CN",
            "Li",
            "--json",
        ])))
        .unwrap();
        assert_eq!(li["locale"], "zh-CN");
        let updated = stdout(&msghub(
            &url,
            &root,
            &["accounts", "update", acc.as_str(), "--locale", "zh-CN"],
        ));
        assert!(updated.contains("zh-CN"), "{updated}");
        let li_id = li["id"].as_str().unwrap().to_owned();
        let quiet = stdout(&with_account(&[
            "subscriptions",
            "set",
            "security",
            "--contact",
            &li_id,
            "--quiet-hours",
            "22:00-07:00",
            "--quiet-timezone",
            "Asia/Shanghai",
            "--quiet-pass",
            "critical,warning",
        ]));
        assert!(
            quiet.contains("quiet 22:00-07:00 Asia/Shanghai (passes: warning,critical)"),
            "{quiet}"
        );
        stdout(&with_account(&["subscriptions", "delete", "security"]));
        stdout(&with_account(&["contacts", "delete", &li_id]));

        // The security message matched no subscription: it is in the inbox only.
        let deliveries = stdout(&with_account(&["deliveries", &message]));
        assert!(deliveries.starts_with("no deliveries"), "{deliveries}");

        // A contact in use cannot be deleted; after the subscription goes, it can.
        assert!(
            !with_account(&["contacts", "delete", &contact])
                .status
                .success()
        );
        stdout(&with_account(&["subscriptions", "delete", "account"]));
        let deleted = stdout(&with_account(&["contacts", "delete", &contact]));
        assert!(deleted.contains("deleted contact"), "{deleted}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_is_created_and_tested_from_the_command_line() {
    let s = common::start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        allow_networks: Some("127.0.0.0/8".into()),
        ..ServerConfig::ephemeral()
    })
    .await;
    let (acc, root) = s.account("acme").await;
    let hook = receiver().await;
    let url = s.url();
    tokio::task::spawn_blocking(move || {
        let with_account = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend(["--account", acc.as_str()]);
            msghub(&url, &root, &all)
        };
        let config =
            format!(r#"{{"url": "{hook}", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}"#);
        let created: Value = serde_json::from_str(&stdout(&with_account(&[
            "channels", "create", "--plugin", "webhook", "--config", &config, "ops", "--json",
        ])))
        .unwrap();
        let channel = created["id"].as_str().unwrap().to_owned();
        let tested = stdout(&with_account(&[
            "channels",
            "test",
            "--category",
            "security",
            &channel,
        ]));
        assert_eq!(tested, "delivered\n");
        let unknown = with_account(&["channels", "test", "--category", "finance", &channel]);
        assert!(!unknown.status.success());
        let error = String::from_utf8_lossy(&unknown.stderr);
        assert!(error.contains("[field: category]"), "{error}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_watch_prints_live_events_and_refuses_a_bad_token() {
    use std::io::BufRead as _;
    let s = start().await;
    let (account, root) = s.account("acme").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args(["messages", "watch", "--json", "--account", &account])
        .env("MSGHUB_URL", s.url())
        .env("MSGHUB_TOKEN", &root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, rx) = std::sync::mpsc::channel::<Value>();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if lines.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    let next = |rx: &std::sync::mpsc::Receiver<Value>| {
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("a line within 20 s")
    };
    let first = tokio::task::block_in_place(|| next(&rx));
    assert_eq!(first["event"], "counts", "{first}");
    let id = s
        .publish(&account, "security", "watched from a terminal")
        .await;
    let event = tokio::task::block_in_place(|| next(&rx));
    assert_eq!(event["event"], "message", "{event}");
    assert_eq!(event["data"]["id"], id.as_str());
    assert_eq!(event["data"]["title"], "watched from a terminal");
    child.kill().unwrap();
    let _ = child.wait();

    let url = s.url();
    let refused = tokio::task::spawn_blocking(move || {
        msghub(&url, "nope", &["messages", "watch", "--account", &account])
    })
    .await
    .unwrap();
    assert!(!refused.status.success(), "a bad token must end the watch");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test]
async fn mandatory_rules_history_and_routing_explain_from_the_command_line() {
    let s = start().await;
    let (acc, root) = s.account("acme").await;
    let (beta, _) = s.account("beta").await;
    let url = s.url();
    tokio::task::spawn_blocking(move || {
        let contact: Value = serde_json::from_str(&stdout(&msghub(
            &url,
            &root,
            &[
                "contacts",
                "create",
                "--account",
                &acc,
                "--json",
                "--email",
                "ops@example.com",
                "Ops",
            ],
        )))
        .unwrap();
        let contact = contact["id"].as_str().unwrap().to_owned();
        stdout(&msghub(
            &url,
            &root,
            &[
                "subscriptions",
                "set",
                "--account",
                &acc,
                "security",
                "--contact",
                &contact,
                "--min-severity",
                "critical",
            ],
        ));
        let rule: Value = serde_json::from_str(&stdout(&msghub(
            &url,
            OPERATOR,
            &[
                "rules",
                "create",
                "breach-notices",
                "--category",
                "security",
                "--subtype",
                "breach",
                "--json",
            ],
        )))
        .unwrap();
        let rule = rule["id"].as_str().unwrap().to_owned();
        let list = stdout(&msghub(&url, OPERATOR, &["rules", "list"]));
        assert!(
            list.contains("breach-notices") && list.contains(&rule),
            "{list}"
        );
        let uncovered = stdout(&msghub(&url, OPERATOR, &["rules", "uncovered", &rule]));
        assert!(
            uncovered.contains(&beta) && !uncovered.contains(&acc),
            "{uncovered}"
        );

        let refused = msghub(
            &url,
            &root,
            &["subscriptions", "delete", "--account", &acc, "security"],
        );
        assert!(!refused.status.success());
        let why = String::from_utf8_lossy(&refused.stderr);
        assert!(why.contains("breach-notices"), "{why}");

        let explained = stdout(&msghub(
            &url,
            &root,
            &[
                "subscriptions",
                "explain",
                "--account",
                &acc,
                "--category",
                "security",
                "--subtype",
                "breach",
            ],
        ));
        assert!(
            explained.contains("mandatory rule: breach-notices") && explained.contains(&contact),
            "{explained}"
        );

        let history = stdout(&msghub(&url, &root, &["history", "--account", &acc]));
        let lines: Vec<&str> = history.lines().collect();
        assert!(lines[0].starts_with("AT"), "{history}");
        assert!(
            lines[1].contains("subscription") && lines[1].contains("created"),
            "{history}"
        );
        assert!(
            lines[2].contains("contact") && lines[2].contains("created"),
            "{history}"
        );
        let only: Value = serde_json::from_str(&stdout(&msghub(
            &url,
            &root,
            &["history", "--account", &acc, "--kind", "contact", "--json"],
        )))
        .unwrap();
        assert_eq!(only.as_array().unwrap().len(), 1, "{only}");
        let operator = stdout(&msghub(&url, OPERATOR, &["rules", "history"]));
        assert!(
            operator.contains("mandatory_rule") && operator.contains(&rule),
            "{operator}"
        );
    })
    .await
    .unwrap();
}
