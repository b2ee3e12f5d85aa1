//! Change histories: an account's at `/v1/accounts/{account}/history`, the operator's own
//! (mandatory rules) at `/v1/history`. Both list newest first, filtered by kind and time,
//! a page at a time.

use axum::Json;
use axum::extract::{Path, State};
use msghub::{HistoryFilter, parse_time};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::contract::{ActorKind, Category, ChangeAction, ChangeKind};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, Caller, account_id};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account_history))
        .routes(routes!(operator_history))
}

/// Who made a change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActorView {
    /// The operator, the account's root, one of its users, or an unsubscribe link.
    pub kind: ActorKind,
    /// The user's id when `kind` is `user` (the user may since have been deleted); null
    /// otherwise.
    pub user_id: Option<String>,
}

/// One entry of a change history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangeView {
    /// The entry's id (`chg_…`); entries are numbered in the order they were made.
    pub id: String,
    /// When the change was made (RFC 3339).
    pub at: String,
    /// Who made it.
    pub actor: ActorView,
    /// What kind of thing it touched.
    pub kind: ChangeKind,
    /// Whether it created, changed or deleted it.
    pub action: ChangeAction,
    /// The category it concerns (subscriptions, unsubscribes, mandatory rules); null for
    /// the others.
    pub category: Option<Category>,
    /// The id of what changed (user, channel, contact, rule or account), or the category
    /// for a subscription.
    pub target: String,
    /// The thing before the change as the API shows it, secrets redacted; null when it
    /// was created.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The thing after the change as the API shows it, secrets redacted; null when it was
    /// deleted.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

/// A page of a change history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePage {
    /// The entries of this page, newest first.
    pub items: Vec<ChangeView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<msghub::Change> for ChangeView {
    fn from(c: msghub::Change) -> Self {
        let (kind, user_id) = match c.actor {
            msghub::Actor::Operator => (ActorKind::Operator, None),
            msghub::Actor::Root => (ActorKind::Root, None),
            msghub::Actor::User { user_id } => (ActorKind::User, Some(user_id.to_string())),
            msghub::Actor::Link => (ActorKind::Link, None),
        };
        ChangeView {
            id: c.id.to_string(),
            at: msghub::format_time(c.at),
            actor: ActorView { kind, user_id },
            kind: c.kind.into(),
            action: c.action.into(),
            category: c.category.map(Category::from),
            target: c.target,
            before: c.before,
            after: c.after,
        }
    }
}

impl From<msghub::Page<msghub::Change>> for ChangePage {
    fn from(page: msghub::Page<msghub::Change>) -> Self {
        ChangePage {
            items: page.items.into_iter().map(ChangeView::from).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

/// The history filter of the query string: `kind`, `since`, `until`.
fn filter_of(query: &ApiQuery) -> Result<HistoryFilter, ApiError> {
    query.only(&["kind", "since", "until", "limit", "cursor"])?;
    query.refuse_empty(&["kind", "since", "until"])?;
    let mut filter = HistoryFilter::default();
    if let Some(names) = query.list("kind") {
        filter.kinds = Some(
            names
                .into_iter()
                .map(|n| msghub::ChangeKind::parse_field(n, "kind"))
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(since) = query.one("since") {
        filter.since = Some(parse_time(since, "since")?);
    }
    if let Some(until) = query.one("until") {
        filter.until = Some(parse_time(until, "until")?);
    }
    Ok(filter)
}

/// A page of the account's change history, newest first: every change to users,
/// policies, channels, contacts, subscriptions and retention, and unsubscribes through a
/// link. For the operator, the root and full-access users; a user scoped to some categories
/// sees only the entries of those categories.
#[utoipa::path(get, path = "/v1/accounts/{account}/history", tag = "history",
    params(
        ("account" = String, Path, description = "The account id"),
        ("kind" = Option<Vec<ChangeKind>>, Query, style = Form, explode = false, description = "Kinds, comma-separated (or the parameter repeated); every kind when left out"),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339, exclusive"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page; a cursor the server did not issue for this list and filter is 400"),
    ),
    responses(
        (status = 200, description = "A page of the history", body = ChangePage),
        (status = 400, description = "A bad parameter, cursor or timestamp", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator, the root or a full-access user", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn account_history(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    query: ApiQuery,
) -> Result<Json<ChangePage>, ApiError> {
    let account = account_id(&account)?;
    let filter = filter_of(&query)?;
    let page = app
        .engine()
        .history(&caller, account, &filter, &query.page()?)
        .await?;
    Ok(Json(page.into()))
}

/// A page of the operator's own history, newest first: mandatory rules created and
/// deleted. Operator only.
#[utoipa::path(get, path = "/v1/history", tag = "history",
    params(
        ("kind" = Option<Vec<ChangeKind>>, Query, style = Form, explode = false, description = "Kinds, comma-separated (or the parameter repeated); every kind when left out"),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339, exclusive"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page; a cursor the server did not issue for this list and filter is 400"),
    ),
    responses(
        (status = 200, description = "A page of the operator's history", body = ChangePage),
        (status = 400, description = "A bad parameter, cursor or timestamp", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn operator_history(
    State(app): State<AppState>,
    Caller(caller): Caller,
    query: ApiQuery,
) -> Result<Json<ChangePage>, ApiError> {
    let filter = filter_of(&query)?;
    let page = app
        .engine()
        .operator_history(&caller, &filter, &query.page()?)
        .await?;
    Ok(Json(page.into()))
}
