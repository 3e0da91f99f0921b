//! The customer's place in the queue changed: they read their new place and the usual wait.

use super::super::service::{Handover, HandoverError};
use super::super::text;
use crate::domain::{LiveChatConversationId, LiveChatEventId, WebhookOutcome};

impl Handover {
    pub(in crate::handover) async fn queue_update(
        &self,
        conversation: LiveChatConversationId,
        id: LiveChatEventId,
        position: u32,
        estimated_wait_secs: Option<u64>,
    ) -> Result<WebhookOutcome, HandoverError> {
        let notice = text::queue_position(position, estimated_wait_secs);
        let session = self.session_for_event(&conversation).await?;
        self.notice_for_event(session, conversation, &id, notice, Vec::new())
            .await
    }
}
