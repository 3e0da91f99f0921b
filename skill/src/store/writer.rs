//! The store's one writer: group commit.
//!
//! Every write ([`super::batch::Write`], one kind a file in `jobs/`) is sent to one task, which
//! takes all the writes that are waiting, runs them in one transaction, inserts the deliveries they
//! queued (multi-row where the database wants it), marks the delivered ones in one update, commits
//! once, and only then answers each: an acknowledged message is durable, and one fsync is shared by
//! everything that arrived together.
//! Latency stays about one commit; throughput grows with the number of writers waiting.
//!
//! Before the writes run, the writer reads at once which of the sessions they depend on are open
//! (from the in-memory index with SQLite, from the table, held, with PostgreSQL).
//! After the commit, and before the answers, it applies what changed to the index (SQLite) and
//! hands the new deliveries to their lane's worker (SQLite; PostgreSQL: those its insert claimed)
//! or wakes it to claim the rest (PostgreSQL), so the workers never re-read the table for what was
//! just written.
//!
//! A batch that fails is rolled back and its writes are run again one by one, so one bad write
//! fails alone.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc;

use super::batch::{Batch, Effects, Inserted, Job};
use super::cache::{self, SessionCache};
use super::connection::{Value, WriteConnection};
use super::dialect::{Checkpoints, Dialect, WriterTarget};
use super::index::SessionIndex;
use super::model::{Arrival, DeliveriesNotice, Delivery, NewDelivery, Signals};
use super::records::{encode_payload, DeliveryRow};
use super::sql;
use crate::domain::{DeliveryId, Lane, SessionId};

/// Most writes in one transaction; more wait for the next.
const MAX_BATCH: usize = 1_024;

/// What the writer's queue carries: writes, and the few requests that are not writes.
pub enum Message {
    Write(Box<dyn Job>),
    Control(Control),
}

/// Requests that are not writes: they run on their own, between batches, in order with the
/// commits before and after them.
pub enum Control {
    /// Read `lane`'s pending deliveries after `after` back for its worker.
    Load {
        lane: Lane,
        after: DeliveryId,
        limit: u32,
    },
    /// Hand the lane's new deliveries to this worker from now on.
    Subscribe(Lane, mpsc::UnboundedSender<Arrival>),
    /// Answers once everything sent before it is committed.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The writer task.
pub struct Writer {
    /// Where to connect; the connection is the writer's own.
    pub target: WriterTarget,
    pub dialect: Dialect,
    pub queue: mpsc::UnboundedReceiver<Message>,
    pub index: Option<Arc<SessionIndex>>,
    /// PostgreSQL: the sessions this instance read, forgotten as its commits change them.
    pub cache: Option<Arc<SessionCache>>,
    pub signals: Arc<Signals>,
    pub teams: Option<mpsc::UnboundedSender<Arrival>>,
    pub livechat: Option<mpsc::UnboundedSender<Arrival>>,
    pub connection: Option<Box<dyn WriteConnection>>,
    /// SQLite: where the checkpointer says a copy of the WAL is ready to be finished.
    pub checkpoints: Option<Arc<Checkpoints>>,
    /// PostgreSQL: when each lane (in [`Lane::ALL`]'s order) was last notified to the others.
    pub notified: [Option<Instant>; 2],
    /// How far the database's clock is ahead of this machine's (PostgreSQL): the times the
    /// batches write are kept by it, as the workers' are.
    pub clock_offset_ms: Arc<AtomicI64>,
    /// PostgreSQL: who claims the new heads of queues as they are inserted, and for how long.
    pub claims: Option<ClaimAtInsert>,
}

/// This instance's claims (PostgreSQL), which the writer also takes as it inserts.
pub struct ClaimAtInsert {
    pub instance: Arc<str>,
    pub lease_ms: Arc<AtomicI64>,
}

/// What one batch's insert claims: the rows that start their queue, of the lanes whose worker
/// has room, for `instance`, leased for `lease_ms` from the batch's time.
struct ClaimNow<'a> {
    instance: &'a str,
    lease_ms: i64,
    lanes: Vec<Lane>,
    /// This instance's place among the live ones, and how many they are.
    members: (u32, u32),
}

/// The least time between two notifications of one lane to the other instances.
const NOTIFY_EVERY: Duration = Duration::from_millis(50);

/// The generated statements, made once.
struct Statements {
    open_sessions: String,
}

fn statements() -> &'static Statements {
    static STATEMENTS: OnceLock<Statements> = OnceLock::new();
    STATEMENTS.get_or_init(|| Statements {
        open_sessions: sql::open_sessions_in(),
    })
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
        let mut lazy: Vec<Box<dyn Job>> = Vec::new();
        loop {
            let first = if lazy.is_empty() {
                self.queue.recv().await
            } else {
                match tokio::time::timeout(self.dialect.lazy_wait(), self.queue.recv()).await {
                    Ok(message) => message,
                    Err(_) => {
                        self.execute(std::mem::take(&mut lazy)).await;
                        continue;
                    }
                }
            };
            let Some(first) = first else { break };
            let mut pending = vec![first];
            while pending.len() < MAX_BATCH {
                match self.queue.try_recv() {
                    Ok(message) => pending.push(message),
                    Err(_) => break,
                }
            }
            let waited_for = pending.iter().any(|message| match message {
                Message::Write(job) => !job.is_lazy(),
                Message::Control(_) => true,
            });
            if !waited_for && lazy.len() + pending.len() < MAX_BATCH {
                lazy.extend(pending.into_iter().filter_map(|message| match message {
                    Message::Write(job) => Some(job),
                    Message::Control(_) => None,
                }));
                continue;
            }
            // Writes up to a control request form a batch; the request runs after it.
            let mut batch = std::mem::take(&mut lazy);
            for message in pending {
                match message {
                    Message::Write(job) => batch.push(job),
                    Message::Control(control) => {
                        self.execute(std::mem::take(&mut batch)).await;
                        self.control(control).await;
                    }
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

    async fn control(&mut self, control: Control) {
        match control {
            Control::Subscribe(Lane::Teams, sender) => self.teams = Some(sender),
            Control::Subscribe(Lane::LiveChat, sender) => self.livechat = Some(sender),
            Control::Flush(reply) => {
                let _ = reply.send(());
            }
            Control::Load { lane, after, limit } => {
                let arrival = match self.load(lane, after, limit).await {
                    Ok(deliveries) => Arrival::Loaded {
                        complete: deliveries.len() < limit as usize,
                        deliveries,
                    },
                    Err(error) => {
                        // The worker asks again when it next looks for work.
                        tracing::error!(error.cause_chain = ?error, lane = lane.as_str(), "cannot read pending deliveries");
                        Arrival::Loaded {
                            deliveries: Vec::new(),
                            complete: false,
                        }
                    }
                };
                if let Some(sender) = self.lane(lane) {
                    let _ = sender.send(arrival);
                }
            }
        }
    }

    /// `lane`'s pending deliveries after `after`, in order, at most `limit`.
    async fn load(
        &mut self,
        lane: Lane,
        after: DeliveryId,
        limit: u32,
    ) -> anyhow::Result<Vec<Delivery>> {
        let params = [
            lane.as_str().into(),
            after.0.into(),
            i64::from(limit).into(),
        ];
        let rows = self
            .connection()
            .await?
            .query(sql::PENDING_AFTER, &params)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(
                |row| match DeliveryRow::try_from(row).and_then(Delivery::try_from) {
                    Ok(delivery) => Some(delivery),
                    Err(error) => {
                        tracing::error!(error.cause_chain = ?error, "an unreadable delivery row is left pending");
                        None
                    }
                },
            )
            .collect())
    }

    /// Runs a batch; on failure, each of its writes alone.
    async fn execute(&mut self, mut jobs: Vec<Box<dyn Job>>) {
        if jobs.is_empty() {
            return;
        }
        match self.try_batch(&mut jobs).await {
            Ok(effects) => self.finish(jobs, effects),
            Err(error) if jobs.len() == 1 => {
                tracing::error!(error.cause_chain = ?error, "a store write failed");
                // The connection may be what failed: the next batch makes a new one.
                self.connection = None;
                let message = format!("{error:#}");
                for job in jobs {
                    job.fail(&message);
                }
            }
            Err(error) => {
                tracing::warn!(error.cause_chain = ?error, jobs = jobs.len(), "a batch of writes failed; retrying them one by one");
                for job in jobs {
                    Box::pin(self.execute(vec![job])).await;
                }
            }
        }
    }

    /// Wakes the other instances' workers (theirs by `LISTEN`) for the lanes the batch added to,
    /// at most every [`NOTIFY_EVERY`] a lane: this instance's own workers take what it stores (a
    /// signal in [`Self::finish`]), so a notification only lends idle instances a hand, and one per
    /// commit would serialise the commits of every instance on PostgreSQL's notification queue.
    /// A queue whose head was delivered wakes only this instance's: it was this one's, and so is
    /// its next.
    async fn tell_other_instances(&mut self, effects: &Effects) {
        let now = Instant::now();
        let split = self.signals.members().1 > 1;
        for (index, lane) in Lane::ALL.into_iter().enumerate() {
            // Teams' conversations are split between the instances: what this one may not claim
            // waits for another, which is told at once, not after the pause (a message's
            // latency) nor at its poll (with no batch after it, a second).
            let theirs = split && lane == Lane::Teams;
            let due = theirs || self.notified[index].is_none_or(|at| now >= at + NOTIFY_EVERY);
            if !due {
                continue;
            }
            // What this instance claimed as it stored it is nobody else's.
            let unclaimed: Vec<DeliveryId> = effects
                .deliveries
                .iter()
                .filter(|d| d.lane == lane && d.claim.is_none())
                .map(|d| d.id)
                .collect();
            if unclaimed.is_empty() {
                continue;
            }
            self.notified[index] = Some(now);
            // Named, so that the others claim those rows rather than look along every queue of
            // the lane, and this instance's listener passes over what its worker was woken for;
            // the lane alone when the names would not fit.
            let named = self.claims.as_ref().map(|claims| {
                DeliveriesNotice {
                    lane,
                    stored: Some((claims.instance.to_string(), unclaimed)),
                }
                .encode()
            });
            let payload = match named {
                Some(text) if text.len() <= sql::NOTIFY_BYTES => text,
                _ => DeliveriesNotice::of_lane(lane).encode(),
            };
            let Some(connection) = self.connection.as_mut() else {
                return;
            };
            if let Err(error) = connection
                .execute(sql::NOTIFY_DELIVERIES, &[payload.into()])
                .await
            {
                tracing::warn!(error.cause_chain = ?error, "cannot notify the other instances; they find the work at their next poll");
            }
        }
    }

    /// Applies the effects of a committed batch, then answers its writes.
    fn finish(&self, jobs: Vec<Box<dyn Job>>, effects: Effects) {
        if let Some(cache) = &self.cache {
            cache.forget(cache::changed(&effects.sessions));
        }
        if let Some(index) = &self.index {
            index.apply(effects.sessions);
        }
        let (teams, livechat): (Vec<Delivery>, Vec<Delivery>) = effects
            .deliveries
            .into_iter()
            .partition(|delivery| delivery.lane == Lane::Teams);
        let (teams_settled, livechat_settled): (Vec<_>, Vec<_>) = effects
            .settled
            .into_iter()
            .partition(|(lane, _)| *lane == Lane::Teams);
        for (lane, deliveries, settled) in [
            (Lane::Teams, teams, teams_settled),
            (Lane::LiveChat, livechat, livechat_settled),
        ] {
            // SQLite's worker is handed everything; PostgreSQL's what the insert claimed for it,
            // and woken to claim the rest.
            let (handed, left): (Vec<Delivery>, Vec<Delivery>) = match self.dialect {
                Dialect::Sqlite => (deliveries, Vec::new()),
                Dialect::Postgres => deliveries
                    .into_iter()
                    .partition(|delivery| delivery.claim.is_some()),
            };
            // A PostgreSQL worker is woken only for what it must claim, named: what this batch
            // stored and did not claim, and the queues whose heads it delivered (their next
            // heads, now that this is committed).
            if !left.is_empty() || !settled.is_empty() {
                self.signals.of(lane).wake_for(
                    left.iter().map(|delivery| delivery.id),
                    settled.into_iter().map(|(_, queue)| queue).collect(),
                );
            }
            if handed.is_empty() {
                continue;
            }
            match self.lane(lane) {
                Some(sender) if sender.send(Arrival::Stored(handed)).is_ok() => {}
                _ if self.dialect.shares_the_database() => {
                    tracing::warn!(lane = lane.as_str(), "the lane's worker has stopped; what this instance claimed for it waits for its lease to pass");
                }
                _ => {}
            }
        }
        for job in jobs {
            job.answer();
        }
    }

    /// One transaction: the gate pre-read, every write, the insert, the delivered update, the
    /// commit (rolled back on any failure).
    async fn try_batch(&mut self, jobs: &mut [Box<dyn Job>]) -> anyhow::Result<Effects> {
        let dialect = self.dialect;
        let index = self.index.clone();
        let offset_ms = self.clock_offset_ms.load(Ordering::Relaxed);
        let lanes: Vec<Lane> = Lane::ALL
            .into_iter()
            .filter(|&lane| {
                self.lane(lane).is_some() && self.signals.room(lane).load(Ordering::Relaxed)
            })
            .collect();
        // Owned here: the connection below borrows the writer.
        let claims = self.claims.as_ref().map(|claims| {
            (
                claims.instance.clone(),
                claims.lease_ms.load(Ordering::Relaxed),
            )
        });
        let claim = claims.as_ref().map(|(instance, lease_ms)| ClaimNow {
            instance,
            lease_ms: *lease_ms,
            lanes,
            members: self.signals.members(),
        });
        let connection = self.connection().await?;
        let ran = match run_batch(
            dialect,
            index.as_deref(),
            connection.as_mut(),
            jobs,
            offset_ms,
            claim,
        )
        .await
        {
            Ok(effects) if dialect.shares_the_database() => {
                name_changed_sessions(connection.as_mut(), &effects)
                    .await
                    .map(|()| effects)
            }
            ran => ran,
        };
        match ran {
            Ok(effects) => {
                connection.commit().await?;
                if dialect.shares_the_database() {
                    self.tell_other_instances(&effects).await;
                }
                Ok(effects)
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

/// Names the sessions the batch changed to every instance, delivered with the commit (PostgreSQL):
/// each forgets them from its cache of sessions.
async fn name_changed_sessions(
    tx: &mut dyn WriteConnection,
    effects: &Effects,
) -> anyhow::Result<()> {
    let mut ids = String::new();
    for id in cache::changed(&effects.sessions) {
        if !ids.is_empty() && ids.len() + id.as_str().len() >= sql::NOTIFY_BYTES {
            tx.execute(sql::NOTIFY_SESSIONS, &[std::mem::take(&mut ids).into()])
                .await?;
        }
        if !ids.is_empty() {
            ids.push(',');
        }
        ids.push_str(id.as_str());
    }
    if !ids.is_empty() {
        tx.execute(sql::NOTIFY_SESSIONS, &[ids.into()]).await?;
    }
    Ok(())
}

/// A batch's statements inside its transaction.
async fn run_batch(
    dialect: Dialect,
    index: Option<&SessionIndex>,
    tx: &mut dyn WriteConnection,
    jobs: &mut [Box<dyn Job>],
    offset_ms: i64,
    claim: Option<ClaimNow<'_>>,
) -> anyhow::Result<Effects> {
    // Which sessions the writes need open, in one look: the index is exact when this process is
    // the database's only writer; otherwise one look at the table, holding the rows (PostgreSQL).
    let wanted: Vec<SessionId> = jobs
        .iter()
        .filter_map(|job| job.needs_open())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let open = match index {
        Some(index) => {
            tx.begin().await?;
            wanted
                .into_iter()
                .filter(|session| index.is_open(session))
                .collect()
        }
        None => open_sessions(tx, &wanted).await?,
    };
    let mut batch = Batch::new(open, offset_ms);
    for job in jobs.iter_mut() {
        job.apply(tx, &mut batch).await?;
    }
    // Marked before the insert: a queue whose head was just delivered starts again with the new
    // row, which the insert may then claim.
    let delivered = batch.take_delivered();
    let settled = mark_delivered(dialect, tx, &delivered, &batch.now).await?;
    let inserted = insert(dialect, tx, batch.rows(), &batch.now, batch.now_ms, claim).await?;
    let ids: Vec<Option<DeliveryId>> = inserted.iter().map(|row| row.map(|row| row.id)).collect();
    for job in jobs.iter_mut() {
        job.conclude(&ids);
    }
    Ok(batch.into_effects(&inserted, settled))
}

/// Begins the batch's transaction and reads which sessions of `wanted` are open, held against
/// another instance's close until the commit (PostgreSQL: with SQLite the writer's index knows).
///
/// The skill's own ids (UUIDs, nothing to escape) are written into the looks, sent as simple
/// queries, the first with the `BEGIN` in one round trip; planned afresh each time, as a list of
/// ids must be (planned once while the table was nearly empty, it would read the whole table ever
/// after). Any other ids are bound, with the transaction's statements planned afresh.
async fn open_sessions(
    tx: &mut dyn WriteConnection,
    wanted: &[SessionId],
) -> anyhow::Result<HashSet<SessionId>> {
    let mut rows = Vec::new();
    if wanted.is_empty() {
        tx.begin().await?;
    } else if wanted.iter().all(plain_id) {
        for (n, ids) in wanted.chunks(sql::IN_LIST).enumerate() {
            let listed: Vec<String> = ids.iter().map(|id| format!("'{}'", id.as_str())).collect();
            let look = sql::open_sessions_listed(&listed.join(", "));
            rows.extend(match n {
                0 => tx.begin_with(&look).await?,
                _ => tx.query_text(&look).await?,
            });
        }
    } else {
        tx.begin_with(sql::PLAN_EACH_RUN).await?;
        for ids in wanted.chunks(sql::IN_LIST) {
            let params: Vec<Value> = (0..sql::IN_LIST)
                .map(|n| Value::from(ids.get(n).map_or("", |id| id.as_str())))
                .collect();
            rows.extend(tx.query(&statements().open_sessions, &params).await?);
        }
    }
    let mut open = HashSet::new();
    for row in rows {
        if row.text("state")? == "open" {
            open.insert(SessionId::parse(row.text("id")?)?);
        }
    }
    Ok(open)
}

/// An id made only of what a UUID is made of.
fn plain_id(id: &SessionId) -> bool {
    id.as_str()
        .bytes()
        .all(|byte| byte.is_ascii_hexdigit() || byte == b'-')
}

/// How long before it was stored a row stored unclaimed is due (PostgreSQL): each instance keeps
/// time by its own measure of the database's clock (half a round trip, which can be off by some
/// milliseconds under load), and an instance whose measure runs behind the storing one's would
/// find a row it was told of at once not yet due, and take it only at its next poll.
const UNCLAIMED_DUE_EARLY_MS: i64 = 1_000;

/// Most rows in one statement of [`Dialect::insert_deliveries_at_once`].
const ROWS_AT_ONCE: usize = 512;

/// Inserts the batch's rows, in as few statements as the dialect wants: per row, its id and claim
/// or `None` for a taken dedupe key.
async fn insert(
    dialect: Dialect,
    tx: &mut dyn WriteConnection,
    (rows, traces): (&[NewDelivery], &[Option<String>]),
    now: &str,
    due_at_ms: i64,
    claim: Option<ClaimNow<'_>>,
) -> anyhow::Result<Vec<Option<Inserted>>> {
    let mut inserted = Vec::with_capacity(rows.len());
    let Some(statement) = dialect.insert_deliveries_at_once() else {
        for (row, trace) in rows.iter().zip(traces) {
            let params = [
                row.payload.lane().as_str().into(),
                row.payload.queue_key().into(),
                row.dedupe_key.clone().into(),
                encode_payload(&row.payload)?.into(),
                due_at_ms.into(),
                now.into(),
                trace.clone().into(),
            ];
            let returned = tx
                .query(sql::INSERT_DELIVERY, &params)
                .await
                .context("cannot store a delivery")?;
            inserted.extend(inserted_rows(std::slice::from_ref(row), &returned)?);
        }
        return Ok(inserted);
    };
    let (instance, until_ms, lanes, (place, live)) = match &claim {
        Some(claim) => (
            Some(claim.instance),
            due_at_ms + claim.lease_ms,
            claim.lanes.as_slice(),
            claim.members,
        ),
        None => (None, due_at_ms, &[][..], (0, 1)),
    };
    // Only the first row of a queue in the batch may start it.
    let mut queues: HashSet<(Lane, &str)> = HashSet::new();
    for (chunk, traces) in rows.chunks(ROWS_AT_ONCE).zip(traces.chunks(ROWS_AT_ONCE)) {
        let json = chunk
            .iter()
            .zip(traces)
            .map(|(row, trace)| {
                let lane = row.payload.lane();
                let room = lanes.contains(&lane);
                let first = queues.insert((lane, row.payload.queue_key()));
                Ok(serde_json::json!({
                    "lane": lane.as_str(),
                    "queue_key": row.payload.queue_key(),
                    "dedupe_key": row.dedupe_key,
                    "payload": encode_payload(&row.payload)?,
                    "trace_parent": trace,
                    "claimable": room && first,
                }))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let params = [
            serde_json::Value::Array(json).to_string().into(),
            (due_at_ms - UNCLAIMED_DUE_EARLY_MS).into(),
            now.into(),
            until_ms.into(),
            instance.map(str::to_owned).into(),
            i64::from(live).into(),
            i64::from(place).into(),
        ];
        let returned = tx
            .query(statement, &params)
            .await
            .context("cannot store deliveries")?;
        inserted.extend(inserted_rows(chunk, &returned)?);
    }
    Ok(inserted)
}

/// Per row of `chunk`, what its insert `returned` of it, or `None` for a taken dedupe key.
fn inserted_rows(
    chunk: &[NewDelivery],
    returned: &[super::connection::ValueRow],
) -> anyhow::Result<Vec<Option<Inserted>>> {
    // Ids grow in the order of the rows; a keyed row is matched by its key (a key twice in one
    // chunk is stored once), the others take the remaining ids in order.
    let mut keyed: HashMap<String, Inserted> = HashMap::new();
    let mut unkeyed: Vec<(DeliveryId, Option<i64>)> = Vec::new();
    for row in returned {
        let id = DeliveryId(row.int("id")?);
        let claim = match row.optional_text("claimed_by")? {
            Some(_) => Some(row.int("next_attempt_at")?),
            None => None,
        };
        match row.optional_text("dedupe_key")? {
            Some(key) => {
                keyed.insert(key, Inserted { id, claim });
            }
            None => unkeyed.push((id, claim)),
        }
    }
    unkeyed.sort();
    let mut unkeyed = unkeyed.into_iter();
    Ok(chunk
        .iter()
        .map(|row| match &row.dedupe_key {
            Some(key) => keyed.remove(key),
            None => unkeyed.next().map(|(id, claim)| Inserted { id, claim }),
        })
        .collect())
}

/// Marks deliveries done, in as few statements as the dialect wants. Returns whether a queue
/// whose head this was has more waiting, now due (always, when some were marked, on SQLite, whose
/// worker holds its queues itself).
async fn mark_delivered(
    dialect: Dialect,
    tx: &mut dyn WriteConnection,
    delivered: &[DeliveryId],
    now: &str,
) -> anyhow::Result<Vec<(Lane, String)>> {
    if !dialect.marks_at_once() {
        for id in delivered {
            tx.execute(sql::MARK_DELIVERED, &[now.into(), id.0.into()])
                .await?;
        }
        return Ok(Vec::new());
    }
    // Written in, not bound: the time is the batch's own (RFC 3339), the ids are numbers.
    anyhow::ensure!(
        now.bytes()
            .all(|b| b.is_ascii_digit() || b"-:.TZ+".contains(&b)),
        "the batch's time '{now}' is not RFC 3339"
    );
    let mut settled = Vec::new();
    for ids in delivered.chunks(sql::IN_LIST) {
        let listed: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
        let marks = sql::mark_delivered_listed(now, &listed.join(", "));
        for row in tx.query_text(&marks).await? {
            let lane = row.text("lane")?;
            let lane = Lane::parse(&lane).with_context(|| format!("no lane '{lane}'"))?;
            settled.push((lane, row.text("queue_key")?));
        }
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuid_shaped_session_ids_are_written_into_a_statement() {
        let id = |text: &str| SessionId::parse(text).unwrap();
        assert!(plain_id(&id("0b6c2f1e-9a3d-4c1b-8f2e-5d7a9c0e1f23")));
        for odd in ["x' OR '1'='1", "a b", "é", "abc;", "ab\\c"] {
            assert!(!plain_id(&id(odd)), "{odd}");
        }
    }
}
