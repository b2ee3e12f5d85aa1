//! The recent changes of the accounts someone is watching, for live event streams.
//!
//! The writer appends what each commit changed in a watched account's inbox (a message
//! added, messages removed, a reader's read state changed) to that account's [`Feed`], and
//! bumps the feed's position; a stream waits on the position and reads the entries after
//! the last one it saw. Nothing is kept per stream, so an idle stream costs its task and its
//! connection only.
//!
//! A feed keeps its entries for [`WINDOW`] and at most [`MAX_ENTRIES`] of them: a stream
//! that comes back (or falls behind) within that window misses nothing; one that comes back
//! later is told so. Accounts nobody watches have no feed and cost the writer nothing; a
//! feed outlives its last stream by one window, so a client that reconnects finds what
//! happened meanwhile.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::access::Reader;
use crate::ids::AccountId;
use crate::model::{Category, Message};

/// How long a feed keeps an entry, and outlives its last stream.
pub(crate) const WINDOW: Duration = Duration::from_secs(300);
/// The most entries one feed keeps.
pub(crate) const MAX_ENTRIES: usize = 4096;
/// The most message numbers one entry of removed messages lists; a larger delete is
/// recorded as [`Change::ManyRemoved`] (a stream then tells its client to reload).
pub(crate) const MAX_LISTED: usize = 1000;
/// How often, at most, the writer looks for feeds to drop.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// The most new messages one feed keeps ready for its streams.
const SHARED_MESSAGES: usize = 32;
/// The most bytes of message text the shared messages of every feed hold together.
const SHARED_BYTES: usize = 16 << 20;

/// What changed in an account's inbox, as a stream needs to know it.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// A new message.
    Added(u32, Category),
    /// Messages deleted, with their categories.
    Removed(Vec<(u32, Category)>),
    /// More than [`MAX_LISTED`] messages deleted in one commit, in these categories.
    ManyRemoved(Vec<Category>),
    /// This reader's read state changed.
    Read(Reader),
    /// This user was changed or deleted: its streams check their rights.
    Access(u64),
}

/// One change at its position in the order of all feeds' changes.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Its position: every feed's positions come from one counter, so a position names one
    /// change of one feed.
    pub(crate) position: u64,
    /// What changed.
    pub(crate) change: Change,
    at: Instant,
}

/// What [`Feed::after`] found.
pub(crate) struct Since {
    /// The entries after the position asked for, oldest first.
    pub(crate) entries: Vec<Entry>,
    /// Whether entries after that position were already dropped (too old, too many, or
    /// from before the feed existed): the caller missed changes.
    pub(crate) gap: bool,
    /// The feed's latest position.
    pub(crate) latest: u64,
}

/// The recent changes of one watched account.
pub(crate) struct Feed {
    log: Mutex<Log>,
    latest: watch::Sender<u64>,
    /// Streams open on this feed.
    watchers: AtomicUsize,
    /// The last new messages as the first stream that sent them read them, by position:
    /// the other streams send the same without reading the store again.
    shared: Mutex<VecDeque<(u64, Arc<Message>, usize)>>,
}

struct Log {
    entries: VecDeque<Entry>,
    /// Entries after this position are all kept (the position of the last dropped entry,
    /// or where the feed began).
    floor: u64,
    /// When the last stream closed, if none is open.
    unwatched: Option<Instant>,
}

impl Feed {
    /// A receiver that sees the feed's latest position change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// The entries after `position`, oldest first, with whether some were dropped.
    pub(crate) fn after(&self, position: u64) -> Since {
        let log = self.log.lock();
        let latest = *self.latest.borrow();
        let start = log.entries.partition_point(|e| e.position <= position);
        Since {
            entries: log.entries.iter().skip(start).cloned().collect(),
            gap: position < log.floor,
            latest,
        }
    }

    /// The new message of the entry at `position`, if a stream already read it.
    pub(crate) fn shared(&self, position: u64) -> Option<Arc<Message>> {
        let shared = self.shared.lock();
        shared
            .iter()
            .rev()
            .find(|(p, ..)| *p == position)
            .map(|(_, message, _)| message.clone())
    }

    /// Keeps `message`, the new message of the entry at `position`, for the other streams,
    /// within the feed's and every feed's bound (`held` counts the bytes of all feeds).
    pub(crate) fn share(&self, position: u64, message: Arc<Message>, held: &AtomicUsize) {
        let bytes = message.title.len()
            + message.body.as_ref().map_or(0, String::len)
            + message.subtype.as_ref().map_or(0, String::len)
            + message.link.as_ref().map_or(0, String::len)
            + message.resource.as_ref().map_or(0, String::len)
            + message.dedupe_key.as_ref().map_or(0, String::len);
        let mut shared = self.shared.lock();
        if shared.iter().any(|(p, ..)| *p == position) {
            return;
        }
        while shared.len() >= SHARED_MESSAGES
            || (!shared.is_empty() && held.load(Ordering::Relaxed) + bytes > SHARED_BYTES)
        {
            if let Some((_, _, freed)) = shared.pop_front() {
                held.fetch_sub(freed, Ordering::Relaxed);
            }
        }
        if held.load(Ordering::Relaxed) + bytes > SHARED_BYTES {
            return;
        }
        held.fetch_add(bytes, Ordering::Relaxed);
        shared.push_back((position, message, bytes));
    }

    fn unshare_all(&self, held: &AtomicUsize) {
        for (_, _, freed) in self.shared.lock().drain(..) {
            held.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// The feed's latest position.
    pub(crate) fn latest(&self) -> u64 {
        *self.latest.borrow()
    }

    fn push(&self, changes: Vec<Change>, positions: &AtomicU64, now: Instant) {
        let mut log = self.log.lock();
        let mut last = 0;
        for change in changes {
            last = positions.fetch_add(1, Ordering::Relaxed) + 1;
            log.entries.push_back(Entry {
                position: last,
                change,
                at: now,
            });
        }
        while log.entries.len() > MAX_ENTRIES
            || log.entries.front().is_some_and(|e| now - e.at > WINDOW)
        {
            match log.entries.pop_front() {
                Some(dropped) => log.floor = dropped.position,
                None => break,
            }
        }
        drop(log);
        if last > 0 {
            self.latest.send_replace(last);
        }
    }
}

/// Every watched account's feed.
pub(crate) struct LiveFeeds {
    feeds: RwLock<HashMap<AccountId, Arc<Feed>>>,
    /// How many feeds exist: the writer skips all work while it is 0.
    count: AtomicUsize,
    /// The last position given to an entry (of any feed).
    positions: AtomicU64,
    last_sweep: Mutex<Instant>,
    /// Bytes of message text the feeds share among their streams.
    pub(crate) shared_bytes: AtomicUsize,
    /// Names this store's run in event ids, so that an id from before a restart is not
    /// taken for one of this run.
    pub(crate) epoch: u32,
}

impl Default for LiveFeeds {
    fn default() -> LiveFeeds {
        LiveFeeds {
            feeds: RwLock::new(HashMap::new()),
            count: AtomicUsize::new(0),
            positions: AtomicU64::new(0),
            last_sweep: Mutex::new(Instant::now()),
            shared_bytes: AtomicUsize::new(0),
            epoch: rand::random(),
        }
    }
}

impl LiveFeeds {
    /// Opens a stream on `account`'s feed (made if missing); the stream holds the returned
    /// [`Watch`] and closes by dropping it.
    pub(crate) fn watch(&self, account: AccountId) -> Watch {
        let mut feeds = self.feeds.write();
        let feed = feeds
            .entry(account)
            .or_insert_with(|| {
                let now = self.positions.load(Ordering::Relaxed);
                Arc::new(Feed {
                    log: Mutex::new(Log {
                        entries: VecDeque::new(),
                        floor: now,
                        unwatched: None,
                    }),
                    latest: watch::Sender::new(now),
                    watchers: AtomicUsize::new(0),
                    shared: Mutex::new(VecDeque::new()),
                })
            })
            .clone();
        self.count.store(feeds.len(), Ordering::Relaxed);
        drop(feeds);
        feed.watchers.fetch_add(1, Ordering::Relaxed);
        feed.log.lock().unwatched = None;
        Watch { feed }
    }

    /// The last position given to any entry.
    pub(crate) fn position(&self) -> u64 {
        self.positions.load(Ordering::Relaxed)
    }

    /// Whether any account is watched (if not, the writer records nothing).
    pub(crate) fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Records what one commit changed, per account; changes of accounts without a feed are
    /// dropped. Feeds unwatched for longer than [`WINDOW`] are dropped from time to time.
    pub(crate) fn record(&self, changes: HashMap<AccountId, Vec<Change>>) {
        let now = Instant::now();
        {
            let feeds = self.feeds.read();
            for (account, changes) in changes {
                if let Some(feed) = feeds.get(&account) {
                    feed.push(changes, &self.positions, now);
                }
            }
        }
        self.sweep(now);
    }

    fn sweep(&self, now: Instant) {
        {
            let mut last = self.last_sweep.lock();
            if now - *last < SWEEP_EVERY {
                return;
            }
            *last = now;
        }
        let mut feeds = self.feeds.write();
        feeds.retain(|_, feed| {
            let keep = feed.watchers.load(Ordering::Relaxed) > 0
                || feed
                    .log
                    .lock()
                    .unwatched
                    .is_none_or(|since| now - since <= WINDOW);
            if !keep {
                feed.unshare_all(&self.shared_bytes);
            }
            keep
        });
        self.count.store(feeds.len(), Ordering::Relaxed);
    }

    /// How many streams are open, over every feed.
    pub(crate) fn watchers(&self) -> usize {
        self.feeds
            .read()
            .values()
            .map(|f| f.watchers.load(Ordering::Relaxed))
            .sum()
    }

    /// How many streams are open on `account`.
    pub(crate) fn watchers_of(&self, account: AccountId) -> usize {
        self.feeds
            .read()
            .get(&account)
            .map_or(0, |f| f.watchers.load(Ordering::Relaxed))
    }
}

/// An open stream's hold on its account's feed.
pub(crate) struct Watch {
    feed: Arc<Feed>,
}

impl Watch {
    /// The feed.
    pub(crate) fn feed(&self) -> &Feed {
        &self.feed
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.feed.watchers.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.feed.log.lock().unwatched = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(account: AccountId, list: Vec<Change>) -> HashMap<AccountId, Vec<Change>> {
        HashMap::from([(account, list)])
    }

    #[test]
    fn a_feed_lists_what_came_after_a_position() {
        let feeds = LiveFeeds::default();
        let account = AccountId(7);
        // Nobody watches yet: nothing is kept.
        feeds.record(changes(account, vec![Change::Added(1, Category::Activity)]));
        assert!(!feeds.any());
        // A change of another watched account moves the common position on.
        let _other = feeds.watch(AccountId(9));
        feeds.record(changes(AccountId(9), vec![Change::Read(Reader(1))]));
        let watch = feeds.watch(account);
        let start = watch.feed().latest();
        feeds.record(changes(
            account,
            vec![
                Change::Added(2, Category::Activity),
                Change::Read(Reader(1)),
            ],
        ));
        // Another account's changes do not land in this feed.
        feeds.record(changes(
            AccountId(8),
            vec![Change::Added(1, Category::Security)],
        ));
        let since = watch.feed().after(start);
        assert!(!since.gap);
        assert_eq!(since.entries.len(), 2);
        assert!(matches!(since.entries[0].change, Change::Added(2, _)));
        let middle = since.entries[0].position;
        assert_eq!(watch.feed().after(middle).entries.len(), 1);
        assert!(watch.feed().after(since.latest).entries.is_empty());
        // A position from before the feed began is a gap.
        assert_eq!(start, 1);
        assert!(watch.feed().after(start - 1).gap);
    }

    #[test]
    fn a_feed_keeps_at_most_its_bound_and_reports_the_gap() {
        let feeds = LiveFeeds::default();
        let account = AccountId(1);
        let watch = feeds.watch(account);
        let start = watch.feed().latest();
        let many: Vec<Change> = (0..MAX_ENTRIES as u32 + 10)
            .map(|seq| Change::Added(seq, Category::Product))
            .collect();
        feeds.record(changes(account, many));
        let since = watch.feed().after(start);
        assert!(since.gap, "10 entries were dropped");
        assert_eq!(since.entries.len(), MAX_ENTRIES);
        let kept_from = since.entries[0].position;
        assert!(!watch.feed().after(kept_from - 1).gap);
    }

    #[test]
    fn watchers_are_counted_until_dropped() {
        let feeds = LiveFeeds::default();
        let a = feeds.watch(AccountId(1));
        let b = feeds.watch(AccountId(1));
        let c = feeds.watch(AccountId(2));
        assert_eq!(feeds.watchers(), 3);
        assert_eq!(feeds.watchers_of(AccountId(1)), 2);
        drop(a);
        drop(c);
        assert_eq!(feeds.watchers(), 1);
        drop(b);
        assert_eq!(feeds.watchers_of(AccountId(1)), 0);
    }
}
