//! The text index: for each account, which messages may contain a search text, so that a
//! `q` reads only those messages instead of every candidate.
//!
//! Every trigram of a message's lowercased title and body (characters, not bytes, so
//! Chinese text without spaces is indexed like any other), and every bigram with a
//! character beyond ASCII, is hashed to a key, and each key maps to the bitmap of the
//! messages holding it. A search text of three characters or more narrows the candidates to
//! the messages holding all of its trigrams; a text of two characters, not both ASCII, to
//! those holding its bigram. The index only narrows: every message it lets
//! through is still matched against the text as before, so a hash collision costs a read,
//! never a wrong answer.
//!
//! The index is derived and kept in memory only. A thread of its own, at the lowest CPU
//! priority, builds it behind the writer: it indexes new messages first (woken after each
//! commit that stored some), then the older ones, newest first, after the store was opened.
//! Each account's index covers one range of sequence numbers; a search reads the messages
//! outside that range as before, so results never depend on how far the indexer has come.
//! Publishing never waits for it.

mod indexer;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use roaring::RoaringBitmap;

pub(crate) use self::indexer::{TextIndexes, spawn_indexer};

/// A message with more distinct grams than this is not indexed but always read by a
/// search, so that no message can make the index hold more than about 8 KiB for it.
const MAX_KEYS_PER_MESSAGE: usize = 4096;
/// The memory the search index may hold unless the embedder chooses otherwise.
pub const DEFAULT_SEARCH_INDEX_BYTES: u64 = 256 << 20;
/// What a hash map entry and a bitmap's header take beside the bitmap's containers.
const PER_KEY: u64 = 64;

/// Gram keys are hashes already: one multiplication spreads them over the table (a general
/// hasher cost most of the indexing time).
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }

    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// A map from gram keys.
type KeyMap<V> = HashMap<u32, V, BuildHasherDefault<KeyHasher>>;

/// One account's text index.
#[derive(Debug, Default)]
pub(crate) struct TextIndex {
    /// Gram key to the messages that hold the gram.
    postings: KeyMap<RoaringBitmap>,
    /// The index covers exactly the stored messages with sequence numbers in `lo..hi`.
    lo: u32,
    hi: u32,
    /// Messages indexed, deleted ones included until a compaction drops them.
    indexed: u64,
    /// Messages in `lo..hi` with too many grams to index: a search always reads them.
    unindexed: RoaringBitmap,
    /// About how many bytes the postings take.
    bytes: u64,
}

impl TextIndex {
    /// An index that covers nothing yet and grows both ways from `next` (the account's next
    /// sequence number when the store was opened).
    fn starting_at(next: u32) -> TextIndex {
        TextIndex {
            lo: next,
            hi: next,
            ..TextIndex::default()
        }
    }

    /// What the index says about `lowered` (a lowercased search text): `None` when it
    /// cannot narrow (a text of one character, or two ASCII ones) or should not (every
    /// gram of the text is in more than a quarter of the messages: reading candidates in
    /// order fills a page sooner than intersecting such bitmaps).
    pub(crate) fn narrowing(&self, lowered: &str) -> Option<Narrowing> {
        let keys = needle_keys(lowered)?;
        let mut postings = Vec::with_capacity(keys.len());
        for key in keys {
            match self.postings.get(&key) {
                Some(p) => postings.push(p),
                None => {
                    postings.clear();
                    break;
                }
            }
        }
        postings.sort_by_key(|p| p.len());
        let covered = u64::from(self.hi - self.lo);
        if postings
            .first()
            .is_some_and(|p| p.len().saturating_mul(4) > covered)
        {
            return None;
        }
        let mut matches = postings.first().map(|p| (*p).clone()).unwrap_or_default();
        for p in postings.iter().skip(1) {
            if matches.is_empty() {
                break;
            }
            matches &= *p;
        }
        matches |= &self.unindexed;
        Some(Narrowing {
            matches,
            lo: self.lo,
            hi: self.hi,
        })
    }

    /// Adds a batch of messages adjacent to the range indexed, above or below it, and
    /// answers how many bytes the index grew by.
    fn merge(&mut self, batch: Batch) -> u64 {
        if batch.from >= batch.to {
            return 0;
        }
        if batch.from == self.hi {
            self.hi = batch.to;
        } else if batch.to == self.lo {
            self.lo = batch.from;
        } else {
            // Not adjacent: the index would cover messages it never read.
            debug_assert!(false, "a text batch apart from the indexed range");
            return 0;
        }
        let before = self.bytes;
        for (key, seqs) in batch.grams {
            let add = RoaringBitmap::from_sorted_iter(seqs).unwrap_or_default();
            let posting = self.postings.entry(key).or_default();
            let old = if posting.is_empty() {
                0
            } else {
                PER_KEY + posting.serialized_size() as u64
            };
            *posting |= add;
            self.bytes = self.bytes - old + PER_KEY + posting.serialized_size() as u64;
        }
        self.unindexed.extend(batch.unindexed);
        self.indexed += batch.messages;
        self.bytes - before
    }

    /// Drops every message not in `live` from the index; answers the bytes before and
    /// after.
    fn compact(&mut self, live: &RoaringBitmap) -> (u64, u64) {
        let before = self.bytes;
        self.postings.retain(|_, p| {
            *p &= live;
            !p.is_empty()
        });
        self.unindexed &= live;
        self.indexed = live.range_cardinality(self.lo..self.hi);
        self.bytes = self
            .postings
            .values()
            .map(|p| PER_KEY + p.serialized_size() as u64)
            .sum();
        (before, self.bytes)
    }
}

/// The grams of the messages in `from..to`, each key with the messages holding it, lowest
/// first.
struct Batch {
    grams: KeyMap<Vec<u32>>,
    from: u32,
    to: u32,
    messages: u64,
    /// Messages with too many grams to index.
    unindexed: Vec<u32>,
}

/// What the text index says about one search text: among the messages it covers, only
/// `matches` may contain it.
#[derive(Debug, Clone)]
pub(crate) struct Narrowing {
    matches: RoaringBitmap,
    lo: u32,
    hi: u32,
}

impl Narrowing {
    /// Removes from `candidates` the messages the index covers that cannot contain the text.
    pub(crate) fn apply(&self, candidates: &mut RoaringBitmap) {
        if self.lo >= self.hi {
            return;
        }
        let mut outside = candidates.clone();
        outside.remove_range(self.lo..self.hi);
        *candidates &= &self.matches;
        *candidates |= outside;
    }
}

/// How far the text index has come, over every account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchIndexStats {
    /// Messages in the index (deleted ones included until the index is compacted).
    pub indexed: u64,
    /// Stored messages not in the index yet; a search reads these one by one.
    pub pending: u64,
    /// About how much memory the index holds, in bytes.
    pub bytes: u64,
}

impl Batch {
    /// An empty batch that starts at `from`.
    fn at(from: u32) -> Batch {
        Batch {
            grams: KeyMap::default(),
            from,
            to: from,
            messages: 0,
            unindexed: Vec::new(),
        }
    }

    /// Adds message `seq` (at or above the batch's end; the batch then reaches past it).
    /// A message with more than [`MAX_KEYS_PER_MESSAGE`] distinct grams is marked to be
    /// read by every search instead (the grams taken before the count ran over stay; they
    /// only let it through where it is let through anyway).
    fn add(&mut self, seq: u32, title: &str, body: Option<&str>) {
        let mut keys = 0usize;
        let mut add = |key: u32| {
            if keys > MAX_KEYS_PER_MESSAGE {
                return;
            }
            let seqs = self.grams.entry(key).or_default();
            if seqs.last() != Some(&seq) {
                seqs.push(seq);
                keys += 1;
            }
        };
        for_each_gram(title, &mut add);
        if let Some(body) = body {
            for_each_gram(body, &mut add);
        }
        if keys > MAX_KEYS_PER_MESSAGE {
            self.unindexed.push(seq);
        }
        self.messages += 1;
        self.to = self.to.max(seq.saturating_add(1));
    }
}

/// Calls `gram` with the key of every trigram of `text`, lowercased the way the search text
/// is ([`crate::filter::TextMatcher`]), and of every bigram with a character beyond ASCII: a
/// two-character word means something in Chinese, while two Latin letters match too much
/// to be worth indexing (such a search reads every candidate, as a one-character one does).
fn for_each_gram(text: &str, gram: &mut impl FnMut(u32)) {
    if text.is_ascii() {
        walk(
            text.bytes().map(|b| u32::from(b.to_ascii_lowercase())),
            gram,
        );
    } else {
        walk(text.to_lowercase().chars().map(u32::from), gram);
    }
}

fn walk(chars: impl Iterator<Item = u32>, gram: &mut impl FnMut(u32)) {
    let (mut a, mut b) = (None, None);
    for c in chars {
        if let Some(b) = b {
            if !(ascii(b) && ascii(c)) {
                gram(bigram(b, c));
            }
            if let Some(a) = a {
                gram(trigram(a, b, c));
            }
        }
        (a, b) = (b, Some(c));
    }
}

/// The keys a lowercased search text must all hold: its trigrams, or its bigram when it
/// has two characters, not both ASCII; `None` otherwise.
fn needle_keys(lowered: &str) -> Option<Vec<u32>> {
    let chars: Vec<u32> = lowered.chars().map(u32::from).collect();
    match chars.as_slice() {
        [] | [_] => None,
        [a, b] if ascii(*a) && ascii(*b) => None,
        [a, b] => Some(vec![bigram(*a, *b)]),
        _ => {
            let mut keys: Vec<u32> = chars
                .windows(3)
                .map(|w| trigram(w[0], w[1], w[2]))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            Some(keys)
        }
    }
}

/// Whether a character, as a code point, is ASCII.
fn ascii(c: u32) -> bool {
    c < 0x80
}

/// Characters are at most 21 bits: three fit in 63, and a bigram sets the top bit apart.
fn trigram(a: u32, b: u32, c: u32) -> u32 {
    mix(u64::from(a) | u64::from(b) << 21 | u64::from(c) << 42)
}

fn bigram(a: u32, b: u32) -> u32 {
    mix(u64::from(a) | u64::from(b) << 21 | 1 << 63)
}

fn mix(x: u64) -> u32 {
    let x = (x ^ (x >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::TextMatcher;

    fn index_of(texts: &[(u32, &str)]) -> TextIndex {
        let mut index = TextIndex::default();
        let mut grams: KeyMap<Vec<u32>> = KeyMap::default();
        for &(seq, text) in texts {
            for_each_gram(text, &mut |key| {
                let seqs = grams.entry(key).or_default();
                if seqs.last() != Some(&seq) {
                    seqs.push(seq);
                }
            });
        }
        let to = texts.iter().map(|t| t.0).max().map_or(0, |m| m + 1);
        index.merge(Batch {
            grams,
            from: 0,
            to,
            messages: texts.len() as u64,
            unindexed: Vec::new(),
        });
        index
    }

    fn narrowed(index: &TextIndex, needle: &str, candidates: &[u32]) -> Vec<u32> {
        let mut set: RoaringBitmap = candidates.iter().copied().collect();
        let lowered = needle.to_lowercase();
        if let Some(n) = index.narrowing(&lowered) {
            n.apply(&mut set);
        }
        set.iter().collect()
    }

    #[test]
    fn every_substring_of_every_text_keeps_its_message() {
        let texts = [
            (0, "Disk usage above 90% on instance 7"),
            (1, "实例 i-abc 的磁盘使用率超过百分之九十"),
            (2, "Großer ÄRGER mit der STRASSE"),
            (3, "ΟΔΟΣ σε κίνδυνο"),
            (4, "İstanbul region: renewal due"),
            (5, "短"),
        ];
        let index = index_of(&texts);
        let all: Vec<u32> = (0..6).collect();
        for &(seq, text) in &texts {
            let chars: Vec<char> = text.chars().collect();
            for start in 0..chars.len() {
                for end in start + 1..=chars.len().min(start + 8) {
                    let needle: String = chars[start..end].iter().collect();
                    for variant in [needle.clone(), needle.to_uppercase(), needle.to_lowercase()] {
                        if !TextMatcher::new(&variant).matches(text) {
                            continue;
                        }
                        assert!(
                            narrowed(&index, &variant, &all).contains(&seq),
                            "{variant:?} lost message {seq} ({text:?})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_rare_text_narrows_to_the_messages_that_hold_it() {
        let mut texts = Vec::new();
        let owned: Vec<String> = (0..1000)
            .map(|i| format!("Instance {i} billing notice: quota renewal"))
            .collect();
        for (i, t) in owned.iter().enumerate() {
            texts.push((i as u32, t.as_str()));
        }
        texts[500].1 = "Kernel panic on instance 500";
        texts[501].1 = "磁盘告警：实例 501";
        let index = index_of(&texts);
        let all: Vec<u32> = (0..1000).collect();
        assert_eq!(narrowed(&index, "KERNEL PANIC", &all), vec![500]);
        assert_eq!(narrowed(&index, "告警", &all), vec![501]);
        assert_eq!(narrowed(&index, "磁盘告", &all), vec![501]);
        assert!(narrowed(&index, "no such words", &all).is_empty());
        // A text in most messages is not narrowed.
        assert!(index.narrowing("instance").is_none());
        // One character, or two ASCII ones, cannot be narrowed: every candidate stays.
        assert_eq!(narrowed(&index, "k", &all).len(), 1000);
        assert_eq!(narrowed(&index, "ke", &all).len(), 1000);
        // Candidates outside the indexed range are kept for the scan.
        assert_eq!(
            narrowed(&index, "kernel", &[500, 1200, 1300]),
            vec![500, 1200, 1300]
        );
    }

    #[test]
    fn compaction_drops_deleted_messages_and_keeps_live_ones() {
        let mut texts = vec![(0, "alpha beta"), (1, "alpha gamma"), (2, "beta gamma")];
        texts.extend((3..20).map(|seq| (seq, "filler")));
        let mut index = index_of(&texts);
        let live: RoaringBitmap = (1..20).collect();
        let (before, after) = index.compact(&live);
        assert!(after < before);
        assert_eq!(index.indexed, 19);
        assert_eq!(narrowed(&index, "alpha", &[0, 1, 2]), vec![1]);
        assert_eq!(narrowed(&index, "beta", &[0, 1, 2]), vec![2]);
    }
}
