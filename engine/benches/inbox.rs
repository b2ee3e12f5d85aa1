//! The inbox benchmark: one account holding 1,000,000 messages (about 1 KiB bodies, spread
//! over the six categories), on a redb file on disk.
//!
//! Measures durable publish throughput with 64 concurrent publishers, first-page latency of
//! filter combinations (including unread for a user who has read 99%), counts, mark read and
//! delete under a filter matching 100,000 messages, mark read under a `q`, the database
//! size per message, and the search index: its size, how long it takes to catch up, and
//! searches for rare terms.
//!
//! Run: `cargo bench -p msghub --bench inbox` (`MSGHUB_BENCH_MESSAGES` changes the size,
//! `MSGHUB_BENCH_SEARCH_INDEX_BYTES=0` turns the search index off).

use std::sync::Arc;
use std::time::{Duration, Instant};

use msghub::{
    Category, Engine, Filter, NewMessage, NewUser, PageRequest, Policy, Principal, ReadStatus,
    Selection, Severity,
};

const PUBLISHERS: usize = 64;

fn body(i: usize) -> String {
    let mut s = format!("Resource ecs/i-{i:08} in region cn-hangzhou reported event {i}. ",);
    let words = [
        "quota", "billing", "network", "latency", "renewal", "snapshot", "backup", "policy",
    ];
    while s.len() < 1000 {
        s.push_str(words[(i + s.len()) % words.len()]);
        s.push(' ');
    }
    s
}

fn message(i: usize) -> NewMessage {
    let category = Category::ALL[i % 6];
    // 10% critical: the filter that matches 100,000 of 1,000,000.
    let severity = if i.is_multiple_of(10) {
        Severity::Critical
    } else if i.is_multiple_of(3) {
        Severity::Warning
    } else {
        Severity::Info
    };
    let title = if i % 10 == 7 {
        format!("Disk usage above 90% on instance {i}")
    } else if i % 100_000 == 5 {
        format!("Kernel panic on instance {i}")
    } else if i % 100_000 == 6 {
        format!("实例 {i} 磁盘告警")
    } else {
        format!("Instance {i} {category} notice")
    };
    NewMessage::new(category, title)
        .severity(severity)
        .body(body(i))
}

async fn wait_for_search_index(engine: &Engine) {
    while engine.search_index().pending > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() * 99 / 100]
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let total: usize = std::env::var("MSGHUB_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
    let path = dir.path().join("bench.redb");
    // `MSGHUB_BENCH_SEARCH_INDEX_BYTES=0` measures without the search index.
    let index_bytes: u64 = std::env::var("MSGHUB_BENCH_SEARCH_INDEX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(msghub::DEFAULT_SEARCH_INDEX_BYTES);
    let engine = Engine::builder()
        .path(&path)
        .search_index_bytes(index_bytes)
        .build()
        .await?;
    let op = Principal::Operator;
    let account = engine.create_account(&op, "bench").await?;
    let a = account.account.id;
    println!(
        "msghub inbox benchmark: {total} messages, bodies ~1 KiB, {PUBLISHERS} concurrent publishers"
    );

    // --- publish ---
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..PUBLISHERS {
        let engine = engine.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return latencies;
                }
                let t = Instant::now();
                engine
                    .publish(&Principal::Operator, a, message(i))
                    .await
                    .expect("publish");
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed();
    println!(
        "publish (durable, {PUBLISHERS} publishers): {:.0} messages/s; latency median {:?}, p99 {:?}",
        total as f64 / elapsed.as_secs_f64(),
        median(latencies.clone()),
        p99(latencies)
    );

    // --- the search index, built behind the writer ---
    if index_bytes > 0 {
        let t = Instant::now();
        wait_for_search_index(&engine).await;
        let stats = engine.search_index();
        println!(
            "search index: caught up {:?} after the last publish; {:.1} MiB for {} messages ({:.0} bytes per message)",
            t.elapsed(),
            stats.bytes as f64 / 1048576.0,
            stats.indexed,
            stats.bytes as f64 / stats.indexed.max(1) as f64
        );
    } else {
        println!("search index: off");
    }

    // --- a user who has read 99% of the messages ---
    let reader = engine
        .create_user(
            &op,
            a,
            NewUser {
                name: "reader".into(),
                policies: vec![Policy::NotificationsFullAccess],
                categories: None,
            },
        )
        .await?;
    let reader = engine.authenticate(&reader.token)?;
    let mut all_ids = Vec::with_capacity(total);
    let mut page = engine
        .list_messages(&op, a, &Filter::default(), &PageRequest::first(200))
        .await?;
    loop {
        all_ids.extend(page.items.iter().map(|m| m.id));
        let Some(c) = page.next_cursor else { break };
        page = engine
            .list_messages(&op, a, &Filter::default(), &PageRequest::after(200, c))
            .await?;
    }
    all_ids.reverse(); // oldest first
    let keep_unread = total / 100;
    let t = Instant::now();
    for chunk in all_ids[..total - keep_unread].chunks(1000) {
        engine
            .mark_read(&reader, a, Selection::Ids(chunk.to_vec()))
            .await?;
    }
    println!(
        "(setup) reader marked {} of {total} read by ids in 1000s: {:?}",
        total - keep_unread,
        t.elapsed()
    );

    // --- first page of filter combinations ---
    let last = engine.message(&op, a, all_ids[total - 1]).await?.created_at;
    let mid = engine.message(&op, a, all_ids[total / 2]).await?.created_at;
    let combos: Vec<(&str, Filter)> = vec![
        ("no filter", Filter::default()),
        (
            "category=security",
            Filter::default().categories([Category::Security]),
        ),
        (
            "status=unread (reader read 99%)",
            Filter::default().status(ReadStatus::Unread),
        ),
        ("status=read", Filter::default().status(ReadStatus::Read)),
        (
            "category=security,account & severity=critical",
            Filter::default()
                .categories([Category::Security, Category::Account])
                .severities([Severity::Critical]),
        ),
        (
            "unread & category=exception & severity=warning,critical",
            Filter::default()
                .status(ReadStatus::Unread)
                .categories([Category::Exception])
                .severities([Severity::Warning, Severity::Critical]),
        ),
        (
            "since/until window (older half)",
            Filter::default().until(mid),
        ),
        ("q=disk (10% match)", Filter::default().text("disk")),
        (
            "q=disk & unread & category=product",
            Filter::default()
                .text("DISK")
                .status(ReadStatus::Unread)
                .categories([Category::Product]),
        ),
        (
            "everything combined",
            Filter::default()
                .categories([Category::Product, Category::Activity])
                .severities([Severity::Info, Severity::Warning])
                .status(ReadStatus::Read)
                .text("instance")
                .since(mid)
                .until(last),
        ),
        (
            "q=kernel panic (1 in 100,000 messages)",
            Filter::default().text("kernel panic"),
        ),
        (
            "q=磁盘告警 (1 in 100,000 messages, Chinese)",
            Filter::default().text("磁盘告警"),
        ),
        ("q=盘告 (inside a word)", Filter::default().text("盘告")),
        (
            "q=€ (one character, no match: not narrowed, reads all)",
            Filter::default().text("€"),
        ),
    ];
    println!("first page (50), median of repeated runs, for the reader:");
    for (name, filter) in &combos {
        // A page that takes long (a search the index cannot narrow) is timed fewer times.
        let t = Instant::now();
        engine
            .list_messages(&reader, a, filter, &PageRequest::first(50))
            .await?;
        let runs = if t.elapsed() > Duration::from_millis(50) {
            5
        } else {
            200
        };
        let mut samples = Vec::with_capacity(runs);
        let mut n = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let page = engine
                .list_messages(&reader, a, filter, &PageRequest::first(50))
                .await?;
            samples.push(t.elapsed());
            n = page.items.len();
        }
        println!("  {name:<58} {:>10.3?}  ({n} items)", median(samples));
    }

    // --- counts ---
    let mut samples = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        std::hint::black_box(engine.counts(&reader, a)?);
        samples.push(t.elapsed());
    }
    println!("counts for the reader: median {:?}", median(samples));

    // --- bulk under a filter matching 100,000 ---
    let fresh = engine
        .create_user(
            &op,
            a,
            NewUser {
                name: "fresh".into(),
                policies: vec![Policy::NotificationsFullAccess],
                categories: None,
            },
        )
        .await?;
    let fresh = engine.authenticate(&fresh.token)?;
    let critical = Filter::default().severities([Severity::Critical]);
    // The kernel may still be writing back the publish burst (gigabytes at 1,000,000
    // messages); a commit's fdatasync would wait behind it. Flush it first.
    let _ = std::process::Command::new("sync").status();
    let t = Instant::now();
    let marked = engine
        .mark_read(&fresh, a, Selection::Filter(critical.clone()))
        .await?;
    println!(
        "mark read under severity=critical: {marked} messages in {:?}",
        t.elapsed()
    );
    // Bulk operations under a q: the text is resolved through the search index.
    for q in ["kernel panic", "disk"] {
        let t = Instant::now();
        let marked = engine
            .mark_read(&fresh, a, Selection::Filter(Filter::default().text(q)))
            .await?;
        println!(
            "mark read under q={q}: {marked} messages in {:?}",
            t.elapsed()
        );
    }
    let t = Instant::now();
    let deleted = engine
        .delete_messages(&fresh, a, Selection::Filter(critical))
        .await?;
    println!(
        "delete under severity=critical: {deleted} messages in {:?}",
        t.elapsed()
    );

    engine.close().await;
    drop(engine);
    let size = std::fs::metadata(&path)?.len();
    println!(
        "database: {:.1} MiB for {total} messages published ({} left): {:.0} bytes per message",
        size as f64 / 1048576.0,
        total as u64 - deleted,
        size as f64 / total as f64
    );
    let t = Instant::now();
    let engine = Engine::builder()
        .path(&path)
        .search_index_bytes(index_bytes)
        .build()
        .await?;
    println!("reopen (rebuild indexes): {:?}", t.elapsed());
    if index_bytes > 0 {
        wait_for_search_index(&engine).await;
        println!(
            "search index rebuilt in the background after reopening: {:?}",
            t.elapsed()
        );
    }
    engine.close().await;
    Ok(())
}
