//! Data at rest: the data directory is private to its owner, channel secrets are sealed in
//! the store file by default, and a directory or file open to others is reported with the
//! command that fixes it.

mod common;

use std::path::Path;

use common::{OPERATOR, start_with};
use msghub_server::ServerConfig;
use msghub_server::config::Storage;
use serde_json::json;

fn in_dir(data: &Path) -> ServerConfig {
    ServerConfig {
        storage: Storage::Dir(data.to_owned()),
        admin_token: Some(OPERATOR.into()),
        ..ServerConfig::ephemeral()
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every directory and file below `dir`, `dir` included.
fn everything_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = vec![dir.to_owned()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(everything_in(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn a_webhook_secret_never_appears_in_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_with(in_dir(&data)).await;
    let (account, root) = server.account("acme").await;
    let secret = "whsec_U2VhbGVkQXRSZXN0QnlEZWZhdWx0MDEyMzQ1Njc4OQ==";
    let r = server
        .post(
            &format!("/v1/accounts/{account}/channels"),
            &root,
            json!({"name": "hook", "plugin": "webhook",
                   "config": {"url": "https://hooks.example.com/in", "secret": secret}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    server.stop().await;

    let stored = std::fs::read(data.join("msghub.redb")).unwrap();
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the webhook secret is readable in msghub.redb"
    );
    assert!(data.join("secret-key").exists());

    // The generated key is kept: a later start opens the channel again.
    let again = start_with(in_dir(&data)).await;
    let listed = again
        .get(&format!("/v1/accounts/{account}/channels"), &root)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.body["items"][0]["config"]["url"],
        "https://hooks.example.com/in"
    );
    again.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_fresh_data_directory_is_private_to_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_with(ServerConfig {
        admin_token: None,
        ..in_dir(&data)
    })
    .await;
    server.stop().await;
    let found = everything_in(&data);
    for file in ["msghub.redb", "operator-token", "secret-key"] {
        assert!(
            found.contains(&data.join(file)),
            "{file} missing: {found:?}"
        );
    }
    for path in found {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(
            mode(&path),
            want,
            "{} has mode {:o}",
            path.display(),
            mode(&path)
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_data_directory_open_to_others_is_reported_with_the_chmod_to_run() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = msghub_server::start(
        ServerConfig {
            admin_token: None,
            bundled_plugins: false,
            ..in_dir(&data)
        },
        async {},
    )
    .await
    .unwrap();
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    first.wait().await.unwrap();

    let open = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(&data, open).unwrap();
    let readable = std::fs::Permissions::from_mode(0o644);
    for file in ["operator-token", "secret-key"] {
        std::fs::set_permissions(data.join(file), readable.clone()).unwrap();
    }
    let again = msghub_server::start(
        ServerConfig {
            admin_token: None,
            bundled_plugins: false,
            ..in_dir(&data)
        },
        async {},
    )
    .await
    .unwrap();
    let warnings = again.warnings.join("\n");
    again.wait().await.unwrap();
    assert!(
        warnings.contains(&format!("chmod 700 {}", data.display())),
        "{warnings}"
    );
    for file in ["operator-token", "secret-key"] {
        assert!(
            warnings.contains(&format!("chmod 600 {}", data.join(file).display())),
            "{warnings}"
        );
    }
}

#[tokio::test]
async fn a_store_sealed_with_one_key_is_refused_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_with(in_dir(&data)).await;
    let (account, root) = server.account("acme").await;
    let r = server
        .post(
            &format!("/v1/accounts/{account}/channels"),
            &root,
            json!({"name": "hook", "plugin": "webhook",
                   "config": {"url": "https://hooks.example.com/in", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    server.stop().await;

    let other = msghub::SecretKey::generate();
    let refused = msghub_server::start(
        ServerConfig {
            secret_key: Some(other),
            bundled_plugins: false,
            ..in_dir(&data)
        },
        async {},
    )
    .await
    .expect_err("another key must not open the store");
    assert!(
        refused
            .to_string()
            .contains("sealed with a different secret key"),
        "{refused}"
    );

    // Losing the key file is refused too, and the key generated in its place is not kept.
    std::fs::remove_file(data.join("secret-key")).unwrap();
    let refused = msghub_server::start(
        ServerConfig {
            bundled_plugins: false,
            ..in_dir(&data)
        },
        async {},
    )
    .await
    .expect_err("a new key must not open the store");
    assert!(refused.to_string().contains("secret key"), "{refused}");
    assert!(!data.join("secret-key").exists());
}
