//! The records stored in redb, encoded with postcard. Changing a layout means bumping
//! [`super::SCHEMA_VERSION`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::access::Policy;
use crate::error::StorageError;
use crate::model::{Category, Severity};

/// An account as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccountRecord {
    pub(crate) name: String,
    pub(crate) created: i64,
    pub(crate) retention_days: u32,
}

/// A user as stored (its token only as a hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub(crate) account: u64,
    pub(crate) name: String,
    pub(crate) policies: Vec<Policy>,
    pub(crate) categories: Option<Vec<Category>>,
    pub(crate) created: i64,
    pub(crate) token_hash: [u8; 32],
}

/// Whom a token hash belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TokenOwner {
    /// The root of this account.
    Root(u64),
    /// This user.
    User(u64),
}

/// A message as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MessageRecord {
    pub(crate) category: Category,
    pub(crate) severity: Severity,
    pub(crate) created: i64,
    pub(crate) subtype: Option<String>,
    pub(crate) title: String,
    pub(crate) body: Option<String>,
    pub(crate) link: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) dedupe_key: Option<String>,
}

/// The text of a stored message, borrowed from the stored bytes: a text search looks at it
/// without copying the message. Its fields mirror the start of [`MessageRecord`].
#[derive(Debug, Deserialize)]
pub(crate) struct MessageText<'a> {
    _category: Category,
    _severity: Severity,
    _created: i64,
    #[serde(borrow)]
    _subtype: Option<&'a str>,
    #[serde(borrow)]
    title: &'a str,
    #[serde(borrow)]
    body: Option<&'a str>,
}

impl MessageText<'_> {
    /// Whether the title or the body contains the search text.
    pub(crate) fn matches(&self, matcher: &crate::filter::TextMatcher) -> bool {
        matcher.matches(self.title) || self.body.is_some_and(|b| matcher.matches(b))
    }
}

pub(crate) fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StorageError> {
    postcard::to_stdvec(value).map_err(|e| StorageError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, StorageError> {
    postcard::from_bytes(bytes).map_err(|e| StorageError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// Packs a message's category, severity and whether it has a dedupe key into one byte.
pub(crate) fn pack(category: Category, severity: Severity, has_dedupe_key: bool) -> u8 {
    category.index() as u8 | (severity.index() as u8) << 4 | u8::from(has_dedupe_key) << 7
}

/// Whether a packed byte says the message has a dedupe key.
pub(crate) fn has_dedupe_key(packed: u8) -> bool {
    packed & 0x80 != 0
}

pub(crate) fn unpack(packed: u8) -> Result<(Category, Severity), StorageError> {
    let category = Category::from_index(usize::from(packed & 0x0f));
    let severity = Severity::from_index(usize::from((packed >> 4) & 0x07));
    category.zip(severity).ok_or(StorageError::Corrupt {
        what: "message index",
        detail: format!("unknown category/severity code {packed:#x}"),
    })
}
