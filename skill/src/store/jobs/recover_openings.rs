//! At start-up: sessions left `opening` by a previous run are closed, each with an abandon that
//! ends in the live chat whatever its start opened. With a shared database only those older than
//! the abandon time, since another instance may be opening one right now.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::dialect::Dialect;
use super::super::model::abandoned_opening_cutoff;
use super::super::sql;
use super::shared::abandon_openings;

/// Answers how many were closed.
pub struct RecoverOpenings {
    pub dialect: Dialect,
}

#[async_trait]
impl Write for RecoverOpenings {
    type Answer = u64;

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<u64>> {
        let cutoff = if self.dialect.shares_the_database() {
            abandoned_opening_cutoff()
        } else {
            batch.now.clone()
        };
        let closed = tx
            .query(
                sql::CLOSE_ABANDONED_OPENINGS_RETURNING,
                &[batch.now.as_str().into(), cutoff.into()],
            )
            .await?;
        abandon_openings(batch, &closed)?;
        Ok(Applied::Done(closed.len() as u64))
    }
}
