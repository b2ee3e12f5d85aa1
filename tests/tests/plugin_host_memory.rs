//! A plugin cannot make the host hold memory beyond the call's budget: handles to host
//! resources (header maps, requests, responses) are counted per call, so a guest that keeps
//! 4-byte handles while the host keeps the data is stopped long before the host's memory is.
//!
//! Each test measures the growth of the process's peak resident memory (`VmHWM`) across one
//! hostile call; the bound is generous, the unbounded host grows by gigabytes.

use std::time::Duration;

use msghub::plugin::{CallError, PluginConfig, PluginRegistry, SendError};
use msghub_tests::{Reply, TestServer, delivery, message, registry, test_config};

/// The most the host's peak memory may grow during one hostile call.
const GROWTH_BOUND: u64 = 100 << 20;

/// The process's peak resident memory so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib << 10
}

fn roomy_config() -> PluginConfig {
    PluginConfig {
        call_deadline: Duration::from_secs(20),
        response_timeout: Duration::from_secs(10),
        ..test_config()
    }
}

async fn hostile(registry: &PluginRegistry, attack: &str) -> Result<String, SendError> {
    registry
        .send("hostile", attack, &delivery(vec![message("attack")]))
        .await
        .map(|receipt| receipt.detail.unwrap_or_default())
}

#[tokio::test]
async fn hoarding_header_maps_is_stopped_at_the_handle_cap_not_at_host_memory() {
    let registry = registry(roomy_config(), &["hostile"]).await;
    let before = peak_rss();
    // 50,000 maps of 12 KB each: 600 MB held by the host if nothing counts the handles.
    let outcome = hostile(
        &registry,
        r#"{"attack": "header-maps", "count": 50000, "size": 12000}"#,
    )
    .await;
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < GROWTH_BOUND,
        "the host's peak memory grew by {} MiB",
        grown >> 20
    );
    match outcome {
        Err(SendError::Call(e @ CallError::HostResources { .. })) => {
            let text = e.to_string();
            assert!(
                text.starts_with("plugin 'hostile' held more than") && text.contains("send"),
                "{text}"
            );
        }
        other => panic!("expected the call to be stopped at the handle cap, got {other:?}"),
    }
}

#[tokio::test]
async fn a_header_map_larger_than_the_field_cap_stops_the_call_saying_so() {
    let registry = registry(roomy_config(), &["hostile"]).await;
    let outcome = hostile(
        &registry,
        r#"{"attack": "header-maps", "count": 1, "size": 100000}"#,
    )
    .await;
    match outcome {
        Err(SendError::Call(e @ CallError::Trap { .. })) => {
            let text = e.to_string();
            assert!(
                text.contains("total size of fields exceeds limit"),
                "{text}"
            );
        }
        other => panic!("expected the call to be stopped, got {other:?}"),
    }
}

#[tokio::test]
async fn fanning_out_requests_is_capped_per_call_and_bounds_held_responses() {
    let registry = registry(roomy_config(), &["hostile"]).await;
    let server = TestServer::start(|_| Reply::Answer(200, Vec::new(), vec![b'x'; 1 << 20])).await;
    let before = peak_rss();
    // 200 requests answered with 1 MiB each, all kept: 200 MiB held by the host if nothing
    // counts requests and response bytes per call.
    let attack = format!(
        r#"{{"attack": "fan-out", "authority": "127.0.0.1:{}", "count": 200}}"#,
        server.port()
    );
    let detail = hostile(&registry, &attack)
        .await
        .expect("the plugin sees its requests fail and answers");
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < GROWTH_BOUND,
        "the host's peak memory grew by {} MiB ({detail})",
        grown >> 20
    );
    let sent = server.requests().len();
    assert!(
        sent <= PluginConfig::default().max_requests_per_call as usize,
        "{sent} requests reached the server ({detail})"
    );
    assert!(detail.contains("failed="), "{detail}");
    assert!(!detail.contains("answered=200"), "{detail}");
}
