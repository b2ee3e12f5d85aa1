//! Shutdown stops accepting but finishes the requests in flight.

mod common;

use common::{OPERATOR, start};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_request_in_flight_at_shutdown_is_answered_before_the_server_stops() {
    let s = start().await;
    let r = s
        .post("/v1/accounts", OPERATOR, json!({"name": "acme"}))
        .await;
    let acc = r.body["id"].as_str().unwrap().to_owned();
    let body = json!({"category": "service", "title": "sent across shutdown"}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);

    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let request = format!(
        "POST /v1/accounts/{acc}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let addr = s.addr;
    let stopping = tokio::spawn(s.stop());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "the server waits for the request in flight"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections are accepted while stopping"
    );

    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    stopping.await.unwrap();
}
