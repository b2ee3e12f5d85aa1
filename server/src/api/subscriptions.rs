//! Which messages of an account go where: one subscription per category under
//! `/v1/accounts/{account}/subscriptions/{category}`, and the routing explanation of a
//! message that would be published, at `/v1/accounts/{account}/routing`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use msghub::{Digest, QuietHours, SubscriptionSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::contract::{Category, Severity, TargetKind};
use crate::api::mandatory::RuleView;
use crate::api::messages::PublishRequest;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Caller, account_id};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions))
        .routes(routes!(
            put_subscription,
            get_subscription,
            delete_subscription
        ))
        .routes(routes!(explain_routing))
}

/// A digest: matching messages are gathered and sent as one summary per target at each
/// cron time.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestView {
    /// A cron expression with seconds first, e.g. `0 0 9 * * *` (09:00:00 every day).
    pub cron: String,
    /// An IANA time zone, e.g. `Asia/Shanghai`; `UTC` when left out.
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// Quiet hours: deliveries that fall between `start` and `end` (local time in `timezone`)
/// wait until `end`, except messages of the `pass` severities. Digests are not affected.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursView {
    /// `HH:MM` (00:00 to 23:59), e.g. `22:00`.
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "22:00")]
    pub start: String,
    /// `HH:MM`, e.g. `07:00`; earlier than `start`, the window crosses midnight; equal to
    /// `start` is 400.
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "07:00")]
    pub end: String,
    /// An IANA time zone, e.g. `Asia/Shanghai`; one that does not exist is 400.
    pub timezone: String,
    /// Severities that go out during quiet hours all the same; `["critical"]` when left
    /// out, `[]` holds every message.
    #[serde(default = "critical_only")]
    #[schema(value_type = Vec<Severity>, max_items = 3)]
    pub pass: Vec<String>,
}

fn critical_only() -> Vec<String> {
    vec!["critical".to_owned()]
}

/// `PUT /v1/accounts/{account}/subscriptions/{category}`: the whole subscription.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSubscriptionRequest {
    /// The subtypes it takes (at most 100, each 1 to 128 characters without control
    /// characters); absent or null for every subtype.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub subtypes: Option<Vec<String>>,
    /// The lowest severity it takes; `info` when left out or null.
    #[serde(default)]
    #[schema(value_type = Option<Severity>)]
    pub min_severity: Option<String>,
    /// Ids of contacts of the account to email, at most 100; an id the account does not
    /// have is 400.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub contacts: Vec<String>,
    /// Ids of channels of the account to deliver to, at most 100; an id the account does
    /// not have is 400.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub channels: Vec<String>,
    /// Gather matching messages into summaries instead of delivering each at once.
    #[serde(default)]
    pub digest: Option<DigestView>,
    /// Hold deliveries during these hours until they end; digests are not affected.
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursView>,
}

/// The subscription of one category.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionView {
    /// The category.
    pub category: Category,
    /// The subtypes it takes; null for every subtype.
    pub subtypes: Option<Vec<String>>,
    /// The lowest severity it takes.
    pub min_severity: Severity,
    /// Contact ids.
    pub contacts: Vec<String>,
    /// Channel ids.
    pub channels: Vec<String>,
    /// The digest schedule; null when each message goes out as it arrives.
    pub digest: Option<DigestView>,
    /// The quiet hours; null when deliveries go out at any hour.
    pub quiet_hours: Option<QuietHoursView>,
    /// When it was last set (RFC 3339).
    pub updated_at: String,
}

impl From<msghub::Subscription> for SubscriptionView {
    fn from(s: msghub::Subscription) -> Self {
        SubscriptionView {
            category: s.category.into(),
            subtypes: s.subtypes,
            min_severity: s.min_severity.into(),
            contacts: s.contacts.iter().map(ToString::to_string).collect(),
            channels: s.channels.iter().map(ToString::to_string).collect(),
            digest: s.digest.map(|d| DigestView {
                cron: d.cron,
                timezone: d.timezone,
            }),
            quiet_hours: s.quiet_hours.map(|q| QuietHoursView {
                start: q.start,
                end: q.end,
                timezone: q.timezone,
                pass: q.pass.iter().map(|s| s.as_str().to_owned()).collect(),
            }),
            updated_at: msghub::format_time(s.updated_at),
        }
    }
}

/// One target a message would reach.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RouteView {
    /// Whether the target is a channel or a contact.
    pub target: TargetKind,
    /// The channel's or contact's id.
    pub target_id: String,
    /// Its name.
    pub name: String,
    /// The plugin that would deliver.
    pub plugin: String,
    /// For a digest: when the summary would go out (RFC 3339); null otherwise.
    pub digest_at: Option<String>,
    /// When quiet hours hold the delivery: when it would go out, their end (RFC 3339);
    /// null when it would go out at once.
    pub held_until: Option<String>,
}

/// Where a message would go if it were published now, and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoutingView {
    /// The message's category.
    pub category: Category,
    /// Whether the category's subscription takes the message.
    pub matched: bool,
    /// Why (or why not), in words.
    pub reason: String,
    /// The subscription consulted; null when the category has none.
    pub subscription: Option<SubscriptionView>,
    /// The targets besides the inbox (which receives every message).
    pub targets: Vec<RouteView>,
    /// The operator's mandatory rule that covers the message, if one does: it goes to the
    /// subscription's targets whatever the subscription's subtypes and minimum severity
    /// say. Null when no rule covers it.
    pub mandatory_rule: Option<RuleView>,
}

impl From<msghub::Routing> for RoutingView {
    fn from(r: msghub::Routing) -> Self {
        RoutingView {
            category: r.category.into(),
            matched: r.matched,
            reason: r.reason,
            subscription: r.subscription.map(SubscriptionView::from),
            targets: r
                .targets
                .into_iter()
                .map(|t| RouteView {
                    target: t.target.into(),
                    target_id: t.target_id,
                    name: t.name,
                    plugin: t.plugin,
                    digest_at: t.digest_at.map(msghub::format_time),
                    held_until: t.held_until.map(msghub::format_time),
                })
                .collect(),
            mandatory_rule: r.mandatory_rule.map(RuleView::from),
        }
    }
}

fn category_of(text: &str) -> Result<msghub::Category, ApiError> {
    msghub::Category::parse_field(text, "category").map_err(|_| {
        ApiError::not_found(format!(
            "category '{text}' does not exist; use account, product, security, exception, activity or service"
        ))
    })
}

impl PutSubscriptionRequest {
    fn into_spec(self) -> Result<SubscriptionSpec, ApiError> {
        let contacts = self
            .contacts
            .iter()
            .map(|id| {
                id.parse().map_err(|_| {
                    ApiError::invalid("contacts", format!("contact {id} does not exist"))
                })
            })
            .collect::<Result<_, _>>()?;
        let channels = self
            .channels
            .iter()
            .map(|id| {
                id.parse().map_err(|_| {
                    ApiError::invalid("channels", format!("channel {id} does not exist"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(SubscriptionSpec {
            subtypes: self.subtypes,
            min_severity: self
                .min_severity
                .as_deref()
                .map(|s| msghub::Severity::parse_field(s, "min_severity"))
                .transpose()?,
            contacts,
            channels,
            digest: self.digest.map(|d| Digest {
                cron: d.cron,
                timezone: d.timezone,
            }),
            quiet_hours: self
                .quiet_hours
                .map(|q| -> Result<QuietHours, ApiError> {
                    Ok(QuietHours {
                        start: q.start,
                        end: q.end,
                        timezone: q.timezone,
                        pass: q
                            .pass
                            .iter()
                            .map(|s| msghub::Severity::parse_field(s, "quiet_hours.pass"))
                            .collect::<Result<_, _>>()?,
                    })
                })
                .transpose()?,
        })
    }
}

/// Every subscription of the account, one per configured category.
#[utoipa::path(get, path = "/v1/accounts/{account}/subscriptions", tag = "subscriptions",
    params(("account" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The subscriptions", body = Vec<SubscriptionView>),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_subscriptions(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
) -> Result<Json<Vec<SubscriptionView>>, ApiError> {
    let account = account_id(&account)?;
    let list = app.engine().subscriptions(&caller, account)?;
    Ok(Json(list.into_iter().map(SubscriptionView::from).collect()))
}

/// Sets (replaces) the subscription of a category. What a previous digest had gathered
/// goes out at once.
#[utoipa::path(put, path = "/v1/accounts/{account}/subscriptions/{category}", tag = "subscriptions",
    params(
        ("account" = String, Path, description = "The account id"),
        ("category" = Category, Path, description = "The category; another name is 404"),
    ),
    request_body = PutSubscriptionRequest,
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
        (status = 400, description = "Unknown contact or channel, bad severity, cron expression or time zone", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account or category", body = ErrorBody),
        (status = 409, description = "No channel and no contact while a mandatory rule covers the category (`mandatory_rule`; the message names the rule)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn put_subscription(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, category)): Path<(String, String)>,
    ApiJson(body): ApiJson<PutSubscriptionRequest>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let account = account_id(&account)?;
    let category = category_of(&category)?;
    let subscription = app
        .engine()
        .put_subscription(&caller, account, category, body.into_spec()?)
        .await?;
    Ok(Json(subscription.into()))
}

/// The subscription of a category.
#[utoipa::path(get, path = "/v1/accounts/{account}/subscriptions/{category}", tag = "subscriptions",
    params(
        ("account" = String, Path, description = "The account id"),
        ("category" = Category, Path, description = "The category; another name is 404"),
    ),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account, or no subscription for the category", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn get_subscription(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, category)): Path<(String, String)>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let account = account_id(&account)?;
    let category = category_of(&category)?;
    Ok(Json(
        app.engine()
            .subscription(&caller, account, category)?
            .into(),
    ))
}

/// Removes the subscription of a category; what its digest had gathered goes out at once.
#[utoipa::path(delete, path = "/v1/accounts/{account}/subscriptions/{category}", tag = "subscriptions",
    params(
        ("account" = String, Path, description = "The account id"),
        ("category" = Category, Path, description = "The category; another name is 404"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account, or no subscription for the category", body = ErrorBody),
        (status = 409, description = "A mandatory rule covers the category (`mandatory_rule`; the message names the rule)", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn delete_subscription(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((account, category)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(&account)?;
    let category = category_of(&category)?;
    app.engine()
        .delete_subscription(&caller, account, category)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where a message with this body would go if it were published now, and why. Nothing is
/// stored or sent.
#[utoipa::path(post, path = "/v1/accounts/{account}/routing", tag = "subscriptions",
    params(("account" = String, Path, description = "The account id")),
    request_body = PublishRequest,
    responses(
        (status = 200, description = "The subscription consulted and the targets", body = RoutingView),
        (status = 400, description = "A field breaks a rule", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn explain_routing(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<PublishRequest>,
) -> Result<Json<RoutingView>, ApiError> {
    let account = account_id(&account)?;
    let routing = app
        .engine()
        .explain_routing(&caller, account, body.into_message()?)?;
    Ok(Json(routing.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_cannot_exist_are_refused_by_field() {
        let request = PutSubscriptionRequest {
            contacts: vec!["nope".into()],
            ..Default::default()
        };
        let error = request.into_spec().unwrap_err();
        assert!(format!("{error:?}").contains("contacts"), "{error:?}");
        let request = PutSubscriptionRequest {
            channels: vec!["cnt_x".into()],
            ..Default::default()
        };
        let error = request.into_spec().unwrap_err();
        assert!(format!("{error:?}").contains("channels"), "{error:?}");
    }

    #[test]
    fn a_digest_without_a_time_zone_is_utc() {
        let digest: DigestView = serde_json::from_str(r#"{"cron": "0 0 9 * * *"}"#).unwrap();
        assert_eq!(digest.timezone, "UTC");
    }
}
