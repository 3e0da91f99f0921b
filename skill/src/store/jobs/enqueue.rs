//! Deliveries stored unconditionally (a customer's messages, the skill's notices), with the changes
//! to their session that go with them; a row whose dedupe key was stored before is left out.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::model::{NewDelivery, SessionUpdate};
use super::shared::apply_updates;
use crate::domain::DeliveryId;

/// Answers each row's id, or `None` for a taken dedupe key.
pub struct Enqueue {
    pub rows: Vec<NewDelivery>,
    pub updates: Vec<SessionUpdate>,
}

#[async_trait]
impl Write for Enqueue {
    type Answer = Vec<Option<DeliveryId>>;

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<Self::Answer>> {
        apply_updates(tx, batch, &self.updates).await?;
        Ok(Applied::Rows(batch.queue(self.rows.clone()), |ids| ids))
    }
}
