//! An agent took the chat (accepting it, or on a transfer): the customer reads who, the queue
//! timer stops and the customer's silence counts from now.

use super::super::service::{Handover, HandoverError};
use super::super::text;
use crate::domain::{LiveChatConversationId, LiveChatEventId, WebhookOutcome};
use crate::store::SessionUpdate;

impl Handover {
    pub(in crate::handover) async fn agent_joined(
        &self,
        conversation: LiveChatConversationId,
        id: LiveChatEventId,
        agent: String,
        transferred_by: Option<String>,
    ) -> Result<WebhookOutcome, HandoverError> {
        let notice = match transferred_by {
            Some(from) => text::agent_transferred(&from, &agent),
            None => text::agent_joined(&agent),
        };
        let session = self.session_for_event(&conversation).await?;
        let update = SessionUpdate::AgentJoined {
            session: session.id.clone(),
            agent,
            inactivity: self.timeouts.inactivity_from(self.clock.now_ms()),
        };
        self.notice_for_event(session, conversation, &id, notice, vec![update])
            .await
    }
}
