//! The HTTP API of `API.md`: one module per resource, each a thin adapter that parses the
//! request, calls one engine method and maps its answer. The OpenAPI document is generated
//! from the same handlers, so it cannot drift from the routes.
//!
//! - [`accounts`]: accounts and users.
//! - [`messages`]: publish, list, get, counts, mark read, delete, deliveries.
//! - [`channels`]: channels and email contacts, test sends, requeues.
//! - [`subscriptions`]: per-category subscriptions and the routing explanation.
//! - [`history`]: an account's change history, and the operator's.
//! - [`mandatory`]: the operator's mandatory rules.
//! - [`plugins`]: the loaded channel plugins.
//! - [`unsubscribe`]: one-click unsubscribe from a mail's link, without a login.
//! - [`ops`]: health, metrics, the console.
//! - [`body_deadline`]: the time a client has to send a request body.
//! - [`browser_policy`]: the security headers of every answer.
//!
//! Every request passes [`track`]: a request id (`x-request-id`, taken or made, echoed), a
//! tracing span, the request metrics by route template, and the rewrite of any error answer
//! that is not already in the contract's shape (axum's plain-text 405s, for instance).

pub mod accounts;
pub mod body_deadline;
pub mod browser_policy;
pub mod channels;
pub mod contract;
pub mod events;
pub mod history;
pub mod mandatory;
pub mod messages;
pub mod ops;
pub mod plugins;
pub mod subscriptions;
pub mod unsubscribe;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tracing::Instrument;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::state::AppState;

/// The header that carries a request's id.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "msghub",
        description = "A notification hub: an inbox per account, with delivery to chat and email channels through WebAssembly plugins. Authenticate with `Authorization: Bearer <token>`. Every error answer is `{\"error\": {\"code\", \"message\", \"field\"}}`.",
    ),
    paths(openapi_json),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "accounts", description = "Accounts (operator)"),
        (name = "users", description = "Users of an account and their policies"),
        (name = "messages", description = "An account's inbox"),
        (name = "plugins", description = "Channel plugins"),
        (name = "channels", description = "Bot channels: a plugin and its configuration"),
        (name = "contacts", description = "Email contacts"),
        (name = "subscriptions", description = "Which messages go to which channels and contacts"),
        (name = "mandatory rules", description = "Notices that reach their targets whatever the subscriptions' filters (operator)"),
        (name = "history", description = "Who changed what, when, before and after"),
        (name = "unsubscribe", description = "One-click unsubscribe (RFC 8058) from a mail's link: no login, the signed token in the path is the authority"),
        (name = "operations", description = "Health, metrics and this document"),
        (name = "console", description = "The web console"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of every route the server serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    document_of(routes().split_for_parts().1)
}

/// Writes axum's catch-all segment (`{*path}`) as the plain OpenAPI parameter (`{path}`).
fn document_of(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let catch_all: Vec<String> = document
        .paths
        .paths
        .keys()
        .filter(|p| p.contains("{*"))
        .cloned()
        .collect();
    for path in catch_all {
        if let Some(item) = document.paths.paths.remove(&path) {
            document.paths.paths.insert(path.replace("{*", "{"), item);
        }
    }
    document
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts::router())
        .merge(messages::router())
        .merge(events::router())
        .merge(channels::router())
        .merge(subscriptions::router())
        .merge(mandatory::router())
        .merge(history::router())
        .merge(plugins::router())
        .merge(unsubscribe::router())
        .merge(ops::router())
}

/// The OpenAPI 3 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
async fn openapi_json(State(document): State<Arc<str>>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        document.to_string(),
    )
        .into_response()
}

/// The whole application: every route, the request tracking and the error fallbacks.
pub fn router(state: AppState) -> Router {
    let (router, document) = routes().split_for_parts();
    let document: Arc<str> = document_of(document)
        .to_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        .into();
    // `/openapi.json` reads the finished document; every other route reads the app state.
    let router = router
        .route(
            "/openapi.json",
            axum::routing::get(openapi_json).with_state(document),
        )
        .fallback(unknown_route)
        .route_layer(middleware::from_fn(remember_route))
        .with_state(state.clone());
    router
        .layer(middleware::from_fn_with_state(
            state.clone(),
            body_deadline::bound_body_time,
        ))
        .layer(middleware::from_fn_with_state(state, track))
        .layer(middleware::from_fn(browser_policy::add_browser_policy))
}

async fn unknown_route(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}; see /openapi.json for the API",
        request.method(),
        request.uri().path()
    ))
}

/// Copies the matched route template into the response, where [`track`] reads it (the
/// outer layer runs before routing, so it cannot see it on the request).
async fn remember_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(rand::random::<u32>);
    format!(
        "{prefix:08x}-{:08x}",
        NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)
    )
}

/// Request id, span, metrics and the error-shape guarantee, around every request.
async fn track(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    let span = tracing::info_span!("request", id = %id, method = %method, path = %path);
    let mut response = next.run(request).instrument(span.clone()).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        response = in_error_shape(response, method.as_str(), &path).await;
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |r| r.as_str());
    let elapsed = started.elapsed();
    app.metrics()
        .record_request(route, &method, response.status().as_u16(), elapsed);
    span.in_scope(|| {
        let status = response.status().as_u16();
        if status >= 500 {
            tracing::error!(status, elapsed_us = elapsed.as_micros() as u64, "answered");
        } else {
            tracing::debug!(status, elapsed_us = elapsed.as_micros() as u64, "answered");
        }
    });
    response
}

/// Rewrites an error answer that is not JSON (one made by axum itself: a 405, a path that
/// does not decode) into the contract's shape, keeping its status and headers.
async fn in_error_shape(response: Response, method: &str, path: &str) -> Response {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let status = parts.status;
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::method_not_allowed(method, path),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError {
            status,
            code: "payload_too_large",
            message: "the request body is larger than the server accepts; send less per request"
                .to_owned(),
            field: None,
            retry_after: None,
        },
        _ => {
            let message = if text.trim().is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("request failed")
                    .to_owned()
            } else {
                text.trim().to_owned()
            };
            ApiError {
                status,
                code: code_of(status),
                message,
                field: None,
                retry_after: None,
            }
        }
    };
    let fresh = error.into_response();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let (_, body) = fresh.into_parts();
    Response::from_parts(parts, Body::new(body))
}

fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_argument",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        413 => "payload_too_large",
        429 => "rate_limited",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "invalid_argument",
    }
}
