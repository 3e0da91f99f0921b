//! The agent's typing indicator, relayed to the skill: best effort, around the outbox.
//!
//! At most one event per conversation every `typing.min_interval_ms`; the rest are dropped here.
//! One task posts them in turn; one not sent within `typing.max_delay_ms` of the agent typing is
//! dropped, and none is ever retried or queued behind replies. (The skill drops one that arrives
//! more than 5 s after its `timestamp`.) A dropped indicator costs nothing: the next keystroke
//! sends another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use livechat_contract::webhook::{Typing, WebhookEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::configuration::TypingSettings;
use crate::webhook::{Outcome, WebhookClient};

/// Indicators waiting to be posted at most; beyond, new ones are dropped.
const WAITING: usize = 256;
/// Conversations whose last indicator time is kept; beyond it the map starts over.
const REMEMBERED: usize = 10_000;

struct Job {
    event: Typing,
    typed_at: Instant,
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
    last: Mutex<HashMap<String, Instant>>,
    min_interval: Duration,
}

/// Posts the indicators; run once.
pub struct TypingWorker {
    receiver: mpsc::Receiver<Job>,
    client: Arc<WebhookClient>,
    max_delay: Duration,
}

/// The relay and its worker.
pub fn relay(settings: &TypingSettings, client: Arc<WebhookClient>) -> (TypingRelay, TypingWorker) {
    let (sender, receiver) = mpsc::channel(WAITING);
    (
        TypingRelay {
            sender,
            last: Mutex::new(HashMap::new()),
            min_interval: Duration::from_millis(settings.min_interval_ms),
        },
        TypingWorker {
            receiver,
            client,
            max_delay: Duration::from_millis(settings.max_delay_ms),
        },
    )
}

impl TypingRelay {
    /// The agent `sender` is typing in `conversation_id` now.
    pub fn offer(&self, conversation_id: &str, sender: &str) -> Offered {
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last
                .get(conversation_id)
                .is_some_and(|at| now.duration_since(*at) < self.min_interval)
            {
                return Offered::TooSoon;
            }
            if last.len() >= REMEMBERED {
                last.clear();
            }
            last.insert(conversation_id.to_owned(), now);
        }
        let event = Typing {
            conversation_id: conversation_id.to_owned(),
            id: format!("typing:{}", uuid::Uuid::now_v7()),
            sender: Some(sender.to_owned()),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        match self.sender.try_send(Job {
            event,
            typed_at: now,
        }) {
            Ok(()) => Offered::Queued,
            Err(_) => Offered::Full,
        }
    }
}

impl TypingWorker {
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let job = tokio::select! {
                _ = shutdown.cancelled() => return,
                job = self.receiver.recv() => match job { Some(job) => job, None => return },
            };
            let conversation_id = job.event.conversation_id.clone();
            if job.typed_at.elapsed() > self.max_delay {
                tracing::debug!(conversation_id = %conversation_id, "typing indicator too late; dropped");
                continue;
            }
            let timeout = self.client.settings.timeout();
            match self
                .client
                .post(&WebhookEvent::Typing(job.event), timeout)
                .await
            {
                Outcome::Delivered => {
                    tracing::debug!(conversation_id = %conversation_id, "typing indicator sent")
                }
                Outcome::Retry(reason) | Outcome::Failed(reason) => {
                    tracing::debug!(conversation_id = %conversation_id, reason = %reason, "typing indicator not delivered; dropped")
                }
            }
        }
    }
}
