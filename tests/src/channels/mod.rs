//! Support for the bundled channels' tests (`tests/channel_*.rs`): the plugins msghub
//! ships, loaded as the engine loads them by default; the outcome of a failed send; and
//! the reference tools in Python that CI installs (`standardwebhooks`, `aiosmtpd`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use msghub::plugin::{FailureKind, PluginConfig, PluginRegistry, Receipt, SendError};
use msghub_bundled::BundledPlugins as _;

/// The plugins msghub ships (`msghub_bundled::BUNDLED`); panics unless all load.
pub async fn bundled(config: PluginConfig) -> PluginRegistry {
    let (registry, report) = PluginRegistry::builder(config)
        .bundled()
        .load()
        .await
        .expect("the plugin host starts");
    assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
    registry
}

/// The kind and the full message of a failed send; panics when it succeeded.
pub fn failure(result: Result<Receipt, SendError>) -> (FailureKind, String) {
    match result {
        Err(e) => (e.kind(), e.to_string()),
        Ok(receipt) => panic!("expected a failure, got {receipt:?}"),
    }
}

/// Runs `python3 -c script` with `input` on standard input; its standard output, or what
/// went wrong (with its standard error).
pub fn python(script: &str, input: &[u8]) -> Result<String, String> {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| format!("cannot feed python3: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("python3 did not finish: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "python3 failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A real SMTP server on 127.0.0.1: Python's `aiosmtpd`, which prints each mail it accepts
/// as one JSON line, parsed by Python's `email` package (`smtp_relay.py`). Stopped on drop.
pub struct PythonSmtpRelay {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    port: u16,
}

impl PythonSmtpRelay {
    /// Starts the relay and waits until it listens; panics with a hint when `aiosmtpd` is
    /// missing (`.ci/run` installs it).
    pub fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/channels/smtp_relay.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut relay = PythonSmtpRelay {
            child,
            stdin,
            lines,
            port: 0,
        };
        let ready = relay.next_record().unwrap_or_else(|e| {
            panic!("the aiosmtpd relay did not start ({e}); install it: pip install aiosmtpd")
        });
        relay.port = ready["ready"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("the relay prints its port");
        relay
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next mail the relay accepted (waits up to 10 s).
    pub fn next_mail(&self) -> Result<serde_json::Value, String> {
        self.next_record()
    }

    fn next_record(&self) -> Result<serde_json::Value, String> {
        match self.lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => serde_json::from_str(&line).map_err(|e| format!("{e}: {line}")),
            Err(RecvTimeoutError::Timeout) => Err("nothing within 10 s".to_owned()),
            Err(RecvTimeoutError::Disconnected) => Err("the relay exited".to_owned()),
        }
    }
}

impl Drop for PythonSmtpRelay {
    fn drop(&mut self) {
        // Closing its standard input stops the relay; kill it if it lingers.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
