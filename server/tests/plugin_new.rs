//! `msghub plugin new` writes, in Rust, Python and JavaScript, a project that builds with
//! the one command its README gives and passes its own tests; a running `msghub serve` loads
//! the three components, refuses a bad configuration with the plugin's own message, delivers
//! through each to a receiver on 127.0.0.1, and reports a throttled send as rate limited.
//! It refuses a bad name and never writes into a directory that exists.
//!
//! The Python and JavaScript toolchains (componentize-py in a venv, Node.js and npm) are
//! installed by `scripts/install-plugin-toolchains`, which `scripts/test` runs. Where one is
//! missing, that language is skipped with a loud message, except in CI (`CI` set), where a
//! missing toolchain fails the test.

mod common;

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use common::{OPERATOR, TestServer};

const LANGS: [&str; 3] = ["rust", "python", "js"];

/// Where `scripts/install-plugin-toolchains` puts componentize-py and npm's cache: beside
/// the test's own files in the target directory.
fn toolchains() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("../plugin-toolchains")
}

/// PATH with the venv of componentize-py first.
fn search_path() -> OsString {
    let mut dirs = vec![toolchains().join("venv/bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("a valid PATH")
}

fn msghub() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_msghub"));
    command.env("MSGHUB_LOG", "warn");
    command
}

/// A command run in `dir` with the toolchains on PATH, npm's cache under the target
/// directory, and Rust's builds in a target directory kept between runs.
fn in_project(dir: &Path, line: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", search_path())
        .env("CARGO_TARGET_DIR", rust_target_dir());
    if std::env::var_os("npm_config_cache").is_none() {
        command.env("npm_config_cache", toolchains().join("npm-cache"));
    }
    command
}

fn rust_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-new-rust")
}

fn run(mut command: Command, what: &str) -> Output {
    let started = Instant::now();
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Why a language's toolchain cannot run here, if it cannot.
fn missing_toolchain(lang: &str) -> Option<String> {
    let probes: &[&str] = match lang {
        "python" => &["componentize-py --version", "python3 --version"],
        "js" => &["node --version", "npm --version"],
        _ => &["cargo --version"],
    };
    probes.iter().find_map(|probe| {
        let ran = Command::new("sh")
            .args(["-c", probe])
            .env("PATH", search_path())
            .output();
        match ran {
            Ok(o) if o.status.success() => None,
            _ => Some(format!("`{probe}` does not run")),
        }
    })
}

/// The first line of the first `sh` block after `heading` in a README.
fn command_under(readme: &str, heading: &str) -> String {
    let section = readme
        .split_once(heading)
        .unwrap_or_else(|| panic!("the README has no {heading}"))
        .1;
    let block = section.split_once("```sh\n").expect("an sh block").1;
    block.lines().next().expect("a command").to_owned()
}

/// A generated, built and tested project.
struct Project {
    lang: &'static str,
    name: String,
    component: PathBuf,
}

/// Runs `msghub plugin new`, then the README's build and test commands.
fn generate_and_build(lang: &'static str, parent: &Path) -> Project {
    let name = format!("demo-{lang}");
    let dir = parent.join(&name);
    let out = run(
        {
            let mut c = msghub();
            c.args(["plugin", "new", "--lang", lang, &name, "--dir"])
                .arg(&dir);
            c
        },
        &format!("{lang}: msghub plugin new"),
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("a README");
    let build = command_under(&readme, "## Build");
    assert!(said.contains(&build), "`plugin new` printed {said}");
    run(in_project(&dir, &build), &format!("{lang}: {build}"));
    if lang == "js" {
        // Its build runs `npm install` each time: the second must build as the first did
        // (npm once left a dependency of componentize-js out when it installed again).
        std::fs::remove_file(dir.join(format!("{name}.wasm"))).unwrap();
        run(in_project(&dir, &build), &format!("{lang}: {build}, again"));
    }
    let test = command_under(&readme, "## Test");
    let tested = run(in_project(&dir, &test), &format!("{lang}: {test}"));
    let report = String::from_utf8_lossy(&tested.stdout) + String::from_utf8_lossy(&tested.stderr);
    assert!(
        ["test result: ok. 2 passed", "Ran 3 tests", "# pass 3"]
            .iter()
            .any(|line| report.contains(line)),
        "{lang}: the project's tests did not run: {report}"
    );
    let component = match lang {
        "rust" => rust_target_dir().join("wasm32-wasip2/release/demo_rust.wasm"),
        _ => dir.join(format!("{name}.wasm")),
    };
    assert!(component.is_file(), "no {}", component.display());
    Project {
        lang,
        name,
        component,
    }
}

/// One request the receiver took.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    head: String,
    body: Value,
}

/// An HTTP receiver on 127.0.0.1: `/busy...` answers 429 with `Retry-After: 7`, anything
/// else 200.
async fn receiver() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0u8; 8192];
                let (head, body) = loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if data.len() >= end + 4 + length {
                        break (head, data[end + 4..end + 4 + length].to_vec());
                    }
                };
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let answer = if path.starts_with("/busy") {
                    "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-length: 9\r\nconnection: close\r\n\r\nslow down"
                } else {
                    "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                log.lock().push(Received { path, head, body });
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, received)
}

/// `msghub serve` in a child process, killed when dropped.
struct Served {
    child: Child,
    addr: SocketAddr,
}

impl Served {
    fn start(data: &Path, plugins: &Path) -> Served {
        let mut child = msghub()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env("MSGHUB_ADMIN_TOKEN", OPERATOR)
            .env("MSGHUB_PLUGIN_DIR", plugins)
            .env("MSGHUB_ALLOW_NETWORKS", "127.0.0.0/8")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("the server exited").unwrap();
            if let Some(rest) = line.strip_prefix("msghub listening on http://") {
                break rest.split(' ').next().unwrap().parse().unwrap();
            }
        };
        Served { child, addr }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until no plugin is loading (compiling three components can take a while on a busy
/// machine); returns `/healthz`'s `plugins`.
async fn loaded(s: &TestServer) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let health = s.raw(Method::GET, "/healthz", None, None).await.body;
        if health["plugins"]["loading"]
            .as_array()
            .is_some_and(Vec::is_empty)
        {
            return health["plugins"].clone();
        }
        assert!(Instant::now() < deadline, "still loading: {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_language_builds_with_one_command_and_delivers_through_a_running_server() {
    let work = tempfile::tempdir().unwrap();
    let mut projects = Vec::new();
    for lang in LANGS {
        if let Some(why) = missing_toolchain(lang) {
            assert!(
                std::env::var_os("CI").is_none(),
                "{lang}: the toolchain is missing in CI ({why}): scripts/install-plugin-toolchains installs it"
            );
            eprintln!(
                "\n!!!!! SKIPPED {lang}: {why}; run scripts/install-plugin-toolchains !!!!!\n"
            );
            continue;
        }
        projects.push(generate_and_build(lang, work.path()));
    }
    assert!(!projects.is_empty(), "no language could be built");

    let plugins = work.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for p in &projects {
        std::fs::copy(&p.component, plugins.join(format!("{}.wasm", p.name))).unwrap();
        let size = std::fs::metadata(&p.component).unwrap().len();
        eprintln!("{}: component {} KB", p.lang, size / 1024);
    }
    let (port, received) = receiver().await;
    let started = Instant::now();
    let served = Served::start(&work.path().join("data"), &plugins);
    let s = TestServer::client_of(served.addr);
    let state = loaded(&s).await;
    eprintln!(
        "server: plugins ready {:.1} s after start",
        started.elapsed().as_secs_f64()
    );
    for p in &projects {
        assert!(
            state["ready"]
                .as_array()
                .is_some_and(|r| r.contains(&json!(p.name))),
            "{} is not ready: {state}",
            p.name
        );
    }

    let (account, root) = s.account("acme").await;
    let channels = format!("/v1/accounts/{account}/channels");
    let mut ids = Vec::new();
    for p in &projects {
        // The plugin's own check, through the host: the message names the field.
        let r = s
            .post(
                &channels,
                &root,
                json!({"name": format!("bad-{}", p.lang), "plugin": p.name, "config": {"url": "ftp://x"}}),
            )
            .await;
        assert_eq!(r.status, 400, "{}: {}", p.lang, r.body);
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("url must be an http:// or https:// URL"),
            "{}: {message}",
            p.lang
        );
        let url = format!("http://127.0.0.1:{port}/in/{}", p.lang);
        let r = s
            .post(
                &channels,
                &root,
                json!({"name": p.lang, "plugin": p.name, "config": {"url": url, "token": "s3cret"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}: {}", p.lang, r.body);
        assert_eq!(r.body["config"]["token"], "***", "the token is writeOnly");
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let r = s
        .call(
            Method::PUT,
            &format!("/v1/accounts/{account}/subscriptions/security"),
            &root,
            Some(json!({"channels": ids})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let message = s
        .publish(&account, "security", "Root login from a new country")
        .await;

    let path = format!("/v1/accounts/{account}/messages/{message}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = s.get(&path, &root).await;
        let list = r.body.as_array().cloned().unwrap_or_default();
        if list.len() == projects.len() && list.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = received.lock().clone();
    for p in &projects {
        let request = got
            .iter()
            .find(|r| r.path == format!("/in/{}", p.lang))
            .unwrap_or_else(|| panic!("{}: nothing received: {got:?}", p.lang));
        assert_eq!(request.body["kind"], "single", "{}", p.lang);
        assert_eq!(
            request.body["messages"][0]["title"], "Root login from a new country",
            "{}",
            p.lang
        );
        assert_eq!(request.body["messages"][0]["id"], message.as_str());
        assert_eq!(request.body["messages"][0]["category"], "security");
        assert!(
            request.head.contains("authorization: bearer s3cret"),
            "{}: {}",
            p.lang,
            request.head
        );
        assert!(request.head.contains("content-type: application/json"));
    }

    // A throttled send, as each plugin classified it: rate limited, with the target's
    // Retry-After and answer.
    for p in &projects {
        let url = format!("http://127.0.0.1:{port}/busy/{}", p.lang);
        let r = s
            .post(
                &channels,
                &root,
                json!({"name": format!("busy-{}", p.lang), "plugin": p.name, "config": {"url": url}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}: {}", p.lang, r.body);
        let id = r.body["id"].as_str().unwrap();
        let r = s
            .post(&format!("{channels}/{id}/test"), &root, json!({}))
            .await;
        assert_eq!(r.status, 200, "{}: {}", p.lang, r.body);
        assert_eq!(r.body["status"], "failed", "{}: {}", p.lang, r.body);
        let error = r.body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("failed to deliver (rate limited, retry after 7 s)")
                && error.contains("the target answered HTTP 429: slow down"),
            "{}: {error}",
            p.lang
        );
    }
    drop(served);
}

#[test]
fn a_bad_name_or_an_existing_directory_is_refused_and_nothing_is_written() {
    let work = tempfile::tempdir().unwrap();
    let o = msghub()
        .args(["plugin", "new", "--lang", "python", "My Plugin"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("'My Plugin' is not a valid plugin name: use a lowercase letter"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);

    let existing = work.path().join("teams");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("mine.txt"), "keep me").unwrap();
    for lang in LANGS {
        let o = msghub()
            .args(["plugin", "new", "--lang", lang, "teams"])
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(!o.status.success(), "{lang}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(
                "teams already exists: choose another NAME or --dir; nothing was written"
            ),
            "{lang}: {stderr}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&existing)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![OsString::from("mine.txt")]);

    let o = msghub()
        .args(["plugin", "new", "--lang", "rust", "teams2", "--sdk"])
        .arg(work.path())
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not the msghub-sdk crate"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!work.path().join("teams2").exists());
}

#[test]
fn a_project_holds_the_contract_and_builds_wherever_it_lies() {
    let work = tempfile::tempdir().unwrap();
    for lang in LANGS {
        let dir = work.path().join(lang).join("nested");
        let o = msghub()
            .args(["plugin", "new", "--lang", lang, "teams", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(
            !readme.contains("{{"),
            "{lang}: a placeholder is left: {readme}"
        );
        match lang {
            "rust" => {
                let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
                // An absolute path to the SDK: the project builds wherever it lies.
                let sdk = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../sdk")
                    .canonicalize()
                    .unwrap();
                assert!(
                    manifest.contains(&format!("msghub-sdk = {{ path = \"{}\" }}", sdk.display())),
                    "{manifest}"
                );
                assert!(dir.join("rust-toolchain.toml").is_file());
            }
            _ => {
                let wit = std::fs::read_to_string(dir.join("wit/notifier.wit")).unwrap();
                let ours = std::fs::read_to_string(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/notifier.wit"),
                )
                .unwrap();
                assert_eq!(wit, ours, "{lang}");
                assert!(dir.join("wit/deps/http.wit").is_file());
            }
        }
    }
}
