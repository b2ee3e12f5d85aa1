//! Loading in the background: a registry is usable before its plugins are; a call for a
//! plugin still loading waits for it, a call for one that failed says why, and a call in
//! flight finishes on the version it started with when the plugin is removed or replaced.

use std::time::{Duration, Instant};

use msghub::plugin::{CallError, PluginConfig, PluginRegistry, PluginStatus, ValidateError};
use msghub_tests::{delivery, message, test_config, wasm};

/// The slow-info fixture's `info` sleeps this long.
const INFO_DELAY: Duration = Duration::from_secs(2);

/// The tests' configuration, with a call deadline that leaves the slow `info` time to end.
fn config() -> PluginConfig {
    PluginConfig {
        call_deadline: Duration::from_secs(5),
        ..test_config()
    }
}

fn plugin_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (guest, name) in files {
        std::fs::copy(wasm(guest), dir.path().join(name)).expect("copy a guest");
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_for_a_plugin_still_loading_waits_until_it_is_ready() {
    let dir = plugin_dir(&[("slow_info", "slow-info.wasm")]);
    let started = Instant::now();
    let (registry, loading) = PluginRegistry::builder(config())
        .dir(dir.path())
        .load_in_background()
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
    let states = registry.states();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].name, "slow-info");
    assert!(matches!(states[0].status, PluginStatus::Loading));
    assert!(registry.is_loading());
    assert!(registry.plugin("slow-info").is_none());

    registry.validate_config("slow-info", "{}").await.unwrap();
    assert!(
        started.elapsed() >= INFO_DELAY,
        "answered after {:?}, before the plugin could be ready",
        started.elapsed()
    );
    assert!(registry.plugin("slow-info").is_some());
    assert!(matches!(
        registry.states()[0].status,
        PluginStatus::Ready { took, .. } if took >= INFO_DELAY
    ));
    let report = loading.finished().await;
    assert_eq!(report.loaded, ["slow-info"]);
    assert!(report.refused.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_is_unknown_only_once_nothing_is_loading() {
    // The file's name says nothing of the plugin's: until its `info` answers, any name may
    // be the one it will have.
    let dir = plugin_dir(&[("slow_info", "a-file-name.wasm")]);
    let started = Instant::now();
    let (registry, _loading) = PluginRegistry::builder(config())
        .dir(dir.path())
        .load_in_background()
        .unwrap();
    registry.validate_config("slow-info", "{}").await.unwrap();
    let e = registry.info("telegram").await.unwrap_err();
    assert!(matches!(e, CallError::UnknownPlugin { .. }), "{e}");
    assert!(started.elapsed() >= INFO_DELAY);
    // Nothing loads any more: an unknown name is answered at once.
    let asked = Instant::now();
    registry.info("telegram").await.unwrap_err();
    assert!(asked.elapsed() < Duration::from_millis(100));
}

#[tokio::test]
async fn a_call_for_a_plugin_that_failed_to_load_names_the_load_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.wasm"), b"this is not wasm").unwrap();
    let (registry, report) = PluginRegistry::builder(config())
        .dir(dir.path())
        .load()
        .await
        .unwrap();
    assert_eq!(report.refused.len(), 1);
    let states = registry.states();
    assert_eq!(states[0].name, "junk");
    assert!(matches!(&states[0].status, PluginStatus::Failed { error }
        if error.to_string().contains("not WebAssembly")));

    match registry.validate_config("junk", "{}").await {
        Err(ValidateError::Call(CallError::LoadFailed { plugin, reason })) => {
            assert_eq!(plugin, "junk");
            assert!(reason.contains("junk.wasm"), "{reason}");
        }
        other => panic!("expected the load error, got {other:?}"),
    }
    let e = registry
        .send("junk", "{}", &delivery(vec![message("x")]))
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with("plugin 'junk' failed to load: "),
        "{e}"
    );
    assert_eq!(e.kind(), msghub::plugin::FailureKind::Permanent);
}

/// The slow-info fixture loaded from its file in a fresh directory, and a `send` of it that
/// takes 600 ms, 200 ms under way.
async fn send_in_flight() -> (
    tempfile::TempDir,
    PluginRegistry,
    tokio::task::JoinHandle<Result<msghub::plugin::Receipt, msghub::plugin::SendError>>,
) {
    let dir = plugin_dir(&[("slow_info", "slow-info.wasm")]);
    let file = dir.path().join("slow-info.wasm");
    let (registry, _) = PluginRegistry::builder(config())
        .file(&file)
        .load()
        .await
        .unwrap();
    let in_flight = {
        let registry = registry.clone();
        tokio::spawn(async move {
            registry
                .send(
                    "slow-info",
                    r#"{"send_ms": 600}"#,
                    &delivery(vec![message("x")]),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    (dir, registry, in_flight)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_finishes_on_the_version_it_started_with() {
    let (dir, registry, in_flight) = send_in_flight().await;
    let file = dir.path().join("slow-info.wasm");
    assert!(registry.remove_file(&file));
    let e = registry.info("slow-info").await.unwrap_err();
    assert!(matches!(e, CallError::UnknownPlugin { .. }), "{e}");

    let receipt = in_flight
        .await
        .unwrap()
        .expect("the call in flight succeeds");
    assert_eq!(receipt.detail.as_deref(), Some("slept 600 ms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_loaded_again_serves_calls_in_flight_on_the_old_version_and_new_calls_on_the_new() {
    let (dir, registry, in_flight) = send_in_flight().await;
    let file = dir.path().join("slow-info.wasm");
    // The file is replaced (here by another plugin) and loaded again.
    std::fs::copy(wasm("echo"), &file).unwrap();
    let reloading = registry.load_file(&file).unwrap();
    assert!(registry.is_loading());
    // Until the new version is ready, the old one serves, shown as ready and reloading.
    assert!(registry.plugin("slow-info").is_some());
    assert!(matches!(
        registry.states()[0].status,
        PluginStatus::Ready {
            reloading: true,
            ..
        }
    ));
    assert_eq!(reloading.finished().await.loaded, ["echo"]);
    assert_eq!(registry.info("echo").await.unwrap().name, "echo");
    // The new version has another name: the old one is gone.
    let e = registry.info("slow-info").await.unwrap_err();
    assert!(matches!(e, CallError::UnknownPlugin { .. }), "{e}");

    let receipt = in_flight
        .await
        .unwrap()
        .expect("the call in flight succeeds");
    assert_eq!(receipt.detail.as_deref(), Some("slept 600 ms"));
}

#[tokio::test]
async fn loading_in_the_background_needs_a_runtime() {
    let e = PluginRegistry::builder(config())
        .load_in_background()
        .map(drop)
        .map_err(|e| e.to_string());
    assert!(e.is_ok(), "inside a runtime it starts: {e:?}");
    let outside = std::thread::spawn(|| {
        PluginRegistry::builder(config())
            .load_in_background()
            .map(drop)
    })
    .join()
    .unwrap();
    assert!(matches!(
        outside,
        Err(msghub::plugin::RegistryError::NoRuntime)
    ));
}
