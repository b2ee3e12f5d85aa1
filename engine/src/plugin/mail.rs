//! The `mail` import: plugins render whole RFC 5322 messages, this submits them over SMTP
//! to the operator's relay with lettre. It never changes a message.

use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::bindings::v0_1::msghub::notifier::mail::MailError;
use super::error::ConfigError;

/// The relay connection shared by every call (lettre pools its SMTP connections).
pub(crate) struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: String,
    from_address: Address,
}

impl Mailer {
    /// A mailer for `smtp_url` (see `PluginConfig::smtp_url`), sending as `from`.
    pub(crate) fn new(
        smtp_url: Option<&str>,
        from: &str,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let from_address =
            bare_address(from)
                .parse::<Address>()
                .map_err(|_| ConfigError::InvalidMailFrom {
                    value: from.to_owned(),
                })?;
        let transport = smtp_url.map(|url| transport(url, timeout)).transpose()?;
        Ok(Mailer {
            transport,
            from: from.to_owned(),
            from_address,
        })
    }

    /// The From address plugins put in their messages.
    pub(crate) fn sender(&self) -> &str {
        &self.from
    }

    /// Submits `message` to `to`; the relay's answer, or why not.
    pub(crate) async fn submit(&self, to: &[String], message: &[u8]) -> Result<String, MailError> {
        let Some(transport) = &self.transport else {
            return Err(MailError::NotConfigured(
                "the operator configured no SMTP relay (MSGHUB_SMTP_URL), so no mail can be sent"
                    .to_owned(),
            ));
        };
        let recipients = to
            .iter()
            .map(|a| {
                a.parse::<Address>()
                    .map_err(|_| MailError::Permanent(format!("'{a}' is not an email address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(self.from_address.clone()), recipients)
            .map_err(|e| MailError::Permanent(format!("no valid envelope: {e}")))?;
        match transport.send_raw(&envelope, message).await {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }
}

/// `Name <addr@host>` or `addr@host` -> `addr@host`.
fn bare_address(from: &str) -> &str {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => &from[start + 1..end],
        _ => from.trim(),
    }
}

/// `smtp://` sends in plain text or upgrades with STARTTLS when the relay offers it;
/// `smtps://` speaks TLS from the start. `user:pass@` logs in.
fn transport(
    url: &str,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidSmtpUrl { reason };
    let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| invalid("it names no host".to_owned()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tls_parameters =
        || TlsParameters::new_rustls(host.clone()).map_err(|e| invalid(e.to_string()));
    let (tls, default_port) = match parsed.scheme() {
        "smtp" => (Tls::Opportunistic(tls_parameters()?), 25),
        "smtps" => (Tls::Wrapper(tls_parameters()?), 465),
        other => {
            return Err(invalid(format!(
                "scheme '{other}' is neither smtp:// nor smtps://"
            )));
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
        .port(parsed.port().unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(timeout));
    if !parsed.username().is_empty() {
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| invalid("the credentials are not valid UTF-8".into()))
        };
        let user = decode(parsed.username())?;
        let password = decode(parsed.password().unwrap_or_default())?;
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.build())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_accepts_display_names() {
        assert_eq!(bare_address("msghub <hub@example.com>"), "hub@example.com");
        assert_eq!(bare_address(" hub@example.com "), "hub@example.com");
    }

    #[tokio::test]
    async fn smtp_urls_take_both_schemes_and_refuse_others_without_echoing_secrets() {
        let t = Duration::from_secs(5);
        assert!(transport("smtp://relay.example:2525", t).is_ok());
        assert!(transport("smtps://user:p%40ss@relay.example", t).is_ok());
        let e = transport("http://user:hunter2@relay.example", t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'http'"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn credentials_are_percent_decoded() {
        assert_eq!(
            percent_decode("p%40ss%3Aword").as_deref(),
            Some("p@ss:word")
        );
    }
}
