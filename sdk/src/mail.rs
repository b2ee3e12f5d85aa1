//! Mail submission through the operator's SMTP relay: the plugin renders the whole RFC 5322
//! message, the host submits it.

use crate::SendError;

pub use crate::__private::bindings::msghub::notifier::mail::MailError;

/// The From address the operator configured; use it in the message's `From` header.
pub fn sender() -> String {
    #[cfg(target_arch = "wasm32")]
    return crate::__private::bindings::msghub::notifier::mail::sender();
    #[cfg(not(target_arch = "wasm32"))]
    return "msghub@localhost".to_owned();
}

/// Submits `message` (a complete RFC 5322 message with CRLF line ends) to the envelope
/// recipients `to`. Returns the relay's answer.
///
/// Outside the host (plain `cargo test`) it fails with [`MailError::NotConfigured`].
pub fn submit(to: &[String], message: &[u8]) -> Result<String, MailError> {
    #[cfg(target_arch = "wasm32")]
    return crate::__private::bindings::msghub::notifier::mail::submit(to, message);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (to, message);
        Err(MailError::NotConfigured(
            "mail is only available inside the msghub host".to_owned(),
        ))
    }
}

/// What a [`MailError`] means for a person reading the delivery log.
fn describe(e: &MailError) -> String {
    match e {
        MailError::NotConfigured(m) => format!("no SMTP relay configured: {m}"),
        MailError::Transient(m) => format!("the SMTP relay failed for now: {m}"),
        MailError::Permanent(m) => format!("the SMTP relay refused the message: {m}"),
    }
}

impl From<MailError> for SendError {
    /// A missing relay and a refusal are permanent; a passing failure is retried.
    fn from(e: MailError) -> Self {
        let message = describe(&e);
        match e {
            MailError::Transient(_) => SendError::Retryable(message),
            MailError::NotConfigured(_) | MailError::Permanent(_) => SendError::Permanent(message),
        }
    }
}
