//! The agent is typing: shown at once and once. Too late, without room in Teams' rate windows, or
//! for no open session, it is dropped; it goes beside the outbox, so it never waits behind messages
//! nor is retried.

use std::time::Duration;

use tracing::Instrument;

use super::super::notices::user_conversation;
use super::super::service::Handover;
use crate::domain::{LiveChatConversationId, WebhookOutcome};

impl Handover {
    pub(in crate::handover) async fn typing(
        &self,
        conversation: &LiveChatConversationId,
        age: Duration,
    ) -> WebhookOutcome {
        let Some(left) = self.typing_max_age.checked_sub(age) else {
            tracing::debug!("typing indicator too late; dropped");
            return WebhookOutcome::Dropped;
        };
        let session = match self.store.session_by_livechat_id(conversation).await {
            Ok(Some(session)) if session.is_open() => session,
            Ok(_) => return WebhookOutcome::Dropped,
            Err(error) => {
                tracing::warn!(error.cause_chain = ?error, "cannot find the session of a typing indicator; dropped");
                return WebhookOutcome::Dropped;
            }
        };
        let to = user_conversation(&session, conversation);
        let (typing, metrics) = (self.typing.clone(), self.metrics.clone());
        tokio::spawn(
            async move {
                let outcome = match tokio::time::timeout(left, typing.show_typing(&to)).await {
                    Ok(Ok(())) => "shown",
                    Ok(Err(reason)) => {
                        tracing::debug!(reason = ?reason, "typing indicator not shown");
                        reason.label()
                    }
                    Err(_) => "late",
                };
                metrics.typing.with_label_values(&[outcome]).inc();
            }
            .in_current_span(),
        );
        WebhookOutcome::Accepted
    }
}
