//! The delivery benchmark: publish to delivered, through the real webhook plugin to an HTTP
//! sink on 127.0.0.1, with a redb file on disk.
//!
//! - Sustained: 64 publishers publish `MSGHUB_BENCH_DELIVERIES` messages (default 30,000)
//!   into a category whose subscription names one webhook channel; the rate is deliveries
//!   received by the sink per second, from the first publish to the last arrival.
//! - Light load: one message at a time, waiting for its arrival; the latency is from the
//!   start of `publish` to the sink reading the request (median and p99 of 2,000).
//!
//! Run: `cargo bench -p msghub-tests --bench delivery`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use msghub::{Category, Engine, NewChannel, NewMessage, Principal, SubscriptionSpec};
use msghub_tests::channels::bundled;
use msghub_tests::test_config;
use parking_lot::Mutex;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Notify;

const PUBLISHERS: usize = 64;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the sink saw: when each numbered message arrived.
#[derive(Default)]
struct Arrivals {
    at: Mutex<HashMap<u64, Instant>>,
    count: AtomicUsize,
    notify: Notify,
}

/// A keep-alive HTTP/1.1 sink that notes the arrival time of each message, by the number
/// at the end of its title.
async fn sink(arrivals: Arc<Arrivals>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let arrivals = arrivals.clone();
                    async move {
                        let body = request.into_body().collect().await.map(|b| b.to_bytes());
                        let now = Instant::now();
                        if let Ok(body) = body {
                            let value: serde_json::Value =
                                serde_json::from_slice(&body).unwrap_or_default();
                            if let Some(n) = value["data"]["title"]
                                .as_str()
                                .and_then(|t| t.rsplit('#').next())
                                .and_then(|n| n.parse::<u64>().ok())
                            {
                                arrivals.at.lock().entry(n).or_insert(now);
                                arrivals.count.fetch_add(1, Ordering::SeqCst);
                                arrivals.notify.notify_waiters();
                            }
                        }
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}/hook")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() * 99 / 100]
}

async fn wait_for(arrivals: &Arrivals, n: usize, limit: Duration) {
    let started = Instant::now();
    while arrivals.count.load(Ordering::SeqCst) < n {
        let notified = arrivals.notify.notified();
        if arrivals.count.load(Ordering::SeqCst) >= n {
            break;
        }
        if tokio::time::timeout(Duration::from_millis(100), notified)
            .await
            .is_err()
            && started.elapsed() > limit
        {
            panic!(
                "only {} of {n} deliveries arrived in {limit:?}",
                arrivals.count.load(Ordering::SeqCst)
            );
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let total: usize = std::env::var("MSGHUB_BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let arrivals = Arc::new(Arrivals::default());
    let url = sink(arrivals.clone()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = Arc::new(bundled(test_config()).await);
    let engine = Engine::builder()
        .path(dir.path().join("bench.redb"))
        .plugins(registry)
        .build()
        .await
        .expect("engine");
    let op = Principal::Operator;
    let account = engine
        .create_account(&op, "bench")
        .await
        .expect("account")
        .account
        .id;
    let channel = engine
        .create_channel(
            &op,
            account,
            NewChannel {
                name: "sink".into(),
                plugin: "webhook".into(),
                config: json!({"url": url, "secret": SECRET}),
                locale: None,
            },
        )
        .await
        .expect("channel")
        .id;
    engine
        .put_subscription(
            &op,
            account,
            Category::Exception,
            SubscriptionSpec {
                channels: vec![channel],
                ..Default::default()
            },
        )
        .await
        .expect("subscription");

    // Warm up: plugin instances, pooled connections, the redb cache.
    let warm = 500u64;
    for i in 0..warm {
        let m = NewMessage::new(Category::Exception, format!("warm #{}", 10_000_000 + i));
        engine.publish(&op, account, m).await.expect("publish");
    }
    wait_for(&arrivals, warm as usize, Duration::from_secs(60)).await;

    // Light load: one at a time.
    let mut latencies = Vec::new();
    for i in 0..2_000u64 {
        let n = 20_000_000 + i;
        let before = arrivals.count.load(Ordering::SeqCst);
        let started = Instant::now();
        let m = NewMessage::new(Category::Exception, format!("light #{n}"));
        engine.publish(&op, account, m).await.expect("publish");
        wait_for(&arrivals, before + 1, Duration::from_secs(10)).await;
        let arrived = arrivals.at.lock()[&n];
        latencies.push(arrived - started);
    }
    let light_median = median(latencies.clone());
    let light_p99 = p99(latencies);

    // Sustained: 64 publishers.
    let base = arrivals.count.load(Ordering::SeqCst);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..PUBLISHERS {
        let (engine, next) = (engine.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut starts = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return starts;
                }
                let n = 30_000_000 + i as u64;
                let m = NewMessage::new(Category::Exception, format!("load #{n}"));
                let t = Instant::now();
                engine
                    .publish(&Principal::Operator, account, m)
                    .await
                    .expect("publish");
                starts.push((n, t));
            }
        }));
    }
    let mut starts = Vec::new();
    for task in tasks {
        starts.extend(task.await.expect("publisher"));
    }
    let published = started.elapsed();
    wait_for(&arrivals, base + total, Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    let loaded: Vec<Duration> = {
        let at = arrivals.at.lock();
        starts.iter().map(|(n, t)| at[n] - *t).collect()
    };
    let rate = total as f64 / elapsed.as_secs_f64();

    println!("delivery benchmark: webhook plugin -> HTTP sink on 127.0.0.1, redb on disk");
    println!(
        "light load, one at a time: publish-to-delivered median {:.3} ms, p99 {:.3} ms (2,000 messages)",
        light_median.as_secs_f64() * 1e3,
        light_p99.as_secs_f64() * 1e3
    );
    println!(
        "sustained, {PUBLISHERS} publishers: {total} delivered in {:.2} s = {rate:.0} deliveries/s \
         (publishing took {:.2} s); publish-to-delivered median {:.1} ms, p99 {:.1} ms",
        elapsed.as_secs_f64(),
        published.as_secs_f64(),
        median(loaded.clone()).as_secs_f64() * 1e3,
        p99(loaded).as_secs_f64() * 1e3
    );
    println!("outbox after the run: {}", engine.outbox_depth());
    engine.close().await;
}
