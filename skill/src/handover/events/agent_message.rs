//! An agent's message: stored for Teams, keyed by the event's id, only while the session is open
//! (the writer checks it in the transaction); a repeat of the id is a duplicate. Each file the
//! agent sent is a message of its own after the words, carrying a link the skill serves (an
//! unguessable token, valid for `files.link_expiry_days`), stored in the same transaction.

use super::super::notices::to_user;
use super::super::service::{Handover, HandoverError};
use crate::domain::{
    AgentFile, Content, DedupeKey, FileLinkToken, LiveChatConversationId, LiveChatEventId,
    MessageToUser, Session, SharedFile, Speaker, WebhookOutcome,
};
use crate::store::{Enqueued, NewFileLink, SessionUpdate};

impl Handover {
    pub(in crate::handover) async fn agent_message(
        &self,
        conversation: LiveChatConversationId,
        id: LiveChatEventId,
        sender: String,
        text: String,
        files: Vec<AgentFile>,
    ) -> Result<WebhookOutcome, HandoverError> {
        let session = self.session_for_event(&conversation).await?;
        let mut deliveries = Vec::with_capacity(1 + files.len());
        if !text.trim().is_empty() {
            deliveries.push(to_user(
                &session,
                &conversation,
                MessageToUser::from_agent(sender.clone(), text),
                DedupeKey::LiveChatEvent(&id).stored(),
            ));
        }
        let expires_at_ms = self.clock.now_ms()
            + i64::try_from(self.file_links_last.as_millis()).unwrap_or(i64::MAX);
        let mut links = Vec::with_capacity(files.len());
        for (n, file) in files.into_iter().enumerate() {
            let shared = SharedFile {
                token: FileLinkToken::generate(),
                expires_at_ms,
                file,
            };
            links.push(NewFileLink {
                session: session.id.clone(),
                shared: shared.clone(),
            });
            deliveries.push(to_user(
                &session,
                &conversation,
                MessageToUser {
                    from: Speaker::Agent(sender.clone()),
                    content: Content::File(shared),
                },
                DedupeKey::LiveChatEventFile(&id, n).stored(),
            ));
        }
        let count = deliveries.len() as u64;
        match self
            .store
            .enqueue_agent_message(&session.id, deliveries, links)
            .await?
        {
            Enqueued::Accepted => {
                self.metrics
                    .messages
                    .with_label_values(&["to_user"])
                    .inc_by(count);
                tracing::debug!(session_id = %session.id, livechat_message_id = %id, messages = count, "agent message stored for Teams");
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
