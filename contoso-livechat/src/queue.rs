//! The queue's clock: every `routing.tick_ms`, agents whose pages have been gone too long are set
//! offline, waiting conversations go to agents with room (with `assignment = "auto"`), and waiting
//! customers whose place changed are told (at most every `routing.queue_update_interval_ms`).
//!
//! The store decides all of it in one transaction per tick; this loop only keeps time.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::configuration::{Assignment, RoutingSettings};
use crate::presence::LivePages;
use crate::store::{Presence, Store};

pub struct QueueWorker {
    pub store: Store,
    pub pages: Arc<LivePages>,
    pub settings: RoutingSettings,
}

impl QueueWorker {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(self.settings.tick_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.once().await {
                tracing::error!(error.cause_chain = ?error, "the queue's periodic work failed; trying again at the next tick");
            }
        }
    }

    async fn once(&self) -> anyhow::Result<()> {
        let grace = Duration::from_millis(self.settings.offline_after_ms);
        for agent in self.store.agents().await? {
            if agent.presence != Presence::Offline
                && self.pages.doze_if_idle(&agent.username, grace)
            {
                self.store
                    .set_presence(&agent.username, Presence::Offline)
                    .await?;
                tracing::info!(agent = %agent.username, "no page of the agent's has been open for a while: offline");
            }
        }
        let (assigned, told) = self
            .store
            .queue_tick(
                self.settings.assignment == Assignment::Auto,
                i64::try_from(self.settings.queue_update_interval_ms).unwrap_or(i64::MAX),
            )
            .await?;
        if assigned > 0 || told > 0 {
            tracing::debug!(assigned, told, "queue tick");
        }
        Ok(())
    }
}
