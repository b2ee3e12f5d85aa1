//! The indexer: the thread that builds the text indexes behind the writer, from the texts
//! the writer hands over after each commit and from the store, and the budget that bounds
//! them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use super::{Batch, DEFAULT_SEARCH_INDEX_BYTES, Narrowing, SearchIndexStats, TextIndex};
use crate::error::Error;
use crate::ids::AccountId;
use crate::store::Store;

/// At most this many messages are indexed between two looks at the lock.
const BATCH_MESSAGES: u32 = 1024;
/// Older messages are read from the store this many at a time (at most 64 KiB each).
const BACKFILL_MESSAGES: u32 = 256;
/// A batch also ends once it has read this much text.
const BATCH_BYTES: usize = 1 << 20;
/// How often the indexer looks at every account's newest message (in case the writer could
/// not hand a text over) and whether deleted messages should be dropped from an index.
const IDLE: Duration = Duration::from_secs(5);
/// An account's index is compacted once it names this many more messages than twice the
/// live ones.
const COMPACT_SLACK: u64 = 10_000;

/// Every account's text index, the texts the writer hands over, and the indexer's signals.
pub(crate) struct TextIndexes {
    accounts: RwLock<HashMap<AccountId, Arc<RwLock<TextIndex>>>>,
    feed: Mutex<Feed>,
    signal: Arc<Signal>,
    /// About how many bytes every account's index holds together.
    bytes: AtomicU64,
    /// The most the indexes may hold: past it, the indexer stops and searches read the
    /// messages not indexed one by one, as they did before it.
    budget: AtomicU64,
    /// Whether the indexer has said that it stopped at the budget.
    warned: AtomicBool,
}

/// Texts of messages just committed, in commit order, so that the indexer need not read
/// them back from the store (a read transaction held while publishing goes on keeps the
/// store from reusing freed pages). Bounded: past [`FEED_BYTES`] texts are dropped, and the
/// indexer reads those from the store.
#[derive(Default)]
struct Feed {
    texts: std::collections::VecDeque<Fed>,
    bytes: usize,
}

/// One committed message's text.
struct Fed {
    account: AccountId,
    seq: u32,
    title: Box<str>,
    body: Option<Box<str>>,
}

/// The most text the writer's hand-over holds.
const FEED_BYTES: usize = 16 << 20;
/// The longest a search waits for an index the indexer is changing.
const LOCK_WAIT: Duration = Duration::from_millis(2);
/// How long the indexer sleeps when nothing wakes it (a wake-up that raced its going to
/// sleep is late by at most this).
const NAP: Duration = Duration::from_millis(100);

/// Wakes and stops the indexer. The writer only sets flags and notifies: it never waits
/// for a lock the indexer may hold, since the indexer runs at the lowest priority and may be
/// kept off the CPU while it holds one.
#[derive(Default)]
struct Signal {
    woken: AtomicBool,
    /// Set when the writer could not hand a text over (the hand-over was full or busy):
    /// the indexer then looks at the accounts' sequence numbers and reads from the store.
    dropped: AtomicBool,
    lock: Mutex<()>,
    cond: Condvar,
    stop: AtomicBool,
}

impl TextIndexes {
    /// Indexes for the accounts of a store just opened: each starts empty at the account's
    /// next sequence number, and the indexer fills in the older messages.
    pub(crate) fn opened(next: impl IntoIterator<Item = (AccountId, u32)>) -> TextIndexes {
        TextIndexes {
            accounts: RwLock::new(
                next.into_iter()
                    .map(|(a, n)| (a, Arc::new(RwLock::new(TextIndex::starting_at(n)))))
                    .collect(),
            ),
            feed: Mutex::default(),
            signal: Arc::default(),
            bytes: AtomicU64::new(0),
            budget: AtomicU64::new(DEFAULT_SEARCH_INDEX_BYTES),
            warned: AtomicBool::new(false),
        }
    }

    /// Sets the most memory the indexes may hold.
    pub(crate) fn set_budget(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::Relaxed);
    }

    /// Whether the indexes hold their budget's worth: then the indexer stops, and says so
    /// once.
    fn over_budget(&self) -> bool {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let budget = self.budget.load(Ordering::Relaxed);
        if bytes < budget {
            self.warned.store(false, Ordering::Relaxed);
            return false;
        }
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the search index holds {} MiB, its budget: messages stored from now on are \
                 searched by reading them (raise MSGHUB_SEARCH_INDEX_MIB to index them)",
                bytes >> 20
            );
        }
        // The hand-over would only wait: the store has these texts.
        let mut feed = self.feed.lock();
        feed.texts.clear();
        feed.bytes = 0;
        true
    }

    /// Records what a merge or compaction changed.
    fn resized(&self, before: u64, after: u64) {
        if after >= before {
            self.bytes.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.bytes.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    fn of(&self, account: AccountId) -> Arc<RwLock<TextIndex>> {
        if let Some(index) = self.accounts.read().get(&account) {
            return index.clone();
        }
        self.accounts.write().entry(account).or_default().clone()
    }

    /// What `account`'s index says about the lowercased search text `lowered`. A search
    /// does not wait long for the indexer (it may hold the lock while kept off the CPU):
    /// after [`LOCK_WAIT`] it reads the candidates unnarrowed.
    pub(crate) fn narrowing(&self, account: AccountId, lowered: &str) -> Option<Narrowing> {
        let index = self
            .accounts
            .try_read_for(LOCK_WAIT)?
            .get(&account)
            .cloned()?;
        index.try_read_for(LOCK_WAIT)?.narrowing(lowered)
    }

    /// Hands the text of a committed message to the indexer (the writer calls this after
    /// each commit, in commit order). Past the hand-over's bound the text is dropped; the
    /// indexer then reads it from the store.
    pub(crate) fn feed(
        &self,
        account: AccountId,
        seq: u32,
        title: Box<str>,
        body: Option<Box<str>>,
    ) {
        let size = title.len() + body.as_ref().map_or(0, |b| b.len());
        let Some(mut feed) = self.feed.try_lock() else {
            self.signal.dropped.store(true, Ordering::Release);
            return;
        };
        if feed.bytes + size > FEED_BYTES {
            self.signal.dropped.store(true, Ordering::Release);
            return;
        }
        feed.bytes += size;
        feed.texts.push_back(Fed {
            account,
            seq,
            title,
            body,
        });
    }

    /// Up to a batch of handed-over texts, oldest first.
    fn take_feed(&self) -> Vec<Fed> {
        let mut feed = self.feed.lock();
        let mut taken = Vec::new();
        let mut bytes = 0;
        while bytes < BATCH_BYTES && taken.len() < BATCH_MESSAGES as usize {
            let Some(fed) = feed.texts.pop_front() else {
                break;
            };
            let size = fed.title.len() + fed.body.as_ref().map_or(0, |b| b.len());
            feed.bytes -= size;
            bytes += size;
            taken.push(fed);
        }
        taken
    }

    /// Tells the indexer that messages were stored.
    pub(crate) fn wake(&self) {
        if !self.signal.woken.swap(true, Ordering::AcqRel) {
            self.signal.cond.notify_one();
        }
    }

    /// Stops the indexer thread (it ends after its current batch).
    pub(crate) fn stop(&self) {
        self.signal.stop.store(true, Ordering::Release);
        self.signal.woken.store(true, Ordering::Release);
        self.signal.cond.notify_one();
    }
}

impl Store {
    /// How far the text index has come.
    pub(crate) fn search_index_stats(&self) -> SearchIndexStats {
        let mut stats = SearchIndexStats {
            bytes: self.text.bytes.load(Ordering::Relaxed),
            ..SearchIndexStats::default()
        };
        for (account, next) in self.next_sequences() {
            let index = self.text.of(account);
            let index = index.read();
            stats.indexed += index.indexed;
            stats.pending += u64::from(index.lo) + u64::from(next.saturating_sub(index.hi));
        }
        stats
    }

    /// Each account's next sequence number: every message below it is committed.
    fn next_sequences(&self) -> Vec<(AccountId, u32)> {
        self.state
            .read()
            .inboxes
            .iter()
            .map(|(&a, i)| (a, i.read().next_seq))
            .collect()
    }

    /// Indexes one batch: the texts the writer handed over; else, when `resync` or when
    /// the writer dropped texts, new messages read from the store; else older ones, newest
    /// first. False when there is nothing to do. Only the resync looks at the state the
    /// writer changes.
    pub(crate) fn index_text_step(&self, resync: bool) -> Result<bool, Error> {
        if self.text.over_budget() {
            return Ok(false);
        }
        let fed = self.text.take_feed();
        if !fed.is_empty() {
            self.index_fed(fed)?;
            return Ok(true);
        }
        let dropped = self.text.signal.dropped.swap(false, Ordering::AcqRel);
        if (resync || dropped) && self.index_new_from_store()? {
            // More may wait: look again next time.
            self.text.signal.dropped.store(true, Ordering::Release);
            return Ok(true);
        }
        let accounts: Vec<_> = self
            .text
            .accounts
            .read()
            .iter()
            .map(|(&a, i)| (a, i.clone()))
            .collect();
        for (account, index) in accounts {
            let lo = index.read().lo;
            if lo > 0 {
                let mut batch = Batch::at(lo.saturating_sub(BACKFILL_MESSAGES));
                self.read_into(&mut batch, account, lo, usize::MAX)?;
                let grew = index.write().merge(batch);
                self.text.resized(0, grew);
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Indexes one batch of stored messages above an account's index; false when every
    /// index reaches its account's newest message.
    fn index_new_from_store(&self) -> Result<bool, Error> {
        for (account, next) in self.next_sequences() {
            let index = self.text.of(account);
            let hi = index.read().hi;
            if hi < next {
                let mut batch = Batch::at(hi);
                let to = next.min(hi.saturating_add(BATCH_MESSAGES));
                self.read_into(&mut batch, account, to, BATCH_BYTES)?;
                let grew = index.write().merge(batch);
                self.text.resized(0, grew);
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Indexes texts the writer handed over. Any message between what is indexed and a
    /// handed-over one that is missing from the hand-over (it overflowed) is read from the
    /// store, so the index never claims a message it did not see.
    fn index_fed(&self, fed: Vec<Fed>) -> Result<(), Error> {
        let mut by_account: HashMap<AccountId, Vec<Fed>> = HashMap::new();
        for f in fed {
            by_account.entry(f.account).or_default().push(f);
        }
        for (account, texts) in by_account {
            let index = self.text.of(account);
            let mut batch = Batch::at(index.read().hi);
            for f in texts {
                if f.seq < batch.to {
                    // Already read from the store.
                    continue;
                }
                if f.seq > batch.to {
                    self.read_into(&mut batch, account, f.seq, usize::MAX)?;
                }
                batch.add(f.seq, &f.title, f.body.as_deref());
                batch.to = f.seq.saturating_add(1);
            }
            let grew = index.write().merge(batch);
            self.text.resized(0, grew);
        }
        Ok(())
    }

    /// Adds to `batch` the stored messages of `account` from its end up to `to`, or up to
    /// where `budget` bytes of text are read. The texts are copied out first, so the read
    /// transaction lasts only as long as the copy.
    fn read_into(
        &self,
        batch: &mut Batch,
        account: AccountId,
        to: u32,
        budget: usize,
    ) -> Result<(), Error> {
        let mut texts: Vec<(u32, String, Option<String>)> = Vec::new();
        let mut bytes = 0usize;
        let mut end = to;
        self.snapshot()?
            .texts(account, batch.to, to, &mut |seq, title, body| {
                if seq >= end {
                    return;
                }
                bytes += title.len() + body.map_or(0, str::len);
                texts.push((seq, title.to_owned(), body.map(str::to_owned)));
                if bytes >= budget {
                    end = seq.saturating_add(1);
                }
            })?;
        for (seq, title, body) in &texts {
            batch.add(*seq, title, body.as_deref());
        }
        batch.to = end;
        Ok(())
    }

    /// Drops deleted messages from an account's index once it names many more of them than
    /// live ones; true if one was compacted.
    fn compact_text_indexes(&self) -> bool {
        let inboxes: Vec<_> = self
            .state
            .read()
            .inboxes
            .iter()
            .map(|(&a, i)| (a, i.clone()))
            .collect();
        for (account, inbox) in inboxes {
            let index = self.text.of(account);
            let live_count = inbox.read().live.len();
            if index.read().indexed <= 2 * live_count + COMPACT_SLACK {
                continue;
            }
            let live = inbox.read().live.to_bitmap();
            let (before, after) = index.write().compact(&live);
            self.text.resized(before, after);
            return true;
        }
        false
    }
}

/// Starts the indexer thread for `store`. It holds the store only while it works on a
/// batch, and ends when the store is gone or [`TextIndexes::stop`] is called.
pub(crate) fn spawn_indexer(store: &Arc<Store>) -> std::io::Result<std::thread::JoinHandle<()>> {
    let weak: Weak<Store> = Arc::downgrade(store);
    let signal = store.text.signal.clone();
    std::thread::Builder::new()
        .name("msghub-search-index".into())
        .spawn(move || {
            lowest_priority();
            run(&weak, &signal);
        })
}

fn run(store: &Weak<Store>, signal: &Signal) {
    // Look at every account's newest message at the start and every IDLE after.
    let mut resync_at = std::time::Instant::now();
    loop {
        if signal.stop.load(Ordering::Acquire) {
            return;
        }
        let Some(strong) = store.upgrade() else {
            return;
        };
        let resync = std::time::Instant::now() >= resync_at;
        if resync {
            resync_at = std::time::Instant::now() + IDLE;
        }
        let worked = match strong.index_text_step(resync) {
            Ok(worked) => worked || (resync && strong.compact_text_indexes()),
            Err(e) => {
                tracing::warn!("the search index could not read messages: {e}; retrying");
                false
            }
        };
        drop(strong);
        if !worked {
            let mut guard = signal.lock.lock();
            if !signal.woken.load(Ordering::Acquire) {
                signal.cond.wait_for(&mut guard, NAP);
            }
            signal.woken.store(false, Ordering::Release);
        }
    }
}

/// Lowers the calling thread's CPU priority as far as it goes, so that indexing uses time
/// that publishing and reading leave over.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority and gettid only read their integer arguments; on Linux a thread
    // id names one thread, so only this thread's priority changes.
    unsafe {
        let tid = libc::gettid();
        if let Ok(tid) = libc::id_t::try_from(tid) {
            libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        }
    }
}
