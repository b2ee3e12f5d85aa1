//! A refused request is logged with its reason. Alone in its test binary: a log capture
//! shares tracing's process-wide callsite state with every test running beside it, which
//! lost this line when other plugin tests ran at the same time.

use msghub_tests::{Reply, TestServer, hostile_fetch as fetch, log_capture, registry, test_config};

#[tokio::test(flavor = "current_thread")]
async fn a_request_to_an_undeclared_host_is_refused_and_the_log_says_why() {
    let (log, _guard) = log_capture::capture();
    let registry = registry(test_config(), &["hostile"]).await;
    let server = TestServer::start(|_| Reply::ok("declared")).await;

    let seen = fetch(&registry, "http://undeclared.invalid/steal").await;
    assert!(
        seen.starts_with("error=Denied: the host refused the request"),
        "{seen}"
    );
    let reason =
        "host 'undeclared.invalid' is not declared by plugin 'hostile' (it declares: localhost)";
    assert!(
        log.lines().iter().any(|l| l.contains(reason)),
        "{reason:?} not logged: {:#?}",
        log.lines()
    );

    // The declared host is reachable (its address, loopback, is allow-listed here).
    let seen = fetch(&registry, &format!("http://localhost:{}/ok", server.port())).await;
    assert_eq!(seen, "status=200 body=declared");
}
