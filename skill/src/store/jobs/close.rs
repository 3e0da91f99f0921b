//! Closing an open session, with the deliveries that announce it and the changes that go with it,
//! in one transaction: stored only if this closed it.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::model::{NewDelivery, SessionUpdate};
use super::super::records::closed_by_column;
use super::super::sql;
use super::shared::apply_updates;
use crate::domain::{ClosedBy, SessionId};

/// Answers whether this closed the session (false: it was not open; nothing was stored).
pub struct Close {
    pub session: SessionId,
    pub by: ClosedBy,
    pub rows: Vec<NewDelivery>,
    pub updates: Vec<SessionUpdate>,
}

#[async_trait]
impl Write for Close {
    type Answer = bool;

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<bool>> {
        let closed = tx
            .execute(
                sql::CLOSE_OPEN_SESSION,
                &[
                    closed_by_column(self.by).into(),
                    batch.now.as_str().into(),
                    self.session.as_str().into(),
                ],
            )
            .await?
            == 1;
        if !closed {
            return Ok(Applied::Done(false));
        }
        batch.session_gone(&self.session);
        apply_updates(tx, batch, &self.updates).await?;
        Ok(Applied::Rows(batch.queue(self.rows.clone()), |_| true))
    }
}
