//! What the handover needs from outside, as traits the adapters implement: the live-chat system
//! ([`LiveChat`], implemented in `livechat/`), Teams' typing indicator ([`TypingIndicator`]) and
//! the fetching of customers' files ([`FileFetcher`]), both implemented in `protocol/`. The
//! outboxes' [`super::outbox::Courier`] is the fourth.
//!
//! The handover depends on these and on nothing of the adapters, so another engagement hub
//! (ServiceNow, Salesforce, Genesys) replaces Contoso Live Chat without touching it.

use std::path::PathBuf;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::domain::{
    AgentFile, Availability, CopilotConversationId, CustomerFile, DeliveryId, FetchError,
    LiveChatConversationId, MessageToAgent, Opened, Rating, RatingScale, SessionId,
    UserConversation,
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

impl HandoffContext {
    /// The context of a start made only to end it (an interrupted opening): the conversation alone.
    pub fn bare(conversation: &CopilotConversationId) -> Self {
        Self {
            bot_conversation_id: conversation.to_string(),
            ..Self::default()
        }
    }
}

/// Why a live-chat call failed; [`LiveChatError::is_transient`] decides on a retry.
#[derive(Debug, thiserror::Error)]
pub enum LiveChatError {
    #[error("the live chat did not answer in time")]
    Timeout,
    #[error("the live chat could not be reached: {0}")]
    Unreachable(String),
    /// The live chat answered that it cannot take the call now (an outage, overload): worth
    /// another attempt.
    #[error("the live chat answered {status}: {detail}")]
    Unavailable { status: u16, detail: String },
    /// The live chat refused the call itself: another attempt would be refused too.
    #[error("the live chat answered {status}: {detail}")]
    Rejected { status: u16, detail: String },
    #[error("the live chat's answer could not be read: {0}")]
    Malformed(String),
}

impl LiveChatError {
    /// Outages and overload are worth waiting out; a refusal of the request itself is not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LiveChatError::Timeout
                | LiveChatError::Unreachable(_)
                | LiveChatError::Unavailable { .. }
        )
    }
}

/// What a live-chat system can do. The handover asks before it relies on a feature and degrades
/// plainly where the hub lacks one: it never throws an error topic at the customer for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Says whether anyone is online and where a customer is in the queue; without it a session
    /// opens and nothing is said of places.
    pub availability: bool,
    /// Shows the agent the customer typing ([`LiveChat::customer_typing`]).
    pub typing_to_agent: bool,
    /// Reports the agent typing, shown in Teams.
    pub typing_from_agent: bool,
    /// Takes the customer's rating; without it `rateConversation` ends with `notRated`.
    pub ratings: bool,
    /// Holds a message left while nobody is online; without it `leaveMessage` ends with
    /// `unavailable` and the customer is told.
    pub leave_message: bool,
    /// Reports the agent ending the chat; without it a chat ends by the customer or a timer.
    pub reports_end: bool,
    /// Takes the customer's files; without them the customer is told at once that a file
    /// cannot be passed on, and the agent of what it was.
    pub files_to_agent: bool,
    /// Sends the agent's files.
    pub files_from_agent: bool,
}

/// A live-chat system: opens, feeds and ends sessions.
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
    /// Posts a customer's file into a session as the customer's (`sender`), streamed from where
    /// it was fetched to, once per `delivery`.
    async fn send_file(
        &self,
        delivery: DeliveryId,
        conversation: &LiveChatConversationId,
        sender: &str,
        file: &StagedFile,
    ) -> Result<(), LiveChatError>;
    /// The bytes of a file an agent sent, streamed.
    async fn open_file(&self, file: &AgentFile) -> Result<FileDownload, LiveChatError>;
    /// Shows the agent that the customer is typing: one attempt, never stored (only called when
    /// [`Capabilities::typing_to_agent`]).
    async fn customer_typing(
        &self,
        conversation: &LiveChatConversationId,
    ) -> Result<(), LiveChatError> {
        let _ = conversation;
        Ok(())
    }
    /// Follows again the open conversations a stopped process followed: each live-chat id with the
    /// hub's own id of it ([`crate::domain::Opened::hub_conversation`]).
    fn resume(&self, open: Vec<(LiveChatConversationId, String)>) {
        let _ = open;
    }
    /// What this live chat can do.
    fn capabilities(&self) -> Capabilities;
    /// The hub's name in metrics and logs (`contoso`, `genesys`).
    fn kind(&self) -> &'static str;
    /// The longest message text, in characters, the live chat takes.
    fn max_message_chars(&self) -> usize;
    /// The ratings it takes, and the longest comment.
    fn rating_scale(&self) -> RatingScale;
}

/// Shows the agent typing in the user's conversation: one attempt, never retried, never queued
/// behind messages. (`protocol/` sends it to Teams.)
#[async_trait]
pub trait TypingIndicator: Send + Sync {
    async fn show_typing(&self, to: &UserConversation) -> Result<(), TypingNotShown>;
}

/// Why a typing indicator was not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypingNotShown {
    /// Teams' rate windows had no room for it now (dropped rather than late).
    NoRoom,
    /// The attempt failed, as said.
    Failed(String),
}

impl TypingNotShown {
    /// The `handover_typing_total` label.
    pub fn label(&self) -> &'static str {
        match self {
            TypingNotShown::NoRoom => "no_room",
            TypingNotShown::Failed(_) => "failed",
        }
    }
}

/// A customer's file fetched to local disk, checked, waiting to be posted into the live chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Named by the delivery, never by the customer.
    pub path: PathBuf,
    /// The customer's name for it, made safe.
    pub name: String,
    /// The kind its bytes are, as a media type.
    pub content_type: String,
    pub size: u64,
}

/// A file's bytes as they arrive: never all in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// An agent's file being read from the live chat.
pub struct FileDownload {
    /// Its length, when the live chat said.
    pub length: Option<u64>,
    pub body: ByteStream,
}

/// Fetches customers' files: from Teams (or wherever the customer's client put them), safely,
/// into local staging. A delivery's file fetched before (by an attempt that could not post it) is
/// found again, not fetched twice.
#[async_trait]
pub trait FileFetcher: Send + Sync {
    async fn fetch(
        &self,
        delivery: DeliveryId,
        file: &CustomerFile,
    ) -> Result<StagedFile, FetchError>;
    /// Deletes the delivery's staged file (posted, or given up).
    async fn discard(&self, delivery: DeliveryId);
}
