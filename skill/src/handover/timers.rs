//! The sessions' timers at work: the queue timeout, the inactivity warning and the inactivity end.
//!
//! Each open session's next deadline is stored with it ([`crate::domain::Timer`]); the
//! [`TimerWorker`] of every instance looks for due ones and hands them to
//! [`crate::handover::Handover::fire_timer`], which acts only if the session still has the timer
//! it read (a customer message, an agent joining or another instance may have changed it), in the
//! transaction that stores what it sends. So a timer survives restarts and fires once.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use service_support::clock::Clock;

use super::service::Handover;
use crate::store::Store;

/// Due timers taken per look.
const BATCH: u32 = 100;

/// Looks for due timers every `tick` and fires them.
pub struct TimerWorker {
    pub store: Store,
    pub handover: Arc<Handover>,
    pub clock: Clock,
    pub tick: Duration,
}

impl TimerWorker {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(self.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            // A full batch that all fired may mean more are due: look again at once.
            while self.fire_due().await {}
        }
    }

    /// Fires what is due now; true when a full batch fired (more may be due).
    async fn fire_due(&self) -> bool {
        let due = match self.store.due_timers(self.clock.now_ms(), BATCH).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(error.cause_chain = ?error, "cannot read the due timers; trying again on the next tick");
                return false;
            }
        };
        let mut all_fired = due.len() == BATCH as usize;
        for (session, timer) in due {
            let span = tracing::info_span!("timer", session_id = %session.id, conversation_id = %session.copilot_conversation_id, kind = timer.kind.as_str());
            if let Err(error) = self
                .handover
                .fire_timer(&session, timer)
                .instrument(span.clone())
                .await
            {
                tracing::warn!(parent: &span, error.cause_chain = ?error, "cannot act on a due timer; trying again on the next tick");
                all_fired = false;
            }
        }
        all_fired
    }
}
