//! The Teams lane's courier: turns a stored [`ToUser`] into a proactive message and sends it with
//! the Copilot Studio agent's identity.

use std::sync::Arc;

use async_trait::async_trait;

use super::connector::{ConnectorClient, ConnectorError, OutboundCredential};
use super::render::proactive;
use super::teams::TeamsTarget;
use crate::domain::{Lane, Outbound};
use crate::handover::outbox::{Attempt, Courier};

/// Sends agent replies to Teams as proactive messages.
pub struct TeamsCourier {
    pub connector: Arc<ConnectorClient>,
    pub credential: OutboundCredential,
    pub target: TeamsTarget,
}

#[async_trait]
impl Courier for TeamsCourier {
    fn lane(&self) -> Lane {
        Lane::Teams
    }

    async fn deliver(&self, payload: &Outbound) -> Attempt {
        let Outbound::ToUser(message) = payload else {
            return Attempt::Failed {
                reason: "not a message for Teams".to_owned(),
            };
        };
        let message = match proactive(message, &self.target) {
            Ok(message) => message,
            Err(reason) => return Attempt::Failed { reason },
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
}

/// A final failure in words the agent understands.
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
