//! One row: a fresh server, two tenants, the attack, the probes.

#[allow(unused_imports)]
use super::*;

/// What an attack works with.
pub(crate) struct Ctx {
    pub(crate) hub: Hub,
    /// The attacking tenant.
    pub(crate) a: Tenant,
    pub(crate) sink: Arc<Sink>,
    pub(crate) pid: u32,
    pub(crate) output: Arc<Output>,
}

impl Ctx {
    /// Creates a channel of A; returns its id.
    pub(crate) async fn channel(&self, name: &str, plugin: &str, config: Value) -> String {
        let body = json!({"name": name, "plugin": plugin, "config": config});
        let channel = self
            .hub
            .expect(
                Method::POST,
                &self.a.path("/channels"),
                &self.a.root,
                body,
                201,
            )
            .await;
        text(&channel, "id")
    }

    /// Routes A's `category` to `channels`, one by one or as a digest.
    pub(crate) async fn subscribe(
        &self,
        category: &str,
        channels: &[String],
        digest: Option<Value>,
    ) {
        let mut body = json!({"channels": channels});
        if let Some(digest) = digest {
            body["digest"] = digest;
        }
        let path = self.a.path(&format!("/subscriptions/{category}"));
        self.hub
            .expect(Method::PUT, &path, &self.a.root, body, 200)
            .await;
    }

    /// Publishes `count` messages of `category` to A with bodies of `body_bytes`, four at
    /// a time; returns the ids of those published (a server under attack may refuse some,
    /// or die).
    pub(crate) async fn publish_a(
        &self,
        category: &str,
        count: usize,
        body_bytes: usize,
    ) -> Vec<String> {
        let body = filler(body_bytes);
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..4.min(count))
            .map(|_| {
                let (hub, path, next) = (self.hub.clone(), self.a.path("/messages"), next.clone());
                let (category, body) = (category.to_owned(), body.clone());
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= count {
                            return ids;
                        }
                        let mut message =
                            json!({"category": category, "title": format!("Attack message {n}")});
                        if !body.is_empty() {
                            message["body"] = json!(body);
                        }
                        let answer = hub
                            .send(
                                Method::POST,
                                &path,
                                Some(OPERATOR),
                                Some(message),
                                SETUP_TIMEOUT,
                            )
                            .await;
                        match answer {
                            Ok(Answered {
                                status: 201, body, ..
                            }) => {
                                let published: Value = serde_json::from_slice(&body)
                                    .expect("a published message is JSON");
                                ids.push(text(&published, "id"));
                            }
                            // Nothing more will be published once the server has gone.
                            Err(_) => return ids,
                            Ok(_) => {}
                        }
                    }
                })
            })
            .collect();
        let mut ids = Vec::new();
        for worker in workers {
            ids.extend(worker.await.expect("a publishing worker"));
        }
        ids
    }

    /// How A's deliveries of `ids` ended: statuses counted, and the first error, cut.
    pub(crate) async fn delivery_outcomes(&self, ids: &[String]) -> String {
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        let mut error = None;
        for id in ids {
            let path = self.a.path(&format!("/messages/{id}/deliveries"));
            let answer = self
                .hub
                .send(Method::GET, &path, Some(&self.a.root), None, PROBE_TIMEOUT)
                .await;
            let Ok(Answered {
                status: 200, body, ..
            }) = answer
            else {
                *statuses.entry("no answer".into()).or_default() += 1;
                continue;
            };
            let deliveries: Value =
                serde_json::from_slice(&body).expect("the deliveries of a message are JSON");
            for d in deliveries.as_array().expect("deliveries are a list") {
                let status = d["status"].as_str().unwrap_or("?");
                let attempts = d["attempts"].as_u64().unwrap_or(0);
                *statuses
                    .entry(format!("{status} after {attempts}"))
                    .or_default() += 1;
                if let (None, Some(e)) = (&error, d["last_error"].as_str()) {
                    error = Some(format!("\"{}\"", cut(e, 90)));
                }
            }
        }
        let counted: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        match error {
            Some(e) => format!("A's deliveries: {}; {e}", counted.join(", ")),
            None => format!("A's deliveries: {}", counted.join(", ")),
        }
    }
}

/// An account and its root token.
#[derive(Clone)]
pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) root: String,
}

impl Tenant {
    pub(crate) async fn create(hub: &Hub, name: &str) -> Tenant {
        let account = hub
            .expect(
                Method::POST,
                "/v1/accounts",
                OPERATOR,
                json!({"name": name}),
                201,
            )
            .await;
        Tenant {
            id: text(&account, "id"),
            root: text(&account, "root_token"),
        }
    }

    /// `/v1/accounts/{id}` + `rest`.
    pub(crate) fn path(&self, rest: &str) -> String {
        format!("/v1/accounts/{}{rest}", self.id)
    }
}

/// One row of the table.
pub(crate) struct Row {
    pub(crate) attack: Attack,
    pub(crate) healthz: Stats,
    pub(crate) list: Stats,
    pub(crate) delivery: Stats,
    pub(crate) idle_kib: u64,
    pub(crate) peak_kib: u64,
    pub(crate) notes: Vec<String>,
}

pub(crate) async fn measure(bench: &Bench, cache: &Path, attack: Attack) -> Row {
    let data = tempfile::tempdir().expect("a data directory");
    copy_dir(cache, &data.path().join("plugin-cache"));
    let plugins = tempfile::tempdir().expect("a plugin directory");
    std::fs::copy(&bench.hostile, plugins.path().join("hostile.wasm"))
        .expect("the hostile fixture copies into the plugin directory");
    let mut server = Server::spawn(&bench.bin, data.path(), plugins.path());
    let hub = Hub {
        addr: server.addr.clone(),
    };
    let sink = Arc::new(Sink::start().await);
    let b = Tenant::create(&hub, "tenant-b").await;
    let hook = json!({"name": "b-hook", "plugin": "webhook", "config": webhook(&sink.url("/b"))});
    let channel = hub
        .expect(Method::POST, &b.path("/channels"), &b.root, hook, 201)
        .await;
    let routing = json!({"channels": [text(&channel, "id")]});
    hub.expect(
        Method::PUT,
        &b.path("/subscriptions/service"),
        &b.root,
        routing,
        200,
    )
    .await;
    let ctx = Ctx {
        a: Tenant::create(&hub, "tenant-a").await,
        hub,
        sink,
        pid: server.pid(),
        output: server.output.clone(),
    };
    let window = Window::new(&ctx, b, attack.window(bench.window));
    let mut notes = attack.play(&ctx, &window).await;
    window.finish().await;
    let measured = window.take();
    if !measured.server_alive
        && let Some(death) = server.death()
    {
        notes.push(death);
    }
    notes.extend(measured.probe_notes);
    Row {
        attack,
        healthz: measured.healthz,
        list: measured.list,
        delivery: measured.delivery,
        idle_kib: measured.idle_kib,
        peak_kib: measured.peak_kib,
        notes,
    }
}

/// The measured span of a row: the probes and the memory sampler, from `open` to `finish`.
pub(crate) struct Window {
    pub(crate) hub: Hub,
    pub(crate) b: Tenant,
    pub(crate) sink: Arc<Sink>,
    pub(crate) pid: u32,
    pub(crate) length: Duration,
    pub(crate) state: Mutex<WindowState>,
}

#[derive(Default)]
pub(crate) enum WindowState {
    #[default]
    Closed,
    Open {
        until: Instant,
        probes: JoinHandle<ProbeResults>,
        memory: RssSampler,
        idle_kib: u64,
    },
    Finished(Box<Measured>),
}

/// What a window measured.
pub(crate) struct Measured {
    pub(crate) healthz: Stats,
    pub(crate) list: Stats,
    pub(crate) delivery: Stats,
    pub(crate) idle_kib: u64,
    pub(crate) peak_kib: u64,
    pub(crate) probe_notes: Vec<String>,
    /// Whether the server still ran when the window closed.
    pub(crate) server_alive: bool,
}

impl Window {
    pub(crate) fn new(ctx: &Ctx, b: Tenant, length: Duration) -> Window {
        Window {
            hub: ctx.hub.clone(),
            b,
            sink: ctx.sink.clone(),
            pid: ctx.pid,
            length,
            state: Mutex::new(WindowState::Closed),
        }
    }

    /// Starts the probes and the memory sampler; the attack begins right after.
    pub(crate) fn open(&self) {
        let mut state = self.state.lock().expect("window state");
        assert!(matches!(*state, WindowState::Closed), "a window opens once");
        let idle_kib = status_kib(self.pid, "VmRSS:").unwrap_or(0);
        // Peak memory of the attack, not of the setup before it (`5` resets VmHWM).
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
        let until = Instant::now() + self.length;
        let probes = tokio::spawn(probe(
            self.hub.clone(),
            self.b.clone(),
            self.sink.clone(),
            until,
        ));
        *state = WindowState::Open {
            until,
            probes,
            memory: RssSampler::start(self.pid),
            idle_kib,
        };
    }

    /// When the window ends.
    pub(crate) fn until(&self) -> Instant {
        match &*self.state.lock().expect("window state") {
            WindowState::Open { until, .. } => *until,
            _ => panic!("the window is not open"),
        }
    }

    /// Waits for the window's end and for B's deliveries in flight, then stops measuring.
    /// Does nothing the second time.
    pub(crate) async fn finish(&self) {
        let open = {
            let mut state = self.state.lock().expect("window state");
            match std::mem::take(&mut *state) {
                WindowState::Open {
                    probes,
                    memory,
                    idle_kib,
                    ..
                } => Some((probes, memory, idle_kib)),
                other => {
                    *state = other;
                    None
                }
            }
        };
        let Some((probes, memory, idle_kib)) = open else {
            return;
        };
        let results = probes.await.expect("the probes");
        let hwm = status_kib(self.pid, "VmHWM:").unwrap_or(0);
        let sampled = memory.stop();
        let measured = Measured {
            healthz: results.healthz,
            list: results.list,
            delivery: results.delivery,
            idle_kib,
            peak_kib: hwm.max(sampled),
            probe_notes: results.notes,
            server_alive: alive(self.pid),
        };
        *self.state.lock().expect("window state") = WindowState::Finished(Box::new(measured));
    }

    pub(crate) fn take(self) -> Measured {
        match self.state.into_inner().expect("window state") {
            WindowState::Finished(measured) => *measured,
            _ => panic!("the window was never opened"),
        }
    }
}
