//! An agent's message (or a notice an event brings) stored only while its session is open: nothing
//! the agent sends after the close reaches Teams. A repeat of a message accepted before is a
//! duplicate even after the close, so the sender does not think it was lost. An agent's files are
//! stored with it: a delivery each, and the links they carry.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::model::{Enqueued, NewDelivery, NewFileLink, SessionUpdate};
use super::super::records::file_link_row;
use super::super::sql;
use super::shared::{any_seen, apply_updates};
use crate::domain::SessionId;

/// Stores `deliveries` and `links` (and makes `updates`) if the session is open; a repeat of the
/// first delivery's key stores nothing.
pub struct EnqueueForOpen {
    pub session: SessionId,
    pub deliveries: Vec<NewDelivery>,
    pub updates: Vec<SessionUpdate>,
    pub links: Vec<NewFileLink>,
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
        let rows = self.deliveries.as_slice();
        if !batch.is_open(&self.session) {
            return Ok(Applied::Done(if any_seen(tx, rows).await? {
                Enqueued::Duplicate
            } else {
                Enqueued::SessionClosed
            }));
        }
        if !self.links.is_empty() {
            if any_seen(tx, rows).await? {
                return Ok(Applied::Done(Enqueued::Duplicate));
            }
            for link in &self.links {
                insert_link(tx, batch, link).await?;
            }
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

/// Records a link: its token's hash, never the token.
async fn insert_link(
    tx: &mut dyn WriteConnection,
    batch: &Batch,
    link: &NewFileLink,
) -> anyhow::Result<()> {
    tx.execute(sql::INSERT_FILE_LINK, &file_link_row(link, &batch.now))
        .await?;
    Ok(())
}
