//! Support for msghub's cross-crate tests and benchmarks: the WebAssembly guests the build
//! script compiled, messages to deliver, a recording HTTP server and a recording SMTP relay
//! on loopback, and a log capture.
//!
//! The tests themselves are in `tests/`, one file per guarantee: `plugin_load.rs`,
//! `plugin_sandbox.rs` (compute, memory, crashes, no ambient authority),
//! `plugin_http.rs` (the outgoing request policy), `plugin_mail.rs`, `plugin_discord.rs`
//! (the example third-party plugin through the real host).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use msghub::plugin::{Delivery, DeliveryKind, PluginConfig, PluginRegistry};
use msghub::{Category, Message, Severity};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub mod channels;
pub mod hub;
pub mod log_capture;

/// The path of a guest built by the build script: `echo`, `hostile`, `other_world`,
/// `future_version`, `slow_info` (fixtures) or `discord` (the example plugin).
pub fn wasm(name: &str) -> PathBuf {
    let path = match name {
        "echo" => env!("MSGHUB_WASM_ECHO"),
        "hostile" => env!("MSGHUB_WASM_HOSTILE"),
        "other_world" => env!("MSGHUB_WASM_OTHER_WORLD"),
        "future_version" => env!("MSGHUB_WASM_FUTURE_VERSION"),
        "slow_info" => env!("MSGHUB_WASM_SLOW_INFO"),
        "discord" => env!("MSGHUB_WASM_DISCORD"),
        other => panic!("no guest named {other}"),
    };
    PathBuf::from(path)
}

/// The configuration tests run with: the defaults, a 2 s call deadline, 127.0.0.0/8
/// allow-listed (the test servers), short network timeouts, and a shared compilation cache.
pub fn test_config() -> PluginConfig {
    PluginConfig {
        call_deadline: Duration::from_secs(2),
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(500),
        cache_dir: Some(PathBuf::from(env!("MSGHUB_TEST_CACHE"))),
        ..PluginConfig::default()
    }
    .allow_networks("127.0.0.0/8")
    .expect("a valid CIDR")
}

/// A registry of the named guests under `config`; panics unless every one loads.
pub async fn registry(config: PluginConfig, guests: &[&str]) -> PluginRegistry {
    let mut builder = PluginRegistry::builder(config);
    for guest in guests {
        builder = builder.file(wasm(guest));
    }
    let (registry, report) = builder.load().await.expect("the plugin host starts");
    assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
    registry
}

/// A message of the security category, as the engine stores it.
pub fn message(title: &str) -> Message {
    Message {
        id: "msg_00000000000010000001"
            .parse()
            .expect("a valid message id"),
        account_id: "acc_0000000000001".parse().expect("a valid account id"),
        category: Category::Security,
        subtype: Some("ddos-attack".to_owned()),
        title: title.to_owned(),
        body: Some("Traffic is **10x** normal.".to_owned()),
        severity: Severity::Critical,
        link: Some("https://console.example.com/ddos".to_owned()),
        resource: Some("ecs/i-123".to_owned()),
        dedupe_key: None,
        created_at: msghub::parse_time("2026-11-28T12:00:00Z", "created_at").expect("a valid time"),
        read: false,
    }
}

/// A first-attempt delivery of `messages` (a digest when there are several).
pub fn delivery(messages: Vec<Message>) -> Delivery {
    Delivery {
        kind: if messages.len() == 1 {
            DeliveryKind::Single
        } else {
            DeliveryKind::Digest
        },
        messages,
        recipients: Vec::new(),
        attempt: 1,
        idempotency_key: "dlv-0001".to_owned(),
        locale: "en".to_owned(),
        unsubscribe: None,
        timestamp_ms: 1_700_000_000_000,
    }
}

/// A request the test server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How the test server answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A status, headers and a body.
    Answer(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Never answers.
    Hang,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: &str) -> Reply {
        Reply::Answer(200, Vec::new(), body.as_bytes().to_vec())
    }
}

type Responder = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// An HTTP/1.1 server on 127.0.0.1 that records every request and answers as told.
pub struct TestServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Starts a server answering each request with `reply(request)`.
    pub async fn start(reply: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let reply: Arc<Responder> = Arc::new(reply);
        let (recorded, accepted) = (requests.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let (recorded, reply) = (recorded.clone(), reply.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request| answer(request, recorded.clone(), reply.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestServer {
            addr,
            requests,
            connections,
            task,
        }
    }

    /// The URL of `path` on this server, e.g. `http://127.0.0.1:4567/hook`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("not poisoned").clone()
    }

    /// How many TCP connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    request: hyper::Request<Incoming>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    reply: Arc<Responder>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let seen = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body,
    };
    let verdict = reply(&seen);
    recorded.lock().expect("not poisoned").push(seen);
    match verdict {
        Reply::Hang => std::future::pending().await,
        Reply::Answer(status, headers, body) => {
            let mut response = hyper::Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            Ok(response
                .body(Full::new(Bytes::from(body)))
                .expect("a valid response"))
        }
    }
}

/// A mail the test relay accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`, in order.
    pub to: Vec<String>,
    /// The message as submitted (dot-unstuffed, without the final dot line).
    pub data: String,
}

/// A minimal SMTP relay on 127.0.0.1 that accepts every mail, except recipients that start
/// with `reject`, which it refuses with 550.
pub struct SmtpServer {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: JoinHandle<()>,
}

impl SmtpServer {
    /// Starts the relay.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(smtp_session(stream, kept.clone()));
            }
        });
        SmtpServer { addr, mails, task }
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The mails accepted so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("not poisoned").clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn smtp_session(stream: tokio::net::TcpStream, mails: Arc<Mutex<Vec<Mail>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut mail = Mail::default();
    if write.write_all(b"220 relay.test ESMTP\r\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-relay.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = address(&line);
            b"250 sender ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let to = address(&line);
            if to.starts_with("reject") {
                b"550 no such mailbox\r\n"
            } else {
                mail.to.push(to);
                b"250 recipient ok\r\n"
            }
        } else if upper == "DATA" {
            if write.write_all(b"354 go ahead\r\n").await.is_err() {
                return;
            }
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
            }
            mail.data = data;
            mails
                .lock()
                .expect("not poisoned")
                .push(std::mem::take(&mut mail));
            b"250 queued as test-1\r\n"
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 ok\r\n"
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}

fn address(line: &str) -> String {
    line.split(['<', '>']).nth(1).unwrap_or_default().to_owned()
}

/// What the hostile fixture saw when it fetched `url` (`status=... body=...` or
/// `error=...`), through the registry's sandbox.
pub async fn hostile_fetch(registry: &msghub::plugin::PluginRegistry, url: &str) -> String {
    let attack = format!(r#"{{"attack": "fetch", "url": "{url}"}}"#);
    registry
        .send("hostile", &attack, &delivery(vec![message("fetch")]))
        .await
        .expect("the hostile plugin reports what it saw")
        .detail
        .unwrap_or_default()
}
