//! No client can exhaust the server: label values, connections, slow headers and bodies,
//! and shutdown are all bounded. Each test plays one attack against a real server on
//! loopback.

mod common;

use std::time::Duration;

use common::{OPERATOR, start, start_with};
use msghub_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config() -> ServerConfig {
    ServerConfig {
        admin_token: Some(OPERATOR.into()),
        bundled_plugins: false,
        ..ServerConfig::ephemeral()
    }
}

/// Reads until the peer closes the connection or `within` passes; `None` when it is still
/// open then.
async fn read_until_closed(conn: &mut TcpStream, within: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn invented_methods_are_counted_as_other_and_never_grow_the_metrics() {
    let s = start().await;
    for i in 0..40 {
        let method = format!("X{i:03}{}", "A".repeat(20_000));
        let mut conn = TcpStream::connect(s.addr).await.unwrap();
        let request = format!("{method} /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut conn, Duration::from_secs(5))
            .await
            .expect("answered");
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer:.200}");
    }
    let metrics = s.raw(http::Method::GET, "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&metrics.raw);
    assert!(
        !text.contains("AAAA"),
        "a client's method became a label value"
    );
    assert!(
        text.contains(
            "msghub_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 40"
        ),
        "{text}"
    );
    assert!(text.len() < 32 * 1024, "{} bytes of metrics", text.len());
}

#[tokio::test]
async fn a_half_sent_header_is_closed_within_the_header_timeout() {
    let s = start_with(ServerConfig {
        header_timeout: Duration::from_secs(1),
        ..config()
    })
    .await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let closed = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "a client that never finished its headers still holds its connection"
    );
    assert!(!closed.unwrap_or_default().contains("200 OK"));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let s = start_with(ServerConfig {
        header_timeout: Duration::from_secs(1),
        ..config()
    })
    .await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut conn, Duration::from_secs(5))
        .await
        .expect("the idle connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_answered_408_and_its_connection_closed() {
    let s = start_with(ServerConfig {
        body_timeout: Duration::from_secs(1),
        ..config()
    })
    .await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let request = format!(
        "POST /v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut conn, Duration::from_secs(5))
        .await
        .expect("a slow body does not hold the connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let s = start_with(ServerConfig {
        max_connections: 2,
        header_timeout: Duration::from_secs(30),
        ..config()
    })
    .await;
    let first = TcpStream::connect(s.addr).await.unwrap();
    let _second = TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut third = TcpStream::connect(s.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(800), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served over a cap of two"
    );

    drop(first);
    let answer = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("served once a slot is free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn sigterm_with_a_stalled_client_exits_within_the_grace_period() {
    use std::io::{BufRead as _, Write as _};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("MSGHUB_LOG", "warn")
        .env("MSGHUB_ADMIN_TOKEN", OPERATOR)
        .env("MSGHUB_SHUTDOWN_GRACE", "1")
        .env("MSGHUB_BODY_TIMEOUT", "120")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let listening = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("msghub listening on http://") {
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    // A request whose body never comes: in flight, and stalled.
    let mut stalled = std::net::TcpStream::connect(&listening).unwrap();
    let request = format!(
        "POST /v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stalled.write_all(request.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let signalled = std::time::Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if signalled.elapsed() > Duration::from_secs(10) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server still waited for a stalled client 10 s after SIGTERM");
    };
    assert_eq!(status.code(), Some(0));
    assert!(signalled.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn every_answer_forbids_framing_sniffing_and_referrers() {
    let s = start().await;
    for path in [
        "/",
        "/console/app.js",
        "/healthz",
        "/v1/accounts",
        "/nowhere",
    ] {
        let r = s.raw(http::Method::GET, path, None, None).await;
        let header = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let policy = header("content-security-policy");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    }
}
