//! HTTP requests over `wasi:http`, reporting the host's refusals as they are.
//!
//! The host checks every request against its sandbox (declared hosts, public addresses,
//! timeouts, body caps). When it refuses one, [`send`] returns an [`HttpError`] whose
//! [`HttpError::is_denied`] is true, so the delivery log says "refused by the host" and not
//! "connection reset". Requests are sent whole and answers read whole: channel payloads are
//! small.

use crate::SendError;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
}

/// A request to send with [`send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL, `http://` or `https://`.
    pub url: String,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

impl Request {
    /// A `POST` to `url` with no headers and an empty body.
    pub fn post(url: &str) -> Self {
        Request {
            method: Method::Post,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: &str) -> Self {
        Request {
            method: Method::Get,
            ..Request::post(url)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }
}

/// An answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The headers, names in lowercase.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Retry-After` in seconds, when the answer carries it in seconds.
    pub fn retry_after_secs(&self) -> Option<u32> {
        self.header("retry-after")?.trim().parse().ok()
    }

    /// Classifies the status the way most webhooks mean it: 2xx is success; 429 and 503 are
    /// throttling (with `Retry-After`); other 5xx and 408 are passing failures; everything
    /// else (3xx, since redirects are not followed, and 4xx) is permanent. The error's
    /// message quotes the start of the body.
    pub fn error_for_status(&self) -> Result<&Self, SendError> {
        let what = || {
            format!(
                "the target answered HTTP {}: {}",
                self.status,
                crate::text::truncate(self.text().trim(), 200)
            )
        };
        match self.status {
            200..=299 => Ok(self),
            429 | 503 => Err(SendError::rate_limited(what(), self.retry_after_secs())),
            408 | 500..=599 => Err(SendError::retryable(what())),
            _ => Err(SendError::permanent(what())),
        }
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    kind: HttpErrorKind,
    message: String,
}

/// The kind of an [`HttpError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// The URL or a header is malformed.
    InvalidRequest,
    /// The host's sandbox refused the request: undeclared host, forbidden address, or
    /// plain `http` to an address the operator did not allow-list.
    Denied,
    /// Connecting or waiting for the answer took too long.
    Timeout,
    /// The answer's body exceeds the host's cap.
    ResponseTooLarge,
    /// Any other failure on the way (DNS, connection, TLS, protocol).
    Transport,
}

impl HttpError {
    fn new(kind: HttpErrorKind, message: impl Into<String>) -> Self {
        HttpError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> HttpErrorKind {
        self.kind
    }

    /// True when the host's sandbox refused the request.
    pub fn is_denied(&self) -> bool {
        self.kind == HttpErrorKind::Denied
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for SendError {
    /// A malformed request, a refusal or an oversized answer cannot be mended by retrying;
    /// the other failures may pass.
    fn from(e: HttpError) -> Self {
        match e.kind {
            HttpErrorKind::InvalidRequest
            | HttpErrorKind::Denied
            | HttpErrorKind::ResponseTooLarge => SendError::Permanent(e.message),
            HttpErrorKind::Timeout | HttpErrorKind::Transport => SendError::Retryable(e.message),
        }
    }
}

/// The parts of an absolute URL that `wasi:http` asks for.
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    https: bool,
    authority: &'a str,
    path_with_query: &'a str,
}

fn parse_url(url: &str) -> Result<Target<'_>, HttpError> {
    let invalid = |why: &str| {
        HttpError::new(
            HttpErrorKind::InvalidRequest,
            format!("invalid URL '{url}': {why}"),
        )
    };
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(invalid("it must start with https:// or http://"));
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_with_query) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return Err(invalid("it has no valid host"));
    }
    let path_with_query = if path_with_query.is_empty() {
        "/"
    } else {
        path_with_query
    };
    Ok(Target {
        https,
        authority,
        path_with_query,
    })
}

/// Sends `request` and reads the whole answer.
///
/// Outside the host (plain `cargo test`), it fails with [`HttpErrorKind::Transport`]: test
/// the formatting of requests, not their sending.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    let target = parse_url(&request.url)?;
    wasi::send(request, &target)
}

#[cfg(not(target_arch = "wasm32"))]
mod wasi {
    use super::{HttpError, HttpErrorKind, Request, Response, Target};

    pub(super) fn send(request: &Request, _: &Target<'_>) -> Result<Response, HttpError> {
        Err(HttpError::new(
            HttpErrorKind::Transport,
            format!(
                "cannot send to {}: HTTP is only available inside the msghub host",
                request.url
            ),
        ))
    }
}

#[cfg(target_arch = "wasm32")]
mod wasi {
    use super::{HttpError, HttpErrorKind, Method, Request, Response, Target};
    use crate::__private::bindings::wasi::http::outgoing_handler;
    use crate::__private::bindings::wasi::http::types::{
        self, ErrorCode, Fields, IncomingBody, OutgoingBody, OutgoingRequest, Scheme,
    };
    use crate::__private::bindings::wasi::io::streams::StreamError;

    /// The most `blocking-write-and-flush` accepts in one call.
    const WRITE_CHUNK: usize = 4096;
    /// How much one read asks for.
    const READ_CHUNK: u64 = 64 * 1024;

    pub(super) fn send(request: &Request, target: &Target<'_>) -> Result<Response, HttpError> {
        let outgoing = build(request, target)?;
        let body = outgoing
            .body()
            .map_err(|()| internal("the request body was already taken"))?;
        // Hand the request over before writing its body: when the host refuses it, writing
        // fails with a closed stream, and the real reason only arrives on the response
        // future below. So a failed write is ignored and the response tells what happened.
        let future = outgoing_handler::handle(outgoing, None).map_err(from_code)?;
        if write_body(&body, &request.body) {
            // Finishing fails only when the request already failed; the future says why.
            let _ = OutgoingBody::finish(body, None);
        } else {
            drop(body);
        }
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(from_code(code)),
            Some(Err(())) | None => return Err(internal("the response was lost")),
        };
        let status = response.status();
        let headers = response.headers().entries();
        let incoming = response
            .consume()
            .map_err(|()| internal("the response body was already taken"))?;
        let body = read_body(&incoming)?;
        drop(IncomingBody::finish(incoming));
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn build(request: &Request, target: &Target<'_>) -> Result<OutgoingRequest, HttpError> {
        let invalid = |what: String| HttpError::new(HttpErrorKind::InvalidRequest, what);
        let mut entries: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec()))
            .collect();
        // Say the length: many webhook endpoints refuse chunked requests (411), and a known
        // length lets the request leave in one write.
        let has_length = entries.iter().any(|(n, _)| n == "content-length");
        if !has_length && (request.method != Method::Get || !request.body.is_empty()) {
            let length = request.body.len().to_string().into_bytes();
            entries.push(("content-length".to_owned(), length));
        }
        let fields = Fields::from_list(&entries)
            .map_err(|e| invalid(format!("invalid or forbidden request header: {e:?}")))?;
        let outgoing = OutgoingRequest::new(fields);
        let method = match request.method {
            Method::Get => types::Method::Get,
            Method::Post => types::Method::Post,
            Method::Put => types::Method::Put,
        };
        let scheme = if target.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_method(&method)
            .and_then(|()| outgoing.set_scheme(Some(&scheme)))
            .map_err(|()| invalid("invalid method or scheme".to_owned()))?;
        outgoing
            .set_authority(Some(target.authority))
            .map_err(|()| invalid(format!("invalid host '{}'", target.authority)))?;
        outgoing
            .set_path_with_query(Some(target.path_with_query))
            .map_err(|()| invalid(format!("invalid path '{}'", target.path_with_query)))?;
        Ok(outgoing)
    }

    /// Writes the whole body; false when the stream closed (the request failed).
    fn write_body(body: &OutgoingBody, bytes: &[u8]) -> bool {
        let Ok(stream) = body.write() else {
            return false;
        };
        bytes
            .chunks(WRITE_CHUNK)
            .all(|chunk| stream.blocking_write_and_flush(chunk).is_ok())
    }

    fn read_body(incoming: &IncomingBody) -> Result<Vec<u8>, HttpError> {
        let stream = incoming
            .stream()
            .map_err(|()| internal("the response stream was already taken"))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => return Ok(body),
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match types::http_error_code(&e) {
                        Some(code) => from_code(code),
                        // The debug string may carry a backtrace: its first line says it.
                        None => HttpError::new(
                            HttpErrorKind::Transport,
                            format!(
                                "reading the response failed: {}",
                                e.to_debug_string().lines().next().unwrap_or_default()
                            ),
                        ),
                    });
                }
            }
        }
    }

    fn internal(what: &str) -> HttpError {
        HttpError::new(HttpErrorKind::Transport, what)
    }

    fn from_code(code: ErrorCode) -> HttpError {
        use HttpErrorKind::*;
        let (kind, message) = match &code {
            ErrorCode::HttpRequestDenied => (
                Denied,
                "the host refused the request: the target is not a declared host, or its \
                 address is not allowed (loopback, private or metadata ranges need the \
                 operator's allow-list)"
                    .to_owned(),
            ),
            ErrorCode::DestinationIpProhibited => {
                (Denied, "the host refused the target's address".to_owned())
            }
            ErrorCode::ConnectionTimeout => {
                (Timeout, "connecting to the target timed out".to_owned())
            }
            ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
                (Timeout, "the target did not answer in time".to_owned())
            }
            ErrorCode::HttpResponseBodySize(limit) => (
                ResponseTooLarge,
                match limit {
                    Some(n) => format!("the answer's body exceeds the host's cap of {n} bytes"),
                    None => "the answer's body exceeds the host's cap".to_owned(),
                },
            ),
            ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => (
                InvalidRequest,
                format!("the request is malformed ({code:?})"),
            ),
            ErrorCode::ConnectionRefused => {
                (Transport, "the target refused the connection".to_owned())
            }
            ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound => (
                Transport,
                "the target's host name does not resolve".to_owned(),
            ),
            ErrorCode::InternalError(Some(why)) => (Transport, format!("the host failed: {why}")),
            other => (Transport, format!("the request failed: {other:?}")),
        };
        HttpError::new(kind, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        assert_eq!(
            parse_url("https://discord.com/api/webhooks/1/abc?wait=true#x").unwrap(),
            Target {
                https: true,
                authority: "discord.com",
                path_with_query: "/api/webhooks/1/abc?wait=true"
            }
        );
        assert_eq!(
            parse_url("http://127.0.0.1:8080").unwrap(),
            Target {
                https: false,
                authority: "127.0.0.1:8080",
                path_with_query: "/"
            }
        );
    }

    #[test]
    fn urls_without_http_scheme_or_host_are_invalid_requests() {
        for url in [
            "ftp://x/y",
            "https:///path",
            "https://user@host/",
            "discord.com",
        ] {
            let e = parse_url(url).unwrap_err();
            assert_eq!(e.kind(), HttpErrorKind::InvalidRequest, "{url}");
            assert!(e.to_string().contains(url), "{e}");
        }
    }

    #[test]
    fn status_classification_follows_webhook_conventions() {
        let answer = |status, retry_after: Option<&str>| Response {
            status,
            headers: retry_after
                .map(|v| vec![("retry-after".to_owned(), v.as_bytes().to_vec())])
                .unwrap_or_default(),
            body: b"nope".to_vec(),
        };
        assert!(answer(204, None).error_for_status().is_ok());
        assert_eq!(
            answer(429, Some("30")).error_for_status().unwrap_err(),
            SendError::rate_limited("the target answered HTTP 429: nope", Some(30))
        );
        assert!(matches!(
            answer(502, None).error_for_status(),
            Err(SendError::Retryable(_))
        ));
        assert!(matches!(
            answer(301, None).error_for_status(),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            answer(404, None).error_for_status(),
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn sending_outside_the_host_fails_clearly() {
        let e = send(&Request::post("https://example.com/")).unwrap_err();
        assert!(
            e.to_string()
                .contains("only available inside the msghub host")
        );
    }
}
