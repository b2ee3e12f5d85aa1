//! Live events of an inbox as Server-Sent Events: `GET /v1/accounts/{account}/events`, and
//! `POST /v1/accounts/{account}/events/ticket` for browsers.
//!
//! A stream sends, for its caller: `message` (a new message it may see), `deleted` (ids of
//! deleted messages it may see), `counts` (its counts after the changes before), `reset`
//! (changes were missed: reload) and `closed` (the server ends the stream: shutdown, the
//! user deleted or its rights changed, or the token revoked). A comment line every 15
//! seconds keeps proxies from closing an idle stream; the token is checked again then.
//!
//! A browser's `EventSource` cannot send an `Authorization` header, and a token in a URL
//! ends up in logs and histories. So a page first asks for a ticket with its token (in the
//! header, as everywhere): a random string valid for one stream of one account, within 60
//! seconds, once. Only the ticket goes into the URL.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use msghub::{AccountId, Event, EventKind, Events, Principal};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::messages::{CountsView, MessageView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, account_id, bearer_token};
use crate::state::AppState;

/// How long a ticket may wait before it opens a stream.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);
/// The most tickets waiting at once, over every caller.
const MAX_TICKETS: usize = 10_000;
/// The most tickets one token may have waiting.
const MAX_TICKETS_PER_TOKEN: usize = 16;
/// How often an idle stream sends a comment line (and its token is checked again).
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a browser waits before it reconnects a dropped stream.
const RETRY_MS: u32 = 3000;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(ticket))
}

/// The tickets waiting to open a stream. Kept in memory: a ticket lives a minute.
#[derive(Default)]
pub struct Tickets {
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    tickets: HashMap<String, Held>,
    per_token: HashMap<String, usize>,
}

struct Held {
    token: String,
    account: AccountId,
    expires: Instant,
}

impl Waiting {
    fn sweep(&mut self, now: Instant) {
        let per_token = &mut self.per_token;
        self.tickets.retain(|_, held| {
            let live = held.expires > now;
            if !live {
                release(per_token, &held.token);
            }
            live
        });
    }
}

fn release(per_token: &mut HashMap<String, usize>, token: &str) {
    if let Some(count) = per_token.get_mut(token) {
        *count -= 1;
        if *count == 0 {
            per_token.remove(token);
        }
    }
}

impl Tickets {
    /// A new ticket for a stream of `account` opened with `token`.
    fn issue(&self, token: &str, account: AccountId) -> Result<String, ApiError> {
        let now = Instant::now();
        let mut waiting = self.waiting.lock();
        if waiting.tickets.len() >= MAX_TICKETS
            || waiting.per_token.get(token).copied().unwrap_or(0) >= MAX_TICKETS_PER_TOKEN
        {
            waiting.sweep(now);
        }
        if waiting.per_token.get(token).copied().unwrap_or(0) >= MAX_TICKETS_PER_TOKEN {
            return Err(too_many(format!(
                "this token has {MAX_TICKETS_PER_TOKEN} tickets waiting; open a stream with one \
                 or wait a minute for them to expire"
            )));
        }
        if waiting.tickets.len() >= MAX_TICKETS {
            return Err(too_many(
                "too many event tickets are waiting on this server; try again in a minute".into(),
            ));
        }
        let ticket = format!("mht_{}", hex(&rand::random::<[u8; 24]>()));
        waiting.tickets.insert(
            ticket.clone(),
            Held {
                token: token.to_owned(),
                account,
                expires: now + TICKET_LIFETIME,
            },
        );
        *waiting.per_token.entry(token.to_owned()).or_default() += 1;
        Ok(ticket)
    }

    /// The token a ticket was issued with, once: the ticket is gone afterwards.
    fn redeem(&self, ticket: &str, account: AccountId) -> Result<String, ApiError> {
        let unknown = || {
            ApiError::from(msghub::Error::Unauthenticated(
                "this ticket is unknown, used already or expired (a ticket opens one stream \
                 within 60 seconds); ask POST /v1/accounts/{account}/events/ticket for a new one"
                    .into(),
            ))
        };
        let mut waiting = self.waiting.lock();
        let held = waiting.tickets.remove(ticket).ok_or_else(unknown)?;
        release(&mut waiting.per_token, &held.token);
        if held.expires <= Instant::now() || held.account != account {
            return Err(unknown());
        }
        Ok(held.token)
    }
}

fn too_many(message: String) -> ApiError {
    ApiError::from(msghub::Error::RateLimited {
        message,
        retry_after: TICKET_LIFETIME,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// A ticket that opens one event stream.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    /// Pass as `ticket` to `GET /v1/accounts/{account}/events`, once, before `expires_at`.
    pub ticket: String,
    /// When the ticket expires (RFC 3339), 60 seconds after it was issued.
    pub expires_at: String,
}

/// A ticket that opens one live event stream of the account for the caller, for browsers
/// (an `EventSource` cannot send the `Authorization` header). Valid once, for 60 seconds.
#[utoipa::path(post, path = "/v1/accounts/{account}/events/ticket", tag = "events",
    params(("account" = String, Path, description = "The account id")),
    responses(
        (status = 201, description = "The ticket", body = TicketView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not allowed to read this account's messages", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 429, description = "Too many tickets waiting", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn ticket(
    State(app): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let account = account_id(&account)?;
    let token = bearer_token(&headers)?;
    let principal = app.engine().authenticate(token)?;
    app.engine().may_watch(&principal, account)?;
    let ticket = app.tickets().issue(token, account)?;
    let expires = app.engine().now()
        + time::Duration::try_from(TICKET_LIFETIME).unwrap_or(time::Duration::MINUTE);
    Ok((
        StatusCode::CREATED,
        Json(TicketView {
            ticket,
            expires_at: msghub::format_time(expires),
        }),
    ))
}

/// A live stream (Server-Sent Events) of the account's inbox for the caller: `message`,
/// `deleted`, `counts`, `reset` and `closed` events (see the API document). Authenticate
/// with the `Authorization` header, or with a `ticket` from
/// `POST /v1/accounts/{account}/events/ticket` (never a token in the URL). Resume with the
/// `Last-Event-ID` header (or `last_event_id`): what happened within the last five minutes
/// is sent first.
#[utoipa::path(get, path = "/v1/accounts/{account}/events", tag = "events",
    params(
        ("account" = String, Path, description = "The account id"),
        ("ticket" = Option<String>, Query, description = "A ticket instead of the Authorization header (for EventSource)"),
        ("last_event_id" = Option<String>, Query, description = "Resume after this event id (the Last-Event-ID header takes precedence)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "The event stream; it does not end until the client leaves or the server stops", content_type = "text/event-stream", body = String),
        (status = 400, description = "An unknown parameter or a malformed event id", body = ErrorBody),
        (status = 401, description = "No or unknown token or ticket", body = ErrorBody),
        (status = 403, description = "Not allowed to read this account's messages", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 429, description = "The account holds as many streams as allowed", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn events(
    State(app): State<AppState>,
    Path(account): Path<String>,
    query: ApiQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    query.only(&["ticket", "last_event_id"])?;
    query.refuse_empty(&["ticket", "last_event_id"])?;
    let account = account_id(&account)?;
    let token = match query.one("ticket") {
        Some(ticket) => {
            if headers.contains_key(AUTHORIZATION) {
                return Err(ApiError::bad_request(
                    "give either a ticket or an Authorization header, not both",
                ));
            }
            app.tickets().redeem(ticket, account)?
        }
        None => bearer_token(&headers)?.to_owned(),
    };
    let principal = app.engine().authenticate(&token)?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .or(query.one("last_event_id"));
    app.engine().may_watch(&principal, account)?;
    let open = app.engine().event_streams_of(account);
    if open >= app.streams_per_account() {
        return Err(ApiError::from(msghub::Error::RateLimited {
            message: format!(
                "this account has {open} event streams open, the most one account may hold \
                 (a quarter of MSGHUB_MAX_CONNECTIONS); close one"
            ),
            retry_after: HEARTBEAT,
        }));
    }
    let events = app.engine().events(&principal, account, last)?;
    let stream = Stream {
        stopped: Box::pin(app.stopped()),
        app,
        events,
        token,
        principal,
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT),
        first: true,
        done: false,
    };
    let body = futures_util::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next_chunk().await?;
        Some((Ok::<Bytes, Infallible>(chunk), stream))
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One open stream, as its body produces it.
struct Stream {
    app: AppState,
    events: Events,
    token: String,
    principal: Principal,
    heartbeat: tokio::time::Interval,
    stopped: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    first: bool,
    done: bool,
}

impl Stream {
    /// The next bytes to send, or `None` once the stream is over.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut out = String::new();
        if self.first {
            self.first = false;
            let _ = write!(out, "retry: {RETRY_MS}\n\n");
        }
        tokio::select! {
            () = &mut self.stopped => {
                self.close(&mut out, "the server is shutting down; reconnect in a moment");
            }
            batch = self.events.next() => match batch {
                Ok(batch) => {
                    for event in batch {
                        if matches!(event.kind, EventKind::Closed(_)) {
                            self.done = true;
                        }
                        write_event(&mut out, event);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a live event stream failed");
                    self.close(&mut out, "the server could not read the changes; reconnect");
                }
            },
            _ = self.heartbeat.tick() => {
                match self.app.engine().authenticate(&self.token) {
                    Ok(now) if now == self.principal => out.push_str(": keep-alive\n\n"),
                    Ok(_) => self.close(
                        &mut out,
                        "the caller's rights changed; open a new stream",
                    ),
                    Err(_) => self.close(&mut out, "the token is no longer valid"),
                }
            }
        }
        Some(Bytes::from(out))
    }

    fn close(&mut self, out: &mut String, reason: &str) {
        self.done = true;
        let data = serde_json::json!({ "reason": reason });
        let _ = write!(
            out,
            "id: {}\nevent: closed\ndata: {data}\n\n",
            self.events.last_id()
        );
    }
}

/// The last messages sent, with their JSON: every stream that sends the same message (the
/// engine shares one per new message among its streams) sends these bytes.
static SENT: Mutex<VecDeque<(Arc<msghub::Message>, Arc<str>)>> =
    parking_lot::const_mutex(VecDeque::new());
/// How many messages [`SENT`] keeps.
const SENT_KEPT: usize = 64;

fn message_json(message: Arc<msghub::Message>) -> Arc<str> {
    if let Some((_, json)) = SENT
        .lock()
        .iter()
        .rev()
        .find(|(m, _)| Arc::ptr_eq(m, &message))
    {
        return json.clone();
    }
    let json: Arc<str> = serde_json::to_string(&MessageView::from((*message).clone()))
        .unwrap_or_default()
        .into();
    let mut sent = SENT.lock();
    if sent.len() >= SENT_KEPT {
        sent.pop_front();
    }
    sent.push_back((message, json.clone()));
    json
}

/// Appends one event in the SSE wire format (JSON on one line: serde_json escapes line
/// breaks inside strings).
fn write_event(out: &mut String, event: Event) {
    let (name, data): (&str, Result<Arc<str>, serde_json::Error>) = match event.kind {
        EventKind::Message(message) => ("message", Ok(message_json(message))),
        EventKind::Deleted(ids) => (
            "deleted",
            serde_json::to_string(&serde_json::json!({
                "ids": ids.iter().map(ToString::to_string).collect::<Vec<_>>()
            }))
            .map(Into::into),
        ),
        EventKind::Counts(counts) => (
            "counts",
            serde_json::to_string(&CountsView::from(counts)).map(Into::into),
        ),
        EventKind::Closed(reason) => (
            "closed",
            serde_json::to_string(&serde_json::json!({ "reason": reason })).map(Into::into),
        ),
        EventKind::Reset(reason) => (
            "reset",
            serde_json::to_string(&serde_json::json!({ "reason": reason })).map(Into::into),
        ),
        _ => return,
    };
    let Ok(data) = data else { return };
    let _ = write!(out, "id: {}\nevent: {name}\ndata: {data}\n\n", event.id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u8) -> AccountId {
        format!("acc_000000000000{n}")
            .parse()
            .expect("an account id")
    }

    #[test]
    fn a_ticket_opens_one_stream_of_its_account_once() {
        let tickets = Tickets::default();
        let a = account(1);
        let b = account(2);
        let ticket = tickets.issue("token", a).unwrap();
        assert!(ticket.starts_with("mht_") && ticket.len() == 4 + 48);
        assert_eq!(tickets.redeem(&ticket, a).unwrap(), "token");
        assert!(tickets.redeem(&ticket, a).is_err(), "a ticket is used once");
        let other = tickets.issue("token", a).unwrap();
        assert!(
            tickets.redeem(&other, b).is_err(),
            "not for another account"
        );
        assert!(tickets.redeem(&other, a).is_err(), "and spent by the try");
    }

    #[test]
    fn one_token_cannot_hoard_tickets() {
        let tickets = Tickets::default();
        let a = account(1);
        for _ in 0..MAX_TICKETS_PER_TOKEN {
            tickets.issue("greedy", a).unwrap();
        }
        let refused = tickets.issue("greedy", a).unwrap_err();
        assert_eq!(refused.code, "rate_limited");
        assert!(
            tickets.issue("modest", a).is_ok(),
            "others still get theirs"
        );
    }
}
