//! The HTTP client of the remote commands: JSON in, JSON out, and the contract's error
//! shape turned into a message for a person.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Talks to one server as one principal.
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The raw body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`null` for an empty body).
    pub fn json(&self) -> Result<Value, String> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("the server answered something that is not JSON: {e}"))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl ApiClient {
    /// A client for the server at `url` (http only), sending `token` if given.
    pub fn new(url: &str, token: Option<String>) -> Result<ApiClient, String> {
        let base = url.trim_end_matches('/').to_owned();
        if base.starts_with("https://") {
            return Err(format!(
                "{base}: the command line speaks plain http; reach a TLS server through a local \
                 tunnel or proxy, or use curl"
            ));
        }
        if !base.starts_with("http://") {
            return Err(format!(
                "'{base}' is not an http:// URL; set MSGHUB_URL or --url, e.g. http://127.0.0.1:8080"
            ));
        }
        Ok(ApiClient {
            base,
            token: token.filter(|t| !t.is_empty()),
            http: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Sends a request; an error answer becomes `Err` with its message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let uri = format!("{}{path}", self.base);
        let mut request = Request::builder().method(method).uri(&uri);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let payload = match body {
            Some(value) => {
                request = request.header("content-type", "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|e| format!("cannot build a request for {uri}: {e}"))?;
        let response = self.http.request(request).await.map_err(|e| {
            format!(
                "cannot reach the server at {}: {e}; is `msghub serve` running there? (set MSGHUB_URL or --url)",
                self.base
            )
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("the answer from {uri} was cut off: {e}"))?
            .to_bytes();
        if status.is_success() {
            return Ok(Answer { status, body });
        }
        Err(describe_error(status, &body, self.token.is_none()))
    }
}

fn describe_error(status: StatusCode, body: &[u8], no_token: bool) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let mut text = format!("{message} (HTTP {})", status.as_u16());
    if let Some(field) = error.and_then(|e| e.get("field")).and_then(Value::as_str) {
        text.push_str(&format!(" [field: {field}]"));
    }
    if status == StatusCode::UNAUTHORIZED && no_token {
        text.push_str("; set MSGHUB_TOKEN or --token");
    }
    text
}
