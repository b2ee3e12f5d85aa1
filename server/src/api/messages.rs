//! An account's inbox: publish, list, get, counts, mark read and delete, under
//! `/v1/accounts/{account}/messages` and `/v1/accounts/{account}/counts`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use msghub::{CategorySet, Filter, MessageId, NewMessage, Selection, SeveritySet, parse_time};
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::contract::{Category, DeliveryStatus, ReadStatus, Severity, TargetKind};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Caller, account_id, message_id};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(publish, list_messages))
        .routes(routes!(get_message, delete_message))
        .routes(routes!(counts))
        .routes(routes!(mark_read))
        .routes(routes!(delete_messages))
        .routes(routes!(list_deliveries))
        .routes(routes!(requeue_message))
}

/// `POST /v1/accounts/{account}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The category; required.
    #[schema(value_type = Category)]
    pub category: Option<String>,
    /// A finer kind inside the category, e.g. `low-balance`: 1 to 128 characters, no
    /// control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub subtype: Option<String>,
    /// One line, required: 1 to 256 characters, not blank, no control characters.
    #[schema(value_type = String, min_length = 1, max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub title: Option<String>,
    /// Markdown, at most 65,536 bytes of UTF-8.
    #[serde(default)]
    #[schema(max_length = 65536)]
    pub body: Option<String>,
    /// `info` when left out or null.
    #[serde(default)]
    #[schema(value_type = Option<Severity>)]
    pub severity: Option<String>,
    /// An absolute http:// or https:// URL with a host, at most 2,048 bytes, no white space.
    #[serde(default)]
    #[schema(
        max_length = 2048,
        pattern = r"^https?://[^/?#\s\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*$"
    )]
    pub link: Option<String>,
    /// The resource the message is about, e.g. `ecs/i-123`: 1 to 512 characters, no control
    /// characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub resource: Option<String>,
    /// Publishing again with the same key answers 200 with the stored message: 1 to 256
    /// bytes.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub dedupe_key: Option<String>,
}

impl PublishRequest {
    /// The engine's message of this request; unknown category or severity names are 400s
    /// naming the field.
    pub fn into_message(self) -> Result<NewMessage, ApiError> {
        Ok(NewMessage {
            category: self
                .category
                .as_deref()
                .map(|c| msghub::Category::parse_field(c, "category"))
                .transpose()?,
            subtype: self.subtype,
            title: self.title.unwrap_or_default(),
            body: self.body,
            severity: self
                .severity
                .as_deref()
                .map(|s| msghub::Severity::parse_field(s, "severity"))
                .transpose()?,
            link: self.link,
            resource: self.resource,
            dedupe_key: self.dedupe_key,
        })
    }
}

/// A message as the caller sees it (`read` is the caller's own read state).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    /// The message id.
    pub id: String,
    /// The account whose inbox holds it.
    pub account_id: String,
    /// The category.
    pub category: Category,
    /// The subtype, or null.
    pub subtype: Option<String>,
    /// The title.
    pub title: String,
    /// The markdown body, or null.
    pub body: Option<String>,
    /// The body rendered as sanitized HTML (no script, no markup from the body itself,
    /// links only to http, https and mailto); only in the answer for one message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_html: Option<String>,
    /// The severity.
    pub severity: Severity,
    /// The link, or null.
    pub link: Option<String>,
    /// The resource, or null.
    pub resource: Option<String>,
    /// The dedupe key it was published with, or null.
    pub dedupe_key: Option<String>,
    /// When it was stored (RFC 3339).
    pub created_at: String,
    /// Whether the caller has read it.
    pub read: bool,
}

impl From<msghub::Message> for MessageView {
    fn from(m: msghub::Message) -> Self {
        MessageView {
            id: m.id.to_string(),
            account_id: m.account_id.to_string(),
            category: m.category.into(),
            subtype: m.subtype,
            title: m.title,
            body: m.body,
            body_html: None,
            severity: m.severity.into(),
            link: m.link,
            resource: m.resource,
            dedupe_key: m.dedupe_key,
            created_at: msghub::format_time(m.created_at),
            read: m.read,
        }
    }
}

/// A page of messages, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// The messages of this page.
    pub items: Vec<MessageView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Totals of one category.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategoryCountView {
    /// Messages the caller may see.
    pub total: u64,
    /// Of those, the ones the caller has not read.
    pub unread: u64,
}

/// Totals for the caller, overall and per category (all six always present).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CountsView {
    /// Messages the caller may see.
    pub total: u64,
    /// Of those, the ones the caller has not read.
    pub unread: u64,
    /// The same per category.
    pub by_category: BTreeMap<Category, CategoryCountView>,
}

/// Names as one string (comma-separated) or as a list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One name, or a comma-separated list.
    One(String),
    /// Several names.
    Many(Vec<String>),
}

/// Reads an optional [`OneOrMany`] by hand rather than through `#[serde(untagged)]`, so that
/// any other value is refused with what the field takes instead of "data did not match any
/// variant".
fn one_or_many<'de, D: Deserializer<'de>>(de: D) -> Result<Option<OneOrMany>, D::Error> {
    struct Names;

    impl<'de> Visitor<'de> for Names {
        type Value = Option<OneOrMany>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or an array of strings")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(OneOrMany::One(v.to_owned())))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut names = Vec::new();
            while let Some(name) = seq.next_element::<String>()? {
                names.push(name);
            }
            Ok(Some(OneOrMany::Many(names)))
        }
    }

    de.deserialize_any(Names)
}

/// Takes a field that may be left out but not given as `null`: for a bulk call's `ids` and
/// `filter`, `null` could be read as "no restriction", so it is refused rather than guessed.
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<T>, D::Error> {
    T::deserialize(de).map(Some)
}

/// Categories as one string (comma-separated) or as a list of at least one, as the
/// document states them; requests decode into [`OneOrMany`].
pub struct Categories;

impl utoipa::PartialSchema for Categories {
    fn schema() -> RefOr<Schema> {
        names_schema(
            r"^\s*(account|product|security|exception|activity|service)\s*(,\s*(account|product|security|exception|activity|service)\s*)*$",
            Category::schema(),
        )
    }
}

impl ToSchema for Categories {}

/// Severities as one string (comma-separated) or as a list of at least one, as the
/// document states them; requests decode into [`OneOrMany`].
pub struct Severities;

impl utoipa::PartialSchema for Severities {
    fn schema() -> RefOr<Schema> {
        names_schema(
            r"^\s*(info|warning|critical)\s*(,\s*(info|warning|critical)\s*)*$",
            Severity::schema(),
        )
    }
}

impl ToSchema for Severities {}

/// One string of comma-separated names matching `pattern`, or a non-empty list of `item`.
fn names_schema(pattern: &str, item: RefOr<Schema>) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern)),
        )
        .item(ArrayBuilder::new().items(item).min_items(Some(1)))
        .into()
}

impl OneOrMany {
    fn names(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => s.split(',').map(str::trim).collect(),
            OneOrMany::Many(v) => v.iter().map(|s| s.trim()).collect(),
        }
    }
}

/// The filter of a bulk call, with the same meanings as the list's query.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterBody {
    /// A category or a list of them.
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Option<Categories>)]
    pub category: Option<OneOrMany>,
    /// `all` when left out or null.
    #[serde(default)]
    #[schema(value_type = Option<ReadStatus>)]
    pub status: Option<String>,
    /// A severity or a list of them.
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Option<Severities>)]
    pub severity: Option<OneOrMany>,
    /// A literal, case-insensitive substring of title or body, at most 256 characters;
    /// empty for none.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub q: Option<String>,
    /// RFC 3339, inclusive.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

/// `POST .../messages/mark-read` and `POST .../messages/delete`: exactly one of `ids` and
/// `filter`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// At most 1000 message ids; unknown ids are skipped, and an empty list acts on none.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(max_items = 1000, nullable = false)]
    pub ids: Option<Vec<String>>,
    /// Every message under this filter that the caller may see; `{}` for all.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub filter: Option<FilterBody>,
}

/// The answer of mark-read.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpdatedView {
    /// How many went from unread to read for the caller.
    pub updated: u64,
}

/// The answer of a bulk delete.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedView {
    /// How many messages were deleted.
    pub deleted: u64,
}

/// Builds a filter from names as the query string or a filter body gives them; `prefix`
/// is prepended to field names in errors (`filter.` for bodies).
struct FilterParts<'a> {
    categories: Option<Vec<&'a str>>,
    status: Option<&'a str>,
    severities: Option<Vec<&'a str>>,
    q: Option<&'a str>,
    since: Option<&'a str>,
    until: Option<&'a str>,
}

impl FilterParts<'_> {
    fn build(self, prefix: &str) -> Result<Filter, ApiError> {
        let field = |name: &str| format!("{prefix}{name}");
        let mut filter = Filter::default();
        if let Some(names) = self.categories {
            filter.categories = Some(CategorySet::from_names(names, &field("category"))?);
        }
        if let Some(status) = self.status {
            filter.status = msghub::ReadStatus::parse_field(status, &field("status"))?;
        }
        if let Some(names) = self.severities {
            filter.severities = Some(SeveritySet::from_names(names, &field("severity"))?);
        }
        if let Some(q) = self.q.filter(|q| !q.is_empty()) {
            filter.text = Some(q.to_owned());
        }
        if let Some(since) = self.since {
            filter.since = Some(parse_time(since, &field("since"))?);
        }
        if let Some(until) = self.until {
            filter.until = Some(parse_time(until, &field("until"))?);
        }
        Ok(filter)
    }
}

impl FilterBody {
    fn to_filter(&self) -> Result<Filter, ApiError> {
        FilterParts {
            categories: self.category.as_ref().map(OneOrMany::names),
            status: self.status.as_deref(),
            severities: self.severity.as_ref().map(OneOrMany::names),
            q: self.q.as_deref(),
            since: self.since.as_deref(),
            until: self.until.as_deref(),
        }
        .build("filter.")
    }
}

impl BulkRequest {
    /// The selection, and whether it came from a filter (to name fields in errors).
    fn selection(&self) -> Result<(Selection, bool), ApiError> {
        match (&self.ids, &self.filter) {
            (Some(ids), None) => {
                let named = ids.len();
                if named > msghub::filter::MAX_BULK_IDS {
                    return Err(ApiError::invalid(
                        "ids",
                        format!(
                            "ids names {named} messages; at most {} are allowed per call, or use a filter",
                            msghub::filter::MAX_BULK_IDS
                        ),
                    ));
                }
                // An id that does not parse cannot exist: skipped like any unknown id.
                let ids: Vec<MessageId> = ids.iter().filter_map(|s| s.parse().ok()).collect();
                Ok((Selection::Ids(ids), false))
            }
            (None, Some(filter)) => Ok((Selection::Filter(filter.to_filter()?), true)),
            (Some(_), Some(_)) => Err(ApiError::bad_request("send either ids or filter, not both")),
            (None, None) => Err(ApiError::bad_request(
                "send either ids (a list of message ids) or filter ({} for every message you may see)",
            )),
        }
    }
}

/// Runs a bulk operation, naming filter fields as `filter.<name>` in errors.
fn in_filter(error: msghub::Error, from_filter: bool) -> ApiError {
    let error = ApiError::from(error);
    if from_filter && error.field.as_deref() != Some("ids") {
        error.within("filter")
    } else {
        error
    }
}

/// Publishes a message (operator only): 201 with the new message, or 200 with the stored
/// one when the account already has a message with the same `dedupe_key`.
#[utoipa::path(post, path = "/v1/accounts/{account}/messages", tag = "messages",
    params(("account" = String, Path, description = "The account id")),
    request_body = PublishRequest,
    responses(
        (status = 201, description = "Stored (durably)", body = MessageView),
        (status = 200, description = "A message with this dedupe_key exists; nothing new stored", body = MessageView),
        (status = 400, description = "A field breaks a rule", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not the operator", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn publish(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<PublishRequest>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let account = account_id(&account)?;
    let message = body.into_message()?;
    let published = app.engine().publish(&caller, account, message).await?;
    let status = if published.created {
        app.metrics().messages_published.inc();
        StatusCode::CREATED
    } else {
        app.metrics().messages_deduplicated.inc();
        StatusCode::OK
    };
    Ok((status, Json(published.message.into())))
}

/// A page of the messages the caller may see, newest first, under optional filters.
#[utoipa::path(get, path = "/v1/accounts/{account}/messages", tag = "messages",
    params(
        ("account" = String, Path, description = "The account id"),
        ("category" = Option<Vec<Category>>, Query, style = Form, explode = false, description = "Categories, comma-separated (or the parameter repeated); every category when left out"),
        ("status" = Option<ReadStatus>, Query, description = "all (default), unread or read"),
        ("severity" = Option<Vec<Severity>>, Query, style = Form, explode = false, description = "Severities, comma-separated (or the parameter repeated); every severity when left out"),
        ("q" = Option<String>, Query, max_length = 256, description = "A literal, case-insensitive substring of title or body, at most 256 characters"),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339, exclusive"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page; a cursor the server did not issue for this list and filter is 400"),
    ),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 400, description = "A bad parameter, cursor or timestamp", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_messages(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    query: ApiQuery,
) -> Result<Json<MessagePage>, ApiError> {
    let account = account_id(&account)?;
    query.only(&[
        "category", "status", "severity", "q", "since", "until", "limit", "cursor",
    ])?;
    query.refuse_empty(&["category", "status", "severity", "since", "until"])?;
    let filter = FilterParts {
        categories: query.list("category"),
        status: query.one("status"),
        severities: query.list("severity"),
        q: query.one("q"),
        since: query.one("since"),
        until: query.one("until"),
    }
    .build("")?;
    let page = app
        .engine()
        .list_messages(&caller, account, &filter, &query.page()?)
        .await?;
    Ok(Json(MessagePage {
        items: page.items.into_iter().map(MessageView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One message; 404 when it does not exist in the account or is outside the caller's
/// categories.
#[utoipa::path(get, path = "/v1/accounts/{account}/messages/{id}", tag = "messages",
    params(
        ("account" = String, Path, description = "The account id"),
        ("id" = String, Path, description = "The message id"),
    ),
    responses(
        (status = 200, description = "The message", body = MessageView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such message for the caller", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn get_message(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, id)): Path<(String, String)>,
) -> Result<Json<MessageView>, ApiError> {
    let account = account_id(&account)?;
    let id = message_id(&id)?;
    let mut view = MessageView::from(app.engine().message(&caller, account, id).await?);
    view.body_html = view.body.as_deref().map(crate::markdown::body_html);
    Ok(Json(view))
}

/// Deletes one message for the whole account. Final.
#[utoipa::path(delete, path = "/v1/accounts/{account}/messages/{id}", tag = "messages",
    params(
        ("account" = String, Path, description = "The account id"),
        ("id" = String, Path, description = "The message id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such message for the caller", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn delete_message(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(&account)?;
    let id = message_id(&id)?;
    app.engine().delete_message(&caller, account, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Total and unread messages for the caller, overall and for each of the six categories.
#[utoipa::path(get, path = "/v1/accounts/{account}/counts", tag = "messages",
    params(("account" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The counts", body = CountsView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn counts(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
) -> Result<Json<CountsView>, ApiError> {
    let account = account_id(&account)?;
    let counts = app.engine().counts(&caller, account)?;
    Ok(Json(CountsView::from(counts)))
}

impl From<msghub::Counts> for CountsView {
    fn from(counts: msghub::Counts) -> Self {
        CountsView {
            total: counts.total,
            unread: counts.unread,
            by_category: counts
                .by_category
                .into_iter()
                .map(|(c, n)| {
                    (
                        Category::from(c),
                        CategoryCountView {
                            total: n.total,
                            unread: n.unread,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Marks messages read for the caller only.
#[utoipa::path(post, path = "/v1/accounts/{account}/messages/mark-read", tag = "messages",
    params(("account" = String, Path, description = "The account id")),
    request_body = BulkRequest,
    responses(
        (status = 200, description = "How many went from unread to read", body = UpdatedView),
        (status = 400, description = "Both or neither of ids and filter, or a bad filter", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn mark_read(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<BulkRequest>,
) -> Result<Json<UpdatedView>, ApiError> {
    let account = account_id(&account)?;
    let (selection, from_filter) = body.selection()?;
    let updated = app
        .engine()
        .mark_read(&caller, account, selection)
        .await
        .map_err(|e| in_filter(e, from_filter))?;
    Ok(Json(UpdatedView { updated }))
}

/// Deletes messages for the whole account. Final.
#[utoipa::path(post, path = "/v1/accounts/{account}/messages/delete", tag = "messages",
    params(("account" = String, Path, description = "The account id")),
    request_body = BulkRequest,
    responses(
        (status = 200, description = "How many were deleted", body = DeletedView),
        (status = 400, description = "Both or neither of ids and filter, or a bad filter", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn delete_messages(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<BulkRequest>,
) -> Result<Json<DeletedView>, ApiError> {
    let account = account_id(&account)?;
    let (selection, from_filter) = body.selection()?;
    let deleted = app
        .engine()
        .delete_messages(&caller, account, selection)
        .await
        .map_err(|e| in_filter(e, from_filter))?;
    Ok(Json(DeletedView { deleted }))
}

/// One delivery of a message (or of a digest it is part of) to one target.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// The delivery's id; every attempt carries it as the idempotency key (`webhook-id`).
    pub id: String,
    /// Whether the target is a channel or a contact.
    pub target: TargetKind,
    /// The channel's or contact's id.
    pub target_id: String,
    /// The plugin that delivers it.
    pub plugin: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The error of the last failed attempt, or null.
    pub last_error: Option<String>,
    /// When the next attempt is due (RFC 3339), or null.
    pub next_attempt_at: Option<String>,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Whether it is a digest summary of several messages.
    pub digest: bool,
}

impl From<msghub::DeliveryInfo> for DeliveryView {
    fn from(d: msghub::DeliveryInfo) -> Self {
        DeliveryView {
            id: d.id.to_string(),
            target: d.target.into(),
            target_id: d.target_id,
            plugin: d.plugin,
            status: d.status.into(),
            attempts: d.attempts,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at.map(msghub::format_time),
            updated_at: msghub::format_time(d.updated_at),
            digest: d.digest,
        }
    }
}

/// Where a message went: one entry per channel or contact its subscription named.
#[utoipa::path(get, path = "/v1/accounts/{account}/messages/{id}/deliveries", tag = "messages",
    params(
        ("account" = String, Path, description = "The account id"),
        ("id" = String, Path, description = "The message id"),
    ),
    responses(
        (status = 200, description = "The message's deliveries, oldest first", body = Vec<DeliveryView>),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account or message", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_deliveries(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, id)): Path<(String, String)>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    let account = account_id(&account)?;
    let id = message_id(&id)?;
    let list = app.engine().deliveries(&caller, account, id).await?;
    Ok(Json(list.into_iter().map(DeliveryView::from).collect()))
}

/// Takes the message's failed deliveries up again, with a fresh retry schedule.
#[utoipa::path(post, path = "/v1/accounts/{account}/messages/{id}/requeue", tag = "messages",
    params(
        ("account" = String, Path, description = "The account id"),
        ("id" = String, Path, description = "The message id"),
    ),
    responses(
        (status = 200, description = "How many deliveries were requeued", body = crate::api::channels::RequeuedView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account or message", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn requeue_message(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, id)): Path<(String, String)>,
) -> Result<Json<crate::api::channels::RequeuedView>, ApiError> {
    let account = account_id(&account)?;
    let id = message_id(&id)?;
    let requeued = app
        .engine()
        .requeue_failed(&caller, account, msghub::Requeue::Message(id))
        .await?;
    Ok(Json(crate::api::channels::RequeuedView { requeued }))
}
