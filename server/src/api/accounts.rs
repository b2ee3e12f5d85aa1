//! Accounts and their users: `/v1/accounts`, `/v1/accounts/{account}`,
//! `/v1/accounts/{account}/users[/{user}]`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use msghub::{NewUser, UserUpdate};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::contract::{Category, Policy};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Caller, account_id, user_id};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account))
        .routes(routes!(get_account, update_account))
        .routes(routes!(create_user, list_users))
        .routes(routes!(update_user, delete_user))
}

/// `POST /v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// The account's name, e.g. `acme`: 1 to 128 characters, not blank, no control
    /// characters, unique among accounts.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
}

/// `PATCH /v1/accounts/{account}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    /// How many days messages are kept (1 to 36500); older ones are purged hourly. A whole
    /// number; `30.0` is taken as `30`, as JSON Schema counts it an integer.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 36500)]
    pub retention_days: Option<u32>,
    /// The language of the words msghub adds to the account's deliveries whose channel or
    /// contact names none: `en` or `zh-CN` (another is 400). Absent or null: unchanged.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::contract::Locale>)]
    pub locale: Option<String>,
}

/// An account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// The account's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// How many days messages are kept.
    pub retention_days: u32,
    /// The language of the words msghub adds to deliveries whose channel or contact names
    /// none; null: the server's (`MSGHUB_LOCALE`).
    #[schema(value_type = Option<crate::api::contract::Locale>)]
    pub locale: Option<String>,
}

/// A new account with its root token, shown only in this answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedAccountView {
    /// The account's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// How many days messages are kept.
    pub retention_days: u32,
    /// The language of the words msghub adds; null: the server's.
    #[schema(value_type = Option<crate::api::contract::Locale>)]
    pub locale: Option<String>,
    /// The account root's token; keep it, it is not shown again.
    pub root_token: String,
}

impl From<msghub::Account> for AccountView {
    fn from(a: msghub::Account) -> Self {
        AccountView {
            id: a.id.to_string(),
            name: a.name,
            created_at: msghub::format_time(a.created_at),
            retention_days: a.retention_days,
            locale: a.locale,
        }
    }
}

/// `POST /v1/accounts/{account}/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// The user's name: 1 to 128 characters, not blank, no control characters, unique in
    /// the account.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// The policies it holds; none by default.
    #[serde(default)]
    #[schema(value_type = Vec<Policy>)]
    pub policies: Vec<String>,
    /// The categories the user is limited to, at least one; absent or null for all.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Category>>, min_items = 1)]
    pub categories: Option<Vec<String>>,
}

/// `PATCH /v1/accounts/{account}/users/{user}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// The new policies; absent or null to keep them.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Policy>>)]
    pub policies: Option<Vec<String>>,
    /// The new category scope, at least one; `null` removes the scope (all categories).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Category>>, min_items = 1)]
    pub categories: Option<Option<Vec<String>>>,
}

/// Tells a field given as `null` (Some(None)) from a field left out (None).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// A whole number as JSON Schema's `integer` admits it: `30` or `30.0`, not `30.5`.
fn whole_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(de)? else {
        return Ok(None);
    };
    let whole = match (number.as_u64(), number.as_f64()) {
        (Some(n), _) => Some(n),
        (None, Some(f)) if f.fract() == 0.0 && f >= 0.0 && f <= u64::MAX as f64 => Some(f as u64),
        _ => None,
    };
    match whole {
        // Out of u32 is out of the engine's range too: clamp so the engine names the range.
        Some(n) => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
        None => Err(D::Error::custom(format!(
            "{number} is not a whole number of days; use 1 to 36500"
        ))),
    }
}

/// A user (without its token).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// The user's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The policies it holds.
    pub policies: Vec<Policy>,
    /// The categories it is limited to; null for all.
    pub categories: Option<Vec<Category>>,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

/// A new user with its token, shown only in this answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedUserView {
    /// The user's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The policies it holds.
    pub policies: Vec<Policy>,
    /// The categories it is limited to; null for all.
    pub categories: Option<Vec<Category>>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// The user's token; keep it, it is not shown again.
    pub token: String,
}

/// A page of users.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    /// The users of this page, in id order.
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<msghub::User> for UserView {
    fn from(u: msghub::User) -> Self {
        UserView {
            id: u.id.to_string(),
            name: u.name,
            policies: u.policies.iter().map(|&p| p.into()).collect(),
            categories: u.categories.map(|c| c.iter().map(|&c| c.into()).collect()),
            created_at: msghub::format_time(u.created_at),
        }
    }
}

fn policies(names: &[String]) -> Result<Vec<msghub::Policy>, ApiError> {
    names
        .iter()
        .map(|n| msghub::Policy::parse_field(n, "policies").map_err(ApiError::from))
        .collect()
}

fn categories(names: &[String]) -> Result<Vec<msghub::Category>, ApiError> {
    names
        .iter()
        .map(|n| msghub::Category::parse_field(n, "categories").map_err(ApiError::from))
        .collect()
}

/// Creates an account (operator only). The answer holds the root token, shown only once.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts",
    request_body = CreateAccountRequest,
    responses(
        (status = 201, description = "The account and its root token", body = CreatedAccountView),
        (status = 400, description = "Invalid name", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator", body = ErrorBody),
        (status = 409, description = "An account with this name exists", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create_account(
    State(app): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateAccountRequest>,
) -> Result<(StatusCode, Json<CreatedAccountView>), ApiError> {
    let created = app.engine().create_account(&caller, &body.name).await?;
    let a = AccountView::from(created.account);
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccountView {
            id: a.id,
            name: a.name,
            created_at: a.created_at,
            retention_days: a.retention_days,
            locale: a.locale,
            root_token: created.root_token,
        }),
    ))
}

/// An account, without its token: for the operator and any principal of the account that
/// holds a policy.
#[utoipa::path(get, path = "/v1/accounts/{account}", tag = "accounts",
    params(("account" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn get_account(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let account = account_id(&account)?;
    Ok(Json(app.engine().account(&caller, account)?.into()))
}

/// Changes an account's settings (operator or the account's root).
#[utoipa::path(patch, path = "/v1/accounts/{account}", tag = "accounts",
    params(("account" = String, Path, description = "The account id")),
    request_body = UpdateAccountRequest,
    responses(
        (status = 200, description = "The account as it is now", body = AccountView),
        (status = 400, description = "retention_days out of range, or a locale other than en and zh-CN", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator or the account's root", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn update_account(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<UpdateAccountRequest>,
) -> Result<Json<AccountView>, ApiError> {
    let account = account_id(&account)?;
    if let Some(locale) = &body.locale {
        // Checked before anything changes: a bad locale leaves the retention as it was.
        msghub::check_locale("locale", locale)?;
    }
    let mut updated = match body.retention_days {
        Some(days) => app.engine().set_retention(&caller, account, days).await?,
        None => app.engine().account(&caller, account)?,
    };
    if let Some(locale) = body.locale {
        updated = app
            .engine()
            .set_account_locale(&caller, account, Some(locale))
            .await?;
    }
    Ok(Json(updated.into()))
}

/// Creates a user (operator or the account's root). The answer holds its token, shown once.
#[utoipa::path(post, path = "/v1/accounts/{account}/users", tag = "users",
    params(("account" = String, Path, description = "The account id")),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "The user and its token", body = CreatedUserView),
        (status = 400, description = "Unknown policy or category, invalid name", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator or the account's root", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "A user with this name exists in the account (`conflict`), or the account has as many users as the server allows (`limit_reached`, MSGHUB_MAX_USERS_PER_ACCOUNT)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create_user(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<CreatedUserView>), ApiError> {
    let account = account_id(&account)?;
    let new = NewUser {
        name: body.name,
        policies: policies(&body.policies)?,
        categories: body.categories.as_deref().map(categories).transpose()?,
    };
    let created = app.engine().create_user(&caller, account, new).await?;
    let u = UserView::from(created.user);
    Ok((
        StatusCode::CREATED,
        Json(CreatedUserView {
            id: u.id,
            name: u.name,
            policies: u.policies,
            categories: u.categories,
            created_at: u.created_at,
            token: created.token,
        }),
    ))
}

/// A page of the account's users, without tokens (operator or root).
#[utoipa::path(get, path = "/v1/accounts/{account}/users", tag = "users",
    params(
        ("account" = String, Path, description = "The account id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page; a cursor the server did not issue for this list is 400"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator or the account's root", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_users(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    query: ApiQuery,
) -> Result<Json<UserPage>, ApiError> {
    let account = account_id(&account)?;
    query.only(&["limit", "cursor"])?;
    let page = app.engine().list_users(&caller, account, &query.page()?)?;
    Ok(Json(UserPage {
        items: page.items.into_iter().map(UserView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Changes a user's policies or category scope; takes effect on its next request.
#[utoipa::path(patch, path = "/v1/accounts/{account}/users/{user}", tag = "users",
    params(
        ("account" = String, Path, description = "The account id"),
        ("user" = String, Path, description = "The user id"),
    ),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The user as it is now", body = UserView),
        (status = 400, description = "Unknown policy or category", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator or the account's root", body = ErrorBody),
        (status = 404, description = "No such user in the account", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn update_user(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, user)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserView>, ApiError> {
    let account = account_id(&account)?;
    let user = user_id(&user)?;
    let update = UserUpdate {
        policies: body.policies.as_deref().map(policies).transpose()?,
        categories: match body.categories {
            None => None,
            Some(None) => Some(None),
            Some(Some(names)) => Some(Some(categories(&names)?)),
        },
    };
    let user = app
        .engine()
        .update_user(&caller, account, user, update)
        .await?;
    Ok(Json(user.into()))
}

/// Deletes a user; its token stops working at once.
#[utoipa::path(delete, path = "/v1/accounts/{account}/users/{user}", tag = "users",
    params(
        ("account" = String, Path, description = "The account id"),
        ("user" = String, Path, description = "The user id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator or the account's root", body = ErrorBody),
        (status = 404, description = "No such user in the account", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn delete_user(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(&account)?;
    let user = user_id(&user)?;
    app.engine().delete_user(&caller, account, user).await?;
    Ok(StatusCode::NO_CONTENT)
}
