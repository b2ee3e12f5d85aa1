//! A bitmap of message sequence numbers split into chunks of 65,536, so that an operation
//! (and a write to disk) touches only the chunks it needs.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

/// The chunk a sequence number falls into.
pub(crate) fn chunk_of(seq: u32) -> u16 {
    (seq >> 16) as u16
}

/// Sequence numbers, grouped by chunk; each chunk is a roaring bitmap holding one container.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkedBitmap {
    chunks: BTreeMap<u16, RoaringBitmap>,
    len: u64,
}

impl ChunkedBitmap {
    pub(crate) fn insert(&mut self, seq: u32) -> bool {
        let added = self.chunks.entry(chunk_of(seq)).or_default().insert(seq);
        self.len += u64::from(added);
        added
    }

    pub(crate) fn remove(&mut self, seq: u32) -> bool {
        let chunk = chunk_of(seq);
        let Some(bitmap) = self.chunks.get_mut(&chunk) else {
            return false;
        };
        let removed = bitmap.remove(seq);
        if bitmap.is_empty() {
            self.chunks.remove(&chunk);
        }
        self.len -= u64::from(removed);
        removed
    }

    pub(crate) fn contains(&self, seq: u32) -> bool {
        self.chunks
            .get(&chunk_of(seq))
            .is_some_and(|b| b.contains(seq))
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn chunk(&self, chunk: u16) -> Option<&RoaringBitmap> {
        self.chunks.get(&chunk)
    }

    /// Replaces one chunk wholesale (how a staged chunk is installed after a commit).
    pub(crate) fn set_chunk(&mut self, chunk: u16, bitmap: RoaringBitmap) {
        let old = if bitmap.is_empty() {
            self.chunks.remove(&chunk)
        } else {
            self.chunks.insert(chunk, bitmap)
        };
        self.len -= old.map_or(0, |b| b.len());
        self.len += self.chunks.get(&chunk).map_or(0, RoaringBitmap::len);
    }

    /// The members, lowest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks.values().flat_map(|b| b.iter())
    }

    /// The members as one roaring bitmap.
    pub(crate) fn to_bitmap(&self) -> RoaringBitmap {
        let mut all = RoaringBitmap::new();
        for chunk in self.chunks.values() {
            all |= chunk;
        }
        all
    }

    /// The chunk numbers present, highest first, no higher than `top`.
    pub(crate) fn chunks_desc(&self, top: u16) -> impl Iterator<Item = u16> + '_ {
        self.chunks.range(..=top).rev().map(|(&c, _)| c)
    }

    /// How many members this bitmap shares with `other`, chunk by chunk.
    pub(crate) fn intersection_len(&self, other: &ChunkedBitmap) -> u64 {
        let (small, large) = if self.chunks.len() <= other.chunks.len() {
            (self, other)
        } else {
            (other, self)
        };
        small
            .chunks
            .iter()
            .filter_map(|(c, a)| large.chunks.get(c).map(|b| a.intersection_len(b)))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_track_length_across_boundaries() {
        let mut b = ChunkedBitmap::default();
        for seq in [1, 65_535, 65_536, 200_000] {
            assert!(b.insert(seq));
        }
        assert!(!b.insert(1));
        assert_eq!(b.len(), 4);
        assert_eq!(b.chunks_desc(u16::MAX).collect::<Vec<_>>(), vec![3, 1, 0]);
        assert!(b.remove(200_000));
        assert_eq!(b.chunks_desc(u16::MAX).collect::<Vec<_>>(), vec![1, 0]);
        let mut other = ChunkedBitmap::default();
        other.insert(65_536);
        other.insert(7);
        assert_eq!(b.intersection_len(&other), 1);
        let mut replacement = RoaringBitmap::new();
        replacement.insert(10);
        replacement.insert(11);
        b.set_chunk(0, replacement);
        assert_eq!(b.len(), 3);
        assert!(b.contains(10) && !b.contains(1));
    }
}
