//! `sendMessage`, and every later user message: stored for the live chat; no reply, so the action
//! stays open and Copilot Studio keeps routing the user's messages here.
//!
//! The problem description goes first, once per session, then the words, then notes of what else
//! the customer did (a card's submit, a sticker), then each file (fetched and posted by the outbox,
//! in this order), then a note of what could not be passed on, of which the customer is told at
//! once, in one notice. A message longer than the live chat takes is refused here and the customer
//! told at once; the customer writing restarts the inactivity timer in the same transaction. A
//! message after the chat ended ends the action, telling the topic how the chat ended.

use super::super::notices::system_note;
use super::super::service::Handover;
use super::super::text;
use crate::domain::{
    ActivityPart, ChatOutcome, ClosedBy, DedupeKey, HandoverOutcome, MessageToAgent, NotForwarded,
    NoteRole, Outbound, Session, SessionKeys, SessionState, ToAgent, Unforwarded, UserMessage,
};
use crate::store::{NewDelivery, UserMessages};

impl Handover {
    pub(in crate::handover) async fn message(
        &self,
        message: UserMessage,
    ) -> anyhow::Result<HandoverOutcome> {
        let session = match self.find_session(&message.keys).await? {
            Some(session) if session.state == SessionState::Opening => {
                self.wait_until_open(session).await?
            }
            other => other,
        };
        let Some(session) = session else {
            return self.message_without_session(&message.keys).await;
        };
        let livechat = match &session.state {
            SessionState::Open { livechat } => livechat.clone(),
            _ => return Ok(message_after_close(&session)),
        };
        let sender = message
            .sender_name
            .unwrap_or_else(|| text::DEFAULT_CUSTOMER_NAME.to_owned());
        // Keyed by the activity (within its conversation): a caller sending it again after a
        // lost answer stores nothing twice.
        let key = |part: ActivityPart| {
            message.id.as_ref().map(|activity| {
                DedupeKey::Activity {
                    part,
                    conversation: &message.keys.conversation,
                    activity,
                }
                .to_string()
            })
        };
        let to_agent = |text: String, part: ActivityPart| NewDelivery {
            payload: Outbound::ToAgent(ToAgent::Message {
                livechat: livechat.clone(),
                message: MessageToAgent {
                    text,
                    sender: sender.clone(),
                    role: NoteRole::Customer,
                },
            }),
            dedupe_key: key(part),
        };
        let limit = self.livechat.max_message_chars();
        let too_long = |text: &str| text.chars().count() > limit;
        let mut deliveries = Vec::new();
        let forward_problem = message
            .problem_description
            .filter(|_| !session.problem_forwarded);
        if let Some(problem) = forward_problem
            .as_ref()
            .filter(|problem| !too_long(problem))
        {
            deliveries.push(to_agent(problem.clone(), ActivityPart::Problem));
        }
        let repeats_problem = forward_problem
            .as_deref()
            .is_some_and(|problem| problem.trim() == message.text.trim());
        if !message.text.trim().is_empty() && !repeats_problem {
            if too_long(&message.text) {
                // Refused here rather than by the live chat later: the customer hears of it now.
                self.tell_user(
                    &session,
                    &livechat,
                    text::undelivered_to_agent(&text::too_long_for_the_agent(limit)),
                    key(ActivityPart::Refused),
                )
                .await?;
                self.metrics.messages.with_label_values(&["refused"]).inc();
            } else {
                deliveries.push(to_agent(message.text.clone(), ActivityPart::Text));
            }
        }
        let note = |text: String, part: ActivityPart| NewDelivery {
            payload: Outbound::ToAgent(ToAgent::Message {
                livechat: livechat.clone(),
                message: system_note(text),
            }),
            dedupe_key: key(part),
        };
        for (n, content) in message.notes.iter().enumerate() {
            deliveries.push(note(
                text::content_note(&sender, content),
                ActivityPart::Note(n),
            ));
        }
        let mut unforwarded = message.unforwarded;
        let mut files = message.files;
        if !files.is_empty() && !self.livechat.capabilities().files_to_agent {
            // Told, like any file that cannot go, rather than lost or failed later.
            unforwarded.extend(files.drain(..).map(|file| Unforwarded {
                name: file.name,
                why: NotForwarded::HubTakesNoFiles,
            }));
        }
        let files_count = files.len();
        for (n, file) in files.into_iter().enumerate() {
            deliveries.push(NewDelivery {
                payload: Outbound::ToAgent(ToAgent::File {
                    livechat: livechat.clone(),
                    sender: sender.clone(),
                    file,
                }),
                dedupe_key: key(ActivityPart::File(n)),
            });
        }
        if !unforwarded.is_empty() {
            deliveries.push(note(
                text::not_forwarded_to_agent(&sender, &unforwarded),
                ActivityPart::Unforwarded,
            ));
            self.tell_user(
                &session,
                &livechat,
                text::not_forwarded_to_customer(&unforwarded),
                key(ActivityPart::Unforwarded),
            )
            .await?;
            tracing::info!(session_id = %session.id, items = unforwarded.len(), "part of a message could not be passed on; the customer is told");
        }
        if deliveries.is_empty() {
            tracing::info!("message without words or files; nothing to forward");
            return Ok(HandoverOutcome::Forwarded);
        }
        let count = deliveries.len();
        self.store
            .record_user_messages(
                &session.id,
                UserMessages {
                    deliveries,
                    includes_problem_description: forward_problem.is_some(),
                    // Stored up to a resolution early: a fast writer restarts it now and then.
                    inactivity_timer: self
                        .timeouts
                        .inactivity_from(self.clock.now_ms())
                        .map(|timer| (timer, self.timeouts.resolution_ms())),
                },
            )
            .await?;
        self.metrics
            .messages
            .with_label_values(&["to_agent"])
            .inc_by(count as u64);
        tracing::debug!(session_id = %session.id, livechat_conversation_id = %livechat, messages = count, files = files_count, "user message stored for the agent");
        Ok(HandoverOutcome::Forwarded)
    }

    /// A message for a conversation with no open session ends the skill action, so the topic ends
    /// and the bot takes over instead of the user talking into a dead skill.
    async fn message_without_session(&self, keys: &SessionKeys) -> anyhow::Result<HandoverOutcome> {
        match self.latest_session(keys).await? {
            Some(session) => Ok(message_after_close(&session)),
            None => {
                tracing::warn!("message for a conversation that never had a live session");
                Ok(HandoverOutcome::NoSession)
            }
        }
    }
}

/// The answer to a message for a closed session: the action that held the chat ends, telling
/// the topic how the chat ended (and the last agent); after the customer's own end there is no
/// chat to report on.
fn message_after_close(session: &Session) -> HandoverOutcome {
    let outcome = match &session.state {
        SessionState::Closed { by, .. } => match by {
            ClosedBy::Agent => ChatOutcome::AgentEnded,
            ClosedBy::QueueTimeout => ChatOutcome::QueueTimeout,
            ClosedBy::Inactivity => ChatOutcome::Inactive,
            ClosedBy::Error => ChatOutcome::Failed,
            ClosedBy::User => {
                tracing::warn!(session_id = %session.id, "message for a session the customer ended");
                return HandoverOutcome::NoSession;
            }
        },
        _ => return HandoverOutcome::NoSession,
    };
    tracing::info!(session_id = %session.id, outcome = ?outcome, "message after the chat ended; handing back to the bot");
    HandoverOutcome::ChatOver {
        outcome,
        agent: session.agent_name.clone(),
    }
}
