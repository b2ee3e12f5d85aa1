//! The web console, driven in a real browser: headless Debian chromium through chromedriver
//! (WebDriver, with fantoccini), against the real `msghub serve` on a fresh data directory,
//! seeded through the HTTP API. The browser must be installed (`scripts/install-browser`);
//! without it these tests fail and say so, rather than pass without having run.
//!
//! The inbox test also writes the README's screenshot, `docs/console-inbox.png`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ADMIN_TOKEN: &str = "console-test-operator-token-0123456789";
const PATIENCE: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) {
    try_wait_for_port(port, what, child, log).unwrap_or_else(|e| panic!("{e}"));
}

/// Waits until `child` listens on `port`; an error when it exits or takes over 60 s.
fn try_wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!(
                "{what} exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{what} did not listen on 127.0.0.1:{port} within 60 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The port answered, but it may belong to another process that took it first: the
    // child must still be running.
    if let Some(status) = child.try_wait().unwrap() {
        return Err(format!(
            "{what} exited with {status}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ));
    }
    Ok(())
}

/// A child process killed, with every process it started, when the test ends: it runs in a
/// process group of its own, and the whole group is killed.
struct Spawned {
    child: Child,
}

impl Spawned {
    fn start(mut command: Command) -> Self {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        Spawned {
            child: command.spawn().unwrap(),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `msghub serve` on a free port and a fresh data directory.
struct Server {
    _process: Spawned,
    url: String,
    http: HttpClient<HttpConnector, Full<Bytes>>,
    _data: tempfile::TempDir,
}

impl Server {
    async fn start(extra_env: &[(&str, &str)]) -> Server {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = data.path().join("server.log");
        let store = data.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_msghub"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(&store)
            .env("MSGHUB_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("MSGHUB_LOG", "warn")
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(data.path().join("server.err")).unwrap());
        let mut process = Spawned::start(command);
        wait_for_port(
            port,
            "msghub serve",
            &mut process.child,
            &data.path().join("server.err"),
        );
        let server = Server {
            _process: process,
            url: format!("http://127.0.0.1:{port}"),
            http: HttpClient::builder(TokioExecutor::new()).build_http(),
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, _) = server.call(Method::GET, "/healthz", None, None).await;
            if status == StatusCode::OK {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "/healthz answered {status} for 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Full::new(Bytes::from(json.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let response = self
            .http
            .request(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Calls the API and insists on `expected`.
    async fn expect(
        &self,
        expected: StatusCode,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, answer) = self.call(method.clone(), path, Some(token), body).await;
        assert_eq!(status, expected, "{method} {path} answered {answer}");
        answer
    }
}

/// An account seeded with messages, as the platform would publish them.
struct Seeded {
    account: String,
    root_token: String,
    /// Message ids by subtype.
    ids: std::collections::HashMap<String, String>,
}

/// The notices the platform has sent the account, oldest first.
fn notices() -> Vec<Value> {
    vec![
        json!({"category": "security", "subtype": "ddos-attack", "severity": "critical",
               "title": "DDoS attack on 203.0.113.7", "resource": "eip/203.0.113.7",
               "body": "**Traffic** peaked at 40 Gbps; scrubbing is on.\n\n- source: many\n- see https://example.com/ddos"}),
        json!({"category": "security", "subtype": "new-login", "severity": "warning",
               "title": "New sign-in from an unfamiliar device",
               "body": "Sign-in from 198.51.100.4 (Frankfurt)."}),
        json!({"category": "security", "subtype": "password-changed", "severity": "info",
               "title": "Password changed", "body": "The console password of the root user changed."}),
        json!({"category": "account", "subtype": "low-balance", "severity": "warning",
               "title": "Balance below 100 CNY", "body": "Top up to keep pay-as-you-go resources running."}),
        json!({"category": "product", "subtype": "release", "severity": "info",
               "title": "Templates now escape <script> tags",
               "body": "<script>document.title='owned'</script> Message templates escape HTML."}),
        json!({"category": "exception", "subtype": "instance-stopped", "severity": "critical",
               "title": "Instance i-123 stopped unexpectedly", "resource": "ecs/i-123",
               "body": "The host failed; the instance restarts elsewhere."}),
        json!({"category": "activity", "subtype": "promotion", "severity": "info",
               "title": "Double 11 offers", "body": "Up to 50% off reserved instances."}),
        json!({"category": "service", "subtype": "maintenance", "severity": "warning",
               "title": "Scheduled maintenance on 2026-12-05", "resource": "rds/db-7",
               "body": "Window 02:00 to 04:00 UTC."}),
    ]
}

async fn seed(server: &Server) -> Seeded {
    let account = server
        .expect(
            StatusCode::CREATED,
            Method::POST,
            "/v1/accounts",
            ADMIN_TOKEN,
            Some(json!({"name": "acme"})),
        )
        .await;
    let id = account["id"].as_str().unwrap().to_owned();
    let root_token = account["root_token"].as_str().unwrap().to_owned();
    let mut ids = std::collections::HashMap::new();
    for notice in notices() {
        let message = server
            .expect(
                StatusCode::CREATED,
                Method::POST,
                &format!("/v1/accounts/{id}/messages"),
                ADMIN_TOKEN,
                Some(notice.clone()),
            )
            .await;
        let subtype = notice["subtype"].as_str().unwrap().to_owned();
        ids.insert(subtype, message["id"].as_str().unwrap().to_owned());
    }
    // The root has already read one security notice: security shows 2 unread of 3.
    server
        .expect(
            StatusCode::OK,
            Method::POST,
            &format!("/v1/accounts/{id}/messages/mark-read"),
            &root_token,
            Some(json!({"ids": [ids["password-changed"]]})),
        )
        .await;
    Seeded {
        account: id,
        root_token,
        ids,
    }
}

/// chromedriver on a free port and a headless chromium session through it.
struct Browser {
    client: Client,
    _driver: Spawned,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a session, trying three times: on a loaded machine a
    /// session can fail to start (a port taken between choosing and binding it, chromium
    /// slow to come up), which says nothing about the console.
    async fn start() -> Browser {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Browser::try_start().await {
                Ok(browser) => return browser,
                Err(e) => failures.push(e),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!(
            "chromedriver could not start a chromium session; is Debian's chromium installed? \
             run scripts/install-browser. Attempts:\n{}",
            failures.join("\n")
        )
    }

    async fn try_start() -> Result<Browser, String> {
        let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.to_owned());
        assert!(
            Path::new(&driver_path).exists(),
            "chromedriver is not installed at {driver_path}: run scripts/install-browser \
             (installs Debian's chromium and chromium-driver) and run the tests again"
        );
        let profile = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = profile.path().join("chromedriver.log");
        let mut command = Command::new(&driver_path);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null());
        let mut driver = Spawned::start(command);
        try_wait_for_port(port, "chromedriver", &mut driver.child, &log)?;

        let mut options = json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1100", "--lang=en-US",
                format!("--user-data-dir={}", profile.path().join("chromium").display()),
            ],
        });
        if Path::new(CHROMIUM).exists() {
            options["binary"] = json!(CHROMIUM);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| {
                format!(
                    "{e}; chromedriver log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })?;
        Ok(Browser {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
    }

    async fn click(&self, selector: &str) {
        self.css(selector)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    }

    async fn type_into(&self, selector: &str, text: &str) {
        let element = self.css(selector).await;
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    async fn choose(&self, selector: &str, value: &str) {
        self.css(selector)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choosing {value} in {selector}: {e}"));
    }

    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns `expected`; `what` says what was awaited.
    async fn until(&self, what: &str, script: &str, expected: Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.js(script, vec![]).await;
            if got == expected {
                return;
            }
            if Instant::now() > deadline {
                // What the page told the person: the status region and any form error.
                let told = self
                    .js(
                        "return [document.getElementById('status'), ...document.querySelectorAll('.form-error')]
                           .map(e => e.textContent).filter(Boolean)",
                        vec![],
                    )
                    .await;
                panic!("{what}: waited for {expected}, still {got} (the page says: {told})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.unwrap()
    }

    async fn sign_in(&self, server: &Server, seeded: &Seeded) {
        self.client
            .goto(&format!("{}/?account={}", server.url, seeded.account))
            .await
            .unwrap();
        let prefilled = self
            .css("#signin-account")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(
            prefilled.as_deref(),
            Some(seeded.account.as_str()),
            "the account id comes from ?account="
        );
        self.type_into("#signin-token", &seeded.root_token).await;
        self.click("#signin button[type=submit]").await;
        self.until(
            "the inbox after signing in",
            "return document.getElementById('view').dataset.view",
            json!("messages"),
        )
        .await;
    }

    async fn confirm_dialog_text(&self) -> String {
        self.until(
            "the confirmation dialog",
            "return document.getElementById('confirm').open",
            json!(true),
        )
        .await;
        self.text("#confirm-text").await
    }
}

/// A script that returns `tail`, an expression over `rows`: the ids of the listed messages,
/// or null while the list is loading.
fn rows(tail: &str) -> String {
    format!(
        "const panel = document.getElementById('message-panel');
         if (!panel || panel.getAttribute('aria-busy') !== 'false') return null;
         const rows = [...panel.querySelectorAll('tbody tr')].map(r => r.dataset.id);
         return {tail};"
    )
}

async fn counts(server: &Server, seeded: &Seeded) -> Value {
    server
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/accounts/{}/counts", seeded.account),
            &seeded.root_token,
            None,
        )
        .await
}

fn screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console-inbox.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_shows_badges_marks_all_read_under_a_filter_and_deletes_a_selection() {
    let browser = Browser::start().await;
    let server = Server::start(&[]).await;
    let seeded = seed(&server).await;
    let b = &browser;
    b.sign_in(&server, &seeded).await;

    // Badges: 7 unread in all, 2 of the 3 security notices.
    let unread_of = |category: &str| {
        format!("return document.getElementById('tab-{category}').dataset.unread ?? null")
    };
    b.until("the All badge", &unread_of("all"), json!("7"))
        .await;
    b.until("the security badge", &unread_of("security"), json!("2"))
        .await;
    assert_eq!(b.text("#tab-security .badge").await, "2");
    b.until("every message listed", &rows("rows.length"), json!(8))
        .await;

    // Message text is text: a title holding markup shows the markup, and makes no element.
    let escaped = b
        .js(
            "return [...document.querySelectorAll('.message-link')].some(a =>
               a.textContent === 'Templates now escape <script> tags' && a.children.length === 0)",
            vec![],
        )
        .await;
    assert_eq!(escaped, json!(true), "message titles are escaped");

    let png = b.client.screenshot().await.unwrap();
    std::fs::create_dir_all(screenshot_path().parent().unwrap()).unwrap();
    std::fs::write(screenshot_path(), png).unwrap();

    // Unread security notices: the two that the root has not read.
    b.click("#tab-security").await;
    b.choose("#filter-status", "unread").await;
    let mut unread_security = vec![
        seeded.ids["new-login"].clone(),
        seeded.ids["ddos-attack"].clone(),
    ];
    unread_security.sort();
    b.until(
        "the unread security notices",
        &rows("rows.sort()"),
        json!(unread_security),
    )
    .await;
    assert!(
        b.js("return location.hash", vec![])
            .await
            .as_str()
            .unwrap()
            .contains("status=unread")
    );

    // Mark all read under that filter, after a confirmation that says how many.
    b.click("#action-mark-all-read").await;
    let question = b.confirm_dialog_text().await;
    assert!(
        question.contains('2'),
        "the confirmation names the count: {question}"
    );
    b.click("#confirm-ok").await;
    b.until(
        "the security badge after marking all read",
        &unread_of("security"),
        json!("0"),
    )
    .await;
    b.until(
        "the All badge after marking all read",
        &unread_of("all"),
        json!("5"),
    )
    .await;
    assert!(
        !b.css("#tab-security .badge")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "a zero badge is hidden"
    );
    b.until(
        "the empty filtered list",
        "return !document.getElementById('messages-empty').hidden",
        json!(true),
    )
    .await;
    let after = counts(&server, &seeded).await;
    assert_eq!(after["by_category"]["security"]["unread"], 0);
    assert_eq!(
        after["unread"], 5,
        "only security notices were marked read: {after}"
    );

    // Select two messages of the whole inbox and delete them after confirming.
    b.choose("#filter-status", "all").await;
    b.click("#tab-all").await;
    b.until("every message listed again", &rows("rows.length"), json!(8))
        .await;
    let doomed = [
        seeded.ids["promotion"].clone(),
        seeded.ids["instance-stopped"].clone(),
    ];
    for id in &doomed {
        b.click(&format!(
            "#message-panel tr[data-id='{id}'] input.row-select"
        ))
        .await;
    }
    assert_eq!(b.text("#selection-count").await, "2 selected");

    // Escape cancels: nothing is deleted.
    b.click("#action-delete").await;
    let question = b.confirm_dialog_text().await;
    assert!(
        question.contains('2'),
        "the confirmation names the count: {question}"
    );
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Escape)
        .await
        .unwrap();
    b.until(
        "the dialog closed by Escape",
        "return document.getElementById('confirm').open",
        json!(false),
    )
    .await;
    assert_eq!(
        counts(&server, &seeded).await["total"],
        8,
        "cancelling deletes nothing"
    );
    let focused = b.js("return document.activeElement.id", vec![]).await;
    assert_eq!(
        focused,
        json!("action-delete"),
        "focus returns to the button that opened the dialog"
    );

    b.click("#action-delete").await;
    b.confirm_dialog_text().await;
    b.click("#confirm-ok").await;
    b.until(
        "the list without the deleted messages",
        &rows("rows.length"),
        json!(6),
    )
    .await;
    let remaining = b.js(&rows("rows"), vec![]).await;
    for id in &doomed {
        assert!(
            !remaining.as_array().unwrap().contains(&json!(id)),
            "{id} is gone from the list"
        );
    }
    b.until(
        "the All badge after deleting two unread messages",
        &unread_of("all"),
        json!("3"),
    )
    .await;
    let after = counts(&server, &seeded).await;
    assert_eq!(after["total"], 6, "{after}");
    assert_eq!(after["unread"], 3, "{after}");

    // Opening a message shows it and marks it read.
    let balance = seeded.ids["low-balance"].clone();
    b.click(&format!(
        "#message-panel tr[data-id='{balance}'] a.message-link"
    ))
    .await;
    b.until(
        "the message detail",
        "return document.getElementById('message-title')?.textContent ?? null",
        json!("Balance below 100 CNY"),
    )
    .await;
    b.until(
        "the navigation badge after opening",
        "return document.getElementById('nav-unread')?.textContent ?? null",
        json!("2"),
    )
    .await;
    let message = server
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/accounts/{}/messages/{balance}", seeded.account),
            &seeded.root_token,
            None,
        )
        .await;
    assert_eq!(message["read"], true, "opening a message marks it read");
    b.until(
        "the deliveries section",
        "return document.getElementById('deliveries').getAttribute('aria-busy')",
        json!("false"),
    )
    .await;
    b.click("#back-to-list").await;
    b.until(
        "the inbox again",
        "return document.getElementById('view').dataset.view",
        json!("messages"),
    )
    .await;

    // Bodies are Markdown rendered and sanitized by the server; markup in them stays text.
    let release = seeded.ids["release"].clone();
    b.click(&format!(
        "#message-panel tr[data-id='{release}'] a.message-link"
    ))
    .await;
    b.until(
        "the release notice's body",
        "return document.getElementById('message-body')?.textContent.trim() ?? null",
        json!("<script>document.title='owned'</script> Message templates escape HTML."),
    )
    .await;
    let scripts = b
        .js(
            "return document.querySelectorAll('#message-body script, #message-body b').length",
            vec![],
        )
        .await;
    assert_eq!(scripts, json!(0), "markup in a body makes no element");
    assert!(!b.client.title().await.unwrap().contains("owned"));
    b.click("#back-to-list").await;
    let ddos = seeded.ids["ddos-attack"].clone();
    b.click(&format!(
        "#message-panel tr[data-id='{ddos}'] a.message-link"
    ))
    .await;
    b.until(
        "the DDoS notice's Markdown",
        "return document.querySelector('#message-body strong')?.textContent ?? null",
        json!("Traffic"),
    )
    .await;
    let link = b
        .js(
            "return document.querySelector('#message-body a').getAttribute('href')",
            vec![],
        )
        .await;
    assert_eq!(link, json!("https://example.com/ddos"));

    browser.client.close().await.unwrap();
}

/// A plain HTTP endpoint on 127.0.0.1 that answers 200 to every request and counts them:
/// the webhook channel's receiver.
fn webhook_receiver() -> (u16, Arc<AtomicUsize>) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                if read_request(&mut stream).is_some() {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
            });
        }
    });
    (port, received)
}

/// Reads one HTTP/1.1 request, head and body (by content-length).
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&request);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return Some(request);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_contact_and_subscription_are_created_in_the_console_and_deliver() {
    let (hook_port, received) = webhook_receiver();
    let browser = Browser::start().await;
    let server = Server::start(&[("MSGHUB_ALLOW_NETWORKS", "127.0.0.0/8")]).await;
    let seeded = seed(&server).await;
    let account = seeded.account.clone();
    let b = &browser;
    b.sign_in(&server, &seeded).await;

    // A webhook channel, from the plugin's config schema.
    b.click("#nav-channels").await;
    b.until(
        "the channels page",
        "return document.getElementById('channels-list')?.getAttribute('aria-busy') ?? null",
        json!("false"),
    )
    .await;
    b.click("#channel-new").await;
    b.type_into("#channel-name", "sre-webhook").await;
    b.choose("#channel-plugin", "webhook").await;
    b.type_into(
        "#channel-config-url",
        &format!("http://127.0.0.1:{hook_port}/hook"),
    )
    .await;
    let secret = b.css("#channel-config-secret").await;
    assert_eq!(
        secret.attr("type").await.unwrap().as_deref(),
        Some("password"),
        "secrets are password inputs"
    );
    secret
        .send_keys("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .await
        .unwrap();
    b.click("#channel-submit").await;
    b.until(
        "the new channel in the list",
        "return [...document.querySelectorAll('#channels-table tbody tr')].map(r => r.cells[0].textContent)",
        json!(["sre-webhook"]),
    )
    .await;
    let channels = server
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/accounts/{account}/channels"),
            &seeded.root_token,
            None,
        )
        .await;
    let channel = &channels["items"][0];
    assert_eq!(channel["plugin"], "webhook");
    assert_eq!(
        channel["config"]["secret"], "***",
        "secrets come back redacted: {channel}"
    );
    let channel_id = channel["id"].as_str().unwrap().to_owned();

    // The test button sends one real message through the plugin.
    b.click(&format!(
        "#channels-table tr[data-id='{channel_id}'] .channel-test"
    ))
    .await;
    b.until(
        "the test-send outcome",
        &format!("return document.querySelector(\".test-result[data-channel='{channel_id}']\").dataset.status ?? null"),
        json!("delivered"),
    )
    .await;
    assert_eq!(
        received.load(Ordering::SeqCst),
        1,
        "the test message reached the webhook"
    );

    // A contact.
    b.click("#nav-contacts").await;
    b.type_into("#contact-name", "Security team").await;
    b.type_into("#contact-email", "security@example.com").await;
    b.click("#contact-submit").await;
    b.until(
        "the new contact in the list",
        "return [...document.querySelectorAll('#contacts-table tbody tr')].map(r => r.cells[1].textContent)",
        json!(["security@example.com"]),
    )
    .await;
    let contacts = server
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/accounts/{account}/contacts"),
            &seeded.root_token,
            None,
        )
        .await;
    let contact_id = contacts["items"][0]["id"].as_str().unwrap().to_owned();

    // The security subscription: warnings and worse, to the channel and the contact.
    b.click("#nav-subscriptions").await;
    b.until(
        "the subscriptions page",
        "return document.getElementById('subscriptions')?.getAttribute('aria-busy') ?? null",
        json!("false"),
    )
    .await;
    b.click("#sub-security-edit").await;
    b.choose("#sub-security-min-severity", "warning").await;
    b.click(&format!(
        "input[name='sub-security-channels'][value='{channel_id}']"
    ))
    .await;
    b.click(&format!(
        "input[name='sub-security-contacts'][value='{contact_id}']"
    ))
    .await;
    b.click("#sub-security-save").await;
    b.until(
        "the saved subscription",
        "return document.querySelector(\"section[data-category='security']\")?.dataset.configured ?? null",
        json!("true"),
    )
    .await;
    let subscriptions = server
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/accounts/{account}/subscriptions"),
            &seeded.root_token,
            None,
        )
        .await;
    let list = subscriptions
        .get("items")
        .unwrap_or(&subscriptions)
        .as_array()
        .unwrap()
        .clone();
    let security = list
        .iter()
        .find(|s| s["category"] == "security")
        .expect("a security subscription");
    assert_eq!(security["min_severity"], "warning");
    assert_eq!(security["channels"], json!([channel_id]));
    assert_eq!(security["contacts"], json!([contact_id]));

    // A new critical security notice reaches the webhook, and its detail lists the delivery.
    let message = server
        .expect(
            StatusCode::CREATED,
            Method::POST,
            &format!("/v1/accounts/{account}/messages"),
            ADMIN_TOKEN,
            Some(json!({"category": "security", "subtype": "ddos-attack", "severity": "critical", "title": "DDoS attack on 203.0.113.9"})),
        )
        .await;
    let message_id = message["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + PATIENCE;
    while received.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "the notice did not reach the webhook"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.client
        .goto(&format!("{}/#/messages/{message_id}", server.url))
        .await
        .unwrap();
    b.until(
        "the channel's delivery in the message detail",
        "return [...document.querySelectorAll('#deliveries tbody tr')].some(r => r.dataset.status === 'delivered')",
        json!(true),
    )
    .await;

    browser.client.close().await.unwrap();
}
