//! An agent's message (or a notice an event brings) stored only while its session is open: nothing
//! the agent sends after the close reaches Teams. A repeat of a message accepted before is a
//! duplicate even after the close, so the sender does not think it was lost.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::model::{Enqueued, NewDelivery, SessionUpdate};
use super::shared::{any_seen, apply_updates};
use crate::domain::SessionId;

/// Stores `delivery` (and makes `updates`) if the session is open.
pub struct EnqueueForOpen {
    pub session: SessionId,
    pub delivery: NewDelivery,
    pub updates: Vec<SessionUpdate>,
}

#[async_trait]
impl Write for EnqueueForOpen {
    type Answer = Enqueued;

    fn needs_open(&self) -> Option<&SessionId> {
        Some(&self.session)
    }

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<Enqueued>> {
        let rows = std::slice::from_ref(&self.delivery);
        if !batch.is_open(&self.session) {
            return Ok(Applied::Done(if any_seen(tx, rows).await? {
                Enqueued::Duplicate
            } else {
                Enqueued::SessionClosed
            }));
        }
        apply_updates(tx, batch, &self.updates).await?;
        Ok(Applied::Rows(batch.queue(rows.to_vec()), |ids| {
            if ids.first().is_some_and(Option::is_some) {
                Enqueued::Accepted
            } else {
                Enqueued::Duplicate
            }
        }))
    }
}
