//! `endConversation` (the customer said goodbye) and the caller's `endOfConversation` (the action
//! was cancelled): the agent is told the customer left, the session ends in the live chat and the
//! mapping closes both ways. The two differ only in what is answered and logged.

use super::super::notices::closing;
use super::super::service::Handover;
use super::super::text;
use crate::domain::{ClosedBy, HandoverOutcome, SessionKeys, SessionState};

/// Why the customer's side ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserEnd {
    /// `endConversation`: the customer said goodbye.
    Requested,
    /// The caller's `endOfConversation`: the action was cancelled (or a registration ping).
    Cancelled,
}

impl Handover {
    /// `endConversation`.
    pub(in crate::handover) async fn end(
        &self,
        keys: &SessionKeys,
    ) -> anyhow::Result<HandoverOutcome> {
        self.end_by_user(keys, UserEnd::Requested).await?;
        Ok(HandoverOutcome::Ended)
    }

    /// The caller's `endOfConversation`: nothing is answered.
    pub(in crate::handover) async fn cancel(
        &self,
        keys: &SessionKeys,
    ) -> anyhow::Result<HandoverOutcome> {
        self.end_by_user(keys, UserEnd::Cancelled).await?;
        Ok(HandoverOutcome::Silent)
    }

    async fn end_by_user(&self, keys: &SessionKeys, end: UserEnd) -> anyhow::Result<()> {
        let Some(session) = self.find_session(keys).await? else {
            match end {
                UserEnd::Requested => {
                    tracing::info!("end requested for a conversation with no live session")
                }
                UserEnd::Cancelled => tracing::debug!(
                    "endOfConversation with no session (registration ping or a repeat)"
                ),
            }
            return Ok(());
        };
        match &session.state {
            SessionState::Open { livechat } => {
                let deliveries = closing(livechat, text::CUSTOMER_LEFT.to_owned());
                if self
                    .store
                    .close_session(&session.id, ClosedBy::User, deliveries)
                    .await?
                {
                    tracing::info!(session_id = %session.id, livechat_conversation_id = %livechat, "session closed by the user");
                }
            }
            SessionState::Opening => {
                // The request opening it sees the close when the live chat answers, and ends
                // what the live chat opened.
                tracing::warn!(session_id = %session.id, "end requested while the session is still opening; it is abandoned");
                self.store.fail_session_open(&session.id, false).await?;
            }
            SessionState::Closed { .. } => {
                tracing::info!(session_id = %session.id, "end requested for a session that is already closed")
            }
        }
        Ok(())
    }
}
