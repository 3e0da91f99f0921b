//! Durable state: handover sessions and the two outboxes, in SQLite (one instance) or PostgreSQL
//! (several instances sharing the state).
//!
//! One body for both databases: the statements are in [`sql`] (the few that differ in
//! [`dialect`]), the rows and payload records in [`records`], and [`Store`] runs them through
//! sqlx's `Any` driver. The SQL enforces the invariants itself (one live session per conversation,
//! one delivery per sender id), so they hold across instances too.
//!
//! The store wakes its own workers: every write that adds a delivery notifies that lane's
//! [`Store::work_signal`] after it commits, so no caller has to remember to.

pub mod dialect;
pub mod records;
pub mod sql;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use sqlx::AnyPool;
use sqlx::Row;
use tokio::sync::Notify;
use uuid::Uuid;

pub use dialect::{Dialect, CLAIM_LEASE_MS};

use crate::domain::{
    ConversationAddress, CopilotConversationId, DeliveryId, Lane, LiveChatConversationId, Outbound,
    SessionId,
};
use records::{encode_payload, DeliveryRow, SessionRow};

/// A session still `opening` after this many seconds was abandoned by a process that stopped
/// mid-start (the live chat's start has a timeout of a few seconds); a new start replaces it.
pub const ABANDONED_OPENING_SECS: i64 = 120;

/// Who or what closed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// The customer ended the chat (or the skill action was cancelled).
    User,
    /// The agent closed the chat.
    Agent,
    /// The opening failed or was interrupted.
    Error,
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::User => "user",
            ClosedBy::Agent => "agent",
            ClosedBy::Error => "error",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [ClosedBy::User, ClosedBy::Agent, ClosedBy::Error]
            .into_iter()
            .find(|closed_by| closed_by.as_str() == text)
    }
}

/// Where a session is in its life; the live-chat id exists from `Open` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// The live-chat session is being created.
    Opening,
    /// Messages flow both ways.
    Open { livechat: LiveChatConversationId },
    /// Over; kept for the record.
    Closed {
        by: ClosedBy,
        livechat: Option<LiveChatConversationId>,
    },
}

/// One handover of one Copilot conversation to one live-chat session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub copilot_conversation_id: CopilotConversationId,
    pub state: SessionState,
    /// Where the agent's replies go.
    pub address: ConversationAddress,
    /// The conversation the caller said the session's activities relate to (`relatesTo`), when it
    /// differs from the activity's own conversation id.
    pub origin_conversation_id: Option<CopilotConversationId>,
    /// The `ProblemDescription` input has been forwarded to the agent.
    pub problem_forwarded: bool,
}

impl Session {
    /// The live-chat conversation, while the session is open.
    pub fn open_livechat(&self) -> Option<&LiveChatConversationId> {
        match &self.state {
            SessionState::Open { livechat } => Some(livechat),
            _ => None,
        }
    }
}

/// The outcome of asking for a new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginSession {
    /// This caller created the session (state opening) and must open it in the live chat.
    Created(Session),
    /// The conversation already has a live session (opening or open); use it.
    Existing(Session),
}

/// A message to store for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub payload: Outbound,
    /// The sender's id for the message; a second delivery with the same key is a duplicate.
    pub dedupe_key: Option<String>,
}

/// A user's messages for the live chat, stored together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessages {
    pub deliveries: Vec<NewDelivery>,
    /// The problem description is among them: the session remembers it was forwarded.
    pub includes_problem_description: bool,
}

/// A stored message waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub lane: Lane,
    pub queue_key: String,
    /// What to send, or why the stored payload cannot be read.
    pub payload: Result<Outbound, String>,
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

/// What a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub deliveries: u64,
}

/// One notification per lane, so a write wakes only the worker that has new work.
#[derive(Default)]
struct Signals {
    teams: Notify,
    livechat: Notify,
}

impl Signals {
    fn of(&self, lane: Lane) -> &Notify {
        match lane {
            Lane::Teams => &self.teams,
            Lane::LiveChat => &self.livechat,
        }
    }
}

/// Fixed-width UTC timestamps, so that text comparison is time comparison.
fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The skill's durable state: a cloneable handle over the database pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    signals: Arc<Signals>,
}

type Transaction = sqlx::Transaction<'static, sqlx::Any>;

impl Store {
    /// Opens the configured store: PostgreSQL when `database_url` is set (several instances share
    /// it), else the SQLite file in `data_dir` (one instance).
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Store> {
        match database_url {
            Some(url) => Store::connect_postgres(url).await,
            None => Store::open_sqlite(data_dir).await,
        }
    }

    /// Opens (creating if needed) `skill.db` in `data_dir` and brings its schema up to date.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Store> {
        let pool = Dialect::open_sqlite(data_dir).await?;
        Ok(Store::with_pool(pool, Dialect::Sqlite))
    }

    /// Connects to PostgreSQL and brings the schema up to date.
    pub async fn connect_postgres(url: &str) -> anyhow::Result<Store> {
        let pool = Dialect::connect_postgres(url).await?;
        Ok(Store::with_pool(pool, Dialect::Postgres))
    }

    fn with_pool(pool: AnyPool, dialect: Dialect) -> Store {
        Store {
            pool,
            dialect,
            signals: Arc::default(),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Notified after every commit that adds a delivery to `lane`.
    pub fn work_signal(&self, lane: Lane) -> &Notify {
        self.signals.of(lane)
    }

    fn wake(&self, deliveries: &[NewDelivery]) {
        for lane in Lane::ALL {
            if deliveries
                .iter()
                .any(|delivery| delivery.payload.lane() == lane)
            {
                self.signals.of(lane).notify_one();
            }
        }
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query(sql::PING).execute(&self.pool).await?;
        Ok(())
    }

    /// Closes sessions left `opening` by a previous run (their live-chat start never finished);
    /// returns how many. With a shared database only those older than [`ABANDONED_OPENING_SECS`],
    /// since another instance may be opening one right now.
    pub async fn recover_interrupted_sessions(&self) -> anyhow::Result<u64> {
        let cutoff = if self.dialect.shares_the_database() {
            abandoned_opening_cutoff()
        } else {
            now_text()
        };
        let result = sqlx::query(sql::CLOSE_ABANDONED_OPENINGS)
            .bind(now_text())
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    /// Creates an `opening` session for the conversation, unless it (or its origin conversation)
    /// already has a live one.
    pub async fn begin_session(
        &self,
        conversation: &CopilotConversationId,
        origin: Option<&CopilotConversationId>,
        address: &ConversationAddress,
    ) -> anyhow::Result<BeginSession> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(sql::CLOSE_ABANDONED_OPENING_OF)
            .bind(now_text())
            .bind(conversation.as_str())
            .bind(abandoned_opening_cutoff())
            .execute(&mut *transaction)
            .await?;
        let existing: Option<SessionRow> =
            sqlx::query_as(sql::LIVE_SESSION_OF_CONVERSATION_OR_ORIGIN)
                .bind(conversation.as_str())
                .bind(origin.map(CopilotConversationId::as_str))
                .fetch_optional(&mut *transaction)
                .await?;
        if let Some(row) = existing {
            return Ok(BeginSession::Existing(row.try_into()?));
        }
        let session = Session {
            id: SessionId::parse(Uuid::new_v4().to_string())?,
            copilot_conversation_id: conversation.clone(),
            state: SessionState::Opening,
            address: address.clone(),
            origin_conversation_id: origin.cloned(),
            problem_forwarded: false,
        };
        let inserted = sqlx::query(sql::INSERT_OPENING_SESSION)
            .bind(session.id.as_str())
            .bind(conversation.as_str())
            .bind(origin.map(CopilotConversationId::as_str))
            .bind(address.as_recorded())
            .bind(now_text())
            .execute(&mut *transaction)
            .await
            .context("cannot create a session")?;
        transaction.commit().await?;
        if inserted.rows_affected() == 1 {
            return Ok(BeginSession::Created(session));
        }
        // Another instance inserted first: the unique index decided.
        match self.live_session(conversation).await? {
            Some(existing) => Ok(BeginSession::Existing(existing)),
            None => {
                anyhow::bail!("a concurrent start closed the conversation's session; try again")
            }
        }
    }

    /// Marks an `opening` session open with its live-chat id.
    pub async fn complete_session_open(
        &self,
        session: &SessionId,
        livechat: &LiveChatConversationId,
    ) -> anyhow::Result<()> {
        sqlx::query(sql::OPEN_SESSION)
            .bind(livechat.as_str())
            .bind(now_text())
            .bind(session.as_str())
            .execute(&self.pool)
            .await
            .context("cannot record the live-chat id")?;
        Ok(())
    }

    /// Closes an `opening` session whose live-chat start failed.
    pub async fn fail_session_open(&self, session: &SessionId) -> anyhow::Result<()> {
        sqlx::query(sql::FAIL_OPENING)
            .bind(now_text())
            .bind(session.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn one_session(&self, statement: &str, key: &str) -> anyhow::Result<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(statement)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Session::try_from).transpose()
    }

    /// The conversation's session in state `opening` or `open`.
    pub async fn live_session(
        &self,
        conversation: &CopilotConversationId,
    ) -> anyhow::Result<Option<Session>> {
        self.one_session(sql::LIVE_SESSION, conversation.as_str())
            .await
    }

    /// The live session (opening or open) whose activities relate to `origin`.
    pub async fn live_session_by_origin(
        &self,
        origin: &CopilotConversationId,
    ) -> anyhow::Result<Option<Session>> {
        self.one_session(sql::LIVE_SESSION_BY_ORIGIN, origin.as_str())
            .await
    }

    /// The conversation's most recent session in any state.
    pub async fn latest_session(
        &self,
        conversation: &CopilotConversationId,
    ) -> anyhow::Result<Option<Session>> {
        self.one_session(self.dialect.latest_session(), conversation.as_str())
            .await
    }

    /// The session with this live-chat id, in any state.
    pub async fn session_by_livechat_id(
        &self,
        livechat: &LiveChatConversationId,
    ) -> anyhow::Result<Option<Session>> {
        self.one_session(sql::SESSION_BY_LIVECHAT_ID, livechat.as_str())
            .await
    }

    /// Stores a user's message(s) for the live chat, and that the problem description was
    /// forwarded if it is among them, in one transaction.
    pub async fn record_user_messages(
        &self,
        session: &SessionId,
        messages: UserMessages,
    ) -> anyhow::Result<()> {
        let mut transaction = self.pool.begin().await?;
        for delivery in &messages.deliveries {
            insert_delivery(&mut transaction, delivery).await?;
        }
        if messages.includes_problem_description {
            sqlx::query(sql::MARK_PROBLEM_FORWARDED)
                .bind(session.as_str())
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        self.wake(&messages.deliveries);
        Ok(())
    }

    /// Closes an open session and stores the deliveries that announce it, in one transaction.
    /// Returns false (and stores nothing) when the session was not open.
    pub async fn close_session(
        &self,
        session: &SessionId,
        closed_by: ClosedBy,
        deliveries: Vec<NewDelivery>,
    ) -> anyhow::Result<bool> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query(sql::CLOSE_OPEN_SESSION)
            .bind(closed_by.as_str())
            .bind(now_text())
            .bind(session.as_str())
            .execute(&mut *transaction)
            .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        for delivery in &deliveries {
            insert_delivery(&mut transaction, delivery).await?;
        }
        transaction.commit().await?;
        self.wake(&deliveries);
        Ok(true)
    }

    /// Stores an agent's message if its session is still open and its id is new.
    pub async fn enqueue_for_open_session(
        &self,
        session: &SessionId,
        delivery: NewDelivery,
    ) -> anyhow::Result<Enqueued> {
        let mut transaction = self.pool.begin().await?;
        // A repeat of a message accepted earlier is answered as accepted, even if the session has
        // closed since: the sender must not think it was lost.
        if let Some(dedupe_key) = &delivery.dedupe_key {
            let seen = sqlx::query(sql::DELIVERY_SEEN)
                .bind(delivery.payload.lane().as_str())
                .bind(dedupe_key.as_str())
                .fetch_optional(&mut *transaction)
                .await?;
            if seen.is_some() {
                return Ok(Enqueued::Duplicate);
            }
        }
        let open = sqlx::query(self.dialect.session_is_open())
            .bind(session.as_str())
            .fetch_optional(&mut *transaction)
            .await?;
        if open.is_none() {
            return Ok(Enqueued::SessionClosed);
        }
        let inserted = insert_delivery(&mut transaction, &delivery).await?;
        transaction.commit().await?;
        if !inserted {
            return Ok(Enqueued::Duplicate);
        }
        self.wake(std::slice::from_ref(&delivery));
        Ok(Enqueued::Accepted)
    }

    /// Stores a delivery unconditionally (returns false for a duplicate dedupe key).
    pub async fn enqueue(&self, delivery: NewDelivery) -> anyhow::Result<bool> {
        let mut transaction = self.pool.begin().await?;
        let inserted = insert_delivery(&mut transaction, &delivery).await?;
        transaction.commit().await?;
        if inserted {
            self.wake(std::slice::from_ref(&delivery));
        }
        Ok(inserted)
    }

    /// The oldest pending delivery of each queue in `lane` that is due at `now_ms`, skipping the
    /// queues in `busy_queues`; with PostgreSQL they are claimed for [`CLAIM_LEASE_MS`].
    pub async fn due_deliveries(
        &self,
        lane: Lane,
        now_ms: i64,
        limit: u32,
        busy_queues: &[String],
    ) -> anyhow::Result<Vec<Delivery>> {
        let query = sqlx::query_as::<_, DeliveryRow>(self.dialect.due_deliveries())
            .bind(lane.as_str())
            .bind(now_ms)
            .bind(serde_json::to_string(busy_queues)?)
            .bind(i64::from(limit));
        let query = match self.dialect {
            Dialect::Sqlite => query,
            Dialect::Postgres => query.bind(CLAIM_LEASE_MS),
        };
        let rows = query.fetch_all(&self.pool).await?;
        let mut deliveries = rows
            .into_iter()
            .map(Delivery::try_from)
            .collect::<anyhow::Result<Vec<_>>>()?;
        deliveries.sort_by_key(|delivery| delivery.id);
        Ok(deliveries)
    }

    /// When the next pending delivery in `lane` falls due, if any.
    pub async fn next_due_at(&self, lane: Lane) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query(sql::NEXT_DUE_AT)
            .bind(lane.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("due")?)
    }

    pub async fn mark_delivered(&self, delivery: DeliveryId) -> anyhow::Result<()> {
        sqlx::query(sql::MARK_DELIVERED)
            .bind(now_text())
            .bind(delivery.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn schedule_retry(
        &self,
        delivery: DeliveryId,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(sql::SCHEDULE_RETRY)
            .bind(next_attempt_at_ms)
            .bind(error)
            .bind(delivery.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_failed(&self, delivery: DeliveryId, error: &str) -> anyhow::Result<()> {
        sqlx::query(sql::MARK_FAILED)
            .bind(now_text())
            .bind(error)
            .bind(delivery.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes closed sessions and finished deliveries (delivered or failed) that ended before
    /// `before` (an RFC 3339 UTC time).
    pub async fn purge_finished(&self, before: &str) -> anyhow::Result<Purged> {
        let deliveries = sqlx::query(sql::PURGE_DELIVERIES)
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let sessions = sqlx::query(sql::PURGE_SESSIONS)
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(Purged {
            sessions,
            deliveries,
        })
    }

    pub async fn count_open_sessions(&self) -> anyhow::Result<i64> {
        let row = sqlx::query(sql::COUNT_OPEN_SESSIONS)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("open")?)
    }

    pub async fn delivery_counts(&self, lane: Lane) -> anyhow::Result<DeliveryCounts> {
        let rows = sqlx::query(sql::COUNT_DELIVERIES_BY_STATE)
            .bind(lane.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut counts = DeliveryCounts::default();
        for row in rows {
            let state: String = row.try_get("state")?;
            let n: i64 = row.try_get("n")?;
            match state.as_str() {
                "pending" => counts.pending = n,
                "delivered" => counts.delivered = n,
                "failed" => counts.failed = n,
                _ => {}
            }
        }
        Ok(counts)
    }
}

/// Sessions still `opening` after this were abandoned by a process that stopped mid-start.
fn abandoned_opening_cutoff() -> String {
    (Utc::now() - chrono::Duration::seconds(ABANDONED_OPENING_SECS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Inserts a delivery; false when its dedupe key was taken.
async fn insert_delivery(
    transaction: &mut Transaction,
    delivery: &NewDelivery,
) -> anyhow::Result<bool> {
    let result = sqlx::query(sql::INSERT_DELIVERY)
        .bind(delivery.payload.lane().as_str())
        .bind(delivery.payload.queue_key())
        .bind(delivery.dedupe_key.as_deref())
        .bind(encode_payload(&delivery.payload)?)
        .bind(Utc::now().timestamp_millis())
        .bind(now_text())
        .execute(&mut **transaction)
        .await
        .context("cannot store a delivery")?;
    Ok(result.rows_affected() == 1)
}
