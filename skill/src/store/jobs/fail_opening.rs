//! A session's live-chat start failed: the `opening` session closes; when the live chat may have
//! opened a conversation all the same (the call timed out), the close carries an abandon that ends
//! it there.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::sql;
use super::shared::abandon_openings;
use crate::domain::SessionId;

/// Closes an `opening` session.
pub struct FailOpening {
    pub session: SessionId,
    /// The live chat may have opened a conversation all the same: a
    /// [`crate::domain::ToAgent::Abandon`] is stored with the close.
    pub abandon: bool,
}

#[async_trait]
impl Write for FailOpening {
    type Answer = ();

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<()>> {
        let failed = tx
            .query(
                sql::FAIL_OPENING_RETURNING,
                &[batch.now.as_str().into(), self.session.as_str().into()],
            )
            .await?;
        if self.abandon {
            abandon_openings(batch, &failed)?;
        } else {
            for row in &failed {
                batch.session_gone(&SessionId::parse(row.text("id")?)?);
            }
        }
        Ok(Applied::Done(()))
    }
}
