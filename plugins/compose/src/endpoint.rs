//! The check of a configured endpoint URL, as every `validate-config` runs it.
//!
//! The host enforces the sandbox at send time (declared hosts, public addresses, plain http
//! only to the operator's `MSGHUB_ALLOW_NETWORKS`); these checks catch a wrong URL when the
//! channel is saved, with a message that says what to paste instead. A plugin cannot see the
//! operator's allow-list, so a URL naming an IP address is accepted here, over http or
//! https, and the host decides when sending. Messages never quote the URL: it holds the
//! robot's token.

/// Where a channel's URL must point.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// The configuration field, e.g. `webhook_url`.
    pub field: &'a str,
    /// The service's hosts; empty when any public host will do (a custom webhook).
    pub hosts: &'a [&'a str],
    /// The path the service's URLs have.
    pub path: PathRule<'a>,
    /// A query parameter the URL must carry with a value, e.g. `access_token`.
    pub query_key: Option<&'a str>,
    /// What a good URL looks like, for the error message.
    pub example: &'a str,
}

/// How a URL's path must look.
#[derive(Debug, Clone, Copy)]
pub enum PathRule<'a> {
    /// Any path.
    Any,
    /// Exactly this path.
    Exact(&'a str),
    /// This prefix followed by something (the token).
    Prefix(&'a str),
}

/// The parts of a URL that the checks look at.
#[derive(Debug, PartialEq, Eq)]
struct Parts<'a> {
    https: bool,
    host: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

fn split(url: &str) -> Option<Parts<'_>> {
    let (https, rest) = match url.split_once("://")? {
        ("https", rest) => (true, rest),
        ("http", rest) => (false, rest),
        _ => return None,
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(end);
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, port) = bracketed.split_once(']')?;
        check_port(port.strip_prefix(':'))?;
        host
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        check_port(port)?;
        host
    };
    (!host.is_empty()).then_some(Parts {
        https,
        host,
        path,
        query,
    })
}

fn check_port(port: Option<&str>) -> Option<()> {
    match port {
        None => Some(()),
        Some(port) => port.parse::<u16>().ok().filter(|p| *p != 0).map(|_| ()),
    }
}

fn is_ip_literal(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

impl Endpoint<'_> {
    /// Checks `url`; the error names the field, what is wrong and what to paste instead.
    pub fn check(&self, url: &str) -> Result<(), String> {
        let field = self.field;
        let example = self.example;
        if url.trim().is_empty() {
            return Err(format!("{field} is empty: paste the URL, like {example}"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) || url.contains(['#', '@']) {
            return Err(format!(
                "{field} is not a valid URL (it holds spaces, '#' or '@'): paste it as the \
                 service shows it, like {example}"
            ));
        }
        let Some(parts) = split(url) else {
            return Err(format!(
                "{field} must be an https:// URL with a host, like {example}"
            ));
        };
        let host = parts.host.to_ascii_lowercase();
        if is_ip_literal(&host) {
            // Only the operator's allow-listed networks are reachable by address; the host
            // decides at send time.
        } else if !self.hosts.is_empty() && !self.hosts.contains(&host.as_str()) {
            return Err(format!(
                "{field} must point at {} (got host '{host}'), like {example}",
                self.hosts.join(" or ")
            ));
        } else if !parts.https {
            return Err(format!(
                "{field} must use https:// (plain http is allowed only to an address in the \
                 operator's MSGHUB_ALLOW_NETWORKS), like {example}"
            ));
        }
        self.check_path(&parts)
    }

    fn check_path(&self, parts: &Parts<'_>) -> Result<(), String> {
        let path_ok = match self.path {
            PathRule::Any => true,
            PathRule::Exact(path) => parts.path == path,
            PathRule::Prefix(prefix) => parts
                .path
                .strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty()),
        };
        let query_ok = self.query_key.is_none_or(|key| {
            parts.query.is_some_and(|query| {
                query.split('&').any(|pair| {
                    pair.split_once('=')
                        .is_some_and(|(k, v)| k == key && !v.is_empty())
                })
            })
        });
        if path_ok && query_ok {
            return Ok(());
        }
        let (field, example) = (self.field, self.example);
        Err(match self.query_key {
            Some(key) if !query_ok => format!(
                "{field} lacks its {key}: copy the whole webhook URL the robot's settings \
                 show, like {example}"
            ),
            _ => format!(
                "{field} is not a webhook URL of this service (wrong path): copy it from the \
                 robot's settings, like {example}"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DINGTALK: Endpoint<'static> = Endpoint {
        field: "webhook_url",
        hosts: &["oapi.dingtalk.com"],
        path: PathRule::Exact("/robot/send"),
        query_key: Some("access_token"),
        example: "https://oapi.dingtalk.com/robot/send?access_token=...",
    };

    #[test]
    fn the_service_url_over_https_passes() {
        assert!(
            DINGTALK
                .check("https://oapi.dingtalk.com/robot/send?access_token=abc")
                .is_ok()
        );
    }

    #[test]
    fn an_address_passes_over_http_for_the_host_to_judge() {
        assert!(
            DINGTALK
                .check("http://127.0.0.1:8080/robot/send?access_token=abc")
                .is_ok()
        );
        assert!(
            DINGTALK
                .check("http://[::1]:8080/robot/send?access_token=abc")
                .is_ok()
        );
    }

    #[test]
    fn wrong_scheme_host_path_or_token_are_refused_without_quoting_the_url() {
        let cases = [
            (
                "http://oapi.dingtalk.com/robot/send?access_token=abc",
                "https://",
            ),
            (
                "ftp://oapi.dingtalk.com/robot/send?access_token=abc",
                "https://",
            ),
            (
                "https://evil.example/robot/send?access_token=abc",
                "'evil.example'",
            ),
            (
                "https://oapi.dingtalk.com/robot/sent?access_token=abc",
                "wrong path",
            ),
            (
                "https://oapi.dingtalk.com/robot/send?access_token=",
                "access_token",
            ),
            ("https://oapi.dingtalk.com/robot/send", "access_token"),
            (
                "https://oapi.dingtalk.com:99999/robot/send?access_token=abc",
                "https://",
            ),
            ("oapi.dingtalk.com/robot/send?access_token=abc", "https://"),
            ("", "empty"),
        ];
        for (url, expected) in cases {
            let e = DINGTALK.check(url).unwrap_err();
            assert!(e.contains(expected), "{url}: {e}");
            assert!(e.starts_with("webhook_url"), "{url}: {e}");
            assert!(!e.contains("access_token=abc"), "{url}: {e}");
        }
    }

    #[test]
    fn any_public_host_passes_when_none_is_declared() {
        let any = Endpoint {
            field: "url",
            hosts: &[],
            path: PathRule::Any,
            query_key: None,
            example: "https://example.com/hooks/msghub",
        };
        assert!(any.check("https://hooks.example.org/in").is_ok());
        assert!(any.check("http://hooks.example.org/in").is_err());
    }
}
