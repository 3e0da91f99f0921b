//! Events a live chat reports other than through the webhook (Genesys' notification channel says
//! when an agent takes or leaves a conversation): handed to the handover one at a time, in the
//! order they came, each retried for a while when its session is still opening or the store is
//! busy, as a webhook would be.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::service::{Handover, HandoverError};
use crate::domain::LiveChatEvent;

/// How long one event is retried before it is given up (and logged).
const RETRY_FOR: Duration = Duration::from_secs(120);

/// Hands a live chat's pushed events to the handover.
pub struct PushedEvents {
    pub events: mpsc::Receiver<LiveChatEvent>,
    pub handover: Arc<Handover>,
}

impl PushedEvents {
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                event = self.events.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
            };
            let conversation = event.conversation().clone();
            let started = tokio::time::Instant::now();
            let mut wait = Duration::from_millis(250);
            loop {
                match self.handover.handle_event(event.clone()).await {
                    Ok(outcome) => {
                        tracing::debug!(livechat_conversation_id = %conversation, ?outcome, "pushed event handled");
                        break;
                    }
                    // Over already, or never the skill's: nothing more to do.
                    Err(
                        error @ (HandoverError::ConversationEnded(_)
                        | HandoverError::UnknownConversation(_)),
                    ) => {
                        tracing::debug!(livechat_conversation_id = %conversation, error = %error, "pushed event for no open session; dropped");
                        break;
                    }
                    Err(error) if started.elapsed() < RETRY_FOR => {
                        if let HandoverError::Store(_) = error {
                            tracing::warn!(livechat_conversation_id = %conversation, error = %error, "a pushed event could not be stored yet; retrying");
                        }
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(wait) => {}
                        }
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                    Err(error) => {
                        tracing::error!(livechat_conversation_id = %conversation, error = %error, "a pushed event was given up");
                        break;
                    }
                }
            }
        }
    }
}
