//! What the server benches share: a release `msghub serve` in a child process on a free
//! loopback port, waiting for its plugins, its resident memory, and keep-alive connections.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

/// The operator token the bench servers run with.
pub const TOKEN: &str = "mho_bench-operator-token-0123456789abcdef";

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `msghub serve` on `dir` with `env` set, and waits until its plugins are loaded.
pub fn spawn_server(dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .env("MSGHUB_ADMIN_TOKEN", TOKEN)
        .env("MSGHUB_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("msghub serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut addr = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("stdout line");
        if let Some(rest) = line.strip_prefix("msghub listening on http://") {
            addr = rest.split(' ').next().unwrap_or_default().to_owned();
            break;
        }
    }
    assert!(!addr.is_empty(), "the server did not report its address");
    wait_for_plugins(&addr);
    Server { child, addr }
}

/// Waits until `/healthz` lists no plugin still loading: the server answers at once and
/// loads its plugins in the background, and the measurements are of a server done loading.
pub fn wait_for_plugins(addr: &str) {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut answer = String::new();
        if let Ok(mut conn) = std::net::TcpStream::connect(addr) {
            let _ = conn
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
            let _ = conn.read_to_string(&mut answer);
        }
        if answer.contains("\"loading\":[]") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the plugins did not load within 120 s: {answer}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

pub async fn connect(addr: &str) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}
