//! `GET /v1/plugins`: the loaded channel plugins, for any valid token.

use axum::Json;
use axum::extract::State;
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

/// A loaded channel plugin.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginView {
    /// The name channels refer to, e.g. `dingtalk`.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// One sentence about it.
    pub description: String,
    /// The JSON Schema of a channel's `config`.
    #[schema(value_type = Object)]
    pub config_schema: serde_json::Value,
}

impl From<&msghub::plugin::PluginInfo> for PluginView {
    fn from(info: &msghub::plugin::PluginInfo) -> Self {
        PluginView {
            name: info.name.clone(),
            version: info.version.clone(),
            description: info.description.clone(),
            config_schema: info.config_schema.clone(),
        }
    }
}

/// Every loaded channel plugin, by name.
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins",
    responses(
        (status = 200, description = "The loaded plugins", body = Vec<PluginView>),
        (status = 401, description = "No or unknown token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_plugins(
    State(app): State<AppState>,
    Caller(_caller): Caller,
) -> Result<Json<Vec<PluginView>>, ApiError> {
    Ok(Json(
        app.plugins().plugins().map(PluginView::from).collect(),
    ))
}
