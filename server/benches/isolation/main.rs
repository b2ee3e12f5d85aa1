//! Isolation under attack: what one tenant, one plugin or one client can do to everybody
//! else. For each attack of issue 13, a fresh `msghub serve` on loopback (its own data
//! directory, the hostile fixture in its plugin directory, `MSGHUB_ALLOW_NETWORKS=127.0.0.0/8`)
//! serves two tenants: A attacks, B goes about its business. While the attack runs, probes
//! measure what B and the operator see:
//!
//! - `GET /healthz`, every 200 ms, on a fresh connection each time;
//! - a list, `GET /v1/accounts/B/messages?limit=50` with B's root token, every 200 ms;
//! - B's delivery: a publish to B every 250 ms, timed until B's webhook channel (the bundled
//!   `webhook` plugin) reaches a healthy sink in this process; after the window each gets
//!   15 s more to arrive, and one that does not counts as "not delivered";
//! - the server's resident memory: `VmRSS` every 100 ms, and `VmHWM` (reset when the attack
//!   starts, through `/proc/PID/clear_refs`) at the end.
//!
//! The attacks: (1) host memory through header-map handles, (2) a fan-out of requests to a
//! slow host that answers 1 MiB each, (3) spinning guests in `send` and in
//! `validate-config`, (4) a flood of guest output, (5) giant plugin error strings then the
//! deliveries that carry them, (6) 100 channels to a tarpit that never answers, (7) 70
//! parallel channel tests to a slow host, (8) a read-only user's mark-read with a 256-char
//! `q` over 2,000 messages of 65 KB, (9) a digest of 300 messages of 65 KB, (10) 200
//! invented 200 KB method names then a `/metrics` scrape, (11) slowloris connections, then
//! the time `SIGTERM` takes. A first row, without attack, is the reference.
//!
//! A server that dies during an attack is a result, not a failure of the run: the row says
//! so and the next attack starts a new server. The harness uses only settings and endpoints
//! that the release before the isolation work (4a37b06) already had, so the same run
//! measures both: point `MSGHUB_BIN` at the older binary.
//!
//! Run: `cargo bench -p msghub-server --bench isolation`. Environment:
//! - `MSGHUB_BIN`: the server to measure; default this tree's `msghub`, built with the bench.
//! - `MSGHUB_HOSTILE_WASM`: the hostile fixture; default the one `tests/build.rs` builds
//!   (`target/wasm/wasm32-wasip2/release/fixture_hostile.wasm`). Always this tree's: it is a
//!   test plugin, not part of the server, and the plugin interface has not changed.
//! - `ISOLATION_SECONDS`: the attack window, default 15 (some attacks take 5 s more).
//! - `ISOLATION_ONLY`: a comma-separated subset of attack keys (`baseline`, `header-maps`,
//!   `fan-out`, `spin`, `log-flood`, `giant-strings`, `tarpit`, `test-sends`, `bulk-q`,
//!   `digest`, `metrics-labels`, `slowloris`).
//! - `ISOLATION_REPORT`: a file to write the markdown table to (it is printed either way).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

mod attacks;
mod net;
mod probes;
mod row;
mod server;
mod text;

#[allow(unused_imports)]
use attacks::*;
#[allow(unused_imports)]
use net::*;
#[allow(unused_imports)]
use probes::*;
#[allow(unused_imports)]
use row::*;
#[allow(unused_imports)]
use server::*;
#[allow(unused_imports)]
use text::*;

/// The operator's token: long enough for the newer server's 32-character minimum.
pub(crate) const OPERATOR: &str = "mho_isolation-bench-operator-token-0123456789abcdef";
/// The most a probe waits for its answer.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The most a setup request waits (setup failing is a bug of the harness: it panics).
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long B's publishes still in flight get after the window.
pub(crate) const DELIVERY_GRACE: Duration = Duration::from_secs(15);
pub(crate) const HEALTHZ_EVERY: Duration = Duration::from_millis(200);
pub(crate) const LIST_EVERY: Duration = Duration::from_millis(200);
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(250);
pub(crate) const RSS_EVERY: Duration = Duration::from_millis(100);
/// The most a body may have: 65,536 bytes; the attacks use nearly that.
pub(crate) const BIG_BODY: usize = 65_000;
/// How long the slowloris row waits for the server to exit after `SIGTERM`.
pub(crate) const SIGTERM_LIMIT: Duration = Duration::from_secs(30);
/// The signing secret of every webhook channel (the plugin requires one).
pub(crate) const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn main() {
    let bench = Bench::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let rows = runtime.block_on(async {
        let warm = warm_plugin_cache(&bench);
        let cache = warm.path().join("data/plugin-cache");
        let mut rows = Vec::new();
        for (n, attack) in bench.attacks.iter().enumerate() {
            eprintln!(
                "[{:>4.0} s] {}/{}: {}",
                started.elapsed().as_secs_f64(),
                n + 1,
                bench.attacks.len(),
                attack.title()
            );
            rows.push(measure(&bench, &cache, *attack).await);
        }
        rows
    });
    let report = render(&bench, &rows, started.elapsed());
    println!("{report}");
    if let Ok(path) = std::env::var("ISOLATION_REPORT") {
        std::fs::write(&path, &report).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    }
}

/// What the run measures, from the environment.
pub(crate) struct Bench {
    pub(crate) bin: PathBuf,
    pub(crate) hostile: PathBuf,
    pub(crate) window: Duration,
    pub(crate) attacks: Vec<Attack>,
}

impl Bench {
    pub(crate) fn from_env() -> Bench {
        let bin = std::env::var_os("MSGHUB_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_msghub")));
        let hostile = std::env::var_os("MSGHUB_HOSTILE_WASM")
            .map(PathBuf::from)
            .unwrap_or_else(|| msghub_tests::wasm("hostile"));
        assert!(bin.is_file(), "no server binary at {}", bin.display());
        assert!(
            hostile.is_file(),
            "no hostile fixture at {}: build it with `cargo test --workspace --no-run` or set \
             MSGHUB_HOSTILE_WASM",
            hostile.display()
        );
        let window = Duration::from_secs(
            std::env::var("ISOLATION_SECONDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(15),
        );
        let attacks = match std::env::var("ISOLATION_ONLY") {
            Ok(only) => only
                .split(',')
                .map(|key| {
                    Attack::ALL
                        .into_iter()
                        .find(|a| a.key() == key.trim())
                        .unwrap_or_else(|| panic!("ISOLATION_ONLY: no attack named '{key}'"))
                })
                .collect(),
            Err(_) => Attack::ALL.to_vec(),
        };
        Bench {
            bin,
            hostile,
            window,
            attacks,
        }
    }
}
