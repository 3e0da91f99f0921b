//! `startConversation`: opens (or reuses) the conversation's live-chat session.
//!
//! Nobody online: no session, and the topic hears so instead of a queue forever. Otherwise an
//! `opening` session is stored before the live chat is called (so a crash in between is recovered),
//! the live chat opens its conversation, and the session becomes open with its first timer; a
//! queued customer is told their place through the Teams outbox. A second start for the same
//! conversation waits for the first and answers the same session.

use std::time::Instant;

use super::super::ports::HandoffContext;
use super::super::service::Handover;
use super::super::text;
use crate::domain::{
    Availability, DedupeKey, HandoverOutcome, Opened, Outbound, Placement, Session, SessionState,
    StartRequest, ToAgent,
};
use crate::store::{BeginSession, NewDelivery};

impl Handover {
    pub(in crate::handover) async fn start(
        &self,
        request: StartRequest,
    ) -> anyhow::Result<HandoverOutcome> {
        // A hub that cannot say who is online opens the session and says nothing of places.
        if self.livechat.capabilities().availability
            && self
                .store
                .live_session(&request.keys.conversation)
                .await?
                .is_none()
        {
            match self.livechat.availability().await {
                Ok(Some(Availability {
                    closed: Some(closed),
                    ..
                })) => {
                    tracing::info!("the contact centre is closed; no session opened");
                    self.metrics.messages.with_label_values(&["closed"]).inc();
                    return Ok(HandoverOutcome::Closed(closed));
                }
                Ok(Some(availability)) if availability.agents_online == 0 => {
                    tracing::info!(
                        queue_length = availability.queue_length,
                        "no agent is online; no session opened"
                    );
                    self.metrics.messages.with_label_values(&["no_agent"]).inc();
                    return Ok(HandoverOutcome::NoAgentAvailable);
                }
                Ok(_) => {}
                Err(error) => {
                    // The start itself says whether the live chat can be reached.
                    tracing::warn!(error = %error, "cannot ask the live chat whether an agent is online");
                }
            }
        }
        let begun = self
            .store
            .begin_session(
                &request.keys.conversation,
                request.keys.origin.as_ref(),
                &request.address,
                request.customer.id.as_deref(),
            )
            .await?;
        let session = match begun {
            BeginSession::Created(session) => return self.open_in_livechat(request, session).await,
            BeginSession::Existing(session) => session,
        };
        tracing::info!(session_id = %session.id, "the conversation already has a live session; reusing it");
        match self
            .wait_until_open(session)
            .await?
            .and_then(|open| open.open_livechat().cloned())
        {
            Some(livechat) => Ok(HandoverOutcome::Started(Opened {
                livechat,
                placement: Placement::Unknown,
                hub_conversation: None,
            })),
            None => Ok(HandoverOutcome::StartFailed),
        }
    }

    async fn open_in_livechat(
        &self,
        request: StartRequest,
        session: Session,
    ) -> anyhow::Result<HandoverOutcome> {
        let context = handoff_context(request);
        let started = Instant::now();
        let opened = match self.livechat.start(&session.id, &context).await {
            Ok(opened) => opened,
            Err(error) => {
                // A timeout or a broken connection may have opened the conversation all the same:
                // the close then carries an abandon, which ends it (same key) when the live chat
                // answers again.
                let abandon = error.is_transient();
                tracing::error!(session_id = %session.id, error = %error, abandon, "cannot open a live-chat session");
                self.store.fail_session_open(&session.id, abandon).await?;
                return Ok(HandoverOutcome::StartFailed);
            }
        };
        let livechat = opened.livechat.clone();
        let (queued, agent) = match &opened.placement {
            Placement::Queued { .. } => (true, None),
            Placement::Connected { agent } => (false, agent.clone()),
            Placement::Unknown => (false, None),
        };
        let timer = self.timeouts.at_open(queued, self.clock.now_ms());
        let recorded = match self
            .store
            .complete_session_open(
                &session.id,
                &livechat,
                timer,
                agent,
                opened.hub_conversation.clone(),
            )
            .await
        {
            Ok(recorded) => recorded,
            Err(error) => {
                // Do not leave an orphan session in the live chat that nobody will ever end.
                let _ = self.livechat.end(&livechat).await;
                return Err(error.context("cannot record the new live-chat session"));
            }
        };
        if !recorded {
            // Ended (or given up) while the live chat was answering: the conversation it just
            // opened is ended too, through the outbox, instead of reporting success.
            tracing::warn!(session_id = %session.id, livechat_conversation_id = %livechat, "the session ended while it was opening; ending its live-chat conversation");
            self.store
                .enqueue(NewDelivery {
                    payload: Outbound::ToAgent(ToAgent::End { livechat }),
                    dedupe_key: None,
                })
                .await?;
            return Ok(HandoverOutcome::StartFailed);
        }
        tracing::info!(session_id = %session.id, livechat_conversation_id = %livechat, elapsed_ms = started.elapsed().as_millis() as u64, "live-chat session opened");
        if let Placement::Queued {
            position,
            estimated_wait_secs,
        } = opened.placement
        {
            let session = Session {
                state: SessionState::Open {
                    livechat: livechat.clone(),
                },
                ..session
            };
            self.tell_user(
                &session,
                &livechat,
                text::queue_position(position, estimated_wait_secs),
                DedupeKey::QueueStart(&livechat).stored(),
            )
            .await?;
        }
        Ok(HandoverOutcome::Started(opened))
    }
}

/// What the agent is told about the customer when a conversation opens.
pub(in crate::handover) fn handoff_context(request: StartRequest) -> HandoffContext {
    HandoffContext {
        customer_name: request.customer.name,
        customer_id: request.customer.id,
        channel: request.channel,
        tenant_id: request.tenant,
        bot_conversation_id: request.keys.conversation.to_string(),
        problem_description: request.problem_description,
    }
}
