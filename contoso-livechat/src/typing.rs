//! The agent's typing indicator, relayed to the skill: best effort, around the outbox.
//!
//! At most one event per conversation every `typing.min_interval_ms`; the rest are dropped here.
//! One task posts them in turn; one not sent within `typing.max_delay_ms` of the agent typing is
//! dropped, and none is ever retried or queued behind replies. (The skill drops one that arrives
//! more than 5 s after its `timestamp`.) A dropped indicator costs nothing: the next keystroke
//! sends another. Both times go by the live chat's [`Clock`], which tests stop and move.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livechat_contract::webhook::{Typing, WebhookEvent};
use service_support::clock::Clock;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::configuration::TypingSettings;
use crate::store::ConversationId;
use crate::webhook::{Posted, WebhookClient};

/// Indicators waiting to be posted at most; beyond, new ones are dropped.
const WAITING: usize = 256;
/// Conversations whose last indicator time is kept; beyond it the map starts over.
const REMEMBERED: usize = 10_000;

struct Job {
    event: Typing,
    /// When the agent typed (Unix ms, by the clock).
    typed_at_ms: i64,
}

/// What became of an agent's keystroke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// On its way to the skill.
    Queued,
    /// One was sent for this conversation less than `min_interval_ms` ago.
    TooSoon,
    /// Too many are waiting: dropped.
    Full,
}

/// Takes typing indicators from the pages.
pub struct TypingRelay {
    sender: mpsc::Sender<Job>,
    /// When each conversation's last indicator was offered (Unix ms).
    last: Mutex<HashMap<ConversationId, i64>>,
    min_interval: Duration,
    clock: Clock,
}

/// Posts the indicators; run once.
pub struct TypingWorker {
    receiver: mpsc::Receiver<Job>,
    client: Arc<WebhookClient>,
    max_delay: Duration,
    clock: Clock,
}

/// The relay and its worker, going by `clock`.
pub fn relay(
    settings: &TypingSettings,
    client: Arc<WebhookClient>,
    clock: Clock,
) -> (TypingRelay, TypingWorker) {
    let (sender, receiver) = mpsc::channel(WAITING);
    (
        TypingRelay {
            sender,
            last: Mutex::new(HashMap::new()),
            min_interval: Duration::from_millis(settings.min_interval_ms),
            clock: clock.clone(),
        },
        TypingWorker {
            receiver,
            client,
            max_delay: Duration::from_millis(settings.max_delay_ms),
            clock,
        },
    )
}

impl TypingRelay {
    /// The agent `sender` is typing in `conversation_id` now.
    pub fn offer(&self, conversation_id: &ConversationId, sender: &str) -> Offered {
        let now_ms = self.clock.now_ms();
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last
                .get(conversation_id)
                .is_some_and(|at| self.clock.since(*at) < self.min_interval)
            {
                return Offered::TooSoon;
            }
            if last.len() >= REMEMBERED {
                last.clear();
            }
            last.insert(conversation_id.clone(), now_ms);
        }
        let event = Typing {
            conversation_id: conversation_id.to_string(),
            id: format!("typing:{}", uuid::Uuid::now_v7()),
            sender: Some(sender.to_owned()),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        match self.sender.try_send(Job {
            event,
            typed_at_ms: now_ms,
        }) {
            Ok(()) => Offered::Queued,
            Err(_) => Offered::Full,
        }
    }
}

impl TypingWorker {
    /// True for an indicator typed at `typed_at_ms` that can no longer be sent in time.
    fn is_late(&self, typed_at_ms: i64) -> bool {
        self.clock.since(typed_at_ms) > self.max_delay
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let job = tokio::select! {
                _ = shutdown.cancelled() => return,
                job = self.receiver.recv() => match job { Some(job) => job, None => return },
            };
            let conversation_id = job.event.conversation_id.clone();
            if self.is_late(job.typed_at_ms) {
                self.client.metrics.webhook("typing", "dropped");
                tracing::debug!(conversation_id = %conversation_id, "typing indicator too late; dropped");
                continue;
            }
            let timeout = self.client.settings.timeout();
            match self
                .client
                .post(&WebhookEvent::Typing(job.event), timeout)
                .await
            {
                Posted::Delivered => {
                    self.client.metrics.webhook("typing", "delivered");
                    tracing::debug!(conversation_id = %conversation_id, "typing indicator sent")
                }
                Posted::Retry(reason) | Posted::Failed(reason) => {
                    self.client.metrics.webhook("typing", "dropped");
                    tracing::debug!(conversation_id = %conversation_id, reason = %reason, "typing indicator not delivered; dropped")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::WebhookSettings;

    fn relay_at(clock: &Clock) -> (TypingRelay, TypingWorker) {
        let client = Arc::new(WebhookClient {
            http: reqwest::Client::new(),
            settings: WebhookSettings::default(),
            metrics: Arc::new(crate::metrics::Metrics::new().unwrap()),
        });
        relay(&TypingSettings::default(), client, clock.clone())
    }

    #[test]
    fn one_indicator_per_conversation_per_interval() {
        let clock = Clock::paused();
        let (relay, _worker) = relay_at(&clock);
        let (ann, ben) = (
            ConversationId::parse("c-ann").unwrap(),
            ConversationId::parse("c-ben").unwrap(),
        );
        assert_eq!(relay.offer(&ann, "Alex"), Offered::Queued);
        assert_eq!(
            relay.offer(&ben, "Alex"),
            Offered::Queued,
            "another conversation"
        );
        clock.advance(Duration::from_millis(2_999));
        assert_eq!(relay.offer(&ann, "Alex"), Offered::TooSoon);
        clock.advance(Duration::from_millis(1));
        assert_eq!(relay.offer(&ann, "Alex"), Offered::Queued);
    }

    #[tokio::test]
    async fn an_indicator_is_late_once_the_delay_has_passed_since_the_agent_typed() {
        let clock = Clock::paused();
        let (relay, mut worker) = relay_at(&clock);
        relay.offer(&ConversationId::parse("c-1").unwrap(), "Alex");
        let job = worker.receiver.recv().await.unwrap();
        clock.advance(Duration::from_millis(5_000));
        assert!(!worker.is_late(job.typed_at_ms), "just in time");
        clock.advance(Duration::from_millis(1));
        assert!(worker.is_late(job.typed_at_ms));
    }
}
