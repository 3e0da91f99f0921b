//! The sessions' timers at work: the queue timeout, the inactivity warning and the inactivity end.
//!
//! Each open session's next deadline is stored with it ([`crate::domain::Timer`]); the
//! [`TimerWorker`] of every instance looks for due ones and hands them to
//! [`crate::handover::Handover::fire_timer`], which acts only if the session still has the timer
//! it read (a customer message, an agent joining or another instance may have changed it), in the
//! transaction that stores what it sends. So a timer survives restarts and fires once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Handover;
use crate::store::Store;

/// Due timers taken per look.
const BATCH: u32 = 100;

/// The time the timers go by: the system's, or (in tests) one that only moves when told.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock stopped at the current time, moved on only by [`Clock::advance`].
    pub fn paused() -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(
                chrono::Utc::now().timestamp_millis(),
            ))),
        }
    }

    /// Moves a paused clock on (does nothing to the system clock).
    pub fn advance(&self, by: Duration) {
        if let Some(now) = &self.manual {
            now.fetch_add(
                i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
                Ordering::SeqCst,
            );
        }
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(now) => now.load(Ordering::SeqCst),
            None => chrono::Utc::now().timestamp_millis(),
        }
    }
}

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
