//! The inbox's changes, applied by the writer in a group's transaction: publishing (with the
//! message's routing, in the same transaction: the transactional outbox), and marking read or
//! deleting by ids or filter.

use crate::access::Reader;
use crate::error::Error;
use crate::filter::CategorySet;
use crate::ids::AccountId;
use crate::model::ValidMessage;
use crate::store::records::MessageRecord;
use crate::store::writer::{Command, Target, Tx};

/// Publishes a message, or finds the live message that already holds its dedupe key.
pub(crate) struct Publish {
    pub(crate) account: AccountId,
    pub(crate) message: ValidMessage,
}

/// A published message as the writer answers it.
pub(crate) struct Stored {
    pub(crate) seq: u32,
    pub(crate) record: MessageRecord,
    /// False when the dedupe key named a message stored before.
    pub(crate) created: bool,
}

impl Command for Publish {
    type Output = Stored;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Stored, Error> {
        let Publish { account, message } = self;
        if let Some(key) = &message.dedupe_key
            && let Some((seq, record)) = tx.deduped(account, key)?
        {
            return Ok(Stored {
                seq,
                record,
                created: false,
            });
        }
        let (seq, created) = tx.next_message(account)?;
        let record = MessageRecord {
            category: message.category,
            severity: message.severity,
            created,
            subtype: message.subtype,
            title: message.title,
            body: message.body,
            link: message.link,
            resource: message.resource,
            dedupe_key: message.dedupe_key,
        };
        tx.put_message(account, seq, &record)?;
        crate::delivery::commands::route(tx, account, seq, &record)?;
        Ok(Stored {
            seq,
            record,
            created: true,
        })
    }
}

/// What a bulk command does to the messages it selects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BulkOp {
    /// Mark them read for the reader.
    MarkRead,
    /// Delete them for the account.
    Delete,
}

/// Marks read or deletes the messages of a target, within the categories a caller sees;
/// answers how many it changed.
pub(crate) struct Bulk {
    pub(crate) op: BulkOp,
    pub(crate) account: AccountId,
    pub(crate) reader: Reader,
    pub(crate) visible: CategorySet,
    pub(crate) target: Target,
}

impl Command for Bulk {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, Error> {
        let Bulk {
            op,
            account,
            reader,
            visible,
            target,
        } = self;
        let seqs = tx.select(account, reader, visible, target)?;
        match op {
            BulkOp::MarkRead => tx.mark_read(account, reader, seqs),
            // Each becomes a bit in the account's deleted set, in this commit; the rows go
            // from disk later, a few at a time, so a bulk delete costs what it changes in
            // the index, not a rewrite of the message table.
            BulkOp::Delete => tx.delete(account, seqs),
        }
    }
}
