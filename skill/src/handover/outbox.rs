//! The delivery worker shared by both outboxes.
//!
//! It takes the oldest pending delivery of each queue (a conversation), so order holds within a
//! conversation while conversations proceed in parallel. A failed attempt is rescheduled with the
//! server's `Retry-After` or jittered exponential backoff; after the last attempt the delivery is
//! marked failed and [`Handover::delivery_failed`] reports it. The store wakes the worker when it
//! stores something for its lane. Sends into one queue are paced (Teams allows about
//! seven a second per conversation). A restart resumes from the table: a delivery in flight when the
//! process died is still pending and is sent again (at least once).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::service::Handover;
use crate::domain::{Lane, Outbound};
use crate::metrics::Metrics;
use crate::store::{Delivery, Store};

/// How many deliveries one worker has in flight at most.
const MAX_IN_FLIGHT: u32 = 16;

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Worth another attempt, after `after` if the server said so.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Final: no further attempt can succeed.
    Failed {
        reason: String,
    },
}

/// Delivers one lane's payloads over its transport (`protocol/` for Teams, `livechat/` for the
/// live chat): one attempt, classified.
#[async_trait]
pub trait Courier: Send + Sync + 'static {
    fn lane(&self) -> Lane;
    async fn deliver(&self, payload: &Outbound) -> Attempt;
}

/// When to try again.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `failed_attempts + 1`: the server's wish (capped), else
    /// `base * 2^(failed_attempts - 1)` capped, with ±20 % jitter so that retries do not march in step.
    pub fn delay(&self, failed_attempts: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wish) = retry_after {
            return wish.min(self.max);
        }
        let exponent = failed_attempts.saturating_sub(1).min(20);
        let nominal = self.base.saturating_mul(1u32 << exponent).min(self.max);
        let jitter = rand::thread_rng().gen_range(0.8..=1.2);
        nominal.mul_f64(jitter).min(self.max)
    }
}

/// Delivers one lane's outbox until shut down.
pub struct OutboxWorker {
    pub store: Store,
    pub courier: Arc<dyn Courier>,
    /// Told of deliveries given up.
    pub handover: Arc<Handover>,
    pub policy: RetryPolicy,
    /// Least time between two sends into one queue.
    pub pace: Duration,
    pub poll_interval: Duration,
    pub metrics: Arc<Metrics>,
}

impl OutboxWorker {
    /// Runs until `shutdown` is cancelled, then waits briefly for deliveries in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let lane = self.courier.lane();
        let this = Arc::new(self);
        let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut last_sent: HashMap<String, Instant> = HashMap::new();
        let mut tasks = JoinSet::new();
        tracing::info!(lane = lane.as_str(), "outbox worker started");
        loop {
            while tasks.try_join_next().is_some() {}
            let mut sleep_for = this.poll_interval;
            let busy_queues: Vec<String> = lock(&busy).iter().cloned().collect();
            let capacity = MAX_IN_FLIGHT.saturating_sub(busy_queues.len() as u32);
            // Queues sent to within the pace interval are left out of the query, so that they do
            // not take the places of queues that may send now.
            let mut skipped = busy_queues;
            for (queue_key, sent_at) in &last_sent {
                if let Some(wait) = this.pace.checked_sub(sent_at.elapsed()) {
                    sleep_for = sleep_for.min(wait);
                    skipped.push(queue_key.clone());
                }
            }
            let now_ms = chrono::Utc::now().timestamp_millis();
            match this
                .store
                .due_deliveries(lane, now_ms, capacity, &skipped)
                .await
            {
                Ok(due) => {
                    for delivery in due {
                        last_sent.insert(delivery.queue_key.clone(), Instant::now());
                        lock(&busy).insert(delivery.queue_key.clone());
                        let (worker, busy) = (this.clone(), busy.clone());
                        tasks.spawn(async move {
                            let queue_key = delivery.queue_key.clone();
                            worker.attempt(delivery).await;
                            lock(&busy).remove(&queue_key);
                        });
                    }
                }
                Err(error) => {
                    tracing::error!(lane = lane.as_str(), error.cause_chain = ?error, "cannot read the outbox")
                }
            }
            // A retry falling due wakes the worker; deliveries due already but held back (busy or
            // paced) wake it through their task or the pace wait above.
            if let Ok(Some(due_at)) = this.store.next_due_at(lane).await {
                let wait = due_at - chrono::Utc::now().timestamp_millis();
                if wait > 0 {
                    sleep_for = sleep_for.min(Duration::from_millis(wait as u64));
                }
            }
            // Forget pacing marks that no longer matter, so the map does not grow forever.
            last_sent.retain(|_, at| at.elapsed() < this.pace);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = this.store.work_signal(lane).notified() => {}
                _ = tokio::time::sleep(sleep_for) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(lane = lane.as_str(), "deliveries still in flight at shutdown; they stay pending and are retried on the next start");
        }
        tracing::info!(lane = lane.as_str(), "outbox worker stopped");
    }

    async fn attempt(&self, delivery: Delivery) {
        let lane = self.courier.lane().as_str();
        let span = tracing::info_span!("delivery", lane, delivery_id = delivery.id.0, queue = %delivery.queue_key, attempt = delivery.attempts + 1);
        async {
            let outcome = match &delivery.payload {
                Ok(payload) => self.courier.deliver(payload).await,
                Err(reason) => Attempt::Failed {
                    reason: reason.clone(),
                },
            };
            let failed_attempts = delivery.attempts + 1;
            let result = match outcome {
                Attempt::Delivered => {
                    self.metrics.deliveries.with_label_values(&[lane, "delivered"]).inc();
                    tracing::debug!("delivered");
                    self.store.mark_delivered(delivery.id).await
                }
                Attempt::Retry { reason, after } if failed_attempts < self.policy.max_attempts => {
                    let delay = self.policy.delay(failed_attempts, after);
                    self.metrics.deliveries.with_label_values(&[lane, "retried"]).inc();
                    tracing::warn!(reason = %reason, retry_in_ms = delay.as_millis() as u64, "delivery failed; will retry");
                    let due = chrono::Utc::now().timestamp_millis() + delay.as_millis() as i64;
                    self.store.schedule_retry(delivery.id, due, &reason).await
                }
                Attempt::Retry { reason, .. } | Attempt::Failed { reason } => {
                    self.metrics.deliveries.with_label_values(&[lane, "failed"]).inc();
                    tracing::error!(reason = %reason, "delivery failed for good");
                    let marked = self.store.mark_failed(delivery.id, &reason).await;
                    self.handover.delivery_failed(&delivery, &reason).await;
                    marked
                }
            };
            if let Err(error) = result {
                tracing::error!(error.cause_chain = ?error, "cannot record the delivery outcome; it stays pending");
            }
        }
        .instrument(span)
        .await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(1000),
            max: Duration::from_secs(10),
        };
        for (attempts, nominal) in [
            (1u32, 1000u64),
            (2, 2000),
            (3, 4000),
            (4, 8000),
            (5, 10000),
            (30, 10000),
        ] {
            let delay = policy.delay(attempts, None).as_millis() as u64;
            assert!(
                delay >= nominal * 8 / 10 && delay <= (nominal * 12 / 10).min(10_000),
                "attempt {attempts}: {delay} ms"
            );
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(300))),
            Duration::from_secs(10)
        );
    }
}
