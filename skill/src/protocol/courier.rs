//! The Teams lane's courier: turns a stored [`ToUser`] into a proactive message and sends it with
//! the Copilot Studio agent's identity.
//!
//! What is the same for every message of a conversation (the activity's accounts, the checked
//! destination) is made once per conversation address and kept, so a busy conversation costs the
//! text of each message and little else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::activity::Activity;
use super::connector::{ConnectorClient, ConnectorError, Destination, OutboundCredential};
use super::render::{proactive_skeleton, with_text};
use super::teams::TeamsTarget;
use crate::domain::{Lane, Outbound, ToUser};
use crate::handover::outbox::{Attempt, Courier};

/// Conversations whose prepared parts are kept; beyond it the cache starts over.
const PREPARED_CONVERSATIONS: usize = 20_000;

/// A conversation's proactive activity without its text, and where it goes.
struct Prepared {
    destination: Destination,
    skeleton: Activity,
}

/// Prepared parts by (stored address, Copilot conversation id).
type PreparedCache = Mutex<HashMap<(Arc<str>, String), Arc<Prepared>>>;

/// Sends agent replies to Teams as proactive messages.
pub struct TeamsCourier {
    connector: Arc<ConnectorClient>,
    credential: OutboundCredential,
    target: TeamsTarget,
    prepared: PreparedCache,
}

impl TeamsCourier {
    pub fn new(
        connector: Arc<ConnectorClient>,
        credential: OutboundCredential,
        target: TeamsTarget,
    ) -> Self {
        Self {
            connector,
            credential,
            target,
            prepared: Mutex::new(HashMap::new()),
        }
    }

    fn prepared(&self, message: &ToUser) -> Result<Arc<Prepared>, String> {
        let key = (message.address.shared(), message.conversation.to_string());
        let mut cache = self
            .prepared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(prepared) = cache.get(&key) {
            return Ok(prepared.clone());
        }
        let skeleton = proactive_skeleton(message, &self.target)?;
        let destination = self
            .connector
            .destination(
                &skeleton.service_url,
                &skeleton.conversation_id,
                &self.credential,
            )
            .map_err(|error| describe_teams_failure(&error))?;
        let prepared = Arc::new(Prepared {
            destination,
            skeleton: skeleton.activity,
        });
        if cache.len() >= PREPARED_CONVERSATIONS {
            cache.clear();
        }
        cache.insert(key, prepared.clone());
        Ok(prepared)
    }
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
        let prepared = match self.prepared(message) {
            Ok(prepared) => prepared,
            Err(reason) => return Attempt::Failed { reason },
        };
        let activity = with_text(&prepared.skeleton, &message.message);
        let sent = self
            .connector
            .send_to(&prepared.destination, &activity, &self.credential)
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
