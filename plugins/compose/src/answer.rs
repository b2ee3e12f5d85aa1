//! Reading a service's answer: the HTTP failures every service shares, and the status code
//! that chat robots put in a JSON body.

use msghub_sdk::SendError;
use msghub_sdk::http::Response;

/// The failures HTTP itself says, before the service's body is read: 429 is throttling
/// (with `Retry-After` when given), 5xx a passing failure.
pub fn http_failure(service: &str, response: &Response) -> Option<SendError> {
    let status = response.status;
    let said = || msghub_sdk::text::truncate(response.text().trim(), 200);
    match status {
        429 => Some(SendError::rate_limited(
            format!("{service} throttled the sender (HTTP 429): {}", said()),
            response.retry_after_secs(),
        )),
        500..=599 => Some(SendError::retryable(format!(
            "{service} failed for now (HTTP {status}): {}",
            said()
        ))),
        _ => None,
    }
}

/// The service's code and message from a JSON body, e.g. `{"errcode": 0, "errmsg": "ok"}`,
/// or `None` when the body is not JSON or has no such code.
pub fn json_code(body: &[u8], code_field: &str, message_field: &str) -> Option<(i64, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value.get(code_field)?.as_i64()?;
    let message = value
        .get(message_field)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>, body: &str) -> Response {
        Response {
            status,
            headers: retry_after
                .map(|v| vec![("retry-after".to_owned(), v.as_bytes().to_vec())])
                .unwrap_or_default(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn throttling_and_server_failures_come_from_the_status() {
        assert_eq!(
            http_failure("Slack", &response(429, Some("7"), "slow down")),
            Some(SendError::rate_limited(
                "Slack throttled the sender (HTTP 429): slow down",
                Some(7)
            ))
        );
        assert!(matches!(
            http_failure("Slack", &response(502, None, "")),
            Some(SendError::Retryable(_))
        ));
        assert_eq!(http_failure("Slack", &response(200, None, "ok")), None);
        assert_eq!(http_failure("Slack", &response(404, None, "")), None);
    }

    #[test]
    fn json_codes_are_read_when_present() {
        assert_eq!(
            json_code(br#"{"errcode":45009,"errmsg":"freq"}"#, "errcode", "errmsg"),
            Some((45009, "freq".to_owned()))
        );
        assert_eq!(json_code(b"<html>", "errcode", "errmsg"), None);
        assert_eq!(json_code(br#"{"code":0}"#, "errcode", "errmsg"), None);
    }
}
