//! Live events of a real `msghub serve` on loopback: the memory an idle event stream costs
//! the server, and the time from a publish to its event at many listeners of one account.
//!
//! Run: `cargo bench -p msghub-server --bench events` (options through the environment:
//! `BENCH_IDLE_STREAMS`, default 10000, spread over 10 accounts; `BENCH_LISTENERS`, default
//! 1000, all on one account; `BENCH_PUBLISHES`, default 200, one at a time, 20 ms apart).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::{Sender, TOKEN, connect, env_or, rss_kib, spawn_server};

/// Raises this process's open-files limit to the hard limit: the bench holds one socket per
/// stream.
fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads and writes this process's limit through the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

async fn send(sender: &mut Sender, method: Method, path: &str, body: String) -> serde_json::Value {
    sender.ready().await.expect("connection ready");
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = sender.send_request(request).await.expect("answer");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(status.is_success(), "{path}: {status} {body:?}");
    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
}

/// Opens an event stream of `account` and reads up to its first event (the counts).
async fn open_stream(addr: &str, account: &str) -> tokio::io::BufReader<TcpStream> {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /v1/accounts/{account}/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut reader = tokio::io::BufReader::new(tcp);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).await.expect("read");
        assert!(n > 0, "the stream closed before its first event");
        if line.starts_with("HTTP/1.1 ") {
            assert!(line.contains(" 200 "), "{line}");
        }
        if line.starts_with("event: counts") {
            return reader;
        }
    }
}

/// CPU time the process has used (user and system), in milliseconds.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) * 1000.0 / hz
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

async fn create_account(sender: &mut Sender, name: &str) -> String {
    let answer = send(
        sender,
        Method::POST,
        "/v1/accounts",
        format!(r#"{{"name":"{name}"}}"#),
    )
    .await;
    answer["id"].as_str().expect("account id").to_owned()
}

async fn idle_streams(addr: &str, pid: u32, streams: usize) {
    let mut sender = connect(addr).await;
    let mut accounts = Vec::new();
    for i in 0..10 {
        accounts.push(create_account(&mut sender, &format!("idle-{i}")).await);
    }
    // One stream opened and closed first, so that what every stream shares is counted
    // before.
    drop(open_stream(addr, &accounts[0]).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let started = Instant::now();
    let mut open = Vec::with_capacity(streams);
    for chunk in 0..streams.div_ceil(500) {
        let mut batch = tokio::task::JoinSet::new();
        for i in chunk * 500..((chunk + 1) * 500).min(streams) {
            let addr = addr.to_owned();
            let account = accounts[i % accounts.len()].clone();
            batch.spawn(async move { open_stream(&addr, &account).await });
        }
        while let Some(stream) = batch.join_next().await {
            open.push(stream.expect("stream task"));
        }
    }
    let opened = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid);
    let per_stream = (after.saturating_sub(before)) as f64 * 1024.0 / streams as f64;
    println!(
        "idle streams: {streams} open in {:.1} s; server RSS {:.1} MiB before, {:.1} MiB with them: {:.1} KiB per stream",
        opened.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per_stream / 1024.0
    );
    drop(open);
}

async fn fan_out(addr: &str, pid: u32, listeners: usize, publishes: usize) {
    let mut sender = connect(addr).await;
    let account = create_account(&mut sender, "fan-out").await;
    let mut tasks = tokio::task::JoinSet::new();
    let ready = Arc::new(tokio::sync::Barrier::new(listeners + 1));
    for _ in 0..listeners {
        let addr = addr.to_owned();
        let account = account.clone();
        let ready = ready.clone();
        tasks.spawn(async move {
            let mut reader = open_stream(&addr, &account).await;
            ready.wait().await;
            let mut arrivals = Vec::with_capacity(publishes);
            let mut line = String::new();
            let mut message = false;
            while arrivals.len() < publishes {
                line.clear();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                if line.starts_with("event: ") {
                    message = line.starts_with("event: message");
                } else if message && line.starts_with("data: ") {
                    let at = Instant::now();
                    if let Some(rest) = line.split("\"title\":\"n").nth(1) {
                        let n: usize = rest
                            .split('"')
                            .next()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(usize::MAX);
                        arrivals.push((n, at));
                    }
                }
            }
            arrivals
        });
    }
    ready.wait().await;
    let cpu_before = cpu_ms(pid);
    let path = format!("/v1/accounts/{account}/messages");
    let mut sent = Vec::with_capacity(publishes);
    let mut answered = Vec::with_capacity(publishes);
    for n in 0..publishes {
        let body = format!(r#"{{"category":"security","title":"n{n}"}}"#);
        sent.push(Instant::now());
        send(&mut sender, Method::POST, &path, body).await;
        answered.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = cpu_ms(pid) - cpu_before;
    let mut from_publish = Vec::new();
    let mut from_answer = Vec::new();
    let mut received = 0;
    while let Some(arrivals) = tasks.join_next().await {
        for (n, at) in arrivals.expect("listener task") {
            if n < publishes {
                received += 1;
                from_publish.push(at.saturating_duration_since(sent[n]).as_secs_f64() * 1e3);
                from_answer.push(at.saturating_duration_since(answered[n]).as_secs_f64() * 1e3);
            }
        }
    }
    from_publish.sort_by(f64::total_cmp);
    from_answer.sort_by(f64::total_cmp);
    println!(
        "fan-out: {listeners} listeners of one account, {publishes} publishes: {received} of {} events arrived",
        listeners * publishes
    );
    println!(
        "  publish request sent -> event at a listener: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&from_publish, 0.5),
        percentile(&from_publish, 0.99),
        from_publish.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  publish answered (durable) -> event at a listener: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&from_answer, 0.5),
        percentile(&from_answer, 0.99)
    );
    println!(
        "  server CPU: {:.2} ms per publish ({:.1} µs per event sent)",
        cpu / publishes as f64,
        cpu * 1000.0 / (listeners * publishes) as f64
    );
}

fn main() {
    raise_open_files();
    let streams = env_or("BENCH_IDLE_STREAMS", 10_000) as usize;
    let listeners = env_or("BENCH_LISTENERS", 1000) as usize;
    let publishes = env_or("BENCH_PUBLISHES", 200) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let connections = (streams as u64 + 100)
        .max(4 * listeners as u64 + 100)
        .to_string();
    let server = spawn_server(dir.path(), &[("MSGHUB_MAX_CONNECTIONS", &connections)]);
    let pid = server.child.id();
    runtime.block_on(async {
        idle_streams(&server.addr, pid, streams).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        fan_out(&server.addr, pid, listeners, publishes).await;
    });
}
