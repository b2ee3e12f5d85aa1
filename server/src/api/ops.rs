//! What operators and browsers reach without a token: `/healthz`, `/metrics`,
//! `/openapi.json`, and the web console (`/` and `/console/{path}`), whose files are
//! embedded in the binary at compile time.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};
use msghub::plugin::PluginStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The console's files, from `server/console/`.
static CONSOLE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/console");

/// The routes of this module; `/openapi.json` is added by [`crate::api::router`], which
/// holds the finished document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(console_index))
        .routes(routes!(console_file))
}

/// The answer of `/healthz`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The channel plugins by state.
    pub plugins: PluginHealth,
}

/// The channel plugins by state. Plugins load in the background after start: one still
/// loading is not ill health (a request that needs it waits for it).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct PluginHealth {
    /// The plugins ready to deliver, by name.
    pub ready: Vec<String>,
    /// The plugins still loading, by name (a file's name without `.wasm` until the plugin
    /// has named itself).
    pub loading: Vec<String>,
    /// The plugins that could not be loaded, by name. Their reasons (which name files on
    /// the server) are in `GET /v1/plugins`, for callers with a token, and in the log.
    pub failed: Vec<String>,
    /// The ready plugins whose file was replaced by a version that failed to load, by name:
    /// the version loaded before serves. The reason is in `GET /v1/plugins` and the log.
    #[serde(default)]
    pub reload_failed: Vec<String>,
}

impl PluginHealth {
    /// The plugins of `registry` by state.
    pub fn of(registry: &msghub::plugin::PluginRegistry) -> PluginHealth {
        let mut health = PluginHealth::default();
        for state in registry.states() {
            match state.status {
                PluginStatus::Ready { reload_error, .. } => {
                    if reload_error.is_some() {
                        health.reload_failed.push(state.name.clone());
                    }
                    health.ready.push(state.name);
                }
                PluginStatus::Loading => health.loading.push(state.name),
                PluginStatus::Failed { .. } => health.failed.push(state.name),
                _ => {}
            }
        }
        health.ready.sort_unstable();
        health.loading.sort_unstable();
        health.failed.sort_unstable();
        health.reload_failed.sort_unstable();
        health
    }
}

/// 200 while the store can save changes, whether the plugins are loaded or still loading
/// (`plugins` says which); 503 once shutdown has begun, or when the store cannot commit (its
/// writer stopped or its last commit failed).
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Serving (plugins may still be loading)", body = Health),
        (status = 503, description = "Shutting down, or the store cannot save changes", body = ErrorBody),
    ))]
async fn healthz(State(app): State<AppState>) -> Result<Json<Health>, ApiError> {
    if app.is_stopping() {
        return Err(ApiError::unavailable(
            "the server is shutting down; retry against a running instance",
        ));
    }
    if !app.engine().can_commit() {
        return Err(ApiError::unavailable(
            "the store cannot save changes (its writer stopped or its last commit failed); \
             check the disk and the log, then restart msghub",
        ));
    }
    Ok(Json(Health {
        status: "ok".to_owned(),
        plugins: PluginHealth::of(app.plugins()),
    }))
}

/// Prometheus text format; every metric name starts with `msghub_`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String)))]
async fn metrics(State(app): State<AppState>) -> Response {
    app.metrics()
        .pending_purge
        .set(i64::try_from(app.engine().pending_purge()).unwrap_or(i64::MAX));
    let search = app.engine().search_index();
    app.metrics()
        .search_index_pending
        .set(i64::try_from(search.pending).unwrap_or(i64::MAX));
    app.metrics()
        .search_index_bytes
        .set(i64::try_from(search.bytes).unwrap_or(i64::MAX));
    app.metrics()
        .event_streams
        .set(i64::try_from(app.engine().event_streams()).unwrap_or(i64::MAX));
    app.metrics()
        .outbox_depth
        .set(i64::try_from(app.engine().outbox_depth()).unwrap_or(i64::MAX));
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        app.metrics().render(),
    )
        .into_response()
}

/// The web console.
#[utoipa::path(get, path = "/", tag = "console",
    responses((status = 200, description = "The console's page", content_type = "text/html", body = String)))]
async fn console_index(headers: HeaderMap) -> Response {
    serve_file("index.html", &headers)
}

/// A file of the web console (scripts, styles, images).
#[utoipa::path(get, path = "/console/{*path}", tag = "console",
    params(("path" = String, Path, description = "The file's path under the console")),
    responses(
        (status = 200, description = "The file", body = String),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 404, description = "No such file", body = ErrorBody),
    ))]
async fn console_file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve_file(&path, &headers)
}

fn serve_file(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = CONSOLE.get_file(path) else {
        return ApiError::not_found(format!("the console has no file {path}")).into_response();
    };
    let contents = file.contents();
    let etag = format!("\"{:016x}\"", fnv(contents));
    let headers_out = [
        (CONTENT_TYPE, content_type(path)),
        // Files keep their names across versions: revalidate each time, answered by 304.
        (CACHE_CONTROL, "no-cache".to_owned()),
        (ETAG, etag.clone()),
    ];
    let unchanged = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers_out).into_response();
    }
    (headers_out, contents).into_response()
}

/// The content type of a console file, by its extension.
fn content_type(path: &str) -> String {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
    .to_owned()
}

/// FNV-1a over the file: a stable ETag without a hashing dependency.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
