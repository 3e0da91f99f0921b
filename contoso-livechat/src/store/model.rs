//! The store's vocabulary: what its callers hand it and get back, besides the contract's
//! conversations and transcript entries ([`livechat_contract::api`], which it returns as they are).

use std::fmt;

use livechat_contract::api::{Conversation, DeliveryState, EntryKind, Role, TranscriptEntry};
use serde::{Deserialize, Serialize};

/// How the pages and a message without a sender name a customer nobody named.
pub const UNNAMED_CUSTOMER: &str = "Customer";

/// A conversation's id, as callers name it: never blank (an unknown one is a 404, a blank one a
/// 400, decided where it is parsed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ConversationId(String);

impl ConversationId {
    /// The id `text` names, trimmed; `None` when blank.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        (!text.is_empty()).then(|| Self(text.to_owned()))
    }

    /// A new conversation's id (made by the store).
    pub(super) fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// What a live-update event is about; the pages' event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A transcript entry was added.
    Message,
    /// A conversation's summary changed.
    Conversation,
    /// An agent's presence, capacity or load changed.
    Agent,
    /// A reply's delivery state changed.
    Delivery,
    /// What was said of a conversation was erased (in memory only: the table forgets it).
    Erased,
    /// A private note on a conversation, for every agent.
    Note,
    /// A supervisor's whisper: shown only to the agent it is for and to supervisors.
    Whisper,
}

impl EventKind {
    /// The event's name, in the table and on the stream.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Conversation => "conversation",
            EventKind::Agent => "agent",
            EventKind::Delivery => "delivery",
            EventKind::Erased => "erased",
            EventKind::Note => "note",
            EventKind::Whisper => "whisper",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            EventKind::Message,
            EventKind::Conversation,
            EventKind::Agent,
            EventKind::Delivery,
            EventKind::Erased,
            EventKind::Note,
            EventKind::Whisper,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// A numbered change for the live streams.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub kind: EventKind,
    /// The conversation it is about (none for an agent's).
    pub conversation_id: Option<ConversationId>,
    /// What the page shows, as JSON.
    pub payload: String,
}

/// A private note to add: any agent's, or a supervisor's whisper to the agent who has the
/// conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNote {
    /// The author's username and shown name.
    pub author: String,
    pub author_name: String,
    pub body: String,
    pub whisper: bool,
    /// The masking rules that changed `body`.
    pub masked: Vec<String>,
}

/// A private note, as the pages and the downloads show it; never sent to the skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub id: String,
    pub conversation_id: String,
    pub author: String,
    pub author_name: String,
    pub body: String,
    /// A whisper's agent (their username); `None` for a note every agent sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whisper_to: Option<String>,
    /// The transcript entry it follows (0: before the first).
    pub after_seq: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
    pub created_at: String,
}

/// One conversation as the dashboard counts it (times are RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counted {
    pub created_at: String,
    pub queued_at: Option<String>,
    pub accepted_at: Option<String>,
    pub ended_at: Option<String>,
    pub first_reply_at: Option<String>,
    pub rating: Option<u8>,
    pub disposition: Option<String>,
    pub open: bool,
}

/// What a `joined` or `queue` entry tells the skill besides its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryDetail {
    /// An agent took the conversation; on a transfer, from `transferred_by`.
    Joined {
        agent_name: String,
        transferred_by: Option<String>,
    },
    /// The customer's place in the queue changed.
    Queue {
        position: u32,
        estimated_wait_seconds: u64,
    },
}

/// The handoff context sent by the skill when it opens a conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewConversation {
    pub customer_name: Option<String>,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    pub tenant_id: Option<String>,
    pub bot_conversation_id: Option<String>,
    pub problem_description: Option<String>,
    /// The caller's key: a second start with it answers the first's conversation.
    pub idempotency_key: Option<String>,
}

/// What a keyed write answers: the stored thing, and whether this call stored it (false when the
/// caller's key had stored it before).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<T> {
    pub value: T,
    pub created: bool,
}

/// Why a message could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddMessageError {
    #[error("no conversation has the id '{0}'")]
    NotFound(ConversationId),
    #[error("the conversation '{0}' has ended")]
    Ended(ConversationId),
    /// Only the agent who has the conversation writes in it (or ends it).
    #[error("{0}")]
    NotYours(String),
    /// Keeping the entry's file would pass `files.max_total_bytes`.
    #[error("the live chat's file storage is full; the file was not kept")]
    StorageFull,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Who asks to end a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum EndingParty {
    /// The agent with this display name, from the page: the skill must be told. With a
    /// username, only the agent who has the conversation may end it.
    Agent {
        name: String,
        username: Option<String>,
    },
    /// The skill, through the API: the customer left.
    Customer,
}

/// Who writes an agent's reply: from a page, only the agent who has the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyAuthor {
    /// A signed-in agent (username).
    Agent(String),
    /// `POST /api/chat/send`: a script writing as the agent, whoever has the conversation.
    Script,
}

/// A reply (or an end, a joining, a queue update) waiting for the webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub entry: TranscriptEntry,
    pub attempts: u32,
    /// What a `joined` or `queue` entry tells besides its kind.
    pub detail: Option<EntryDetail>,
    /// The trace context of the request that stored it (when traces are exported).
    pub trace: Option<String>,
}

/// A file to attach to a new entry: kept on disk already, named safely, its kind told by its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    /// A picture's width, height and whether it is animated, when known.
    pub picture: Option<(u32, u32, bool)>,
}

/// A stored file, as its download needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub conversation_id: ConversationId,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    /// Retention deleted the bytes.
    pub removed: bool,
}

/// A transcript entry to add.
pub(super) struct NewEntry {
    pub kind: EntryKind,
    pub role: Role,
    pub sender: String,
    pub body: String,
    /// Agent replies (and the agent's end) are pending delivery to the skill.
    pub delivery: Option<DeliveryState>,
    /// The caller's id for the message, unique within the conversation.
    pub client_id: Option<String>,
    /// The customer's name as the message gives it: the conversation takes it when its start
    /// named nobody (the original sample starts with an empty body).
    pub customer_name: Option<String>,
    pub detail: Option<EntryDetail>,
    /// Files the entry carries.
    pub files: Vec<NewFile>,
    /// The masking rules that changed `body`.
    pub masked: Vec<String>,
}

/// What a delivery attempt does to the entry's attempt count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttemptCount {
    /// One more attempt was made.
    Increment,
    /// A fresh start (the agent retries a failed reply).
    Reset,
}

/// A change of an entry's delivery state.
pub(super) struct DeliveryChange {
    pub state: DeliveryState,
    pub next_attempt_at: Option<i64>,
    pub error: Option<String>,
    pub attempts: AttemptCount,
}

impl DeliveryChange {
    /// The outcome of one more delivery attempt.
    pub fn attempt(
        state: DeliveryState,
        next_attempt_at: Option<i64>,
        error: Option<String>,
    ) -> Self {
        Self {
            state,
            next_attempt_at,
            error,
            attempts: AttemptCount::Increment,
        }
    }
}

/// What the others see of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Online,
    Away,
    Offline,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Away => "away",
            Presence::Offline => "offline",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Presence::Online, Presence::Away, Presence::Offline]
            .into_iter()
            .find(|presence| presence.as_str() == text)
    }
}

/// An agent as the pages show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentState {
    pub username: String,
    pub display_name: String,
    pub presence: Presence,
    pub capacity: u32,
    /// Open conversations they have.
    pub active: u32,
}

impl AgentState {
    pub fn free(&self) -> u32 {
        self.capacity.saturating_sub(self.active)
    }
}

/// A configured agent, as the store keeps them in step with the configuration.
#[derive(Debug, Clone)]
pub struct ConfiguredAgent {
    pub username: String,
    pub display_name: String,
    pub capacity: u32,
}

/// Where a customer stands in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePlace {
    /// 1 is next.
    pub position: u32,
    pub estimated_wait_seconds: u64,
}

/// A started conversation and, while it waits, its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub conversation: Conversation,
    pub place: Option<QueuePlace>,
}

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// To this agent (username), who must be online with room.
    Agent(String),
    /// Back to the queue, keeping its place by age.
    Queue,
}

/// Why a routing change was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("no conversation has the id '{0}'")]
    NotFound(ConversationId),
    #[error("the conversation has ended")]
    Ended,
    #[error("{0} has accepted this conversation already")]
    Taken(String),
    #[error("{0}")]
    NotYours(String),
    #[error("you already have as many conversations as your capacity ({0}); finish one, or raise your capacity, first")]
    AtCapacity(u32),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ids_are_never_blank() {
        for presence in [Presence::Online, Presence::Away, Presence::Offline] {
            assert_eq!(Presence::parse(presence.as_str()), Some(presence));
        }
        assert_eq!(Presence::parse("busy"), None);
        for kind in [
            EventKind::Message,
            EventKind::Conversation,
            EventKind::Agent,
            EventKind::Delivery,
        ] {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ConversationId::parse("  "), None);
        assert_eq!(ConversationId::parse(" c-1 ").unwrap().as_str(), "c-1");
    }
}
