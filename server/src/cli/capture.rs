//! `msghub plugin send --capture`: a server on a loopback address that answers every
//! request with 200 and `{}`, and keeps what it was sent, for the command to print.
//!
//! It keeps at most [`KEPT_REQUESTS`] requests of at most [`KEPT_BODY`] bytes of body each,
//! whatever the plugin sends.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use msghub::plugin::config::CAPTURE_URL_HEADER;
use tokio::net::TcpListener;

/// The most requests kept; one call makes at most 32.
const KEPT_REQUESTS: usize = 64;
/// The most bytes of one request's body kept; the rest is read and dropped.
const KEPT_BODY: usize = 64 << 10;

/// One request as the plugin made it.
struct Captured {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    cut: usize,
}

/// The capturing server, serving until the process ends.
pub struct Capture {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Captured>>>,
}

impl Capture {
    /// Starts listening on a free port of 127.0.0.1.
    pub async fn start() -> Result<Capture, String> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| format!("cannot listen on a loopback port for --capture: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on a loopback port for --capture: {e}"))?;
        let requests: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let kept = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| keep(kept.clone(), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Capture { addr, requests })
    }

    /// Prints every request kept, in order.
    pub fn print(&self) {
        let Ok(requests) = self.requests.lock() else {
            return;
        };
        if requests.is_empty() {
            println!("captured no request");
        }
        for (n, request) in requests.iter().enumerate() {
            println!("--- captured request {} ---", n + 1);
            println!("{} {}", request.method, request.url);
            for (name, value) in &request.headers {
                println!("{name}: {value}");
            }
            println!();
            println!("{}", String::from_utf8_lossy(&request.body));
            if request.cut > 0 {
                println!("[{} more bytes not shown]", request.cut);
            }
        }
    }
}

/// Keeps one request and answers it.
async fn keep(
    kept: Arc<Mutex<Vec<Captured>>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, mut body) = request.into_parts();
    let mut data = Vec::new();
    let mut cut = 0;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(chunk) = frame.data_ref() {
            let room = KEPT_BODY.saturating_sub(data.len()).min(chunk.len());
            data.extend_from_slice(&chunk[..room]);
            cut += chunk.len() - room;
        }
    }
    let url = parts
        .headers
        .get(CAPTURE_URL_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| parts.uri.to_string(), str::to_owned);
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| name.as_str() != CAPTURE_URL_HEADER)
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    if let Ok(mut list) = kept.lock()
        && list.len() < KEPT_REQUESTS
    {
        list.push(Captured {
            method: parts.method.to_string(),
            url,
            headers,
            body: data,
            cut,
        });
    }
    let mut answer = Response::new(Full::new(Bytes::from_static(b"{}")));
    answer.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(answer)
}
