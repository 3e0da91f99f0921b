//! Group commit: one task owns the writing connection. Every write waiting when it looks goes into
//! one transaction, and all their callers are answered after the one commit: one fsync for as many
//! writes as arrived together, instead of one each. A write refused before it wrote anything (an
//! unknown or ended conversation) leaves the others be; a failure of the store itself rolls the
//! whole batch back and every caller in it hears so: nothing half-written is ever committed.
//! After the commit, and before any caller hears of it, the events the writes recorded go to the
//! live updates in memory and the webhook worker is woken if a reply was queued.

use std::sync::Arc;

use anyhow::anyhow;
use futures_util::future::BoxFuture;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot, Notify};

use super::model::{AddMessageError, Event, RoutingError};
use super::recent::RecentEvents;

/// Writes taken into one transaction at most.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer at most; callers beyond wait for room.
const QUEUE: usize = 4_096;

/// What a write did, besides its answer: the events it recorded and whether it queued a reply
/// (or an end) for the webhook.
pub struct Written<T> {
    pub value: T,
    pub events: Vec<Event>,
    pub outbox: bool,
}

impl<T> Written<T> {
    /// A write that recorded no event (or a repeat that wrote nothing).
    pub fn quiet(value: T) -> Self {
        Self {
            value,
            events: Vec::new(),
            outbox: false,
        }
    }

    /// A write that recorded `events` and queued nothing for the webhook.
    pub fn with_events(value: T, events: Vec<Event>) -> Self {
        Self {
            value,
            events,
            outbox: false,
        }
    }

    /// The same write answering `change(value)`.
    pub fn map<U>(self, change: impl FnOnce(T) -> U) -> Written<U> {
        Written {
            value: change(self.value),
            events: self.events,
            outbox: self.outbox,
        }
    }
}

/// An error a write answers with: a refusal decided before it wrote anything, or a failure of the
/// store after which the write may be half done.
pub trait WriteError: From<anyhow::Error> + std::fmt::Display + Send + 'static {
    fn wrote_nothing(&self) -> bool;
}

impl WriteError for anyhow::Error {
    fn wrote_nothing(&self) -> bool {
        false
    }
}

impl WriteError for AddMessageError {
    fn wrote_nothing(&self) -> bool {
        // The refusals are decided by the first read, before anything is written.
        !matches!(self, Self::Store(_))
    }
}

impl WriteError for RoutingError {
    fn wrote_nothing(&self) -> bool {
        // Every refusal is decided by reads before the first write.
        !matches!(self, Self::Store(_))
    }
}

/// One caller's write, type-erased for the queue.
trait Job: Send {
    fn run<'c>(self: Box<Self>, connection: &'c mut SqliteConnection) -> BoxFuture<'c, Ran>;
    /// Answers the caller without running: the batch could not be opened, or broke before it.
    fn refuse(self: Box<Self>, why: &anyhow::Error);
}

/// Answers one caller, given why the batch was not committed (if it was not).
type Answer = Box<dyn FnOnce(Option<&anyhow::Error>) + Send>;

/// What a write did inside the open transaction.
enum Did {
    /// It wrote: the events it recorded and whether it queued a reply for the webhook.
    Wrote(Vec<Event>, bool),
    /// It was refused before writing anything.
    Refused,
    /// The store failed under it (why): the transaction must not be committed.
    Broken(String),
}

/// A write done inside the open transaction, and how to answer its caller once the commit's fate
/// is known.
struct Ran {
    did: Did,
    answer: Answer,
}

type Operation<T, E> = Box<
    dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<Written<T>, E>> + Send,
>;

struct Pending<T, E> {
    operation: Operation<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
    /// The trace context of whoever asked for the write ([`write_trace`] inside it).
    trace: Option<String>,
}

tokio::task_local! {
    static WRITE_TRACE: Option<String>;
}

/// The trace context of the request whose write is running (when traces are exported): stored
/// with an outbox entry, so that its delivery continues that request's trace.
pub fn write_trace() -> Option<String> {
    WRITE_TRACE.try_with(Clone::clone).ok().flatten()
}

impl<T, E> Job for Pending<T, E>
where
    T: Send + 'static,
    E: WriteError,
{
    fn run<'c>(self: Box<Self>, connection: &'c mut SqliteConnection) -> BoxFuture<'c, Ran> {
        let Pending {
            operation,
            reply,
            trace,
        } = *self;
        Box::pin(async move {
            match WRITE_TRACE.scope(trace, operation(connection)).await {
                Ok(written) => Ran {
                    did: Did::Wrote(written.events, written.outbox),
                    answer: Box::new(move |commit_failed: Option<&anyhow::Error>| {
                        let answer = match commit_failed {
                            None => Ok(written.value),
                            Some(error) => Err(E::from(anyhow!(
                                "the write could not be committed: {error:#}"
                            ))),
                        };
                        let _ = reply.send(answer);
                    }),
                },
                Err(error) => Ran {
                    did: if error.wrote_nothing() {
                        Did::Refused
                    } else {
                        Did::Broken(format!("{error:#}"))
                    },
                    answer: Box::new(move |_| {
                        let _ = reply.send(Err(error));
                    }),
                },
            }
        })
    }

    fn refuse(self: Box<Self>, why: &anyhow::Error) {
        let error = E::from(anyhow!("the write could not be run: {why:#}"));
        let _ = self.reply.send(Err(error));
    }
}

/// The queue into the writer task.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer task on `connection`; it stops when the last `Writer` is dropped.
    pub fn start(
        connection: SqliteConnection,
        recent: Arc<RecentEvents>,
        outbox: Arc<Notify>,
    ) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(connection, queue, recent, outbox));
        Self { jobs }
    }

    /// Runs `operation` in the next transaction and answers once that has been committed.
    pub async fn write<T, E>(
        &self,
        operation: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<Written<T>, E>>
            + Send
            + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: WriteError,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Pending {
            operation: Box::new(operation),
            reply,
            trace: service_support::trace_context::current(),
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| E::from(anyhow!("the store's writer has stopped")))?;
        answer
            .await
            .map_err(|_| E::from(anyhow!("the store's writer stopped before answering")))?
    }
}

async fn run(
    mut connection: SqliteConnection,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    recent: Arc<RecentEvents>,
    outbox: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let writes = batch.len();
        let (answers, outcome) = commit(&mut connection, batch.drain(..)).await;
        match outcome {
            Ok((events, wake_outbox)) => {
                recent.push(events);
                if wake_outbox {
                    outbox.notify_one();
                }
                for answer in answers {
                    answer(None);
                }
            }
            Err(error) => {
                tracing::error!(error.cause_chain = ?error, writes, "cannot commit a batch of writes; none of them was kept");
                for answer in answers {
                    answer(Some(&error));
                }
            }
        }
    }
    let _ = connection.close().await;
}

/// Runs `batch` in one transaction: each write's answer, and what the batch changed once it is
/// committed (or why nothing was).
async fn commit(
    connection: &mut SqliteConnection,
    mut batch: impl ExactSizeIterator<Item = Box<dyn Job>>,
) -> (Vec<Answer>, anyhow::Result<(Vec<Event>, bool)>) {
    let mut answers = Vec::with_capacity(batch.len());
    let mut transaction = match connection.begin().await {
        Ok(transaction) => transaction,
        Err(error) => {
            // Nothing ran: each caller hears why.
            let error = anyhow::Error::from(error);
            batch.for_each(|job| job.refuse(&error));
            return (answers, Err(error));
        }
    };
    let mut events = Vec::new();
    let mut wake_outbox = false;
    for job in batch.by_ref() {
        let ran = job.run(&mut transaction).await;
        answers.push(ran.answer);
        match ran.did {
            Did::Wrote(written, queued) => {
                events.extend(written);
                wake_outbox |= queued;
            }
            Did::Refused => {}
            Did::Broken(why) => {
                let error = anyhow!("a write in the batch failed in the store: {why}");
                // The writes after it have not run; they hear why at once.
                batch.for_each(|job| job.refuse(&error));
                let _ = transaction.rollback().await;
                return (answers, Err(error));
            }
        }
    }
    match transaction.commit().await {
        Ok(()) => (answers, Ok((events, wake_outbox))),
        Err(error) => (answers, Err(error.into())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sqlx::{ConnectOptions, Row};

    use super::*;
    use crate::store::model::{AddMessageError, ConversationId};

    async fn writer() -> (Writer, tempfile::TempDir) {
        let directory = tempfile::tempdir().unwrap();
        let connection = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(directory.path().join("test.db"))
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        let writer = Writer::start(
            connection,
            Arc::new(RecentEvents::after_table(0)),
            Arc::new(Notify::new()),
        );
        writer
            .write(|connection| {
                Box::pin(async move {
                    sqlx::query("CREATE TABLE t (x INTEGER NOT NULL)")
                        .execute(&mut *connection)
                        .await?;
                    anyhow::Ok(Written::quiet(()))
                })
            })
            .await
            .unwrap();
        (writer, directory)
    }

    async fn insert(writer: &Writer, x: i64) -> Result<(), AddMessageError> {
        writer
            .write(move |connection| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (x) VALUES (?)")
                        .bind(x)
                        .execute(&mut *connection)
                        .await
                        .map_err(anyhow::Error::from)?;
                    Ok(Written::quiet(()))
                })
            })
            .await
    }

    async fn stored(writer: &Writer) -> Vec<i64> {
        writer
            .write(|connection| {
                Box::pin(async move {
                    let rows = sqlx::query("SELECT x FROM t ORDER BY x")
                        .fetch_all(&mut *connection)
                        .await?;
                    let values = rows.iter().map(|row| row.get::<i64, _>("x")).collect();
                    anyhow::Ok(Written::quiet(values))
                })
            })
            .await
            .unwrap()
    }

    // On the current-thread runtime the writer runs only when the test awaits, so writes started
    // together are all queued before it looks: one batch.

    #[tokio::test]
    async fn a_refused_write_leaves_the_rest_of_its_batch() {
        let (writer, _directory) = writer().await;
        let refused = writer.write(|_| {
            Box::pin(async move {
                Err::<Written<()>, _>(AddMessageError::NotFound(
                    ConversationId::parse("nobody").unwrap(),
                ))
            })
        });
        let (first, second, third) = tokio::join!(insert(&writer, 1), refused, insert(&writer, 3));
        assert!(first.is_ok() && third.is_ok(), "{first:?} {third:?}");
        assert!(
            matches!(second, Err(AddMessageError::NotFound(_))),
            "{second:?}"
        );
        assert_eq!(stored(&writer).await, vec![1, 3]);
    }

    #[tokio::test]
    async fn a_store_failure_rolls_back_its_whole_batch_and_every_caller_hears() {
        let (writer, _directory) = writer().await;
        let broken = writer.write(|connection| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (x) VALUES (2)")
                    .execute(&mut *connection)
                    .await?;
                sqlx::query("INSERT INTO missing_table (x) VALUES (2)")
                    .execute(&mut *connection)
                    .await?;
                anyhow::Ok(Written::quiet(()))
            })
        });
        let (first, second, third) = tokio::join!(insert(&writer, 1), broken, insert(&writer, 3));
        assert!(matches!(first, Err(AddMessageError::Store(_))), "{first:?}");
        assert!(second.is_err());
        assert!(matches!(third, Err(AddMessageError::Store(_))), "{third:?}");
        assert_eq!(
            stored(&writer).await,
            Vec::<i64>::new(),
            "nothing half-written"
        );
        insert(&writer, 4).await.unwrap();
        assert_eq!(stored(&writer).await, vec![4], "the writer goes on");
    }
}
