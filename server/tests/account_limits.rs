//! No tenant can starve another: the binary, started with small per-account limits in its
//! environment, answers one user, channel or contact too many with 409 `limit_reached`
//! naming the limit, leaves other accounts free, and makes room again after a delete; a
//! limit it cannot use stops it at start, naming the setting.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};

use common::{OPERATOR, TestServer};

/// `msghub serve` in a child process; killed when dropped, so a failing test leaves no
/// server behind.
struct Served {
    child: Child,
    addr: SocketAddr,
}

impl Served {
    /// Starts the binary with `vars` set and waits for its "listening" line.
    fn start(data: &Path, vars: &[(&str, &str)]) -> Served {
        let mut child = serve_command(data, vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server exited before it listened")
                .unwrap();
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

fn serve_command(data: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_msghub"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("MSGHUB_ADMIN_TOKEN", OPERATOR)
        .env("MSGHUB_LOG", "warn")
        .envs(vars.iter().copied());
    command
}

/// One kind of thing an account holds under a limit, as the API creates and deletes it.
struct Kind {
    /// The collection under `/v1/accounts/{account}/`.
    collection: &'static str,
    /// How the refusal counts them, e.g. "2 users".
    noun: &'static str,
    limit: usize,
    body: fn(usize) -> Value,
}

const KINDS: [Kind; 3] = [
    Kind {
        collection: "users",
        noun: "users",
        limit: 2,
        body: |n| json!({ "name": format!("user-{n}") }),
    },
    Kind {
        collection: "channels",
        noun: "channel",
        limit: 1,
        body: |n| {
            json!({
                "name": format!("hook-{n}"),
                "plugin": "webhook",
                "config": {
                    "url": "https://hooks.example.com/in",
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                },
            })
        },
    },
    Kind {
        collection: "contacts",
        noun: "contacts",
        limit: 3,
        body: |n| json!({ "name": format!("team-{n}"), "email": format!("team-{n}@example.com") }),
    },
];

/// Creates one in `account` (with its root's `token`) and returns the answer.
async fn create(
    s: &TestServer,
    account: &str,
    token: &str,
    kind: &Kind,
    n: usize,
) -> common::Reply {
    let path = format!("/v1/accounts/{account}/{}", kind.collection);
    s.post(&path, token, (kind.body)(n)).await
}

#[tokio::test]
async fn one_more_than_the_limit_from_the_environment_is_409_limit_reached() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(
        dir.path(),
        &[
            ("MSGHUB_MAX_USERS_PER_ACCOUNT", "2"),
            ("MSGHUB_MAX_CHANNELS_PER_ACCOUNT", "1"),
            ("MSGHUB_MAX_CONTACTS_PER_ACCOUNT", "3"),
        ],
    );
    let s = TestServer::client_of(served.addr);
    let (acme, acme_root) = s.account("acme").await;
    let (globex, globex_root) = s.account("globex").await;

    for kind in &KINDS {
        let mut ids = Vec::new();
        for n in 0..kind.limit {
            let r = create(&s, &acme, &acme_root, kind, n).await;
            assert_eq!(r.status, 201, "{} {}: {}", kind.collection, n, r.body);
            ids.push(r.body["id"].as_str().unwrap().to_owned());
        }

        let refused = create(&s, &acme, &acme_root, kind, kind.limit).await;
        assert_eq!(refused.status, 409, "{}: {}", kind.collection, refused.body);
        assert_eq!(refused.error(), ("limit_reached".to_owned(), None));
        let message = refused.body["error"]["message"].as_str().unwrap();
        let count = format!("account 'acme' already has {} {}", kind.limit, kind.noun);
        assert!(message.contains(&count), "{message}");
        assert!(message.contains("delete one"), "{message}");
        let listed = s
            .get(
                &format!("/v1/accounts/{acme}/{}", kind.collection),
                &acme_root,
            )
            .await;
        let held = listed.body["items"].as_array().unwrap().len();
        assert_eq!(held, kind.limit, "the refused create left {}", listed.body);

        // Another account's limit is its own.
        let r = create(&s, &globex, &globex_root, kind, kind.limit).await;
        assert_eq!(r.status, 201, "{}: {}", kind.collection, r.body);

        // A delete makes room for exactly one.
        let path = format!("/v1/accounts/{acme}/{}/{}", kind.collection, ids[0]);
        let deleted = s.call(Method::DELETE, &path, &acme_root, None).await;
        assert_eq!(deleted.status, 204, "{}", deleted.body);
        let r = create(&s, &acme, &acme_root, kind, kind.limit).await;
        assert_eq!(r.status, 201, "{}: {}", kind.collection, r.body);
        let r = create(&s, &acme, &acme_root, kind, kind.limit + 1).await;
        assert_eq!(r.status, 409, "{}: {}", kind.collection, r.body);
    }

    // The OpenAPI document says so for each create.
    let doc = s.get("/openapi.json", OPERATOR).await.body;
    for kind in &KINDS {
        let path = format!("/v1/accounts/{{account}}/{}", kind.collection);
        let conflict = &doc["paths"][path.as_str()]["post"]["responses"]["409"]["description"];
        let text = conflict.as_str().unwrap_or_default();
        assert!(text.contains("limit_reached"), "POST {path}: {conflict}");
    }
    drop(served);
}

/// Runs the binary until it exits, failing the test if it is still running after `within`
/// (a setting it should have refused let it start).
fn exit_of(mut command: Command, within: Duration) -> (ExitStatus, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started although a setting was unusable");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

#[test]
fn a_limit_the_server_cannot_use_stops_it_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (setting, value) in [
        ("MSGHUB_MAX_CHANNELS_PER_ACCOUNT", "0"),
        ("MSGHUB_MAX_USERS_PER_ACCOUNT", "lots"),
        ("MSGHUB_MAX_CONTACTS_PER_ACCOUNT", "-5"),
    ] {
        let command = serve_command(dir.path(), &[(setting, value)]);
        let (status, stderr) = exit_of(command, Duration::from_secs(60));
        assert!(!status.success(), "{setting}={value}: {stderr}");
        let named = format!("{setting} = '{value}' is not valid");
        assert!(stderr.contains(&named), "{stderr}");
        assert!(stderr.contains("whole number of at least 1"), "{stderr}");
    }
}
