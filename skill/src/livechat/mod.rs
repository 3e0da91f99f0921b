//! The live-chat side, behind one interface, so that another engagement hub (ServiceNow,
//! Salesforce, Genesys) can replace Contoso Live Chat without touching the Bot Framework code.
//!
//! Invariant: nothing outside `livechat/` knows the live-chat system's URLs, JSON or signatures.

pub mod contoso;
pub mod signature;

use async_trait::async_trait;

pub use contoso::ContosoLiveChat;

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

/// An event the live-chat system reports through the skill's webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    /// A human agent wrote to the customer. `id` is stable for the message, so a repeated webhook
    /// is recognised.
    AgentMessage {
        livechat_conversation_id: String,
        id: String,
        sender: String,
        message: String,
    },
    /// The agent closed the conversation.
    ConversationEnded {
        livechat_conversation_id: String,
        id: String,
    },
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
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A live-chat system: opens, feeds and ends sessions, and reads its own webhooks.
#[async_trait]
pub trait LiveChat: Send + Sync {
    /// Opens a session and returns its id.
    async fn start(&self, context: &HandoffContext) -> Result<String, LiveChatError>;
    /// Posts a customer (or system) message into a session.
    async fn send(
        &self,
        livechat_conversation_id: &str,
        message: &str,
        sender: &str,
    ) -> Result<(), LiveChatError>;
    /// Ends a session.
    async fn end(&self, livechat_conversation_id: &str) -> Result<(), LiveChatError>;
    /// Authenticates and parses a webhook request.
    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent, WebhookError>;
    /// True when webhooks are authenticated (for the start-up warning).
    fn webhooks_are_signed(&self) -> bool;
}
