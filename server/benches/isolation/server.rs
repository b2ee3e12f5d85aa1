//! The server under test.

#[allow(unused_imports)]
use super::*;

/// A running `msghub serve`; killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) output: Arc<Output>,
}

/// What the server wrote: its stdout and stderr are drained (a full pipe would stall it),
/// counted, and the end of stderr kept to explain a death.
#[derive(Default)]
pub(crate) struct Output {
    pub(crate) bytes: AtomicU64,
    pub(crate) stderr_tail: Mutex<Vec<u8>>,
}

impl Output {
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn drain(self: Arc<Self>, mut from: impl Read, keep_tail: bool) {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            self.bytes.fetch_add(n as u64, Ordering::Relaxed);
            if keep_tail {
                let mut tail = self.stderr_tail.lock().expect("tail");
                tail.extend_from_slice(&buf[..n]);
                let excess = tail.len().saturating_sub(4096);
                tail.drain(..excess);
            }
        }
    }

    /// The last non-empty line of stderr.
    pub(crate) fn last_line(&self) -> String {
        let tail = self.stderr_tail.lock().expect("tail");
        String::from_utf8_lossy(&tail)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| cut(l.trim(), 160))
            .unwrap_or_default()
    }
}

impl Server {
    pub(crate) fn spawn(bin: &Path, data: &Path, plugins: &Path) -> Server {
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--plugins")
            .arg(plugins)
            .env("MSGHUB_ADMIN_TOKEN", OPERATOR)
            .env("MSGHUB_ALLOW_NETWORKS", "127.0.0.0/8")
            .env("MSGHUB_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let output = Arc::new(Output::default());
        let stderr = child.stderr.take().expect("stderr");
        let tail = output.clone();
        std::thread::spawn(move || tail.drain(stderr, true));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut addr = String::new();
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(rest) = line.strip_prefix("msghub listening on http://") {
                addr = rest.split(' ').next().unwrap_or_default().trim().to_owned();
                break;
            }
            line.clear();
        }
        let counted = output.clone();
        std::thread::spawn(move || counted.drain(stdout, false));
        assert!(
            !addr.is_empty(),
            "the server did not report its address; its stderr ends with: {}",
            output.last_line()
        );
        Server {
            child,
            addr,
            output,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the server died, when it did.
    pub(crate) fn death(&mut self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.try_wait().ok()??;
        let how = match (status.code(), status.signal()) {
            (_, Some(9)) => "killed by SIGKILL (the OOM killer?)".to_owned(),
            (_, Some(signal)) => format!("killed by signal {signal}"),
            (Some(code), None) => format!("exited with code {code}"),
            (None, None) => "ended".to_owned(),
        };
        Some(format!(
            "SERVER DIED: {how}; its last words: {}",
            self.output.last_line()
        ))
    }

    /// Kills the server, unless it already ended, and waits until it is gone.
    pub(crate) fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.pid(), "KILL");
            let _ = self.child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the server once and keeps its compiled plugins, so that every row starts from a
/// warm cache: start-up memory and time then belong to no attack.
/// Returns the directory that holds them in `plugin-cache`.
pub(crate) fn warm_plugin_cache(bench: &Bench) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a directory for the plugin cache");
    let (data, plugins) = (dir.path().join("data"), dir.path().join("plugins"));
    std::fs::create_dir_all(&plugins).expect("the cache's plugin directory");
    std::fs::copy(&bench.hostile, plugins.join("hostile.wasm")).expect("the hostile fixture");
    let server = Server::spawn(&bench.bin, &data, &plugins);
    terminate(server.pid(), SIGTERM_LIMIT);
    drop(server);
    assert!(
        data.join("plugin-cache").is_dir(),
        "the server kept no compiled plugins in {}",
        data.display()
    );
    dir
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the plugin cache directory");
    for entry in std::fs::read_dir(from).expect("the plugin cache") {
        let entry = entry.expect("a cache entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("a cached plugin copies");
    }
}

pub(crate) fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status();
}

/// Sends `SIGTERM` and waits up to `limit` for the process to exit; how long it took.
pub(crate) fn terminate(pid: u32, limit: Duration) -> Option<Duration> {
    let term = Instant::now();
    signal(pid, "TERM");
    while term.elapsed() < limit {
        if !alive(pid) {
            return Some(term.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Whether the process runs (an exited child stays a zombie until waited for).
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// A `kB` line of `/proc/PID/status`, e.g. `VmRSS:`.
pub(crate) fn status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Samples `VmRSS` every 100 ms on a thread of its own; `stop` gives the highest.
pub(crate) struct RssSampler {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    pub(crate) fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !stopping.load(Ordering::Relaxed) {
                peak = peak.max(status_kib(pid, "VmRSS:").unwrap_or(0));
                std::thread::sleep(RSS_EVERY);
            }
            peak
        });
        RssSampler { stop, thread }
    }

    pub(crate) fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the memory sampler")
    }
}
