//! Loading: a plugin directory loads every channel it can and names each file it refuses
//! and why; restarts take compiled plugins from the cache; the typed calls answer.

use msghub::plugin::{CallError, LoadError, PluginConfig, PluginRegistry, ValidateError};
use msghub_bundled::BundledPlugins as _;
use msghub_tests::{registry, test_config, wasm};

fn copy(guest: &str, dir: &std::path::Path, name: &str) {
    std::fs::copy(wasm(guest), dir.join(name)).expect("copy a guest");
}

#[tokio::test]
async fn a_plugin_directory_loads_channels_and_names_each_refused_file() {
    let dir = tempfile::tempdir().unwrap();
    copy("echo", dir.path(), "echo.wasm");
    copy("other_world", dir.path(), "greeter.wasm");
    copy("future_version", dir.path(), "future.wasm");
    std::fs::write(dir.path().join("junk.wasm"), b"this is not wasm").unwrap();
    // The smallest valid core module: magic, version 1, no sections.
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(
        dir.path().join("README.txt"),
        b"not a plugin, not looked at",
    )
    .unwrap();

    let (registry, report) = PluginRegistry::builder(test_config())
        .dir(dir.path())
        .load()
        .await
        .unwrap();

    assert_eq!(report.loaded, ["echo"]);
    assert_eq!(
        registry
            .plugins()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>(),
        ["echo"]
    );
    let refused: Vec<String> = report.refused.iter().map(ToString::to_string).collect();
    assert_eq!(refused.len(), 4, "{refused:#?}");
    let about = |file: &str| {
        refused
            .iter()
            .find(|e| e.contains(file))
            .unwrap_or_else(|| panic!("no error names {file}: {refused:#?}"))
            .clone()
    };
    assert!(about("core.wasm").contains("core WebAssembly module"));
    assert!(about("junk.wasm").contains("not WebAssembly"));
    let greeter = about("greeter.wasm");
    assert!(
        greeter.contains("does not implement the msghub channel world"),
        "{greeter}"
    );
    assert!(
        greeter.contains("greet"),
        "names what it exports instead: {greeter}"
    );
    let future = about("future.wasm");
    assert!(
        future.contains("msghub:notifier@0.9.0") && future.contains("msghub:notifier@0.1.0"),
        "names both versions: {future}"
    );
    assert!(matches!(
        report
            .refused
            .iter()
            .find(|e| e.to_string().contains("future.wasm")),
        Some(LoadError::UnsupportedVersion { .. })
    ));
}

#[tokio::test]
async fn a_missing_plugin_directory_is_an_error_naming_it() {
    let e = PluginRegistry::builder(test_config())
        .dir("/no/such/plugin/dir")
        .load()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("/no/such/plugin/dir"), "{e}");
}

#[tokio::test]
async fn a_restart_takes_compiled_plugins_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let config = PluginConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..test_config()
    };
    let load = || async {
        PluginRegistry::builder(config.clone())
            .file(wasm("echo"))
            .load()
            .await
            .unwrap()
            .1
    };
    let first = load().await;
    assert_eq!((first.compiled, first.cached), (1, 0));
    let second = load().await;
    assert_eq!((second.compiled, second.cached), (0, 1));
    assert_eq!(second.loaded, ["echo"]);

    // A damaged cache file costs a recompile, not a failure.
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"damaged").unwrap();
    }
    let third = load().await;
    assert_eq!(
        (third.compiled, third.cached, third.loaded.len()),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn a_second_plugin_with_the_same_name_is_refused() {
    let (registry, report) = PluginRegistry::builder(test_config())
        .file(wasm("echo"))
        .component("a copy of echo", std::fs::read(wasm("echo")).unwrap())
        .load()
        .await
        .unwrap();
    assert_eq!(report.loaded, ["echo"]);
    let e = report.refused[0].to_string();
    assert!(
        e.contains("a copy of echo") && e.contains("'echo' is already loaded"),
        "{e}"
    );
    assert!(registry.plugin("echo").is_some());
}

#[tokio::test]
async fn bundled_plugins_all_load() {
    let (registry, report) = PluginRegistry::builder(test_config())
        .bundled()
        .load()
        .await
        .unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(registry.plugins().count(), msghub_bundled::BUNDLED.len());
}

#[tokio::test]
async fn info_describes_the_plugin_its_secrets_hosts_and_rate_limit() {
    let registry = registry(test_config(), &["echo", "discord"]).await;
    let echo = registry.info("echo").await.unwrap();
    assert_eq!(
        (echo.name.as_str(), echo.version.as_str()),
        ("echo", "0.1.0")
    );
    assert_eq!(echo.interface_version, "0.1.0");
    assert!(echo.user_supplied_host);
    assert_eq!(echo.secret_fields(), ["token"]);
    let limit = echo.rate_limit.unwrap();
    assert_eq!((limit.count, limit.period.as_secs()), (20, 60));
    assert_eq!(registry.plugin("echo").as_deref(), Some(&echo));

    let discord = registry.plugin("discord").unwrap();
    assert!(!discord.user_supplied_host);
    assert!(discord.hosts.contains(&"discord.com".to_owned()));
    assert_eq!(discord.secret_fields(), ["webhook_url"]);
}

#[tokio::test]
async fn validate_config_returns_the_plugins_own_words() {
    let registry = registry(test_config(), &["echo"]).await;
    registry
        .validate_config("echo", r#"{"url": "https://example.com/hook"}"#)
        .await
        .unwrap();
    match registry.validate_config("echo", "{}").await {
        Err(ValidateError::Invalid { plugin, message }) => {
            assert_eq!(
                (plugin.as_str(), message.as_str()),
                ("echo", "set `url` or `mail_to`")
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let e = registry
        .validate_config("echo", "not json")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid configuration"), "{e}");
}

#[tokio::test]
async fn calling_an_unknown_plugin_names_it() {
    let registry = registry(test_config(), &["echo"]).await;
    let e = registry.info("telegram").await.unwrap_err();
    assert!(matches!(e, CallError::UnknownPlugin { .. }));
    assert_eq!(e.to_string(), "no plugin named 'telegram' is loaded");
}
