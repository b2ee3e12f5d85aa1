//! `GET /v1/plugins`: the channel plugins, ready, loading or failed, for any valid token.

use axum::Json;
use axum::extract::State;
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
    OpenApiRouter::new().routes(routes!(list_plugins))
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
    /// Why it could not be loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
        };
        match state.status {
            PluginStatus::Ready { info, .. } => {
                view.status = PluginStatusView::Ready;
                view.version = Some(info.version.clone());
                view.description = Some(info.description.clone());
                view.config_schema = Some(info.config_schema.clone());
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
