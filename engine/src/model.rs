//! The message model: categories, severities, messages and their validation.
//!
//! Owns the rules of what a message may contain (the limits of the HTTP contract). It never
//! touches storage: the store keeps what this module has already accepted.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Error;
use crate::ids::{AccountId, MessageId};

/// The six kinds of notice an inbox sorts messages into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Account notices: sign-ins, profile and ownership changes.
    Account,
    /// Product notices: resources expiring, quotas, version end of life.
    Product,
    /// Security notices: attacks, vulnerabilities, leaked keys.
    Security,
    /// Exceptions: failures and outages of the customer's resources.
    Exception,
    /// Activities: campaigns, events and offers.
    Activity,
    /// Service notices: maintenance, billing and platform announcements.
    Service,
}

impl Category {
    /// Every category, in the order the contract lists them.
    pub const ALL: [Category; 6] = [
        Category::Account,
        Category::Product,
        Category::Security,
        Category::Exception,
        Category::Activity,
        Category::Service,
    ];

    /// The category's name as it appears in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Account => "account",
            Category::Product => "product",
            Category::Security => "security",
            Category::Exception => "exception",
            Category::Activity => "activity",
            Category::Service => "service",
        }
    }

    /// A dense index (0..6), used for bitmaps and compact storage.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The category at a dense index, if there is one.
    pub fn from_index(index: usize) -> Option<Category> {
        Category::ALL.get(index).copied()
    }

    /// Parses a category name, with an error that names `field` and lists the valid names.
    pub fn parse_field(value: &str, field: &str) -> Result<Category, Error> {
        value.parse().map_err(|_| {
            Error::invalid(
                field,
                format!(
                    "category '{value}' is not one of account, product, security, exception, activity, service"
                ),
            )
        })
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

/// How urgent a message is; ordered, so `Info < Warning < Critical`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information; the default.
    #[default]
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// Every severity, from least to most urgent.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    /// The severity's name as it appears in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// A dense index (0..3), used for bitmaps and compact storage.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The severity at a dense index, if there is one.
    pub fn from_index(index: usize) -> Option<Severity> {
        Severity::ALL.get(index).copied()
    }

    /// Parses a severity name, with an error that names `field` and lists the valid names.
    pub fn parse_field(value: &str, field: &str) -> Result<Severity, Error> {
        value.parse().map_err(|_| {
            Error::invalid(
                field,
                format!("severity '{value}' is not one of info, warning, critical"),
            )
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

/// Most characters a title may have.
pub const MAX_TITLE_CHARS: usize = 256;
/// Most bytes of UTF-8 a body may have.
pub const MAX_BODY_BYTES: usize = 65_536;
/// Most characters a subtype may have.
pub const MAX_SUBTYPE_CHARS: usize = 128;
/// Most characters a resource name may have.
pub const MAX_RESOURCE_CHARS: usize = 512;
/// Most bytes a link may have.
pub const MAX_LINK_BYTES: usize = 2048;
/// Most bytes a dedupe key may have.
pub const MAX_DEDUPE_KEY_BYTES: usize = 256;

/// A message as the publishing system submits it, before it is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// Which inbox tab the message belongs to.
    pub category: Option<Category>,
    /// A finer kind inside the category, e.g. `low-balance`; subscriptions can match on it.
    #[serde(default)]
    pub subtype: Option<String>,
    /// A one-line summary, at most 256 characters.
    #[serde(default)]
    pub title: String,
    /// Markdown text, at most 65,536 bytes.
    #[serde(default)]
    pub body: Option<String>,
    /// How urgent it is; `info` when absent.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// An absolute http(s) URL where the reader can act on the message.
    #[serde(default)]
    pub link: Option<String>,
    /// The resource the message is about, e.g. `ecs/i-123`.
    #[serde(default)]
    pub resource: Option<String>,
    /// Publishing again with the same key returns the stored message instead of a new one.
    #[serde(default)]
    pub dedupe_key: Option<String>,
}

impl NewMessage {
    /// A message of `category` with `title`; the other fields can be set afterwards.
    pub fn new(category: Category, title: impl Into<String>) -> NewMessage {
        NewMessage {
            category: Some(category),
            title: title.into(),
            ..NewMessage::default()
        }
    }

    /// Sets the markdown body.
    pub fn body(mut self, body: impl Into<String>) -> NewMessage {
        self.body = Some(body.into());
        self
    }

    /// Sets the severity.
    pub fn severity(mut self, severity: Severity) -> NewMessage {
        self.severity = Some(severity);
        self
    }

    /// Sets the subtype.
    pub fn subtype(mut self, subtype: impl Into<String>) -> NewMessage {
        self.subtype = Some(subtype.into());
        self
    }

    /// Sets the dedupe key.
    pub fn dedupe_key(mut self, key: impl Into<String>) -> NewMessage {
        self.dedupe_key = Some(key.into());
        self
    }

    /// Sets the link.
    pub fn link(mut self, link: impl Into<String>) -> NewMessage {
        self.link = Some(link.into());
        self
    }

    /// Sets the resource.
    pub fn resource(mut self, resource: impl Into<String>) -> NewMessage {
        self.resource = Some(resource.into());
        self
    }

    /// Checks every field against the contract's limits, returning the accepted message or an
    /// error that names the first offending field and says what is allowed.
    pub fn validate(self) -> Result<ValidMessage, Error> {
        let category = self.category.ok_or_else(|| {
            Error::invalid(
                "category",
                "category is required: one of account, product, security, exception, activity, service",
            )
        })?;
        let title = self.title;
        if title.trim().is_empty() {
            return Err(Error::invalid(
                "title",
                "title is required and must not be blank",
            ));
        }
        let title_chars = title.chars().count();
        if title_chars > MAX_TITLE_CHARS {
            return Err(Error::invalid(
                "title",
                format!(
                    "title has {title_chars} characters; at most {MAX_TITLE_CHARS} are allowed"
                ),
            ));
        }
        reject_control("title", &title)?;
        if let Some(body) = &self.body
            && body.len() > MAX_BODY_BYTES
        {
            return Err(Error::invalid(
                "body",
                format!(
                    "body has {} bytes of UTF-8; at most {MAX_BODY_BYTES} are allowed",
                    body.len()
                ),
            ));
        }
        let subtype = optional_text("subtype", self.subtype, MAX_SUBTYPE_CHARS)?;
        let resource = optional_text("resource", self.resource, MAX_RESOURCE_CHARS)?;
        let link = match self.link {
            Some(link) => Some(validate_link(link)?),
            None => None,
        };
        let dedupe_key = match self.dedupe_key {
            Some(key) if key.is_empty() => {
                return Err(Error::invalid(
                    "dedupe_key",
                    "dedupe_key must not be empty; leave it out to publish without deduplication",
                ));
            }
            Some(key) if key.len() > MAX_DEDUPE_KEY_BYTES => {
                return Err(Error::invalid(
                    "dedupe_key",
                    format!(
                        "dedupe_key has {} bytes; at most {MAX_DEDUPE_KEY_BYTES} are allowed",
                        key.len()
                    ),
                ));
            }
            other => other,
        };
        Ok(ValidMessage {
            category,
            subtype,
            title,
            body: self.body,
            severity: self.severity.unwrap_or_default(),
            link,
            resource,
            dedupe_key,
        })
    }
}

fn reject_control(field: &str, value: &str) -> Result<(), Error> {
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("{field} must not contain control characters such as line breaks or tabs"),
        ));
    }
    Ok(())
}

fn optional_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, Error> {
    let Some(value) = value else { return Ok(None) };
    if value.is_empty() {
        return Err(Error::invalid(
            field,
            format!("{field} must not be empty; leave it out instead"),
        ));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(Error::invalid(
            field,
            format!("{field} has {chars} characters; at most {max} are allowed"),
        ));
    }
    reject_control(field, &value)?;
    Ok(Some(value))
}

fn validate_link(link: String) -> Result<String, Error> {
    if link.len() > MAX_LINK_BYTES {
        return Err(Error::invalid(
            "link",
            format!(
                "link has {} bytes; at most {MAX_LINK_BYTES} are allowed",
                link.len()
            ),
        ));
    }
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty()
    });
    if !host_ok || link.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            "link",
            format!("link '{link}' is not an absolute http:// or https:// URL"),
        ));
    }
    Ok(link)
}

/// A message that passed validation: every field within the contract's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidMessage {
    /// The category.
    pub category: Category,
    /// The subtype, if any.
    pub subtype: Option<String>,
    /// The title, never blank.
    pub title: String,
    /// The markdown body, if any.
    pub body: Option<String>,
    /// The severity.
    pub severity: Severity,
    /// The link, an absolute http(s) URL.
    pub link: Option<String>,
    /// The resource, if any.
    pub resource: Option<String>,
    /// The dedupe key, if any.
    pub dedupe_key: Option<String>,
}

/// A stored message as one principal sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The message's id, unique across accounts.
    pub id: MessageId,
    /// The account whose inbox holds it.
    pub account_id: AccountId,
    /// The category.
    pub category: Category,
    /// The subtype, if any.
    pub subtype: Option<String>,
    /// The title.
    pub title: String,
    /// The markdown body, if any.
    pub body: Option<String>,
    /// The severity.
    pub severity: Severity,
    /// The link, if any.
    pub link: Option<String>,
    /// The resource, if any.
    pub resource: Option<String>,
    /// The dedupe key it was published with, if any.
    pub dedupe_key: Option<String>,
    /// When it was stored.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Whether the principal who asked has read it.
    pub read: bool,
}

/// The result of a publish: the message, and whether it is new or a dedupe hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The stored message (the earlier one on a dedupe hit).
    pub message: Message,
    /// `true` when this publish stored a new message; `false` when the dedupe key matched.
    pub created: bool,
}

/// Checks one subtype named somewhere other than a message (a subscription's list).
/// The languages msghub writes its own words in (email subject prefix and footer, digest
/// headings, the test message): every bundled plugin renders both.
pub const LOCALES: [&str; 2] = ["en", "zh-CN"];

/// Checks that `locale` is one of [`LOCALES`]; the error names the field and the choices.
pub fn check_locale(field: &str, locale: &str) -> Result<(), Error> {
    if LOCALES.contains(&locale) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!(
            "locale '{}' is not supported; use one of {}",
            locale.chars().take(64).collect::<String>().escape_debug(),
            LOCALES.join(", ")
        ),
    ))
}

pub(crate) fn check_subtype(field: &str, subtype: &str) -> Result<(), Error> {
    optional_text(field, Some(subtype.to_owned()), MAX_SUBTYPE_CHARS).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: Error) -> String {
        match err {
            Error::InvalidArgument { field, .. } => field,
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn missing_category_names_the_field() {
        let err = NewMessage {
            title: "x".into(),
            ..NewMessage::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(field_of(err), "category");
    }

    #[test]
    fn title_limit_counts_characters_not_bytes() {
        let ok = NewMessage::new(Category::Account, "界".repeat(256));
        assert!(ok.validate().is_ok());
        let too_long = NewMessage::new(Category::Account, "界".repeat(257));
        let err = too_long.validate().unwrap_err();
        assert!(err.to_string().contains("257 characters"), "{err}");
        assert_eq!(field_of(err), "title");
    }

    #[test]
    fn body_limit_counts_bytes() {
        let ok = NewMessage::new(Category::Account, "t").body("a".repeat(MAX_BODY_BYTES));
        assert!(ok.validate().is_ok());
        let err = NewMessage::new(Category::Account, "t")
            .body("a".repeat(MAX_BODY_BYTES + 1))
            .validate()
            .unwrap_err();
        assert_eq!(field_of(err), "body");
    }

    #[test]
    fn blank_title_and_bad_link_are_rejected() {
        let err = NewMessage::new(Category::Account, "  ")
            .validate()
            .unwrap_err();
        assert_eq!(field_of(err), "title");
        for link in ["ftp://x", "https://", "example.com", "https://a b"] {
            let err = NewMessage::new(Category::Account, "t")
                .link(link)
                .validate()
                .unwrap_err();
            assert_eq!(field_of(err), "link", "{link}");
        }
    }

    #[test]
    fn category_errors_list_the_valid_names() {
        let err = Category::parse_field("finance", "category").unwrap_err();
        assert_eq!(
            err.to_string(),
            "category 'finance' is not one of account, product, security, exception, activity, service"
        );
    }
}
