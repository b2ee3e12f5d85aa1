//! The web console's browser tests' world: chromedriver and headless chromium, a real
//! `msghub serve` on a fresh data directory, and the inbox seeded through the HTTP API.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const ADMIN_TOKEN: &str = "console-test-operator-token-0123456789";
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) {
    try_wait_for_port(port, what, child, log).unwrap_or_else(|e| panic!("{e}"));
}

/// Waits until `child` listens on `port`; an error when it exits or takes over 60 s.
pub fn try_wait_for_port(
    port: u16,
    what: &str,
    child: &mut Child,
    log: &Path,
) -> Result<(), String> {
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
pub struct Spawned {
    pub child: Child,
}

impl Spawned {
    pub fn start(mut command: Command) -> Self {
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
pub struct Server {
    pub _process: Spawned,
    pub url: String,
    pub http: HttpClient<HttpConnector, Full<Bytes>>,
    pub _data: tempfile::TempDir,
}

impl Server {
    pub async fn start(extra_env: &[(&str, &str)]) -> Server {
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
        // The server answers at once and loads its plugins in the background; the console
        // offers only those ready, so wait for them all.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, health) = server.call(Method::GET, "/healthz", None, None).await;
            let loading = &health["plugins"]["loading"];
            if status == StatusCode::OK && loading.as_array().is_some_and(Vec::is_empty) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "/healthz answered {status} {health} for 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    pub async fn call(
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
    pub async fn expect(
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
pub struct Seeded {
    pub account: String,
    pub root_token: String,
    /// Message ids by subtype.
    pub ids: std::collections::HashMap<String, String>,
}

/// The notices the platform has sent the account, oldest first.
pub fn notices() -> Vec<Value> {
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

pub async fn seed(server: &Server) -> Seeded {
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
pub struct Browser {
    pub client: Client,
    pub _driver: Spawned,
    pub _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a session, trying three times: on a loaded machine a
    /// session can fail to start (a port taken between choosing and binding it, chromium
    /// slow to come up), which says nothing about the console.
    pub async fn start() -> Browser {
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

    pub async fn try_start() -> Result<Browser, String> {
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

    pub async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
    }

    pub async fn click(&self, selector: &str) {
        self.css(selector)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    }

    pub async fn type_into(&self, selector: &str, text: &str) {
        let element = self.css(selector).await;
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    pub async fn choose(&self, selector: &str, value: &str) {
        self.css(selector)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choosing {value} in {selector}: {e}"));
    }

    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns `expected`; `what` says what was awaited.
    pub async fn until(&self, what: &str, script: &str, expected: Value) {
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

    pub async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.unwrap()
    }

    pub async fn sign_in(&self, server: &Server, seeded: &Seeded) {
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

    pub async fn confirm_dialog_text(&self) -> String {
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
pub fn rows(tail: &str) -> String {
    format!(
        "const panel = document.getElementById('message-panel');
         if (!panel || panel.getAttribute('aria-busy') !== 'false') return null;
         const rows = [...panel.querySelectorAll('tbody tr')].map(r => r.dataset.id);
         return {tail};"
    )
}

pub async fn counts(server: &Server, seeded: &Seeded) -> Value {
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

pub fn screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console-inbox.png")
}
