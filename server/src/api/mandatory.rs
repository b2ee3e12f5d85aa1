//! The operator's mandatory rules under `/v1/mandatory-rules`: notices that reach their
//! category's subscribed targets whatever the subscriptions' filters, and the accounts
//! that have no target for them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use msghub::{NewMandatoryRule, RuleId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::contract::{Category, MissingTarget, Severity};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Caller};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_rule, list_rules))
        .routes(routes!(get_rule, delete_rule))
        .routes(routes!(accounts_without_target))
}

/// `POST /v1/mandatory-rules`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRuleRequest {
    /// A name, e.g. `security-breach`: 1 to 128 characters, not blank, no control
    /// characters, unique among the rules. Refusals and routing explanations name it.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// The category it covers.
    #[schema(value_type = Category)]
    pub category: String,
    /// Only these subtypes (1 to 100, each 1 to 128 characters without control
    /// characters); absent or null for every subtype.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 100)]
    pub subtypes: Option<Vec<String>>,
    /// Only notices at least this severe; `info` (all) when left out or null.
    #[serde(default)]
    #[schema(value_type = Option<Severity>)]
    pub min_severity: Option<String>,
}

/// A mandatory rule.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    /// The rule's id (`mnd_…`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The category it covers.
    pub category: Category,
    /// The subtypes it covers; null for every subtype.
    pub subtypes: Option<Vec<String>>,
    /// The lowest severity it covers.
    pub min_severity: Severity,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

impl From<msghub::MandatoryRule> for RuleView {
    fn from(r: msghub::MandatoryRule) -> Self {
        RuleView {
            id: r.id.to_string(),
            name: r.name,
            category: r.category.into(),
            subtypes: r.subtypes,
            min_severity: r.min_severity.into(),
            created_at: msghub::format_time(r.created_at),
        }
    }
}

/// An account that a rule's notices reach in the inbox only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountWithoutTargetView {
    /// The account's id.
    pub account_id: String,
    /// Its name.
    pub name: String,
    /// Why it has no target.
    pub reason: MissingTarget,
}

fn rule_id(text: &str) -> Result<RuleId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("mandatory rule {text} does not exist")))
}

/// Creates a mandatory rule (operator only). From then on the notices it covers reach
/// their category's subscribed targets whatever the subscriptions' subtypes and minimum
/// severity, and no subscription of the category may be deleted or left without a target.
#[utoipa::path(post, path = "/v1/mandatory-rules", tag = "mandatory rules",
    request_body = CreateRuleRequest,
    responses(
        (status = 201, description = "The rule", body = RuleView),
        (status = 400, description = "Invalid name, category, subtypes or severity", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator", body = ErrorBody),
        (status = 409, description = "A rule with this name exists", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create_rule(
    State(app): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateRuleRequest>,
) -> Result<(StatusCode, Json<RuleView>), ApiError> {
    let rule = NewMandatoryRule {
        name: body.name,
        category: msghub::Category::parse_field(&body.category, "category")?,
        subtypes: body.subtypes,
        min_severity: body
            .min_severity
            .as_deref()
            .map(|s| msghub::Severity::parse_field(s, "min_severity"))
            .transpose()?,
    };
    let created = app.engine().create_mandatory_rule(&caller, rule).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Every mandatory rule, oldest first (operator only).
#[utoipa::path(get, path = "/v1/mandatory-rules", tag = "mandatory rules",
    responses(
        (status = 200, description = "The rules", body = Vec<RuleView>),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_rules(
    State(app): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<RuleView>>, ApiError> {
    let rules = app.engine().mandatory_rules(&caller)?;
    Ok(Json(rules.into_iter().map(RuleView::from).collect()))
}

/// One mandatory rule (operator only).
#[utoipa::path(get, path = "/v1/mandatory-rules/{rule}", tag = "mandatory rules",
    params(("rule" = String, Path, description = "The rule id")),
    responses(
        (status = 200, description = "The rule", body = RuleView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn get_rule(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(rule): Path<String>,
) -> Result<Json<RuleView>, ApiError> {
    let rule = rule_id(&rule)?;
    Ok(Json(app.engine().mandatory_rule(&caller, rule)?.into()))
}

/// Deletes a mandatory rule (operator only); its notices follow the subscriptions'
/// filters again.
#[utoipa::path(delete, path = "/v1/mandatory-rules/{rule}", tag = "mandatory rules",
    params(("rule" = String, Path, description = "The rule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn delete_rule(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(rule): Path<String>,
) -> Result<StatusCode, ApiError> {
    let rule = rule_id(&rule)?;
    app.engine().delete_mandatory_rule(&caller, rule).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The accounts that have no target at all for the rule's notices (no subscription for
/// its category, or one without channels and contacts): they get them in the inbox only.
/// Oldest account first; operator only.
#[utoipa::path(get, path = "/v1/mandatory-rules/{rule}/accounts-without-target", tag = "mandatory rules",
    params(("rule" = String, Path, description = "The rule id")),
    responses(
        (status = 200, description = "The accounts without a target", body = Vec<AccountWithoutTargetView>),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn accounts_without_target(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(rule): Path<String>,
) -> Result<Json<Vec<AccountWithoutTargetView>>, ApiError> {
    let rule = rule_id(&rule)?;
    let accounts = app.engine().accounts_without_target(&caller, rule)?;
    Ok(Json(
        accounts
            .into_iter()
            .map(|a| AccountWithoutTargetView {
                account_id: a.account_id.to_string(),
                name: a.name,
                reason: a.reason.into(),
            })
            .collect(),
    ))
}
