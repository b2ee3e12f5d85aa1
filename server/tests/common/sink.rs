//! A webhook receiver on 127.0.0.1 for the delivery tests over HTTP, a server whose
//! plugins may reach it, and polling a message's deliveries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use msghub::RetrySchedule;
use msghub_server::ServerConfig;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{OPERATOR, TestServer};

/// One request the sink received: its lower-cased headers and its body.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1 that answers every request with `status`.
pub struct Sink {
    pub port: u16,
    pub status: Arc<AtomicU16>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(AtomicU16::new(200));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (status.clone(), received.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (s, r) = (s.clone(), r.clone());
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut buf = [0u8; 8192];
                    loop {
                        let Ok(n) = stream.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buf[..n]);
                        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&data[..end]).to_string();
                        let headers: Vec<(String, String)> = head
                            .lines()
                            .skip(1)
                            .filter_map(|l| l.split_once(':'))
                            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                            .collect();
                        let length = headers
                            .iter()
                            .find(|(n, _)| n == "content-length")
                            .and_then(|(_, v)| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if data.len() < end + 4 + length {
                            continue;
                        }
                        let body = serde_json::from_slice(&data[end + 4..end + 4 + length])
                            .unwrap_or(Value::Null);
                        let status = s.load(Ordering::SeqCst);
                        if status == 200 {
                            r.lock().push(Received { headers, body });
                        }
                        let answer = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                        let _ = stream.write_all(answer.as_bytes()).await;
                        return;
                    }
                });
            }
        });
        Sink {
            port,
            status,
            received,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }
}

/// A server with the bundled plugins that may reach 127.0.0.1, retrying on `retry`.
pub async fn server(retry: &str) -> TestServer {
    super::start_with(ServerConfig {
        admin_token: Some(OPERATOR.into()),
        allow_networks: Some("127.0.0.0/8".into()),
        retry_schedule: RetrySchedule::parse(retry).unwrap(),
        ..ServerConfig::ephemeral()
    })
    .await
}

/// Polls the message's deliveries until `done` holds (or fails after 20 s).
pub async fn deliveries_until(
    server: &TestServer,
    account: &str,
    message: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/v1/accounts/{account}/messages/{message}/deliveries");
    for _ in 0..400 {
        let r = server.get(&path, OPERATOR).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let list = r.body.as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the deliveries of {message} never settled");
}
