//! Attempts the server's stop cut off. The worker writes a delivery down before
//! its plugin runs and the writer removes it with the attempt's outcome, so a row left at
//! open belongs to an attempt that never finished: the process died during it, perhaps
//! because of it (a plugin that makes the host abort). Such an attempt counts as failed;
//! a delivery whose attempts were cut off [`PARK_AFTER`] times is parked as a dead letter,
//! so that a delivery which kills the server cannot kill it at every start.

use super::backend::WriteTx;
use super::records::DeliveryState;
use crate::clock::micros_of;
use crate::error::Error;
use crate::ids::DeliveryId;
use crate::schedule::RetrySchedule;

/// After this many attempts cut off by a stop, a delivery is parked instead of tried again.
pub(crate) const PARK_AFTER: u32 = 2;

/// Settles every attempt a stop cut off, at `now` (µs): counted as failed and retried on
/// the retry schedule, or parked as a dead letter. Runs in the transaction that opens the
/// store, before the outbox is loaded. Answers how many attempts it settled.
pub(crate) fn settle_cut_off(
    tx: &mut dyn WriteTx,
    retry: &RetrySchedule,
    now: i64,
) -> Result<usize, Error> {
    let ids = tx.attempts_under_way()?;
    for &id in &ids {
        tx.end_attempt(id)?;
        let Some(mut record) = tx.delivery(id)? else {
            continue;
        };
        if matches!(
            record.state,
            DeliveryState::Delivered | DeliveryState::Failed
        ) || tx.due(id)?.is_none()
        {
            continue;
        }
        let times = tx.cut_off(id)?.saturating_add(1);
        tx.put_cut_off(id, times)?;
        record.attempts = record.attempts.saturating_add(1);
        record.updated = now;
        let delay = retry.delay_before(record.attempts.saturating_add(1));
        match delay {
            Some(delay) if times < PARK_AFTER => {
                let due = now.saturating_add(micros_of(delay));
                record.state = DeliveryState::Retrying;
                record.next_attempt = Some(due);
                record.last_error = Some(
                    "the server stopped while this attempt was under way (its plugin may \
                     have crashed it); the attempt counts as failed"
                        .to_owned(),
                );
                tx.schedule(id, due)?;
                tracing::warn!(
                    delivery = %DeliveryId(id),
                    plugin = %record.plugin,
                    "an attempt was under way when the server stopped; it counts as failed and is tried again later"
                );
            }
            _ => {
                record.state = DeliveryState::Failed;
                record.next_attempt = None;
                record.last_error = Some(if times >= PARK_AFTER {
                    format!(
                        "the server stopped during {times} attempts of this delivery (its \
                         plugin may have crashed it); it is parked as a dead letter so that \
                         it cannot stop the server again: requeue it once the plugin is fixed"
                    )
                } else {
                    "the server stopped while the last allowed attempt was under way (its \
                     plugin may have crashed it)"
                        .to_owned()
                });
                tx.unschedule(id)?;
                tx.put_failed(record.account, record.target, id)?;
                tracing::error!(
                    delivery = %DeliveryId(id),
                    plugin = %record.plugin,
                    cut_off = times,
                    "a delivery was under way at every one of the last stops of the server; it is parked as a dead letter"
                );
            }
        }
        tx.put_delivery(id, &record)?;
    }
    Ok(ids.len())
}
