//! A plugin directory followed while the registry runs: a file added is loaded, one
//! replaced is loaded again while calls in flight finish on the old version, one replaced by
//! a file that fails to load leaves the old version serving with the error shown, one
//! removed is unloaded; the poll waits until a file stops changing.

use std::path::Path;
use std::time::Duration;

use msghub::plugin::{CallError, PluginConfig, PluginDir, PluginRegistry, PluginStatus, SendError};
use msghub_tests::{delivery, message, test_config, wasm};

/// A registry of the plugins of `dir`, followed by a [`PluginDir`]. The deadline leaves
/// room for slow-info, whose `info` takes 2 s.
async fn followed(dir: &Path) -> (PluginRegistry, PluginDir) {
    let followed = PluginDir::new(dir).expect("the directory can be read");
    let config = PluginConfig {
        call_deadline: Duration::from_secs(5),
        ..test_config()
    };
    let (registry, report) = PluginRegistry::builder(config)
        .dir(dir)
        .load()
        .await
        .expect("the plugin host starts");
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    (registry, followed)
}

async fn slow_send(registry: &PluginRegistry, ms: u64) -> Result<String, SendError> {
    registry
        .send(
            "slow-info",
            &format!(r#"{{"send_ms": {ms}}}"#),
            &delivery(vec![message("slow")]),
        )
        .await
        .map(|r| r.detail.unwrap_or_default())
}

/// Writes `bytes` at `path` through a temporary name, as an operator's deploy would.
fn put(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_added_is_loaded_once_it_stops_changing() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, followed) = followed(dir.path()).await;
    assert!(registry.plugin("echo").is_none());

    std::fs::copy(wasm("echo"), dir.path().join("echo.wasm")).unwrap();
    // The first look sees a file that may still be copied: it waits.
    let first = followed.poll(&registry).unwrap();
    assert!(first.is_empty(), "{first:?}");
    // Unchanged at the next look: it is loaded.
    let second = followed.poll(&registry).unwrap();
    assert_eq!(second.added, [dir.path().join("echo.wasm")]);
    let report = second.loading.expect("a load").finished().await;
    assert_eq!(report.loaded, ["echo"]);
    assert!(registry.plugin("echo").is_some());
    // Nothing changed since: nothing to do.
    assert!(followed.poll(&registry).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_finishes_on_the_version_it_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("channel.wasm");
    std::fs::copy(wasm("slow_info"), &file).unwrap();
    let (registry, followed) = followed(dir.path()).await;

    let in_flight = {
        let registry = registry.clone();
        tokio::spawn(async move { slow_send(&registry, 1500).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The file now holds another plugin.
    put(&file, &std::fs::read(wasm("echo")).unwrap());
    let changes = followed.reload(&registry).unwrap();
    assert_eq!(changes.replaced, std::slice::from_ref(&file));
    let report = changes.loading.expect("a load").finished().await;
    assert_eq!(report.loaded, ["echo"]);

    assert_eq!(
        in_flight.await.unwrap().expect("the old version answers"),
        "slept 1500 ms"
    );
    assert!(registry.plugin("echo").is_some());
    match slow_send(&registry, 0).await {
        Err(SendError::Call(CallError::UnknownPlugin { .. })) => {}
        other => panic!("the old plugin is gone after the replace: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_that_fails_to_load_leaves_the_old_version_serving_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow-info.wasm");
    std::fs::copy(wasm("slow_info"), &file).unwrap();
    let (registry, followed) = followed(dir.path()).await;

    put(&file, b"\0asm\x0d\0\x01\0 broken");
    let changes = followed.reload(&registry).unwrap();
    let report = changes.loading.expect("a load").finished().await;
    assert!(report.loaded.is_empty());
    assert_eq!(report.refused.len(), 1);

    assert_eq!(slow_send(&registry, 0).await.unwrap(), "slept 0 ms");
    let states = registry.states();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].name, "slow-info");
    match &states[0].status {
        PluginStatus::Ready {
            reload_error: Some(error),
            ..
        } => assert!(error.to_string().contains("slow-info.wasm"), "{error}"),
        other => panic!("expected the old version ready with the error: {other:?}"),
    }

    // A good file again clears the error.
    put(&file, &std::fs::read(wasm("slow_info")).unwrap());
    let report = followed
        .reload(&registry)
        .unwrap()
        .loading
        .expect("a load")
        .finished()
        .await;
    assert_eq!(report.loaded, ["slow-info"]);
    assert!(matches!(
        &registry.states()[0].status,
        PluginStatus::Ready {
            reload_error: None,
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_removed_unloads_its_plugin_once_it_stays_gone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("echo.wasm");
    std::fs::copy(wasm("echo"), &file).unwrap();
    let (registry, followed) = followed(dir.path()).await;
    assert!(registry.plugin("echo").is_some());

    std::fs::remove_file(&file).unwrap();
    assert!(followed.poll(&registry).unwrap().is_empty(), "not yet");
    assert!(registry.plugin("echo").is_some());
    let changes = followed.poll(&registry).unwrap();
    assert_eq!(changes.removed, [file]);
    assert!(registry.plugin("echo").is_none());
    assert!(registry.states().is_empty());
}
