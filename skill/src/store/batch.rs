//! One transaction of the group-commit writer, and the one trait every kind of write implements.
//!
//! A write ([`Write`]) runs its statements on the transaction with [`Write::apply`] and may queue
//! deliveries in the [`Batch`] it shares with the other writes of the transaction: the writer then
//! inserts every queued row in one go (multi-row statements where the database wants them), and a
//! write that queued rows is answered with their ids.
//! The batch also carries what the writes read and change together: the time of the transaction,
//! which sessions were open when it began (read once for all of them), and the changes to make
//! outside the database once it commits (the session index, the lanes' workers).
//!
//! A new kind of write is one type implementing [`Write`] (in `jobs/`) and one `Store` method.

use std::collections::HashSet;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::connection::WriteConnection;
use super::index::SessionChange;
use super::model::{Delivery, NewDelivery};
use crate::domain::{DeliveryId, Lane, Session, SessionId};

/// Where a write's answer goes once its transaction is committed.
pub type Reply<T> = oneshot::Sender<anyhow::Result<T>>;

/// One kind of write.
#[async_trait]
pub trait Write: Send + Sync + 'static {
    /// What the caller is answered after the commit.
    type Answer: Send + 'static;

    /// The session whose being open decides what this write does; the writer reads every
    /// write's session at once before any of them runs ([`Batch::is_open`]).
    fn needs_open(&self) -> Option<&SessionId> {
        None
    }

    /// Runs the write's statements in the open transaction.
    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<Self::Answer>>;
}

/// What [`Write::apply`] came to.
pub enum Applied<A> {
    /// The answer, now.
    Done(A),
    /// The answer once the rows queued with [`Batch::queue`] are inserted: made from their ids
    /// (`None` where a row's dedupe key was taken).
    Rows(Ticket, fn(Vec<Option<DeliveryId>>) -> A),
}

/// Which of the batch's queued rows are one write's.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    start: usize,
    len: usize,
}

/// What the writes of one transaction share.
pub struct Batch {
    /// The transaction's time, as the tables write it.
    pub now: String,
    /// The same time in Unix milliseconds (when stored deliveries fall due).
    pub now_ms: i64,
    /// Of the sessions the writes asked about, those open (kept as writes open and close them).
    open: HashSet<SessionId>,
    /// Deliveries to insert once every write has run, in order.
    rows: Vec<NewDelivery>,
    /// Each row's trace context: that of the request whose write queued it, so its send later
    /// continues that request's trace (`None` unless traces are exported).
    traces: Vec<Option<String>>,
    /// The trace context of the write being applied.
    trace: Option<String>,
    /// Deliveries whose delivery succeeded, marked in as few statements as the dialect wants.
    delivered: Vec<DeliveryId>,
    /// Changes to the in-memory session index, applied after the commit.
    sessions: Vec<SessionChange>,
}

impl Batch {
    /// A batch beginning now, in which `open` are the open ones of the sessions its writes need;
    /// its deliveries fall due by the store's clock, `offset_ms` ahead of this machine's
    /// (PostgreSQL's, which the workers compare them with).
    pub fn new(open: HashSet<SessionId>, offset_ms: i64) -> Batch {
        let now = chrono::Utc::now();
        Batch {
            now: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            now_ms: now.timestamp_millis() + offset_ms,
            open,
            rows: Vec::new(),
            traces: Vec::new(),
            trace: None,
            delivered: Vec::new(),
            sessions: Vec::new(),
        }
    }

    /// Whether the session was open when the batch began, as the writes before changed it since.
    pub fn is_open(&self, session: &SessionId) -> bool {
        self.open.contains(session)
    }

    /// A session was created or changed and is live: the index learns it after the commit.
    pub fn session_live(&mut self, session: Session) {
        if session.is_open() {
            self.open.insert(session.id.clone());
        }
        self.sessions.push(SessionChange::Live(session));
    }

    /// A session closed (or was abandoned).
    pub fn session_gone(&mut self, session: &SessionId) {
        self.open.remove(session);
        self.sessions.push(SessionChange::Gone(session.clone()));
    }

    /// Any other change for the index.
    pub fn session_changed(&mut self, change: SessionChange) {
        self.sessions.push(change);
    }

    /// Queues deliveries for the batch's insert.
    pub fn queue(&mut self, rows: Vec<NewDelivery>) -> Ticket {
        let ticket = Ticket {
            start: self.rows.len(),
            len: rows.len(),
        };
        self.traces
            .extend(std::iter::repeat_n(self.trace.clone(), rows.len()));
        self.rows.extend(rows);
        ticket
    }

    /// A delivery was delivered.
    pub fn delivered(&mut self, delivery: DeliveryId) {
        self.delivered.push(delivery);
    }

    /// The queued rows and their trace contexts, for the writer's insert.
    pub(super) fn rows(&self) -> (&[NewDelivery], &[Option<String>]) {
        (&self.rows, &self.traces)
    }

    /// The delivered deliveries, for the writer's update.
    pub(super) fn take_delivered(&mut self) -> Vec<DeliveryId> {
        std::mem::take(&mut self.delivered)
    }

    /// What the committed batch changes outside the database: the index's changes, and the new
    /// deliveries (those whose row was inserted) in id order, with their claims.
    pub(super) fn into_effects(
        self,
        inserted: &[Option<Inserted>],
        settled: Vec<(Lane, String)>,
    ) -> Effects {
        let now_ms = self.now_ms;
        let deliveries = self
            .rows
            .into_iter()
            .zip(self.traces)
            .zip(inserted)
            .filter_map(|((row, trace), inserted)| {
                inserted.map(|inserted| Delivery {
                    id: inserted.id,
                    lane: row.payload.lane(),
                    queue_key: row.payload.queue_key().to_owned(),
                    payload: Ok(row.payload),
                    attempts: 0,
                    // Claimed means due: the row's time is the claim's lease, which fences the
                    // outcome.
                    due_at_ms: if inserted.claim.is_some() { 0 } else { now_ms },
                    created_at_ms: now_ms,
                    claim: inserted.claim,
                    trace,
                })
            })
            .collect();
        Effects {
            sessions: self.sessions,
            deliveries,
            settled,
        }
    }
}

/// A row the batch's insert stored.
#[derive(Debug, Clone, Copy)]
pub struct Inserted {
    pub id: DeliveryId,
    /// Claimed by the insert itself (PostgreSQL): the lease's end, which fences its outcome.
    pub claim: Option<i64>,
}

/// What a committed batch changes outside the database.
#[derive(Default)]
pub struct Effects {
    pub sessions: Vec<SessionChange>,
    pub deliveries: Vec<Delivery>,
    /// The queues whose heads were delivered (PostgreSQL): their next heads are due now.
    pub settled: Vec<(Lane, String)>,
}

/// A write as the writer's queue holds it: type-erased, with its reply (none for a write nobody
/// waits for, such as a delivery's outcome).
pub trait Job: Send {
    /// Nobody waits for it: it may wait a little for company.
    fn is_lazy(&self) -> bool;
    fn needs_open(&self) -> Option<SessionId>;
    fn apply<'a>(
        &'a mut self,
        tx: &'a mut dyn WriteConnection,
        batch: &'a mut Batch,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
    /// After the batch's insert: `ids` are the ids of every queued row, in order.
    fn conclude(&mut self, ids: &[Option<DeliveryId>]);
    /// After the commit.
    fn answer(self: Box<Self>);
    /// The batch (or this write alone) failed.
    fn fail(self: Box<Self>, error: &str);
}

/// A [`Write`] waiting in the writer's queue.
pub struct Queued<W: Write> {
    write: W,
    /// The trace context of whoever asked for the write.
    trace: Option<String>,
    reply: Option<Reply<W::Answer>>,
    applied: Option<Applied<W::Answer>>,
    answer: Option<W::Answer>,
}

impl<W: Write> Queued<W> {
    pub fn boxed(write: W, reply: Option<Reply<W::Answer>>) -> Box<dyn Job> {
        Box::new(Self {
            write,
            trace: service_support::trace_context::current(),
            reply,
            applied: None,
            answer: None,
        })
    }
}

impl<W: Write> Job for Queued<W> {
    fn is_lazy(&self) -> bool {
        self.reply.is_none()
    }

    fn needs_open(&self) -> Option<SessionId> {
        self.write.needs_open().cloned()
    }

    fn apply<'a>(
        &'a mut self,
        tx: &'a mut dyn WriteConnection,
        batch: &'a mut Batch,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            batch.trace = self.trace.clone();
            self.applied = Some(self.write.apply(tx, batch).await?);
            Ok(())
        })
    }

    fn conclude(&mut self, ids: &[Option<DeliveryId>]) {
        self.answer = match self.applied.take() {
            Some(Applied::Done(answer)) => Some(answer),
            Some(Applied::Rows(ticket, answer)) => Some(answer(
                ids.get(ticket.start..ticket.start + ticket.len)
                    .map(<[_]>::to_vec)
                    .unwrap_or_default(),
            )),
            None => None,
        };
    }

    fn answer(self: Box<Self>) {
        if let Some(reply) = self.reply {
            let answer = self
                .answer
                .ok_or_else(|| anyhow::anyhow!("the writer gave no answer"));
            let _ = reply.send(answer);
        }
    }

    fn fail(self: Box<Self>, error: &str) {
        if let Some(reply) = self.reply {
            let _ = reply.send(Err(anyhow::anyhow!("{error}")));
        }
    }
}
