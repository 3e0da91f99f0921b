//! [`Store`]: the cloneable handle the rest of the skill holds. Writes go to the writer as one of
//! the `jobs/` and are answered after their commit; reads run on the readers' pool, or on the
//! in-memory session index where this process is the database's only writer.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sqlx::AnyPool;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use super::batch::{Queued, Reply, Write};
use super::cache::SessionCache;
use super::connection::ValueRow;
use super::dialect::{self, Databases, Dialect, CLAIM_LEASE_MS};
use super::index::SessionIndex;
use super::jobs;
use super::model::{
    BeginSession, Claims, DeliveriesNotice, Delivery, DeliveryCounts, DeliveryOutcome, Enqueued,
    ErasedSessions, Heartbeat, Intake, NewDelivery, NewFileLink, PendingTurn, Purged,
    SessionUpdate, Signals, TimerThen, UserMessages,
};
use super::records::{token_hash, DeliveryRow, FileLinkRow, SessionRow};
use super::sql;
use super::writer::{ClaimAtInsert, Control, Message, Writer};
use crate::domain::{
    ClosedBy, ConversationAddress, CopilotConversationId, DeliveryId, FileLink, FileLinkToken,
    Lane, LiveChatConversationId, Session, SessionId, Timer, TimerKind,
};

/// The skill's durable state: a cloneable handle over the writer and the database pools.
#[derive(Clone)]
pub struct Store {
    reader: AnyPool,
    dialect: Dialect,
    writer: mpsc::UnboundedSender<Message>,
    index: Option<Arc<SessionIndex>>,
    /// The open sessions read from a shared database (PostgreSQL), kept while nobody changes them.
    cache: Option<Arc<SessionCache>>,
    signals: Arc<Signals>,
    /// The worker of each lane subscribes once.
    subscribed: Arc<Mutex<Vec<Lane>>>,
    /// How far the database's clock is ahead of this machine's, in milliseconds (PostgreSQL; 0 for
    /// SQLite, whose clock is this machine's): instances keep their claims, leases and retries by
    /// the one clock they share, so a machine whose clock is a minute behind claims nothing early.
    clock_offset_ms: Arc<AtomicI64>,
    /// How long a claim reserves a delivery for this instance (PostgreSQL; the writer's claims at
    /// insert read it too).
    claim_lease_ms: Arc<AtomicI64>,
    /// This process among the instances sharing the database: its claims carry it, and its
    /// heartbeat keeps them.
    instance: Arc<str>,
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

    async fn start(databases: Databases) -> anyhow::Result<Store> {
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
        let cache = dialect
            .shares_the_database()
            .then(|| Arc::new(SessionCache::default()));
        let instance: Arc<str> = Arc::from(uuid::Uuid::new_v4().to_string());
        if let (dialect::WriterTarget::Postgres(url), Some(cache)) = (&databases.writer, &cache) {
            listen_to_other_instances(
                url.clone(),
                Arc::downgrade(&signals),
                signals.ended(),
                cache.clone(),
                instance.clone(),
            );
        }
        let (writer, queue) = mpsc::unbounded_channel();
        let clock_offset_ms: Arc<AtomicI64> = Arc::default();
        let claim_lease_ms = Arc::new(AtomicI64::new(CLAIM_LEASE_MS));
        Writer {
            target: databases.writer,
            dialect,
            queue,
            index: index.clone(),
            cache: cache.clone(),
            signals: signals.clone(),
            teams: None,
            livechat: None,
            connection: None,
            checkpoints,
            notified: [None; 2],
            clock_offset_ms: clock_offset_ms.clone(),
            claims: dialect.shares_the_database().then(|| ClaimAtInsert {
                instance: instance.clone(),
                lease_ms: claim_lease_ms.clone(),
            }),
        }
        .spawn()?;
        Ok(Store {
            reader: databases.reader,
            dialect,
            writer,
            index,
            cache,
            signals,
            subscribed: Arc::default(),
            clock_offset_ms,
            claim_lease_ms,
            instance,
        })
    }

    /// Whether open sessions read from a shared database are kept in memory now (PostgreSQL, while
    /// this instance hears the others' changes; always false with SQLite, whose index is exact).
    pub fn caches_sessions(&self) -> bool {
        self.cache.as_ref().is_some_and(|cache| cache.listening())
    }

    /// The store, claiming for `lease_ms` instead of [`CLAIM_LEASE_MS`] (PostgreSQL).
    pub fn with_claim_lease(self, lease_ms: i64) -> Self {
        self.claim_lease_ms.store(lease_ms, Ordering::Relaxed);
        self
    }

    /// Now, in Unix milliseconds, by the clock the store's times are kept by: the database's
    /// (PostgreSQL, as last measured by [`Self::sync_clock`]) or this machine's (SQLite).
    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Measures how far the database's clock is from this machine's (PostgreSQL only), halving the
    /// round trip; returns the offset in milliseconds. Logs loudly when it is large.
    pub async fn sync_clock(&self) -> anyhow::Result<i64> {
        if !self.dialect.shares_the_database() {
            return Ok(0);
        }
        let before = chrono::Utc::now().timestamp_millis();
        let database: i64 = sqlx::query_scalar(sql::DATABASE_NOW_MS)
            .fetch_one(&self.reader)
            .await
            .context("cannot read the database's clock")?;
        let after = chrono::Utc::now().timestamp_millis();
        let offset = database - (before + after) / 2;
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
        if offset.abs() > 5_000 {
            tracing::warn!(offset_ms = offset, "this machine's clock differs from the database's by more than 5 s; the skill keeps its times by the database's, but synchronise the clocks (NTP)");
        }
        Ok(offset)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn send(&self, message: Message) -> anyhow::Result<()> {
        self.writer
            .send(message)
            .map_err(|_| anyhow::anyhow!("the store's writer has stopped"))
    }

    /// Has the writer run `write` in its next transaction and answers after the commit.
    async fn write<W: Write>(&self, write: W) -> anyhow::Result<W::Answer> {
        let (reply, answer): (Reply<W::Answer>, _) = oneshot::channel();
        self.send(Message::Write(Queued::boxed(write, Some(reply))))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the store's writer has stopped"))?
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
        let (sender, receiver) = mpsc::unbounded_channel();
        self.send(Message::Control(Control::Subscribe(lane, sender)))?;
        if self.dialect.shares_the_database() {
            return Ok(Intake::Claimed(Claims {
                signal: self.signals.of(lane).clone(),
                claimed: receiver,
                room: self.signals.room(lane).clone(),
            }));
        }
        Ok(Intake::Pushed(receiver))
    }

    /// Asks for `lane`'s pending deliveries after `after`, at most `limit`: they arrive at the
    /// lane's [`Intake::Pushed`] in order with the commits before and after the read.
    pub fn load_pending(&self, lane: Lane, after: DeliveryId, limit: u32) -> anyhow::Result<()> {
        self.send(Message::Control(Control::Load { lane, after, limit }))
    }

    /// Waits until every write sent before this is committed (for an orderly stop).
    pub async fn flush(&self) -> anyhow::Result<()> {
        let (reply, flushed) = oneshot::channel();
        self.send(Message::Control(Control::Flush(reply)))?;
        flushed
            .await
            .map_err(|_| anyhow::anyhow!("the store's writer has stopped"))
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query(sql::PING).execute(&self.reader).await?;
        Ok(())
    }

    /// Closes sessions left `opening` by a previous run (their live-chat start never finished),
    /// each with a [`crate::domain::ToAgent::Abandon`] that ends in the live chat whatever that
    /// start may have opened; returns how many. With a shared database only those older than
    /// [`super::model::ABANDONED_OPENING_SECS`], since another instance may be opening one now.
    pub async fn recover_interrupted_sessions(&self) -> anyhow::Result<u64> {
        self.write(jobs::RecoverOpenings {
            dialect: self.dialect,
        })
        .await
    }

    /// Creates an `opening` session for the conversation, unless it (or its origin conversation)
    /// already has a live one.
    pub async fn begin_session(
        &self,
        conversation: &CopilotConversationId,
        origin: Option<&CopilotConversationId>,
        address: &ConversationAddress,
        customer: Option<&str>,
    ) -> anyhow::Result<BeginSession> {
        self.write(jobs::Begin {
            conversation: conversation.clone(),
            origin: origin.cloned(),
            address: address.clone(),
            customer: customer.map(str::to_owned),
        })
        .await
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
        hub_conversation: Option<String>,
    ) -> anyhow::Result<bool> {
        self.write(jobs::CompleteOpen {
            session: session.clone(),
            livechat: livechat.clone(),
            timer,
            agent,
            hub_conversation,
        })
        .await
    }

    /// The open sessions whose hub keeps its own id of their conversation: the live-chat id and
    /// that id, for the hub to follow again after a restart.
    pub async fn open_hub_conversations(
        &self,
    ) -> anyhow::Result<Vec<(LiveChatConversationId, String)>> {
        let rows = sqlx::query(sql::OPEN_HUB_CONVERSATIONS)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| {
                use sqlx::Row;
                let livechat: String = row.try_get("livechat_conversation_id")?;
                Ok((
                    LiveChatConversationId::parse(livechat)?,
                    row.try_get("hub_conversation_id")?,
                ))
            })
            .collect()
    }

    /// Closes an `opening` session whose live-chat start failed. `abandon` when the live chat
    /// may have opened a conversation all the same (the call timed out or the connection broke):
    /// then a [`crate::domain::ToAgent::Abandon`] is stored with the close, to end it there.
    pub async fn fail_session_open(
        &self,
        session: &SessionId,
        abandon: bool,
    ) -> anyhow::Result<()> {
        self.write(jobs::FailOpening {
            session: session.clone(),
            abandon,
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

    /// [`Self::one_session`], from the cache when it holds the session and into it when it is
    /// open (PostgreSQL); `cached` finds it in the cache.
    async fn cached_session(
        &self,
        cached: impl Fn(&SessionCache) -> Option<Session>,
        statement: &str,
        key: &str,
    ) -> anyhow::Result<Option<Session>> {
        let Some(cache) = &self.cache else {
            return self.one_session(statement, key).await;
        };
        if let Some(session) = cached(cache) {
            return Ok(Some(session));
        }
        let begun = cache.read_begins();
        let session = self.one_session(statement, key).await?;
        if let Some(session) = &session {
            cache.learn(session, begun);
        }
        Ok(session)
    }

    /// The conversation's session in state `opening` or `open`.
    pub async fn live_session(
        &self,
        conversation: &CopilotConversationId,
    ) -> anyhow::Result<Option<Session>> {
        if let Some(index) = &self.index {
            return Ok(index.by_conversation(conversation));
        }
        self.cached_session(
            |cache| cache.by_conversation(conversation),
            sql::LIVE_SESSION,
            conversation.as_str(),
        )
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
        self.cached_session(
            |cache| cache.by_origin(origin),
            sql::LIVE_SESSION_BY_ORIGIN,
            origin.as_str(),
        )
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
        self.cached_session(
            |cache| cache.by_livechat(livechat),
            sql::SESSION_BY_LIVECHAT_ID,
            livechat.as_str(),
        )
        .await
    }

    /// Keeps a request before it is answered 202 (see [`PendingTurn`]).
    pub async fn record_turn(&self, turn: PendingTurn) -> anyhow::Result<()> {
        self.write(jobs::RecordTurn(turn)).await
    }

    /// Forgets a request whose replies were sent.
    pub async fn finish_turn(&self, id: &str) -> anyhow::Result<()> {
        self.write(jobs::FinishTurn { id: id.to_owned() }).await
    }

    /// Requests kept since before `before` (RFC 3339) and not finished: those a stopped process
    /// left (with a shared database, only old enough that no running instance still has them).
    pub async fn unfinished_turns(&self, before: &str) -> anyhow::Result<Vec<PendingTurn>> {
        let rows = sqlx::query(sql::UNFINISHED_TURNS)
            .bind(before)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| {
                use sqlx::Row;
                Ok(PendingTurn {
                    id: row.try_get("id")?,
                    activity: row.try_get("activity")?,
                    caller: row.try_get("caller")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Whether any session (of any instance) is still opening: an event for a live-chat id nobody
    /// knows may be about it, arriving before its start's answer.
    pub async fn any_session_opening(&self) -> anyhow::Result<bool> {
        if let Some(index) = &self.index {
            return Ok(index.any_opening());
        }
        Ok(sqlx::query(sql::ANY_OPENING)
            .fetch_optional(&self.reader)
            .await?
            .is_some())
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
        self.write(jobs::Enqueue {
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
        self.write(jobs::Close {
            session: session.clone(),
            by: closed_by,
            rows: deliveries,
            updates,
        })
        .await
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
        self.write(jobs::FireTimer {
            session: session.clone(),
            fired,
            then,
            rows: deliveries,
        })
        .await
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
        self.write(jobs::EnqueueForOpen {
            session: session.clone(),
            deliveries: vec![delivery],
            updates,
            links: Vec::new(),
        })
        .await
    }

    /// Stores an agent's message (its words, then each file, and the files' links) if its session
    /// is still open; a repeat of one accepted earlier is a duplicate and stores nothing.
    pub async fn enqueue_agent_message(
        &self,
        session: &SessionId,
        deliveries: Vec<NewDelivery>,
        links: Vec<NewFileLink>,
    ) -> anyhow::Result<Enqueued> {
        self.write(jobs::EnqueueForOpen {
            session: session.clone(),
            deliveries,
            updates: Vec::new(),
            links,
        })
        .await
    }

    /// The shared file a link's token opens, if any (expired ones included: the caller tells).
    pub async fn file_link(&self, token: &FileLinkToken) -> anyhow::Result<Option<FileLink>> {
        let row = sqlx::query(sql::FILE_LINK)
            .bind(token_hash(token))
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| FileLink::try_from(FileLinkRow::try_from(ValueRow::of_any(&row)?)?))
            .transpose()
    }

    /// Stores deliveries unconditionally, in one transaction (those whose dedupe key was taken
    /// are left out).
    pub async fn enqueue_all(&self, deliveries: Vec<NewDelivery>) -> anyhow::Result<()> {
        self.write(jobs::Enqueue {
            rows: deliveries,
            updates: Vec::new(),
        })
        .await
        .map(drop)
    }

    /// Stores a delivery unconditionally (returns false for a duplicate dedupe key).
    pub async fn enqueue(&self, delivery: NewDelivery) -> anyhow::Result<bool> {
        let ids = self
            .write(jobs::Enqueue {
                rows: vec![delivery],
                updates: Vec::new(),
            })
            .await?;
        Ok(ids.first().is_some_and(Option::is_some))
    }

    /// The oldest pending delivery of each queue in `lane` that is due at `now_ms`, skipping the
    /// queues in `busy_queues`; with PostgreSQL they are claimed for the lease
    /// ([`CLAIM_LEASE_MS`] unless set otherwise).
    pub async fn due_deliveries(
        &self,
        lane: Lane,
        now_ms: i64,
        limit: u32,
        busy_queues: &[String],
    ) -> anyhow::Result<Vec<Delivery>> {
        self.claim(
            self.dialect.due_deliveries(),
            lane,
            now_ms,
            limit,
            busy_queues,
            None,
        )
        .await
    }

    /// Claims, of the deliveries `ids` and the heads of `queues`, those that head their queues, are
    /// due and are this instance's to take (PostgreSQL: a look at those alone, where
    /// [`Self::due_deliveries`] looks along every pending queue of the lane); at most `limit`, none
    /// of `busy_queues`.
    pub async fn claim_named(
        &self,
        lane: Lane,
        now_ms: i64,
        limit: u32,
        busy_queues: &[String],
        ids: &[DeliveryId],
        queues: &[String],
    ) -> anyhow::Result<Vec<Delivery>> {
        anyhow::ensure!(
            self.dialect.shares_the_database(),
            "deliveries are claimed by id only on a shared database"
        );
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let named = (serde_json::to_string(&ids)?, serde_json::to_string(queues)?);
        self.claim(
            sql::CLAIM_NAMED,
            lane,
            now_ms,
            limit,
            busy_queues,
            Some(named),
        )
        .await
    }

    async fn claim(
        &self,
        statement: &str,
        lane: Lane,
        now_ms: i64,
        limit: u32,
        busy_queues: &[String],
        named: Option<(String, String)>,
    ) -> anyhow::Result<Vec<Delivery>> {
        let query = sqlx::query(statement)
            .bind(lane.as_str())
            .bind(now_ms)
            .bind(serde_json::to_string(busy_queues)?)
            .bind(i64::from(limit));
        let query = match self.dialect {
            Dialect::Sqlite => query,
            Dialect::Postgres => {
                let (place, live) = self.signals.members();
                let query = query
                    .bind(self.claim_lease_ms.load(Ordering::Relaxed))
                    .bind(self.instance.as_ref().to_owned())
                    .bind(i64::from(live))
                    .bind(i64::from(place));
                match named {
                    Some((ids, queues)) => query.bind(ids).bind(queues),
                    None => query,
                }
            }
        };
        let rows = query.fetch_all(&self.reader).await?;
        let mut deliveries = rows
            .iter()
            .map(|row| Delivery::try_from(DeliveryRow::try_from(ValueRow::of_any(row)?)?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        deliveries.sort_by_key(|delivery| delivery.id);
        Ok(deliveries)
    }

    /// Says this instance is alive at `now_ms` (PostgreSQL) and releases the claims of instances
    /// not heard from in `silent_after_ms`, so that what a dead instance held is claimed again
    /// within seconds; wakes every instance's workers of the lanes released. Answers how many it
    /// released and this instance's place among the live ones (the only one, with SQLite).
    pub async fn heartbeat(&self, now_ms: i64, silent_after_ms: i64) -> anyhow::Result<Heartbeat> {
        if !self.dialect.shares_the_database() {
            return Ok(Heartbeat {
                released: 0,
                place: 0,
                live: 1,
            });
        }
        sqlx::query(sql::HEARTBEAT)
            .bind(self.instance.as_ref().to_owned())
            .bind(now_ms)
            .execute(&self.reader)
            .await?;
        let heard_since = now_ms - silent_after_ms;
        let instances: Vec<(String, bool)> = sqlx::query_as(sql::INSTANCES)
            .bind(heard_since)
            .fetch_all(&self.reader)
            .await?;
        let live: Vec<&str> = instances
            .iter()
            .filter(|(_, silent)| !silent)
            .map(|(id, _)| id.as_str())
            .collect();
        let place = live
            .iter()
            .position(|id| *id == self.instance.as_ref())
            .unwrap_or_default();
        let live = live.len().max(1);
        self.signals.set_members(place, live);
        let silent = instances.iter().filter(|(_, silent)| *silent);
        let mut released = 0;
        let mut lanes = Vec::new();
        for (instance, _) in silent {
            let count = self
                .release_instance(instance, now_ms, heard_since, &mut lanes)
                .await?;
            // Told even when it held nothing: its share of Teams' windows passes to the others.
            tracing::warn!(
                instance,
                deliveries = count,
                "an instance fell silent; its claims are released to the others"
            );
            released += count;
        }
        for lane in lanes {
            self.notify_instances(lane).await?;
            self.signals.of(lane).wake();
        }
        Ok(Heartbeat {
            released,
            place,
            live,
        })
    }

    /// Releases what `instance` holds claimed (due at `now_ms`) and forgets it if not heard from
    /// since `heard_since`; adds the lanes released to `lanes` and answers how many deliveries.
    async fn release_instance(
        &self,
        instance: &str,
        now_ms: i64,
        heard_since: i64,
        lanes: &mut Vec<Lane>,
    ) -> anyhow::Result<usize> {
        let rows = sqlx::query(sql::RELEASE_CLAIMS_OF)
            .bind(now_ms)
            .bind(instance.to_owned())
            .fetch_all(&self.reader)
            .await?;
        for row in &rows {
            let lane: String = sqlx::Row::try_get(row, "lane")?;
            if let Some(lane) = Lane::parse(&lane).filter(|lane| !lanes.contains(lane)) {
                lanes.push(lane);
            }
        }
        sqlx::query(sql::FORGET_INSTANCE)
            .bind(instance.to_owned())
            .bind(heard_since)
            .execute(&self.reader)
            .await?;
        Ok(rows.len())
    }

    /// Says this instance is leaving (PostgreSQL, at a graceful stop, once its workers have
    /// stopped): what it still holds claimed is released, due now, it is no longer counted among
    /// the live, and the others are woken, so that they take its share at once rather than after
    /// it falls silent.
    pub async fn leave(&self, now_ms: i64) -> anyhow::Result<usize> {
        if !self.dialect.shares_the_database() {
            return Ok(0);
        }
        let released = self
            .release_instance(&self.instance, now_ms, i64::MAX, &mut Vec::new())
            .await?;
        // Every lane: Teams' conversations fall to the others anew even when nothing was held.
        for lane in Lane::ALL {
            self.notify_instances(lane).await?;
        }
        Ok(released)
    }

    /// Lets go of a delivery this instance claimed until `claim` and will not send under that
    /// claim (held here past it): due now and held by nobody, and this instance's worker is woken
    /// for it, so that it is claimed again at once rather than when the lease passes. Fenced on
    /// the claim, like an outcome; whether it was still this instance's to let go.
    pub async fn release_claim(
        &self,
        lane: Lane,
        delivery: DeliveryId,
        claim: i64,
    ) -> anyhow::Result<bool> {
        if !self.dialect.shares_the_database() {
            return Ok(false);
        }
        let released = sqlx::query(sql::RELEASE_CLAIM)
            .bind(self.now_ms())
            .bind(delivery.0)
            .bind(claim)
            .execute(&self.reader)
            .await?
            .rows_affected()
            == 1;
        if released {
            self.signals.of(lane).wake_for([delivery], Vec::new());
        }
        Ok(released)
    }

    /// Wakes every instance's worker of `lane` (this one's too, through its listener).
    async fn notify_instances(&self, lane: Lane) -> anyhow::Result<()> {
        sqlx::query(sql::NOTIFY_DELIVERIES)
            .bind(DeliveriesNotice::of_lane(lane).encode())
            .execute(&self.reader)
            .await?;
        Ok(())
    }

    /// The link of `lane` is back (PostgreSQL): brings every retry waiting by the skill's own
    /// backoff, and held by no instance, forward to now, and wakes every instance to claim them;
    /// how many. (SQLite's worker holds its retries and brings them forward itself.)
    pub async fn hurry_retries(&self, lane: Lane, now_ms: i64) -> anyhow::Result<u64> {
        if !self.dialect.shares_the_database() {
            return Ok(0);
        }
        let hurried = sqlx::query(sql::HURRY_RETRIES)
            .bind(now_ms)
            .bind(lane.as_str())
            .execute(&self.reader)
            .await?
            .rows_affected();
        if hurried > 0 {
            self.notify_instances(lane).await?;
        }
        Ok(hurried)
    }

    /// Records a delivery's outcome without waiting for the commit (the workers' way: a lost
    /// record only means the delivery is made again after a crash).
    pub fn record_outcome(&self, delivery: DeliveryId, outcome: DeliveryOutcome) {
        self.record_claimed_outcome(delivery, outcome, None);
    }

    /// [`Self::record_outcome`] for a delivery claimed with the lease ending at `claim` (its
    /// `next_attempt_at` when claimed, PostgreSQL): a retry or a failure is recorded only while
    /// that claim still holds, so an instance whose send outlasted its lease, and whose delivery
    /// another instance has taken over, overwrites nothing.
    pub fn record_claimed_outcome(
        &self,
        delivery: DeliveryId,
        outcome: DeliveryOutcome,
        claim: Option<i64>,
    ) {
        let job = Queued::boxed(
            jobs::RecordOutcome {
                delivery,
                outcome,
                claim,
            },
            None,
        );
        if self.send(Message::Write(job)).is_err() {
            tracing::warn!(
                delivery_id = delivery.0,
                "the store has stopped; the delivery's outcome is not recorded"
            );
        }
    }

    /// Erases one Teams user's sessions (by the customer id they were opened with), with their
    /// deliveries either way and their file links; refused while one of them is live (end the
    /// live chat first: erasing the customer in the live chat ends it).
    pub async fn erase_customer(&self, customer: &str) -> anyhow::Result<ErasedSessions> {
        self.write(jobs::EraseCustomer {
            customer: customer.to_owned(),
        })
        .await
    }

    /// Deletes closed sessions and finished deliveries (delivered or failed) that ended before
    /// `before` (an RFC 3339 UTC time).
    pub async fn purge_finished(&self, before: &str) -> anyhow::Result<Purged> {
        self.write(jobs::Purge {
            before: before.to_owned(),
        })
        .await
    }

    /// One Teams user's sessions (by the customer id they were opened with), each with its
    /// deliveries either way, as JSON for an export; `None` when there is none.
    pub async fn export_customer(
        &self,
        customer: &str,
    ) -> anyhow::Result<Option<serde_json::Value>> {
        let sessions = sqlx::query(sql::EXPORT_SESSIONS_OF_CUSTOMER)
            .bind(customer)
            .fetch_all(&self.reader)
            .await?;
        if sessions.is_empty() {
            return Ok(None);
        }
        let mut exported = Vec::with_capacity(sessions.len());
        for row in &sessions {
            let session = ValueRow::of_any(row)?;
            let text = |column: &str| session.optional_text(column);
            let (id, conversation) = (
                session.text("id")?,
                session.text("copilot_conversation_id")?,
            );
            let livechat = text("livechat_conversation_id")?;
            let deliveries = sqlx::query(sql::EXPORT_SESSION_DELIVERIES)
                .bind(&conversation)
                .bind(livechat.clone().unwrap_or_default())
                .bind(&id)
                .fetch_all(&self.reader)
                .await?
                .iter()
                .map(|row| {
                    let delivery = ValueRow::of_any(row)?;
                    let payload = delivery.text("payload")?;
                    anyhow::Ok(serde_json::json!({
                        "lane": delivery.text("lane")?,
                        "state": delivery.text("state")?,
                        "createdAt": delivery.text("created_at")?,
                        "finishedAt": delivery.optional_text("finished_at")?,
                        "payload": serde_json::from_str::<serde_json::Value>(&payload)
                            .unwrap_or(serde_json::Value::String(payload)),
                    }))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            exported.push(serde_json::json!({
                "id": id,
                "copilotConversationId": conversation,
                "liveChatConversationId": livechat,
                "state": session.text("state")?,
                "closedBy": text("closed_by")?,
                "agentName": text("agent_name")?,
                "createdAt": session.text("created_at")?,
                "openedAt": text("opened_at")?,
                "closedAt": text("closed_at")?,
                "deliveries": deliveries,
            }));
        }
        Ok(Some(serde_json::json!({
            "customerId": customer,
            "exportedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "sessions": exported,
        })))
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

/// Hears the other instances (PostgreSQL's `LISTEN`): work committed for a lane wakes this
/// instance's worker, so that it claims it at once rather than at its next poll (the polls stay,
/// for retries falling due and for a listener reconnecting); sessions changed are forgotten from
/// the cache, which keeps nothing while this is not listening. Ends with the store, closing its
/// connection.
fn listen_to_other_instances(
    url: String,
    signals: std::sync::Weak<Signals>,
    ended: tokio_util::sync::CancellationToken,
    cache: Arc<SessionCache>,
    instance: Arc<str>,
) {
    tokio::spawn(async move {
        loop {
            let listening = async {
                let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
                listener
                    .listen_all([sql::DELIVERIES_CHANNEL, sql::SESSIONS_CHANNEL])
                    .await?;
                cache.set_listening(true);
                loop {
                    // `try_recv`, not `recv`: `recv` reconnects by itself, and the changes made
                    // meanwhile would go unheard while the cache went on keeping sessions.
                    let received = tokio::select! {
                        () = ended.cancelled() => return anyhow::Ok(()),
                        received = listener.try_recv() => received?,
                    };
                    let Some(notification) = received else {
                        anyhow::bail!("the connection to PostgreSQL was lost");
                    };
                    let Some(signals) = signals.upgrade() else {
                        return anyhow::Ok(());
                    };
                    if notification.channel() == sql::SESSIONS_CHANNEL {
                        let ids: Vec<SessionId> = notification
                            .payload()
                            .split(',')
                            .filter_map(|id| SessionId::parse(id).ok())
                            .collect();
                        cache.forget(&ids);
                    } else if let Some(notice) = DeliveriesNotice::decode(notification.payload()) {
                        match notice.stored {
                            None => signals.of(notice.lane).wake(),
                            // This instance's own: its writer woke its worker for them already.
                            Some((from, _)) if *from == *instance => {}
                            Some((_, ids)) => signals.of(notice.lane).wake_for(ids, Vec::new()),
                        }
                    }
                }
            };
            let outcome = listening.await;
            cache.set_listening(false);
            match outcome {
                Ok(()) => return,
                Err(error) => {
                    if ended.is_cancelled() {
                        return;
                    }
                    tracing::warn!(error.cause_chain = ?error, "cannot listen to the other instances; polling for work and reading sessions from the database meanwhile, listening again in 5 s");
                    tokio::select! {
                        () = ended.cancelled() => return,
                        () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                    }
                }
            }
        }
    });
}
