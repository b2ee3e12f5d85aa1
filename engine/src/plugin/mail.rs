//! The `mail` import: plugins render whole RFC 5322 messages, this submits them over SMTP
//! to the operator's relay with lettre.
//!
//! It changes a message in three ways only: every line ends in CRLF (a bare `\n` or `\r`
//! becomes CRLF, so lettre's dot-stuffing sees every line start and a lone `.` cannot end
//! the data early), the From header is the operator's `mail_from`, whatever the plugin
//! wrote there (a relay trusts msghub's From), and a contact's mail carries the host's
//! `List-Unsubscribe` (and `List-Unsubscribe-Post`) headers in place of the plugin's, so
//! that no plugin can point a recipient at another contact's unsubscribe link.

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
    /// Whether the transport insists on STARTTLS because it carries credentials.
    requires_starttls: bool,
    from: String,
    from_address: Address,
}

impl Mailer {
    /// A mailer for `smtp_url` (see `PluginConfig::smtp_url`), sending as `from`.
    pub(crate) fn new(
        smtp_url: Option<&str>,
        allow_plaintext_auth: bool,
        from: &str,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let from_address =
            bare_address(from)
                .parse::<Address>()
                .map_err(|_| ConfigError::InvalidMailFrom {
                    value: from.to_owned(),
                })?;
        let relay = smtp_url
            .map(|url| transport(url, allow_plaintext_auth, timeout))
            .transpose()?;
        let requires_starttls = relay.as_ref().is_some_and(|r| r.requires_starttls);
        Ok(Mailer {
            transport: relay.map(|r| r.transport),
            requires_starttls,
            from: from.to_owned(),
            from_address,
        })
    }

    /// The From address plugins put in their messages.
    pub(crate) fn sender(&self) -> &str {
        &self.from
    }

    /// Submits `message` to `to`, with the unsubscribe headers of `unsubscribe` (a
    /// contact's delivery); the relay's answer, or why not.
    pub(crate) async fn submit(
        &self,
        to: &[String],
        message: &[u8],
        unsubscribe: Option<&super::MailUnsubscribe>,
    ) -> Result<String, MailError> {
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
        let mut headers = vec![("From", self.from.clone())];
        if let Some(unsubscribe) = unsubscribe {
            headers.extend(unsubscribe_headers(unsubscribe, bare_address(&self.from)));
        }
        let message = with_host_headers(&crlf_lines(message), &headers);
        match transport.send_raw(&envelope, &message).await {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            // lettre stops before AUTH when a relay that must upgrade offers no STARTTLS;
            // say why, and what the operator can change.
            Err(e) if self.requires_starttls && e.to_string().contains("STARTTLS") => {
                Err(MailError::NotConfigured(
                    "the SMTP relay offers no STARTTLS, so its credentials would travel in plain \
                     text; msghub did not send them. Use smtps://, a relay with STARTTLS, or set \
                     MSGHUB_SMTP_ALLOW_PLAINTEXT_AUTH=true for a relay on a trusted link"
                        .to_owned(),
                ))
            }
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

/// The `List-Unsubscribe` headers of a contact's mail: the one-click URL (when there is
/// one) and a mailto to `mailbox` whose subject names the token, then
/// `List-Unsubscribe-Post`, which RFC 8058 allows only beside an https URL.
fn unsubscribe_headers(
    unsubscribe: &super::MailUnsubscribe,
    mailbox: &str,
) -> Vec<(&'static str, String)> {
    // The token is base64url: nothing in it needs escaping in a URL or a header.
    let mailto = format!(
        "<mailto:{mailbox}?subject=unsubscribe%20{}>",
        unsubscribe.token
    );
    match &unsubscribe.url {
        Some(url) => {
            let mut headers = vec![("List-Unsubscribe", format!("<{url}>, {mailto}"))];
            if url.starts_with("https://") {
                headers.push((
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
            }
            headers
        }
        None => vec![("List-Unsubscribe", mailto)],
    }
}

/// `message` (CRLF lines) with every header named in `headers` (with its folded lines)
/// replaced by the given ones, at the top.
fn with_host_headers(message: &[u8], headers: &[(&str, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 256);
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
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
            // Header names are compared without case, and without white space before
            // the colon (`From :` is still From to many readers).
            let name = line
                .iter()
                .position(|b| *b == b':')
                .map_or(&line[..0], |colon| line[..colon].trim_ascii_end());
            in_from = headers
                .iter()
                .any(|(host, _)| name.eq_ignore_ascii_case(host.as_bytes()));
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

/// The relay's transport, and whether it insists on STARTTLS.
struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    requires_starttls: bool,
}

/// `smtp://` sends in plain text or upgrades with STARTTLS when the relay offers it;
/// `smtps://` speaks TLS from the start. `user:pass@` logs in: then `smtp://` requires
/// STARTTLS, so the password never crosses the network in clear, unless
/// `allow_plaintext_auth`.
fn transport(
    url: &str,
    allow_plaintext_auth: bool,
    timeout: Duration,
) -> Result<Relay, ConfigError> {
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
    let has_credentials = !parsed.username().is_empty();
    let requires_starttls = parsed.scheme() == "smtp" && has_credentials && !allow_plaintext_auth;
    let (tls, default_port) = match parsed.scheme() {
        "smtp" if requires_starttls => (Tls::Required(tls_parameters()?), 25),
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
    if has_credentials {
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| invalid("the credentials are not valid UTF-8".into()))
        };
        let user = decode(parsed.username())?;
        let password = decode(parsed.password().unwrap_or_default())?;
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(Relay {
        transport: builder.build(),
        requires_starttls,
    })
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
        assert!(transport("smtp://relay.example:2525", false, t).is_ok());
        assert!(transport("smtps://user:p%40ss@relay.example", false, t).is_ok());
        let e = transport("http://user:hunter2@relay.example", false, t)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("'http'"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    /// A relay on loopback that offers AUTH but no STARTTLS, accepts everything, and
    /// records each command line it receives.
    fn plaintext_relay() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4).flatten() {
                let mut out = stream.try_clone().expect("clone");
                let _ = out.write_all(b"220 relay ESMTP\r\n");
                let mut in_data = false;
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().expect("log").push(line.clone());
                    if in_data {
                        if line == "." {
                            in_data = false;
                            let _ = out.write_all(b"250 queued\r\n");
                        }
                        continue;
                    }
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-relay\r\n250 AUTH PLAIN LOGIN\r\n",
                        "AUTH" => b"235 authenticated\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 go on\r\n"
                        }
                        "QUIT" => b"221 bye\r\n",
                        _ => b"250 ok\r\n",
                    };
                    let _ = out.write_all(reply);
                }
            }
        });
        (port, seen)
    }

    const MAIL: &[u8] =
        b"From: hub@example.com\r\nTo: ops@example.com\r\nSubject: hi\r\n\r\nhi\r\n";

    #[tokio::test]
    async fn credentials_never_go_in_plain_text_to_a_relay_without_starttls() {
        let (port, seen) = plaintext_relay();
        let url = format!("smtp://hub:hunter2@127.0.0.1:{port}");
        let mailer = Mailer::new(Some(&url), false, "hub@example.com", Duration::from_secs(5))
            .expect("a valid relay");
        let refused = mailer
            .submit(&["ops@example.com".to_owned()], MAIL, None)
            .await;
        let Err(MailError::NotConfigured(why)) = refused else {
            panic!("sent over a plain-text relay: {refused:?}");
        };
        assert!(why.contains("MSGHUB_SMTP_ALLOW_PLAINTEXT_AUTH"), "{why}");
        let seen = seen.lock().expect("log").clone();
        assert!(
            !seen
                .iter()
                .any(|l| l.to_ascii_uppercase().starts_with("AUTH")),
            "the relay received credentials: {seen:?}"
        );
    }

    #[tokio::test]
    async fn the_operator_may_allow_plain_text_credentials_to_a_trusted_relay() {
        let (port, seen) = plaintext_relay();
        let url = format!("smtp://hub:hunter2@127.0.0.1:{port}");
        let mailer = Mailer::new(Some(&url), true, "hub@example.com", Duration::from_secs(5))
            .expect("a valid relay");
        let sent = mailer
            .submit(&["ops@example.com".to_owned()], MAIL, None)
            .await;
        assert!(sent.is_ok(), "{sent:?}");
        let seen = seen.lock().expect("log").clone();
        assert!(
            seen.iter()
                .any(|l| l.to_ascii_uppercase().starts_with("AUTH")),
            "{seen:?}"
        );
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
            String::from_utf8(with_host_headers(
                message,
                &[("From", "hub <hub@example.com>".to_owned())]
            ))
            .unwrap(),
            "From: hub <hub@example.com>\r\nTo: a@x\r\nSubject: s\r\n\r\nFrom: body\r\n"
        );
    }

    #[test]
    fn a_contacts_unsubscribe_headers_are_the_hosts_whatever_the_plugin_wrote() {
        let message = b"To: a@x\r\nList-Unsubscribe: <https://evil.test/u/other>\r\n\
            list-unsubscribe-post : List-Unsubscribe=One-Click\r\nSubject: s\r\n\r\nbody\r\n";
        let one_click = super::super::MailUnsubscribe {
            token: "TOKEN".to_owned(),
            url: Some("https://hub.example.com/unsubscribe/TOKEN".to_owned()),
        };
        let mut headers = vec![("From", "hub@example.com".to_owned())];
        headers.extend(unsubscribe_headers(&one_click, "hub@example.com"));
        assert_eq!(
            String::from_utf8(with_host_headers(message, &headers)).unwrap(),
            "From: hub@example.com\r\n\
             List-Unsubscribe: <https://hub.example.com/unsubscribe/TOKEN>, \
             <mailto:hub@example.com?subject=unsubscribe%20TOKEN>\r\n\
             List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
             To: a@x\r\nSubject: s\r\n\r\nbody\r\n"
        );
        // Without a public URL: the mailto form only, and no Post header.
        let mailto_only = super::super::MailUnsubscribe {
            token: "TOKEN".to_owned(),
            url: None,
        };
        assert_eq!(
            unsubscribe_headers(&mailto_only, "hub@example.com"),
            [(
                "List-Unsubscribe",
                "<mailto:hub@example.com?subject=unsubscribe%20TOKEN>".to_owned()
            )]
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
