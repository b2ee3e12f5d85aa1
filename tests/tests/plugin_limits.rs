//! The memory cap and the deadline are the operator's, for every plugin and for single
//! ones; a plugin that states smaller needs gets them, one that states more gets the cap;
//! digests are split to fit what the plugin may use.

use std::time::Duration;

use msghub::ChannelHost;
use msghub::plugin::{CallError, PluginCaps, PluginConfig, PluginRegistry, SendError};
use msghub_tests::{delivery, message, registry, test_config};

async fn attack(registry: &PluginRegistry, attack: &str) -> CallError {
    match registry
        .send("hostile", attack, &delivery(vec![message("attack")]))
        .await
    {
        Err(SendError::Call(e)) => e,
        other => panic!("expected the call to fail, got {other:?}"),
    }
}

fn caps(plugin: &str, memory_mib: Option<usize>, deadline_ms: Option<u64>) -> PluginConfig {
    let mut config = test_config();
    config.plugin_caps.insert(
        plugin.to_owned(),
        PluginCaps {
            memory_limit: memory_mib.map(|mib| mib << 20),
            call_deadline: deadline_ms.map(Duration::from_millis),
        },
    );
    config
}

#[tokio::test]
async fn the_host_wide_memory_cap_is_the_operators() {
    let config = PluginConfig {
        memory_limit: 40 << 20,
        ..test_config()
    };
    let registry = registry(config, &["hostile"]).await;
    let e = attack(&registry, r#"{"attack": "memory-bomb"}"#).await;
    assert!(
        matches!(e, CallError::MemoryExhausted { limit, .. } if limit == 40 << 20),
        "{e:?}"
    );
}

#[tokio::test]
async fn one_plugin_may_get_its_own_memory_cap_and_deadline() {
    let registry = registry(caps("hostile", Some(6), Some(300)), &["hostile", "echo"]).await;
    let e = attack(&registry, r#"{"attack": "memory-bomb"}"#).await;
    assert!(
        matches!(e, CallError::MemoryExhausted { limit, .. } if limit == 6 << 20),
        "{e:?}"
    );
    let e = attack(&registry, r#"{"attack": "loop"}"#).await;
    assert!(
        matches!(e, CallError::Timeout { deadline, .. } if deadline == Duration::from_millis(300)),
        "{e:?}"
    );
    // The others keep the host-wide caps.
    let echo = registry.limits("echo");
    assert_eq!(echo.memory, 16 << 20);
    assert_eq!(echo.deadline, registry.config().call_deadline);
}

#[tokio::test]
async fn a_plugin_gets_the_needs_it_states_within_the_operators_cap() {
    // slow-info states 8 MiB, 60 s and digests of 3 messages; the deadline is capped at the
    // host's 5 s.
    let registry = registry_with(slow_config()).await;
    let limits = registry.limits("slow-info");
    assert_eq!(limits.memory, 8 << 20);
    assert_eq!(limits.deadline, Duration::from_secs(5));
    assert_eq!(limits.batch, 3);
    let short = limits
        .short
        .expect("it states more time than the host gives");
    assert!(
        short.contains("MSGHUB_PLUGIN_LIMITS=slow-info.deadline-ms=60000"),
        "{short}"
    );
    let budget = registry.part_budget("slow-info");
    assert_eq!(budget.messages, 3);
    assert_eq!(budget.bytes, (8 << 20) / 16);

    // The operator's cap wins over what it states.
    let mut config = slow_config();
    config.plugin_caps = caps("slow-info", Some(4), None).plugin_caps;
    let registry = registry_with(config).await;
    let limits = registry.limits("slow-info");
    assert_eq!(limits.memory, 4 << 20);
    assert!(limits.short.unwrap().contains("8 MiB of memory"));
}

async fn registry_with(config: PluginConfig) -> PluginRegistry {
    registry(config, &["slow_info"]).await
}

/// A deadline that leaves room for slow-info, whose `info` takes 2 s.
fn slow_config() -> PluginConfig {
    PluginConfig {
        call_deadline: Duration::from_secs(5),
        ..test_config()
    }
}
