//! What the plugin sandbox costs per delivery.
//!
//! Run: `cargo bench -p msghub-tests --bench plugin_overhead`
//!
//! Measures, on loopback:
//! - instantiating a plugin from its `InstancePre` (median of many);
//! - a `send` through the host (fresh store and instance, the plugin renders JSON and POSTs
//!   it over `wasi:http` through the shared pooled client) versus the same POST made
//!   natively with a pooled hyper client: the difference of the medians is the cost the
//!   sandbox adds per call;
//! - the resident memory each loaded plugin adds.
//!
//! With `MSGHUB_BENCH_PLUGIN_FILES=a.wasm,b.wasm` it measures those plugin files instead
//! (each on its own: resident memory it adds once loaded from the compile cache, and its
//! `send` against the same POST made natively), for plugins that take `{"url": ...}` as
//! their configuration, as the `msghub plugin new` templates do.
//! `scripts/bench-plugin-languages` builds the Rust, Python and JavaScript templates and
//! runs this.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use msghub::plugin::PluginRegistry;
use msghub_tests::{Reply, TestServer, delivery, message, test_config, wasm};

const WARMUP: usize = 200;
const ROUNDS: usize = 3000;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn percentile(mut times: Vec<Duration>, p: f64) -> Duration {
    times.sort();
    times[((times.len() - 1) as f64 * p) as usize]
}

/// Resident memory of this process, from /proc/self/statm.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

async fn load(guests: &[&str]) -> PluginRegistry {
    let mut builder = PluginRegistry::builder(test_config());
    for guest in guests {
        builder = builder.file(wasm(guest));
    }
    let (registry, report) = builder.load().await.expect("the host starts");
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    registry
}

fn main() {
    if let Ok(files) = std::env::var("MSGHUB_BENCH_PLUGIN_FILES") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        for file in files.split(',').filter(|f| !f.is_empty()) {
            runtime.block_on(per_file(std::path::Path::new(file)));
        }
        return;
    }
    let multi = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!("== tokio multi-thread runtime (2 workers on this machine)");
    multi.block_on(run());
    drop(multi);
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!("== tokio current-thread runtime");
    single.block_on(run());
}

async fn run() {
    // Warm the compilation cache so that memory is measured as a restart sees it.
    drop(load(&["echo", "hostile", "discord"]).await);

    let before = rss_bytes();
    let empty = load(&[]).await;
    let with_none = rss_bytes();
    let three = load(&["echo", "hostile", "discord"]).await;
    let with_three = rss_bytes();
    drop(empty);

    let server = TestServer::start(|_| Reply::ok("ok")).await;
    let url = server.url("/hook");
    let config = format!(r#"{{"url": "{url}"}}"#);
    let delivery = delivery(vec![message("DDoS attack on 203.0.113.7")]);

    let instantiation = three
        .measure_instantiation("echo", ROUNDS)
        .await
        .expect("instantiates");

    let mut validate = Vec::with_capacity(ROUNDS);
    for round in 0..WARMUP + ROUNDS {
        let started = Instant::now();
        three.validate_config("echo", &config).await.expect("valid");
        if round >= WARMUP {
            validate.push(started.elapsed());
        }
    }

    let mut hosted = Vec::with_capacity(ROUNDS);
    for round in 0..WARMUP + ROUNDS {
        let started = Instant::now();
        three
            .send("echo", &config, &delivery)
            .await
            .expect("delivered");
        if round >= WARMUP {
            hosted.push(started.elapsed());
        }
    }
    let after_calls = rss_bytes();

    // The same POST, natively: the body the plugin sends, a pooled keep-alive client.
    let body = server
        .requests()
        .last()
        .expect("the plugin posted")
        .body
        .clone();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut native = Vec::with_capacity(ROUNDS);
    for round in 0..WARMUP + ROUNDS {
        let request = hyper::Request::post(url.as_str())
            .header("content-type", "application/json")
            .header("x-idempotency-key", "dlv-0001")
            .body(Full::new(Bytes::from(body.clone())))
            .expect("a request");
        let started = Instant::now();
        let response = client.request(request).await.expect("answered");
        let answer = response.into_body().collect().await.expect("a body");
        assert_eq!(answer.to_bytes().as_ref(), b"ok");
        if round >= WARMUP {
            native.push(started.elapsed());
        }
    }

    let hosted_median = median(hosted.clone());
    let native_median = median(native.clone());
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    println!("plugin sandbox overhead ({ROUNDS} rounds after {WARMUP} warm-up, loopback)");
    println!(
        "instantiate from InstancePre: median {:?}, p90 {:?}",
        median(instantiation.clone()),
        percentile(instantiation, 0.9)
    );
    println!(
        "a call without I/O (validate-config): median {:?}, p90 {:?}",
        median(validate.clone()),
        percentile(validate, 0.9)
    );
    println!(
        "send through the host:        median {:?}, p90 {:?}",
        hosted_median,
        percentile(hosted, 0.9)
    );
    println!(
        "same POST natively (hyper):   median {:?}, p90 {:?}",
        native_median,
        percentile(native, 0.9)
    );
    println!(
        "added cost per call:          median {:?}",
        hosted_median.saturating_sub(native_median)
    );
    println!(
        "resident memory: host with no plugin +{:.1} MiB; 3 plugins +{:.2} MiB ({:.2} MiB each); \
         after {} calls +{:.1} MiB more",
        mib(with_none.saturating_sub(before)),
        mib(with_three.saturating_sub(with_none)),
        mib(with_three.saturating_sub(with_none)) / 3.0,
        WARMUP + ROUNDS,
        mib(after_calls.saturating_sub(with_three)),
    );
    println!(
        "connections opened by the server: {} for {} requests",
        server.connections(),
        server.requests().len()
    );
}

/// Rounds for a plugin file: a Python or JavaScript call costs milliseconds.
const FILE_ROUNDS: usize = 300;
const FILE_WARMUP: usize = 30;

/// One plugin file on its own: the memory it adds once loaded from the compile cache, and
/// its `send` against the same POST made natively.
async fn per_file(path: &std::path::Path) {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a plugin file name")
        .to_owned();
    let load_file = || async {
        let (registry, report) = PluginRegistry::builder(test_config())
            .file(path.to_path_buf())
            .load()
            .await
            .expect("the host starts");
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        registry
    };
    // Warm the compilation cache so that memory is measured as a restart sees it.
    drop(load_file().await);
    let empty = PluginRegistry::builder(test_config())
        .load()
        .await
        .expect("the host starts")
        .0;
    let before = rss_bytes();
    let registry = load_file().await;
    let loaded = rss_bytes();
    drop(empty);

    let server = TestServer::start(|_| Reply::ok("ok")).await;
    let url = server.url("/hook");
    let config = format!(r#"{{"url": "{url}"}}"#);
    let delivery = delivery(vec![message("DDoS attack on 203.0.113.7")]);
    let mut hosted = Vec::with_capacity(FILE_ROUNDS);
    for round in 0..FILE_WARMUP + FILE_ROUNDS {
        let started = Instant::now();
        registry
            .send(&name, &config, &delivery)
            .await
            .expect("delivered");
        if round >= FILE_WARMUP {
            hosted.push(started.elapsed());
        }
    }
    let after_calls = rss_bytes();
    let sent = server.requests().last().expect("the plugin posted").clone();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut native = Vec::with_capacity(FILE_ROUNDS);
    for round in 0..FILE_WARMUP + FILE_ROUNDS {
        let mut request = hyper::Request::post(url.as_str());
        for (header, value) in &sent.headers {
            if header != "host" && header != "content-length" {
                request = request.header(header.as_str(), value.as_str());
            }
        }
        let request = request
            .body(Full::new(Bytes::from(sent.body.clone())))
            .expect("a request");
        let started = Instant::now();
        let response = client.request(request).await.expect("answered");
        response.into_body().collect().await.expect("a body");
        if round >= FILE_WARMUP {
            native.push(started.elapsed());
        }
    }
    let hosted_median = median(hosted.clone());
    let native_median = median(native);
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    println!(
        "{name} ({:.1} MiB file): loaded from the cache +{:.1} MiB resident; send median {:?} \
         (p90 {:?}) vs native {:?}: added {:?} per call; after {} calls +{:.1} MiB more",
        mib(std::fs::metadata(path).map_or(0, |m| m.len())),
        mib(loaded.saturating_sub(before)),
        hosted_median,
        percentile(hosted, 0.9),
        native_median,
        hosted_median.saturating_sub(native_median),
        FILE_WARMUP + FILE_ROUNDS,
        mib(after_calls.saturating_sub(loaded)),
    );
}
