//! What a delivery's attempt came to: delivered (marked with the batch's others in one statement),
//! a retry at a time, or given up.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::model::DeliveryOutcome;
use super::super::sql;
use crate::domain::DeliveryId;

/// Records `outcome` for `delivery`.
pub struct RecordOutcome {
    pub delivery: DeliveryId,
    pub outcome: DeliveryOutcome,
}

#[async_trait]
impl Write for RecordOutcome {
    type Answer = ();

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<()>> {
        match &self.outcome {
            DeliveryOutcome::Delivered => batch.delivered(self.delivery),
            DeliveryOutcome::Retry { at_ms, error } => {
                tx.execute(
                    sql::SCHEDULE_RETRY,
                    &[
                        (*at_ms).into(),
                        error.as_str().into(),
                        self.delivery.0.into(),
                    ],
                )
                .await?;
            }
            DeliveryOutcome::Failed { error } => {
                tx.execute(
                    sql::MARK_FAILED,
                    &[
                        batch.now.as_str().into(),
                        error.as_str().into(),
                        self.delivery.0.into(),
                    ],
                )
                .await?;
            }
        }
        Ok(Applied::Done(()))
    }
}
