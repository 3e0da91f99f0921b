//! What a delivery's attempt came to: delivered (marked with the batch's others in one statement),
//! a retry at a time, or given up.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::{Value, WriteConnection};
use super::super::model::DeliveryOutcome;
use super::super::sql;
use crate::domain::DeliveryId;

/// Records `outcome` for `delivery`; for a claimed one (`claim`: its lease's end), a retry or a
/// failure only while the claim holds.
pub struct RecordOutcome {
    pub delivery: DeliveryId,
    pub outcome: DeliveryOutcome,
    pub claim: Option<i64>,
}

impl RecordOutcome {
    /// Runs `plain` with `first` and the delivery, or, for a claimed delivery, `claimed` with the
    /// claim's lease end as well: then a claim taken over meanwhile changes nothing.
    async fn fenced(
        &self,
        tx: &mut dyn WriteConnection,
        plain: &str,
        claimed: &str,
        first: Vec<Value>,
        what: &str,
    ) -> anyhow::Result<()> {
        let mut params = first;
        params.push(self.delivery.0.into());
        let statement = match self.claim {
            Some(claim) => {
                params.push(claim.into());
                claimed
            }
            None => plain,
        };
        if tx.execute(statement, &params).await? == 0 && self.claim.is_some() {
            tracing::warn!(delivery_id = self.delivery.0, what, "an outcome came after its claim's lease, and another instance has the delivery; not recorded");
        }
        Ok(())
    }
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
            DeliveryOutcome::Retry {
                at_ms,
                error,
                may_hurry,
            } => {
                let params = vec![
                    (*at_ms).into(),
                    error.as_str().into(),
                    i64::from(*may_hurry).into(),
                ];
                let (plain, claimed) = (sql::SCHEDULE_RETRY, sql::SCHEDULE_RETRY_CLAIMED);
                self.fenced(tx, plain, claimed, params, "retry").await?;
            }
            DeliveryOutcome::Failed { error } => {
                let params = vec![batch.now.as_str().into(), error.as_str().into()];
                let (plain, claimed) = (sql::MARK_FAILED, sql::MARK_FAILED_CLAIMED);
                self.fenced(tx, plain, claimed, params, "failure").await?;
            }
        }
        Ok(Applied::Done(()))
    }
}
