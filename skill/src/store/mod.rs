//! Durable state: handover sessions and the two outboxes, in SQLite (one instance) or PostgreSQL
//! (several instances sharing the state).
//!
//! One body for both databases: the statements are in [`sql`] (the few that differ in
//! [`dialect`]), the rows and payload records in [`records`], and [`Store`] runs them through
//! sqlx's `Any` driver. The SQL enforces the invariants itself (one live session per conversation,
//! one delivery per sender id), so they hold across instances too.
//!
//! Writes go through one [`writer`] task that commits what arrives together in one transaction
//! (group commit) before it answers. Reads that run on every message are answered from the
//! [`index`] of live sessions, which the writer keeps exact, when this process is the only writer
//! (SQLite); with a shared database they read the database.
//!
//! The store feeds its own workers: with SQLite the writer hands each lane's worker the deliveries
//! it has just committed ([`Store::intake`]); with PostgreSQL it wakes the worker, which claims due
//! deliveries from the shared table. No caller has to remember to.

pub mod connection;
pub mod dialect;
pub mod index;
pub mod records;
pub mod sql;
pub mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chrono::Utc;
use sqlx::AnyPool;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot, Notify};

pub use dialect::{Dialect, CLAIM_LEASE_MS};
pub use writer::{Arrival, Outcome, SessionUpdate, TimerThen};

use crate::domain::{
    ConversationAddress, CopilotConversationId, DeliveryId, Lane, LiveChatConversationId, Outbound,
    SessionId, Timer, TimerKind,
};
use connection::ValueRow;
use index::SessionIndex;
use records::{DeliveryRow, SessionRow};
use writer::{Begin, Gate, Job, Reply, StoreRows, Stored, Writer};

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
    /// Nobody took the chat before the queue timer fell due.
    QueueTimeout,
    /// The customer wrote nothing until the inactivity timer fell due.
    Inactivity,
}

impl ClosedBy {
    /// The `closed_by` column: both timers store `timeout`, and the session's `timer_kind` says
    /// which one it was.
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::User => "user",
            ClosedBy::Agent => "agent",
            ClosedBy::Error => "error",
            ClosedBy::QueueTimeout | ClosedBy::Inactivity => "timeout",
        }
    }

    fn parse(text: &str, timer: Option<TimerKind>) -> Option<Self> {
        match text {
            "timeout" if timer == Some(TimerKind::Queue) => Some(ClosedBy::QueueTimeout),
            "timeout" => Some(ClosedBy::Inactivity),
            _ => [ClosedBy::User, ClosedBy::Agent, ClosedBy::Error]
                .into_iter()
                .find(|closed_by| closed_by.as_str() == text),
        }
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
    /// The last agent who joined (or closed) the chat, as the live chat named them.
    pub agent_name: Option<String>,
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
    /// The customer wrote: the inactivity timer starts again (when it runs), unless it was
    /// started again less than the resolution (ms) before.
    pub inactivity_timer: Option<(Timer, i64)>,
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
    /// When it may be sent (Unix milliseconds).
    pub due_at_ms: i64,
    /// When it was stored (Unix milliseconds): retrying lasts a set time from here.
    pub created_at_ms: i64,
}

/// How a lane's worker learns of its deliveries.
pub enum Intake {
    /// SQLite: the writer hands over what it commits; what did not fit in the worker's memory is
    /// read back with [`Store::load_pending`].
    Pushed(mpsc::UnboundedReceiver<Arrival>),
    /// PostgreSQL: the worker claims due queue heads ([`Store::due_deliveries`]); the signal says
    /// that this instance stored something.
    Claimed(Arc<Notify>),
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
pub(crate) struct Signals {
    teams: Arc<Notify>,
    livechat: Arc<Notify>,
}

impl Signals {
    fn of(&self, lane: Lane) -> &Arc<Notify> {
        match lane {
            Lane::Teams => &self.teams,
            Lane::LiveChat => &self.livechat,
        }
    }
}

/// Fixed-width UTC timestamps, so that text comparison is time comparison.
pub(crate) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The skill's durable state: a cloneable handle over the writer and the database pools.
#[derive(Clone)]
pub struct Store {
    reader: AnyPool,
    dialect: Dialect,
    writer: mpsc::UnboundedSender<Job>,
    index: Option<Arc<SessionIndex>>,
    signals: Arc<Signals>,
    /// The worker of each lane subscribes once.
    subscribed: Arc<Mutex<Vec<Lane>>>,
}

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
        Store::start(Dialect::open_sqlite(data_dir).await?).await
    }

    /// Connects to PostgreSQL and brings the schema up to date.
    pub async fn connect_postgres(url: &str) -> anyhow::Result<Store> {
        Store::start(Dialect::connect_postgres(url).await?).await
    }

    async fn start(databases: dialect::Databases) -> anyhow::Result<Store> {
        let dialect = databases.dialect;
        // Only a process that is the database's one writer can keep the index exact.
        let index = if dialect.shares_the_database() {
            None
        } else {
            let rows = sqlx::query(sql::LIVE_SESSIONS)
                .fetch_all(&databases.reader)
                .await
                .context("cannot read the live sessions")?;
            let sessions = rows
                .iter()
                .map(session_of)
                .collect::<anyhow::Result<Vec<_>>>()?;
            Some(Arc::new(SessionIndex::of(sessions)))
        };
        let signals = Arc::new(Signals::default());
        // The writer holds the checkpoints: the checkpointer runs as long as the writer does.
        let checkpoints = match &databases.writer {
            dialect::WriterTarget::Sqlite(path) => {
                let checkpoints = Arc::new(dialect::Checkpoints::default());
                dialect::start_checkpointer(path.clone(), Arc::downgrade(&checkpoints))?;
                Some(checkpoints)
            }
            dialect::WriterTarget::Postgres(_) => None,
        };
        let (jobs, receiver) = mpsc::unbounded_channel();
        Writer {
            target: databases.writer,
            dialect,
            jobs: receiver,
            index: index.clone(),
            signals: signals.clone(),
            teams: None,
            livechat: None,
            connection: None,
            checkpoints,
        }
        .spawn()?;
        Ok(Store {
            reader: databases.reader,
            dialect,
            writer: jobs,
            index,
            signals,
            subscribed: Arc::default(),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// How `lane`'s worker learns of its deliveries; each lane has one worker.
    pub fn intake(&self, lane: Lane) -> anyhow::Result<Intake> {
        let mut subscribed = self
            .subscribed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if subscribed.contains(&lane) {
            anyhow::bail!("the {} lane already has a worker", lane.as_str());
        }
        subscribed.push(lane);
        if self.dialect.shares_the_database() {
            return Ok(Intake::Claimed(self.signals.of(lane).clone()));
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        self.send(Job::Subscribe(lane, sender))?;
        Ok(Intake::Pushed(receiver))
    }

    /// Asks for `lane`'s pending deliveries after `after`, at most `limit`: they arrive at the
    /// lane's [`Intake::Pushed`] in order with the commits before and after the read.
    pub fn load_pending(&self, lane: Lane, after: DeliveryId, limit: u32) -> anyhow::Result<()> {
        self.send(Job::Load { lane, after, limit })
    }

    fn send(&self, job: Job) -> anyhow::Result<()> {
        self.writer
            .send(job)
            .map_err(|_| anyhow::anyhow!("the store's writer has stopped"))
    }

    /// Sends a job and waits for its answer (after its commit).
    async fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> anyhow::Result<T> {
        let (reply, answer) = oneshot::channel();
        self.send(job(reply))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the store's writer has stopped"))?
    }

    /// Waits until every write sent before this is committed (for an orderly stop).
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.ask(Job::Flush).await
    }

    /// Notified after every commit that adds a delivery to `lane`.
    pub fn work_signal(&self, lane: Lane) -> &Notify {
        self.signals.of(lane)
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query(sql::PING).execute(&self.reader).await?;
        Ok(())
    }

    /// Closes sessions left `opening` by a previous run (their live-chat start never finished),
    /// each with a [`crate::domain::ToAgent::Abandon`] that ends in the live chat whatever that
    /// start may have opened; returns how many. With a shared database only those older than
    /// [`ABANDONED_OPENING_SECS`], since another instance may be opening one right now.
    pub async fn recover_interrupted_sessions(&self) -> anyhow::Result<u64> {
        self.ask(Job::RecoverOpenings).await
    }

    /// Creates an `opening` session for the conversation, unless it (or its origin conversation)
    /// already has a live one.
    pub async fn begin_session(
        &self,
        conversation: &CopilotConversationId,
        origin: Option<&CopilotConversationId>,
        address: &ConversationAddress,
    ) -> anyhow::Result<BeginSession> {
        let begin = Begin {
            conversation: conversation.clone(),
            origin: origin.cloned(),
            address: address.clone(),
        };
        self.ask(|reply| Job::Begin(begin, reply)).await
    }

    /// Marks an `opening` session open with its live-chat id; false when it was no longer opening
    /// (ended meanwhile, or given up as abandoned).
    /// `timer` is the session's first (the queue's, or the inactivity one); `agent` who has it,
    /// when the live chat said.
    pub async fn complete_session_open(
        &self,
        session: &SessionId,
        livechat: &LiveChatConversationId,
        timer: Option<Timer>,
        agent: Option<String>,
    ) -> anyhow::Result<bool> {
        let (session, livechat) = (session.clone(), livechat.clone());
        self.ask(|reply| Job::Open {
            session,
            livechat,
            timer,
            agent,
            reply,
        })
        .await
    }

    /// Closes an `opening` session whose live-chat start failed. `abandon` when the live chat
    /// may have opened a conversation all the same (the call timed out or the connection broke):
    /// then a [`crate::domain::ToAgent::Abandon`] is stored with the close, to end it there.
    pub async fn fail_session_open(
        &self,
        session: &SessionId,
        abandon: bool,
    ) -> anyhow::Result<()> {
        let session = session.clone();
        self.ask(|reply| Job::FailOpening {
            session,
            abandon,
            reply,
        })
        .await
    }

    async fn one_session(&self, statement: &str, key: &str) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(statement)
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(session_of).transpose()
    }

    /// The conversation's session in state `opening` or `open`.
    pub async fn live_session(
        &self,
        conversation: &CopilotConversationId,
    ) -> anyhow::Result<Option<Session>> {
        if let Some(index) = &self.index {
            return Ok(index.by_conversation(conversation));
        }
        self.one_session(sql::LIVE_SESSION, conversation.as_str())
            .await
    }

    /// The live session (opening or open) whose activities relate to `origin`.
    pub async fn live_session_by_origin(
        &self,
        origin: &CopilotConversationId,
    ) -> anyhow::Result<Option<Session>> {
        if let Some(index) = &self.index {
            return Ok(index.by_origin(origin));
        }
        self.one_session(sql::LIVE_SESSION_BY_ORIGIN, origin.as_str())
            .await
    }

    /// The most recent session, in any state, of the conversation or relating to it.
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
        // Live sessions are in the index; a closed one (a webhook after the end) is read.
        if let Some(session) = self
            .index
            .as_ref()
            .and_then(|index| index.by_livechat(livechat))
        {
            return Ok(Some(session));
        }
        self.one_session(sql::SESSION_BY_LIVECHAT_ID, livechat.as_str())
            .await
    }

    async fn store_rows(&self, rows: StoreRows) -> anyhow::Result<Stored> {
        self.ask(|reply| Job::Store(rows, reply)).await
    }

    /// Stores a user's message(s) for the live chat, and that the problem description was
    /// forwarded if it is among them, in one transaction.
    pub async fn record_user_messages(
        &self,
        session: &SessionId,
        messages: UserMessages,
    ) -> anyhow::Result<()> {
        let mut updates = Vec::new();
        if messages.includes_problem_description {
            updates.push(SessionUpdate::ProblemForwarded(session.clone()));
        }
        if let Some((timer, resolution_ms)) = messages.inactivity_timer {
            updates.push(SessionUpdate::CustomerWrote {
                session: session.clone(),
                timer,
                resolution_ms,
            });
        }
        self.store_rows(StoreRows {
            gate: Gate::Always,
            rows: messages.deliveries,
            updates,
        })
        .await
        .map(drop)
    }

    /// Closes an open session and stores the deliveries that announce it, in one transaction.
    /// Returns false (and stores nothing) when the session was not open.
    pub async fn close_session(
        &self,
        session: &SessionId,
        closed_by: ClosedBy,
        deliveries: Vec<NewDelivery>,
    ) -> anyhow::Result<bool> {
        self.close_session_with(session, closed_by, deliveries, Vec::new())
            .await
    }

    /// [`Self::close_session`], with changes to the session made in the same transaction if it
    /// closes (the agent who closed it).
    pub async fn close_session_with(
        &self,
        session: &SessionId,
        closed_by: ClosedBy,
        deliveries: Vec<NewDelivery>,
        updates: Vec<SessionUpdate>,
    ) -> anyhow::Result<bool> {
        let stored = self
            .store_rows(StoreRows {
                gate: Gate::Closes {
                    session: session.clone(),
                    by: closed_by,
                },
                rows: deliveries,
                updates,
            })
            .await?;
        Ok(matches!(stored, Stored::Rows(_)))
    }

    /// Acts on a timer that fell due: moves it on or closes the session as `then` says, and stores
    /// `deliveries`, only if the session still has exactly `fired` (no customer message, agent or
    /// other instance changed it since it was read). True when this call did it.
    pub async fn fire_timer(
        &self,
        session: &SessionId,
        fired: Timer,
        then: TimerThen,
        deliveries: Vec<NewDelivery>,
    ) -> anyhow::Result<bool> {
        let stored = self
            .store_rows(StoreRows {
                gate: Gate::Timer {
                    session: session.clone(),
                    fired,
                    then,
                },
                rows: deliveries,
                updates: Vec::new(),
            })
            .await?;
        Ok(matches!(stored, Stored::Rows(_)))
    }

    /// Open sessions whose timer is due at `now_ms`, soonest first, at most `limit`.
    pub async fn due_timers(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<(Session, Timer)>> {
        let rows = sqlx::query(sql::DUE_TIMERS)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            let session = session_of(row)?;
            let kind: Option<String> = row.try_get("timer_kind")?;
            let due_ms: i64 = row.try_get("timer_at_ms")?;
            match kind.as_deref().and_then(TimerKind::parse) {
                Some(kind) => due.push((session, Timer { kind, due_ms })),
                None => {
                    tracing::warn!(session_id = %session.id, "a session's timer has an unknown kind; ignored")
                }
            }
        }
        Ok(due)
    }

    /// Stores an agent's message if its session is still open and its id is new. A repeat of a
    /// message accepted earlier is a duplicate even if the session has closed since: the sender
    /// must not think it was lost.
    pub async fn enqueue_for_open_session(
        &self,
        session: &SessionId,
        delivery: NewDelivery,
    ) -> anyhow::Result<Enqueued> {
        self.enqueue_for_open_session_with(session, delivery, Vec::new())
            .await
    }

    /// [`Self::enqueue_for_open_session`], with changes to the session made in the same
    /// transaction when the delivery is stored (an agent joined).
    pub async fn enqueue_for_open_session_with(
        &self,
        session: &SessionId,
        delivery: NewDelivery,
        updates: Vec<SessionUpdate>,
    ) -> anyhow::Result<Enqueued> {
        let stored = self
            .store_rows(StoreRows {
                gate: Gate::SessionOpen(session.clone()),
                rows: vec![delivery],
                updates,
            })
            .await?;
        Ok(match stored {
            Stored::Rows(ids) if ids.first().is_some_and(Option::is_some) => Enqueued::Accepted,
            Stored::Rows(_) | Stored::Refused { seen: true } => Enqueued::Duplicate,
            Stored::Refused { seen: false } => Enqueued::SessionClosed,
        })
    }

    /// Stores deliveries unconditionally, in one transaction (those whose dedupe key was taken
    /// are left out).
    pub async fn enqueue_all(&self, deliveries: Vec<NewDelivery>) -> anyhow::Result<()> {
        self.store_rows(StoreRows {
            gate: Gate::Always,
            rows: deliveries,
            updates: Vec::new(),
        })
        .await
        .map(drop)
    }

    /// Stores a delivery unconditionally (returns false for a duplicate dedupe key).
    pub async fn enqueue(&self, delivery: NewDelivery) -> anyhow::Result<bool> {
        let stored = self
            .store_rows(StoreRows {
                gate: Gate::Always,
                rows: vec![delivery],
                updates: Vec::new(),
            })
            .await?;
        Ok(matches!(stored, Stored::Rows(ids) if ids.first().is_some_and(Option::is_some)))
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
        let query = sqlx::query(self.dialect.due_deliveries())
            .bind(lane.as_str())
            .bind(now_ms)
            .bind(serde_json::to_string(busy_queues)?)
            .bind(i64::from(limit));
        let query = match self.dialect {
            Dialect::Sqlite => query,
            Dialect::Postgres => query.bind(CLAIM_LEASE_MS),
        };
        let rows = query.fetch_all(&self.reader).await?;
        let mut deliveries = rows
            .iter()
            .map(|row| Delivery::try_from(DeliveryRow::try_from(ValueRow::of_any(row)?)?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        deliveries.sort_by_key(|delivery| delivery.id);
        Ok(deliveries)
    }

    /// When the next pending delivery in `lane` falls due, if any.
    pub async fn next_due_at(&self, lane: Lane) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query(sql::NEXT_DUE_AT)
            .bind(lane.as_str())
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("due")?)
    }

    /// Records a delivery's outcome without waiting for the commit (the workers' way: a lost
    /// record only means the delivery is made again after a crash).
    pub fn record_outcome(&self, delivery: DeliveryId, outcome: Outcome) {
        let job = Job::Outcome {
            delivery,
            outcome,
            reply: None,
        };
        if self.send(job).is_err() {
            tracing::warn!(
                delivery_id = delivery.0,
                "the store has stopped; the delivery's outcome is not recorded"
            );
        }
    }

    /// Records a delivery's outcome and waits for the commit.
    pub async fn save_outcome(&self, delivery: DeliveryId, outcome: Outcome) -> anyhow::Result<()> {
        self.ask(|reply| Job::Outcome {
            delivery,
            outcome,
            reply: Some(reply),
        })
        .await
    }

    pub async fn mark_delivered(&self, delivery: DeliveryId) -> anyhow::Result<()> {
        self.save_outcome(delivery, Outcome::Delivered).await
    }

    pub async fn schedule_retry(
        &self,
        delivery: DeliveryId,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> anyhow::Result<()> {
        let outcome = Outcome::Retry {
            at_ms: next_attempt_at_ms,
            error: error.to_owned(),
        };
        self.save_outcome(delivery, outcome).await
    }

    pub async fn mark_failed(&self, delivery: DeliveryId, error: &str) -> anyhow::Result<()> {
        let outcome = Outcome::Failed {
            error: error.to_owned(),
        };
        self.save_outcome(delivery, outcome).await
    }

    /// Deletes closed sessions and finished deliveries (delivered or failed) that ended before
    /// `before` (an RFC 3339 UTC time).
    pub async fn purge_finished(&self, before: &str) -> anyhow::Result<Purged> {
        let before = before.to_owned();
        self.ask(|reply| Job::Purge { before, reply }).await
    }

    pub async fn count_open_sessions(&self) -> anyhow::Result<i64> {
        if let Some(index) = &self.index {
            return Ok(index.open_count() as i64);
        }
        let row = sqlx::query(sql::COUNT_OPEN_SESSIONS)
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get("open")?)
    }

    pub async fn delivery_counts(&self, lane: Lane) -> anyhow::Result<DeliveryCounts> {
        let rows = sqlx::query(sql::COUNT_DELIVERIES_BY_STATE)
            .bind(lane.as_str())
            .fetch_all(&self.reader)
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

/// A reader's row, as a session.
fn session_of(row: &sqlx::any::AnyRow) -> anyhow::Result<Session> {
    Session::try_from(SessionRow::try_from(ValueRow::of_any(row)?)?)
}

/// Sessions still `opening` after this were abandoned by a process that stopped mid-start.
pub(crate) fn abandoned_opening_cutoff() -> String {
    (Utc::now() - chrono::Duration::seconds(ABANDONED_OPENING_SECS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
