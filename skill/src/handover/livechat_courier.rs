//! The live-chat lane's courier: forwards the user's messages, and the end of a session, through
//! the [`LiveChat`] port (so it knows no live-chat JSON, and lives with the outbox).

use std::sync::Arc;

use async_trait::async_trait;

use super::notices::system_note;
use super::outbox::{Attempt, Courier};
use super::ports::LiveChat;
use super::text;
use crate::domain::{DeliveryId, Lane, Outbound, ToAgent};

/// Delivers [`ToAgent`] calls.
pub struct LiveChatCourier {
    pub livechat: Arc<dyn LiveChat>,
}

#[async_trait]
impl Courier for LiveChatCourier {
    fn lane(&self) -> Lane {
        Lane::LiveChat
    }

    async fn deliver(&self, id: DeliveryId, payload: &Outbound) -> Attempt {
        let result = match payload {
            Outbound::ToAgent(ToAgent::Message { livechat, message }) => {
                self.livechat.send(id, livechat, message).await
            }
            Outbound::ToAgent(ToAgent::End { livechat }) => self.livechat.end(livechat).await,
            Outbound::ToAgent(ToAgent::Rate {
                livechat,
                rating,
                comment,
            }) => {
                self.livechat
                    .rate(livechat, *rating, comment.as_deref())
                    .await
            }
            Outbound::ToAgent(ToAgent::Abandon {
                session,
                conversation,
            }) => {
                let note = system_note(text::OPENING_INTERRUPTED.to_owned());
                self.livechat.abandon(session, conversation, &note).await
            }
            Outbound::ToUser(_) => {
                return Attempt::Failed {
                    reason: "not a call for the live chat".to_owned(),
                }
            }
        };
        match result {
            Ok(()) => Attempt::Delivered,
            Err(error) if error.is_transient() => Attempt::Retry {
                reason: error.to_string(),
                after: None,
            },
            Err(error) => Attempt::Failed {
                reason: error.to_string(),
            },
        }
    }
}
