//! What the bundled channel plugins share, so each plugin holds only its service's wire
//! format, signature and answers.
//!
//! - [`markdown`]: a message body (CommonMark) converted into a service's own dialect:
//!   DingTalk and WeCom markdown, Slack `mrkdwn`, Lark card markdown, HTML, plain text, with
//!   every piece of user text escaped for that dialect.
//! - [`words`]: the fixed words (category, severity, "View details") in `en` or `zh-CN`.
//! - [`fit`]: cutting a body on a character boundary until a rendered payload fits the
//!   service's limit, with a pointer to the full message.
//! - [`answer`]: the HTTP failures every service shares, and JSON status codes.
//! - [`endpoint`]: the checks of a configured URL that every `validate-config` runs.
//! - [`time`]: the delivery's Unix milliseconds as RFC 3339 and RFC 5322 dates.
//! - [`sample`]: messages and deliveries for the plugins' unit tests.
//!
//! Nothing here does I/O: it all runs in `cargo test` on the host.
#![deny(missing_docs)]

pub mod answer;
pub mod endpoint;
pub mod fit;
pub mod markdown;
pub mod sample;
pub mod time;
pub mod words;

pub use markdown::Dialect;
pub use words::Locale;
