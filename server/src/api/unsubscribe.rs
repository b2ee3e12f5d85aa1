//! One-click unsubscribe (RFC 8058) at `/unsubscribe/{token}`, without a token in the
//! `Authorization` header: the signed token in the path names the account, the contact and
//! the category. `POST` (what mail clients send, with `List-Unsubscribe=One-Click`, and
//! what the page's button sends) takes the contact out of that category's subscription;
//! `GET` only shows a page that asks to confirm, since mail scanners follow links.

use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(confirm_page, unsubscribe))
}

/// The form a mail client posts for a one-click unsubscribe (RFC 8058). The server reads
/// no part of it: the token in the path says everything.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OneClickForm {
    /// `One-Click`.
    #[serde(rename = "List-Unsubscribe")]
    #[schema(example = "One-Click")]
    pub list_unsubscribe: Option<String>,
}

/// Shows what the link unsubscribes from, with a button that does it; changes nothing.
#[utoipa::path(get, path = "/unsubscribe/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The token of the mail's List-Unsubscribe link")),
    responses(
        (status = 200, description = "A page that asks to confirm", content_type = "text/html", body = String),
        (status = 404, description = "The link was not issued by this server (or was cut or altered), or its contact or account no longer exists", body = ErrorBody),
    ))]
async fn confirm_page(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let found = app.engine().unsubscription(&token)?;
    let body = if found.subscribed {
        format!(
            "<p>Stop sending <strong>{category}</strong> notifications of <strong>{account}\
             </strong> to <strong>{email}</strong>?</p>\
             <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" \
             value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form>",
            category = found.category,
            account = escape(&found.account_name),
            email = escape(&found.email),
        )
    } else {
        format!(
            "<p><strong>{email}</strong> receives no <strong>{category}</strong> \
             notifications of <strong>{account}</strong>.</p>",
            category = found.category,
            account = escape(&found.account_name),
            email = escape(&found.email),
        )
    };
    Ok(page(&body))
}

/// Takes the contact out of the category's subscription (RFC 8058 one-click: the body,
/// `List-Unsubscribe=One-Click`, is not needed). A second use changes nothing.
#[utoipa::path(post, path = "/unsubscribe/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The token of the mail's List-Unsubscribe link")),
    request_body(content = Option<OneClickForm>, content_type = "application/x-www-form-urlencoded",
        description = "`List-Unsubscribe=One-Click`, as RFC 8058 has mail clients send it; any body is accepted"),
    responses(
        (status = 200, description = "Unsubscribed: a page that says so", content_type = "text/html", body = String),
        (status = 404, description = "The link was not issued by this server (or was cut or altered), or its contact or account no longer exists", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ))]
async fn unsubscribe(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let done = app.engine().unsubscribe(&token).await?;
    Ok(page(&format!(
        "<p><strong>{email}</strong> will receive no more <strong>{category}</strong> \
         notifications of <strong>{account}</strong>.</p>",
        category = done.category,
        account = escape(&done.account_name),
        email = escape(&done.email),
    )))
}

/// A small page: no script, no style (the browser policy allows neither inline).
fn page(body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Unsubscribe</title></head><body><h1>Unsubscribe</h1>{body}</body></html>"
    );
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response()
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
