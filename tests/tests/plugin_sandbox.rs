//! The sandbox of every call: runaway code stops at the deadline, memory stops at the cap,
//! a crash fails only its own call with a reason, the plugin sees no environment, files or
//! sockets, its output goes to the log within a budget and escaped, its strings are cut to
//! size, a spinning plugin leaves the runtime's threads to others; and after each, the host
//! serves others as before.

use std::time::{Duration, Instant};

use msghub::plugin::{CallError, FailureKind, PluginRegistry, SendError};
use msghub_tests::{Reply, TestServer, delivery, log_capture, message, registry, test_config};

async fn hostile(registry: &PluginRegistry, attack: &str) -> Result<String, SendError> {
    registry
        .send("hostile", attack, &delivery(vec![message("attack")]))
        .await
        .map(|receipt| receipt.detail.unwrap_or_default())
}

/// The well-behaved plugin still delivers, through the same registry.
async fn still_serves(registry: &PluginRegistry) {
    let server = TestServer::start(|_| Reply::ok("still here")).await;
    let config = format!(r#"{{"url": "{}"}}"#, server.url("/hook"));
    let receipt = registry
        .send(
            "echo",
            &config,
            &delivery(vec![message("after the attack")]),
        )
        .await
        .expect("the well-behaved plugin delivers");
    assert_eq!(receipt.remote_id.as_deref(), Some("still here"));
}

fn call_error(result: Result<String, SendError>) -> CallError {
    match result {
        Err(SendError::Call(e)) => e,
        other => panic!("expected the call to fail, got {other:?}"),
    }
}

#[tokio::test]
async fn an_infinite_loop_ends_within_twice_the_deadline() {
    let registry = registry(test_config(), &["hostile", "echo"]).await;
    let started = Instant::now();
    let e = call_error(hostile(&registry, r#"{"attack": "loop"}"#).await);
    let took = started.elapsed();
    assert!(took < 2 * registry.config().call_deadline, "took {took:?}");
    assert!(matches!(e, CallError::Timeout { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "plugin 'hostile' did not finish send within 2s and was stopped"
    );
    assert_eq!(SendError::Call(e).kind(), FailureKind::Retryable);
    still_serves(&registry).await;
}

#[tokio::test]
async fn a_call_blocked_in_host_io_ends_within_twice_the_deadline() {
    // The target never answers and the response timeout is longer than the deadline: only
    // the timeout around the whole call can end it (the epoch only counts guest code).
    let config = msghub::plugin::PluginConfig {
        response_timeout: Duration::from_secs(60),
        ..test_config()
    };
    let registry = registry(config, &["hostile", "echo"]).await;
    let server = TestServer::start(|_| Reply::Hang).await;
    let attack = format!(
        r#"{{"attack": "fetch", "url": "http://localhost:{}/slow"}}"#,
        server.port()
    );
    let started = Instant::now();
    let e = call_error(hostile(&registry, &attack).await);
    assert!(started.elapsed() < 2 * registry.config().call_deadline);
    assert!(matches!(e, CallError::Timeout { .. }), "{e:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "the request did reach the server"
    );
    still_serves(&registry).await;
}

#[tokio::test]
async fn a_memory_bomb_traps_at_the_cap() {
    let registry = registry(test_config(), &["hostile", "echo"]).await;
    let e = call_error(hostile(&registry, r#"{"attack": "memory-bomb"}"#).await);
    assert!(
        matches!(e, CallError::MemoryExhausted { limit, .. } if limit == 16 << 20),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "plugin 'hostile' exceeded its memory cap of 16777216 bytes in send and was stopped; \
         the operator sets the cap (MSGHUB_PLUGIN_MEMORY_MIB, or MSGHUB_PLUGIN_LIMITS for one \
         plugin)"
    );
    still_serves(&registry).await;
}

#[tokio::test]
async fn a_panic_fails_only_its_call_and_says_why() {
    let registry = registry(test_config(), &["hostile", "echo"]).await;
    let e = call_error(hostile(&registry, r#"{"attack": "panic"}"#).await);
    let text = e.to_string();
    assert!(matches!(e, CallError::Trap { .. }), "{e:?}");
    assert!(
        text.starts_with("plugin 'hostile' crashed in send:"),
        "{text}"
    );
    assert!(
        text.contains("the hostile plugin panics on purpose"),
        "{text}"
    );
    assert_eq!(SendError::Call(e).kind(), FailureKind::Permanent);
    still_serves(&registry).await;
}

#[tokio::test]
async fn a_trap_fails_only_its_call_and_says_why() {
    let registry = registry(test_config(), &["hostile", "echo"]).await;
    let e = call_error(hostile(&registry, r#"{"attack": "trap"}"#).await);
    let text = e.to_string();
    assert!(
        text.starts_with("plugin 'hostile' crashed in send:"),
        "{text}"
    );
    assert!(text.contains("unreachable"), "{text}");
    still_serves(&registry).await;
}

#[tokio::test]
async fn a_plugin_sees_no_environment_no_files_and_no_sockets() {
    // The test process has an environment (PATH at least): none of it may show inside.
    assert!(std::env::var_os("PATH").is_some());
    let registry = registry(test_config(), &["hostile", "echo"]).await;
    let server = TestServer::start(|_| Reply::ok("")).await;
    let attack = format!(
        r#"{{"attack": "snoop", "socket": "127.0.0.1:{}"}}"#,
        server.port()
    );
    let seen = hostile(&registry, &attack).await.unwrap();
    assert_eq!(seen, "env=0 file=false tcp=false");
    assert_eq!(server.connections(), 0, "no socket reached the server");
    still_serves(&registry).await;
}

#[tokio::test(flavor = "current_thread")]
async fn stdout_and_stderr_go_to_the_log_tagged_with_the_plugin() {
    let (log, _guard) = log_capture::capture();
    let registry = registry(test_config(), &["hostile"]).await;
    assert_eq!(
        hostile(&registry, r#"{"attack": "print"}"#).await.unwrap(),
        "printed"
    );
    let lines = log.lines();
    for expected in [
        "INFO hostile stdout line plugin=hostile stream=stdout",
        "INFO hostile stderr line plugin=hostile stream=stderr",
    ] {
        assert!(
            lines.iter().any(|l| l.trim() == expected),
            "{expected:?} not in {lines:#?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_empty_lines_is_cut_at_the_log_budget_with_one_notice() {
    let (log, _guard) = log_capture::capture();
    let registry = registry(test_config(), &["hostile"]).await;
    let attack = r#"{"attack": "print-lines", "text": "", "lines": 5000}"#;
    assert_eq!(hostile(&registry, attack).await.unwrap(), "printed");
    let lines = log.lines();
    let from_plugin = lines.iter().filter(|l| l.contains("stream=stdout")).count();
    assert_eq!(from_plugin, 200, "lines of the plugin in the log");
    let notices = lines.iter().filter(|l| l.contains("log truncated")).count();
    assert_eq!(notices, 1, "{:#?}", &lines[lines.len().saturating_sub(3)..]);
}

#[tokio::test(flavor = "current_thread")]
async fn log_lines_share_the_budget_and_cannot_forge_a_line() {
    let (log, _guard) = log_capture::capture();
    let registry = registry(test_config(), &["hostile"]).await;
    let forged = "ok\nINFO operator token rotated\r\u{1b}[2J";
    let attack = serde_json::json!({"attack": "log-lines", "text": forged, "lines": 5000});
    assert_eq!(
        hostile(&registry, &attack.to_string()).await.unwrap(),
        "logged"
    );
    let lines = log.lines();
    let from_plugin: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("operator token rotated"))
        .collect();
    assert_eq!(from_plugin.len(), 200);
    assert_eq!(
        from_plugin[0].trim(),
        r"INFO ok\nINFO operator token rotated\r\u{1b}[2J plugin=hostile"
    );
    assert!(lines.iter().all(|l| !l.contains('\n') && !l.contains('\r')));
    assert_eq!(
        lines.iter().filter(|l| l.contains("log truncated")).count(),
        1
    );
}

#[tokio::test]
async fn a_giant_send_error_is_cut_before_it_is_stored_or_shown() {
    let registry = registry(test_config(), &["hostile"]).await;
    match hostile(&registry, r#"{"attack": "refuse", "bytes": 14000000}"#).await {
        Err(SendError::Failed { message, .. }) => {
            assert!(message.len() <= 2048, "{} bytes", message.len());
            assert!(message.ends_with("… (cut, 14000000 bytes)"), "{message}");
        }
        other => panic!("expected a failure, got {:?}", other.map(|d| d.len())),
    }
}

#[tokio::test]
async fn a_giant_validate_config_error_is_cut_before_it_is_shown() {
    let registry = registry(test_config(), &["hostile"]).await;
    let verdict = registry
        .validate_config("hostile", r#"{"attack": "refuse", "bytes": 14000000}"#)
        .await;
    match verdict {
        Err(msghub::plugin::ValidateError::Invalid { message, .. }) => {
            assert!(message.len() <= 2048, "{} bytes", message.len());
            assert!(message.ends_with("… (cut, 14000000 bytes)"), "{message}");
        }
        other => panic!("expected a refusal, got {:?}", other.is_ok()),
    }
}

/// Plugins spinning in more calls than there are cores, started from a runtime with a
/// single thread: that thread stays free for everything else while they spin, because guest
/// code runs on the plugin host's own threads. Were guest code run on the caller's thread,
/// every 1 ms sleep of the probe would wait behind each spinner's slice (10 ms) and the
/// probe would end only after the spinners were stopped at their deadline.
#[test]
fn spinning_plugins_leave_the_callers_thread_free() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let registry = runtime.block_on(registry(test_config(), &["hostile"]));
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let registry = registry.clone();
            runtime.spawn(async move {
                let outcome = hostile(&registry, r#"{"attack": "loop"}"#).await;
                (outcome.is_err(), Instant::now())
            })
        })
        .collect();
    let probe = runtime.spawn(async {
        // Let the spinners reach their loops.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Instant::now()
    });
    let probed = runtime.block_on(probe).expect("the probe runs");
    for spinner in spinners {
        let (stopped, ended) = runtime.block_on(spinner).expect("the spinner ends");
        assert!(stopped, "the spinning call is stopped at its deadline");
        assert!(
            probed < ended,
            "the probe ran only after a spinner was stopped"
        );
    }
}
