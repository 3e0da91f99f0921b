//! Contoso Live Chat: the session API the skill calls and the webhook it calls back, both spoken
//! with the shared contract ([`livechat_contract`]).
//!
//! Calls carry `Authorization: Bearer {LIVECHAT_API_KEY}` when a key is configured, and each has
//! the configured time limit. Webhooks are checked against `WEBHOOK_SECRET` when one is set.
//! Files go both ways streamed, never whole in memory: a customer's is posted to
//! `/api/chat/attachments` from where it was staged, an agent's read from the path its webhook
//! names (a path on the live chat only: its key never goes to another host).

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use hyper::Uri;
use livechat_contract::api::UploadQuery;
use livechat_contract::api::{
    ConversationStatus, EndRequest, ErrorAnswer, RateRequest, ReceiveRequest, Role, StartAnswer,
    StartRequest, AVAILABILITY_PATH, END_PATH, MAX_COMMENT_CHARS, RATE_PATH, RATINGS, RECEIVE_PATH,
    START_PATH,
};
use livechat_contract::files::{Attachment, ATTACHMENTS_PATH, FILES_PATH};
use livechat_contract::retry::is_transient_status;
use livechat_contract::signature::{self, SignatureError, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use livechat_contract::signature::{REFUSAL_HEADER, STALE_TIMESTAMP};
use livechat_contract::webhook::{WebhookAnswer, WebhookEvent, WebhookStatus};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

use super::agents::{age_of, short_name, DEFAULT_AGENT_NAME, MAX_AGENT_MESSAGE_CHARS};
use super::webhook::{WebhookError, WebhookReader, WebhookRequest};
use crate::domain::{
    AgentFile, Availability, Closed, CopilotConversationId, DeliveryId, LiveChatConversationId,
    LiveChatEvent, LiveChatEventId, MessageToAgent, NoteRole, Opened, PictureSize, Placement,
    Rating, RatingScale, SessionId, WebhookOutcome,
};
use crate::handover::{
    Capabilities, FileDownload, HandoffContext, LiveChat, LiveChatError, StagedFile,
};
use crate::http::{uri_of, HttpClient, HttpError};

/// The most files one agent's message may carry.
const MAX_AGENT_FILES: usize = 10;

/// A call that got no answer.
fn unanswered(error: HttpError) -> LiveChatError {
    match error {
        HttpError::Timeout => LiveChatError::Timeout,
        other => LiveChatError::Unreachable(other.to_string()),
    }
}

/// The start's idempotency key: one per handover session, the same on every attempt and after a
/// restart (the session id is stored before the live chat is called), fitted to the contract's
/// limit (a left message's session id holds the Teams conversation id, of any length).
fn start_key(session: &SessionId) -> String {
    livechat_contract::api::fitted_key(&format!("handover-session:{session}"))
}

/// A message's id for the live chat: one per delivery (ids are never reused), so a repeated
/// attempt is recognised.
fn message_id(delivery: DeliveryId) -> String {
    format!("skill-delivery:{delivery}")
}

/// Where Contoso Live Chat is and how the two authenticate each other.
pub struct ContosoConnection {
    /// The session API's base (`LIVECHAT_BASE_URL`).
    pub base_url: Url,
    /// Sent as a bearer token on every call (`LIVECHAT_API_KEY`).
    pub api_key: Option<SecretString>,
    /// Time limit of one call.
    pub timeout: Duration,
    /// Checks the webhooks' signature (`WEBHOOK_SECRET`); unset accepts unsigned ones.
    pub webhook_secret: Option<SecretString>,
    /// The secret before a rotation (`WEBHOOK_SECRET_PREVIOUS`), accepted as well until removed.
    pub webhook_previous_secret: Option<SecretString>,
    /// How far a signed webhook's timestamp may be from now, in seconds.
    pub replay_window_secs: u64,
    /// The longest customer message it takes, in characters.
    pub max_message_chars: usize,
    /// The client of files both ways (streamed; no redirects followed).
    pub transfers: reqwest::Client,
    /// Time limit of one file's transfer.
    pub transfer_timeout: Duration,
}

/// A refusal or failure the live chat answered: worth another attempt when the contract says so.
fn answered(status: u16, detail: String) -> LiveChatError {
    let detail = detail.chars().take(300).collect();
    if is_transient_status(status) {
        LiveChatError::Unavailable { status, detail }
    } else {
        LiveChatError::Rejected { status, detail }
    }
}

/// Contoso Live Chat's REST client and webhook reader.
pub struct ContosoLiveChat {
    http: HttpClient,
    /// The calls' URLs, made once.
    start_url: Uri,
    receive_url: Uri,
    end_url: Uri,
    rate_url: Uri,
    availability_url: Uri,
    api_key: Option<SecretString>,
    timeout: Duration,
    webhook_secret: Option<SecretString>,
    webhook_previous_secret: Option<SecretString>,
    replay_window_secs: u64,
    max_message_chars: usize,
    /// The base the files' paths are on (`LIVECHAT_BASE_URL`, without its trailing slash).
    base: String,
    transfers: reqwest::Client,
    transfer_timeout: Duration,
}

impl ContosoLiveChat {
    /// The client of the live chat at `connection`, sending with `http`.
    pub fn new(http: HttpClient, connection: ContosoConnection) -> anyhow::Result<Self> {
        let base = connection
            .base_url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let url = |path: &str| -> anyhow::Result<Uri> {
            let url = Url::parse(&format!("{base}{path}"))
                .context("LIVECHAT_BASE_URL / livechat.base_url")?;
            uri_of(&url).context("LIVECHAT_BASE_URL / livechat.base_url")
        };
        Ok(Self {
            http,
            start_url: url(START_PATH)?,
            receive_url: url(RECEIVE_PATH)?,
            end_url: url(END_PATH)?,
            rate_url: url(RATE_PATH)?,
            availability_url: url(AVAILABILITY_PATH)?,
            api_key: connection.api_key,
            timeout: connection.timeout,
            webhook_secret: connection.webhook_secret,
            webhook_previous_secret: connection.webhook_previous_secret,
            replay_window_secs: connection.replay_window_secs,
            max_message_chars: connection.max_message_chars,
            base,
            transfers: connection.transfers,
            transfer_timeout: connection.transfer_timeout,
        })
    }

    /// A transfer's request with the key (and the trace context, when traces are exported).
    fn transfer(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut request = request.timeout(self.transfer_timeout);
        if let Some((name, value)) = service_support::trace_context::header() {
            request = request.header(name, value);
        }
        match &self.api_key {
            Some(key) => request.bearer_auth(key.expose_secret()),
            None => request,
        }
    }

    /// A transfer that got no answer, or an answer that is not a success.
    async fn transfer_result(
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<reqwest::Response, LiveChatError> {
        let response = sent.map_err(|error| {
            if error.is_timeout() {
                LiveChatError::Timeout
            } else {
                LiveChatError::Unreachable(error.without_url().to_string())
            }
        })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        Err(refused(status, response.text().await.unwrap_or_default()))
    }

    async fn post<T: Serialize + ?Sized>(
        &self,
        url: &Uri,
        body: &T,
    ) -> Result<String, LiveChatError> {
        let body = serde_json::to_vec(body)
            .map_err(|error| LiveChatError::Malformed(error.to_string()))?;
        let answer = self
            .http
            .post_json(
                url.clone(),
                self.api_key.as_ref().map(|key| key.expose_secret()),
                body,
                Some(self.timeout),
            )
            .await
            .map_err(unanswered)?;
        let status = answer.status;
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        if !status.is_success() {
            return Err(refused(status.as_u16(), text));
        }
        Ok(text)
    }

    /// `GET /api/chat/availability`; `None` when the live chat has no such endpoint.
    async fn get_availability(&self) -> Result<Option<Availability>, LiveChatError> {
        let answer = self
            .http
            .get_json(
                self.availability_url.clone(),
                self.api_key.as_ref().map(|key| key.expose_secret()),
                Some(self.timeout),
            )
            .await
            .map_err(unanswered)?;
        let status = answer.status.as_u16();
        if matches!(status, 404 | 405) {
            return Ok(None);
        }
        if !answer.status.is_success() {
            return Err(answered(
                status,
                String::from_utf8_lossy(&answer.body).into_owned(),
            ));
        }
        let figures: livechat_contract::api::Availability = serde_json::from_slice(&answer.body)
            .map_err(|error| LiveChatError::Malformed(error.to_string()))?;
        Ok(Some(Availability {
            agents_online: figures.agents_online,
            queue_length: figures.queue_length,
            estimated_wait_secs: figures.estimated_wait_seconds,
            closed: (!figures.open).then(|| Closed {
                // An opening the skill cannot read is left unsaid rather than refused.
                next_opening: figures
                    .next_opening
                    .as_deref()
                    .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok()),
                time_zone: figures.time_zone,
            }),
        }))
    }

    /// `POST /api/chat/receive` with the caller's message id.
    async fn receive(
        &self,
        conversation: &LiveChatConversationId,
        message: &MessageToAgent,
        id: String,
    ) -> Result<(), LiveChatError> {
        let body = ReceiveRequest {
            conversation_id: conversation.to_string(),
            message: message.text.clone(),
            sender: Some(message.sender.clone()),
            role: Some(match message.role {
                NoteRole::Customer => Role::Customer,
                NoteRole::System => Role::System,
            }),
            id: Some(id),
        };
        self.post(&self.receive_url, &body).await.map(drop)
    }

    fn verify_signature(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        let Some(secret) = &self.webhook_secret else {
            return Ok(());
        };
        let mut secrets = vec![secret.expose_secret().as_bytes()];
        if let Some(previous) = &self.webhook_previous_secret {
            secrets.push(previous.expose_secret().as_bytes());
        }
        let now = chrono::Utc::now().timestamp();
        signature::verify_any(
            &secrets,
            request.header(TIMESTAMP_HEADER),
            request.header(SIGNATURE_HEADER),
            request.body,
            now,
            self.replay_window_secs,
        )
        .map_err(|error| match error {
            // Only the clocks are wrong: the live chat retries for its bounded time, and both
            // sides say so loudly, instead of every message failing for good.
            SignatureError::OutsideReplayWindow { .. } => {
                let skew_secs = request
                    .header(TIMESTAMP_HEADER)
                    .and_then(|value| value.trim().parse::<i64>().ok())
                    .map(|sent| sent - now);
                tracing::error!(skew_secs, window_secs = self.replay_window_secs, "CLOCKS DIFFER: a webhook's signed time is outside the replay window of this clock; it is refused for now and retried by the live chat. Synchronise both machines' clocks (NTP)");
                WebhookError::StaleTimestamp {
                    reason: error.to_string(),
                    marker: (REFUSAL_HEADER, STALE_TIMESTAMP),
                }
            }
            other => WebhookError::Unauthorized(other.to_string()),
        })
    }
}

/// A refusal the live chat answered, with the contract's `{"error": "..."}` as its detail when
/// there is one (it may be shown to the customer), else the answer's text.
fn refused(status: u16, text: String) -> LiveChatError {
    let detail = serde_json::from_str::<ErrorAnswer>(&text)
        .map(|answer| answer.error)
        .unwrap_or(text);
    answered(status, detail)
}

/// An agent's file as the webhook describes it: fetched by its path on the live chat (never
/// another host), named safely whatever the live chat called it.
fn agent_file(attachment: Attachment) -> Result<AgentFile, WebhookError> {
    let on_the_live_chat = attachment.url.starts_with(FILES_PATH)
        && attachment.url[FILES_PATH.len()..].starts_with('/')
        && !attachment.url.contains("..")
        && !attachment.url.contains(['?', '#', '\\']);
    if !on_the_live_chat {
        return Err(WebhookError::BadRequest(format!(
            "an attachment's url must be a path under {FILES_PATH}"
        )));
    }
    if attachment.size == 0 {
        return Err(WebhookError::BadRequest("an attachment is empty".into()));
    }
    let kind = service_support::files::kind_of_type(&attachment.content_type);
    let picture = match (attachment.width, attachment.height) {
        (Some(width), Some(height)) => Some(PictureSize {
            width,
            height,
            animated: attachment.animated,
        }),
        _ => None,
    };
    Ok(AgentFile {
        reference: attachment.url,
        name: service_support::files::safe_name(&attachment.name, kind),
        content_type: kind.mime.to_owned(),
        size: attachment.size,
        picture,
    })
}

fn id_of<T>(
    parse: fn(String) -> Result<T, crate::domain::IdError>,
    text: String,
) -> Result<T, WebhookError> {
    parse(text).map_err(|error| WebhookError::BadRequest(error.to_string()))
}

#[async_trait]
impl LiveChat for ContosoLiveChat {
    async fn availability(&self) -> Result<Option<Availability>, LiveChatError> {
        self.get_availability().await
    }

    async fn start(
        &self,
        session: &SessionId,
        context: &HandoffContext,
    ) -> Result<Opened, LiveChatError> {
        let body = StartRequest {
            idempotency_key: Some(start_key(session)),
            customer_name: context.customer_name.clone(),
            customer_id: context.customer_id.clone(),
            channel: context.channel.clone(),
            tenant_id: context.tenant_id.clone(),
            bot_conversation_id: Some(context.bot_conversation_id.clone()),
            problem_description: context.problem_description.clone(),
        };
        let text = self.post(&self.start_url, &body).await?;
        let answer: StartAnswer = serde_json::from_str(&text)
            .map_err(|error| LiveChatError::Malformed(error.to_string()))?;
        let livechat = LiveChatConversationId::parse(answer.conversation_id).map_err(|_| {
            LiveChatError::Malformed("the start answer has no usable conversationId".into())
        })?;
        let placement = match (answer.status, answer.queue_position) {
            (Some(ConversationStatus::Waiting), Some(position)) if position > 0 => {
                Placement::Queued {
                    position,
                    estimated_wait_secs: answer.estimated_wait_seconds,
                }
            }
            (Some(ConversationStatus::Assigned), _) => Placement::Connected {
                agent: answer.agent_name.filter(|name| !name.trim().is_empty()),
            },
            _ => Placement::Unknown,
        };
        Ok(Opened {
            livechat,
            placement,
            hub_conversation: None,
        })
    }

    async fn send(
        &self,
        delivery: DeliveryId,
        conversation: &LiveChatConversationId,
        message: &MessageToAgent,
    ) -> Result<(), LiveChatError> {
        self.receive(conversation, message, message_id(delivery))
            .await
    }

    async fn abandon(
        &self,
        session: &SessionId,
        conversation: &CopilotConversationId,
        note: &MessageToAgent,
    ) -> Result<(), LiveChatError> {
        let context = HandoffContext::bare(conversation);
        let livechat = self.start(session, &context).await?.livechat;
        match self
            .receive(&livechat, note, format!("abandoned:{session}"))
            .await
        {
            // Ended already (by an agent, or by an earlier attempt of this): nothing to add.
            Err(LiveChatError::Rejected { status: 409, .. }) | Ok(()) => {}
            Err(error) => return Err(error),
        }
        self.end(&livechat).await
    }

    async fn end(&self, conversation: &LiveChatConversationId) -> Result<(), LiveChatError> {
        let body = EndRequest {
            conversation_id: conversation.to_string(),
        };
        self.post(&self.end_url, &body).await.map(drop)
    }

    async fn rate(
        &self,
        conversation: &LiveChatConversationId,
        rating: Rating,
        comment: Option<&str>,
    ) -> Result<(), LiveChatError> {
        let body = RateRequest {
            conversation_id: conversation.to_string(),
            rating: rating.get(),
            comment: comment.map(str::to_owned),
        };
        self.post(&self.rate_url, &body).await.map(drop)
    }

    async fn send_file(
        &self,
        delivery: DeliveryId,
        conversation: &LiveChatConversationId,
        sender: &str,
        file: &StagedFile,
    ) -> Result<(), LiveChatError> {
        let query = UploadQuery {
            conversation_id: conversation.to_string(),
            id: Some(message_id(delivery)),
            name: Some(file.name.clone()),
            sender: Some(sender.to_owned()),
            role: Some(Role::Customer),
        };
        let query = serde_urlencoded::to_string(&query)
            .map_err(|error| LiveChatError::Malformed(error.to_string()))?;
        let bytes = tokio::fs::File::open(&file.path).await.map_err(|error| {
            LiveChatError::Unreachable(format!("the staged file could not be read: {error}"))
        })?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            bytes,
            64 * 1024,
        ));
        let request = self
            .transfers
            .post(format!("{}{ATTACHMENTS_PATH}?{query}", self.base))
            .header(reqwest::header::CONTENT_TYPE, &file.content_type)
            .header(reqwest::header::CONTENT_LENGTH, file.size)
            .body(body);
        Self::transfer_result(self.transfer(request).send().await)
            .await
            .map(drop)
    }

    async fn open_file(&self, file: &AgentFile) -> Result<FileDownload, LiveChatError> {
        use futures_util::TryStreamExt;
        let request = self
            .transfers
            .get(format!("{}{}", self.base, file.reference));
        let response = Self::transfer_result(self.transfer(request).send().await).await?;
        Ok(FileDownload {
            length: response.content_length(),
            body: Box::pin(
                response
                    .bytes_stream()
                    .map_err(|error| error.without_url().to_string()),
            ),
        })
    }

    fn capabilities(&self) -> Capabilities {
        // Everything the contract has; the customer's typing is not in it.
        Capabilities {
            availability: true,
            typing_to_agent: false,
            typing_from_agent: true,
            ratings: true,
            leave_message: true,
            reports_end: true,
            files_to_agent: true,
            files_from_agent: true,
        }
    }

    fn kind(&self) -> &'static str {
        "contoso"
    }

    fn max_message_chars(&self) -> usize {
        self.max_message_chars
    }

    fn rating_scale(&self) -> RatingScale {
        RatingScale {
            lowest: *RATINGS.start(),
            highest: *RATINGS.end(),
            max_comment_chars: MAX_COMMENT_CHARS,
        }
    }
}

impl WebhookReader for ContosoLiveChat {
    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Option<LiveChatEvent>, WebhookError> {
        self.verify_signature(request)?;
        let event = WebhookEvent::parse(request.body)
            .map_err(|error| WebhookError::BadRequest(error.to_string()))?;
        event_of(event).map(Some)
    }

    fn webhook_answer(&self, outcome: WebhookOutcome) -> serde_json::Value {
        let status = match outcome {
            WebhookOutcome::Accepted => WebhookStatus::Accepted,
            WebhookOutcome::Duplicate => WebhookStatus::Duplicate,
            WebhookOutcome::AlreadyEnded => WebhookStatus::AlreadyEnded,
            WebhookOutcome::Dropped => WebhookStatus::Dropped,
        };
        serde_json::json!(WebhookAnswer { status })
    }

    fn webhook_refusal(&self, reason: &str) -> serde_json::Value {
        serde_json::json!(ErrorAnswer {
            error: reason.to_owned(),
        })
    }

    fn webhooks_are_signed(&self) -> bool {
        self.webhook_secret.is_some()
    }
}

/// A contract event in the handover's words.
fn event_of(event: WebhookEvent) -> Result<LiveChatEvent, WebhookError> {
    match event {
        WebhookEvent::Message(message) => {
            if message.message.chars().count() > MAX_AGENT_MESSAGE_CHARS {
                return Err(WebhookError::BadRequest(format!(
                    "the message is longer than {MAX_AGENT_MESSAGE_CHARS} characters"
                )));
            }
            if message.attachments.len() > MAX_AGENT_FILES {
                return Err(WebhookError::BadRequest(format!(
                    "a message carries at most {MAX_AGENT_FILES} files"
                )));
            }
            let files = message
                .attachments
                .into_iter()
                .map(agent_file)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(LiveChatEvent::AgentMessage {
                conversation: id_of(LiveChatConversationId::parse, message.conversation_id)?,
                id: id_of(LiveChatEventId::parse, message.id)?,
                sender: message
                    .sender
                    .unwrap_or_else(|| DEFAULT_AGENT_NAME.to_owned()),
                text: message.message,
                files,
            })
        }
        WebhookEvent::ConversationEnded(ended) => Ok(LiveChatEvent::ConversationEnded {
            conversation: id_of(LiveChatConversationId::parse, ended.conversation_id)?,
            id: id_of(LiveChatEventId::parse, ended.id)?,
            agent: ended
                .sender
                .as_deref()
                .map(short_name)
                .filter(|name| !name.is_empty()),
        }),
        WebhookEvent::AgentJoined(joined) => Ok(LiveChatEvent::AgentJoined {
            conversation: id_of(LiveChatConversationId::parse, joined.conversation_id)?,
            id: id_of(LiveChatEventId::parse, joined.id)?,
            agent: short_name(&joined.agent_name),
            transferred_by: joined.transferred_by.as_deref().map(short_name),
        }),
        WebhookEvent::QueueUpdate(update) => Ok(LiveChatEvent::QueueUpdate {
            conversation: id_of(LiveChatConversationId::parse, update.conversation_id)?,
            id: id_of(LiveChatEventId::parse, update.id)?,
            position: update.queue_position,
            estimated_wait_secs: update.estimated_wait_seconds,
        }),
        WebhookEvent::Typing(typing) => {
            let age = age_of(&typing.timestamp).ok_or_else(|| {
                WebhookError::BadRequest("the typing event's timestamp is not RFC 3339".into())
            })?;
            Ok(LiveChatEvent::Typing {
                conversation: id_of(LiveChatConversationId::parse, typing.conversation_id)?,
                age,
            })
        }
        other => Err(WebhookError::BadRequest(format!(
            "the webhook event '{}' is not handled by this skill",
            other.id()
        ))),
    }
}
