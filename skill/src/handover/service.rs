//! What each skill action and live-chat event does.
//!
//! [`Handover::handle`] takes a [`HandoverRequest`] and answers a [`HandoverOutcome`];
//! [`Handover::handle_event`] takes a [`LiveChatEvent`] and answers a [`WebhookOutcome`]. Both
//! decide and store; delivery is the outbox workers' job, and rendering the answer is the caller's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::text;
use super::timers::Clock;
use crate::domain::{
    ChatOutcome, DeliveryId, HandoverOutcome, HandoverRequest, LeaveMessageRequest,
    LiveChatConversationId, LiveChatEvent, MessageToAgent, MessageToUser, NoteRole, Opened,
    Outbound, Placement, RateRequest, SessionId, SessionKeys, StartRequest, TextFormat, Timeouts,
    Timer, TimerKind, ToAgent, ToUser, UserMessage, WebhookOutcome,
};
use crate::livechat::{HandoffContext, LiveChat};
use crate::metrics::Metrics;
use crate::store::{
    BeginSession, ClosedBy, Delivery, Enqueued, NewDelivery, Session, SessionState, SessionUpdate,
    Store, TimerThen, UserMessages,
};

/// How long a second `startConversation` waits beyond the live chat's own time limit for the
/// first to finish opening the session.
const SESSION_OPENING_WAIT_MARGIN: Duration = Duration::from_secs(2);

/// How late an agent's typing may still be shown to the user.
pub const TYPING_MAX_AGE: Duration =
    Duration::from_secs(livechat_contract::webhook::TYPING_MAX_DELAY_SECS as u64);

/// Shows the agent typing in the user's conversation: one attempt, never retried, never queued
/// behind messages. (`protocol/` sends it to Teams.)
#[async_trait::async_trait]
pub trait TypingIndicator: Send + Sync {
    async fn show_typing(&self, to: &ToUser) -> Result<(), String>;
}

/// Why the customer's side ends a session: the two differ only in what is answered and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserEnd {
    /// `endConversation`: the customer said goodbye.
    Requested,
    /// The caller's `endOfConversation`: the action was cancelled (or a registration ping).
    Cancelled,
}

/// The handover logic, shared by the routes and the workers.
pub struct Handover {
    store: Store,
    livechat: Arc<dyn LiveChat>,
    metrics: Arc<Metrics>,
    opening_wait: Duration,
    typing: Arc<dyn TypingIndicator>,
    timeouts: Timeouts,
    clock: Clock,
}

/// The handover's collaborators that are not the store and the live chat.
pub struct HandoverParts {
    pub metrics: Arc<Metrics>,
    /// Bounds one live-chat call; a concurrent start waits a little longer.
    pub livechat_timeout: Duration,
    pub typing: Arc<dyn TypingIndicator>,
    pub timeouts: Timeouts,
    pub clock: Clock,
}

/// Why a live-chat event was refused.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("no handover session has the live-chat conversation id '{0}'")]
    UnknownConversation(LiveChatConversationId),
    #[error("the live-chat conversation '{0}' has ended; nothing more reaches the customer")]
    ConversationEnded(LiveChatConversationId),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl Handover {
    pub fn new(store: Store, livechat: Arc<dyn LiveChat>, parts: HandoverParts) -> Self {
        Self {
            store,
            livechat,
            metrics: parts.metrics,
            opening_wait: parts.livechat_timeout + SESSION_OPENING_WAIT_MARGIN,
            typing: parts.typing,
            timeouts: parts.timeouts,
            clock: parts.clock,
        }
    }

    /// Handles one request from Copilot Studio.
    pub async fn handle(&self, request: HandoverRequest) -> anyhow::Result<HandoverOutcome> {
        match request {
            HandoverRequest::Start(start) => self.start(start).await,
            HandoverRequest::Message(message) => self.message(message).await,
            HandoverRequest::End(keys) => {
                self.end_by_user(&keys, UserEnd::Requested).await?;
                Ok(HandoverOutcome::Ended)
            }
            HandoverRequest::Rate(rate) => self.rate(rate).await,
            HandoverRequest::LeaveMessage(left) => self.leave_message(left).await,
            HandoverRequest::Invalid { action, reason } => {
                tracing::warn!(action = %action, reason = %reason, "action refused: unusable inputs");
                Ok(HandoverOutcome::Invalid { action, reason })
            }
            HandoverRequest::Cancel(keys) => {
                self.end_by_user(&keys, UserEnd::Cancelled).await?;
                Ok(HandoverOutcome::Silent)
            }
            HandoverRequest::UnknownAction(name) => {
                tracing::warn!(name = %name, "unknown event");
                Ok(HandoverOutcome::UnknownAction(name))
            }
            HandoverRequest::Unsupported(kind) => {
                tracing::warn!(activity_type = %kind, "unsupported activity type");
                Ok(HandoverOutcome::Unsupported(kind))
            }
            HandoverRequest::Ignore => {
                tracing::debug!("informational activity ignored");
                Ok(HandoverOutcome::Silent)
            }
        }
    }

    /// `startConversation`: opens (or reuses) the conversation's live-chat session.
    async fn start(&self, request: StartRequest) -> anyhow::Result<HandoverOutcome> {
        if self
            .store
            .live_session(&request.keys.conversation)
            .await?
            .is_none()
        {
            // Nobody to answer: no session, and the topic hears so instead of a queue forever.
            match self.livechat.availability().await {
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
        match self.livechat.start(&session.id, &context).await {
            Ok(opened) => {
                let livechat = opened.livechat.clone();
                let (queued, agent) = match &opened.placement {
                    Placement::Queued { .. } => (true, None),
                    Placement::Connected { agent } => (false, agent.clone()),
                    Placement::Unknown => (false, None),
                };
                let timer = self.timeouts.at_open(queued, self.clock.now_ms());
                let recorded = match self
                    .store
                    .complete_session_open(&session.id, &livechat, timer, agent)
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
                    // Ended (or given up) while the live chat was answering: the conversation it
                    // just opened is ended too, through the outbox, instead of reporting success.
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
                        Some(format!("queue-start:{livechat}")),
                    )
                    .await?;
                }
                Ok(HandoverOutcome::Started(opened))
            }
            Err(error) => {
                // A timeout or a broken connection may have opened the conversation all the same:
                // the close then carries an abandon, which ends it (same key) when the live chat
                // answers again.
                let abandon = error.is_transient();
                tracing::error!(session_id = %session.id, error = %error, abandon, "cannot open a live-chat session");
                self.store.fail_session_open(&session.id, abandon).await?;
                Ok(HandoverOutcome::StartFailed)
            }
        }
    }

    /// Waits (bounded) for a session that another request is opening; the open session, or `None`.
    async fn wait_until_open(&self, mut session: Session) -> anyhow::Result<Option<Session>> {
        let deadline = Instant::now() + self.opening_wait;
        loop {
            if session.open_livechat().is_some() {
                return Ok(Some(session));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            match self
                .store
                .live_session(&session.copilot_conversation_id)
                .await?
            {
                Some(current) if current.id == session.id => session = current,
                _ => return Ok(None),
            }
        }
    }

    /// `sendMessage`, and every later user message: stored for the live chat; no reply, so the
    /// action stays open and Copilot Studio keeps routing the user's messages here.
    async fn message(&self, message: UserMessage) -> anyhow::Result<HandoverOutcome> {
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
        let key = |part: &str| {
            message
                .id
                .as_ref()
                .map(|id| format!("activity:{part}:{}:{id}", message.keys.conversation))
        };
        let to_agent = |text: String, part: &str| NewDelivery {
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
            deliveries.push(to_agent(problem.clone(), "problem"));
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
                    key("refused"),
                )
                .await?;
                self.metrics.messages.with_label_values(&["refused"]).inc();
            } else {
                deliveries.push(to_agent(message.text.clone(), "text"));
            }
        }
        if deliveries.is_empty() {
            tracing::info!("message without text; nothing to forward");
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
        tracing::debug!(session_id = %session.id, livechat_conversation_id = %livechat, messages = count, "user message stored for the agent");
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

    /// The latest session, in any state, of the request's conversation, else of the conversation
    /// it relates to: SDK hosts give each invocation a new conversation id, so a chat that ended is
    /// found through the original one.
    async fn latest_session(&self, keys: &SessionKeys) -> anyhow::Result<Option<Session>> {
        if let Some(session) = self.store.latest_session(&keys.conversation).await? {
            return Ok(Some(session));
        }
        match &keys.origin {
            Some(origin) => self.store.latest_session(origin).await,
            None => Ok(None),
        }
    }

    /// The session a request belongs to: the live one of its conversation, else the live one of
    /// the conversation it relates to, else the one named by its `LiveChatConversationId` input
    /// (in any state). Copilot Studio keeps the conversation id across actions; hosts built on Bot
    /// Framework SDKs give every skill invocation a new one, and then the input the topic passes is
    /// what ties the actions together.
    async fn find_session(&self, keys: &SessionKeys) -> anyhow::Result<Option<Session>> {
        if let Some(session) = self.store.live_session(&keys.conversation).await? {
            return Ok(Some(session));
        }
        if let Some(origin) = &keys.origin {
            if let Some(session) = self.store.live_session_by_origin(origin).await? {
                return Ok(Some(session));
            }
        }
        match &keys.livechat_input {
            Some(livechat) => self.store.session_by_livechat_id(livechat).await,
            None => Ok(None),
        }
    }

    /// The agent is told the customer left, the session ends in the live chat and the mapping
    /// closes both ways.
    async fn end_by_user(&self, keys: &SessionKeys, end: UserEnd) -> anyhow::Result<()> {
        let Some(session) = self.find_session(keys).await? else {
            match end {
                UserEnd::Requested => {
                    tracing::info!("end requested for a conversation with no live session")
                }
                UserEnd::Cancelled => tracing::debug!(
                    "endOfConversation with no session (registration ping or a repeat)"
                ),
            }
            return Ok(());
        };
        match &session.state {
            SessionState::Open { livechat } => {
                let deliveries = closing(livechat, text::CUSTOMER_LEFT.to_owned());
                if self
                    .store
                    .close_session(&session.id, ClosedBy::User, deliveries)
                    .await?
                {
                    tracing::info!(session_id = %session.id, livechat_conversation_id = %livechat, "session closed by the user");
                }
            }
            SessionState::Opening => {
                // The request opening it sees the close when the live chat answers, and ends
                // what the live chat opened.
                tracing::warn!(session_id = %session.id, "end requested while the session is still opening; it is abandoned");
                self.store.fail_session_open(&session.id, false).await?;
            }
            SessionState::Closed { .. } => {
                tracing::info!(session_id = %session.id, "end requested for a session that is already closed")
            }
        }
        Ok(())
    }

    /// Handles an event from the live chat. An agent message is stored for Teams before this
    /// returns, keyed by its id.
    pub async fn handle_event(
        &self,
        event: LiveChatEvent,
    ) -> Result<WebhookOutcome, HandoverError> {
        match event {
            LiveChatEvent::AgentMessage {
                conversation,
                id,
                sender,
                text: message,
            } => {
                let session = self.session_for_event(&conversation).await?;
                let delivery = to_user(
                    &session,
                    &conversation,
                    MessageToUser {
                        text: text::agent_reply(&sender, &message),
                        format: TextFormat::Markdown,
                    },
                    Some(id.to_string()),
                );
                match self
                    .store
                    .enqueue_for_open_session(&session.id, delivery)
                    .await?
                {
                    Enqueued::Accepted => {
                        self.metrics.messages.with_label_values(&["to_user"]).inc();
                        tracing::debug!(session_id = %session.id, livechat_message_id = %id, "agent message stored for Teams");
                        Ok(WebhookOutcome::Accepted)
                    }
                    Enqueued::Duplicate => {
                        tracing::info!(livechat_message_id = %id, "repeated webhook; already accepted");
                        Ok(WebhookOutcome::Duplicate)
                    }
                    Enqueued::SessionClosed => Err(HandoverError::ConversationEnded(conversation)),
                }
            }
            LiveChatEvent::AgentJoined {
                conversation,
                id,
                agent,
                transferred_by,
            } => {
                let notice = match transferred_by {
                    Some(from) => text::agent_transferred(&from, &agent),
                    None => text::agent_joined(&agent),
                };
                let session = self.session_for_event(&conversation).await?;
                // The queue timer stops; the customer's silence counts from now.
                let update = SessionUpdate::AgentJoined {
                    session: session.id.clone(),
                    agent,
                    inactivity: self.timeouts.inactivity_from(self.clock.now_ms()),
                };
                self.notice_for_event(session, conversation, id.to_string(), notice, vec![update])
                    .await
            }
            LiveChatEvent::QueueUpdate {
                conversation,
                id,
                position,
                estimated_wait_secs,
            } => {
                let notice = text::queue_position(position, estimated_wait_secs);
                let session = self.session_for_event(&conversation).await?;
                self.notice_for_event(session, conversation, id.to_string(), notice, Vec::new())
                    .await
            }
            LiveChatEvent::Typing { conversation, age } => {
                Ok(self.show_typing(&conversation, age).await)
            }
            LiveChatEvent::ConversationEnded {
                conversation,
                id,
                agent,
            } => {
                let session = self.session_for_event(&conversation).await?;
                let notice = to_user(
                    &session,
                    &conversation,
                    MessageToUser {
                        text: text::AGENT_ENDED_NOTICE.to_owned(),
                        format: TextFormat::Plain,
                    },
                    Some(format!("ended:{id}")),
                );
                let updates = agent
                    .map(|agent| SessionUpdate::AgentNamed {
                        session: session.id.clone(),
                        agent,
                    })
                    .into_iter()
                    .collect();
                if self
                    .store
                    .close_session_with(&session.id, ClosedBy::Agent, vec![notice], updates)
                    .await?
                {
                    tracing::info!(session_id = %session.id, "session closed by the agent");
                    Ok(WebhookOutcome::Accepted)
                } else {
                    Ok(WebhookOutcome::AlreadyEnded)
                }
            }
        }
    }

    /// A notice for the user from a live-chat event with a stable id, in order with the agent's
    /// messages; a repeat of the id is a duplicate.
    async fn notice_for_event(
        &self,
        session: Session,
        conversation: LiveChatConversationId,
        id: String,
        notice: String,
        updates: Vec<SessionUpdate>,
    ) -> Result<WebhookOutcome, HandoverError> {
        let delivery = to_user(
            &session,
            &conversation,
            MessageToUser {
                text: notice,
                format: TextFormat::Plain,
            },
            Some(id),
        );
        match self
            .store
            .enqueue_for_open_session_with(&session.id, delivery, updates)
            .await?
        {
            Enqueued::Accepted => Ok(WebhookOutcome::Accepted),
            Enqueued::Duplicate => Ok(WebhookOutcome::Duplicate),
            Enqueued::SessionClosed => Err(HandoverError::ConversationEnded(conversation)),
        }
    }

    /// Shows the agent typing, at once and once: too late, or for no open session, it is
    /// dropped; sent beside the outbox, so it never waits behind messages nor is retried.
    async fn show_typing(
        &self,
        conversation: &LiveChatConversationId,
        age: Duration,
    ) -> WebhookOutcome {
        let Some(left) = TYPING_MAX_AGE.checked_sub(age) else {
            tracing::debug!("typing indicator too late; dropped");
            return WebhookOutcome::Dropped;
        };
        let session = match self.store.session_by_livechat_id(conversation).await {
            Ok(Some(session)) if matches!(session.state, SessionState::Open { .. }) => session,
            Ok(_) => return WebhookOutcome::Dropped,
            Err(error) => {
                tracing::warn!(error.cause_chain = ?error, "cannot find the session of a typing indicator; dropped");
                return WebhookOutcome::Dropped;
            }
        };
        let to = ToUser {
            address: session.address.clone(),
            conversation: session.copilot_conversation_id.clone(),
            livechat: conversation.clone(),
            message: MessageToUser {
                text: String::new(),
                format: TextFormat::Plain,
            },
        };
        let typing = self.typing.clone();
        tokio::spawn(
            async move {
                match tokio::time::timeout(left, typing.show_typing(&to)).await {
                    Ok(Ok(())) => tracing::debug!("typing indicator shown"),
                    Ok(Err(reason)) => {
                        tracing::debug!(reason = %reason, "typing indicator not shown")
                    }
                    Err(_) => tracing::debug!("typing indicator not shown in time"),
                }
            }
            .in_current_span(),
        );
        WebhookOutcome::Accepted
    }

    async fn session_for_event(
        &self,
        livechat: &LiveChatConversationId,
    ) -> Result<Session, HandoverError> {
        self.store
            .session_by_livechat_id(livechat)
            .await?
            .ok_or_else(|| HandoverError::UnknownConversation(livechat.clone()))
    }

    /// A notice from the bot account into the user's Teams conversation, through the Teams
    /// outbox (so in order with the agent's replies); `dedupe_key` makes a repeat a no-op.
    async fn tell_user(
        &self,
        session: &Session,
        livechat: &LiveChatConversationId,
        notice: String,
        dedupe_key: Option<String>,
    ) -> anyhow::Result<()> {
        self.store
            .enqueue(to_user(
                session,
                livechat,
                MessageToUser {
                    text: notice,
                    format: TextFormat::Plain,
                },
                dedupe_key,
            ))
            .await?;
        Ok(())
    }

    /// `leaveMessage`: a live-chat conversation of its own holds the message for the team and is
    /// closed at once (the customer is not waiting in it); no session holds the Teams
    /// conversation. Keyed by the activity, so a repeat opens nothing twice.
    async fn leave_message(&self, left: LeaveMessageRequest) -> anyhow::Result<HandoverOutcome> {
        let key = match &left.id {
            Some(id) => format!("left-message:{}:{id}", left.start.keys.conversation),
            None => format!("left-message:{}", uuid::Uuid::new_v4()),
        };
        let key = SessionId::parse(key)?;
        let sender = left
            .start
            .customer
            .name
            .clone()
            .unwrap_or_else(|| text::DEFAULT_CUSTOMER_NAME.to_owned());
        let context = handoff_context(StartRequest {
            problem_description: Some(left.message.clone()),
            ..left.start
        });
        let opened = match self.livechat.start(&key, &context).await {
            Ok(opened) => opened,
            Err(error) => {
                tracing::error!(error = %error, "cannot leave the customer's message in the live chat");
                return Ok(HandoverOutcome::MessageNotLeft);
            }
        };
        let livechat = opened.livechat;
        let mut deliveries = vec![NewDelivery {
            payload: Outbound::ToAgent(ToAgent::Message {
                livechat: livechat.clone(),
                message: MessageToAgent {
                    text: left.message,
                    sender,
                    role: NoteRole::Customer,
                },
            }),
            dedupe_key: None,
        }];
        deliveries.extend(closing(&livechat, text::LEFT_MESSAGE_NOTE.to_owned()));
        // Keyed by the activity, so a repeat stores nothing twice.
        for (delivery, part) in deliveries.iter_mut().zip(["text", "note", "end"]) {
            delivery.dedupe_key = Some(format!("{key}:{part}"));
        }
        // Together: the message is never stored without the end that closes its conversation.
        self.store.enqueue_all(deliveries).await?;
        self.metrics.messages.with_label_values(&["left"]).inc();
        tracing::info!(livechat_conversation_id = %livechat, "message left for the team");
        Ok(HandoverOutcome::MessageLeft(livechat))
    }

    /// `rateConversation`: the rating is stored for the live chat (delivered after anything the
    /// session still sends there), once per activity.
    async fn rate(&self, rate: RateRequest) -> anyhow::Result<HandoverOutcome> {
        let session = match self.find_session(&rate.keys).await? {
            Some(session) => Some(session),
            None => self.latest_session(&rate.keys).await?,
        };
        let livechat = session.and_then(|session| match session.state {
            SessionState::Open { livechat } => Some(livechat),
            SessionState::Closed { livechat, .. } => livechat,
            SessionState::Opening => None,
        });
        let Some(livechat) = livechat else {
            tracing::warn!("rating for a conversation with no live chat");
            return Ok(HandoverOutcome::NothingToRate);
        };
        let dedupe_key = rate
            .id
            .as_ref()
            .map(|id| format!("rating:{}:{id}", rate.keys.conversation));
        self.store
            .enqueue(NewDelivery {
                payload: Outbound::ToAgent(ToAgent::Rate {
                    livechat: livechat.clone(),
                    rating: rate.rating,
                    comment: rate.comment,
                }),
                dedupe_key,
            })
            .await?;
        self.metrics.messages.with_label_values(&["rating"]).inc();
        tracing::info!(livechat_conversation_id = %livechat, rating = rate.rating.get(), "rating stored for the live chat");
        Ok(HandoverOutcome::Rated)
    }

    /// Acts on a session's timer that fell due (from the [`super::TimerWorker`]): a warning to the
    /// customer, or the end of the chat with the customer told and the agent's transcript saying
    /// why. Nothing happens if the session no longer has this timer.
    pub async fn fire_timer(&self, session: &Session, timer: Timer) -> anyhow::Result<()> {
        let Some(livechat) = session.open_livechat().cloned() else {
            return Ok(());
        };
        let notice = |text: String, part: &str| {
            to_user(
                session,
                &livechat,
                MessageToUser {
                    text,
                    format: TextFormat::Plain,
                },
                Some(format!("timer:{part}:{}:{}", session.id, timer.due_ms)),
            )
        };
        let (then, deliveries, outcome) = match timer.kind {
            TimerKind::Queue => {
                let waited = self.timeouts.queue.unwrap_or_default();
                let mut deliveries = vec![notice(text::queue_timed_out(waited), "queue")];
                deliveries.extend(closing(&livechat, text::queue_timeout_note(waited)));
                (TimerThen::Close, deliveries, "queue timeout")
            }
            TimerKind::Warn => {
                let next = self.timeouts.after_warning(timer);
                let closes_in = next
                    .map(|end| Duration::from_millis((end.due_ms - timer.due_ms).max(0) as u64))
                    .unwrap_or_default();
                let deliveries = if next.is_some() {
                    vec![notice(text::inactivity_warning(closes_in), "warn")]
                } else {
                    Vec::new()
                };
                (TimerThen::Next(next), deliveries, "inactivity warning")
            }
            TimerKind::Idle => {
                let silent = self.timeouts.inactivity.unwrap_or_default();
                let mut deliveries = vec![notice(text::inactivity_ended(silent), "idle")];
                deliveries.extend(closing(&livechat, text::inactivity_note(silent)));
                (TimerThen::Close, deliveries, "inactivity")
            }
        };
        let closes = then == TimerThen::Close;
        if self
            .store
            .fire_timer(&session.id, timer, then, deliveries)
            .await?
        {
            let event = if closes { "closed" } else { "warned" };
            self.metrics.messages.with_label_values(&["timer"]).inc();
            tracing::info!(livechat_conversation_id = %livechat, reason = outcome, "{event} by a timer");
        } else {
            tracing::debug!(
                "the timer changed before it fired (a message, an agent or another instance)"
            );
        }
        Ok(())
    }

    /// A delivery was given up: tells whoever can act on it. An agent's reply that never reached
    /// Teams is reported to the agent in the live chat; a customer's message the live chat refused
    /// or never took is reported to the customer in Teams. (The skill's own notes to the agent
    /// and the end of a session are only logged and counted: there is nobody to tell.)
    pub async fn delivery_failed(&self, delivery: &Delivery, reason: &str) {
        let message = match &delivery.payload {
            Ok(Outbound::ToUser(message)) => message,
            Ok(Outbound::ToAgent(ToAgent::Message { livechat, message }))
                if message.role == NoteRole::Customer =>
            {
                self.customer_message_failed(delivery.id, livechat, reason)
                    .await;
                return;
            }
            _ => return,
        };
        let notice = NewDelivery {
            payload: Outbound::ToAgent(ToAgent::Message {
                livechat: message.livechat.clone(),
                message: MessageToAgent {
                    text: text::undelivered_to_customer(reason),
                    sender: text::SYSTEM_SENDER.to_owned(),
                    role: NoteRole::System,
                },
            }),
            dedupe_key: Some(undelivered_key(delivery.id)),
        };
        if let Err(error) = self.store.enqueue(notice).await {
            tracing::error!(error.cause_chain = ?error, "cannot store the undelivered notice for the agent");
        }
    }
}

impl Handover {
    /// A customer's message keeps failing to reach the live chat (it is down): the customer is
    /// told, once for that message, that the agent will see it when the live chat is back.
    pub async fn delivery_delayed(&self, delivery: &Delivery) {
        if let Ok(Outbound::ToAgent(ToAgent::Message { livechat, message })) = &delivery.payload {
            if message.role == NoteRole::Customer {
                let notice = text::LIVECHAT_DELAYED.to_owned();
                let key = format!("delayed:{}", delivery.id);
                self.tell_customer_of(livechat, notice, key).await;
            }
        }
    }

    async fn customer_message_failed(
        &self,
        delivery: DeliveryId,
        livechat: &LiveChatConversationId,
        reason: &str,
    ) {
        let notice = text::undelivered_to_agent(reason);
        self.tell_customer_of(livechat, notice, undelivered_key(delivery))
            .await;
    }

    /// Tells the customer of the session `livechat` belongs to, from the outbox workers (so
    /// failures are logged, not returned); `key` makes a repeat a no-op.
    async fn tell_customer_of(
        &self,
        livechat: &LiveChatConversationId,
        notice: String,
        key: String,
    ) {
        let session = match self.store.session_by_livechat_id(livechat).await {
            Ok(Some(session)) => session,
            Ok(None) => {
                tracing::warn!(livechat_conversation_id = %livechat, "the customer's session is gone; nobody to tell");
                return;
            }
            Err(error) => {
                tracing::error!(error.cause_chain = ?error, "cannot find the session of a customer to tell");
                return;
            }
        };
        if let Err(error) = self.tell_user(&session, livechat, notice, Some(key)).await {
            tracing::error!(error.cause_chain = ?error, "cannot store the notice for the customer");
        }
    }
}

/// A message into the session's Teams conversation, for the Teams outbox.
fn to_user(
    session: &Session,
    livechat: &LiveChatConversationId,
    message: MessageToUser,
    dedupe_key: Option<String>,
) -> NewDelivery {
    NewDelivery {
        payload: Outbound::ToUser(ToUser {
            address: session.address.clone(),
            conversation: session.copilot_conversation_id.clone(),
            livechat: livechat.clone(),
            message,
        }),
        dedupe_key,
    }
}

/// What the agent is told about the customer when a conversation opens.
fn handoff_context(request: StartRequest) -> HandoffContext {
    HandoffContext {
        customer_name: request.customer.name,
        customer_id: request.customer.id,
        channel: request.channel,
        tenant_id: request.tenant,
        bot_conversation_id: request.keys.conversation.to_string(),
        problem_description: request.problem_description,
    }
}

/// What closes a live-chat conversation from the skill's side: a note for the agent saying why,
/// then the end.
fn closing(livechat: &LiveChatConversationId, note: String) -> Vec<NewDelivery> {
    [
        ToAgent::Message {
            livechat: livechat.clone(),
            message: MessageToAgent {
                text: note,
                sender: text::SYSTEM_SENDER.to_owned(),
                role: NoteRole::System,
            },
        },
        ToAgent::End {
            livechat: livechat.clone(),
        },
    ]
    .into_iter()
    .map(|call| NewDelivery {
        payload: Outbound::ToAgent(call),
        dedupe_key: None,
    })
    .collect()
}

fn undelivered_key(delivery: DeliveryId) -> String {
    format!("undelivered:{delivery}")
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
