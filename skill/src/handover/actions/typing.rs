//! The customer is typing: shown to the agent where the live chat can, at once and once. Never
//! stored, never retried, and never waited for: the activity is answered before the live chat is.

use tracing::Instrument;

use super::super::service::Handover;
use crate::domain::SessionKeys;

impl Handover {
    pub(in crate::handover) async fn customer_typing(&self, keys: &SessionKeys) {
        if !self.livechat.capabilities().typing_to_agent {
            return;
        }
        let livechat = match self.find_session(keys).await {
            Ok(Some(session)) => match session.open_livechat() {
                Some(livechat) => livechat.clone(),
                None => return,
            },
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(error.cause_chain = ?error, "cannot find the session of the customer's typing; dropped");
                return;
            }
        };
        let hub = self.livechat.clone();
        tokio::spawn(
            async move {
                if let Err(error) = hub.customer_typing(&livechat).await {
                    tracing::debug!(error = %error, "the customer's typing not shown to the agent");
                }
            }
            .in_current_span(),
        );
    }
}
