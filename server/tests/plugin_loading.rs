//! The server answers at once while its plugins load in the background: `/healthz` and
//! `GET /v1/plugins` say which are loading, ready or failed; a request that needs a plugin
//! still loading completes once it is ready; a plugin that failed is refused with its reason.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http::Method;
use msghub_server::ServerConfig;
use msghub_server::config::Storage;
use serde_json::{Value, json};

use common::{OPERATOR, TestServer, start_at_once};

/// The slow-info fixture's `info` sleeps this long.
const INFO_DELAY: Duration = Duration::from_secs(2);

/// A plugin directory holding the slow-info fixture as `slow-info.wasm`, and `extra` files.
fn plugin_dir(extra: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        msghub_tests::wasm("slow_info"),
        dir.path().join("slow-info.wasm"),
    )
    .unwrap();
    for (name, bytes) in extra {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

fn config(plugins: &Path, storage: Storage) -> ServerConfig {
    ServerConfig {
        admin_token: Some(OPERATOR.into()),
        bundled_plugins: false,
        plugin_dir: Some(plugins.to_owned()),
        plugin_cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")),
        storage,
        ..ServerConfig::ephemeral()
    }
}

async fn health(s: &TestServer) -> Value {
    let r = s.raw(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_at_once_and_lists_a_slow_plugin_loading_then_ready() {
    let plugins = plugin_dir(&[]);
    let started = Instant::now();
    let s = start_at_once(config(plugins.path(), Storage::Memory)).await;
    let first = health(&s).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "/healthz answered after {:?}",
        started.elapsed()
    );
    assert_eq!(first["status"], "ok");
    assert_eq!(
        first["plugins"],
        json!({"ready": [], "loading": ["slow-info"], "failed": [], "reload_failed": []})
    );
    let listed = s.get("/v1/plugins", OPERATOR).await;
    assert_eq!(
        listed.body,
        json!([{"name": "slow-info", "status": "loading"}])
    );

    let done = s.plugins_loaded().await;
    assert!(started.elapsed() >= INFO_DELAY);
    assert_eq!(
        done["plugins"],
        json!({"ready": ["slow-info"], "loading": [], "failed": [], "reload_failed": []})
    );
    let listed = s.get("/v1/plugins", OPERATOR).await;
    assert_eq!(listed.body[0]["status"], "ready");
    assert_eq!(listed.body[0]["version"], "0.1.0");
    assert!(listed.body[0]["config_schema"].is_object());
    assert!(listed.body[0].get("error").is_none());
    let metrics = s.raw(Method::GET, "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&metrics.raw);
    assert!(text.contains("msghub_plugins_loaded 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_need_a_plugin_still_loading_complete_once_it_is_ready() {
    let plugins = plugin_dir(&[]);
    let data = tempfile::tempdir().unwrap();
    let storage = || Storage::Dir(data.path().join("data"));

    // A channel created while its plugin loads is created once the plugin is ready.
    let s = start_at_once(config(plugins.path(), storage())).await;
    let (account, root) = s.account("acme").await;
    let base = format!("/v1/accounts/{account}");
    assert_eq!(health(&s).await["plugins"]["loading"], json!(["slow-info"]));
    let r = s
        .post(
            &format!("{base}/channels"),
            &root,
            json!({"name": "slow", "plugin": "slow-info", "config": {"send_ms": 0}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let channel = r.body["id"].as_str().unwrap().to_owned();
    let r = s
        .call(
            Method::PUT,
            &format!("{base}/subscriptions/security"),
            &root,
            Some(json!({"channels": [channel]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.stop().await;

    // After a restart, a delivery and a test send made while the plugin loads go out once
    // it is ready, at the first attempt.
    let s = start_at_once(config(plugins.path(), storage())).await;
    assert_eq!(health(&s).await["plugins"]["loading"], json!(["slow-info"]));
    // Until the plugin says which fields are secret, none is shown.
    let listed = s.get(&format!("{base}/channels/{channel}"), &root).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["config"], json!({"send_ms": "***"}));
    let message = s.publish(&account, "security", "while loading").await;
    let r = s
        .post(&format!("{base}/channels/{channel}/test"), &root, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"status": "delivered", "error": null}));
    let path = format!("{base}/messages/{message}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(20);
    let delivery = loop {
        let r = s.get(&path, &root).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body[0]["status"] == "delivered" {
            break r.body[0].clone();
        }
        assert!(Instant::now() < deadline, "not delivered: {}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivery["attempts"], 1, "{delivery}");
    assert_eq!(delivery["last_error"], Value::Null);
    let listed = s.get(&format!("{base}/channels/{channel}"), &root).await;
    assert_eq!(listed.body["config"], json!({"send_ms": 0}));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_fails_to_load_is_listed_failed_with_its_reason_and_refused() {
    let plugins = plugin_dir(&[("junk.wasm", b"this is not wasm")]);
    let s = start_at_once(config(plugins.path(), Storage::Memory)).await;
    let done = s.plugins_loaded().await;
    assert_eq!(done["plugins"]["ready"], json!(["slow-info"]));
    // The health check needs no token: it names the plugin, not the reason, which names
    // files on the server.
    assert_eq!(done["plugins"]["failed"], json!(["junk"]), "{done}");

    let listed = s.get("/v1/plugins", OPERATOR).await;
    assert_eq!(listed.body[0]["name"], "junk");
    assert_eq!(listed.body[0]["status"], "failed");
    let reason = listed.body[0]["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("junk.wasm") && reason.contains("not WebAssembly"),
        "{reason}"
    );
    assert!(listed.body[0].get("config_schema").is_none());

    let (account, root) = s.account("acme").await;
    let r = s
        .post(
            &format!("/v1/accounts/{account}/channels"),
            &root,
            json!({"name": "junk", "plugin": "junk", "config": {}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().1.as_deref(), Some("plugin"));
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("plugin 'junk' failed to load: ")
            && message.contains("not WebAssembly"),
        "{message}"
    );
    let metrics = s.raw(Method::GET, "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&metrics.raw);
    assert!(text.contains("msghub_plugins_refused 1"), "{text}");
}

/// Waits until `check` holds of `GET /v1/plugins`, at most 30 s; returns the list.
async fn plugins_until(s: &TestServer, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = s.get("/v1/plugins", OPERATOR).await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        if check(&listed.body) {
            return listed.body;
        }
        assert!(Instant::now() < deadline, "{what}: {}", listed.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn plugin<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|p| p["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_files_added_replaced_and_removed_are_picked_up_without_a_restart() {
    let plugins = plugin_dir(&[]);
    let s = start_at_once(config(plugins.path(), Storage::Memory)).await;
    s.plugins_loaded().await;
    let echo = plugins.path().join("echo.wasm");

    // Added.
    std::fs::copy(msghub_tests::wasm("echo"), &echo).unwrap();
    let listed = plugins_until(&s, "echo is loaded", |l| {
        plugin(l, "echo").is_some_and(|p| p["status"] == "ready")
    })
    .await;
    let limits = &plugin(&listed, "echo").unwrap()["limits"];
    assert_eq!(limits["memory_bytes"], 16 << 20);

    // Replaced by a file that does not load: the old version stays, with the error.
    std::fs::write(&echo, b"not a plugin").unwrap();
    let listed = plugins_until(&s, "the broken replacement is reported", |l| {
        plugin(l, "echo").is_some_and(|p| p.get("error").is_some())
    })
    .await;
    let entry = plugin(&listed, "echo").unwrap();
    assert_eq!(entry["status"], "ready");
    assert!(
        entry["error"].as_str().unwrap().contains("echo.wasm"),
        "{entry}"
    );
    let seen = health(&s).await;
    assert_eq!(seen["plugins"]["reload_failed"], json!(["echo"]), "{seen}");
    assert!(
        seen["plugins"]["ready"]
            .as_array()
            .unwrap()
            .contains(&json!("echo"))
    );

    // Removed.
    std::fs::remove_file(&echo).unwrap();
    plugins_until(&s, "echo is unloaded", |l| plugin(l, "echo").is_none()).await;
    assert_eq!(health(&s).await["plugins"]["reload_failed"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reloads_the_plugin_directory_at_once() {
    let plugins = plugin_dir(&[]);
    let s = start_at_once(config(plugins.path(), Storage::Memory)).await;
    s.plugins_loaded().await;
    let (_, root) = s.account("acme").await;

    let r = s.post("/v1/plugins/reload", &root, json!({})).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error().0, "forbidden");

    std::fs::copy(msghub_tests::wasm("echo"), plugins.path().join("echo.wasm")).unwrap();
    std::fs::remove_file(plugins.path().join("slow-info.wasm")).unwrap();
    let r = s.post("/v1/plugins/reload", OPERATOR, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"added": ["echo.wasm"], "replaced": [], "removed": ["slow-info.wasm"],
               "loaded": ["echo"], "refused": []})
    );
    let listed = s.get("/v1/plugins", OPERATOR).await;
    let names: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo"]);

    // Without a plugin directory there is nothing to reload.
    let bare = start_at_once(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        bundled_plugins: false,
        ..ServerConfig::ephemeral()
    })
    .await;
    let r = bare.post("/v1/plugins/reload", OPERATOR, json!({})).await;
    assert_eq!(r.status, 404, "{}", r.body);
}
