//! What each skill action and webhook event does.
//!
//! [`Handover::handle_activity`] decides and stores, and returns the replies for the caller; the
//! route then either returns them in the HTTP answer (`expectReplies`) or sends them back. This keeps
//! the two delivery modes one code path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;

use super::payloads::{LiveChatCall, TeamsMessage};
use super::text;
use crate::livechat::{HandoffContext, LiveChat, WebhookEvent};
use crate::metrics::Metrics;
use crate::protocol::activity::{end_codes, types};
use crate::protocol::manifest::{actions, fields};
use crate::protocol::teams::proactive_service_url;
use crate::protocol::{Activity, ChannelAccount, ConversationAccount};
use crate::store::{
    BeginSession, ClosedBy, Enqueued, Lane, NewDelivery, Session, SessionState, Store,
};

/// Activity types that carry no request for the skill; they are logged and otherwise ignored
/// (answering them with an `endOfConversation` would end the user's live chat).
const INFORMATIONAL_TYPES: &[&str] = &[
    "typing",
    "conversationUpdate",
    "trace",
    "messageReaction",
    "installationUpdate",
    "messageUpdate",
    "messageDelete",
];

/// How long a second `startConversation` waits for the first to finish opening the session.
const SESSION_OPENING_WAIT_MARGIN: Duration = Duration::from_secs(2);

/// Where the agents' replies go in Teams.
#[derive(Debug, Clone, Default)]
pub struct TeamsTarget {
    /// `TEAMS_SERVICE_URL`.
    pub service_url_override: Option<String>,
    /// The Copilot Studio agent's app id; its Teams account is `28:{app id}`.
    pub bot_app_id: Option<String>,
}

/// The handover logic, shared by the routes.
pub struct Handover {
    store: Arc<dyn Store>,
    livechat: Arc<dyn LiveChat>,
    metrics: Arc<Metrics>,
    wake_teams: Arc<Notify>,
    wake_livechat: Arc<Notify>,
    teams: TeamsTarget,
    opening_wait: Duration,
}

/// What became of a webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Stored; it will be delivered.
    Accepted,
    /// The same id was accepted before; nothing more happens.
    Duplicate,
    /// The session was already closed; nothing more happens.
    AlreadyEnded,
}

/// Why a webhook event was refused.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("no handover session has the live-chat conversation id '{0}'")]
    UnknownConversation(String),
    #[error("the live-chat conversation '{0}' has ended; nothing more reaches the customer")]
    ConversationEnded(String),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl Handover {
    pub fn new(
        store: Arc<dyn Store>,
        livechat: Arc<dyn LiveChat>,
        metrics: Arc<Metrics>,
        wake_teams: Arc<Notify>,
        wake_livechat: Arc<Notify>,
        teams: TeamsTarget,
        livechat_timeout: Duration,
    ) -> Self {
        let opening_wait = livechat_timeout + SESSION_OPENING_WAIT_MARGIN;
        Self {
            store,
            livechat,
            metrics,
            wake_teams,
            wake_livechat,
            teams,
            opening_wait,
        }
    }

    /// True when handling this activity calls out and may take seconds (opening a session); the
    /// route runs such activities after answering 202.
    pub fn is_slow(activity: &Activity) -> bool {
        activity.kind() == types::EVENT
            && activity
                .name()
                .eq_ignore_ascii_case(actions::START_CONVERSATION)
    }

    /// Handles one authenticated, well-formed activity and returns the replies for the caller.
    pub async fn handle_activity(&self, activity: &Activity) -> anyhow::Result<Vec<Activity>> {
        self.metrics
            .activities
            .with_label_values(&[activity.kind()])
            .inc();
        match activity.kind() {
            types::EVENT
                if activity
                    .name()
                    .eq_ignore_ascii_case(actions::START_CONVERSATION) =>
            {
                self.start(activity).await
            }
            types::EVENT
                if activity
                    .name()
                    .eq_ignore_ascii_case(actions::END_CONVERSATION) =>
            {
                self.end_by_user(activity, true).await
            }
            types::EVENT => {
                tracing::warn!(name = activity.name(), "unknown event");
                Ok(vec![activity.end_of_conversation_reply(
                    Some(activity.name()),
                    end_codes::BOT_ISSUED_INVALID_MESSAGE,
                    &format!(
                        "The handover skill has no action named '{}'.",
                        activity.name()
                    ),
                    None,
                )])
            }
            types::MESSAGE => self.message(activity).await,
            types::END_OF_CONVERSATION => self.end_by_user(activity, false).await,
            kind if INFORMATIONAL_TYPES
                .iter()
                .any(|t| t.eq_ignore_ascii_case(kind)) =>
            {
                tracing::debug!(activity_type = kind, "informational activity ignored");
                Ok(Vec::new())
            }
            kind => {
                tracing::warn!(activity_type = kind, "unsupported activity type");
                Ok(vec![activity.end_of_conversation_reply(
                    None,
                    end_codes::BOT_ISSUED_INVALID_MESSAGE,
                    &format!("The handover skill does not handle '{kind}' activities."),
                    None,
                )])
            }
        }
    }

    /// `startConversation`: opens (or reuses) the conversation's live-chat session.
    async fn start(&self, activity: &Activity) -> anyhow::Result<Vec<Activity>> {
        let conversation_id = activity.conversation_id();
        let session = match self
            .store
            .begin_session(
                conversation_id,
                activity.origin_conversation_id().as_deref(),
                &activity.conversation_reference(),
            )
            .await?
        {
            BeginSession::Created(session) => {
                return self.open_in_livechat(activity, session).await
            }
            BeginSession::Existing(session) => session,
        };
        tracing::info!(session_id = %session.id, "the conversation already has a live session; reusing it");
        match self
            .wait_until_open(session)
            .await?
            .and_then(|open| open.livechat_conversation_id)
        {
            Some(livechat_id) => Ok(vec![start_succeeded(activity, &livechat_id)]),
            None => Ok(vec![start_failed(activity)]),
        }
    }

    async fn open_in_livechat(
        &self,
        activity: &Activity,
        session: Session,
    ) -> anyhow::Result<Vec<Activity>> {
        let from = activity.from.clone().unwrap_or_default();
        let context = HandoffContext {
            customer_name: from.name.clone().filter(|n| !n.is_empty()),
            customer_id: from
                .aad_object_id
                .clone()
                .filter(|id| !id.is_empty())
                .or(Some(from.id.clone())),
            channel: activity.channel_id.clone(),
            tenant_id: activity.tenant_id(),
            bot_conversation_id: activity.conversation_id().to_owned(),
            problem_description: activity
                .value_field(fields::PROBLEM_DESCRIPTION)
                .filter(|p| !p.trim().is_empty()),
        };
        let started = Instant::now();
        match self.livechat.start(&context).await {
            Ok(livechat_id) => {
                if let Err(error) = self
                    .store
                    .complete_session_open(&session.id, &livechat_id)
                    .await
                {
                    // Do not leave an orphan session in the live chat that nobody will ever end.
                    let _ = self.livechat.end(&livechat_id).await;
                    return Err(error.context("cannot record the new live-chat session"));
                }
                tracing::info!(session_id = %session.id, livechat_conversation_id = %livechat_id, elapsed_ms = started.elapsed().as_millis() as u64, "live-chat session opened");
                Ok(vec![start_succeeded(activity, &livechat_id)])
            }
            Err(error) => {
                tracing::error!(session_id = %session.id, error = %error, "cannot open a live-chat session");
                self.store.fail_session_open(&session.id).await?;
                Ok(vec![start_failed(activity)])
            }
        }
    }

    /// Waits (bounded) for a session that another request is opening; the open session, or `None`.
    async fn wait_until_open(&self, mut session: Session) -> anyhow::Result<Option<Session>> {
        let deadline = Instant::now() + self.opening_wait;
        loop {
            if session.state == SessionState::Open {
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
    async fn message(&self, activity: &Activity) -> anyhow::Result<Vec<Activity>> {
        let session = match self.find_session(activity).await? {
            Some(session) if session.state == SessionState::Opening => {
                self.wait_until_open(session).await?
            }
            other => other,
        };
        let session = match session {
            Some(session) if session.state == SessionState::Open => session,
            Some(closed) => return Ok(vec![message_after_close(activity, &closed)]),
            None => return self.message_without_session(activity).await,
        };
        let Some(livechat_id) = session.livechat_conversation_id.clone() else {
            anyhow::bail!("an open session has no live-chat id");
        };
        let sender = activity
            .from
            .as_ref()
            .and_then(|from| from.name.clone())
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| text::DEFAULT_CUSTOMER_NAME.to_owned());
        let to_livechat = |message: String| NewDelivery {
            lane: Lane::LiveChat,
            queue_key: livechat_id.clone(),
            dedupe_key: None,
            payload: json!(LiveChatCall::Message {
                livechat_conversation_id: livechat_id.clone(),
                message,
                sender: sender.clone()
            }),
        };
        let mut deliveries = Vec::new();
        let problem = activity
            .value_field(fields::PROBLEM_DESCRIPTION)
            .filter(|p| !p.trim().is_empty());
        let forward_problem = problem.clone().filter(|_| !session.problem_forwarded);
        if let Some(problem) = &forward_problem {
            deliveries.push(to_livechat(problem.clone()));
        }
        let message_text = activity.text.clone().unwrap_or_default();
        let repeats_problem = forward_problem
            .as_deref()
            .is_some_and(|p| p.trim() == message_text.trim());
        if !message_text.trim().is_empty() && !repeats_problem {
            deliveries.push(to_livechat(message_text));
        }
        if deliveries.is_empty() {
            tracing::info!("message without text; nothing to forward");
            return Ok(Vec::new());
        }
        let count = deliveries.len();
        self.store
            .record_user_messages(&session.id, deliveries, forward_problem.is_some())
            .await?;
        self.metrics
            .messages
            .with_label_values(&["to_agent"])
            .inc_by(count as u64);
        self.wake_livechat.notify_one();
        tracing::info!(session_id = %session.id, livechat_conversation_id = %livechat_id, messages = count, "user message stored for the agent");
        Ok(Vec::new())
    }

    /// A message for a conversation with no open session ends the skill action, so the topic ends
    /// and the bot takes over instead of the user talking into a dead skill.
    async fn message_without_session(&self, activity: &Activity) -> anyhow::Result<Vec<Activity>> {
        match self
            .store
            .latest_session(activity.conversation_id())
            .await?
        {
            Some(session) => Ok(vec![message_after_close(activity, &session)]),
            None => {
                tracing::warn!("message for a conversation that never had a live session");
                Ok(vec![activity.end_of_conversation_reply(
                    None,
                    end_codes::UNKNOWN,
                    text::NO_SESSION,
                    None,
                )])
            }
        }
    }

    /// The session an activity belongs to: the live one of its conversation, else the live one of
    /// the conversation it relates to, else the one named by its `LiveChatConversationId` input (in
    /// any state). Copilot Studio keeps the conversation id
    /// across actions; hosts built on Bot Framework SDKs give every skill invocation a new one, and
    /// then the input the topic passes is what ties the actions together.
    async fn find_session(&self, activity: &Activity) -> anyhow::Result<Option<Session>> {
        if let Some(session) = self.store.live_session(activity.conversation_id()).await? {
            return Ok(Some(session));
        }
        if let Some(origin) = activity.origin_conversation_id() {
            if let Some(session) = self.store.live_session_by_origin(&origin).await? {
                return Ok(Some(session));
            }
        }
        match activity
            .value_field(fields::LIVE_CHAT_CONVERSATION_ID)
            .filter(|id| !id.trim().is_empty())
        {
            Some(livechat_id) => self.store.session_by_livechat_id(livechat_id.trim()).await,
            None => Ok(None),
        }
    }

    /// `endConversation` (with a reply) or the caller's `endOfConversation` (without): the agent is
    /// told the customer left, the session ends in the live chat and the mapping closes both ways.
    async fn end_by_user(&self, activity: &Activity, reply: bool) -> anyhow::Result<Vec<Activity>> {
        let session = self.find_session(activity).await?;
        match session {
            Some(session) if session.state == SessionState::Open => {
                let livechat_id = session.livechat_conversation_id.clone().unwrap_or_default();
                let calls = [
                    LiveChatCall::Message {
                        livechat_conversation_id: livechat_id.clone(),
                        message: text::CUSTOMER_LEFT.to_owned(),
                        sender: text::SYSTEM_SENDER.to_owned(),
                    },
                    LiveChatCall::End {
                        livechat_conversation_id: livechat_id.clone(),
                    },
                ];
                let deliveries = calls
                    .into_iter()
                    .map(|call| NewDelivery {
                        lane: Lane::LiveChat,
                        queue_key: livechat_id.clone(),
                        dedupe_key: None,
                        payload: json!(call),
                    })
                    .collect();
                if self
                    .store
                    .close_session(&session.id, ClosedBy::User, deliveries)
                    .await?
                {
                    self.wake_livechat.notify_one();
                    tracing::info!(session_id = %session.id, livechat_conversation_id = %livechat_id, "session closed by the user");
                }
            }
            Some(session) if session.state == SessionState::Opening => {
                tracing::warn!(session_id = %session.id, "end requested while the session is still opening; it is abandoned");
                self.store.fail_session_open(&session.id).await?;
            }
            Some(session) => {
                tracing::info!(session_id = %session.id, "end requested for a session that is already closed")
            }
            None if reply => {
                tracing::info!("end requested for a conversation with no live session")
            }
            None => {
                tracing::debug!("endOfConversation with no session (registration ping or a repeat)")
            }
        }
        if !reply {
            return Ok(Vec::new());
        }
        Ok(vec![activity.end_of_conversation_reply(
            Some(actions::END_CONVERSATION),
            end_codes::COMPLETED_SUCCESSFULLY,
            "",
            None,
        )])
    }

    /// Handles an event from the live chat's webhook. An agent message is stored for Teams before
    /// this returns, keyed by its id.
    pub async fn handle_webhook(
        &self,
        event: WebhookEvent,
    ) -> Result<WebhookOutcome, HandoverError> {
        match event {
            WebhookEvent::AgentMessage {
                livechat_conversation_id,
                id,
                sender,
                message,
            } => {
                let session = self.session_for_webhook(&livechat_conversation_id).await?;
                let activity = Activity {
                    kind: Some(types::MESSAGE.to_owned()),
                    text: Some(text::agent_reply(&sender, &message)),
                    text_format: Some("markdown".to_owned()),
                    ..self.proactive_activity(&session)
                };
                let delivery =
                    self.teams_delivery(&session, &livechat_conversation_id, activity, &id);
                match self
                    .store
                    .enqueue_for_open_session(&session.id, delivery)
                    .await?
                {
                    Enqueued::Accepted => {
                        self.metrics.messages.with_label_values(&["to_user"]).inc();
                        self.wake_teams.notify_one();
                        tracing::info!(session_id = %session.id, livechat_message_id = %id, "agent message stored for Teams");
                        Ok(WebhookOutcome::Accepted)
                    }
                    Enqueued::Duplicate => {
                        tracing::info!(livechat_message_id = %id, "repeated webhook; already accepted");
                        Ok(WebhookOutcome::Duplicate)
                    }
                    Enqueued::SessionClosed => {
                        Err(HandoverError::ConversationEnded(livechat_conversation_id))
                    }
                }
            }
            WebhookEvent::ConversationEnded {
                livechat_conversation_id,
                id,
            } => {
                let session = self.session_for_webhook(&livechat_conversation_id).await?;
                let activity = Activity {
                    kind: Some(types::MESSAGE.to_owned()),
                    text: Some(text::AGENT_ENDED_NOTICE.to_owned()),
                    ..self.proactive_activity(&session)
                };
                let notice = self.teams_delivery(
                    &session,
                    &livechat_conversation_id,
                    activity,
                    &format!("ended:{id}"),
                );
                if self
                    .store
                    .close_session(&session.id, ClosedBy::Agent, vec![notice])
                    .await?
                {
                    self.wake_teams.notify_one();
                    tracing::info!(session_id = %session.id, "session closed by the agent");
                    Ok(WebhookOutcome::Accepted)
                } else {
                    Ok(WebhookOutcome::AlreadyEnded)
                }
            }
        }
    }

    async fn session_for_webhook(
        &self,
        livechat_conversation_id: &str,
    ) -> Result<Session, HandoverError> {
        self.store
            .session_by_livechat_id(livechat_conversation_id)
            .await?
            .ok_or_else(|| HandoverError::UnknownConversation(livechat_conversation_id.to_owned()))
    }

    /// A message addressed into the session's Teams conversation, from the agent's bot account.
    fn proactive_activity(&self, session: &Session) -> Activity {
        let reference = &session.reference;
        let conversation = reference.conversation.clone().unwrap_or_default();
        let bot = match &self.teams.bot_app_id {
            Some(app_id) => Some(ChannelAccount {
                id: format!("28:{app_id}"),
                ..ChannelAccount::default()
            }),
            None => reference.bot.clone(),
        };
        Activity {
            channel_id: reference.channel_id.clone(),
            conversation: Some(ConversationAccount {
                id: session.copilot_conversation_id.clone(),
                tenant_id: conversation.tenant_id,
                ..ConversationAccount::default()
            }),
            from: bot,
            recipient: reference.user.clone(),
            locale: reference.locale.clone(),
            ..Activity::default()
        }
    }

    fn teams_delivery(
        &self,
        session: &Session,
        livechat_conversation_id: &str,
        activity: Activity,
        dedupe_key: &str,
    ) -> NewDelivery {
        let reference = &session.reference;
        let service_url = proactive_service_url(
            reference.service_url.as_deref().unwrap_or_default(),
            reference.channel_id.as_deref().unwrap_or_default(),
            reference
                .conversation
                .as_ref()
                .and_then(|c| c.tenant_id.as_deref()),
            self.teams.service_url_override.as_deref(),
        );
        let message = TeamsMessage {
            service_url,
            conversation_id: session.copilot_conversation_id.clone(),
            activity,
            livechat_conversation_id: livechat_conversation_id.to_owned(),
        };
        NewDelivery {
            lane: Lane::Teams,
            queue_key: session.copilot_conversation_id.clone(),
            dedupe_key: Some(dedupe_key.to_owned()),
            payload: json!(message),
        }
    }
}

/// The answer to a message for a closed session: the agent's close hands back to the bot
/// successfully; any other close says there is no session any more.
fn message_after_close(activity: &Activity, session: &Session) -> Activity {
    if session.closed_by == Some(ClosedBy::Agent) {
        tracing::info!(session_id = %session.id, "message after the agent closed the chat; handing back to the bot");
        activity.end_of_conversation_reply(
            None,
            end_codes::COMPLETED_SUCCESSFULLY,
            text::AGENT_ENDED,
            None,
        )
    } else {
        tracing::warn!(session_id = %session.id, "message for a closed session");
        activity.end_of_conversation_reply(None, end_codes::UNKNOWN, text::NO_SESSION, None)
    }
}

fn start_succeeded(activity: &Activity, livechat_id: &str) -> Activity {
    // `liveChatConversationId` is the casing Microsoft's SDK writes and Copilot Studio accepts.
    activity.end_of_conversation_reply(
        Some(actions::START_CONVERSATION),
        end_codes::COMPLETED_SUCCESSFULLY,
        "",
        Some(json!({ "liveChatConversationId": livechat_id })),
    )
}

fn start_failed(activity: &Activity) -> Activity {
    activity.end_of_conversation_reply(
        Some(actions::START_CONVERSATION),
        end_codes::CHANNEL_FAILED,
        text::LIVECHAT_UNAVAILABLE,
        None,
    )
}
