//! An agent's message: stored for Teams, keyed by the event's id, only while the session is open
//! (the writer checks it in the transaction); a repeat of the id is a duplicate.

use super::super::notices::to_user;
use super::super::service::{Handover, HandoverError};
use crate::domain::{
    DedupeKey, LiveChatConversationId, LiveChatEventId, MessageToUser, Session, Speaker,
    WebhookOutcome,
};
use crate::store::{Enqueued, SessionUpdate};

impl Handover {
    pub(in crate::handover) async fn agent_message(
        &self,
        conversation: LiveChatConversationId,
        id: LiveChatEventId,
        sender: String,
        text: String,
    ) -> Result<WebhookOutcome, HandoverError> {
        let session = self.session_for_event(&conversation).await?;
        let delivery = to_user(
            &session,
            &conversation,
            MessageToUser {
                from: Speaker::Agent(sender),
                text,
            },
            DedupeKey::LiveChatEvent(&id).stored(),
        );
        match self
            .store
            .enqueue_for_open_session(&session.id, delivery)
            .await?
        {
            Enqueued::Accepted => {
                self.metrics.messages.with_label_values(&["to_user"]).inc();
                tracing::debug!(session_id = %session.id, livechat_message_id = %id, "agent message stored for Teams");
                Ok(WebhookOutcome::Accepted)
            }
            Enqueued::Duplicate => {
                tracing::info!(livechat_message_id = %id, "repeated webhook; already accepted");
                Ok(WebhookOutcome::Duplicate)
            }
            Enqueued::SessionClosed => Err(HandoverError::ConversationEnded(conversation)),
        }
    }

    /// A notice for the user from a live-chat event with a stable id, in order with the agent's
    /// messages, made with `updates` to the session; a repeat of the id is a duplicate.
    pub(in crate::handover) async fn notice_for_event(
        &self,
        session: Session,
        conversation: LiveChatConversationId,
        id: &LiveChatEventId,
        notice: String,
        updates: Vec<SessionUpdate>,
    ) -> Result<WebhookOutcome, HandoverError> {
        let delivery = to_user(
            &session,
            &conversation,
            MessageToUser::notice(notice),
            DedupeKey::LiveChatEvent(id).stored(),
        );
        match self
            .store
            .enqueue_for_open_session_with(&session.id, delivery, updates)
            .await?
        {
            Enqueued::Accepted => Ok(WebhookOutcome::Accepted),
            Enqueued::Duplicate => Ok(WebhookOutcome::Duplicate),
            Enqueued::SessionClosed => Err(HandoverError::ConversationEnded(conversation)),
        }
    }
}
