//! The `msghub plugin` commands, which work locally on a plugin file: list, validate, send
//! (with capture, digests and the plugin's log), and wit.

use std::process::{Command, Output};

use serde_json::Value;

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn plugin_list_validate_and_send_run_locally() {
    let list = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args(["plugin", "list", "--json"])
        .output()
        .unwrap();
    let plugins: Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(plugins.as_array().unwrap().len(), 6);
    assert!(plugins[0]["config_schema"].is_object());

    let bogus = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bogus.path(), b"not wasm").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .arg("plugin")
        .arg("validate")
        .arg(bogus.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a WebAssembly component"));

    // A real send through the bundled webhook plugin to a receiver on loopback (allowed
    // for the sandbox by MSGHUB_ALLOW_NETWORKS, as the server reads it).
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let got = std::thread::spawn(move || {
        let (mut conn, _) = receiver.accept().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 8192];
        while !String::from_utf8_lossy(&seen).contains("Plugin check") {
            let n = std::io::Read::read(&mut conn, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        std::io::Write::write_all(&mut conn, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&seen).into_owned()
    });
    let config = format!(
        r#"{{"url": "http://127.0.0.1:{port}/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}"#
    );
    let o = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args([
            "plugin",
            "send",
            "webhook",
            "--title",
            "Plugin check",
            "--config",
            &config,
        ])
        .env("MSGHUB_ALLOW_NETWORKS", "127.0.0.0/8")
        .output()
        .unwrap();
    assert!(stdout(&o).starts_with("delivered through webhook"));
    let request = got.join().unwrap();
    assert!(request.starts_with("POST /hook"), "{request}");
    assert!(request.contains("webhook-signature: v1,"), "{request}");

    // The same send to a closed port fails with the plugin's reason and a failing exit.
    let closed =
        r#"{"url": "http://127.0.0.1:1/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#;
    let o = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args(["plugin", "send", "webhook", "--config", closed])
        .env("MSGHUB_ALLOW_NETWORKS", "127.0.0.0/8")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not delivered"), "{err}");
}

/// Every file of the repository's `wit/`, relative to it, sorted.
fn wit_files(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn plugin_wit_writes_the_whole_contract_for_other_toolchains() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("wit");
    for _ in 0..2 {
        // Twice: the second run replaces the first one's files.
        let o = Command::new(env!("CARGO_BIN_EXE_msghub"))
            .args(["plugin", "wit"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            stdout(&o).contains("msghub:notifier/channel@0.1.0"),
            "{}",
            stdout(&o)
        );
    }
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    assert_eq!(
        wit_files(&dir),
        wit_files(&repository),
        "the written package is the repository's wit/, file for file"
    );

    // A file where the directory should be: a clear error, a failing exit.
    let blocked = out.path().join("blocked");
    std::fs::write(&blocked, b"").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_msghub"))
        .args(["plugin", "wit"])
        .arg(&blocked)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let error = String::from_utf8_lossy(&o.stderr);
    assert!(error.contains("cannot create the directory"), "{error}");
}

/// `msghub plugin ARGS` with its own cache directory and no allow-list.
fn plugin_cli(cache: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msghub"))
        .arg("plugin")
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("MSGHUB_ALLOW_NETWORKS")
        .output()
        .unwrap()
}

#[test]
fn plugin_send_capture_prints_the_request_the_plugin_made_and_sends_nothing_out() {
    let cache = tempfile::tempdir().unwrap();
    let config = r#"{"url": "https://hooks.example.com/notify", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#;
    let o = plugin_cli(
        cache.path(),
        &[
            "send",
            "webhook",
            "--config",
            config,
            "--capture",
            "--title",
            "Disk almost full",
            "--severity",
            "critical",
            "--subtype",
            "disk-full",
            "--link",
            "https://console.example.com/disks/7",
            "--locale",
            "zh-CN",
        ],
    );
    let out = stdout(&o);
    assert!(
        out.starts_with("delivered through webhook: HTTP 200"),
        "{out}"
    );
    assert!(out.contains("--- captured request 1 ---"), "{out}");
    assert!(
        out.contains("POST https://hooks.example.com/notify\n"),
        "{out}"
    );
    assert!(out.contains("content-type: application/json\n"), "{out}");
    assert!(out.contains("webhook-signature: v1,"), "{out}");
    for field in [
        "Disk almost full",
        "\"critical\"",
        "\"disk-full\"",
        "https://console.example.com/disks/7",
    ] {
        assert!(out.contains(field), "{field} missing: {out}");
    }
    assert!(!out.contains("x-msghub-capture-url"), "{out}");
    assert!(!out.contains("captured request 2"), "{out}");

    // The declared-hosts rule still holds under --capture.
    let hostile = msghub_tests::wasm("hostile");
    let o = plugin_cli(
        cache.path(),
        &[
            "send",
            hostile.to_str().unwrap(),
            "--config",
            r#"{"attack": "fetch", "url": "https://undeclared.example/x"}"#,
            "--capture",
        ],
    );
    let out = stdout(&o);
    assert!(out.contains("error=Denied"), "{out}");
    assert!(out.contains("captured no request"), "{out}");
}

#[test]
fn plugin_send_digest_goes_in_parts_and_verbose_shows_the_plugin_log() {
    let cache = tempfile::tempdir().unwrap();
    let echo = msghub_tests::wasm("echo");
    let o = plugin_cli(
        cache.path(),
        &[
            "send",
            echo.to_str().unwrap(),
            "--config",
            r#"{"url": "https://hooks.example.com/digest"}"#,
            "--capture",
            "--digest",
            "250",
            "--verbose",
        ],
    );
    let out = stdout(&o);
    assert!(
        out.contains("delivered through echo (part 1 of 2)"),
        "{out}"
    );
    assert!(
        out.contains("delivered through echo (part 2 of 2)"),
        "{out}"
    );
    assert!(out.contains("(250 of 250)"), "{out}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("delivering 200 message(s), attempt 1"),
        "{err}"
    );
    assert!(err.contains("delivering 50 message(s), attempt 1"), "{err}");
}

#[test]
fn plugin_validate_reuses_the_compile_cache_and_says_each_error_once() {
    let cache = tempfile::tempdir().unwrap();
    let echo = msghub_tests::wasm("echo");
    let file = echo.to_str().unwrap();

    let first = plugin_cli(cache.path(), &["validate", file, "--verbose"]);
    let err = String::from_utf8_lossy(&first.stderr).into_owned();
    let out = stdout(&first);
    assert!(err.contains("compiled (now cached in"), "{err}");
    let cached: Vec<_> = std::fs::read_dir(cache.path().join("msghub/plugins"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "one compiled plugin in the cache");
    assert!(out.starts_with("echo 0.1.0"), "{out}");
    assert!(out.contains("limits: 16 MiB of memory"), "{out}");
    assert!(
        !out.contains("config schema"),
        "the schema only on request: {out}"
    );

    let second = plugin_cli(cache.path(), &["validate", file, "--verbose", "--schema"]);
    let err = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(err.contains("from the compile cache"), "{err}");
    assert!(stdout(&second).contains("config schema: {"));

    // An invalid configuration: said once, on stderr, with a failing exit.
    let o = plugin_cli(cache.path(), &["validate", file, "--config", "{}"]);
    assert!(!o.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(said.matches("set `url` or `mail_to`").count(), 1, "{said}");
}
