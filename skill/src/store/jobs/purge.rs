//! Retention: closed sessions and finished deliveries (delivered or failed) that ended before a
//! time are deleted.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::model::Purged;
use super::super::sql;

/// Deletes what ended before `before` (an RFC 3339 UTC time).
pub struct Purge {
    pub before: String,
}

#[async_trait]
impl Write for Purge {
    type Answer = Purged;

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        _batch: &mut Batch,
    ) -> anyhow::Result<Applied<Purged>> {
        let before = self.before.as_str();
        let deliveries = tx.execute(sql::PURGE_DELIVERIES, &[before.into()]).await?;
        let sessions = tx.execute(sql::PURGE_SESSIONS, &[before.into()]).await?;
        Ok(Applied::Done(Purged {
            sessions,
            deliveries,
        }))
    }
}
