//! Durable state: conversations, transcripts (agent replies are also the webhook outbox), and the
//! numbered event log that feeds the agents' live updates.
//!
//! One SQLite file, WAL with `synchronous = FULL`, one writing connection (SQLite serialises
//! writers; one rules out `SQLITE_BUSY` on upgrades) and a few read-only ones beside it. Each
//! change and its event are written in one transaction, then the event number is published; one
//! task reads the new events once into memory (`RecentEvents`), where every live stream takes
//! them (a stream further behind reads the table). Keys the caller sends (a start's
//! `idempotencyKey`, a message's `id`) are unique in the table: a repeat answers the first.
//! Adding a reply for the skill also wakes the webhook worker ([`Store::outbox_signal`]), so no
//! caller has to remember to.
//!
//! Transcript entries and conversations are the contract's types ([`livechat_contract::api`]):
//! the live chat's data model is what its API shows.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use std::sync::Arc;

use anyhow::Context;
use chrono::{SecondsFormat, Utc};
use livechat_contract::api::{
    Conversation, ConversationState, ConversationSummary, DeliveryState, EndedBy, EntryKind, Role,
    TranscriptEntry,
};
use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection, SqlitePool};
use tokio::sync::{watch, Notify};
use uuid::Uuid;

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

/// A numbered change for the live streams.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub kind: String,
    pub conversation_id: String,
    pub payload: String,
}

/// Why a message could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddMessageError {
    #[error("no conversation has the id '{0}'")]
    NotFound(String),
    #[error("the conversation '{0}' has ended")]
    Ended(String),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Who asks to end a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum EndingParty {
    /// The agent with this display name, from the page: the skill must be told.
    Agent { name: String },
    /// The skill, through the API: the customer left.
    Customer,
}

/// A transcript entry to add.
struct NewEntry<'a> {
    kind: EntryKind,
    role: Role,
    sender: &'a str,
    body: &'a str,
    /// Agent replies (and the agent's end) are pending delivery to the skill.
    delivery: Option<DeliveryState>,
    /// The caller's id for the message, unique within the conversation.
    client_id: Option<&'a str>,
}

/// An entry just written, and the number of the last event its transaction wrote.
struct Inserted {
    entry: TranscriptEntry,
    last_event: i64,
}

/// What a delivery attempt does to the entry's attempt count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptCount {
    /// One more attempt was made.
    Increment,
    /// A fresh start (the agent retries a failed reply).
    Reset,
}

const SUMMARY_SELECT: &str = "SELECT c.id, c.customer_name, c.state, c.created_at, c.ended_at, c.waiting_since,
        c.customer_id, c.channel, c.tenant_id, c.bot_conversation_id, c.problem_description, c.ended_by,
        (SELECT m.body FROM messages m WHERE m.conversation_id = c.id AND m.kind = 'message' ORDER BY m.seq DESC LIMIT 1) AS last_message,
        (SELECT m.created_at FROM messages m WHERE m.conversation_id = c.id AND m.kind = 'message' ORDER BY m.seq DESC LIMIT 1) AS last_message_at,
        (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.role = 'customer' AND m.seq > c.read_seq) AS unread
    FROM conversations c";

const MESSAGE_COLUMNS: &str =
    "seq, id, conversation_id, kind, role, sender, body, created_at, delivery_state, last_error";

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stored name that must be one of the contract's.
fn named<T>(text: String, parse: fn(&str) -> Option<T>, what: &str) -> anyhow::Result<T> {
    parse(&text).with_context(|| format!("unknown {what} '{text}' in the database"))
}

fn conversation_from_row(row: &SqliteRow) -> anyhow::Result<Conversation> {
    let ended_by: Option<String> = row.try_get("ended_by")?;
    Ok(Conversation {
        summary: ConversationSummary {
            id: row.try_get("id")?,
            customer_name: row.try_get("customer_name")?,
            state: named(row.try_get("state")?, ConversationState::parse, "state")?,
            created_at: row.try_get("created_at")?,
            ended_at: row.try_get("ended_at")?,
            waiting_since: row.try_get("waiting_since")?,
            last_message: row.try_get("last_message")?,
            last_message_at: row.try_get("last_message_at")?,
            unread: row.try_get("unread")?,
        },
        customer_id: row.try_get("customer_id")?,
        channel: row.try_get("channel")?,
        tenant_id: row.try_get("tenant_id")?,
        bot_conversation_id: row.try_get("bot_conversation_id")?,
        problem_description: row.try_get("problem_description")?,
        ended_by: ended_by
            .map(|text| named(text, EndedBy::parse, "ender"))
            .transpose()?,
    })
}

fn entry_from_row(row: &SqliteRow) -> anyhow::Result<TranscriptEntry> {
    let delivery_state: Option<String> = row.try_get("delivery_state")?;
    Ok(TranscriptEntry {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        kind: named(row.try_get("kind")?, EntryKind::parse, "entry kind")?,
        role: named(row.try_get("role")?, Role::parse, "role")?,
        sender: row.try_get("sender")?,
        message: row.try_get("body")?,
        timestamp: row.try_get("created_at")?,
        delivery_state: delivery_state
            .map(|text| named(text, DeliveryState::parse, "delivery state"))
            .transpose()?,
        last_error: row.try_get("last_error")?,
    })
}

async fn conversation_in(
    connection: &mut SqliteConnection,
    id: &str,
) -> anyhow::Result<Option<Conversation>> {
    let row = sqlx::query(&format!("{SUMMARY_SELECT} WHERE c.id = ?"))
        .bind(id)
        .fetch_optional(&mut *connection)
        .await?;
    row.as_ref().map(conversation_from_row).transpose()
}

async fn entry_in(connection: &mut SqliteConnection, seq: i64) -> anyhow::Result<TranscriptEntry> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seq = ?"
    ))
    .bind(seq)
    .fetch_one(&mut *connection)
    .await?;
    entry_from_row(&row)
}

async fn insert_event(
    connection: &mut SqliteConnection,
    kind: &str,
    conversation_id: &str,
    payload: &impl Serialize,
) -> anyhow::Result<i64> {
    let result = sqlx::query(
        "INSERT INTO events (kind, conversation_id, payload, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(kind)
    .bind(conversation_id)
    .bind(serde_json::to_string(payload)?)
    .bind(now())
    .execute(&mut *connection)
    .await?;
    Ok(result.last_insert_rowid())
}

/// Emits the conversation's current summary as an event.
async fn conversation_event(connection: &mut SqliteConnection, id: &str) -> anyhow::Result<i64> {
    let conversation = conversation_in(connection, id)
        .await?
        .context("the conversation vanished")?;
    insert_event(connection, "conversation", id, &conversation.summary).await
}

/// Inserts an entry, updates the waiting time and records the events.
async fn insert_entry(
    connection: &mut SqliteConnection,
    conversation_id: &str,
    entry: NewEntry<'_>,
) -> anyhow::Result<Inserted> {
    let created_at = now();
    let result = sqlx::query(
        "INSERT INTO messages (id, conversation_id, kind, role, sender, body, created_at, delivery_state, next_attempt_at, client_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    // Time-ordered ids (v7): the skill keeps an index of the ids it has seen, which grows at its
    // end instead of at random places.
    .bind(Uuid::now_v7().to_string())
    .bind(conversation_id)
    .bind(entry.kind.as_str())
    .bind(entry.role.as_str())
    .bind(entry.sender)
    .bind(entry.body)
    .bind(&created_at)
    .bind(entry.delivery.map(DeliveryState::as_str))
    .bind(entry.delivery.map(|_| Utc::now().timestamp_millis()))
    .bind(entry.client_id)
    .execute(&mut *connection)
    .await?;
    let stored = entry_in(connection, result.last_insert_rowid()).await?;
    match entry.role {
        Role::Customer => {
            sqlx::query(
                "UPDATE conversations SET waiting_since = COALESCE(waiting_since, ?) WHERE id = ?",
            )
            .bind(&created_at)
            .bind(conversation_id)
            .execute(&mut *connection)
            .await?;
        }
        Role::Agent => {
            // An agent writing has read the conversation and answered the customer.
            sqlx::query("UPDATE conversations SET waiting_since = NULL, read_seq = ? WHERE id = ?")
                .bind(stored.seq)
                .bind(conversation_id)
                .execute(&mut *connection)
                .await?;
        }
        Role::System => {}
    }
    insert_event(connection, "message", conversation_id, &stored).await?;
    let last_event = conversation_event(connection, conversation_id).await?;
    Ok(Inserted {
        entry: stored,
        last_event,
    })
}

/// A reply (or end) waiting for the webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub entry: TranscriptEntry,
    pub attempts: u32,
}

/// Connections that only read.
const READERS: u32 = 4;

/// Events kept in memory for the live updates; a page further behind reads the table.
const RECENT_EVENTS: usize = 4_096;

/// The newest events, in order, and the number of the last one held (followed by the pages).
struct RecentEvents {
    events: std::sync::RwLock<std::collections::VecDeque<Event>>,
    held: watch::Sender<i64>,
}

impl RecentEvents {
    /// The events after `seq` (at most `limit`), when memory covers them.
    fn after(&self, seq: i64, limit: u32) -> Option<Vec<Event>> {
        let events = self
            .events
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let first = events.front()?.seq;
        if seq.saturating_add(1) < first {
            return None;
        }
        let skip = usize::try_from(seq.saturating_add(1) - first).unwrap_or(usize::MAX);
        Some(
            events
                .iter()
                .skip(skip)
                .take(limit as usize)
                .cloned()
                .collect(),
        )
    }

    /// Reads what the table has beyond memory after each commit, until the store is dropped.
    async fn follow(self: Arc<Self>, reader: SqlitePool, mut published: watch::Receiver<i64>) {
        let mut last = *self.held.borrow();
        while published.changed().await.is_ok() {
            loop {
                let batch = match read_events(&reader, last, 1_000).await {
                    Ok(batch) => batch,
                    Err(error) => {
                        tracing::error!(error.cause_chain = ?error, "cannot read new events; the pages read the table instead");
                        break;
                    }
                };
                let Some(newest) = batch.last().map(|event| event.seq) else {
                    break;
                };
                {
                    let mut events = self
                        .events
                        .write()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    events.extend(batch);
                    while events.len() > RECENT_EVENTS {
                        events.pop_front();
                    }
                }
                last = newest;
                self.held.send_replace(last);
            }
        }
    }
}

async fn read_events(pool: &SqlitePool, seq: i64, limit: u32) -> anyhow::Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT seq, kind, conversation_id, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(seq)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Event {
                seq: row.try_get("seq")?,
                kind: row.try_get("kind")?,
                conversation_id: row.try_get("conversation_id")?,
                payload: row.try_get("payload")?,
            })
        })
        .collect()
}

/// The live chat's store.
#[derive(Clone)]
pub struct Store {
    /// The one writing connection.
    pool: SqlitePool,
    /// Readers beside it (WAL lets them read while a write commits): the pages' live updates,
    /// transcripts and the webhook worker's look for due replies do not queue behind writes.
    reader: SqlitePool,
    events: watch::Sender<i64>,
    /// The newest events in memory, for the pages' live updates: one read of the table per
    /// commit feeds every page, instead of one per page.
    recent: Arc<RecentEvents>,
    /// Wakes the webhook worker when a reply becomes due.
    outbox: Arc<Notify>,
}

impl Store {
    /// Opens (creating if needed) `livechat.db` in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "cannot create the data directory {} (LIVECHAT_DATA_DIR)",
                data_dir.display()
            )
        })?;
        let path = data_dir.join("livechat.db");
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("cannot migrate the database schema")?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await
            .with_context(|| format!("cannot open the database {} to read", path.display()))?;
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) AS last FROM events")
            .fetch_one(&pool)
            .await?
            .try_get("last")?;
        let (events, _) = watch::channel(last.unwrap_or(0));
        let recent = Arc::new(RecentEvents {
            events: std::sync::RwLock::new(std::collections::VecDeque::new()),
            held: watch::channel(last.unwrap_or(0)).0,
        });
        tokio::spawn(recent.clone().follow(reader.clone(), events.subscribe()));
        Ok(Self {
            pool,
            reader,
            events,
            recent,
            outbox: Arc::new(Notify::new()),
        })
    }

    /// Notified whenever a reply (or an agent's end) is queued for the skill.
    pub fn outbox_signal(&self) -> &Notify {
        &self.outbox
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Follows the number of the newest event [`Store::events_since`] has in memory.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.recent.held.subscribe()
    }

    pub fn last_event_seq(&self) -> i64 {
        *self.events.borrow()
    }

    fn published(&self, seq: i64) {
        self.events.send_if_modified(|current| {
            let newer = seq > *current;
            if newer {
                *current = seq;
            }
            newer
        });
    }

    /// Opens a conversation; with an idempotency key seen before, answers that key's conversation
    /// instead (in whatever state it is now) and writes nothing.
    pub async fn start_conversation(
        &self,
        context: NewConversation,
    ) -> anyhow::Result<Recorded<Conversation>> {
        let mut transaction = self.pool.begin().await?;
        if let Some(key) = &context.idempotency_key {
            let known: Option<String> =
                sqlx::query("SELECT id FROM conversations WHERE idempotency_key = ?")
                    .bind(key)
                    .fetch_optional(&mut *transaction)
                    .await?
                    .map(|row| row.try_get("id"))
                    .transpose()?;
            if let Some(id) = known {
                let conversation = conversation_in(&mut transaction, &id)
                    .await?
                    .context("the conversation vanished")?;
                return Ok(Recorded {
                    value: conversation,
                    created: false,
                });
            }
        }
        let id = Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO conversations (id, customer_name, customer_id, channel, tenant_id, bot_conversation_id, problem_description, state, created_at, idempotency_key)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
        )
        .bind(&id)
        .bind(&context.customer_name)
        .bind(&context.customer_id)
        .bind(&context.channel)
        .bind(&context.tenant_id)
        .bind(&context.bot_conversation_id)
        .bind(&context.problem_description)
        .bind(now())
        .bind(&context.idempotency_key)
        .execute(&mut *transaction)
        .await?;
        let seq = conversation_event(&mut transaction, &id).await?;
        let conversation = conversation_in(&mut transaction, &id)
            .await?
            .context("the new conversation vanished")?;
        transaction.commit().await?;
        self.published(seq);
        Ok(Recorded {
            value: conversation,
            created: true,
        })
    }

    pub async fn conversation(&self, id: &str) -> anyhow::Result<Option<Conversation>> {
        let mut connection = self.reader.acquire().await?;
        conversation_in(&mut connection, id).await
    }

    /// Open conversations first (longest waiting first), then the 100 most recently ended.
    pub async fn list_conversations(&self) -> anyhow::Result<Vec<Conversation>> {
        let open = sqlx::query(&format!("{SUMMARY_SELECT} WHERE c.state = 'open' ORDER BY COALESCE(c.waiting_since, '9999'), c.created_at"))
            .fetch_all(&self.reader)
            .await?;
        let ended = sqlx::query(&format!(
            "{SUMMARY_SELECT} WHERE c.state = 'ended' ORDER BY c.ended_at DESC LIMIT 100"
        ))
        .fetch_all(&self.reader)
        .await?;
        open.iter()
            .chain(ended.iter())
            .map(conversation_from_row)
            .collect()
    }

    /// Adds a customer or system message from the skill. With a `client_id` stored before in
    /// this conversation, answers that message (even if the conversation has ended since) and
    /// writes nothing.
    pub async fn add_customer_message(
        &self,
        conversation_id: &str,
        role: Role,
        sender: &str,
        body: &str,
        client_id: Option<&str>,
    ) -> Result<Recorded<TranscriptEntry>, AddMessageError> {
        let entry = NewEntry {
            kind: EntryKind::Message,
            role,
            sender,
            body,
            delivery: None,
            client_id,
        };
        self.add_entry(conversation_id, entry).await
    }

    /// Adds an agent's reply, pending delivery to the skill.
    pub async fn add_agent_message(
        &self,
        conversation_id: &str,
        sender: &str,
        body: &str,
    ) -> Result<TranscriptEntry, AddMessageError> {
        let entry = NewEntry {
            kind: EntryKind::Message,
            role: Role::Agent,
            sender,
            body,
            delivery: Some(DeliveryState::Pending),
            client_id: None,
        };
        let stored = self.add_entry(conversation_id, entry).await?;
        self.outbox.notify_one();
        Ok(stored.value)
    }

    async fn add_entry(
        &self,
        conversation_id: &str,
        entry: NewEntry<'_>,
    ) -> Result<Recorded<TranscriptEntry>, AddMessageError> {
        let mut transaction = self.pool.begin().await.map_err(anyhow::Error::from)?;
        if let Some(client_id) = entry.client_id {
            let known = sqlx::query(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND client_id = ?"
            ))
            .bind(conversation_id)
            .bind(client_id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(anyhow::Error::from)?;
            if let Some(row) = known {
                return Ok(Recorded {
                    value: entry_from_row(&row)?,
                    created: false,
                });
            }
        }
        let state: Option<String> = sqlx::query("SELECT state FROM conversations WHERE id = ?")
            .bind(conversation_id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(anyhow::Error::from)?
            .map(|row| row.try_get("state"))
            .transpose()
            .map_err(anyhow::Error::from)?;
        match state.as_deref().and_then(ConversationState::parse) {
            None => return Err(AddMessageError::NotFound(conversation_id.to_owned())),
            Some(ConversationState::Ended) => {
                return Err(AddMessageError::Ended(conversation_id.to_owned()))
            }
            Some(ConversationState::Open) => {}
        }
        let inserted = insert_entry(&mut transaction, conversation_id, entry).await?;
        transaction.commit().await.map_err(anyhow::Error::from)?;
        self.published(inserted.last_event);
        Ok(Recorded {
            value: inserted.entry,
            created: true,
        })
    }

    /// Ends an open conversation; false when it had ended already. When the agent ends it, an
    /// `ended` entry is queued so that the skill is told (after any reply still pending).
    pub async fn end_conversation(
        &self,
        conversation_id: &str,
        by: EndingParty,
    ) -> Result<bool, AddMessageError> {
        let mut transaction = self.pool.begin().await.map_err(anyhow::Error::from)?;
        let exists = sqlx::query("SELECT 1 FROM conversations WHERE id = ?")
            .bind(conversation_id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(anyhow::Error::from)?;
        if exists.is_none() {
            return Err(AddMessageError::NotFound(conversation_id.to_owned()));
        }
        let ended_by = match &by {
            EndingParty::Agent { .. } => EndedBy::Agent,
            EndingParty::Customer => EndedBy::Customer,
        };
        let result = sqlx::query("UPDATE conversations SET state = 'ended', ended_by = ?, ended_at = ?, waiting_since = NULL WHERE id = ? AND state = 'open'")
            .bind(ended_by.as_str())
            .bind(now())
            .bind(conversation_id)
            .execute(&mut *transaction)
            .await
            .map_err(anyhow::Error::from)?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        let seq = match &by {
            EndingParty::Agent { name } => {
                let body = format!("{name} ended the conversation.");
                let entry = NewEntry {
                    kind: EntryKind::Ended,
                    role: Role::System,
                    sender: name,
                    body: &body,
                    delivery: Some(DeliveryState::Pending),
                    client_id: None,
                };
                insert_entry(&mut transaction, conversation_id, entry)
                    .await?
                    .last_event
            }
            EndingParty::Customer => conversation_event(&mut transaction, conversation_id).await?,
        };
        transaction.commit().await.map_err(anyhow::Error::from)?;
        self.published(seq);
        if matches!(by, EndingParty::Agent { .. }) {
            self.outbox.notify_one();
        }
        Ok(true)
    }

    /// The transcript, oldest first; `None` for an unknown conversation.
    pub async fn messages(
        &self,
        conversation_id: &str,
    ) -> anyhow::Result<Option<Vec<TranscriptEntry>>> {
        // Existence only: the summary query behind `conversation()` is more than this needs.
        let exists = sqlx::query("SELECT 1 FROM conversations WHERE id = ?")
            .bind(conversation_id)
            .fetch_optional(&self.reader)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY seq"
        ))
        .bind(conversation_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(Some(
            rows.iter()
                .map(entry_from_row)
                .collect::<anyhow::Result<_>>()?,
        ))
    }

    /// The messages of every open conversation, oldest first.
    pub async fn open_messages(&self) -> anyhow::Result<Vec<TranscriptEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE state = 'open') ORDER BY seq"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Records that an agent has seen the conversation up to now.
    pub async fn mark_read(&self, conversation_id: &str) -> anyhow::Result<()> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query("UPDATE conversations SET read_seq = (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?) WHERE id = ? AND read_seq < (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?)")
            .bind(conversation_id)
            .bind(conversation_id)
            .bind(conversation_id)
            .execute(&mut *transaction)
            .await?;
        if result.rows_affected() == 0 {
            return Ok(());
        }
        let seq = conversation_event(&mut transaction, conversation_id).await?;
        transaction.commit().await?;
        self.published(seq);
        Ok(())
    }

    /// The oldest pending entry of each conversation that is due, skipping `busy` conversations.
    pub async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
        busy: &[String],
    ) -> anyhow::Result<Vec<PendingDelivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS}, attempts FROM messages d
             WHERE d.delivery_state = 'pending' AND d.next_attempt_at <= ?
               AND d.seq = (SELECT MIN(h.seq) FROM messages h WHERE h.conversation_id = d.conversation_id AND h.delivery_state = 'pending')
             ORDER BY d.seq LIMIT ?"
        ))
        .bind(now_ms)
        .bind(i64::from(limit) + busy.len() as i64)
        .fetch_all(&self.reader)
        .await?;
        let mut due = Vec::new();
        for row in &rows {
            let entry = entry_from_row(row)?;
            if !busy.contains(&entry.conversation_id) && due.len() < limit as usize {
                let attempts =
                    u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX);
                due.push(PendingDelivery { entry, attempts });
            }
        }
        Ok(due)
    }

    /// When the next pending entry falls due, if any.
    pub async fn next_due_at(&self) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at) AS due FROM messages WHERE delivery_state = 'pending'",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get("due")?)
    }

    async fn set_delivery(
        &self,
        seq: i64,
        state: DeliveryState,
        next_attempt_at: Option<i64>,
        error: Option<&str>,
        attempts: AttemptCount,
    ) -> anyhow::Result<TranscriptEntry> {
        let mut transaction = self.pool.begin().await?;
        let previous: Option<String> =
            sqlx::query("SELECT delivery_state FROM messages WHERE seq = ?")
                .bind(seq)
                .fetch_one(&mut *transaction)
                .await?
                .try_get("delivery_state")?;
        sqlx::query("UPDATE messages SET delivery_state = ?, next_attempt_at = ?, last_error = ?, attempts = CASE WHEN ? THEN attempts + 1 ELSE 0 END WHERE seq = ?")
            .bind(state.as_str())
            .bind(next_attempt_at)
            .bind(error)
            .bind(attempts == AttemptCount::Increment)
            .bind(seq)
            .execute(&mut *transaction)
            .await?;
        let message = entry_in(&mut transaction, seq).await?;
        let event = if previous.as_deref() != Some(state.as_str()) || error.is_some() {
            Some(
                insert_event(
                    &mut transaction,
                    "delivery",
                    &message.conversation_id,
                    &message,
                )
                .await?,
            )
        } else {
            None
        };
        transaction.commit().await?;
        if let Some(event) = event {
            self.published(event);
        }
        Ok(message)
    }

    pub async fn mark_delivered(&self, seq: i64) -> anyhow::Result<()> {
        self.set_delivery(
            seq,
            DeliveryState::Delivered,
            None,
            None,
            AttemptCount::Increment,
        )
        .await
        .map(drop)
    }

    pub async fn schedule_retry(
        &self,
        seq: i64,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> anyhow::Result<()> {
        self.set_delivery(
            seq,
            DeliveryState::Pending,
            Some(next_attempt_at_ms),
            Some(error),
            AttemptCount::Increment,
        )
        .await
        .map(drop)
    }

    pub async fn mark_failed(&self, seq: i64, error: &str) -> anyhow::Result<()> {
        self.set_delivery(
            seq,
            DeliveryState::Failed,
            None,
            Some(error),
            AttemptCount::Increment,
        )
        .await
        .map(drop)
    }

    /// Puts a failed reply back in the queue; `None` when the message is not a failed one.
    pub async fn retry_failed(&self, message_id: &str) -> anyhow::Result<Option<TranscriptEntry>> {
        let row =
            sqlx::query("SELECT seq FROM messages WHERE id = ? AND delivery_state = 'failed'")
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get("seq")?;
        let message = self
            .set_delivery(
                seq,
                DeliveryState::Pending,
                Some(Utc::now().timestamp_millis()),
                None,
                AttemptCount::Reset,
            )
            .await?;
        self.outbox.notify_one();
        Ok(Some(message))
    }

    /// Unread customer messages across the open conversations (the tab title's count).
    pub async fn unread_total(&self) -> anyhow::Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS unread FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.state = 'open' AND m.role = 'customer' AND m.seq > c.read_seq",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get("unread")?)
    }

    /// Events after `seq`, oldest first, at most `limit`: from memory when it covers them.
    pub async fn events_since(&self, seq: i64, limit: u32) -> anyhow::Result<Vec<Event>> {
        match self.recent.after(seq, limit) {
            Some(events) => Ok(events),
            None => read_events(&self.reader, seq, limit).await,
        }
    }
}
