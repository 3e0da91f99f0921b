//! The Teams lane's courier: turns a stored [`ToUser`] into a proactive message and sends it with
//! the Copilot Studio agent's identity.
//!
//! What is the same for every message of a conversation (the activity's accounts, the checked
//! destination) is made once per conversation address and kept, so a busy conversation costs the
//! text of each message and little else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;

use super::activity::{types, Activity};
use super::cards::FileLinks;
use super::connector::{ConnectorClient, ConnectorError, Destination, OutboundCredential};
use super::render::{json_with_content, proactive_skeleton, SkeletonJson};
use super::teams::TeamsTarget;
use crate::domain::{DeliveryId, Lane, Outbound, UserConversation};
use crate::handover::outbox::{Attempt, Courier};
use crate::handover::pacing::{RateScope, RateWindows};
use crate::handover::{TypingIndicator, TypingNotShown};

/// Conversations whose prepared parts are kept; beyond it the cache starts over.
const PREPARED_CONVERSATIONS: usize = 20_000;

/// A conversation's proactive activity without its text (as JSON), and where it goes.
struct Prepared {
    destination: Destination,
    skeleton: SkeletonJson,
    /// Where its sends count in Teams' windows: the conversation and its tenant (or, for a
    /// conversation without one, its service URL).
    scope: RateScope,
}

/// Prepared parts by (stored address, Copilot conversation id).
type PreparedCache = Mutex<HashMap<(Arc<str>, String), Arc<Prepared>>>;

/// Sends agent replies to Teams as proactive messages.
pub struct TeamsCourier {
    connector: Arc<ConnectorClient>,
    credential: OutboundCredential,
    target: TeamsTarget,
    /// Where the links to agents' files point.
    links: FileLinks,
    prepared: PreparedCache,
    /// Teams' rate windows, shared by messages and typing.
    windows: Arc<RateWindows>,
}

impl TeamsCourier {
    pub fn new(
        connector: Arc<ConnectorClient>,
        credential: OutboundCredential,
        target: TeamsTarget,
        links: FileLinks,
        windows: Arc<RateWindows>,
    ) -> Self {
        Self {
            connector,
            credential,
            target,
            links,
            prepared: Mutex::new(HashMap::new()),
            windows,
        }
    }

    fn prepared(&self, to: &UserConversation) -> Result<Arc<Prepared>, String> {
        let key = (to.address.shared(), to.conversation.to_string());
        let mut cache = self
            .prepared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(prepared) = cache.get(&key) {
            return Ok(prepared.clone());
        }
        let skeleton = proactive_skeleton(to, &self.target)?;
        let destination = self
            .connector
            .destination(
                &skeleton.service_url,
                &skeleton.conversation_id,
                &self.credential,
            )
            .map_err(|error| describe_teams_failure(&error))?;
        let tenant = skeleton
            .activity
            .conversation
            .as_ref()
            .and_then(|conversation| conversation.tenant_id.as_deref())
            .unwrap_or(&skeleton.service_url);
        let scope = RateScope {
            conversation: Arc::from(skeleton.conversation_id.as_str()),
            tenant: Arc::from(tenant),
        };
        let prepared = Arc::new(Prepared {
            destination,
            skeleton: SkeletonJson::of(&skeleton.activity)?,
            scope,
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

    async fn deliver(&self, _id: DeliveryId, payload: &Outbound) -> Attempt {
        let Outbound::ToUser(message) = payload else {
            return Attempt::Failed {
                reason: "not a message for Teams".to_owned(),
            };
        };
        let prepared = match self.prepared(&message.to) {
            Ok(prepared) => prepared,
            Err(reason) => return Attempt::Failed { reason },
        };
        let body = json_with_content(&prepared.skeleton, &message.message, &self.links);
        // Admitted by the worker through the same windows; the send counts from its answer on.
        let sent = self
            .connector
            .send_to(&prepared.destination, body, &self.credential)
            .await;
        self.windows
            .end(&prepared.scope, Instant::now(), is_throttled(&sent));
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

    fn windows(&self) -> Option<Arc<RateWindows>> {
        Some(self.windows.clone())
    }

    fn rate_scope(&self, payload: &Outbound) -> Option<RateScope> {
        let Outbound::ToUser(message) = payload else {
            return None;
        };
        self.prepared(&message.to)
            .ok()
            .map(|prepared| prepared.scope.clone())
    }
}

/// Teams said "too many" (another sender in the conversation or the tenant, or tighter limits).
fn is_throttled<T>(sent: &Result<T, ConnectorError>) -> bool {
    matches!(sent, Err(ConnectorError::Status { status: 429, .. }))
}

#[async_trait]
impl TypingIndicator for TeamsCourier {
    /// A `typing` activity from the bot account: one attempt, whatever Teams answers; dropped when
    /// Teams' windows have no room for it now (a late indicator says nothing).
    async fn show_typing(&self, to: &UserConversation) -> Result<(), TypingNotShown> {
        let prepared = self.prepared(to).map_err(TypingNotShown::Failed)?;
        let skeleton = proactive_skeleton(to, &self.target).map_err(TypingNotShown::Failed)?;
        let activity = Activity {
            kind: Some(types::TYPING.to_owned()),
            ..skeleton.activity
        };
        let body = serde_json::to_vec(&activity)
            .map_err(|error| TypingNotShown::Failed(error.to_string()))?;
        let Some(taken) = self.windows.try_take(&prepared.scope, Instant::now()) else {
            return Err(TypingNotShown::NoRoom);
        };
        let sent = self
            .connector
            .send_to(&prepared.destination, body, &self.credential)
            .await;
        taken.end(is_throttled(&sent));
        sent.map(drop)
            .map_err(|error| TypingNotShown::Failed(describe_teams_failure(&error)))
    }
}

/// Teams' documented final errors, by status and error code, in words the agent understands.
const TEAMS_FINAL_ERRORS: &[(u16, &str, &str)] = &[
    (403, "ConversationBlockedByUser", "the customer has blocked the bot in Teams"),
    (403, "MessageWritesBlocked", "Teams no longer accepts messages in this conversation (the customer may have blocked or removed the bot)"),
    (403, "BotNotInConversationRoster", "the bot is no longer part of the customer's Teams conversation (it was removed or uninstalled)"),
    (403, "BotDisabledByAdmin", "a Teams administrator has disabled the bot"),
    (404, "ConversationNotFound", "the customer's Teams conversation no longer exists"),
    (413, "MessageSizeTooBig", "the message is too large for Teams; send it in shorter parts"),
];

/// A final failure in words the agent understands, with Teams' own code for whoever looks further.
fn describe_teams_failure(error: &ConnectorError) -> String {
    match error {
        ConnectorError::Status { status, detail, .. } => {
            let known = TEAMS_FINAL_ERRORS
                .iter()
                .find(|(known_status, code, _)| known_status == status && detail.contains(code));
            match known {
                Some((status, code, words)) => format!("{words} ({status} {code})"),
                None if *status == 413 => {
                    "the message is too large for Teams; send it in shorter parts (413)".to_owned()
                }
                None => format!("Teams refused the message ({status})"),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: &str) -> ConnectorError {
        ConnectorError::Status {
            status,
            detail: format!(r#"{{"error":{{"code":"{code}","message":"x"}}}}"#),
            retry_after: None,
        }
    }

    #[test]
    fn teams_final_errors_are_told_in_plain_words_and_not_retried() {
        for (code, http, words) in [
            ("ConversationBlockedByUser", 403, "blocked the bot"),
            ("MessageWritesBlocked", 403, "no longer accepts messages"),
            ("BotNotInConversationRoster", 403, "no longer part of"),
            ("BotDisabledByAdmin", 403, "administrator has disabled"),
            ("ConversationNotFound", 404, "no longer exists"),
            ("MessageSizeTooBig", 413, "too large"),
        ] {
            let error = status(http, code);
            assert!(!error.is_transient(), "{code}");
            let told = describe_teams_failure(&error);
            assert!(
                told.contains(words) && told.contains(code),
                "{code}: {told}"
            );
        }
        for retried in [412, 429, 502, 503, 504] {
            assert!(status(retried, "x").is_transient(), "{retried}");
        }
        for final_status in [400, 401, 403, 404, 408, 500, 501] {
            assert!(!status(final_status, "x").is_transient(), "{final_status}");
        }
        assert!(ConnectorError::Transport("reset".into()).is_transient());
    }
}
