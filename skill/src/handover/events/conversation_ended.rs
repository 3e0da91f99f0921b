//! The agent closed the chat: the customer is told in Teams at once, the session closes (naming the
//! agent who closed it), and the next message routed to the skill ends `sendMessage` with
//! `agentEnded`. A repeat of the end finds the session closed.

use super::super::notices::to_user;
use super::super::service::{Handover, HandoverError};
use super::super::text;
use crate::domain::{
    ClosedBy, DedupeKey, LiveChatConversationId, LiveChatEventId, MessageToUser, WebhookOutcome,
};
use crate::store::SessionUpdate;

impl Handover {
    pub(in crate::handover) async fn conversation_ended(
        &self,
        conversation: LiveChatConversationId,
        id: LiveChatEventId,
        agent: Option<String>,
    ) -> Result<WebhookOutcome, HandoverError> {
        let session = self.session_for_event(&conversation).await?;
        let notice = to_user(
            &session,
            &conversation,
            MessageToUser::notice(text::AGENT_ENDED_NOTICE),
            DedupeKey::AgentEnded(&id).stored(),
        );
        let updates = agent
            .map(|agent| SessionUpdate::AgentNamed {
                session: session.id.clone(),
                agent,
            })
            .into_iter()
            .collect();
        if self
            .store
            .close_session_with(&session.id, ClosedBy::Agent, vec![notice], updates)
            .await?
        {
            tracing::info!(session_id = %session.id, "session closed by the agent");
            Ok(WebhookOutcome::Accepted)
        } else {
            Ok(WebhookOutcome::AlreadyEnded)
        }
    }
}
