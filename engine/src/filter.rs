//! Filters over an inbox, selections for bulk operations, and paging with opaque cursors.
//!
//! A [`Filter`] is what the list's query parameters say; the inbox turns it into bitmap
//! operations. Cursors carry the position of the last returned item plus a checksum over the
//! account and filter, so a cursor the engine did not issue for this query is refused.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Error;
use crate::ids::MessageId;
use crate::model::{Category, Severity};

/// A set of categories, as a bitmask.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u8);

impl CategorySet {
    /// All six categories.
    pub const ALL: CategorySet = CategorySet(0b11_1111);

    /// The empty set.
    pub const fn empty() -> CategorySet {
        CategorySet(0)
    }

    /// Whether `category` is in the set.
    pub fn contains(self, category: Category) -> bool {
        self.0 & (1 << category.index()) != 0
    }

    /// Adds `category`.
    pub fn insert(&mut self, category: Category) {
        self.0 |= 1 << category.index();
    }

    /// The categories in both sets.
    pub fn intersect(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 & other.0)
    }

    /// Whether no category is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether all six are in the set.
    pub fn is_all(self) -> bool {
        self == CategorySet::ALL
    }

    /// The set as its bitmask, for a cursor's checksum.
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// The categories in the set, in the contract's order.
    pub fn iter(self) -> impl Iterator<Item = Category> {
        Category::ALL.into_iter().filter(move |&c| self.contains(c))
    }

    /// Parses a comma-separated list such as `security,account` (the list query's form).
    pub fn parse_list(text: &str, field: &str) -> Result<CategorySet, Error> {
        Self::from_names(text.split(','), field)
    }

    /// Parses category names, refusing unknown names and an empty list.
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
        field: &str,
    ) -> Result<CategorySet, Error> {
        let mut set = CategorySet::empty();
        for name in names {
            set.insert(Category::parse_field(name.trim(), field)?);
        }
        if set.is_empty() {
            return Err(Error::invalid(
                field,
                format!("{field} must name at least one category, or be left out for all"),
            ));
        }
        Ok(set)
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<T: IntoIterator<Item = Category>>(iter: T) -> Self {
        let mut set = CategorySet::empty();
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl fmt::Debug for CategorySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A set of severities, as a bitmask.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeveritySet(u8);

impl SeveritySet {
    /// All three severities.
    pub const ALL: SeveritySet = SeveritySet(0b111);

    /// Whether `severity` is in the set.
    pub fn contains(self, severity: Severity) -> bool {
        self.0 & (1 << severity.index()) != 0
    }

    /// Adds `severity`.
    pub fn insert(&mut self, severity: Severity) {
        self.0 |= 1 << severity.index();
    }

    /// The severities in the set, least urgent first.
    pub fn iter(self) -> impl Iterator<Item = Severity> {
        Severity::ALL.into_iter().filter(move |&s| self.contains(s))
    }

    /// Whether all three are in the set.
    pub fn is_all(self) -> bool {
        self == SeveritySet::ALL
    }

    /// Parses a comma-separated list such as `warning,critical`.
    pub fn parse_list(text: &str, field: &str) -> Result<SeveritySet, Error> {
        Self::from_names(text.split(','), field)
    }

    /// Parses severity names, refusing unknown names and an empty list.
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
        field: &str,
    ) -> Result<SeveritySet, Error> {
        let mut set = SeveritySet::default();
        for name in names {
            set.insert(Severity::parse_field(name.trim(), field)?);
        }
        if set.0 == 0 {
            return Err(Error::invalid(
                field,
                format!("{field} must name at least one severity, or be left out for all"),
            ));
        }
        Ok(set)
    }
}

impl FromIterator<Severity> for SeveritySet {
    fn from_iter<T: IntoIterator<Item = Severity>>(iter: T) -> Self {
        let mut set = SeveritySet::default();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl fmt::Debug for SeveritySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Which messages by the caller's own read state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ReadStatus {
    /// Read or not.
    #[default]
    All,
    /// Only those the caller has not read.
    Unread,
    /// Only those the caller has read.
    Read,
}

impl ReadStatus {
    /// Parses `all`, `unread` or `read`.
    pub fn parse_field(text: &str, field: &str) -> Result<ReadStatus, Error> {
        match text {
            "all" => Ok(ReadStatus::All),
            "unread" => Ok(ReadStatus::Unread),
            "read" => Ok(ReadStatus::Read),
            other => Err(Error::invalid(
                field,
                format!("status '{other}' is not one of all, unread, read"),
            )),
        }
    }
}

/// Most characters a text search may have.
pub const MAX_QUERY_CHARS: usize = 256;

/// Which messages of an inbox an operation applies to. Every part is optional; an empty
/// filter means every message the caller may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only these categories (intersected with what the caller may see).
    pub categories: Option<CategorySet>,
    /// By the caller's read state.
    pub status: ReadStatus,
    /// Only these severities.
    pub severities: Option<SeveritySet>,
    /// A literal, case-insensitive substring of the title or the body.
    pub text: Option<String>,
    /// Created at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Created before this instant.
    pub until: Option<OffsetDateTime>,
}

impl Filter {
    /// Only these categories.
    pub fn categories(mut self, categories: impl IntoIterator<Item = Category>) -> Filter {
        self.categories = Some(categories.into_iter().collect());
        self
    }

    /// Only messages with this read state for the caller.
    pub fn status(mut self, status: ReadStatus) -> Filter {
        self.status = status;
        self
    }

    /// Only these severities.
    pub fn severities(mut self, severities: impl IntoIterator<Item = Severity>) -> Filter {
        self.severities = Some(severities.into_iter().collect());
        self
    }

    /// Only messages whose title or body contains `text`, ignoring case.
    pub fn text(mut self, text: impl Into<String>) -> Filter {
        self.text = Some(text.into());
        self
    }

    /// Only messages created at or after `since`.
    pub fn since(mut self, since: OffsetDateTime) -> Filter {
        self.since = Some(since);
        self
    }

    /// Only messages created before `until`.
    pub fn until(mut self, until: OffsetDateTime) -> Filter {
        self.until = Some(until);
        self
    }

    /// Checks the parts that can be wrong on their own, naming the field at fault.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Some(set) = self.categories
            && set.is_empty()
        {
            return Err(Error::invalid(
                "category",
                "category must name at least one category, or be left out for all",
            ));
        }
        if let Some(text) = &self.text {
            let chars = text.chars().count();
            if chars > MAX_QUERY_CHARS {
                return Err(Error::invalid(
                    "q",
                    format!("q has {chars} characters; at most {MAX_QUERY_CHARS} are allowed"),
                ));
            }
        }
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since > until
        {
            return Err(Error::invalid(
                "until",
                format!(
                    "until ({}) is before since ({}); since is inclusive, until exclusive",
                    format_time(until),
                    format_time(since)
                ),
            ));
        }
        Ok(())
    }

    /// A stable digest of the filter, so a cursor can be tied to the query that made it.
    fn fingerprint(&self, hasher: &mut Fnv) {
        hasher.write(&[
            self.categories.map_or(0xff, |c| c.0),
            self.severities.map_or(0xff, |s| s.0),
            self.status as u8,
        ]);
        if let Some(text) = &self.text {
            hasher.write(text.as_bytes());
        }
        hasher.write(&[0]);
        for t in [self.since, self.until] {
            let nanos = t.map_or(i128::MIN, OffsetDateTime::unix_timestamp_nanos);
            hasher.write(&nanos.to_le_bytes());
        }
    }
}

/// Parses an RFC 3339 timestamp, naming `field` when it is not one.
pub fn parse_time(text: &str, field: &str) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        Error::invalid(
            field,
            format!("{field} '{text}' is not an RFC 3339 timestamp such as 2026-11-28T12:00:00Z"),
        )
    })
}

/// Formats an instant as the contract's RFC 3339 UTC text.
pub fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// What a bulk operation applies to: listed ids, or everything under a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These messages (at most [`MAX_BULK_IDS`]); ids that do not exist or are not visible
    /// to the caller are skipped.
    Ids(Vec<MessageId>),
    /// Every message under the filter that the caller may see.
    Filter(Filter),
}

/// Most ids one bulk call may name.
pub const MAX_BULK_IDS: usize = 1000;

/// Which page of a list to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most, 1 to [`MAX_PAGE_LIMIT`].
    pub limit: usize,
    /// Where the previous page ended, as returned in its `next_cursor`.
    pub cursor: Option<String>,
}

/// Largest page size.
pub const MAX_PAGE_LIMIT: usize = 200;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_LIMIT: usize = 50;

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: DEFAULT_PAGE_LIMIT,
            cursor: None,
        }
    }
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: usize) -> PageRequest {
        PageRequest {
            limit,
            cursor: None,
        }
    }

    /// The page after the one that returned `cursor`.
    pub fn after(limit: usize, cursor: impl Into<String>) -> PageRequest {
        PageRequest {
            limit,
            cursor: Some(cursor.into()),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.limit == 0 || self.limit > MAX_PAGE_LIMIT {
            return Err(Error::invalid(
                "limit",
                format!(
                    "limit {} is out of range: use 1 to {MAX_PAGE_LIMIT}",
                    self.limit
                ),
            ));
        }
        Ok(())
    }
}

/// One page of a list, newest first for messages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass this to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// FNV-1a, 64 bits: a checksum for cursors, not a security measure.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new(salt: &[u8]) -> Fnv {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.write(salt);
        h
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The checksum of everything written.
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// Encodes a position (the last item's key) into an opaque cursor bound to `scope` and,
/// for messages, the filter.
pub(crate) fn encode_cursor(position: u64, scope: &[u8], filter: Option<&Filter>) -> String {
    let check = cursor_check(position, scope, filter);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&position.to_be_bytes());
    bytes[8..].copy_from_slice(&check.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a cursor made by [`encode_cursor`] for the same scope and filter.
pub(crate) fn decode_cursor(
    cursor: &str,
    scope: &[u8],
    filter: Option<&Filter>,
) -> Result<u64, Error> {
    let bad = || {
        Error::invalid(
            "cursor",
            "cursor was not issued for this list and filter; start again without a cursor",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| bad())?;
    let mut position = [0u8; 8];
    position.copy_from_slice(&bytes[..8]);
    let mut check = [0u8; 8];
    check.copy_from_slice(&bytes[8..]);
    let position = u64::from_be_bytes(position);
    if cursor_check(position, scope, filter) != u64::from_be_bytes(check) {
        return Err(bad());
    }
    Ok(position)
}

fn cursor_check(position: u64, scope: &[u8], filter: Option<&Filter>) -> u64 {
    let mut h = Fnv::new(b"msghub-cursor-v1");
    h.write(scope);
    h.write(&position.to_le_bytes());
    if let Some(filter) = filter {
        filter.fingerprint(&mut h);
    }
    h.0
}

/// Case-insensitive literal substring search, the meaning of the list's `q`.
#[derive(Debug, Clone)]
pub(crate) struct TextMatcher {
    lowered: String,
    ascii: bool,
}

impl TextMatcher {
    pub(crate) fn new(needle: &str) -> TextMatcher {
        let lowered = needle.to_lowercase();
        let ascii = lowered.is_ascii();
        TextMatcher { lowered, ascii }
    }

    /// The search text, lowercased.
    pub(crate) fn lowered(&self) -> &str {
        &self.lowered
    }

    /// Whether `haystack` contains the needle, ignoring case (Unicode lowercase mapping).
    pub(crate) fn matches(&self, haystack: &str) -> bool {
        if self.lowered.is_empty() {
            return true;
        }
        if haystack.is_ascii() {
            // An ASCII text lowercases to ASCII: it cannot hold a needle that does not.
            return self.ascii
                && ascii_contains_ignore_case(haystack.as_bytes(), self.lowered.as_bytes());
        }
        haystack.to_lowercase().contains(&self.lowered)
    }
}

/// Finds `needle` (lowercase ASCII, not empty) in ASCII `haystack` ignoring case: memchr
/// finds each place where the first byte occurs in either case, then the rest is compared.
fn ascii_contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let Some(last_start) = haystack.len().checked_sub(needle.len()) else {
        return false;
    };
    let (lower, upper) = (first, first.to_ascii_uppercase());
    let mut from = 0;
    while from <= last_start {
        let Some(i) = memchr::memchr2(lower, upper, &haystack[from..=last_start]) else {
            return false;
        };
        let at = from + i;
        if haystack[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_matching_ignores_case_and_takes_wildcards_literally() {
        let m = TextMatcher::new("DDoS");
        assert!(m.matches("a ddos attack"));
        assert!(!m.matches("a dos attack"));
        assert!(TextMatcher::new("50%_off").matches("Now 50%_OFF"));
        assert!(!TextMatcher::new("50%").matches("500"));
        assert!(TextMatcher::new("ÄRGER").matches("großer ärger"));
        assert!(TextMatcher::new("straße").matches("STRASSE straße"));
        assert!(TextMatcher::new("ab").matches("xAaB"));
        assert!(!TextMatcher::new("abc").matches("ab"));
        assert!(TextMatcher::new("c").matches("abc"));
        assert!(TextMatcher::new("1.5").matches("v1.5"));
        // The Kelvin sign lowercases to an ASCII k; the euro sign never appears in ASCII.
        assert!(TextMatcher::new("\u{212A}B").matches("xkb"));
        assert!(!TextMatcher::new("€").matches("euro"));
        assert!(TextMatcher::new("€").matches("5 €"));
    }

    #[test]
    fn cursors_are_bound_to_their_filter() {
        let f = Filter::default().status(ReadStatus::Unread);
        let c = encode_cursor(42, b"acct", Some(&f));
        assert_eq!(decode_cursor(&c, b"acct", Some(&f)).unwrap(), 42);
        assert!(decode_cursor(&c, b"acct", Some(&Filter::default())).is_err());
        assert!(decode_cursor(&c, b"other", Some(&f)).is_err());
        assert!(decode_cursor("garbage", b"acct", Some(&f)).is_err());
    }

    #[test]
    fn lists_parse_and_reject_unknown_names() {
        let set = CategorySet::parse_list("security,account", "category").unwrap();
        assert!(set.contains(Category::Security) && set.contains(Category::Account));
        assert!(CategorySet::parse_list("security,finance", "category").is_err());
        assert!(CategorySet::parse_list("", "category").is_err());
        let sev = SeveritySet::parse_list("warning", "severity").unwrap();
        assert_eq!(sev.iter().collect::<Vec<_>>(), vec![Severity::Warning]);
    }
}
