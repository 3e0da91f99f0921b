//! Delivers agent replies (and the agent's end of a conversation) to the skill's webhook.
//!
//! The worker takes the oldest pending entry of each conversation, so replies arrive in order while
//! conversations proceed in parallel. What is retried and how long it waits are the live-chat
//! link's rules, the contract's ([`livechat_contract::retry`]), which the skill follows too: the
//! skill being down, slow or answering 5xx, 408 or 429 is retried with jittered exponential backoff;
//! after the last attempt, or on a refusal (another 4xx), the entry is marked failed and the agent
//! can retry it. The entry's id is stable, so a repeat after a crash is recognised by the skill and
//! sent to Teams once.
//!
//! The worker finds its work by reading the pending entries' heads from a read-only connection
//! when the writer wakes it (and every `webhook.poll_interval_ms`): one indexed query per wake for
//! every conversation due, not one per reply. It is not handed the committed entries the way the
//! skill's workers are: agents' replies come at the pace people type (the load run takes 2,000 a
//! second, far beyond any contact centre's agents), and reading them back keeps one path for new
//! work, retries and what a restart finds.
//!
//! An agent's file goes with its entry as `attachments`: its name, kind, size, checksum and the
//! session API path the skill fetches it from with the API key (never a public link).
//!
//! Agents joining (`agentJoined`) and customers' queue updates (`queueUpdate`) are entries of the
//! same outbox, so they arrive in order with the replies: an agent's joining before their first
//! reply. (Typing goes around it: `typing.rs`.)
//!
//! Body: the contract's [`WebhookEvent`]. With a secret, the request carries the contract's
//! signature headers ([`livechat_contract::signature`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livechat_contract::api::EntryKind;
use livechat_contract::retry::is_transient_status;
use livechat_contract::signature;
use livechat_contract::webhook::{
    AgentJoined, AgentMessage, ConversationEnded, QueueUpdate, WebhookEvent,
};
use secrecy::ExposeSecret;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::configuration::WebhookSettings;
use crate::store::{ConversationId, EntryDetail, PendingDelivery, Store};

/// Conversations delivered to at once (each in order, one reply at a time).
const MAX_IN_FLIGHT: u32 = 64;

/// What became of one post.
pub(crate) enum Posted {
    Delivered,
    /// Worth another attempt, by the contract's rule.
    Retry(String),
    Failed(String),
}

/// Posts one event to the skill's webhook, signed when a secret is set.
pub struct WebhookClient {
    pub http: reqwest::Client,
    pub settings: WebhookSettings,
    /// Where attempts are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl WebhookClient {
    pub(crate) async fn post(&self, event: &WebhookEvent, timeout: Duration) -> Posted {
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(error) => return Posted::Failed(format!("the event cannot be written: {error}")),
        };
        let mut request = self
            .http
            .post(self.settings.url.clone())
            .timeout(timeout)
            .header("Content-Type", "application/json");
        // The skill continues this trace (traces exported only).
        if let Some((name, value)) = service_support::trace_context::header() {
            request = request.header(name, value);
        }
        if let Some(secret) = &self.settings.secret {
            let timestamp = chrono::Utc::now().timestamp();
            match signature::signature_headers(secret.expose_secret().as_bytes(), timestamp, &body)
            {
                Ok(headers) => {
                    for (name, value) in headers {
                        request = request.header(name, value);
                    }
                }
                Err(error) => return Posted::Failed(format!("cannot sign the webhook: {error}")),
            }
        }
        match request.body(body).send().await {
            Ok(response) if response.status().is_success() => Posted::Delivered,
            Ok(response) => {
                let status = response.status().as_u16();
                let stale = response
                    .headers()
                    .get(signature::REFUSAL_HEADER)
                    .is_some_and(|value| value == signature::STALE_TIMESTAMP);
                if stale {
                    tracing::error!(status, "CLOCKS DIFFER: the skill refused the webhook's signed time as outside its replay window; retrying for webhook.max_attempts. Synchronise both machines' clocks (NTP)");
                    return Posted::Retry(
                        "the skill refused the signature's time: the two clocks differ".into(),
                    );
                }
                let detail: String = response
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                if is_transient_status(status) {
                    Posted::Retry(format!("the skill answered {status}"))
                } else {
                    Posted::Failed(format!(
                        "the skill refused the message ({status}): {detail}"
                    ))
                }
            }
            Err(error) => Posted::Retry(format!(
                "the skill could not be reached: {}",
                error.without_url()
            )),
        }
    }
}

/// The webhook delivery worker.
pub struct WebhookWorker {
    pub store: Store,
    pub client: Arc<WebhookClient>,
}

impl WebhookWorker {
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let busy: Arc<Mutex<HashSet<ConversationId>>> = Arc::default();
        let mut tasks = JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            let busy_now: Vec<ConversationId> = lock(&busy).iter().cloned().collect();
            let capacity = MAX_IN_FLIGHT.saturating_sub(busy_now.len() as u32);
            match this
                .store
                .due_deliveries(chrono::Utc::now().timestamp_millis(), capacity, &busy_now)
                .await
            {
                Ok(due) => {
                    for delivery in due {
                        let Some(conversation_id) =
                            ConversationId::parse(&delivery.entry.conversation_id)
                        else {
                            continue;
                        };
                        lock(&busy).insert(conversation_id.clone());
                        let (worker, busy) = (this.clone(), busy.clone());
                        tasks.spawn(async move {
                            worker.attempt(delivery).await;
                            lock(&busy).remove(&conversation_id);
                        });
                    }
                }
                Err(error) => {
                    tracing::error!(error.cause_chain = ?error, "cannot read pending replies")
                }
            }
            let mut sleep_for = this.client.settings.poll_interval();
            // With deliveries in flight, the next to finish wakes the loop soon anyway: the
            // look for the next retry's time is only needed when nothing is.
            let next_retry = if tasks.is_empty() {
                this.store.next_due_at().await
            } else {
                Ok(None)
            };
            if let Ok(Some(due_at)) = next_retry {
                let wait = due_at - chrono::Utc::now().timestamp_millis();
                if wait > 0 {
                    sleep_for = sleep_for.min(Duration::from_millis(wait as u64));
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = this.store.outbox_signal().notified() => {}
                _ = tokio::time::sleep(sleep_for) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }

    async fn attempt(&self, delivery: PendingDelivery) {
        let message = &delivery.entry;
        let span = tracing::info_span!("webhook_delivery", conversation_id = %message.conversation_id, message_id = %message.id, attempt = delivery.attempts + 1);
        // The delivery continues the trace of the request that stored it (traces exported only).
        service_support::trace_context::adopt(&span, delivery.trace.as_deref());
        async {
            let outcome = self.send(&delivery).await;
            let failed_attempts = delivery.attempts + 1;
            let result = match outcome {
                Posted::Delivered => {
                    tracing::debug!("delivered to the skill");
                    self.client.metrics.webhook("event", "delivered");
                    self.store.mark_delivered(message.seq).await
                }
                Posted::Retry(reason) if failed_attempts < self.client.settings.max_attempts => {
                    self.client.metrics.webhook("event", "retried");
                    let delay = self.client.settings.backoff().delay(failed_attempts, None);
                    tracing::warn!(reason = %reason, retry_in_ms = delay.as_millis() as u64, "webhook failed; will retry");
                    self.store.schedule_retry(message.seq, chrono::Utc::now().timestamp_millis() + delay.as_millis() as i64, &reason).await
                }
                Posted::Retry(reason) | Posted::Failed(reason) => {
                    self.client.metrics.webhook("event", "failed");
                    tracing::error!(reason = %reason, "webhook failed for good; the agent can retry");
                    self.store.mark_failed(message.seq, &reason).await
                }
            };
            if let Err(error) = result {
                tracing::error!(error.cause_chain = ?error, "cannot record the delivery outcome; it stays pending");
            }
        }
        .instrument(span)
        .await
    }

    async fn send(&self, delivery: &PendingDelivery) -> Posted {
        match event_of(delivery) {
            Ok(event) => {
                self.client
                    .post(&event, self.client.settings.timeout())
                    .await
            }
            Err(reason) => Posted::Failed(reason),
        }
    }
}

/// The webhook event a pending outbox entry stands for.
fn event_of(delivery: &PendingDelivery) -> Result<WebhookEvent, String> {
    let entry = &delivery.entry;
    Ok(match (entry.kind, &delivery.detail) {
        (EntryKind::Ended, _) => WebhookEvent::ConversationEnded(ConversationEnded {
            conversation_id: entry.conversation_id.clone(),
            id: entry.id.clone(),
            sender: Some(entry.sender.clone()),
            timestamp: Some(entry.timestamp.clone()),
        }),
        (EntryKind::Message, _) => WebhookEvent::Message(AgentMessage {
            conversation_id: entry.conversation_id.clone(),
            message: entry.message.clone(),
            sender: Some(entry.sender.clone()),
            timestamp: Some(entry.timestamp.clone()),
            id: entry.id.clone(),
            // A file retention removed before a retry has nothing left to fetch.
            attachments: entry
                .attachments
                .iter()
                .filter(|attachment| !attachment.removed)
                .cloned()
                .collect(),
        }),
        (
            EntryKind::Joined,
            Some(EntryDetail::Joined {
                agent_name,
                transferred_by,
            }),
        ) => WebhookEvent::AgentJoined(AgentJoined {
            conversation_id: entry.conversation_id.clone(),
            id: entry.id.clone(),
            agent_name: agent_name.clone(),
            transferred_by: transferred_by.clone(),
            timestamp: Some(entry.timestamp.clone()),
        }),
        (
            EntryKind::Queue,
            Some(EntryDetail::Queue {
                position,
                estimated_wait_seconds,
            }),
        ) => WebhookEvent::QueueUpdate(QueueUpdate {
            conversation_id: entry.conversation_id.clone(),
            id: entry.id.clone(),
            queue_position: *position,
            estimated_wait_seconds: Some(*estimated_wait_seconds),
            timestamp: Some(entry.timestamp.clone()),
        }),
        (kind, _) => {
            return Err(format!(
                "the stored {} entry has no readable detail",
                kind.as_str()
            ))
        }
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
