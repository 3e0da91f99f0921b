//! The store's one writer: group commit.
//!
//! Every write is a [`Job`] sent to one task, which takes all the jobs that are waiting, runs them
//! in one transaction (deliveries as multi-row inserts, delivery outcomes as one update), commits
//! once, and only then answers each job: an acknowledged message is durable, and one fsync is
//! shared by everything that arrived together. Latency stays about one commit; throughput grows
//! with the number of writers waiting.
//!
//! After the commit, and before the answers, the writer applies what changed to the in-memory
//! session index (SQLite) and hands the new deliveries to their lane's worker (SQLite) or wakes it
//! (PostgreSQL), so the workers never re-read the table for what was just written.
//!
//! A batch that fails is rolled back and its jobs are run again one by one, so one bad job fails
//! alone.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use super::connection::{Value, WriteConnection};
use super::dialect::{Checkpoints, WriterTarget};
use super::index::{SessionChange, SessionIndex};
use super::records::{encode_payload, DeliveryRow, SessionRow};
use super::{
    abandoned_opening_cutoff, now_text, sql, BeginSession, ClosedBy, Delivery, Dialect,
    NewDelivery, Purged, Session, SessionState, Signals,
};
use crate::domain::{
    ConversationAddress, CopilotConversationId, DeliveryId, Lane, LiveChatConversationId, Outbound,
    SessionId, Timer, ToAgent,
};

/// Most jobs in one transaction; more wait for the next.
const MAX_BATCH: usize = 1_024;

/// How long outcomes nobody waits for may wait for company before they are committed alone.
const LAZY_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

pub(super) type Reply<T> = oneshot::Sender<anyhow::Result<T>>;

/// What a delivery's attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again at `at_ms` (Unix milliseconds).
    Retry {
        at_ms: i64,
        error: String,
    },
    Failed {
        error: String,
    },
}

/// The condition a [`Job::Store`] is stored under, checked in the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Gate {
    Always,
    /// Only while the session is open.
    SessionOpen(SessionId),
    /// Closes the session; stores the rows only if this closed it.
    Closes {
        session: SessionId,
        by: ClosedBy,
    },
    /// Acts on the session's timer `fired`; stores the rows only if the session still had it.
    Timer {
        session: SessionId,
        fired: Timer,
        then: TimerThen,
    },
}

/// What a timer that fell due turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerThen {
    /// The next timer (the end after a warning), or none.
    Next(Option<Timer>),
    /// The session closes (queue timeout, inactivity).
    Close,
}

/// A change to a session stored with the rows (when their gate passes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionUpdate {
    /// The problem description is among the rows: the session remembers it was forwarded.
    ProblemForwarded(SessionId),
    /// The customer wrote: an inactivity timer starts again from `timer`, unless it was started
    /// again less than `resolution_ms` before.
    CustomerWrote {
        session: SessionId,
        timer: Timer,
        resolution_ms: i64,
    },
    /// An agent took the chat: named, and a queue timer gives way to `inactivity`.
    AgentJoined {
        session: SessionId,
        agent: String,
        inactivity: Option<Timer>,
    },
    /// The agent who closed the chat.
    AgentNamed { session: SessionId, agent: String },
}

/// Deliveries to store.
#[derive(Debug)]
pub(super) struct StoreRows {
    pub gate: Gate,
    pub rows: Vec<NewDelivery>,
    pub updates: Vec<SessionUpdate>,
}

/// What became of a [`StoreRows`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stored {
    /// Per row: its id, or `None` when its dedupe key was taken.
    Rows(Vec<Option<DeliveryId>>),
    /// The gate refused; `seen` when a row's dedupe key was stored before.
    Refused { seen: bool },
}

/// Opening a session.
#[derive(Debug)]
pub(super) struct Begin {
    pub conversation: CopilotConversationId,
    pub origin: Option<CopilotConversationId>,
    pub address: ConversationAddress,
}

/// What a lane's worker is handed.
#[derive(Debug)]
pub enum Arrival {
    /// Deliveries just committed, in id order.
    Stored(Vec<Delivery>),
    /// Pending deliveries read back from the table, in id order, after the id the worker asked
    /// from; `complete` when there were no more.
    Loaded {
        deliveries: Vec<Delivery>,
        complete: bool,
    },
}

/// A request to the writer.
pub(super) enum Job {
    Begin(Begin, Reply<BeginSession>),
    /// Answers whether the session was still `opening` (and so is open now).
    Open {
        session: SessionId,
        livechat: LiveChatConversationId,
        timer: Option<Timer>,
        agent: Option<String>,
        reply: Reply<bool>,
    },
    /// `abandon`: the live chat may have opened a conversation all the same (the start timed out),
    /// so a [`ToAgent::Abandon`] is stored with the close.
    FailOpening {
        session: SessionId,
        abandon: bool,
        reply: Reply<()>,
    },
    Store(StoreRows, Reply<Stored>),
    Outcome {
        delivery: DeliveryId,
        outcome: Outcome,
        reply: Option<Reply<()>>,
    },
    RecoverOpenings(Reply<u64>),
    Purge {
        before: String,
        reply: Reply<Purged>,
    },
    /// Read pending deliveries back for a lane's worker (outside any batch, in order with the
    /// commits before and after it).
    Load {
        lane: Lane,
        after: DeliveryId,
        limit: u32,
    },
    /// Hand the lane's new deliveries to this worker from now on.
    Subscribe(Lane, mpsc::UnboundedSender<Arrival>),
    /// Answers once everything sent before it is committed.
    Flush(Reply<()>),
}

impl Job {
    /// An outcome nobody waits for.
    fn is_lazy(&self) -> bool {
        matches!(self, Job::Outcome { reply: None, .. })
    }

    /// Jobs that are not writes run on their own, between batches.
    fn is_control(&self) -> bool {
        matches!(self, Job::Load { .. } | Job::Subscribe(..) | Job::Flush(_))
    }
}

/// A job's answer, before it is sent.
enum Answer {
    Begin(BeginSession),
    Unit,
    Opened(bool),
    Stored(Stored),
    Count(u64),
    Purged(Purged),
}

/// What a committed batch changes outside the database.
#[derive(Default)]
struct Effects {
    sessions: Vec<SessionChange>,
    deliveries: Vec<Delivery>,
}

/// The writer task.
pub(super) struct Writer {
    /// Where to connect; the connection is the writer's own.
    pub target: WriterTarget,
    pub dialect: Dialect,
    pub jobs: mpsc::UnboundedReceiver<Job>,
    pub index: Option<Arc<SessionIndex>>,
    pub signals: Arc<Signals>,
    pub teams: Option<mpsc::UnboundedSender<Arrival>>,
    pub livechat: Option<mpsc::UnboundedSender<Arrival>>,
    pub connection: Option<Box<dyn WriteConnection>>,
    /// SQLite: where the checkpointer says a copy of the WAL is ready to be finished.
    pub checkpoints: Option<Arc<Checkpoints>>,
}

fn statements() -> &'static Statements {
    static STATEMENTS: OnceLock<Statements> = OnceLock::new();
    STATEMENTS.get_or_init(|| Statements {
        insert: sql::CHUNKS
            .iter()
            .map(|&rows| (rows, sql::insert_deliveries(rows)))
            .collect(),
        mark_delivered: sql::mark_delivered_in(),
        open_sessions: [Dialect::Sqlite, Dialect::Postgres]
            .map(|dialect| format!("{}{}", sql::open_sessions_in(), dialect.lock_for_share())),
    })
}

/// The generated statements, made once.
struct Statements {
    insert: HashMap<usize, String>,
    mark_delivered: String,
    /// By dialect: SQLite, PostgreSQL.
    open_sessions: [String; 2],
}

impl Writer {
    /// Starts the writer on a thread of its own, with a runtime of its own: its many short round
    /// trips to the database then never wait behind the HTTP work for a turn.
    pub fn spawn(self) -> anyhow::Result<()> {
        // SQLite is written synchronously: without an I/O driver the idle writer sleeps on a
        // condition variable, which is cheaper to wake than an event loop.
        let mut builder = tokio::runtime::Builder::new_current_thread();
        match self.dialect {
            Dialect::Sqlite => builder.enable_time(),
            Dialect::Postgres => builder.enable_all(),
        };
        let runtime = builder
            .build()
            .context("cannot build the store writer's runtime")?;
        std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || runtime.block_on(self.run()))
            .context("cannot start the store writer")?;
        Ok(())
    }

    /// The writer's connection, connecting (again) when there is none.
    async fn connection(&mut self) -> anyhow::Result<&mut Box<dyn WriteConnection>> {
        if self.connection.is_none() {
            let connection = self
                .target
                .connect()
                .await
                .context("cannot connect the store writer")?;
            self.connection = Some(connection);
        }
        self.connection
            .as_mut()
            .context("the store writer has no connection")
    }

    /// Runs until every handle of the store is gone, answering what is left first.
    async fn run(mut self) {
        // Outcomes nobody waits for (a delivery's result, recorded by a worker) ride along with the
        // next batch that someone does wait for, or go on their own after a short while: alone
        // they would cost a commit each when the skill is quiet.
        let mut lazy: Vec<Job> = Vec::new();
        loop {
            let first = if lazy.is_empty() {
                self.jobs.recv().await
            } else {
                match tokio::time::timeout(LAZY_WAIT, self.jobs.recv()).await {
                    Ok(job) => job,
                    Err(_) => {
                        self.execute(std::mem::take(&mut lazy)).await;
                        continue;
                    }
                }
            };
            let Some(first) = first else { break };
            let mut pending = vec![first];
            while pending.len() < MAX_BATCH {
                match self.jobs.try_recv() {
                    Ok(job) => pending.push(job),
                    Err(_) => break,
                }
            }
            let waited_for = pending.iter().any(|job| !job.is_lazy());
            if !waited_for && lazy.len() + pending.len() < MAX_BATCH {
                lazy.append(&mut pending);
                continue;
            }
            // Writes up to a control job form a batch; the control job runs after it.
            let mut batch = std::mem::take(&mut lazy);
            for job in pending {
                if job.is_control() {
                    self.execute(std::mem::take(&mut batch)).await;
                    self.control(job).await;
                } else {
                    batch.push(job);
                }
            }
            self.execute(batch).await;
            self.finish_checkpoint().await;
        }
        self.execute(lazy).await;
    }

    /// Copies what the WAL gained since the checkpointer's last copy, so that the copy is whole
    /// and the next write starts the WAL again from its beginning ([`Checkpoints`]).
    async fn finish_checkpoint(&mut self) {
        if !self
            .checkpoints
            .as_ref()
            .is_some_and(|checkpoints| checkpoints.take_bulk_copied())
        {
            return;
        }
        let copied = async {
            let connection = self.connection().await?;
            connection
                .query("PRAGMA wal_checkpoint(PASSIVE)", &[])
                .await
        };
        if let Err(error) = copied.await {
            tracing::warn!(error.cause_chain = ?error, "cannot finish a checkpoint of the WAL");
        }
    }

    fn lane(&self, lane: Lane) -> Option<&mpsc::UnboundedSender<Arrival>> {
        match lane {
            Lane::Teams => self.teams.as_ref(),
            Lane::LiveChat => self.livechat.as_ref(),
        }
    }

    async fn control(&mut self, job: Job) {
        match job {
            Job::Subscribe(Lane::Teams, sender) => self.teams = Some(sender),
            Job::Subscribe(Lane::LiveChat, sender) => self.livechat = Some(sender),
            Job::Flush(reply) => {
                let _ = reply.send(Ok(()));
            }
            Job::Load { lane, after, limit } => {
                let params = [
                    lane.as_str().into(),
                    after.0.into(),
                    i64::from(limit).into(),
                ];
                let loaded = match self.connection().await {
                    Ok(connection) => connection.query(sql::PENDING_AFTER, &params).await,
                    Err(error) => Err(error),
                };
                match loaded {
                    Ok(rows) => {
                        let complete = rows.len() < limit as usize;
                        let deliveries = rows
                            .into_iter()
                            .filter_map(|row| match DeliveryRow::try_from(row).and_then(Delivery::try_from) {
                                Ok(delivery) => Some(delivery),
                                Err(error) => {
                                    tracing::error!(error.cause_chain = ?error, "an unreadable delivery row is left pending");
                                    None
                                }
                            })
                            .collect();
                        if let Some(sender) = self.lane(lane) {
                            let _ = sender.send(Arrival::Loaded {
                                deliveries,
                                complete,
                            });
                        }
                    }
                    Err(error) => {
                        // The worker asks again when it next looks for work.
                        tracing::error!(error.cause_chain = ?error, lane = lane.as_str(), "cannot read pending deliveries");
                        if let Some(sender) = self.lane(lane) {
                            let _ = sender.send(Arrival::Loaded {
                                deliveries: Vec::new(),
                                complete: false,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Runs a batch; on failure, each of its jobs alone.
    async fn execute(&mut self, batch: Vec<Job>) {
        if batch.is_empty() {
            return;
        }
        let result = self.try_batch(&batch).await;
        match result {
            Ok((answers, effects)) => self.finish(batch, answers, effects),
            Err(error) if batch.len() == 1 => {
                tracing::error!(error.cause_chain = ?error, "a store write failed");
                // The connection may be what failed: the next batch makes a new one.
                self.connection = None;
                fail(batch, error);
            }
            Err(error) => {
                tracing::warn!(error.cause_chain = ?error, jobs = batch.len(), "a batch of writes failed; retrying them one by one");
                for job in batch {
                    Box::pin(self.execute(vec![job])).await;
                }
            }
        }
    }

    /// Applies the effects of a committed batch, then answers its jobs.
    fn finish(&self, batch: Vec<Job>, answers: Vec<Option<Answer>>, effects: Effects) {
        if let Some(index) = &self.index {
            index.apply(effects.sessions);
        }
        let mut teams = Vec::new();
        let mut livechat = Vec::new();
        for delivery in effects.deliveries {
            match delivery.lane {
                Lane::Teams => teams.push(delivery),
                Lane::LiveChat => livechat.push(delivery),
            }
        }
        for (lane, deliveries) in [(Lane::Teams, teams), (Lane::LiveChat, livechat)] {
            if deliveries.is_empty() {
                continue;
            }
            self.signals.of(lane).notify_one();
            if let Some(sender) = self.lane(lane) {
                let _ = sender.send(Arrival::Stored(deliveries));
            }
        }
        for (job, answer) in batch.into_iter().zip(answers) {
            answer_job(job, answer);
        }
    }

    async fn try_batch(&mut self, batch: &[Job]) -> anyhow::Result<(Vec<Option<Answer>>, Effects)> {
        let dialect = self.dialect;
        let index = self.index.clone();
        let connection = self.connection().await?;
        connection.begin().await?;
        match run_batch(dialect, index.as_deref(), connection.as_mut(), batch).await {
            Ok(done) => {
                connection.commit().await?;
                Ok(done)
            }
            Err(error) => {
                if let Err(rollback) = connection.rollback().await {
                    tracing::warn!(error.cause_chain = ?rollback, "cannot roll the batch back");
                }
                Err(error)
            }
        }
    }
}

/// Runs a batch's statements inside its transaction.
async fn run_batch(
    dialect: Dialect,
    index: Option<&SessionIndex>,
    connection: &mut dyn WriteConnection,
    batch: &[Job],
) -> anyhow::Result<(Vec<Option<Answer>>, Effects)> {
    let mut effects = Effects::default();
    let mut answers: Vec<Option<Answer>> = Vec::with_capacity(batch.len());
    let now = now_text();
    let created_at_ms = Utc::now().timestamp_millis();

    // Which sessions the gated rows need open, in one look.
    let wanted: Vec<&SessionId> = batch
        .iter()
        .filter_map(|job| match job {
            Job::Store(
                StoreRows {
                    gate: Gate::SessionOpen(session),
                    ..
                },
                _,
            ) => Some(session),
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // The index is exact when this process is the database's only writer; otherwise one look
    // at the table, holding the rows (PostgreSQL).
    let mut open = match index {
        Some(index) => wanted
            .iter()
            .filter(|session| index.is_open(session))
            .map(|session| (*session).clone())
            .collect(),
        None => open_sessions(dialect, connection, &wanted).await?,
    };

    // In order: each job's statements, its rows queued for one insert after the loop.
    let mut rows: Vec<(usize, &NewDelivery)> = Vec::new();
    let mut delivered: Vec<DeliveryId> = Vec::new();
    for (position, job) in batch.iter().enumerate() {
        let answer = match job {
            Job::Store(store, _) => {
                let passes = match &store.gate {
                    Gate::Always => true,
                    Gate::SessionOpen(session) => open.contains(session),
                    Gate::Timer {
                        session,
                        fired,
                        then,
                    } => {
                        let fired_kind = Value::from(fired.kind.as_str());
                        let changed = match then {
                            TimerThen::Close => {
                                connection
                                    .execute(
                                        sql::CLOSE_ON_TIMER,
                                        &[
                                            now.as_str().into(),
                                            session.as_str().into(),
                                            fired_kind,
                                            fired.due_ms.into(),
                                        ],
                                    )
                                    .await?
                            }
                            TimerThen::Next(next) => {
                                let [kind, due] = timer_values(*next);
                                connection
                                    .execute(
                                        sql::MOVE_TIMER,
                                        &[
                                            kind,
                                            due,
                                            session.as_str().into(),
                                            fired_kind,
                                            fired.due_ms.into(),
                                        ],
                                    )
                                    .await?
                            }
                        } == 1;
                        if changed && *then == TimerThen::Close {
                            open.remove(session);
                            effects.sessions.push(SessionChange::Gone(session.clone()));
                        }
                        changed
                    }
                    Gate::Closes { session, by } => {
                        let closed = connection
                            .execute(
                                sql::CLOSE_OPEN_SESSION,
                                &[
                                    by.as_str().into(),
                                    now.as_str().into(),
                                    session.as_str().into(),
                                ],
                            )
                            .await?
                            == 1;
                        if closed {
                            open.remove(session);
                            effects.sessions.push(SessionChange::Gone(session.clone()));
                        }
                        closed
                    }
                };
                if passes {
                    rows.extend(store.rows.iter().map(|row| (position, row)));
                    for update in &store.updates {
                        update_session(connection, update, &mut effects).await?;
                    }
                    None // filled in once the rows are inserted
                } else {
                    let seen = any_seen(connection, &store.rows).await?;
                    Some(Answer::Stored(Stored::Refused { seen }))
                }
            }
            Job::Begin(begin_job, _) => Some(Answer::Begin(
                begin(connection, begin_job, &now, created_at_ms, &mut effects).await?,
            )),
            Job::Open {
                session,
                livechat,
                timer,
                agent,
                ..
            } => {
                let [kind, due] = timer_values(*timer);
                let opened = connection
                    .execute(
                        sql::OPEN_SESSION,
                        &[
                            livechat.as_str().into(),
                            now.as_str().into(),
                            session.as_str().into(),
                            agent.clone().into(),
                            kind,
                            due,
                        ],
                    )
                    .await
                    .context("cannot record the live-chat id")?
                    == 1;
                if opened {
                    open.insert(session.clone());
                    let found = connection
                        .query(sql::SESSION_BY_ID, &[session.as_str().into()])
                        .await?;
                    if let Some(row) = found.into_iter().next() {
                        let session = Session::try_from(SessionRow::try_from(row)?)?;
                        effects.sessions.push(SessionChange::Live(session));
                    }
                }
                Some(Answer::Opened(opened))
            }
            Job::FailOpening {
                session, abandon, ..
            } => {
                let failed = connection
                    .query(
                        sql::FAIL_OPENING_RETURNING,
                        &[now.as_str().into(), session.as_str().into()],
                    )
                    .await?;
                if *abandon {
                    abandon_openings(connection, &failed, &now, created_at_ms, &mut effects)
                        .await?;
                } else {
                    for row in &failed {
                        effects
                            .sessions
                            .push(SessionChange::Gone(SessionId::parse(row.text("id")?)?));
                    }
                }
                Some(Answer::Unit)
            }
            Job::Outcome {
                delivery, outcome, ..
            } => {
                match outcome {
                    Outcome::Delivered => delivered.push(*delivery),
                    Outcome::Retry { at_ms, error } => {
                        connection
                            .execute(
                                sql::SCHEDULE_RETRY,
                                &[(*at_ms).into(), error.as_str().into(), delivery.0.into()],
                            )
                            .await?;
                    }
                    Outcome::Failed { error } => {
                        connection
                            .execute(
                                sql::MARK_FAILED,
                                &[
                                    now.as_str().into(),
                                    error.as_str().into(),
                                    delivery.0.into(),
                                ],
                            )
                            .await?;
                    }
                }
                Some(Answer::Unit)
            }
            Job::RecoverOpenings(_) => {
                let cutoff = if dialect.shares_the_database() {
                    abandoned_opening_cutoff()
                } else {
                    now.clone()
                };
                let closed = connection
                    .query(
                        sql::CLOSE_ABANDONED_OPENINGS_RETURNING,
                        &[now.as_str().into(), cutoff.into()],
                    )
                    .await?;
                abandon_openings(connection, &closed, &now, created_at_ms, &mut effects).await?;
                Some(Answer::Count(closed.len() as u64))
            }
            Job::Purge { before, .. } => {
                let deliveries = connection
                    .execute(sql::PURGE_DELIVERIES, &[before.as_str().into()])
                    .await?;
                let sessions = connection
                    .execute(sql::PURGE_SESSIONS, &[before.as_str().into()])
                    .await?;
                Some(Answer::Purged(Purged {
                    sessions,
                    deliveries,
                }))
            }
            Job::Load { .. } | Job::Subscribe(..) | Job::Flush(_) => None,
        };
        answers.push(answer);
    }

    // The queued rows, in job order, as multi-row inserts.
    let mut stored: HashMap<usize, Vec<Option<DeliveryId>>> = HashMap::new();
    let mut start = 0;
    while start < rows.len() {
        let size = sql::CHUNKS
            .into_iter()
            .find(|&size| size <= rows.len() - start && size <= dialect.rows_per_statement())
            .unwrap_or(1);
        let chunk = &rows[start..start + size];
        let ids = insert_chunk(connection, chunk, created_at_ms, &now).await?;
        for ((position, row), id) in chunk.iter().zip(ids) {
            stored.entry(*position).or_default().push(id);
            if let Some(id) = id {
                effects.deliveries.push(Delivery {
                    id,
                    lane: row.payload.lane(),
                    queue_key: row.payload.queue_key().to_owned(),
                    payload: Ok(row.payload.clone()),
                    attempts: 0,
                    due_at_ms: created_at_ms,
                    created_at_ms,
                });
            }
        }
        start += size;
    }
    for (position, answer) in answers.iter_mut().enumerate() {
        if answer.is_none() && matches!(batch[position], Job::Store(..)) {
            *answer = Some(Answer::Stored(Stored::Rows(
                stored.remove(&position).unwrap_or_default(),
            )));
        }
    }

    // Deliveries done, in as few statements as the dialect wants.
    if dialect.rows_per_statement() == 1 {
        for id in &delivered {
            connection
                .execute(sql::MARK_DELIVERED, &[now.as_str().into(), id.0.into()])
                .await?;
        }
        delivered.clear();
    }
    for ids in delivered.chunks(sql::IN_LIST) {
        let mut params: Vec<Value> = Vec::with_capacity(sql::IN_LIST + 1);
        params.push(now.as_str().into());
        params.extend((0..sql::IN_LIST).map(|n| Value::Int(ids.get(n).map_or(0, |id| id.0))));
        connection
            .execute(&statements().mark_delivered, &params)
            .await?;
    }
    Ok((answers, effects))
}

/// A timer's kind and deadline as the `timer_kind` and `timer_at_ms` columns take them (NULLs for
/// none).
fn timer_values(timer: Option<Timer>) -> [Value; 2] {
    [
        timer.map(|timer| timer.kind.as_str()).into(),
        Value::int_or_null(timer.map(|timer| timer.due_ms)),
    ]
}

/// Makes one [`SessionUpdate`], and notes it for the index.
async fn update_session(
    connection: &mut dyn WriteConnection,
    update: &SessionUpdate,
    effects: &mut Effects,
) -> anyhow::Result<()> {
    match update {
        SessionUpdate::ProblemForwarded(session) => {
            connection
                .execute(sql::MARK_PROBLEM_FORWARDED, &[session.as_str().into()])
                .await?;
            effects
                .sessions
                .push(SessionChange::ProblemForwarded(session.clone()));
        }
        SessionUpdate::CustomerWrote {
            session,
            timer,
            resolution_ms,
        } => {
            connection
                .execute(
                    sql::RESTART_INACTIVITY,
                    &[
                        timer.kind.as_str().into(),
                        timer.due_ms.into(),
                        session.as_str().into(),
                        (*resolution_ms).into(),
                    ],
                )
                .await?;
        }
        SessionUpdate::AgentJoined {
            session,
            agent,
            inactivity,
        } => {
            let [kind, due] = timer_values(*inactivity);
            connection
                .execute(
                    sql::AGENT_JOINED,
                    &[agent.as_str().into(), kind, due, session.as_str().into()],
                )
                .await?;
            effects
                .sessions
                .push(SessionChange::AgentNamed(session.clone(), agent.clone()));
        }
        SessionUpdate::AgentNamed { session, agent } => {
            connection
                .execute(
                    sql::NAME_AGENT,
                    &[agent.as_str().into(), session.as_str().into()],
                )
                .await?;
        }
    }
    Ok(())
}

/// The sessions of `wanted` that are open (held against a concurrent close on PostgreSQL).
async fn open_sessions(
    dialect: Dialect,
    connection: &mut dyn WriteConnection,
    wanted: &[&SessionId],
) -> anyhow::Result<HashSet<SessionId>> {
    let statement = match dialect {
        Dialect::Sqlite => &statements().open_sessions[0],
        Dialect::Postgres => &statements().open_sessions[1],
    };
    let mut open = HashSet::new();
    for ids in wanted.chunks(sql::IN_LIST) {
        let params: Vec<Value> = (0..sql::IN_LIST)
            .map(|n| Value::from(ids.get(n).map_or("", |id| id.as_str())))
            .collect();
        for row in connection.query(statement, &params).await? {
            open.insert(SessionId::parse(row.text("id")?)?);
        }
    }
    Ok(open)
}

/// True when a row's dedupe key was stored before.
async fn any_seen(
    connection: &mut dyn WriteConnection,
    rows: &[NewDelivery],
) -> anyhow::Result<bool> {
    for row in rows {
        if let Some(key) = &row.dedupe_key {
            let seen = connection
                .query(
                    sql::DELIVERY_SEEN,
                    &[row.payload.lane().as_str().into(), key.as_str().into()],
                )
                .await?;
            if !seen.is_empty() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Inserts one chunk; per row, its id or `None` for a taken dedupe key.
async fn insert_chunk(
    connection: &mut dyn WriteConnection,
    chunk: &[(usize, &NewDelivery)],
    due_at_ms: i64,
    now: &str,
) -> anyhow::Result<Vec<Option<DeliveryId>>> {
    let statement = statements()
        .insert
        .get(&chunk.len())
        .context("no insert statement of that size")?;
    let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 6);
    for (_, row) in chunk {
        params.push(row.payload.lane().as_str().into());
        params.push(row.payload.queue_key().into());
        params.push(row.dedupe_key.clone().into());
        params.push(encode_payload(&row.payload)?.into());
        params.push(due_at_ms.into());
        params.push(now.into());
    }
    let returned = connection
        .query(statement, &params)
        .await
        .context("cannot store a delivery")?;
    // Ids grow in the order of the rows; a keyed row is matched by its key (a key twice in one
    // chunk is stored once), the others take the remaining ids in order.
    let mut keyed: HashMap<String, DeliveryId> = HashMap::new();
    let mut unkeyed: Vec<DeliveryId> = Vec::new();
    for row in &returned {
        let id = DeliveryId(row.int("id")?);
        match row.optional_text("dedupe_key")? {
            Some(key) => {
                keyed.insert(key, id);
            }
            None => unkeyed.push(id),
        }
    }
    unkeyed.sort();
    let mut unkeyed = unkeyed.into_iter();
    Ok(chunk
        .iter()
        .map(|(_, row)| match &row.dedupe_key {
            Some(key) => keyed.remove(key),
            None => unkeyed.next(),
        })
        .collect())
}

/// The first row of a query, as a session.
async fn one_session(
    connection: &mut dyn WriteConnection,
    statement: &str,
    params: &[Value],
) -> anyhow::Result<Option<Session>> {
    match connection
        .query(statement, params)
        .await?
        .into_iter()
        .next()
    {
        Some(row) => Ok(Some(Session::try_from(SessionRow::try_from(row)?)?)),
        None => Ok(None),
    }
}

/// Sessions just closed that an interrupted start left `opening` (rows of `id`,
/// `copilot_conversation_id`): each gets a [`ToAgent::Abandon`] in the same transaction, which
/// ends in the live chat whatever that start opened, so nothing is left orphaned there.
async fn abandon_openings(
    connection: &mut dyn WriteConnection,
    closed: &[super::connection::ValueRow],
    now: &str,
    created_at_ms: i64,
    effects: &mut Effects,
) -> anyhow::Result<()> {
    for row in closed {
        let session = SessionId::parse(row.text("id")?)?;
        let conversation = CopilotConversationId::parse(row.text("copilot_conversation_id")?)?;
        effects.sessions.push(SessionChange::Gone(session.clone()));
        let delivery = NewDelivery {
            dedupe_key: Some(format!("abandon:{session}")),
            payload: Outbound::ToAgent(ToAgent::Abandon {
                session,
                conversation,
            }),
        };
        let ids = insert_chunk(connection, &[(0, &delivery)], created_at_ms, now).await?;
        // Inserted before the batch's other rows, so the lane still gets them in id order.
        if let Some(Some(id)) = ids.first() {
            effects.deliveries.push(Delivery {
                id: *id,
                lane: Lane::LiveChat,
                queue_key: delivery.payload.queue_key().to_owned(),
                payload: Ok(delivery.payload.clone()),
                attempts: 0,
                due_at_ms: created_at_ms,
                created_at_ms,
            });
        }
    }
    Ok(())
}

/// Creates an `opening` session unless the conversation (or its origin) has a live one; an
/// opening of the conversation abandoned by a stopped process is closed and abandoned first.
async fn begin(
    connection: &mut dyn WriteConnection,
    begin: &Begin,
    now: &str,
    created_at_ms: i64,
    effects: &mut Effects,
) -> anyhow::Result<BeginSession> {
    let conversation = begin.conversation.as_str();
    let origin: Value = begin
        .origin
        .as_ref()
        .map(CopilotConversationId::as_str)
        .into();
    let abandoned = connection
        .query(
            sql::CLOSE_ABANDONED_OPENING_OF_RETURNING,
            &[
                now.into(),
                conversation.into(),
                abandoned_opening_cutoff().into(),
            ],
        )
        .await?;
    abandon_openings(connection, &abandoned, now, created_at_ms, effects).await?;
    if let Some(existing) = one_session(
        connection,
        sql::LIVE_SESSION_OF_CONVERSATION_OR_ORIGIN,
        &[conversation.into(), origin.clone()],
    )
    .await?
    {
        return Ok(BeginSession::Existing(existing));
    }
    let session = Session {
        id: SessionId::parse(uuid::Uuid::new_v4().to_string())?,
        copilot_conversation_id: begin.conversation.clone(),
        state: SessionState::Opening,
        address: begin.address.clone(),
        origin_conversation_id: begin.origin.clone(),
        problem_forwarded: false,
        agent_name: None,
    };
    let inserted = connection
        .execute(
            sql::INSERT_OPENING_SESSION,
            &[
                session.id.as_str().into(),
                conversation.into(),
                origin,
                begin.address.as_recorded().into(),
                now.into(),
            ],
        )
        .await
        .context("cannot create a session")?;
    if inserted == 1 {
        effects.sessions.push(SessionChange::Live(session.clone()));
        return Ok(BeginSession::Created(session));
    }
    // Another instance inserted first: the unique index decided.
    match one_session(connection, sql::LIVE_SESSION, &[conversation.into()]).await? {
        Some(existing) => Ok(BeginSession::Existing(existing)),
        None => anyhow::bail!("a concurrent start closed the conversation's session; try again"),
    }
}

/// Sends a job its answer.
fn answer_job(job: Job, answer: Option<Answer>) {
    fn send<T>(reply: Reply<T>, value: Option<T>) {
        let _ = reply.send(value.context("the writer gave no answer"));
    }
    match (job, answer) {
        (Job::Begin(_, reply), Some(Answer::Begin(begun))) => send(reply, Some(begun)),
        (Job::Store(_, reply), Some(Answer::Stored(stored))) => send(reply, Some(stored)),
        (Job::Open { reply, .. }, Some(Answer::Opened(opened))) => send(reply, Some(opened)),
        (Job::Open { reply, .. }, _) => send(reply, None),
        (Job::FailOpening { reply, .. }, _) => send(reply, Some(())),
        (Job::Outcome { reply, .. }, _) => {
            if let Some(reply) = reply {
                send(reply, Some(()));
            }
        }
        (Job::RecoverOpenings(reply), Some(Answer::Count(count))) => send(reply, Some(count)),
        (Job::Purge { reply, .. }, Some(Answer::Purged(purged))) => send(reply, Some(purged)),
        (Job::Begin(_, reply), _) => send(reply, None),
        (Job::Store(_, reply), _) => send(reply, None),
        (Job::RecoverOpenings(reply), _) => send(reply, None),
        (Job::Purge { reply, .. }, _) => send(reply, None),
        (Job::Load { .. } | Job::Subscribe(..) | Job::Flush(_), _) => {}
    }
}

/// Answers a failed job with the error.
fn fail(batch: Vec<Job>, error: anyhow::Error) {
    let message = format!("{error:#}");
    for job in batch {
        let error = || anyhow::anyhow!("{message}");
        match job {
            Job::Begin(_, reply) => {
                let _ = reply.send(Err(error()));
            }
            Job::Store(_, reply) => {
                let _ = reply.send(Err(error()));
            }
            Job::Open { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Job::FailOpening { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Job::Outcome { reply, .. } => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(error()));
                }
            }
            Job::RecoverOpenings(reply) => {
                let _ = reply.send(Err(error()));
            }
            Job::Purge { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Job::Load { .. } | Job::Subscribe(..) | Job::Flush(_) => {}
        }
    }
}
