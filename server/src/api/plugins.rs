//! `GET /v1/plugins`: the channel plugins, ready, loading or failed, for any valid token;
//! `POST /v1/plugins/reload`: the operator's reload of the plugin directory.

use std::path::Path;

use axum::Json;
use axum::extract::State;
use msghub::Principal;
use msghub::plugin::{PluginState, PluginStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Caller;
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plugins))
        .routes(routes!(reload_plugins))
}

/// Whether a plugin can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PluginStatusView {
    /// Loaded: channels of it deliver.
    Ready,
    /// Still loading after start; a request that needs it waits for it.
    Loading,
    /// Could not be loaded; `error` says why.
    Failed,
}

/// A channel plugin. `version`, `description` and `config_schema` are there once it is
/// ready; `error` once it failed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginView {
    /// The name channels refer to, e.g. `dingtalk` (while loading, the name of its file
    /// without `.wasm` until it has named itself).
    pub name: String,
    /// Whether it can be used.
    pub status: PluginStatusView,
    /// The plugin's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// One sentence about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of a channel's `config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub config_schema: Option<serde_json::Value>,
    /// Why it could not be loaded; for a ready plugin, why the new version of its file
    /// could not be loaded (the version loaded before stays in service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What one call may use, once it is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<PluginLimitsView>,
}

/// What one call of a plugin may use: the operator's caps, lowered to what the plugin
/// states it needs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginLimitsView {
    /// The memory cap of one instance, in bytes.
    pub memory_bytes: u64,
    /// The deadline of one call, in milliseconds.
    pub deadline_ms: u64,
    /// The most messages one digest call carries.
    pub batch: u32,
}

impl From<PluginState> for PluginView {
    fn from(state: PluginState) -> Self {
        let mut view = PluginView {
            name: state.name,
            status: PluginStatusView::Loading,
            version: None,
            description: None,
            config_schema: None,
            error: None,
            limits: None,
        };
        match state.status {
            PluginStatus::Ready {
                info,
                limits,
                reload_error,
                ..
            } => {
                view.status = PluginStatusView::Ready;
                view.version = Some(info.version.clone());
                view.description = Some(info.description.clone());
                view.config_schema = Some(info.config_schema.clone());
                view.error = reload_error.map(|e| e.to_string());
                view.limits = Some(PluginLimitsView {
                    memory_bytes: u64::try_from(limits.memory).unwrap_or(u64::MAX),
                    deadline_ms: u64::try_from(limits.deadline.as_millis()).unwrap_or(u64::MAX),
                    batch: u32::try_from(limits.batch).unwrap_or(u32::MAX),
                });
            }
            PluginStatus::Failed { error } => {
                view.status = PluginStatusView::Failed;
                view.error = Some(error.to_string());
            }
            _ => {}
        }
        view
    }
}

/// Every channel plugin, by name: those ready, those still loading after start, and those
/// that failed to load with the reason.
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins",
    responses(
        (status = 200, description = "The plugins", body = Vec<PluginView>),
        (status = 401, description = "No or unknown token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_plugins(
    State(app): State<AppState>,
    Caller(_caller): Caller,
) -> Result<Json<Vec<PluginView>>, ApiError> {
    let mut views: Vec<PluginView> = app
        .plugins()
        .states()
        .into_iter()
        .map(PluginView::from)
        .collect();
    views.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(views))
}

/// What the operator's reload found in the plugin directory, and how the loads ended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReloadView {
    /// Files new in the directory, by file name.
    pub added: Vec<String>,
    /// Files changed since they were loaded, by file name.
    pub replaced: Vec<String>,
    /// Files gone from the directory, by file name: their plugins are unloaded.
    pub removed: Vec<String>,
    /// The plugins the added and replaced files loaded, by name.
    pub loaded: Vec<String>,
    /// Why files could not be loaded. A replaced file that failed leaves the version loaded
    /// before in service.
    pub refused: Vec<String>,
}

/// Looks at the plugin directory now (operator only): files added are loaded, files
/// replaced are loaded again, files removed are unloaded, as the server does by itself
/// within about a second of a change. Answers once the loads are over. Calls in flight
/// finish on the version they started with.
#[utoipa::path(post, path = "/v1/plugins/reload", tag = "plugins",
    responses(
        (status = 200, description = "What changed, and how the loads ended", body = ReloadView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator", body = ErrorBody),
        (status = 404, description = "The server follows no plugin directory", body = ErrorBody),
        (status = 503, description = "The plugin directory cannot be read", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn reload_plugins(
    State(app): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<ReloadView>, ApiError> {
    if !matches!(caller, Principal::Operator) {
        return Err(msghub::Error::Forbidden(
            "only the operator reloads the plugin directory".to_owned(),
        )
        .into());
    }
    let Some(dir) = app.plugin_dir() else {
        return Err(ApiError::not_found(
            "this server follows no plugin directory; start it with MSGHUB_PLUGIN_DIR (or \
             --plugins) to load plugins from files",
        ));
    };
    let changes = dir
        .reload(app.plugins())
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let names = |paths: &[std::path::PathBuf]| -> Vec<String> {
        paths.iter().map(|p| file_name(p)).collect()
    };
    let mut view = ReloadView {
        added: names(&changes.added),
        replaced: names(&changes.replaced),
        removed: names(&changes.removed),
        loaded: Vec::new(),
        refused: Vec::new(),
    };
    if let Some(loading) = changes.loading {
        let report = loading.finished().await;
        view.loaded = report.loaded;
        view.refused = report.refused.iter().map(ToString::to_string).collect();
    }
    Ok(Json(view))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
