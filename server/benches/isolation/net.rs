//! HTTP: the client, the sink, the slow host, the tarpit.

#[allow(unused_imports)]
use super::*;

/// The server under test, as a client sees it: a fresh connection per request, so that
/// each latency includes being accepted.
#[derive(Clone)]
pub(crate) struct Hub {
    pub(crate) addr: String,
}

/// An answer and how long it took, connecting included.
pub(crate) struct Answered {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
    pub(crate) took: Duration,
}

/// No answer: why, and after how long.
pub(crate) struct NoAnswer {
    pub(crate) why: String,
}

pub(crate) type Attempt = Result<Answered, NoAnswer>;

/// Aborts a spawned connection driver when the request is done or given up.
pub(crate) struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Hub {
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        limit: Duration,
    ) -> Attempt {
        let started = Instant::now();
        let exchange = async {
            let stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            let _driver = AbortOnDrop(tokio::spawn(async move {
                let _ = conn.await;
            }));
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header("host", "isolation-bench");
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            let body = match body {
                Some(json) => {
                    request = request.header("content-type", "application/json");
                    Bytes::from(json.to_string())
                }
                None => Bytes::new(),
            };
            let request = request.body(Full::new(body)).expect("a valid request");
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("body: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(Ok((status, body))) => Ok(Answered {
                status,
                body,
                took: started.elapsed(),
            }),
            Ok(Err(why)) => Err(NoAnswer { why }),
            Err(_) => Err(NoAnswer {
                why: format!("no answer in {} s", limit.as_secs()),
            }),
        }
    }

    /// A setup request that must succeed with `status`; its JSON answer.
    pub(crate) async fn expect(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
        status: u16,
    ) -> Value {
        let what = format!("setup: {method} {path}");
        match self
            .send(method, path, Some(token), Some(body), SETUP_TIMEOUT)
            .await
        {
            Ok(answer) if answer.status == status => serde_json::from_slice(&answer.body)
                .unwrap_or_else(|e| panic!("{what}: the answer is not JSON: {e}")),
            Ok(answer) => panic!(
                "{what} answered {} (expected {status}): {}",
                answer.status,
                cut(&String::from_utf8_lossy(&answer.body), 300)
            ),
            Err(e) => panic!("{what} got no answer: {}", e.why),
        }
    }
}

/// The healthy receiver of B's channel (and of A's digest): notes when each message
/// arrives, answers 200 at once.
pub(crate) struct Sink {
    pub(crate) addr: String,
    pub(crate) arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    /// Digest summaries received, and the messages in them.
    pub(crate) digests: Arc<Mutex<(usize, usize)>>,
    pub(crate) _task: AbortOnDrop,
}

impl Sink {
    pub(crate) async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let addr = listener.local_addr().expect("bound").to_string();
        let arrivals = Arc::new(Mutex::new(HashMap::new()));
        let digests = Arc::new(Mutex::new((0, 0)));
        let (seen, summaries) = (arrivals.clone(), digests.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, summaries) = (seen.clone(), summaries.clone());
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let (seen, summaries) = (seen.clone(), summaries.clone());
                    async move {
                        let body = request.into_body().collect().await.map(|b| b.to_bytes());
                        let at = Instant::now();
                        if let Ok(payload) = body.map(|b| serde_json::from_slice::<Value>(&b)) {
                            record(payload.ok(), at, &seen, &summaries);
                        }
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Sink {
            addr,
            arrivals,
            digests,
            _task: AbortOnDrop(task),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn arrival(&self, id: &str) -> Option<Instant> {
        self.arrivals.lock().expect("arrivals").get(id).copied()
    }

    pub(crate) fn digests(&self) -> (usize, usize) {
        *self.digests.lock().expect("digests")
    }
}

/// Notes a webhook payload: a single message by its id, a digest by its size.
pub(crate) fn record(
    payload: Option<Value>,
    at: Instant,
    arrivals: &Mutex<HashMap<String, Instant>>,
    digests: &Mutex<(usize, usize)>,
) {
    let Some(payload) = payload else { return };
    match payload["type"].as_str() {
        Some("message.created") => {
            if let Some(id) = payload["data"]["id"].as_str() {
                arrivals.lock().expect("arrivals").insert(id.to_owned(), at);
            }
        }
        Some("message.digest") => {
            let messages = payload["data"]["messages"].as_array().map_or(0, Vec::len);
            let mut digests = digests.lock().expect("digests");
            digests.0 += 1;
            digests.1 += messages;
        }
        _ => {}
    }
}

/// A host that answers every request with `body_bytes` bytes after `delay`.
pub(crate) struct SlowHost {
    pub(crate) port: u16,
    pub(crate) requests: Arc<AtomicUsize>,
    pub(crate) _task: AbortOnDrop,
}

impl SlowHost {
    pub(crate) async fn start(delay: Duration, body_bytes: usize) -> SlowHost {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the slow host");
        let port = listener.local_addr().expect("bound").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let body = Bytes::from(vec![b'x'; body_bytes]);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (counted, body) = (counted.clone(), body.clone());
                let service = service_fn(move |_request: hyper::Request<Incoming>| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    let body = body.clone();
                    async move {
                        tokio::time::sleep(delay).await;
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(body)))
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        SlowHost {
            port,
            requests,
            _task: AbortOnDrop(task),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

/// A host that accepts connections, holds them and never reads or answers.
pub(crate) struct Tarpit {
    pub(crate) port: u16,
    pub(crate) connections: Arc<AtomicUsize>,
    pub(crate) _task: AbortOnDrop,
}

impl Tarpit {
    pub(crate) async fn start() -> Tarpit {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the tarpit");
        let port = listener.local_addr().expect("bound").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::Relaxed);
                held.push(stream);
            }
        });
        Tarpit {
            port,
            connections,
            _task: AbortOnDrop(task),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

/// Sends `request` as raw bytes on a new connection; the status code of the answer, or
/// what happened instead.
pub(crate) async fn raw_status(addr: &str, request: &[u8]) -> String {
    let exchange = async {
        let mut conn = TcpStream::connect(addr).await.ok()?;
        // The server may answer and close before the whole request is written.
        let _ = conn.write_all(request).await;
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer).await;
        Some(answer)
    };
    match tokio::time::timeout(Duration::from_secs(10), exchange).await {
        Err(_) => "no answer in 10 s".to_owned(),
        Ok(None) => "refused".to_owned(),
        Ok(Some(answer)) if answer.is_empty() => "closed".to_owned(),
        Ok(Some(answer)) => String::from_utf8_lossy(&answer)
            .split_whitespace()
            .nth(1)
            .unwrap_or("?")
            .to_owned(),
    }
}

/// Whether the server still holds `conn` open (it has neither closed nor answered it).
pub(crate) fn is_open(conn: &TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(conn.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}
