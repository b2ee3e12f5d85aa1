//! Configuration: the first start generates, prints and keeps an operator token; later
//! starts reuse it; a file and the environment are read with the environment winning.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::start_with;
use http::Method;
use msghub_server::ServerConfig;
use msghub_server::config::Storage;
use serde_json::json;

#[tokio::test]
async fn first_start_generates_the_token_and_later_starts_reuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = || ServerConfig {
        storage: Storage::Dir(data.clone()),
        bundled_plugins: false,
        ..ServerConfig::ephemeral()
    };
    let s = start_with(config()).await;
    let token_path = data.join("operator-token");
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.starts_with("mho_"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&token_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let r = s
        .post("/v1/accounts", &token, json!({"name": "acme"}))
        .await;
    assert_eq!(r.status, 201);
    s.stop().await;

    let again = msghub_server::start(config(), async {}).await.unwrap();
    assert!(
        again.generated_token.is_none(),
        "no token printed on a later start"
    );
    assert_eq!(again.operator_token, token);
    again.wait().await.unwrap();
    assert!(data.join("msghub.redb").exists());
}

#[test]
fn the_binary_prints_the_generated_token_once_and_reads_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("msghub.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:1\"\ndata_dir = \"{}\"\nlog = \"warn\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let first = spawn_and_read(&file, dir.path());
    assert!(first.iter().any(|l| l.starts_with("mho_")), "{first:?}");
    let second = spawn_and_read(&file, dir.path());
    assert!(!second.iter().any(|l| l.contains("mho_")), "{second:?}");
}

/// Runs `msghub serve --config file` with MSGHUB_LISTEN overriding the file's port, reads
/// stdout up to the "listening" line, then stops it with SIGTERM.
fn spawn_and_read(file: &std::path::Path, cwd: &std::path::Path) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args(["serve", "--config"])
        .arg(file)
        .env("MSGHUB_LISTEN", "127.0.0.1:0")
        .env_remove("MSGHUB_ADMIN_TOKEN")
        .env_remove("MSGHUB_DATA_DIR")
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.starts_with("msghub listening on http://127.0.0.1:");
        lines.push(line);
        if done {
            break;
        }
    }
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    lines
}

#[tokio::test]
async fn a_body_limit_from_the_configuration_applies() {
    let s = start_with(ServerConfig {
        admin_token: Some(common::OPERATOR.into()),
        bundled_plugins: false,
        body_limit: 100,
        ..ServerConfig::ephemeral()
    })
    .await;
    let r = s
        .raw(
            Method::POST,
            "/v1/accounts",
            Some(common::OPERATOR),
            Some(bytes::Bytes::from(format!(
                "{{\"name\":\"{}\"}}",
                "a".repeat(200)
            ))),
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error().0, "payload_too_large");
}

#[tokio::test]
async fn a_short_admin_token_is_refused_at_start_saying_how_long_it_must_be() {
    let refused = msghub_server::start(
        ServerConfig {
            admin_token: Some("too-short-to-be-safe".into()),
            bundled_plugins: false,
            ..ServerConfig::ephemeral()
        },
        async {},
    )
    .await
    .expect_err("a 20-character operator token must not start a server");
    let text = refused.to_string();
    assert!(text.contains("MSGHUB_ADMIN_TOKEN"), "{text}");
    assert!(text.contains("at least 32"), "{text}");
    assert!(!text.contains("too-short-to-be-safe"), "{text}");

    let accepted = start_with(ServerConfig {
        admin_token: Some("a".repeat(32)),
        bundled_plugins: false,
        ..ServerConfig::ephemeral()
    })
    .await;
    accepted.stop().await;
}
