//! Extractors that turn every malformed request into the contract's error shape: a JSON body
//! with the body limit, the query string of lists, the caller's token, and ids in paths.
//! axum's own rejections (plain text) never reach a client.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use http_body_util::BodyExt;
use msghub::Principal;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

mod strict;

use strict::{Strict, parse_unique_keys};

/// A JSON request body, read up to the server's body limit and decoded into `T`, with a 400
/// that names the field at fault when it does not decode.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req.into_body(), state.body_limit()).await?;
        decode_json(&bytes).map(ApiJson)
    }
}

/// A JSON request body that may be left out: an empty body reads as `T::default()`, anything
/// else decodes as [`ApiJson`] does. For requests whose every field is optional.
#[derive(Debug)]
pub struct OptionalApiJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req.into_body(), state.body_limit()).await?;
        // An optional body may be left out or sent as JSON `null`, as the document allows.
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
            return Ok(OptionalApiJson(T::default()));
        }
        decode_json(&bytes).map(OptionalApiJson)
    }
}

/// The most bytes drained from a body that is already over the limit, so that the client
/// can read the 413 instead of seeing its connection reset; beyond this the connection is
/// closed.
const DRAIN_LIMIT: usize = 64 << 20;

/// Reads the whole body, or answers 413 when it is larger than `limit`.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = body;
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(format!("the request body could not be read: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            if seen > DRAIN_LIMIT {
                return Err(ApiError::too_large(limit));
            }
            continue;
        }
        bytes.extend_from_slice(&data);
    }
    if seen > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(bytes)
}

/// Decodes a JSON request body, naming the field at fault in the error. Strict where serde
/// is lenient: an object is required wherever the request has one (never an array), and no
/// key may be given twice.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object (Content-Type: application/json)",
        ));
    }
    let value = parse_unique_keys(bytes).map_err(|e| {
        let detail = strip_position(&e.to_string());
        if let Some(field) = between(&detail, "duplicate field `", "`") {
            return ApiError::invalid(
                field,
                format!("{field} is given twice; send each field once"),
            );
        }
        ApiError::bad_request(format!(
            "the request body is not valid JSON ({} at line {}, column {})",
            strip_position(&e.to_string()),
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object, such as {\"name\": \"acme\"}",
        ));
    }
    serde_path_to_error::deserialize(Strict(value)).map_err(json_error)
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let detail = strip_position(&error.inner().to_string());
    let qualified = |name: &str| {
        if path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    // A missing field is reported at its parent; name the field itself.
    if let Some(missing) = between(&detail, "missing field `", "`") {
        let field = qualified(missing);
        return ApiError::invalid(field.clone(), format!("{field} is required"));
    }
    if let Some(unknown) = between(&detail, "unknown field `", "`") {
        // The path already ends at the unknown field.
        let field = if path.ends_with(unknown) {
            path.clone()
        } else {
            qualified(unknown)
        };
        let expected = detail
            .split_once(", expected ")
            .map(|(_, e)| format!("; expected {e}"))
            .unwrap_or_default();
        return ApiError::invalid(
            field.clone(),
            format!("{field} is not a field of this request{expected}"),
        );
    }
    if path == "." {
        return ApiError::bad_request(format!("the request body is not accepted: {detail}"));
    }
    if let Some((expected, got)) = mismatch(&detail) {
        return ApiError::invalid(
            path.clone(),
            format!("{path} must be {expected}, not {got}"),
        );
    }
    ApiError::invalid(path.clone(), format!("{path}: {detail}"))
}

/// Reads serde's "invalid type: X, expected Y" (and "invalid value" for a number out of
/// range) in the words of JSON: ("a JSON object", "an array").
fn mismatch(detail: &str) -> Option<(String, String)> {
    let rest = detail
        .strip_prefix("invalid type: ")
        .or_else(|| detail.strip_prefix("invalid value: "))?;
    let (got, expected) = rest.split_once(", expected ")?;
    let got = match got {
        "sequence" => "an array".to_owned(),
        "map" => "an object".to_owned(),
        "unit value" | "null" => "null".to_owned(),
        other => match other.split_once(' ') {
            Some(("integer" | "floating", number)) => format!(
                "the number {}",
                number.trim_start_matches("point ").trim_matches('`')
            ),
            Some(("boolean", value)) => value.trim_matches('`').to_owned(),
            Some(("string", text)) => format!("the string {text}"),
            _ => other.to_owned(),
        },
    };
    let expected = match expected {
        e if e.starts_with("struct ") || e == "a map" => "a JSON object".to_owned(),
        "a sequence" => "a JSON array".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "u8" => "a whole number from 0 to 255".to_owned(),
        "u16" => "a whole number from 0 to 65535".to_owned(),
        "u32" => "a whole number from 0 to 4294967295".to_owned(),
        "u64" | "usize" => "a whole number from 0 to 18446744073709551615".to_owned(),
        other => other.to_owned(),
    };
    Some((expected, got))
}

fn strip_position(text: &str) -> String {
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// The decoded query string: each parameter with every value it was given, in order.
#[derive(Debug, Default)]
pub struct ApiQuery {
    params: BTreeMap<String, Vec<String>>,
}

impl<S: Send + Sync> FromRequestParts<S> for ApiQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(query) = parts.uri.query() {
            for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
                params
                    .entry(key.into_owned())
                    .or_default()
                    .push(value.into_owned());
            }
        }
        Ok(ApiQuery { params })
    }
}

impl ApiQuery {
    /// Refuses any parameter not in `known`, so that a misspelt filter is not silently
    /// ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.params.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(ApiError::invalid(
                unknown.clone(),
                format!(
                    "'{unknown}' is not a query parameter of this endpoint; use {}",
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// Refuses each of `names` that is given with nothing in it (`?limit=`): a number, a
    /// name from a closed set or a time cannot be empty, and reading it as "left out" would
    /// take what the document refuses.
    pub fn refuse_empty(&self, names: &[&str]) -> Result<(), ApiError> {
        for name in names {
            let Some(values) = self.params.get(*name) else {
                continue;
            };
            if values
                .iter()
                .all(|v| v.split(',').all(|part| part.trim().is_empty()))
            {
                return Err(ApiError::invalid(
                    *name,
                    format!("{name} is empty; leave it out or give it a value"),
                ));
            }
        }
        Ok(())
    }

    /// The last non-empty value of `name`.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .and_then(|values| values.iter().rev().find(|v| !v.is_empty()))
            .map(String::as_str)
    }

    /// Every non-empty value of `name`, comma-separated lists split.
    pub fn list(&self, name: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .params
            .get(name)?
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        (!values.is_empty()).then_some(values)
    }

    /// The page request of a list: `limit` (1 to 200, default 50) and `cursor`.
    pub fn page(&self) -> Result<msghub::PageRequest, ApiError> {
        let mut page = msghub::PageRequest::default();
        self.refuse_empty(&["limit"])?;
        if let Some(limit) = self.one("limit") {
            page.limit = limit.parse().map_err(|_| {
                ApiError::invalid(
                    "limit",
                    format!("limit '{limit}' is not a whole number; use 1 to 200"),
                )
            })?;
        }
        page.cursor = self.one("cursor").map(str::to_owned);
        Ok(page)
    }
}

/// The authenticated caller, from `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)?;
        Ok(Caller(state.engine().authenticate(token)?))
    }
}

/// The token of `Authorization: Bearer <token>`; empty when there is no such header (which
/// authenticates as nobody).
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    match headers.get(AUTHORIZATION) {
        None => Ok(""),
        Some(value) => {
            let value = value.to_str().unwrap_or_default();
            match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
                _ => Err(msghub::Error::Unauthenticated(
                    "the Authorization header must be 'Bearer <token>'".into(),
                )
                .into()),
            }
        }
    }
}

/// Parses an account id from a path; a malformed one cannot exist, so it is 404.
pub fn account_id(text: &str) -> Result<msghub::AccountId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("account {text} does not exist")))
}

/// Parses a user id from a path; a malformed one cannot exist, so it is 404.
pub fn user_id(text: &str) -> Result<msghub::UserId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("user {text} does not exist")))
}

/// Parses a message id from a path; a malformed one cannot exist, so it is 404.
pub fn message_id(text: &str) -> Result<msghub::MessageId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("message {text} does not exist")))
}
