//! [`Handover`]: the handover's state and collaborators, and where each request and event goes.
//!
//! [`Handover::handle`] takes a [`HandoverRequest`] and answers a [`HandoverOutcome`];
//! [`Handover::handle_event`] takes a [`LiveChatEvent`] and answers a [`WebhookOutcome`]. Both
//! decide and store; delivery is the outbox workers' job, and rendering the answer is the caller's.
//! What each action does is in `actions/`, what each event does in `events/`, one a file.

use std::sync::Arc;
use std::time::Duration;

use service_support::clock::Clock;
use service_support::masking::Masker;

use super::ports::{LiveChat, TypingIndicator};
use crate::domain::{
    HandoverOutcome, HandoverRequest, LiveChatConversationId, LiveChatEvent, Timeouts,
    WebhookOutcome,
};
use crate::metrics::Metrics;
use crate::store::Store;

/// How long a second `startConversation` waits beyond the live chat's own time limit for the
/// first to finish opening the session.
const SESSION_OPENING_WAIT_MARGIN: Duration = Duration::from_secs(2);

/// The handover logic, shared by the routes and the workers.
pub struct Handover {
    pub(in crate::handover) store: Store,
    pub(in crate::handover) livechat: Arc<dyn LiveChat>,
    pub(in crate::handover) metrics: Arc<Metrics>,
    /// How long a start waits for another request opening the same session.
    pub(in crate::handover) opening_wait: Duration,
    pub(in crate::handover) typing: Arc<dyn TypingIndicator>,
    pub(in crate::handover) timeouts: Timeouts,
    pub(in crate::handover) clock: Clock,
    /// How late an agent's typing may still be shown to the user.
    pub(in crate::handover) typing_max_age: Duration,
    /// How long the link to an agent's file works.
    pub(in crate::handover) file_links_last: Duration,
    /// Masks sensitive data in the customer's words before they are stored (`[masking]`).
    pub(in crate::handover) masker: Masker,
}

/// The handover's collaborators that are not the store and the live chat.
pub struct HandoverParts {
    pub metrics: Arc<Metrics>,
    /// Bounds one live-chat call; a concurrent start waits a little longer.
    pub livechat_timeout: Duration,
    pub typing: Arc<dyn TypingIndicator>,
    /// How late an agent's typing may still be shown (the live chat's own limit).
    pub typing_max_age: Duration,
    pub timeouts: Timeouts,
    pub clock: Clock,
    /// How long the link to an agent's file works (`files.link_expiry_days`).
    pub file_links_last: Duration,
    /// The masking rules, the same as the live chat's.
    pub masker: Masker,
}

/// Why a live-chat event was refused.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("no handover session has the live-chat conversation id '{0}'")]
    UnknownConversation(LiveChatConversationId),
    /// Unknown, but a session is opening and may turn out to be it: worth another attempt.
    #[error("the live-chat conversation '{0}' is not known yet; a session is still opening, so try again in a moment")]
    NotYetKnown(LiveChatConversationId),
    #[error("the live-chat conversation '{0}' has ended; nothing more reaches the customer")]
    ConversationEnded(LiveChatConversationId),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl Handover {
    pub fn new(store: Store, livechat: Arc<dyn LiveChat>, parts: HandoverParts) -> Self {
        Self {
            store,
            livechat,
            metrics: parts.metrics,
            opening_wait: parts.livechat_timeout + SESSION_OPENING_WAIT_MARGIN,
            typing: parts.typing,
            timeouts: parts.timeouts,
            clock: parts.clock,
            typing_max_age: parts.typing_max_age,
            file_links_last: parts.file_links_last,
            masker: parts.masker,
        }
    }

    /// Handles one request from Copilot Studio.
    pub async fn handle(&self, request: HandoverRequest) -> anyhow::Result<HandoverOutcome> {
        match super::masking::masked(&self.masker, request) {
            HandoverRequest::Start(start) => self.start(start).await,
            HandoverRequest::Message(message) => self.message(message).await,
            HandoverRequest::End(keys) => self.end(&keys).await,
            HandoverRequest::Rate(rate) => self.rate(rate).await,
            HandoverRequest::LeaveMessage(left) => self.leave_message(left).await,
            HandoverRequest::Cancel(keys) => self.cancel(&keys).await,
            HandoverRequest::Invalid { action, reason } => {
                tracing::warn!(action = %action, reason = %reason, "action refused: unusable inputs");
                Ok(HandoverOutcome::Invalid { action, reason })
            }
            HandoverRequest::UnknownAction(name) => {
                tracing::warn!(name = %name, "unknown event");
                Ok(HandoverOutcome::UnknownAction(name))
            }
            HandoverRequest::Unsupported(kind) => {
                tracing::warn!(activity_type = %kind, "unsupported activity type");
                Ok(HandoverOutcome::Unsupported(kind))
            }
            HandoverRequest::Typing(keys) => {
                self.customer_typing(&keys).await;
                Ok(HandoverOutcome::Silent)
            }
            HandoverRequest::Ignore => {
                tracing::debug!("informational activity ignored");
                Ok(HandoverOutcome::Silent)
            }
        }
    }

    /// Handles an event from the live chat. Whatever it sends the customer is stored before this
    /// returns, keyed by the event's id.
    pub async fn handle_event(
        &self,
        event: LiveChatEvent,
    ) -> Result<WebhookOutcome, HandoverError> {
        match event {
            LiveChatEvent::AgentMessage {
                conversation,
                id,
                sender,
                text,
                files,
            } => {
                self.agent_message(conversation, id, sender, text, files)
                    .await
            }
            LiveChatEvent::AgentJoined {
                conversation,
                id,
                agent,
                transferred_by,
            } => {
                self.agent_joined(conversation, id, agent, transferred_by)
                    .await
            }
            LiveChatEvent::QueueUpdate {
                conversation,
                id,
                position,
                estimated_wait_secs,
            } => {
                self.queue_update(conversation, id, position, estimated_wait_secs)
                    .await
            }
            LiveChatEvent::Typing { conversation, age } => {
                Ok(self.typing(&conversation, age).await)
            }
            LiveChatEvent::ConversationEnded {
                conversation,
                id,
                agent,
            } => self.conversation_ended(conversation, id, agent).await,
        }
    }
}
