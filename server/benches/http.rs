//! Load generator for a real `msghub serve` on loopback: list requests per second,
//! publishes per second (keep-alive HTTP/1.1 connections, many in flight), and the
//! resident memory of the idle server with the six bundled plugins loaded.
//!
//! Run: `cargo bench -p msghub-server --bench http` (options through the environment:
//! `BENCH_SECONDS` per round, default 3; `BENCH_CONNECTIONS`, default 64).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};

mod common;
use common::{Sender, TOKEN, connect, env_or, rss_kib, spawn_server};

const ROUNDS: usize = 3;

async fn send(sender: &mut Sender, method: Method, path: &str, body: Bytes) -> (u16, Bytes) {
    sender.ready().await.expect("connection ready");
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("request");
    let response = sender.send_request(request).await.expect("answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

/// Runs `connections` loops of `make(i)` requests for `seconds`; returns requests/s.
async fn load(
    addr: &str,
    connections: usize,
    seconds: u64,
    method: Method,
    path: String,
    body: impl Fn(u64) -> Bytes + Send + Sync + 'static,
    expect: u16,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let body = Arc::new(body);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let mut sender = connect(addr).await;
        let (stop, done, body, method, path) = (
            stop.clone(),
            done.clone(),
            body.clone(),
            method.clone(),
            path.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = c as u64 * 1_000_000_000;
            while !stop.load(Ordering::Relaxed) {
                let (status, answer) = send(&mut sender, method.clone(), &path, body(i)).await;
                assert_eq!(status, expect, "{}", String::from_utf8_lossy(&answer));
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let count = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    count as f64 / elapsed.as_secs_f64()
}

fn idle_rss_mib(pid: u32) -> f64 {
    std::thread::sleep(Duration::from_secs(2));
    let samples: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(300));
            rss_kib(pid) as f64
        })
        .collect();
    median(samples) / 1024.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let seconds = env_or("BENCH_SECONDS", 3);
    let connections = env_or("BENCH_CONNECTIONS", 64) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    // The first start compiles the six plugins into the data directory's cache; a restart
    // loads them from there. Idle memory of both, after start-up settles.
    let first = spawn_server(dir.path(), &[]);
    let first_mib = idle_rss_mib(first.child.id());
    drop(first);
    let server = spawn_server(dir.path(), &[]);
    let pid = server.child.id();
    let idle_mib = idle_rss_mib(pid);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let addr = server.addr.clone();
        let mut admin = connect(&addr).await;
        let (status, body) = send(
            &mut admin,
            Method::POST,
            "/v1/accounts",
            Bytes::from_static(br#"{"name":"bench"}"#),
        )
        .await;
        assert_eq!(status, 201);
        let account: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let acc = account["id"].as_str().expect("id").to_owned();
        let messages = format!("/v1/accounts/{acc}/messages");
        let categories = ["account", "product", "security", "exception", "activity", "service"];
        let publish_body = move |i: u64| {
            Bytes::from(format!(
                r#"{{"category":"{}","title":"Bench message {i}","body":"Load generator message number {i}.","severity":"info"}}"#,
                categories[(i % 6) as usize]
            ))
        };

        let mut publishes = Vec::new();
        for _ in 0..ROUNDS {
            publishes.push(
                load(&addr, connections, seconds, Method::POST, messages.clone(), publish_body, 201)
                    .await,
            );
        }
        let mut lists = Vec::new();
        for _ in 0..ROUNDS {
            lists.push(
                load(
                    &addr,
                    connections,
                    seconds,
                    Method::GET,
                    format!("{messages}?limit=20"),
                    |_| Bytes::new(),
                    200,
                )
                .await,
            );
        }
        let mut lists_default = Vec::new();
        for _ in 0..ROUNDS {
            lists_default.push(
                load(&addr, connections, seconds, Method::GET, messages.clone(), |_| Bytes::new(), 200)
                    .await,
            );
        }
        println!("msghub HTTP bench: {connections} keep-alive connections, {ROUNDS} rounds of {seconds} s, medians");
        println!("idle RSS with six plugins loaded: {idle_mib:.1} MiB on a restart (target < 40), {first_mib:.1} MiB on the first start (which compiles them)");
        println!("publish: {:.0} requests/s (target >= 10000) rounds {publishes:.0?}", median(publishes.clone()));
        println!("list (limit=20): {:.0} requests/s (target >= 20000) rounds {lists:.0?}", median(lists.clone()));
        println!("list (default limit 50): {:.0} requests/s rounds {lists_default:.0?}", median(lists_default.clone()));
        println!("server RSS after the load: {:.1} MiB", rss_kib(pid) as f64 / 1024.0);
        drop(server);
    });
}
