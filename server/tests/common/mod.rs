//! Shared by the integration tests: a real server on 127.0.0.1:0 and a real HTTP client.

#![allow(dead_code)]

pub mod sink;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use msghub_server::ServerConfig;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const OPERATOR: &str = "mho_test-operator-token-for-the-server-tests";

/// A running in-memory server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    running: Option<msghub_server::Running>,
}

/// One answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: Value,
}

impl Reply {
    /// Asserts the contract's error shape and returns (code, field).
    pub fn error(&self) -> (String, Option<String>) {
        let e = self
            .body
            .get("error")
            .unwrap_or_else(|| panic!("not an error shape: {} {}", self.status, self.body));
        let code = e["code"].as_str().expect("code").to_owned();
        let message = e["message"].as_str().expect("message");
        assert!(!message.is_empty());
        (code, e["field"].as_str().map(str::to_owned))
    }
}

pub async fn start() -> TestServer {
    start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        bundled_plugins: false,
        ..ServerConfig::ephemeral()
    })
    .await
}

/// A server whose plugins are loaded: the tests of everything but loading itself see the
/// server as it is once started up.
pub async fn start_with(config: ServerConfig) -> TestServer {
    let plugins = config.bundled_plugins || config.plugin_dir.is_some();
    let server = start_at_once(config).await;
    if plugins {
        server.plugins_loaded().await;
    }
    server
}

/// A server as `msghub serve` starts it: answering at once, its plugins still loading in
/// the background.
pub async fn start_at_once(config: ServerConfig) -> TestServer {
    let (stop, stopped) = oneshot::channel::<()>();
    let running = msghub_server::start(config, async {
        let _ = stopped.await;
    })
    .await
    .expect("server starts");
    TestServer {
        addr: running.addr,
        client: Client::builder(TokioExecutor::new()).build_http(),
        stop: Some(stop),
        running: Some(running),
    }
}

impl TestServer {
    /// A client of a server that runs elsewhere (the binary in a child process): `engine`
    /// panics and `stop` does nothing.
    pub fn client_of(addr: SocketAddr) -> TestServer {
        TestServer {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop: None,
            running: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The engine behind the API.
    pub fn engine(&self) -> &msghub::Engine {
        &self.running.as_ref().expect("running").engine
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running.wait().await.expect("clean stop");
        }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Bytes>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(body.unwrap_or_default())).unwrap();
        let res = self.client.request(req).await.expect("answer");
        let status = res.status();
        let headers = res.headers().clone();
        let raw = res.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            raw,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        self.raw(
            method,
            path,
            Some(token),
            body.map(|b| Bytes::from(b.to_string())),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Waits until no plugin is still loading (at most 60 s); returns `/healthz`'s answer.
    /// Its requests leave no connection open, so tests of the connection cap count only
    /// their own.
    pub async fn plugins_loaded(&self) -> Value {
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let request = Request::get(format!("http://{}/healthz", self.addr))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let answer = client.request(request).await.expect("answer");
            assert_eq!(answer.status(), 200);
            let raw = answer.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
            if body["plugins"]["loading"]
                .as_array()
                .is_some_and(Vec::is_empty)
            {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "plugins still loading after 60 s: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Creates an account; returns (id, root token).
    pub async fn account(&self, name: &str) -> (String, String) {
        let r = self
            .post("/v1/accounts", OPERATOR, json!({ "name": name }))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["root_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a signed webhook channel named `hook` to `url` in `account`; returns its id.
    pub async fn webhook_channel(&self, account: &str, token: &str, url: &str) -> String {
        let r = self
            .post(
                &format!("/v1/accounts/{account}/channels"),
                token,
                json!({"name": "hook", "plugin": "webhook",
                       "config": {"url": url, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a user; returns its token.
    pub async fn user(&self, account: &str, body: Value) -> String {
        let r = self
            .post(&format!("/v1/accounts/{account}/users"), OPERATOR, body)
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Publishes as the operator; returns the message id.
    pub async fn publish(&self, account: &str, category: &str, title: &str) -> String {
        let r = self
            .post(
                &format!("/v1/accounts/{account}/messages"),
                OPERATOR,
                json!({ "category": category, "title": title }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A receiver on 127.0.0.1 that answers every request 200 and closes.
pub async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut data = Vec::new();
                let mut buf = [0u8; 8192];
                // Read the head and as much body as the client sends at once.
                while !data.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/hook")
}
