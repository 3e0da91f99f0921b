//! Retention: closed sessions and finished deliveries (delivered or failed) that ended before a
//! time are deleted, with the links to agents' files of those sessions and the links that expired
//! before that time.

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
        let cutoff_ms = chrono::DateTime::parse_from_rfc3339(before)
            .map(|at| at.timestamp_millis())
            .unwrap_or(0);
        tx.execute(sql::PURGE_FILE_LINKS, &[cutoff_ms.into()])
            .await?;
        Ok(Applied::Done(Purged {
            sessions,
            deliveries,
        }))
    }
}
