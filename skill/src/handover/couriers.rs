//! The two couriers: agent replies into Teams, and user messages (and session ends) into the live chat.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::outbox::{Attempt, Courier};
use super::payloads::{LiveChatCall, TeamsMessage};
use super::text;
use crate::livechat::LiveChat;
use crate::protocol::{ConnectorClient, ConnectorError, OutboundCredential};
use crate::store::{Delivery, Lane, NewDelivery, Store};

/// Sends agent replies to Teams as proactive messages, with the Copilot Studio agent's identity.
pub struct TeamsCourier {
    pub connector: Arc<ConnectorClient>,
    pub credential: OutboundCredential,
    pub store: Arc<dyn Store>,
    pub wake_livechat: Arc<Notify>,
}

#[async_trait]
impl Courier for TeamsCourier {
    fn lane(&self) -> Lane {
        Lane::Teams
    }

    async fn deliver(&self, delivery: &Delivery) -> Attempt {
        let message: TeamsMessage = match serde_json::from_value(delivery.payload.clone()) {
            Ok(message) => message,
            Err(error) => {
                return Attempt::Failed {
                    reason: format!("unreadable payload: {error}"),
                }
            }
        };
        let sent = self
            .connector
            .send_to_conversation(
                &message.service_url,
                &message.conversation_id,
                &message.activity,
                &self.credential,
            )
            .await;
        match sent {
            Ok(_) => Attempt::Delivered,
            Err(error) if error.is_transient() => Attempt::Retry {
                reason: error.to_string(),
                after: error.retry_after(),
            },
            Err(error) => Attempt::Failed {
                reason: describe_teams_failure(&error),
            },
        }
    }

    /// Tells the agent, in the live chat, that the customer did not get the message.
    async fn gave_up(&self, delivery: &Delivery, reason: &str) {
        let Ok(message) = serde_json::from_value::<TeamsMessage>(delivery.payload.clone()) else {
            return;
        };
        let notice = NewDelivery {
            lane: Lane::LiveChat,
            queue_key: message.livechat_conversation_id.clone(),
            dedupe_key: Some(format!("undelivered:{}", delivery.id)),
            payload: serde_json::json!(LiveChatCall::Message {
                livechat_conversation_id: message.livechat_conversation_id,
                message: format!("Your message could not be delivered to the customer: {reason}."),
                sender: text::SYSTEM_SENDER.to_owned(),
            }),
        };
        match self.store.enqueue(notice).await {
            Ok(_) => self.wake_livechat.notify_one(),
            Err(error) => {
                tracing::error!(error.cause_chain = ?error, "cannot store the undelivered notice for the agent")
            }
        }
    }
}

fn describe_teams_failure(error: &ConnectorError) -> String {
    if error.is_blocked_by_user() {
        return "the customer has blocked or removed the bot in Teams (403 MessageWritesBlocked)"
            .to_owned();
    }
    match error {
        ConnectorError::Status { status: 413, .. } => {
            "the message is too large for Teams (413)".to_owned()
        }
        ConnectorError::Status { status, .. } => format!("Teams refused the message ({status})"),
        other => other.to_string(),
    }
}

/// Forwards the user's messages, and the end of a session, to the live chat.
pub struct LiveChatCourier {
    pub livechat: Arc<dyn LiveChat>,
}

#[async_trait]
impl Courier for LiveChatCourier {
    fn lane(&self) -> Lane {
        Lane::LiveChat
    }

    async fn deliver(&self, delivery: &Delivery) -> Attempt {
        let call: LiveChatCall = match serde_json::from_value(delivery.payload.clone()) {
            Ok(call) => call,
            Err(error) => {
                return Attempt::Failed {
                    reason: format!("unreadable payload: {error}"),
                }
            }
        };
        let result = match &call {
            LiveChatCall::Message {
                livechat_conversation_id,
                message,
                sender,
            } => {
                self.livechat
                    .send(livechat_conversation_id, message, sender)
                    .await
            }
            LiveChatCall::End {
                livechat_conversation_id,
            } => self.livechat.end(livechat_conversation_id).await,
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

    async fn gave_up(&self, _delivery: &Delivery, _reason: &str) {
        // Nobody to tell on the live-chat side: the failure is logged and counted by the worker,
        // and the row stays in the table as `failed` with its reason.
    }
}
