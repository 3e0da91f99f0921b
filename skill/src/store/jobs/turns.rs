//! Requests answered 202 before they are handled: kept from before the 202 until their replies
//! are sent, so a stop in between does not lose them.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::model::PendingTurn;
use super::super::sql;

/// Keeps a request about to be answered 202.
pub struct RecordTurn(pub PendingTurn);

#[async_trait]
impl Write for RecordTurn {
    type Answer = ();

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        _batch: &mut Batch,
    ) -> anyhow::Result<Applied<()>> {
        let turn = &self.0;
        tx.execute(
            sql::INSERT_TURN,
            &[
                turn.id.as_str().into(),
                turn.activity.as_str().into(),
                turn.caller.as_str().into(),
                turn.created_at.as_str().into(),
            ],
        )
        .await?;
        Ok(Applied::Done(()))
    }
}

/// Forgets a request whose replies were sent (or that was given up).
pub struct FinishTurn {
    pub id: String,
}

#[async_trait]
impl Write for FinishTurn {
    type Answer = ();

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        _batch: &mut Batch,
    ) -> anyhow::Result<Applied<()>> {
        tx.execute(sql::DELETE_TURN, &[self.id.as_str().into()])
            .await?;
        Ok(Applied::Done(()))
    }
}
