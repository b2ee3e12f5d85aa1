//! Outgoing HTTP for plugins: the request policy, and the one shared, pooled client.
//!
//! Two checks guard every request. Per plugin, before anything leaves the host
//! ([`RequestGuard`], inside `WasiHttpHooks::send_request` on the final URI): the scheme is
//! http or https, and the host is one the plugin declared, unless the plugin's target is
//! user-supplied or the URL names an allow-listed address. Per connection, after DNS
//! resolution ([`AddressPolicy`], inside the shared connector, so a name cannot be re-bound
//! to another address between check and connect): an address is reached only if the
//! operator allow-listed it, or over https if it is public: loopback, private, link-local,
//! CGNAT, metadata and the other special ranges (also in their IPv4-mapped IPv6 forms) are
//! refused. The address rule holds for every plugin, not only user-supplied targets: the
//! connection pool is shared, and a declared host that resolves inside the network is no
//! less dangerous.
//!
//! Redirects are never followed (the client does not), and answers are read whole under a
//! response timeout (to the first byte, then between parts) and a body cap. The client keeps
//! connections alive and shares them across calls and plugins; TLS is rustls with the webpki
//! root store.
//!
//! A refused or failed request reaches the plugin as the error code of its response, never
//! as a closed body stream: guest runtimes write a request's body after `handle` (the
//! `fetch` of componentize-js does) and take a write that fails for a crash of the whole
//! call. So the body of a request that goes nowhere is drained ([`Drained`]): the plugin's
//! writes succeed, the bytes are discarded as they come, and the refusal arrives where every
//! toolchain looks for it.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Uri;
use http::uri::Scheme;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::address::{AddressPolicy, special_range};
use super::bindings::{REASON_LIMIT, cut};
use super::config::PluginConfig;
use super::sandbox::escape_log;

/// Where a request's refusal reasons are collected for the call's error.
pub(crate) type Refusals = Arc<Mutex<Vec<String>>>;

/// How many refusal reasons one call keeps for its error; the first ones say enough.
const REFUSALS_KEPT: usize = 8;

/// Records a refusal reason (and logs it, once per kept reason).
fn refuse(refusals: &Refusals, plugin: &str, reason: String) {
    let Ok(mut list) = refusals.lock() else {
        return;
    };
    if list.len() < REFUSALS_KEPT {
        let reason = cut(&reason, REASON_LIMIT);
        tracing::warn!(plugin, reason = %escape_log(&reason), "plugin request refused by the sandbox");
        list.push(reason);
    }
}

/// A plugin's request rule, checked on the final URI before anything leaves the host.
#[derive(Debug, Clone)]
pub(crate) struct RequestGuard {
    plugin: Arc<str>,
    hosts: Arc<[String]>,
    user_supplied_host: bool,
    addresses: AddressPolicy,
}

impl RequestGuard {
    pub(crate) fn new(
        plugin: Arc<str>,
        hosts: &[String],
        user_supplied_host: bool,
        addresses: AddressPolicy,
    ) -> Self {
        RequestGuard {
            plugin,
            hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            user_supplied_host,
            addresses,
        }
    }

    fn declares(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts
            .iter()
            .any(|declared| match declared.strip_prefix("*.") {
                Some(parent) => host
                    .strip_suffix(parent)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => *declared == host,
            })
    }

    /// Whether the plugin may send to `uri`; the reason when not.
    pub(crate) fn check(&self, uri: &Uri) -> Result<(), String> {
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            other => {
                return Err(format!(
                    "scheme {:?} is refused: only http and https",
                    other.map(Scheme::as_str)
                ));
            }
        };
        let Some(host) = uri.host() else {
            return Err(format!("{uri} has no host"));
        };
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        if let Some(ip) = literal
            && self.addresses.allow_listed(ip)
        {
            return Ok(());
        }
        if !self.user_supplied_host && !self.declares(host) {
            let declared = if self.hosts.is_empty() {
                "none".to_owned()
            } else {
                self.hosts.join(", ")
            };
            return Err(format!(
                "host '{host}' is not declared by plugin '{}' (it declares: {declared}){}",
                self.plugin,
                local_hint(host, literal)
            ));
        }
        match literal {
            Some(ip) => self.addresses.check(ip, https),
            None => Ok(()),
        }
    }
}

/// For an undeclared host inside the network (a loopback or private address, `localhost`),
/// how the operator lets plugins reach it anyway: an allow-listed network, reached by its
/// address. Empty for other hosts.
fn local_hint(host: &str, literal: Option<IpAddr>) -> String {
    match literal {
        Some(ip) => match special_range(ip) {
            Some(range) => format!(
                "; {ip} is a {range} address: plugins reach it, whatever they declare, once \
                 the operator allow-lists its network (MSGHUB_ALLOW_NETWORKS)"
            ),
            None => String::new(),
        },
        None if host.eq_ignore_ascii_case("localhost")
            || host.to_ascii_lowercase().ends_with(".localhost") =>
        {
            "; to reach this machine, the operator allow-lists its network \
             (MSGHUB_ALLOW_NETWORKS=127.0.0.0/8) and the plugin uses the address, e.g. \
             http://127.0.0.1:PORT/"
                .to_owned()
        }
        None => String::new(),
    }
}

/// Why the shared connector did not connect.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("{0}")]
    Refused(String),
    #[error("cannot resolve '{host}': {reason}")]
    Dns { host: String, reason: String },
    #[error("connecting to {0} timed out")]
    Timeout(String),
    #[error("cannot connect to {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
}

/// The shared TCP connector: resolves, applies the [`AddressPolicy`] to every address, and
/// connects only to the addresses it allows.
#[derive(Debug, Clone)]
struct GuardedConnector {
    policy: AddressPolicy,
    connect_timeout: Duration,
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let https = uri.scheme() == Some(&Scheme::HTTPS);
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let deadline = tokio::time::Instant::now() + this.connect_timeout;
            let candidates = this.resolve(&host, port, deadline).await?;
            let mut refused = None;
            let mut last_error = None;
            for addr in candidates {
                let checked = if host.parse::<IpAddr>().is_ok() {
                    this.policy.check(addr.ip(), https)
                } else {
                    this.policy.check_resolved(&host, addr.ip(), https)
                };
                if let Err(reason) = checked {
                    refused.get_or_insert(reason);
                    continue;
                }
                match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => {
                        // Small request/response exchanges: do not wait to fill segments.
                        let _ = stream.set_nodelay(true);
                        return Ok(TokioIo::new(stream));
                    }
                    Ok(Err(source)) => {
                        last_error = Some(ConnectError::Io {
                            addr: addr.to_string(),
                            source,
                        })
                    }
                    Err(_) => return Err(ConnectError::Timeout(format!("{host}:{port}"))),
                }
            }
            Err(last_error
                .or(refused.map(ConnectError::Refused))
                .unwrap_or_else(|| ConnectError::Dns {
                    host: host.clone(),
                    reason: "no addresses".to_owned(),
                }))
        })
    }
}

impl GuardedConnector {
    async fn resolve(
        &self,
        host: &str,
        port: u16,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<SocketAddr>, ConnectError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(addrs)) => Ok(addrs.collect()),
            Ok(Err(e)) => Err(ConnectError::Dns {
                host: host.to_owned(),
                reason: e.to_string(),
            }),
            Err(_) => Err(ConnectError::Timeout(format!("{host}:{port} (DNS)"))),
        }
    }
}

/// The one HTTP client all plugins share.
pub(crate) struct Outbound {
    client: Client<HttpsConnector<GuardedConnector>, WasiBody>,
    pub(crate) addresses: AddressPolicy,
    divert_to: Option<SocketAddr>,
    response_timeout: Duration,
    body_limit: usize,
}

impl Outbound {
    pub(crate) fn new(config: &PluginConfig) -> Result<Self, String> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let addresses = AddressPolicy::new(&config.allow_networks);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(GuardedConnector {
                policy: addresses.clone(),
                connect_timeout: config.connect_timeout,
            });
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(config.idle_connections_per_host)
            .build(connector);
        Ok(Outbound {
            client,
            addresses,
            divert_to: config.divert_to,
            response_timeout: config.response_timeout,
            body_limit: config.response_body_limit,
        })
    }

    /// Sends a request that the guard allowed, under the response timeout and body cap.
    async fn send(
        self: Arc<Self>,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        plugin: Arc<str>,
        refusals: Refusals,
        quota: Arc<CallQuota>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        // Held until the answer is read whole: the call's requests under way at once.
        let _in_flight = quota
            .in_flight
            .acquire()
            .await
            .map_err(|_| HttpError::InternalError(Some("the call is over".to_owned())))?;
        // A plugin may shorten the host's timeouts, never lengthen them.
        let shorter = |theirs: Option<Duration>| {
            theirs.map_or(self.response_timeout, |t| t.min(self.response_timeout))
        };
        if let Some(to) = self.divert_to {
            divert(&mut request, to)?;
        }
        let first_byte = shorter(options.and_then(|o| o.first_byte_timeout));
        let between_bytes = shorter(options.and_then(|o| o.between_bytes_timeout));
        let response = match tokio::time::timeout(first_byte, self.client.request(request)).await {
            Err(_) => return Err(HttpError::ConnectionReadTimeout),
            Ok(Err(e)) => return Err(classify(&e, &plugin, &refusals)),
            Ok(Ok(response)) => response,
        };
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.body_limit as u64) {
            return Err(HttpError::HttpResponseBodySize(Some(
                self.body_limit as u64,
            )));
        }
        // The answer is read whole here, under the cap and the idle timeout, so that a
        // failure reaches the plugin as the response's error code: wasmtime-wasi-http 48
        // hands errors raised while a plugin streams a body to it without their code.
        let (parts, body) = response.into_parts();
        let bytes = match read_capped(body, self.body_limit, &quota, between_bytes).await {
            Ok(bytes) => bytes,
            Err(Unread::Http(e)) => return Err(e),
            Err(Unread::CallBudget) => {
                let reason = format!(
                    "the answers of one call may hold at most {} bytes together; this one \
                     would pass it",
                    quota.response_bytes
                );
                refuse(&refusals, &plugin, reason);
                return Err(HttpError::HttpResponseBodySize(Some(
                    quota.response_bytes as u64,
                )));
            }
        };
        let body = Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync();
        Ok(http::Response::from_parts(parts, body))
    }
}

/// Sends `request` to `to` over plain http instead of its own host, its URL in a header
/// ([`PluginConfig::divert_to`]).
fn divert(request: &mut http::Request<WasiBody>, to: SocketAddr) -> Result<(), HttpError> {
    let original = request.uri().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let diverted = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(to.to_string())
        .path_and_query(path)
        .build()
        .map_err(|e| HttpError::InternalError(Some(format!("cannot divert the request: {e}"))))?;
    let value = http::HeaderValue::from_str(&original)
        .map_err(|e| HttpError::InternalError(Some(format!("cannot divert the request: {e}"))))?;
    request
        .headers_mut()
        .insert(super::config::CAPTURE_URL_HEADER, value);
    *request.uri_mut() = diverted;
    Ok(())
}

/// The guest-visible error for a failed exchange; refusals are recorded with their reason.
fn classify(e: &hyper_util::client::legacy::Error, plugin: &str, refusals: &Refusals) -> HttpError {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(connect) = cause.downcast_ref::<ConnectError>() {
            return match connect {
                ConnectError::Refused(reason) => {
                    refuse(refusals, plugin, reason.clone());
                    HttpError::HttpRequestDenied
                }
                ConnectError::Timeout(_) => HttpError::ConnectionTimeout,
                ConnectError::Dns { reason, .. } => HttpError::DnsError {
                    rcode: Some(reason.clone()),
                    info_code: None,
                },
                ConnectError::Io { .. } => HttpError::ConnectionRefused,
            };
        }
        source = cause.source();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    HttpError::InternalError(Some(text))
}

/// Why a response body was not read whole.
enum Unread {
    /// The exchange failed, or this one body passed its cap.
    Http(HttpError),
    /// The call's answers together would pass their cap.
    CallBudget,
}

/// Reads a whole response body, failing once it passes `limit` bytes or the call's
/// remaining response bytes, or stalls for `idle`.
async fn read_capped(
    mut body: Incoming,
    limit: usize,
    quota: &CallQuota,
    idle: Duration,
) -> Result<Bytes, Unread> {
    let mut data = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(Unread::Http(HttpError::ConnectionReadTimeout)),
            Ok(None) => return Ok(data.freeze()),
            Ok(Some(frame)) => frame.map_err(|e| Unread::Http(HttpError::from(e)))?,
        };
        if let Some(chunk) = frame.data_ref() {
            if data.len() + chunk.len() > limit {
                return Err(Unread::Http(HttpError::HttpResponseBodySize(Some(
                    limit as u64,
                ))));
            }
            if !quota.take_response_bytes(chunk.len()) {
                return Err(Unread::CallBudget);
            }
            data.extend_from_slice(chunk);
        }
    }
}

/// What one call may still use of the host's HTTP: requests, requests at once, and bytes
/// of answers held. Shared by the call's requests, which run as separate tasks.
pub(crate) struct CallQuota {
    requests_left: AtomicUsize,
    max_requests: u32,
    in_flight: Semaphore,
    response_bytes: usize,
    response_bytes_left: AtomicUsize,
}

impl CallQuota {
    pub(crate) fn new(config: &PluginConfig) -> Self {
        CallQuota {
            requests_left: AtomicUsize::new(config.max_requests_per_call as usize),
            max_requests: config.max_requests_per_call,
            in_flight: Semaphore::new(config.max_requests_in_flight.max(1) as usize),
            response_bytes: config.response_bytes_per_call,
            response_bytes_left: AtomicUsize::new(config.response_bytes_per_call),
        }
    }

    /// Counts one more request; false once the call made as many as it may.
    fn take_request(&self) -> bool {
        self.requests_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Counts `n` more bytes of answers held; false when they do not fit.
    fn take_response_bytes(&self, n: usize) -> bool {
        self.response_bytes_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }
}

/// The `wasi:http` hooks of one call: the plugin's guard, then the shared client.
pub(crate) struct PluginHttp {
    pub(crate) guard: RequestGuard,
    pub(crate) outbound: Arc<Outbound>,
    pub(crate) refusals: Refusals,
    pub(crate) quota: Arc<CallQuota>,
    /// The caller's log subscriber: wasmtime-wasi-http may start a request from a task of
    /// its own, which would log a refusal nowhere.
    pub(crate) dispatch: tracing::Dispatch,
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for PluginHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        use tracing::instrument::WithSubscriber as _;
        let dispatch = self.dispatch.clone();
        let _logging = tracing::dispatcher::set_default(&dispatch);
        // From here on, a body dropped before its end is drained, however the request ends.
        let request = request.map(|body| Drained::new(body).boxed_unsync());
        let plugin = self.guard.plugin.clone();
        if let Err(reason) = self.guard.check(request.uri()) {
            refuse(&self.refusals, &plugin, reason);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if !self.quota.take_request() {
            let reason = format!(
                "one call may make at most {} requests; this is one more",
                self.quota.max_requests
            );
            refuse(&self.refusals, &plugin, reason);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let outbound = self.outbound.clone();
        let refusals = self.refusals.clone();
        let quota = self.quota.clone();
        Box::new(
            async move {
                let response = outbound
                    .send(request, options, plugin, refusals, quota)
                    .await?;
                // The pooled client drives the connection itself: nothing to report here.
                let io: IoFuture = Box::new(async { Ok(()) });
                Ok((response, io))
            }
            .with_subscriber(dispatch),
        )
    }
}

/// A request body on its way out. When it is dropped before its end (the request was
/// refused, its connection failed, the target answered early), the rest is read and
/// discarded in the background, so the plugin's writes into it keep succeeding and it learns
/// the outcome from the response. The drain holds no data, and ends when the plugin finishes
/// the body or its call ends (the store, and with it the writing end, is dropped).
struct Drained {
    body: Option<WasiBody>,
}

impl Drained {
    fn new(body: WasiBody) -> Self {
        Drained { body: Some(body) }
    }
}

impl Body for Drained {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = Pin::new(body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) {
            self.body = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        let Some(mut body) = self.body.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        // Without a runtime (never the case in a call) the body is dropped as it is.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_and_metadata_addresses_are_special() {
        for (addr, range) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.31.255.255", "private"),
            ("192.168.0.1", "private"),
            ("100.64.0.1", "CGNAT"),
            ("100.100.100.200", "CGNAT"),
            ("169.254.169.254", "metadata"),
            ("169.254.1.1", "link-local"),
            ("0.0.0.0", "this network"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd00:ec2::254", "unique local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a00:1", "private"),
            ("2002:7f00:1::", "loopback"),
        ] {
            let found = special_range(ip(addr));
            assert!(
                found.is_some_and(|f| f.contains(range)),
                "{addr}: {found:?}, expected {range}"
            );
        }
    }

    #[test]
    fn public_addresses_are_not_special() {
        for addr in [
            "1.1.1.1",
            "203.0.114.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(special_range(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn allow_list_opens_its_networks_over_http_and_nothing_else() {
        let policy = AddressPolicy::new(&["127.0.0.0/8".parse().unwrap()]);
        assert!(policy.check(ip("127.0.0.1"), false).is_ok());
        assert!(policy.check(ip("::ffff:127.0.0.2"), false).is_ok());
        assert!(
            policy
                .check(ip("10.0.0.1"), true)
                .unwrap_err()
                .contains("private")
        );
        assert!(
            policy
                .check(ip("8.8.8.8"), false)
                .unwrap_err()
                .contains("https")
        );
        assert!(policy.check(ip("8.8.8.8"), true).is_ok());
    }

    #[test]
    fn a_refused_resolved_address_is_named_by_its_host_only() {
        let policy = AddressPolicy::new(&[]);
        let reason = policy
            .check_resolved("metadata.internal", ip("10.20.30.40"), true)
            .unwrap_err();
        assert!(reason.contains("'metadata.internal'"), "{reason}");
        assert!(reason.contains("private"), "{reason}");
        assert!(!reason.contains("10.20.30.40"), "{reason}");
        let reason = policy
            .check_resolved("example.com", ip("93.184.215.14"), false)
            .unwrap_err();
        assert!(!reason.contains("93.184"), "{reason}");
        assert!(
            policy
                .check_resolved("example.com", ip("93.184.215.14"), true)
                .is_ok()
        );
    }

    #[test]
    fn declared_hosts_match_exactly_or_by_subdomain_wildcard() {
        let guard = RequestGuard::new(
            "slack".into(),
            &["hooks.slack.com".to_owned(), "*.feishu.cn".to_owned()],
            false,
            AddressPolicy::new(&[]),
        );
        let check = |uri: &str| guard.check(&uri.parse().unwrap());
        assert!(check("https://hooks.slack.com/services/x").is_ok());
        assert!(check("https://HOOKS.slack.com./x").is_ok());
        assert!(check("https://open.feishu.cn/x").is_ok());
        assert!(check("https://feishu.cn/x").is_err());
        assert!(check("https://evilfeishu.cn/x").is_err());
        let e = check("https://evil.example/x").unwrap_err();
        assert_eq!(
            e,
            "host 'evil.example' is not declared by plugin 'slack' (it declares: \
             hooks.slack.com, *.feishu.cn)"
        );
        assert!(
            check("ftp://hooks.slack.com/x")
                .unwrap_err()
                .contains("scheme")
        );
    }

    #[test]
    fn an_undeclared_local_host_is_refused_with_the_way_to_allow_it() {
        let guard = RequestGuard::new(
            "ntfy".into(),
            &["ntfy.sh".to_owned()],
            false,
            AddressPolicy::new(&[]),
        );
        let check = |uri: &str| guard.check(&uri.parse().unwrap()).unwrap_err();
        for uri in [
            "http://127.0.0.1:8080/x",
            "http://[::1]:8080/x",
            "http://10.0.0.5/x",
            "http://localhost:8080/x",
        ] {
            let reason = check(uri);
            assert!(reason.contains("not declared"), "{reason}");
            assert!(reason.contains("MSGHUB_ALLOW_NETWORKS"), "{uri}: {reason}");
        }
        let reason = check("https://evil.example/x");
        assert!(!reason.contains("MSGHUB_ALLOW_NETWORKS"), "{reason}");
    }

    #[test]
    fn user_supplied_targets_reach_any_public_host_but_no_internal_literal() {
        let guard = RequestGuard::new("webhook".into(), &[], true, AddressPolicy::new(&[]));
        let check = |uri: &str| guard.check(&uri.parse().unwrap());
        assert!(check("https://example.com/hook").is_ok());
        assert!(check("https://93.184.215.14/hook").is_ok());
        assert!(
            check("https://127.0.0.1:8080/")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(
            check("https://[::ffff:169.254.169.254]/")
                .unwrap_err()
                .contains("metadata")
        );
        assert!(
            check("http://example.com/").is_ok(),
            "names are judged after DNS"
        );
    }
}
