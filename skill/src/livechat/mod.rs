//! The live-chat side, behind one interface ([`LiveChat`]), so that another engagement hub
//! (ServiceNow, Salesforce, Genesys) can replace Contoso Live Chat without touching the handover or
//! the Bot Framework code.
//!
//! Invariant: nothing outside `livechat/` knows the live-chat system's URLs, JSON or signatures;
//! the handover sees [`LiveChatEvent`]s and sends [`crate::domain::ToAgent`]s.

pub mod contoso;

use async_trait::async_trait;

pub use contoso::ContosoLiveChat;

use crate::domain::{
    Availability, CopilotConversationId, DeliveryId, LiveChatConversationId, LiveChatEvent,
    MessageToAgent, Opened, Rating, SessionId, WebhookOutcome,
};

/// What the agent should know about the customer, sent when a session opens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HandoffContext {
    pub customer_name: Option<String>,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    pub tenant_id: Option<String>,
    pub bot_conversation_id: String,
    pub problem_description: Option<String>,
}

/// Why a live-chat call failed; [`LiveChatError::is_transient`] decides on a retry.
#[derive(Debug, thiserror::Error)]
pub enum LiveChatError {
    #[error("the live chat did not answer in time")]
    Timeout,
    #[error("the live chat could not be reached: {0}")]
    Unreachable(String),
    #[error("the live chat answered {status}: {detail}")]
    Rejected { status: u16, detail: String },
    #[error("the live chat's answer could not be read: {0}")]
    Malformed(String),
}

impl LiveChatError {
    /// Outages and overload are worth waiting out; a refusal of the request itself is not.
    pub fn is_transient(&self) -> bool {
        match self {
            LiveChatError::Timeout | LiveChatError::Unreachable(_) => true,
            LiveChatError::Rejected { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            LiveChatError::Malformed(_) => false,
        }
    }
}

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WebhookError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadRequest(String),
}

/// A webhook request as received, before the live-chat system's own checks.
pub struct WebhookRequest<'a> {
    pub headers: &'a actix_web::http::header::HeaderMap,
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// A live-chat system: opens, feeds and ends sessions, and reads its own webhooks.
///
/// Every call may be repeated (after a timeout, or by the next process after a crash) and must
/// then change nothing: a start is keyed by the handover session, a message by its delivery.
#[async_trait]
pub trait LiveChat: Send + Sync {
    /// Whether anyone would answer a start now; `None` when the live chat cannot say (one without
    /// agents' presence, like the original sample's).
    async fn availability(&self) -> Result<Option<Availability>, LiveChatError>;
    /// Opens the session's conversation and returns its id and where it stands; for a session it
    /// opened before, the same id.
    async fn start(
        &self,
        session: &SessionId,
        context: &HandoffContext,
    ) -> Result<Opened, LiveChatError>;
    /// Posts a customer's (or the skill's) message into a session, once per `delivery`.
    async fn send(
        &self,
        delivery: DeliveryId,
        conversation: &LiveChatConversationId,
        message: &MessageToAgent,
    ) -> Result<(), LiveChatError>;
    /// Ends whatever a start of `session` that never finished opened: the agent reads `note`
    /// first. (Where the live chat cannot look a start up by its key, this may open a
    /// conversation only to end it.)
    async fn abandon(
        &self,
        session: &SessionId,
        conversation: &CopilotConversationId,
        note: &MessageToAgent,
    ) -> Result<(), LiveChatError>;
    /// Ends a session.
    async fn end(&self, conversation: &LiveChatConversationId) -> Result<(), LiveChatError>;
    /// Stores the customer's rating of a conversation (open or ended); rating again replaces it.
    async fn rate(
        &self,
        conversation: &LiveChatConversationId,
        rating: Rating,
        comment: Option<&str>,
    ) -> Result<(), LiveChatError>;
    /// Authenticates and parses a webhook request.
    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<LiveChatEvent, WebhookError>;
    /// The body that answers a webhook request with `outcome`.
    fn webhook_answer(&self, outcome: WebhookOutcome) -> serde_json::Value;
    /// True when webhooks are authenticated (for the start-up warning).
    fn webhooks_are_signed(&self) -> bool;
    /// The longest message text, in characters, the live chat takes.
    fn max_message_chars(&self) -> usize;
}
