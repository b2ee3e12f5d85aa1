//! The contract's error answer, `{"error": {"code", "message", "field"}}`, and the mapping of
//! engine errors onto HTTP statuses. Every failure the server answers goes through
//! [`ApiError`], so no handler or extractor can answer in another shape.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The contract's code, e.g. `invalid_argument`.
    pub code: &'static str,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// The request field at fault, when one is.
    pub field: Option<String>,
    /// Whole seconds to wait before retrying (a 429); a 503 always says 1.
    pub retry_after: Option<u64>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// One of `invalid_argument`, `unauthenticated`, `forbidden`, `not_found`, `conflict`,
    /// `limit_reached`, `mandatory_rule`, `payload_too_large`, `rate_limited`, `internal`, `unavailable` (and
    /// `method_not_allowed` for a path that exists under another method, `request_timeout`
    /// for a body that did not arrive in time).
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
    /// The request field at fault, if any.
    pub field: Option<String>,
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_argument",
            message: message.into(),
            field: Some(field.into()),
            retry_after: None,
        }
    }

    /// A 400 about the request as a whole (no single field at fault).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_argument",
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A 413 for a body over `limit` bytes.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: format!(
                "the request body is larger than the limit of {limit} bytes; send less per request"
            ),
            field: None,
            retry_after: None,
        }
    }

    /// A 503 while the server is stopping.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// The answer for a path that exists but not under this method.
    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: format!(
                "{method} is not allowed on {path}; the Allow header lists the methods that are"
            ),
            field: None,
            retry_after: None,
        }
    }

    /// Prefixes the field with `prefix.`, for errors found inside a nested object.
    pub fn within(mut self, prefix: &str) -> ApiError {
        if let Some(field) = &self.field
            && !field.starts_with(prefix)
        {
            self.field = Some(format!("{prefix}.{field}"));
        }
        self
    }
}

impl From<msghub::Error> for ApiError {
    fn from(error: msghub::Error) -> ApiError {
        use msghub::ErrorCode;
        let code = error.code();
        let status = match code {
            ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict | ErrorCode::LimitReached | ErrorCode::MandatoryRule => {
                StatusCode::CONFLICT
            }
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %error, "request failed");
        }
        ApiError {
            status,
            code: code.as_str(),
            message: error.to_string(),
            field: error.field().map(str::to_owned),
            retry_after: error
                .retry_after()
                .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        // A 503 is passing (a full queue, a restart) and a 429 ends: say when to come back.
        let retry_after = match self.retry_after {
            Some(seconds) => Some(seconds.max(1)),
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            None => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::http::header::RETRY_AFTER;
    use axum::response::IntoResponse;

    use super::ApiError;

    #[test]
    fn a_full_writer_queue_is_a_503_that_says_when_to_retry() {
        let error = ApiError::from(msghub::Error::Overloaded("8192 changes waiting".into()));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn a_rate_limit_is_a_429_that_says_when_to_retry_in_whole_seconds() {
        let error = ApiError::from(msghub::Error::RateLimited {
            message: "too many test sends".into(),
            retry_after: std::time::Duration::from_millis(2_500),
        });
        assert_eq!(error.code, "rate_limited");
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
    }

    #[test]
    fn a_reached_limit_is_a_409_with_its_own_code() {
        let error = ApiError::from(msghub::Error::LimitReached("1000 channels".into()));
        assert_eq!(error.status, StatusCode::CONFLICT);
        assert_eq!(error.code, "limit_reached");
    }
}
