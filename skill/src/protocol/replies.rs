//! Sends a turn's replies back to the caller (Copilot Studio) in normal delivery mode.
//!
//! Replies go to the inbound activity's `serviceUrl` as ReplyToActivity, signed with the skill's own
//! registration for the caller's app id. They belong to the turn, so they are not put in an outbox:
//! a few quick retries on transient answers, then the failure is logged.

use std::sync::Arc;

use super::activity::Activity;
use super::auth::CallerIdentity;
use super::connector::{ConnectorClient, OutboundCredential};
use super::credentials::ClientCredentials;
use crate::handover::RetryPolicy;

/// Sends replies to the skill's caller.
pub struct ReplySender {
    connector: Arc<ConnectorClient>,
    skill_credentials: Option<ClientCredentials>,
    policy: RetryPolicy,
}

impl ReplySender {
    /// `policy`: a few quick attempts (the replies belong to the turn, which Copilot Studio is
    /// waiting on).
    pub fn new(
        connector: Arc<ConnectorClient>,
        skill_credentials: Option<ClientCredentials>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            connector,
            skill_credentials,
            policy,
        }
    }

    /// The credential that answers this caller: none in anonymous mode, else the skill's own.
    pub fn credential_for(&self, caller: &CallerIdentity) -> OutboundCredential {
        match (&self.skill_credentials, caller.anonymous) {
            (Some(credentials), false) => OutboundCredential::App {
                credentials: credentials.clone(),
                scope: caller.reply_scope(),
            },
            _ => OutboundCredential::Anonymous,
        }
    }

    /// True when replies to `service_url` can be sent for this caller (checked before accepting).
    pub fn can_reply(&self, service_url: &url::Url, caller: &CallerIdentity) -> bool {
        self.connector
            .may_send(service_url, &self.credential_for(caller))
    }

    /// Sends each reply in order; returns how many were accepted.
    pub async fn send(
        &self,
        inbound: &Activity,
        caller: &CallerIdentity,
        replies: &[Activity],
    ) -> usize {
        let credential = self.credential_for(caller);
        let service_url = inbound.service_url.as_deref().unwrap_or_default();
        let conversation_id = inbound.conversation_id();
        let mut sent = 0;
        for reply in replies {
            for attempt in 1..=self.policy.max_attempts {
                let result = match inbound.id.as_deref().filter(|id| !id.is_empty()) {
                    Some(activity_id) => {
                        self.connector
                            .reply_to_activity(
                                service_url,
                                conversation_id,
                                activity_id,
                                reply,
                                &credential,
                            )
                            .await
                    }
                    None => {
                        self.connector
                            .send_to_conversation(service_url, conversation_id, reply, &credential)
                            .await
                    }
                };
                match result {
                    Ok(_) => {
                        tracing::info!(
                            reply_type = reply.kind(),
                            code = reply.code.as_deref().unwrap_or(""),
                            "reply sent"
                        );
                        sent += 1;
                        break;
                    }
                    Err(error) if error.is_transient() && attempt < self.policy.max_attempts => {
                        let delay = self.policy.delay(attempt, error.retry_after());
                        tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "reply failed; retrying");
                        tokio::time::sleep(delay).await;
                    }
                    Err(error) => {
                        tracing::error!(error = %error, reply_type = reply.kind(), "reply to the caller failed");
                        break;
                    }
                }
            }
        }
        sent
    }
}
