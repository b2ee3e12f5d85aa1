//! The in-memory index of one account's inbox: which messages are live, their categories and
//! severities as bitmaps, each reader's read set, and the times of sequence ranges.
//!
//! It is derived from the store (rebuilt when the file is opened) and changed only by the
//! writer after a commit, so everything it names is already durable.

use std::collections::HashMap;

use parking_lot::Mutex;

use roaring::RoaringBitmap;

use super::bitmap::ChunkedBitmap;
use crate::access::Reader;
use crate::filter::{CategorySet, Filter, ReadStatus, SeveritySet};
use crate::model::{Category, Severity};

/// One account's inbox index.
#[derive(Debug, Default)]
pub(crate) struct AccountIndex {
    pub(crate) live: ChunkedBitmap,
    pub(crate) categories: [ChunkedBitmap; 6],
    pub(crate) severities: [ChunkedBitmap; 3],
    /// Read sets by reader. They may still name deleted messages: every use intersects them
    /// with live bitmaps, and sequence numbers are never reused.
    pub(crate) read: HashMap<Reader, ChunkedBitmap>,
    /// `(first sequence, created_at in µs)` for each run of messages stored at one instant;
    /// creation times never decrease along sequence numbers, so a time bound is a sequence
    /// bound.
    pub(crate) times: Vec<(u32, i64)>,
    /// Deleted messages whose rows are not yet removed from disk (see the writer's purge).
    pub(crate) purge: ChunkedBitmap,
    /// The next sequence number to hand out.
    pub(crate) next_seq: u32,
    /// The latest creation time handed out, in µs.
    pub(crate) last_created: i64,
    /// For readers who asked for counts: how many messages of each category they have
    /// read. Kept exact by mark-read and deletes, so counts are O(1) while nothing else
    /// changes; a reader missing here is counted with bitmap intersections.
    read_counts: Mutex<HashMap<Reader, [u64; 6]>>,
}

/// Past this many cached readers, a delete drops the cache instead of adjusting each entry.
const MAX_CACHED_READERS: usize = 64;

/// A filter compiled against one index and one reader.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) categories: CategorySet,
    pub(crate) severities: SeveritySet,
    pub(crate) status: ReadStatus,
    pub(crate) reader: Reader,
    /// Sequence numbers at or above this.
    pub(crate) low: u32,
    /// Sequence numbers below this.
    pub(crate) high: u64,
}

impl Query {
    /// Whether nothing can match.
    pub(crate) fn is_empty(&self) -> bool {
        self.categories.is_empty() || u64::from(self.low) >= self.high
    }
}

impl AccountIndex {
    pub(crate) fn add(&mut self, seq: u32, category: Category, severity: Severity, created: i64) {
        self.live.insert(seq);
        self.categories[category.index()].insert(seq);
        self.severities[severity.index()].insert(seq);
        self.note_time(seq, created);
    }

    /// Records that `seq` was created at `created`, opening a new time run when it differs.
    pub(crate) fn note_time(&mut self, seq: u32, created: i64) {
        if self.times.last().is_none_or(|&(_, t)| t < created) {
            self.times.push((seq, created));
        }
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
        self.last_created = self.last_created.max(created);
    }

    pub(crate) fn remove(&mut self, seq: u32, category: Category, severity: Severity) {
        if !self.live.contains(seq) {
            return;
        }
        let cache = self.read_counts.get_mut();
        if cache.len() > MAX_CACHED_READERS {
            cache.clear();
        }
        for (reader, counts) in cache.iter_mut() {
            if self.read.get(reader).is_some_and(|r| r.contains(seq)) {
                counts[category.index()] -= 1;
            }
        }
        self.live.remove(seq);
        self.categories[category.index()].remove(seq);
        self.severities[severity.index()].remove(seq);
    }

    /// The creation time (µs) of the oldest live message.
    pub(crate) fn oldest_live(&self) -> Option<i64> {
        let seq = self.live.iter().next()?;
        let i = self.times.partition_point(|&(first, _)| first <= seq);
        i.checked_sub(1).map(|i| self.times[i].1)
    }

    /// The category and severity of a live message.
    pub(crate) fn locate(&self, seq: u32) -> Option<(Category, Severity)> {
        let category = Category::ALL
            .into_iter()
            .find(|c| self.categories[c.index()].contains(seq))?;
        let severity = Severity::ALL
            .into_iter()
            .find(|s| self.severities[s.index()].contains(seq))?;
        Some((category, severity))
    }

    /// The first sequence number created at or after `micros`.
    fn seq_at_or_after(&self, micros: i64) -> u64 {
        let i = self.times.partition_point(|&(_, t)| t < micros);
        self.times
            .get(i)
            .map_or(u64::from(self.next_seq), |&(seq, _)| u64::from(seq))
    }

    pub(crate) fn compile(&self, filter: &Filter, visible: CategorySet, reader: Reader) -> Query {
        let micros = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1000) as i64;
        let low = filter.since.map_or(0, |t| {
            self.seq_at_or_after(micros(t)).min(u64::from(u32::MAX)) as u32
        });
        let high = filter
            .until
            .map_or(u64::from(u32::MAX) + 1, |t| self.seq_at_or_after(micros(t)));
        Query {
            categories: filter
                .categories
                .unwrap_or(CategorySet::ALL)
                .intersect(visible),
            severities: filter.severities.unwrap_or(SeveritySet::ALL),
            status: filter.status,
            reader,
            low,
            high,
        }
    }

    /// The highest chunk at or below `top` that holds live messages.
    pub(crate) fn next_chunk(&self, top: u16) -> Option<u16> {
        self.live.chunks_desc(top).next()
    }

    /// The messages of `chunk` that match `query`, apart from its text part.
    pub(crate) fn candidates(&self, query: &Query, chunk: u16) -> RoaringBitmap {
        let mut set = if query.categories.is_all() {
            self.live.chunk(chunk).cloned().unwrap_or_default()
        } else {
            union(
                query.categories.iter().map(|c| &self.categories[c.index()]),
                chunk,
            )
        };
        if !query.severities.is_all() {
            set &= union(
                query.severities.iter().map(|s| &self.severities[s.index()]),
                chunk,
            );
        }
        let read = self.read.get(&query.reader).and_then(|r| r.chunk(chunk));
        match (query.status, read) {
            (ReadStatus::Unread, Some(read)) => set -= read,
            (ReadStatus::Read, Some(read)) => set &= read,
            (ReadStatus::Read, None) => set.clear(),
            (ReadStatus::Unread | ReadStatus::All, _) => {}
        }
        if query.low > 0 {
            set.remove_range(..query.low);
        }
        if let Ok(high) = u32::try_from(query.high) {
            set.remove_range(high..);
        }
        set
    }

    /// One chunk of `reader`'s read set.
    pub(crate) fn read_chunk(&self, reader: Reader, chunk: u16) -> Option<&RoaringBitmap> {
        self.read.get(&reader).and_then(|r| r.chunk(chunk))
    }

    pub(crate) fn is_read(&self, reader: Reader, seq: u32) -> bool {
        self.read.get(&reader).is_some_and(|r| r.contains(seq))
    }

    /// Replaces one chunk of `reader`'s read set, keeping its cached counts exact.
    pub(crate) fn set_read_chunk(&mut self, reader: Reader, chunk: u16, bitmap: RoaringBitmap) {
        let set = self.read.entry(reader).or_default();
        if let Some(counts) = self.read_counts.get_mut().get_mut(&reader) {
            let old = set.chunk(chunk).cloned().unwrap_or_default();
            let added = &bitmap - &old;
            let removed = &old - &bitmap;
            for category in Category::ALL {
                if let Some(members) = self.categories[category.index()].chunk(chunk) {
                    let slot = &mut counts[category.index()];
                    *slot += added.intersection_len(members);
                    *slot -= removed.intersection_len(members);
                }
            }
        }
        set.set_chunk(chunk, bitmap);
    }

    /// Forgets a reader (a deleted user) entirely.
    pub(crate) fn forget_reader(&mut self, reader: Reader) {
        self.read.remove(&reader);
        self.read_counts.get_mut().remove(&reader);
    }

    /// (total, unread) per category for `reader`, in [`Category::ALL`] order.
    pub(crate) fn counts(&self, reader: Reader) -> [(u64, u64); 6] {
        let mut cache = self.read_counts.lock();
        let read = *cache.entry(reader).or_insert_with(|| {
            Category::ALL.map(|c| {
                self.read
                    .get(&reader)
                    .map_or(0, |r| self.categories[c.index()].intersection_len(r))
            })
        });
        Category::ALL.map(|c| {
            let total = self.categories[c.index()].len();
            (total, total - read[c.index()])
        })
    }
}

fn union<'a>(bitmaps: impl Iterator<Item = &'a ChunkedBitmap>, chunk: u16) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    for b in bitmaps {
        if let Some(c) = b.chunk(chunk) {
            out |= c;
        }
    }
    out
}
