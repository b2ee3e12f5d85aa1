//! The outgoing request policy: declared hosts only, public addresses only for user-supplied
//! targets unless allow-listed, no redirects, connect and response timeouts, capped bodies,
//! and one pool of connections shared by every call and plugin.

use std::time::Duration;

use msghub::plugin::{FailureKind, PluginConfig, PluginRegistry, SendError};
use msghub_tests::{
    Reply, TestServer, delivery, hostile_fetch as fetch, message, registry, test_config,
};

async fn echo(registry: &PluginRegistry, url: &str) -> Result<String, SendError> {
    let config = format!(r#"{{"url": "{url}"}}"#);
    registry
        .send("echo", &config, &delivery(vec![message("hello")]))
        .await
        .map(|r| r.remote_id.unwrap_or_default())
}

fn refused(result: Result<String, SendError>) -> (FailureKind, String, Vec<String>) {
    match result {
        Err(SendError::Failed {
            kind,
            message,
            refusals,
            ..
        }) => (kind, message, refusals),
        other => panic!("expected a failed delivery, got {other:?}"),
    }
}

#[tokio::test]
async fn allow_listed_networks_are_reachable_by_every_plugin_over_http() {
    let registry = registry(test_config(), &["hostile", "echo"]).await;
    let server = TestServer::start(|_| Reply::ok("in the allow-list")).await;
    // 127.0.0.1 is not among the hostile plugin's declared hosts, but is allow-listed.
    let seen = fetch(&registry, &server.url("/x")).await;
    assert_eq!(seen, "status=200 body=in the allow-list");
    assert_eq!(
        echo(&registry, &server.url("/y")).await.unwrap(),
        "in the allow-list"
    );
    // The allow-list opens only its own networks.
    let (_, _, reasons) = refused(echo(&registry, "https://10.0.0.1/").await);
    assert!(reasons[0].contains("private (10.0.0.0/8)"), "{reasons:?}");
}

#[tokio::test]
async fn a_user_supplied_target_may_not_reach_internal_addresses_without_the_allow_list() {
    let config = PluginConfig {
        allow_networks: Vec::new(),
        ..test_config()
    };
    let registry = registry(config, &["echo"]).await;
    let server = TestServer::start(|_| Reply::ok("must not be reached")).await;
    let port = server.port();
    let cases = [
        (format!("https://127.0.0.1:{port}/"), "loopback"),
        (format!("http://127.0.0.1:{port}/"), "loopback"),
        (format!("https://localhost:{port}/"), "loopback"),
        (format!("https://[::1]:{port}/"), "loopback"),
        (format!("https://[::ffff:127.0.0.1]:{port}/"), "loopback"),
        (
            "https://169.254.169.254/latest/meta-data/".to_owned(),
            "cloud metadata",
        ),
        (
            "https://[::ffff:169.254.169.254]/".to_owned(),
            "cloud metadata",
        ),
        ("https://10.1.2.3/".to_owned(), "private"),
        ("https://192.168.1.1/".to_owned(), "private"),
        ("https://172.16.0.1/".to_owned(), "private"),
        ("https://100.64.0.1/".to_owned(), "CGNAT"),
        ("https://[fe80::1]/".to_owned(), "link-local"),
    ];
    for (url, range) in cases {
        let (kind, message, reasons) = refused(echo(&registry, &url).await);
        assert_eq!(kind, FailureKind::Permanent, "{url}");
        assert!(
            message.contains("the host refused the request"),
            "{url}: {message}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains(range) && r.contains("MSGHUB_ALLOW_NETWORKS")),
            "{url}: {reasons:?}"
        );
        if url.contains("localhost") {
            // A name's refused address is for the operator's log, not for whoever set the
            // URL: it would map internal names for them.
            assert!(
                reasons
                    .iter()
                    .any(|r| r.contains("'localhost' resolves to a loopback")),
                "{reasons:?}"
            );
            for text in reasons.iter().chain([&message]) {
                assert!(
                    !text.contains("127.0.0.1") && !text.contains("::1"),
                    "{text}"
                );
            }
        }
    }
    assert_eq!(
        server.connections(),
        0,
        "nothing reached the loopback server"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let registry = registry(test_config(), &["echo"]).await;
    let server = TestServer::start(|request| {
        if request.path == "/moved" {
            Reply::Answer(302, vec![("location", "/elsewhere".to_owned())], Vec::new())
        } else {
            Reply::ok("followed")
        }
    })
    .await;
    let (kind, message, _) = refused(echo(&registry, &server.url("/moved")).await);
    assert_eq!(kind, FailureKind::Permanent);
    assert!(message.contains("HTTP 302"), "{message}");
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/moved"]);
}

#[tokio::test]
async fn a_target_that_does_not_answer_in_time_times_out() {
    let registry = registry(test_config(), &["echo"]).await;
    let server = TestServer::start(|_| Reply::Hang).await;
    let started = std::time::Instant::now();
    let (kind, message, _) = refused(echo(&registry, &server.url("/slow")).await);
    assert_eq!(kind, FailureKind::Retryable);
    assert!(message.contains("did not answer in time"), "{message}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_target_that_does_not_accept_in_time_times_out() {
    // A listener whose accept queue is full: the kernel drops further SYNs, so connecting
    // hangs until the connect timeout.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    // The response timeout counts from the start of the request, connecting included: keep
    // the connect timeout the shorter one, as the defaults do (5 s and 10 s).
    let config = PluginConfig {
        connect_timeout: Duration::from_millis(200),
        ..test_config()
    };
    let registry = registry(config, &["echo"]).await;
    let (kind, message, _) = refused(echo(&registry, &format!("http://{addr}/")).await);
    assert_eq!(kind, FailureKind::Retryable);
    assert!(
        message.contains("connecting to the target timed out"),
        "{message}"
    );
    drop(listener);
}

#[tokio::test]
async fn response_bodies_are_capped() {
    let config = PluginConfig {
        response_body_limit: 64 * 1024,
        ..test_config()
    };
    let registry = registry(config, &["echo"]).await;
    let server = TestServer::start(|_| Reply::Answer(200, Vec::new(), vec![b'x'; 1 << 20])).await;
    let (kind, message, _) = refused(echo(&registry, &server.url("/big")).await);
    assert_eq!(kind, FailureKind::Permanent);
    assert!(
        message.contains("exceeds the host's cap of 65536 bytes"),
        "{message}"
    );
    // Under the cap, the same plugin reads the whole body (it echoes it as its receipt's id,
    // which the host cuts to 256 bytes, noting the size the plugin returned).
    let small = TestServer::start(|_| Reply::Answer(200, Vec::new(), vec![b'y'; 60 * 1024])).await;
    let echoed = echo(&registry, &small.url("/ok")).await.unwrap();
    assert!(echoed.ends_with("… (cut, 61440 bytes)"), "{echoed}");
}

#[tokio::test]
async fn streamed_response_bodies_are_capped_too() {
    // No Content-Length to refuse up front: the cap must cut the stream itself.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request).await.unwrap();
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        let chunk = format!("4000\r\n{}\r\n", "z".repeat(0x4000));
        for _ in 0..64 {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                return; // the host hung up: expected once the cap is passed
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    });
    let config = PluginConfig {
        response_body_limit: 64 * 1024,
        ..test_config()
    };
    let registry = registry(config, &["echo"]).await;
    let (kind, message, _) = refused(echo(&registry, &format!("http://{addr}/stream")).await);
    assert_eq!(kind, FailureKind::Permanent, "{message}");
    assert!(
        message.contains("exceeds the host's cap of 65536 bytes"),
        "{message}"
    );
    server.abort();
}

#[tokio::test]
async fn connections_are_reused_across_calls_and_plugins() {
    let registry = registry(test_config(), &["echo", "discord"]).await;
    let server = TestServer::start(|_| Reply::ok(r#"{"id": "1"}"#)).await;
    for _ in 0..3 {
        echo(&registry, &server.url("/hook")).await.unwrap();
    }
    let discord = format!(
        r#"{{"webhook_url": "{}"}}"#,
        server.url("/api/webhooks/1/t")
    );
    registry
        .send("discord", &discord, &delivery(vec![message("hi")]))
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 4);
    assert_eq!(
        server.connections(),
        1,
        "one kept-alive connection served every call"
    );
}

async fn post_after_handle(registry: &PluginRegistry, url: &str) -> Result<String, SendError> {
    let body = "x".repeat(20_000);
    let attack = format!(r#"{{"attack": "post-after-handle", "url": "{url}", "body": "{body}"}}"#);
    registry
        .send("hostile", &attack, &delivery(vec![message("post")]))
        .await
        .map(|r| r.detail.unwrap_or_default())
}

#[tokio::test]
async fn a_refused_request_whose_body_is_written_after_handle_fails_with_the_reason_not_a_crash() {
    // The order of the `fetch` of componentize-js: `handle`, then the body. A refusal must
    // reach the plugin as the response's error code, with its body still writable.
    let config = PluginConfig {
        allow_networks: Vec::new(),
        ..test_config()
    };
    let registry = registry(config, &["hostile"]).await;
    let server = TestServer::start(|_| Reply::ok("reached")).await;

    // Refused by the declared-hosts rule, before anything leaves the host.
    let seen = post_after_handle(&registry, &format!("http://127.0.0.1:{}/x", server.port()))
        .await
        .expect("the plugin answers instead of crashing");
    assert_eq!(seen, "error=ErrorCode::HttpRequestDenied");

    // Refused after DNS: a declared host that resolves to loopback.
    let seen = post_after_handle(&registry, &format!("http://localhost:{}/x", server.port()))
        .await
        .expect("the plugin answers instead of crashing");
    assert_eq!(seen, "error=ErrorCode::HttpRequestDenied");
    assert!(server.requests().is_empty(), "nothing reached the target");

    // Allowed, the same call posts its whole body.
    let registry = msghub_tests::registry(test_config(), &["hostile"]).await;
    let seen = post_after_handle(&registry, &format!("http://localhost:{}/x", server.port()))
        .await
        .expect("the plugin posts");
    assert_eq!(seen, "status=200");
    assert_eq!(server.requests()[0].body.len(), 20_000);
}

#[tokio::test]
async fn a_crash_after_a_refusal_says_what_was_refused() {
    let registry = registry(test_config(), &["hostile"]).await;
    let attack = r#"{"attack": "fetch-then-panic", "url": "http://undeclared.invalid/x"}"#;
    let e = registry
        .send("hostile", attack, &delivery(vec![message("crash")]))
        .await
        .expect_err("the plugin panics");
    let text = e.to_string();
    assert!(text.contains("crashed in send"), "{text}");
    assert!(
        text.contains(
            "refused by the sandbox: host 'undeclared.invalid' is not declared by plugin \
             'hostile'"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn an_undeclared_loopback_address_is_refused_with_the_setting_that_opens_it() {
    let config = PluginConfig {
        allow_networks: Vec::new(),
        ..test_config()
    };
    let registry = registry(config, &["echo", "hostile"]).await;
    // A declared host that is loopback, and an undeclared loopback literal.
    let (_, _, refusals) = refused(echo(&registry, "http://127.0.0.1:9/hook").await);
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("loopback") && r.contains("MSGHUB_ALLOW_NETWORKS")),
        "{refusals:?}"
    );
    let attack = r#"{"attack": "fetch-then-panic", "url": "http://127.0.0.1:9/x"}"#;
    let e = registry
        .send("hostile", attack, &delivery(vec![message("x")]))
        .await
        .expect_err("the plugin panics")
        .to_string();
    assert!(
        e.contains("not declared") && e.contains("MSGHUB_ALLOW_NETWORKS"),
        "{e}"
    );
}
