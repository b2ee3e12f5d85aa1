//! Live events over HTTP: the SSE stream with a token or a ticket, what it carries, resuming
//! with Last-Event-ID, the per-account cap, and shutdown.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{OPERATOR, start, start_with};
use msghub_server::ServerConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One event as the stream sent it.
#[derive(Debug)]
struct Sse {
    id: String,
    event: String,
    data: Value,
}

/// A minimal SSE client: one GET on its own connection, read line by line.
struct Stream {
    status: u16,
    lines: BufReader<TcpStream>,
}

impl Stream {
    async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Stream {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        tcp.write_all(request.as_bytes()).await.expect("send");
        let mut lines = BufReader::new(tcp);
        let mut status_line = String::new();
        lines.read_line(&mut status_line).await.expect("status");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {status_line:?}"));
        let mut stream = Stream { status, lines };
        // The headers.
        loop {
            let line = stream.line().await.expect("headers");
            if line.is_empty() {
                break;
            }
            if status == 200 && line.to_ascii_lowercase().starts_with("content-type:") {
                assert!(line.contains("text/event-stream"), "{line}");
            }
        }
        stream
    }

    /// One line without its line end; `None` at the end of the connection.
    async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.lines.read_line(&mut line).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
        }
    }

    /// The next event (chunk-size lines of the chunked encoding and comments skipped);
    /// `None` when the stream ended.
    async fn next(&mut self) -> Option<Sse> {
        tokio::time::timeout(Duration::from_secs(10), async {
            let (mut id, mut event, mut data) = (String::new(), String::new(), None);
            loop {
                let line = self.line().await?;
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.to_owned();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).expect("data is JSON"));
                } else if line.is_empty()
                    && let Some(data) = data.take()
                {
                    return Some(Sse { id, event, data });
                } else if line == "0" {
                    // The last chunk.
                    return None;
                }
            }
        })
        .await
        .expect("an event within 10 s")
    }

    /// Events until one named `name`, which is returned.
    async fn until(&mut self, name: &str) -> Sse {
        loop {
            let event = self.next().await.expect("the stream goes on");
            if event.event == name {
                return event;
            }
        }
    }
}

#[tokio::test]
async fn a_stream_carries_new_messages_deletes_and_counts() {
    let server = start().await;
    let (account, root) = server.account("acme").await;
    let path = format!("/v1/accounts/{account}/events");
    let auth = format!("Bearer {root}");
    let mut stream = Stream::open(server.addr, &path, &[("Authorization", &auth)]).await;
    assert_eq!(stream.status, 200);
    let opening = stream.next().await.unwrap();
    assert_eq!(opening.event, "counts");
    assert_eq!(opening.data["unread"], 0);

    let id = server.publish(&account, "security", "new sign-in").await;
    let message = stream.next().await.unwrap();
    assert_eq!(message.event, "message");
    assert_eq!(message.data["id"], id.as_str());
    assert_eq!(message.data["title"], "new sign-in");
    assert_eq!(message.data["read"], false);
    let counts = stream.next().await.unwrap();
    assert_eq!(counts.event, "counts");
    assert_eq!(counts.data["unread"], 1);
    assert_eq!(counts.data["by_category"]["security"]["unread"], 1);

    let r = server
        .post(
            &format!("/v1/accounts/{account}/messages/mark-read"),
            &root,
            json!({ "ids": [id] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(stream.until("counts").await.data["unread"], 0);

    let r = server
        .call(
            http::Method::DELETE,
            &format!("/v1/accounts/{account}/messages/{id}"),
            &root,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let deleted = stream.next().await.unwrap();
    assert_eq!(deleted.event, "deleted");
    assert_eq!(deleted.data["ids"], json!([id]));

    let metrics = server.raw(http::Method::GET, "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&metrics.raw);
    assert!(text.contains("msghub_event_streams 1"), "{text}");
}

#[tokio::test]
async fn a_ticket_opens_one_stream_and_a_token_never_goes_in_the_url() {
    let server = start().await;
    let (account, root) = server.account("acme").await;
    let (other, other_root) = server.account("other").await;
    let ticket_path = format!("/v1/accounts/{account}/events/ticket");
    let r = server.post(&ticket_path, &root, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ticket = r.body["ticket"].as_str().unwrap().to_owned();
    assert!(r.body["expires_at"].is_string());

    let path = format!("/v1/accounts/{account}/events?ticket={ticket}");
    let mut stream = Stream::open(server.addr, &path, &[]).await;
    assert_eq!(stream.status, 200);
    assert_eq!(stream.next().await.unwrap().event, "counts");
    // Used once.
    let again = Stream::open(server.addr, &path, &[]).await;
    assert_eq!(again.status, 401);

    // A ticket is for its account only.
    let r = server.post(&ticket_path, &root, json!({})).await;
    let ticket = r.body["ticket"].as_str().unwrap();
    let wrong = Stream::open(
        server.addr,
        &format!("/v1/accounts/{other}/events?ticket={ticket}"),
        &[],
    )
    .await;
    assert_eq!(wrong.status, 401);
    // Another account's root gets no ticket here.
    let r = server.post(&ticket_path, &other_root, json!({})).await;
    assert_eq!(r.status, 403);
    // Without a token, nothing.
    let r = server
        .raw(http::Method::POST, &ticket_path, None, None)
        .await;
    assert_eq!(r.status, 401);

    // A token in the query is not a way in.
    let r = server
        .raw(
            http::Method::GET,
            &format!("/v1/accounts/{account}/events?token={root}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error().1.as_deref(), Some("token"));
    // Nor a ticket and a header at once.
    let r = server.post(&ticket_path, &root, json!({})).await;
    let ticket = r.body["ticket"].as_str().unwrap();
    let auth = format!("Bearer {root}");
    let both = Stream::open(
        server.addr,
        &format!("/v1/accounts/{account}/events?ticket={ticket}"),
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(both.status, 400);
}

#[tokio::test]
async fn last_event_id_resumes_without_loss() {
    let server = start().await;
    let (account, root) = server.account("acme").await;
    let path = format!("/v1/accounts/{account}/events");
    let auth = format!("Bearer {root}");
    let mut stream = Stream::open(server.addr, &path, &[("Authorization", &auth)]).await;
    stream.next().await.unwrap();
    server.publish(&account, "product", "first").await;
    let last = stream.until("counts").await.id;
    drop(stream);

    server.publish(&account, "product", "second").await;
    server.publish(&account, "product", "third").await;
    let mut resumed = Stream::open(
        server.addr,
        &path,
        &[("Authorization", &auth), ("Last-Event-ID", &last)],
    )
    .await;
    assert_eq!(resumed.status, 200);
    assert_eq!(resumed.next().await.unwrap().data["title"], "second");
    assert_eq!(resumed.next().await.unwrap().data["title"], "third");
    assert_eq!(resumed.next().await.unwrap().data["total"], 3);

    let bad = Stream::open(
        server.addr,
        &path,
        &[("Authorization", &auth), ("Last-Event-ID", "yesterday")],
    )
    .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn one_account_cannot_take_every_connection_with_streams() {
    let server = start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        bundled_plugins: false,
        max_connections: 8,
        ..ServerConfig::ephemeral()
    })
    .await;
    let (account, root) = server.account("acme").await;
    let path = format!("/v1/accounts/{account}/events");
    let auth = format!("Bearer {root}");
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = Stream::open(server.addr, &path, &[("Authorization", &auth)]).await;
        assert_eq!(stream.status, 200);
        stream.next().await.unwrap();
        open.push(stream);
    }
    let refused = Stream::open(server.addr, &path, &[("Authorization", &auth)]).await;
    assert_eq!(refused.status, 429);
    drop(open.pop());
    // The closed stream's place is free once the server noticed it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        // A publish makes the server write to the closed connection and notice.
        server.publish(&account, "account", "poke").await;
        let stream = Stream::open(server.addr, &path, &[("Authorization", &auth)]).await;
        if stream.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the place never came free"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams_at_once() {
    let server = start().await;
    let (account, root) = server.account("acme").await;
    let auth = format!("Bearer {root}");
    let mut stream = Stream::open(
        server.addr,
        &format!("/v1/accounts/{account}/events"),
        &[("Authorization", &auth)],
    )
    .await;
    stream.next().await.unwrap();
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(server.stop());
    let closed = stream.next().await.expect("a closed event");
    assert_eq!(closed.event, "closed");
    assert!(
        closed.data["reason"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
    assert!(stream.next().await.is_none(), "the stream ends");
    stopping.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited for the stream: {:?}",
        started.elapsed()
    );
}
