//! DingTalk's answers: HTTP 200 even on error, so the `errcode` of the body decides.

use msghub_compose::answer::{http_failure, json_code};
use msghub_sdk::http::Response;
use msghub_sdk::{Receipt, SendError};

/// "Sending too fast": the robot is throttled.
const TOO_FAST: i64 = 130_101;
/// Security failure: bad signature, missing keyword, or an IP the robot does not allow.
const SECURITY: i64 = 310_000;
/// Beyond 20 messages a minute DingTalk throttles a robot for 10 minutes.
const THROTTLE_SECS: u32 = 600;

/// What DingTalk's answer means for the delivery.
pub fn outcome(response: &Response) -> Result<Receipt, SendError> {
    if let Some(failure) = http_failure("DingTalk", response) {
        return Err(failure);
    }
    let Some((code, message)) = json_code(&response.body, "errcode", "errmsg") else {
        response.error_for_status()?;
        return Err(SendError::permanent(format!(
            "DingTalk answered HTTP {} without an errcode: is webhook_url a DingTalk robot?",
            response.status
        )));
    };
    match code {
        0 => Ok(Receipt {
            remote_id: None,
            detail: Some(format!("errcode 0: {message}")),
        }),
        TOO_FAST => Err(SendError::rate_limited(
            format!("DingTalk throttled the robot (errcode {code}: {message})"),
            Some(THROTTLE_SECS),
        )),
        SECURITY => Err(SendError::permanent(format!(
            "DingTalk refused the message for security (errcode {code}: {message}): check \
             the channel's secret, its keywords and the robot's IP allow-list"
        ))),
        _ => Err(SendError::permanent(format!(
            "DingTalk refused the message (errcode {code}: {message})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn errcodes_in_an_http_200_decide() {
        assert!(outcome(&answer(200, r#"{"errcode":0,"errmsg":"ok"}"#)).is_ok());
        assert_eq!(
            outcome(&answer(
                200,
                r#"{"errcode":130101,"errmsg":"send too fast"}"#
            )),
            Err(SendError::rate_limited(
                "DingTalk throttled the robot (errcode 130101: send too fast)",
                Some(600)
            ))
        );
        let security = outcome(&answer(
            200,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#,
        ));
        assert!(
            matches!(&security, Err(SendError::Permanent(m)) if m.contains("secret")),
            "{security:?}"
        );
        assert!(matches!(
            outcome(&answer(
                200,
                r#"{"errcode":300001,"errmsg":"token is not exist"}"#
            )),
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn http_failures_and_non_json_answers_are_mapped() {
        assert!(matches!(
            outcome(&answer(503, "")),
            Err(SendError::Retryable(_))
        ));
        assert!(matches!(
            outcome(&answer(404, "nope")),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            outcome(&answer(200, "ok")),
            Err(SendError::Permanent(_))
        ));
    }
}
