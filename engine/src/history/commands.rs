//! The history's own change: purging the entries past a book's retention. Entries are
//! written by the commands that make the changes (see [`super::record`]).

use crate::error::Error;
use crate::ids::AccountId;
use crate::store::writer::{Command, Tx};

/// Most entries one purge command removes, so that one commit stays small; the scheduler
/// repeats the command while it removes this many.
pub(crate) const PURGE_BUDGET: usize = 4096;

/// Removes the oldest entries of a book made before `cutoff` (µs), at most
/// [`PURGE_BUDGET`]; answers how many went.
pub(crate) struct PurgeHistory {
    pub(crate) book: AccountId,
    pub(crate) cutoff: i64,
}

impl Command for PurgeHistory {
    type Output = usize;

    fn apply(self, tx: &mut Tx<'_>) -> Result<usize, Error> {
        tx.db
            .remove_history_before(self.book, self.cutoff, PURGE_BUDGET)
    }
}
