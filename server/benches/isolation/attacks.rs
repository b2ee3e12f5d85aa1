//! The attacks.

#[allow(unused_imports)]
use super::*;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Attack {
    Baseline,
    HeaderMaps,
    FanOut,
    Spin,
    LogFlood,
    GiantStrings,
    Tarpit,
    TestSends,
    BulkQ,
    Digest,
    MetricsLabels,
    Slowloris,
}

impl Attack {
    pub(crate) const ALL: [Attack; 12] = [
        Attack::Baseline,
        Attack::HeaderMaps,
        Attack::FanOut,
        Attack::Spin,
        Attack::LogFlood,
        Attack::GiantStrings,
        Attack::Tarpit,
        Attack::TestSends,
        Attack::BulkQ,
        Attack::Digest,
        Attack::MetricsLabels,
        Attack::Slowloris,
    ];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Attack::Baseline => "baseline",
            Attack::HeaderMaps => "header-maps",
            Attack::FanOut => "fan-out",
            Attack::Spin => "spin",
            Attack::LogFlood => "log-flood",
            Attack::GiantStrings => "giant-strings",
            Attack::Tarpit => "tarpit",
            Attack::TestSends => "test-sends",
            Attack::BulkQ => "bulk-q",
            Attack::Digest => "digest",
            Attack::MetricsLabels => "metrics-labels",
            Attack::Slowloris => "slowloris",
        }
    }

    /// The row's first cell.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Attack::Baseline => "none (reference)",
            Attack::HeaderMaps => "1. host memory via handles (4 × header-maps 20,000 × 12 KB)",
            Attack::FanOut => "2. fan-out (3,000 requests, slow 1 MiB answers)",
            Attack::Spin => "3. spinning guest (2 sends + 2 validate-config)",
            Attack::LogFlood => "4. log flood (10,000,000 lines)",
            Attack::GiantStrings => "5. giant strings (14 MB errors, then deliveries read)",
            Attack::Tarpit => "6. tarpit (100 channels × 3 messages)",
            Attack::TestSends => "7. test-sends (70 parallel to a slow host)",
            Attack::BulkQ => "8. bulk mark-read with 256-char q (2,000 × 65 KB)",
            Attack::Digest => "9. digest of 300 × 65 KB",
            Attack::MetricsLabels => "10. metrics labels (200 × 200 KB methods)",
            Attack::Slowloris => "11. slowloris (2,000 half-sent headers)",
        }
    }

    /// How long the probes run: the window, longer where the attack takes longer to play.
    pub(crate) fn window(self, base: Duration) -> Duration {
        match self {
            Attack::Baseline => base.min(Duration::from_secs(10)),
            Attack::FanOut | Attack::Tarpit | Attack::TestSends | Attack::Digest => {
                base + Duration::from_secs(5)
            }
            _ => base,
        }
    }

    /// Prepares, opens the window and plays the attack; returns what the row notes.
    pub(crate) async fn play(self, ctx: &Ctx, window: &Window) -> Vec<String> {
        match self {
            Attack::Baseline => {
                window.open();
                Vec::new()
            }
            Attack::HeaderMaps => header_maps(ctx, window).await,
            Attack::FanOut => fan_out(ctx, window).await,
            Attack::Spin => spin(ctx, window).await,
            Attack::LogFlood => log_flood(ctx, window).await,
            Attack::GiantStrings => giant_strings(ctx, window).await,
            Attack::Tarpit => tarpit(ctx, window).await,
            Attack::TestSends => test_sends(ctx, window).await,
            Attack::BulkQ => bulk_q(ctx, window).await,
            Attack::Digest => digest(ctx, window).await,
            Attack::MetricsLabels => metrics_labels(ctx, window).await,
            Attack::Slowloris => slowloris(ctx, window).await,
        }
    }
}

/// 1: each send keeps 20,000 header maps of 12 KB: 240 MB the host holds for 4-byte handles.
pub(crate) async fn header_maps(ctx: &Ctx, window: &Window) -> Vec<String> {
    let config = json!({"attack": "header-maps", "count": 20_000, "size": 12_000});
    let channel = ctx.channel("handles", "hostile", config).await;
    ctx.subscribe("security", &[channel], None).await;
    window.open();
    let ids = ctx.publish_a("security", 4, 0).await;
    window.finish().await;
    vec![ctx.delivery_outcomes(&ids).await]
}

/// 2: one send issues 3,000 requests to a host that answers each with 1 MiB after a second,
/// and reads none of the answers.
pub(crate) async fn fan_out(ctx: &Ctx, window: &Window) -> Vec<String> {
    let slow = SlowHost::start(Duration::from_secs(1), 1 << 20).await;
    let config = json!({
        "attack": "fan-out",
        "authority": format!("127.0.0.1:{}", slow.port()),
        "count": 3_000,
    });
    let channel = ctx.channel("fan-out", "hostile", config).await;
    ctx.subscribe("security", &[channel], None).await;
    window.open();
    let ids = ctx.publish_a("security", 1, 0).await;
    window.finish().await;
    vec![
        format!("requests reaching the slow host: {}", slow.requests()),
        ctx.delivery_outcomes(&ids).await,
    ]
}

/// 3: two sends that spin until their deadline, and two channel creations whose
/// `validate-config` spins.
pub(crate) async fn spin(ctx: &Ctx, window: &Window) -> Vec<String> {
    let channel = ctx
        .channel("spinner", "hostile", json!({"attack": "loop"}))
        .await;
    ctx.subscribe("security", &[channel], None).await;
    window.open();
    let creations: Vec<_> = (0..2)
        .map(|i| {
            let hub = ctx.hub.clone();
            let (path, token) = (ctx.a.path("/channels"), ctx.a.root.clone());
            let body = json!({
                "name": format!("spinning-validation-{i}"),
                "plugin": "hostile",
                "config": {"attack": "loop-while-validating"},
            });
            tokio::spawn(async move {
                hub.send(Method::POST, &path, Some(&token), Some(body), SETUP_TIMEOUT)
                    .await
            })
        })
        .collect();
    let ids = ctx.publish_a("security", 2, 0).await;
    let mut answers = Vec::new();
    for creation in creations {
        answers.push(creation.await.expect("the creation task"));
    }
    window.finish().await;
    vec![
        format!("channel creations: {}", summarize(&answers)),
        ctx.delivery_outcomes(&ids).await,
    ]
}

/// 4: one send prints 10,000,000 empty lines.
pub(crate) async fn log_flood(ctx: &Ctx, window: &Window) -> Vec<String> {
    let config = json!({"attack": "print-lines", "text": "", "lines": 10_000_000});
    let channel = ctx.channel("printer", "hostile", config).await;
    ctx.subscribe("security", &[channel], None).await;
    let before = ctx.output.bytes();
    window.open();
    let ids = ctx.publish_a("security", 1, 0).await;
    window.finish().await;
    vec![
        format!(
            "server output during the attack: {}",
            bytes_text(ctx.output.bytes() - before)
        ),
        ctx.delivery_outcomes(&ids).await,
    ]
}

/// 5: two channel creations refused with 14 MB errors, four deliveries failed with 14 MB
/// errors, and A reading those deliveries five times a second.
pub(crate) async fn giant_strings(ctx: &Ctx, window: &Window) -> Vec<String> {
    let config = json!({"attack": "fail-send", "bytes": 14_000_000});
    let channel = ctx.channel("giant-errors", "hostile", config).await;
    ctx.subscribe("security", &[channel], None).await;
    window.open();
    let refusals: Vec<_> = (0..2)
        .map(|i| {
            let hub = ctx.hub.clone();
            let (path, token) = (ctx.a.path("/channels"), ctx.a.root.clone());
            let body = json!({
                "name": format!("giant-refusal-{i}"),
                "plugin": "hostile",
                "config": {"attack": "refuse", "bytes": 14_000_000},
            });
            tokio::spawn(async move {
                hub.send(Method::POST, &path, Some(&token), Some(body), SETUP_TIMEOUT)
                    .await
            })
        })
        .collect();
    let ids = ctx.publish_a("security", 4, 0).await;
    let mut reads = Vec::new();
    while Instant::now() < window.until() {
        // A console that refreshes the four messages' deliveries five times a second.
        let round = Instant::now();
        for id in &ids {
            let path = ctx.a.path(&format!("/messages/{id}/deliveries"));
            reads.push(
                ctx.hub
                    .send(Method::GET, &path, Some(&ctx.a.root), None, SETUP_TIMEOUT)
                    .await,
            );
        }
        tokio::time::sleep_until((round + Duration::from_millis(200)).into()).await;
    }
    let mut created = Vec::new();
    for refusal in refusals {
        created.push(refusal.await.expect("the creation task"));
    }
    window.finish().await;
    vec![
        format!("refused creations: {}", summarize(&created)),
        format!("A's reads of the deliveries: {}", summarize(&reads)),
    ]
}

/// 6: 300 deliveries to 100 channels whose host accepts connections and never answers.
pub(crate) async fn tarpit(ctx: &Ctx, window: &Window) -> Vec<String> {
    let tarpit = Tarpit::start().await;
    let mut channels = Vec::new();
    for i in 0..100 {
        let config = webhook(&format!("http://127.0.0.1:{}/hook/{i}", tarpit.port()));
        channels.push(ctx.channel(&format!("tarpit-{i}"), "webhook", config).await);
    }
    ctx.subscribe("security", &channels, None).await;
    window.open();
    let ids = ctx.publish_a("security", 3, 0).await;
    window.finish().await;
    vec![
        format!("connections the tarpit holds: {}", tarpit.connections()),
        ctx.delivery_outcomes(&ids).await,
    ]
}

/// 7: 70 channel tests at once to a host that answers after 8 s.
pub(crate) async fn test_sends(ctx: &Ctx, window: &Window) -> Vec<String> {
    let slow = SlowHost::start(Duration::from_secs(8), 2).await;
    let config = webhook(&format!("http://127.0.0.1:{}/hook", slow.port()));
    let channel = ctx.channel("slow-host", "webhook", config).await;
    window.open();
    let tests: Vec<_> = (0..70)
        .map(|_| {
            let hub = ctx.hub.clone();
            let (path, token) = (
                ctx.a.path(&format!("/channels/{channel}/test")),
                ctx.a.root.clone(),
            );
            tokio::spawn(async move {
                hub.send(Method::POST, &path, Some(&token), None, SETUP_TIMEOUT)
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for test in tests {
        answers.push(test.await.expect("the test task"));
    }
    window.finish().await;
    vec![
        format!("tests: {}", summarize(&answers)),
        format!("requests reaching the slow host: {}", slow.requests()),
    ]
}

/// 8: a read-only user of A marks read, twice at once and again until the window ends, with
/// a 256-character `q` that matches none of 2,000 messages of 65 KB.
pub(crate) async fn bulk_q(ctx: &Ctx, window: &Window) -> Vec<String> {
    let published = ctx.publish_a("activity", 2_000, BIG_BODY).await;
    assert_eq!(
        published.len(),
        2_000,
        "setup: A's messages were not all published"
    );
    let user = ctx
        .hub
        .expect(
            Method::POST,
            &ctx.a.path("/users"),
            &ctx.a.root,
            json!({"name": "reader", "policies": ["NotificationsReadOnlyAccess"]}),
            201,
        )
        .await;
    let token = text(&user, "token");
    let q: String = "Zürich-Straße ".chars().cycle().take(256).collect();
    window.open();
    let loops: Vec<_> = (0..2)
        .map(|_| {
            let hub = ctx.hub.clone();
            let (path, token, until) = (
                ctx.a.path("/messages/mark-read"),
                token.clone(),
                window.until(),
            );
            let body = json!({"filter": {"q": q}});
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while Instant::now() < until {
                    let body = Some(body.clone());
                    answers.push(
                        hub.send(Method::POST, &path, Some(&token), body, SETUP_TIMEOUT)
                            .await,
                    );
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for l in loops {
        answers.extend(l.await.expect("the mark-read loop"));
    }
    window.finish().await;
    vec![format!("mark-read calls: {}", summarize(&answers))]
}

/// 9: a digest gathers 300 messages of 65 KB (about 20 MB), then its tick comes.
pub(crate) async fn digest(ctx: &Ctx, window: &Window) -> Vec<String> {
    let config = webhook(&ctx.sink.url("/digest"));
    let channel = ctx.channel("digest", "webhook", config).await;
    // Gather under a cron that does not tick during the run (1 January), then move the cron
    // to every second: the gathered messages stay open across the change.
    let yearly = json!({"cron": "0 0 0 1 1 *", "timezone": "UTC"});
    ctx.subscribe("product", std::slice::from_ref(&channel), Some(yearly))
        .await;
    let ids = ctx.publish_a("product", 300, BIG_BODY).await;
    assert_eq!(
        ids.len(),
        300,
        "setup: the digest's messages were not all published"
    );
    window.open();
    let every_second = json!({
        "channels": [channel],
        "digest": {"cron": "* * * * * *", "timezone": "UTC"},
    });
    let path = ctx.a.path("/subscriptions/product");
    let tick = ctx
        .hub
        .send(
            Method::PUT,
            &path,
            Some(&ctx.a.root),
            Some(every_second),
            SETUP_TIMEOUT,
        )
        .await;
    window.finish().await;
    let (parts, messages) = ctx.sink.digests();
    vec![
        format!(
            "cron moved to every second: {}",
            summarize_statuses(&[tick])
        ),
        format!("the sink got {messages} of 300 messages in {parts} summaries"),
        ctx.delivery_outcomes(&ids[..1]).await,
    ]
}

/// 10: 200 requests whose methods are invented 200 KB names, then `/metrics` scraped every
/// second until the window ends.
pub(crate) async fn metrics_labels(ctx: &Ctx, window: &Window) -> Vec<String> {
    window.open();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let addr = ctx.hub.addr.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for i in (w..200).step_by(4) {
                    let method = format!("X{i:03}{}", "A".repeat(200_000));
                    let request = format!(
                        "{method} /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    );
                    statuses.push(raw_status(&addr, request.as_bytes()).await);
                }
                statuses
            })
        })
        .collect();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for worker in workers {
        for status in worker.await.expect("the request worker") {
            *statuses.entry(status).or_default() += 1;
        }
    }
    let mut scrapes = Vec::new();
    while Instant::now() < window.until() {
        scrapes.push(
            ctx.hub
                .send(Method::GET, "/metrics", None, None, SETUP_TIMEOUT)
                .await,
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    window.finish().await;
    let counted: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    vec![
        format!("invented methods answered: {}", counted.join(", ")),
        format!("/metrics scrapes: {}", summarize(&scrapes)),
    ]
}

/// 11: 2,000 connections that send half their headers and wait; then `SIGTERM` while they
/// are still open.
pub(crate) async fn slowloris(ctx: &Ctx, window: &Window) -> Vec<String> {
    window.open();
    let mut held = Vec::new();
    let mut refused = 0;
    for batch in 0..20 {
        let opened: Vec<_> = (0..100)
            .map(|i| {
                let addr = ctx.hub.addr.clone();
                tokio::spawn(async move {
                    let mut conn = TcpStream::connect(&addr).await.ok()?;
                    let half = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow-{batch}-{i}: ");
                    conn.write_all(half.as_bytes()).await.ok()?;
                    Some(conn)
                })
            })
            .collect();
        for conn in opened {
            match conn.await.expect("the connect task") {
                Some(conn) => held.push(conn),
                None => refused += 1,
            }
        }
    }
    tokio::time::sleep_until(window.until().into()).await;
    let still_open = held.iter().filter(|c| is_open(c)).count();
    window.finish().await;
    let pid = ctx.pid;
    let exited = tokio::task::spawn_blocking(move || terminate(pid, SIGTERM_LIMIT))
        .await
        .expect("the wait for the server's exit");
    drop(held);
    vec![
        format!(
            "{} opened, {refused} failed; open at the window's end: {still_open}",
            2_000 - refused
        ),
        match exited {
            Some(took) => format!("SIGTERM: exited in {}", duration_text(took)),
            None => format!("SIGTERM: still running after {} s", SIGTERM_LIMIT.as_secs()),
        },
    ]
}
