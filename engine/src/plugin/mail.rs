//! The `mail` import: plugins render whole RFC 5322 messages, this submits them over SMTP
//! to the operator's relay with lettre.
//!
//! It changes a message in two ways only, both for the relay's sake: every line ends in
//! CRLF (a bare `\n` or `\r` becomes CRLF, so lettre's dot-stuffing sees every line start
//! and a lone `.` cannot end the data early), and the From header is the operator's
//! `mail_from`, whatever the plugin wrote there (a relay trusts msghub's From).

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
        let message = with_host_from(&crlf_lines(message), &self.from);
        match transport.send_raw(&envelope, &message).await {
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

/// `message` with every line ending in CRLF: bare `\n` and bare `\r` become CRLF.
fn crlf_lines(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 32);
    let mut bytes = message.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' => {
                bytes.next_if_eq(&b'\n');
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
    }
    out
}

/// `message` (CRLF lines) with its From headers (and their folded lines) replaced by one
/// `From: {from}` at the top.
fn with_host_from(message: &[u8], from: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + from.len() + 8);
    out.extend_from_slice(b"From: ");
    out.extend_from_slice(from.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut rest = message;
    let mut in_from = false;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |i| i + 2);
        let (line, after) = rest.split_at(end);
        if line == b"\r\n" {
            // The blank line: the body follows, unchanged.
            out.extend_from_slice(rest);
            return out;
        }
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            in_from = line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"from:");
        }
        if !in_from {
            out.extend_from_slice(line);
        }
        rest = after;
    }
    out
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
    fn bare_line_ends_become_crlf_so_a_lone_dot_cannot_end_the_data() {
        assert_eq!(crlf_lines(b"a\n.\nb\rc\r\nd"), b"a\r\n.\r\nb\r\nc\r\nd");
    }

    #[test]
    fn the_plugins_from_headers_are_replaced_by_the_operators() {
        let message =
            b"To: a@x\r\nFROM: ceo@bank.test\r\n (folded)\r\nSubject: s\r\n\r\nFrom: body\r\n";
        assert_eq!(
            String::from_utf8(with_host_from(message, "hub <hub@example.com>")).unwrap(),
            "From: hub <hub@example.com>\r\nTo: a@x\r\nSubject: s\r\n\r\nFrom: body\r\n"
        );
    }

    #[test]
    fn credentials_are_percent_decoded() {
        assert_eq!(
            percent_decode("p%40ss%3Aword").as_deref(),
            Some("p@ss:word")
        );
    }
}
