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

/// One Server-Sent Event as a stream sent it.
#[derive(Debug, Clone)]
pub struct ServerEvent {
    /// Its id (`id:`), empty if it had none.
    pub id: String,
    /// Its name (`event:`), `message` if it had none.
    pub name: String,
    /// Its data (`data:` lines joined by line breaks).
    pub data: String,
}

impl ApiClient {
    /// Opens a Server-Sent Events stream at `path` (sending `Last-Event-ID` when given) and
    /// calls `on_event` for each event until the stream ends (`Ok`), breaks (`Err`), or
    /// `on_event` returns false. An error answer becomes `Err` with its message.
    pub async fn stream(
        &self,
        path: &str,
        last_event_id: Option<&str>,
        mut on_event: impl FnMut(ServerEvent) -> bool,
    ) -> Result<(), StreamError> {
        let uri = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(&uri)
            .header("accept", "text/event-stream");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| StreamError::Refused(format!("cannot build a request for {uri}: {e}")))?;
        let response = self.http.request(request).await.map_err(|e| {
            StreamError::Broken(format!(
                "cannot reach the server at {}: {e}; is `msghub serve` running there? (set MSGHUB_URL or --url)",
                self.base
            ))
        })?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(StreamError::Refused(describe_error(
                status,
                &bytes,
                self.token.is_none(),
            )));
        }
        let mut pending: Vec<u8> = Vec::new();
        let mut event = ServerEvent {
            id: String::new(),
            name: String::new(),
            data: String::new(),
        };
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| StreamError::Broken(format!("the stream broke off: {e}")))?;
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\r', '\n']);
                if line.is_empty() {
                    if !event.data.is_empty() || !event.name.is_empty() {
                        let mut done = std::mem::replace(
                            &mut event,
                            ServerEvent {
                                id: String::new(),
                                name: String::new(),
                                data: String::new(),
                            },
                        );
                        if done.name.is_empty() {
                            done.name = "message".into();
                        }
                        if !on_event(done) {
                            return Ok(());
                        }
                    }
                } else if line.starts_with(':') {
                    // A comment: the keep-alive.
                } else {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => event.id = value.to_owned(),
                        "event" => event.name = value.to_owned(),
                        "data" => {
                            if !event.data.is_empty() {
                                event.data.push('\n');
                            }
                            event.data.push_str(value);
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why [`ApiClient::stream`] stopped.
#[derive(Debug)]
pub enum StreamError {
    /// The server refused the stream (a bad token, no such account): trying again will not
    /// help.
    Refused(String),
    /// The connection failed or broke off: trying again may.
    Broken(String),
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
