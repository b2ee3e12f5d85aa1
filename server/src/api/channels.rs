//! Where an account's messages go besides its inbox: channels (a plugin and its config)
//! under `/v1/accounts/{account}/channels` and email contacts under
//! `/v1/accounts/{account}/contacts`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use msghub::{Category, ChannelId, ContactId, NewChannel, NewContact, Requeue};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::contract::DeliveryStatus;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Caller, OptionalApiJson, account_id};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_channel, list_channels))
        .routes(routes!(get_channel, delete_channel))
        .routes(routes!(test_channel))
        .routes(routes!(requeue_channel))
        .routes(routes!(create_contact, list_contacts))
        .routes(routes!(get_contact, delete_contact))
        .routes(routes!(requeue_contact))
}

/// `POST /v1/accounts/{account}/channels`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannelRequest {
    /// A name for people, e.g. `sre-dingtalk`: 1 to 128 characters, not blank, no control
    /// characters, unique in the account.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// The plugin that delivers, one of `GET /v1/plugins`; another name is 400.
    pub plugin: String,
    /// The plugin's configuration, as its `config_schema` describes: always a JSON object.
    #[schema(value_type = Object)]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// The language of the words msghub adds to this channel's deliveries: `en` or
    /// `zh-CN` (another is 400). Absent or null: the account's, else the server's.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::contract::Locale>)]
    pub locale: Option<String>,
}

/// A channel; secret fields of its config read `***`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelView {
    /// The channel's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The plugin that delivers.
    pub plugin: String,
    /// The configuration, secrets redacted.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// The language of the words msghub adds; null: the account's, else the server's.
    #[schema(value_type = Option<crate::api::contract::Locale>)]
    pub locale: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

impl From<msghub::Channel> for ChannelView {
    fn from(c: msghub::Channel) -> Self {
        ChannelView {
            id: c.id.to_string(),
            name: c.name,
            plugin: c.plugin,
            config: c.config,
            locale: c.locale,
            created_at: msghub::format_time(c.created_at),
        }
    }
}

/// A page of channels.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelPage {
    /// The channels of this page, in id order.
    pub items: Vec<ChannelView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/accounts/{account}/channels/{channel}/test`; the body may be left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestChannelRequest {
    /// The category of the test message. Default `service`; for a user scoped away from
    /// `service`, the first of its categories. A category outside the caller's is 403.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::contract::Category>)]
    pub category: Option<String>,
}

/// The outcome of a test send.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestView {
    /// `delivered` or `failed`.
    pub status: DeliveryStatus,
    /// Why it failed; null when delivered.
    pub error: Option<String>,
}

/// How many failed deliveries were taken up again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequeuedView {
    /// The number of deliveries back in the outbox.
    pub requeued: u64,
}

/// `POST /v1/accounts/{account}/contacts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContactRequest {
    /// A name for people, e.g. `Finance team`: 1 to 128 characters, not blank, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// The email address, e.g. `ops@example.com`: at most 254 bytes, one `@` after a
    /// non-empty local part, a domain of at least two dot-separated labels, none empty or
    /// starting with `-`, and no white space, control characters or `<>,;"`.
    #[schema(
        max_length = 254,
        pattern = r#"^[^\s\x00-\x1f\x7f-\x9f<>,;"@]+@[^\s\x00-\x1f\x7f-\x9f<>,;"@.\-][^\s\x00-\x1f\x7f-\x9f<>,;"@.]*(\.[^\s\x00-\x1f\x7f-\x9f<>,;"@.\-][^\s\x00-\x1f\x7f-\x9f<>,;"@.]*)+$"#
    )]
    pub email: String,
    /// The language of the words msghub adds to mail to this contact: `en` or `zh-CN`
    /// (another is 400). Absent or null: the account's, else the server's.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::contract::Locale>)]
    pub locale: Option<String>,
}

/// An email contact.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    /// The contact's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its email address.
    pub email: String,
    /// The language of the words msghub adds; null: the account's, else the server's.
    #[schema(value_type = Option<crate::api::contract::Locale>)]
    pub locale: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

impl From<msghub::Contact> for ContactView {
    fn from(c: msghub::Contact) -> Self {
        ContactView {
            id: c.id.to_string(),
            name: c.name,
            email: c.email,
            locale: c.locale,
            created_at: msghub::format_time(c.created_at),
        }
    }
}

/// A page of contacts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactPage {
    /// The contacts of this page, in id order.
    pub items: Vec<ContactView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Parses a channel id from a path; a malformed one cannot exist, so it is 404.
pub fn channel_id(text: &str) -> Result<ChannelId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("channel {text} does not exist")))
}

/// Parses a contact id from a path; a malformed one cannot exist, so it is 404.
pub fn contact_id(text: &str) -> Result<ContactId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("contact {text} does not exist")))
}

/// Creates a channel once its plugin accepted the config (operator, root or full access).
#[utoipa::path(post, path = "/v1/accounts/{account}/channels", tag = "channels",
    params(("account" = String, Path, description = "The account id")),
    request_body = CreateChannelRequest,
    responses(
        (status = 201, description = "The channel, secrets redacted", body = ChannelView),
        (status = 400, description = "Unknown plugin, the plugin refused the config (its message), or an unsupported locale", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "A channel with this name exists in the account (`conflict`), or the account has as many channels as the server allows (`limit_reached`, MSGHUB_MAX_CHANNELS_PER_ACCOUNT)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create_channel(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<CreateChannelRequest>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    let account = account_id(&account)?;
    let channel = app
        .engine()
        .create_channel(
            &caller,
            account,
            NewChannel {
                name: body.name,
                plugin: body.plugin,
                config: serde_json::Value::Object(body.config),
                locale: body.locale,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(channel.into())))
}

/// A page of the account's channels, secrets redacted.
#[utoipa::path(get, path = "/v1/accounts/{account}/channels", tag = "channels",
    params(
        ("account" = String, Path, description = "The account id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page; a cursor the server did not issue for this list is 400"),
    ),
    responses(
        (status = 200, description = "A page of channels", body = ChannelPage),
        (status = 400, description = "A bad limit or cursor", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_channels(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    query: ApiQuery,
) -> Result<Json<ChannelPage>, ApiError> {
    let account = account_id(&account)?;
    query.only(&["limit", "cursor"])?;
    let page = app.engine().channels(&caller, account, &query.page()?)?;
    Ok(Json(ChannelPage {
        items: page.items.into_iter().map(ChannelView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One channel, secrets redacted.
#[utoipa::path(get, path = "/v1/accounts/{account}/channels/{channel}", tag = "channels",
    params(
        ("account" = String, Path, description = "The account id"),
        ("channel" = String, Path, description = "The channel id"),
    ),
    responses(
        (status = 200, description = "The channel", body = ChannelView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account or channel", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn get_channel(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, channel)): Path<(String, String)>,
) -> Result<Json<ChannelView>, ApiError> {
    let account = account_id(&account)?;
    let channel = channel_id(&channel)?;
    Ok(Json(
        app.engine().channel(&caller, account, channel)?.into(),
    ))
}

/// Deletes a channel; refused while a subscription names it. Deliveries still due to it
/// end as failed.
#[utoipa::path(delete, path = "/v1/accounts/{account}/channels/{channel}", tag = "channels",
    params(
        ("account" = String, Path, description = "The account id"),
        ("channel" = String, Path, description = "The channel id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account or channel", body = ErrorBody),
        (status = 409, description = "A subscription still names it", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn delete_channel(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, channel)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(&account)?;
    let channel = channel_id(&channel)?;
    app.engine()
        .delete_channel(&caller, account, channel)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends one real test message through the channel's plugin and tells how it went. The
/// message is of a category the caller may act on: a scoped user cannot send one of
/// another category.
#[utoipa::path(post, path = "/v1/accounts/{account}/channels/{channel}/test", tag = "channels",
    params(
        ("account" = String, Path, description = "The account id"),
        ("channel" = String, Path, description = "The channel id"),
    ),
    request_body = Option<TestChannelRequest>,
    responses(
        (status = 200, description = "delivered, or failed with the plugin's error", body = TestView),
        (status = 400, description = "An unknown category", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed, or a category outside the caller's", body = ErrorBody),
        (status = 404, description = "No such account or channel", body = ErrorBody),
        (status = 429, description = "The account has 2 tests running or started 10 in the last minute; Retry-After says when to try again", body = ErrorBody),
        (status = 503, description = "The server is shutting down, or all its test slots are busy", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn test_channel(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, channel)): Path<(String, String)>,
    OptionalApiJson(body): OptionalApiJson<TestChannelRequest>,
) -> Result<Json<TestView>, ApiError> {
    let account = account_id(&account)?;
    let channel = channel_id(&channel)?;
    let category = body
        .category
        .map(|c| Category::parse_field(&c, "category"))
        .transpose()?;
    let outcome = app
        .engine()
        .test_channel(&caller, account, channel, category)
        .await?;
    Ok(Json(TestView {
        status: outcome.status.into(),
        error: outcome.error,
    }))
}

/// Takes every failed delivery to this channel up again, with a fresh retry schedule.
#[utoipa::path(post, path = "/v1/accounts/{account}/channels/{channel}/requeue", tag = "channels",
    params(
        ("account" = String, Path, description = "The account id"),
        ("channel" = String, Path, description = "The channel id"),
    ),
    responses(
        (status = 200, description = "How many deliveries were requeued", body = RequeuedView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account or channel", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn requeue_channel(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, channel)): Path<(String, String)>,
) -> Result<Json<RequeuedView>, ApiError> {
    let account = account_id(&account)?;
    let channel = channel_id(&channel)?;
    let requeued = app
        .engine()
        .requeue_failed(&caller, account, Requeue::Channel(channel))
        .await?;
    Ok(Json(RequeuedView { requeued }))
}

/// Creates an email contact.
#[utoipa::path(post, path = "/v1/accounts/{account}/contacts", tag = "contacts",
    params(("account" = String, Path, description = "The account id")),
    request_body = CreateContactRequest,
    responses(
        (status = 201, description = "The contact", body = ContactView),
        (status = 400, description = "An invalid name, email address or locale", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "The account has as many contacts as the server allows (`limit_reached`, MSGHUB_MAX_CONTACTS_PER_ACCOUNT)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create_contact(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<CreateContactRequest>,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    let account = account_id(&account)?;
    let contact = app
        .engine()
        .create_contact(
            &caller,
            account,
            NewContact {
                name: body.name,
                email: body.email,
                locale: body.locale,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(contact.into())))
}

/// A page of the account's contacts.
#[utoipa::path(get, path = "/v1/accounts/{account}/contacts", tag = "contacts",
    params(
        ("account" = String, Path, description = "The account id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page; a cursor the server did not issue for this list is 400"),
    ),
    responses(
        (status = 200, description = "A page of contacts", body = ContactPage),
        (status = 400, description = "A bad limit or cursor", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_contacts(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    query: ApiQuery,
) -> Result<Json<ContactPage>, ApiError> {
    let account = account_id(&account)?;
    query.only(&["limit", "cursor"])?;
    let page = app.engine().contacts(&caller, account, &query.page()?)?;
    Ok(Json(ContactPage {
        items: page.items.into_iter().map(ContactView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One contact.
#[utoipa::path(get, path = "/v1/accounts/{account}/contacts/{contact}", tag = "contacts",
    params(
        ("account" = String, Path, description = "The account id"),
        ("contact" = String, Path, description = "The contact id"),
    ),
    responses(
        (status = 200, description = "The contact", body = ContactView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account or contact", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn get_contact(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, contact)): Path<(String, String)>,
) -> Result<Json<ContactView>, ApiError> {
    let account = account_id(&account)?;
    let contact = contact_id(&contact)?;
    Ok(Json(
        app.engine().contact(&caller, account, contact)?.into(),
    ))
}

/// Deletes a contact; refused while a subscription names it.
#[utoipa::path(delete, path = "/v1/accounts/{account}/contacts/{contact}", tag = "contacts",
    params(
        ("account" = String, Path, description = "The account id"),
        ("contact" = String, Path, description = "The contact id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account or contact", body = ErrorBody),
        (status = 409, description = "A subscription still names it", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn delete_contact(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, contact)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(&account)?;
    let contact = contact_id(&contact)?;
    app.engine()
        .delete_contact(&caller, account, contact)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes every failed delivery to this contact up again, with a fresh retry schedule.
#[utoipa::path(post, path = "/v1/accounts/{account}/contacts/{contact}/requeue", tag = "contacts",
    params(
        ("account" = String, Path, description = "The account id"),
        ("contact" = String, Path, description = "The contact id"),
    ),
    responses(
        (status = 200, description = "How many deliveries were requeued", body = RequeuedView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account or contact", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn requeue_contact(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, contact)): Path<(String, String)>,
) -> Result<Json<RequeuedView>, ApiError> {
    let account = account_id(&account)?;
    let contact = contact_id(&contact)?;
    let requeued = app
        .engine()
        .requeue_failed(&caller, account, Requeue::Contact(contact))
        .await?;
    Ok(Json(RequeuedView { requeued }))
}
