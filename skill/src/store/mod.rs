//! Durable state: handover sessions and the two outboxes.
//!
//! Behind one interface ([`Store`]) so that a shared server database can replace the embedded
//! SQLite file when several instances run; the SQL that enforces the invariants (one live session per
//! conversation, one delivery per sender id) lives in the implementation.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use serde_json::Value;

use crate::protocol::ConversationReference;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A session still `opening` after this many seconds was abandoned by a process that stopped
/// mid-start (the live chat's start has a timeout of a few seconds); a new start replaces it.
pub const ABANDONED_OPENING_SECS: i64 = 120;

/// Opens the configured store: PostgreSQL when `database_url` is set (several instances share it),
/// else the SQLite file in `data_dir` (one instance).
pub async fn open(
    database_url: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    Ok(match database_url {
        Some(url) => std::sync::Arc::new(PostgresStore::connect(url).await?),
        None => std::sync::Arc::new(SqliteStore::open(data_dir).await?),
    })
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// The live-chat session is being created.
    Opening,
    /// Messages flow both ways.
    Open,
    /// Over; kept for the record.
    Closed,
}

/// Who or what closed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    User,
    Agent,
    Timeout,
    Error,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Opening => "opening",
            SessionState::Open => "open",
            SessionState::Closed => "closed",
        }
    }
    fn parse(text: &str) -> Option<Self> {
        match text {
            "opening" => Some(SessionState::Opening),
            "open" => Some(SessionState::Open),
            "closed" => Some(SessionState::Closed),
            _ => None,
        }
    }
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::User => "user",
            ClosedBy::Agent => "agent",
            ClosedBy::Timeout => "timeout",
            ClosedBy::Error => "error",
        }
    }
    fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(ClosedBy::User),
            "agent" => Some(ClosedBy::Agent),
            "timeout" => Some(ClosedBy::Timeout),
            "error" => Some(ClosedBy::Error),
            _ => None,
        }
    }
}

/// One handover of one Copilot conversation to one live-chat session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub copilot_conversation_id: String,
    /// Known once the live chat has answered.
    pub livechat_conversation_id: Option<String>,
    pub state: SessionState,
    pub closed_by: Option<ClosedBy>,
    pub reference: ConversationReference,
    /// The conversation the caller said the session's activities relate to (`relatesTo`), when it
    /// differs from the activity's own conversation id.
    pub origin_conversation_id: Option<String>,
    /// The `ProblemDescription` input has been forwarded to the agent.
    pub problem_forwarded: bool,
}

/// The outcome of asking for a new session.
#[derive(Debug, Clone, PartialEq)]
pub enum BeginSession {
    /// This caller created the session (state opening) and must open it in the live chat.
    Created(Session),
    /// The conversation already has a live session (opening or open); use it.
    Existing(Session),
}

/// Which worker delivers a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Agent -> user, into Teams.
    Teams,
    /// User -> agent, into the live chat.
    LiveChat,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Teams => "teams",
            Lane::LiveChat => "livechat",
        }
    }
}

/// A message to store for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub lane: Lane,
    /// Deliveries with the same key are sent one at a time, oldest first.
    pub queue_key: String,
    /// The sender's id for the message; a second delivery with the same key is a duplicate.
    pub dedupe_key: Option<String>,
    pub payload: Value,
}

/// A stored message waiting for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub lane: Lane,
    pub queue_key: String,
    pub payload: Value,
    /// Attempts made so far.
    pub attempts: u32,
}

/// The outcome of storing an agent message for an open session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Accepted,
    /// The same message id was accepted before; nothing new was stored.
    Duplicate,
    /// The session is no longer open; nothing was stored.
    SessionClosed,
}

/// Counts of deliveries by state, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// Durable state of the skill.
#[async_trait]
pub trait Store: Send + Sync {
    /// Checks that the store answers.
    async fn ping(&self) -> anyhow::Result<()>;

    /// Closes sessions left `opening` by a previous run (their live-chat start never finished);
    /// returns how many. With a shared database only those older than [`ABANDONED_OPENING_SECS`],
    /// since another instance may be opening one right now.
    async fn recover_interrupted_sessions(&self) -> anyhow::Result<u64>;

    /// Creates an `opening` session for the conversation, unless it (or its origin conversation)
    /// already has a live one.
    async fn begin_session(
        &self,
        copilot_conversation_id: &str,
        origin_conversation_id: Option<&str>,
        reference: &ConversationReference,
    ) -> anyhow::Result<BeginSession>;

    /// Marks an `opening` session open with its live-chat id.
    async fn complete_session_open(
        &self,
        session_id: &str,
        livechat_conversation_id: &str,
    ) -> anyhow::Result<()>;

    /// Closes an `opening` session whose live-chat start failed.
    async fn fail_session_open(&self, session_id: &str) -> anyhow::Result<()>;

    /// The conversation's session in state `opening` or `open`.
    async fn live_session(&self, copilot_conversation_id: &str) -> anyhow::Result<Option<Session>>;

    /// The live session (opening or open) whose activities relate to `origin_conversation_id`.
    async fn live_session_by_origin(
        &self,
        origin_conversation_id: &str,
    ) -> anyhow::Result<Option<Session>>;

    /// The conversation's most recent session in any state.
    async fn latest_session(
        &self,
        copilot_conversation_id: &str,
    ) -> anyhow::Result<Option<Session>>;

    /// The session with this live-chat id, in any state.
    async fn session_by_livechat_id(
        &self,
        livechat_conversation_id: &str,
    ) -> anyhow::Result<Option<Session>>;

    /// Stores a user's message(s) for the live chat; with `problem_forwarded`, also records that the
    /// problem description is among them. One transaction.
    async fn record_user_messages(
        &self,
        session_id: &str,
        deliveries: Vec<NewDelivery>,
        problem_forwarded: bool,
    ) -> anyhow::Result<()>;

    /// Closes an open session and stores the deliveries that announce it, in one transaction.
    /// Returns false (and stores nothing) when the session was not open.
    async fn close_session(
        &self,
        session_id: &str,
        closed_by: ClosedBy,
        deliveries: Vec<NewDelivery>,
    ) -> anyhow::Result<bool>;

    /// Stores an agent's message if its session is still open and its id is new.
    async fn enqueue_for_open_session(
        &self,
        session_id: &str,
        delivery: NewDelivery,
    ) -> anyhow::Result<Enqueued>;

    /// Stores a delivery unconditionally (returns false for a duplicate dedupe key).
    async fn enqueue(&self, delivery: NewDelivery) -> anyhow::Result<bool>;

    /// The oldest pending delivery of each queue in `lane` that is due at `now_ms`, skipping the
    /// queues in `busy_queues`.
    async fn due_deliveries(
        &self,
        lane: Lane,
        now_ms: i64,
        limit: u32,
        busy_queues: &[String],
    ) -> anyhow::Result<Vec<Delivery>>;

    /// When the next pending delivery in `lane` falls due, if any.
    async fn next_due_at(&self, lane: Lane) -> anyhow::Result<Option<i64>>;

    async fn mark_delivered(&self, delivery_id: i64) -> anyhow::Result<()>;
    async fn schedule_retry(
        &self,
        delivery_id: i64,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> anyhow::Result<()>;
    async fn mark_failed(&self, delivery_id: i64, error: &str) -> anyhow::Result<()>;

    /// Deletes closed sessions and finished deliveries (delivered or failed) that ended before
    /// `before` (an RFC 3339 UTC time); returns how many sessions and deliveries.
    async fn purge_finished(&self, before: &str) -> anyhow::Result<(u64, u64)>;

    async fn count_open_sessions(&self) -> anyhow::Result<i64>;
    async fn delivery_counts(&self, lane: Lane) -> anyhow::Result<DeliveryCounts>;
}
