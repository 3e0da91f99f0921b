//! Durable state: conversations, transcripts (agent replies are also the webhook outbox), and the
//! numbered event log that feeds the agents' live updates.
//!
//! One SQLite file, WAL with `synchronous = FULL`. Every write goes through one writing
//! connection owned by the writer task (`writer.rs`), which commits what arrives together in one
//! transaction; a few read-only connections read beside it. Each change and its events are
//! written in the same transaction; after the commit the writer hands the events to memory
//! (`recent.rs`), where every live stream takes them, and wakes the webhook worker
//! ([`Store::outbox_signal`]) when a reply was queued, so no caller has to remember to. Keys the
//! caller sends (a start's `idempotencyKey`, a message's `id`) are unique in the table: a repeat
//! answers the first.
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
    Availability, Conversation, ConversationState, ConversationStatus, ConversationSummary,
    DeliveryState, EndedBy, EntryKind, Role, TranscriptEntry,
};
use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{watch, Notify};

mod recent;
mod routing;
mod writer;

pub use routing::{
    AgentState, ConfiguredAgent, Presence, QueuePlace, RoutingError, Started, TransferTarget,
};

use recent::RecentEvents;
use uuid::Uuid;
use writer::{Writer, Written};

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
    /// Only the agent who has the conversation writes in it (or ends it).
    #[error("{0}")]
    NotYours(String),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl writer::WriteError for AddMessageError {
    fn wrote_nothing(&self) -> bool {
        // The refusals are decided by the first read, before anything is written.
        !matches!(self, Self::Store(_))
    }
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

/// A transcript entry to add.
struct NewEntry {
    kind: EntryKind,
    role: Role,
    sender: String,
    body: String,
    /// Agent replies (and the agent's end) are pending delivery to the skill.
    delivery: Option<DeliveryState>,
    /// The caller's id for the message, unique within the conversation.
    client_id: Option<String>,
    /// The customer's name as the message gives it: the conversation takes it when its start
    /// named nobody (the original sample starts with an empty body).
    customer_name: Option<String>,
    /// The webhook event's extra fields (`joined`, `queue`), as JSON.
    detail: Option<String>,
}

/// Who writes an agent's reply: from a page, only the agent who has the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyAuthor {
    /// A signed-in agent (username).
    Agent(String),
    /// `POST /api/chat/send`: a script writing as the agent, whoever has the conversation.
    Script,
}

/// What a delivery attempt does to the entry's attempt count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptCount {
    /// One more attempt was made.
    Increment,
    /// A fresh start (the agent retries a failed reply).
    Reset,
}

/// How the pages and a message without a sender name a customer nobody named.
pub const UNNAMED_CUSTOMER: &str = "Customer";

/// A conversation row: its summary is kept by the writes that change it (`insert_entry`,
/// `mark_read_in`), not recomputed from the transcript.
const CONVERSATION_COLUMNS: &str = "id, customer_name, state, created_at, ended_at, waiting_since,
        customer_id, channel, tenant_id, bot_conversation_id, problem_description, ended_by,
        last_message, last_message_at, unread, assigned_agent, agent_name, queued_at, transfer_note,
        rating, rating_comment";

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
    let state = named(row.try_get("state")?, ConversationState::parse, "state")?;
    let assigned_agent: Option<String> = row.try_get("assigned_agent")?;
    let status = match (state, &assigned_agent) {
        (ConversationState::Ended, _) => ConversationStatus::Ended,
        (ConversationState::Open, Some(_)) => ConversationStatus::Assigned,
        (ConversationState::Open, None) => ConversationStatus::Waiting,
    };
    Ok(Conversation {
        summary: ConversationSummary {
            id: row.try_get("id")?,
            customer_name: row.try_get("customer_name")?,
            state,
            status,
            assigned_agent,
            agent_name: row.try_get("agent_name")?,
            queued_at: row.try_get("queued_at")?,
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
        transfer_note: row.try_get("transfer_note")?,
        rating: row
            .try_get::<Option<i64>, _>("rating")?
            .and_then(|rating| u8::try_from(rating).ok()),
        rating_comment: row.try_get("rating_comment")?,
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
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?"
    ))
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
) -> anyhow::Result<Event> {
    let payload = serde_json::to_string(payload)?;
    let result = sqlx::query(
        "INSERT INTO events (kind, conversation_id, payload, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(kind)
    .bind(conversation_id)
    .bind(&payload)
    .bind(now())
    .execute(&mut *connection)
    .await?;
    Ok(Event {
        seq: result.last_insert_rowid(),
        kind: kind.to_owned(),
        conversation_id: conversation_id.to_owned(),
        payload,
    })
}

/// Emits the conversation's current summary as an event.
async fn conversation_event(connection: &mut SqliteConnection, id: &str) -> anyhow::Result<Event> {
    let conversation = conversation_in(connection, id)
        .await?
        .context("the conversation vanished")?;
    insert_event(connection, "conversation", id, &conversation).await
}

/// Inserts an entry, updates the conversation's summary (waiting time, last message, unread) and
/// records the two events: four statements.
async fn insert_entry(
    connection: &mut SqliteConnection,
    conversation_id: &str,
    entry: NewEntry,
) -> anyhow::Result<Written<TranscriptEntry>> {
    let created_at = now();
    // Time-ordered ids (v7): the skill keeps an index of the ids it has seen, which grows at its
    // end instead of at random places.
    let id = Uuid::now_v7().to_string();
    let result = sqlx::query(
        "INSERT INTO messages (id, conversation_id, kind, role, sender, body, created_at, delivery_state, next_attempt_at, client_id, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(conversation_id)
    .bind(entry.kind.as_str())
    .bind(entry.role.as_str())
    .bind(&entry.sender)
    .bind(&entry.body)
    .bind(&created_at)
    .bind(entry.delivery.map(DeliveryState::as_str))
    .bind(entry.delivery.map(|_| Utc::now().timestamp_millis()))
    .bind(&entry.client_id)
    .bind(&entry.detail)
    .execute(&mut *connection)
    .await?;
    let stored = TranscriptEntry {
        seq: result.last_insert_rowid(),
        id,
        conversation_id: conversation_id.to_owned(),
        kind: entry.kind,
        role: entry.role,
        sender: entry.sender,
        message: entry.body,
        timestamp: created_at,
        delivery_state: entry.delivery,
        last_error: None,
    };
    if stored.kind == EntryKind::Queue {
        // For the webhook only: no transcript shows it, and the conversation's summary stays.
        return Ok(Written {
            outbox: true,
            value: stored,
            events: Vec::new(),
        });
    }
    // A customer's message starts the wait (if none runs) and is unread; an agent writing has
    // read the conversation and answered the customer.
    let row = sqlx::query(&format!(
        "UPDATE conversations SET
            waiting_since = CASE ?1 WHEN 'customer' THEN COALESCE(waiting_since, ?2) WHEN 'agent' THEN NULL ELSE waiting_since END,
            read_seq = CASE ?1 WHEN 'agent' THEN ?3 ELSE read_seq END,
            unread = CASE ?1 WHEN 'customer' THEN unread + 1 WHEN 'agent' THEN 0 ELSE unread END,
            last_message = CASE ?4 WHEN 'message' THEN ?5 ELSE last_message END,
            last_message_at = CASE ?4 WHEN 'message' THEN ?2 ELSE last_message_at END,
            customer_name = COALESCE(NULLIF(customer_name, ''), ?7)
         WHERE id = ?6 RETURNING {CONVERSATION_COLUMNS}"
    ))
    .bind(stored.role.as_str())
    .bind(&stored.timestamp)
    .bind(stored.seq)
    .bind(stored.kind.as_str())
    .bind(&stored.message)
    .bind(conversation_id)
    .bind(&entry.customer_name)
    .fetch_one(&mut *connection)
    .await?;
    let conversation = conversation_from_row(&row)?;
    let events = vec![
        insert_event(connection, "message", conversation_id, &stored).await?,
        insert_event(connection, "conversation", conversation_id, &conversation).await?,
    ];
    Ok(Written {
        outbox: stored.delivery_state.is_some(),
        value: stored,
        events,
    })
}

/// A change of an entry's delivery state.
struct DeliveryChange {
    state: DeliveryState,
    next_attempt_at: Option<i64>,
    error: Option<String>,
    attempts: AttemptCount,
}

impl DeliveryChange {
    /// The outcome of one more delivery attempt.
    fn attempt(state: DeliveryState, next_attempt_at: Option<i64>, error: Option<String>) -> Self {
        Self {
            state,
            next_attempt_at,
            error,
            attempts: AttemptCount::Increment,
        }
    }
}

/// Opens a conversation in the queue (or answers the one its idempotency key opened); with
/// `auto_assign`, gives it to the online agent with the most room, if any has room.
async fn start_in(
    connection: &mut SqliteConnection,
    context: NewConversation,
    auto_assign: bool,
) -> anyhow::Result<Written<Recorded<Started>>> {
    if let Some(key) = &context.idempotency_key {
        let known: Option<String> =
            sqlx::query("SELECT id FROM conversations WHERE idempotency_key = ?")
                .bind(key)
                .fetch_optional(&mut *connection)
                .await?
                .map(|row| row.try_get("id"))
                .transpose()?;
        if let Some(id) = known {
            let conversation = conversation_in(connection, &id)
                .await?
                .context("the conversation vanished")?;
            let place = routing::place_in(connection, &id).await?;
            return Ok(Written::quiet(Recorded {
                value: Started {
                    conversation,
                    place,
                },
                created: false,
            }));
        }
    }
    let id = Uuid::new_v4().to_string();
    let created_at = now();
    sqlx::query(
        "INSERT INTO conversations (id, customer_name, customer_id, channel, tenant_id, bot_conversation_id, problem_description, state, created_at, idempotency_key, queued_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
    )
    .bind(&id)
    .bind(&context.customer_name)
    .bind(&context.customer_id)
    .bind(&context.channel)
    .bind(&context.tenant_id)
    .bind(&context.bot_conversation_id)
    .bind(&context.problem_description)
    .bind(&created_at)
    .bind(&context.idempotency_key)
    .bind(&created_at)
    .execute(&mut *connection)
    .await?;
    let mut events = vec![conversation_event(connection, &id).await?];
    let mut outbox = false;
    if auto_assign {
        let assigned = routing::auto_assign_in(connection, Some(&id)).await?;
        outbox = assigned.outbox;
        events.extend(assigned.events);
    }
    let place = routing::place_in(connection, &id).await?;
    if let Some(place) = place {
        // The start's answer tells the customer their place: no update for it.
        routing::mark_reported_in(connection, &id, place).await?;
    }
    let conversation = conversation_in(connection, &id)
        .await?
        .context("the new conversation vanished")?;
    Ok(Written {
        value: Recorded {
            value: Started {
                conversation,
                place,
            },
            created: true,
        },
        events,
        outbox,
    })
}

/// Refuses an agent who does not have the conversation (`holder` is who has it, if anyone).
fn check_author(
    author: Option<&ReplyAuthor>,
    holder: Option<&str>,
    holder_name: Option<&str>,
) -> Result<(), AddMessageError> {
    let Some(ReplyAuthor::Agent(username)) = author else {
        return Ok(());
    };
    match holder {
        Some(holder) if holder == username => Ok(()),
        Some(holder) => Err(AddMessageError::NotYours(format!(
            "{} has this conversation; only they can write in it",
            holder_name.unwrap_or(holder)
        ))),
        None => Err(AddMessageError::NotYours(
            "this conversation is waiting in the queue; accept it first".into(),
        )),
    }
}

/// Adds an entry to an open conversation; a `client_id` stored before answers its entry. With an
/// agent `author`, only the agent who has the conversation may write.
async fn add_entry_in(
    connection: &mut SqliteConnection,
    conversation_id: String,
    entry: NewEntry,
    author: Option<ReplyAuthor>,
) -> Result<Written<Recorded<TranscriptEntry>>, AddMessageError> {
    // The conversation's state and, for a keyed message, the entry that key stored before.
    let row = sqlx::query(
        "SELECT state, assigned_agent, agent_name, (SELECT m.seq FROM messages m WHERE m.conversation_id = c.id AND m.client_id = ?) AS known
         FROM conversations c WHERE c.id = ?",
    )
    .bind(&entry.client_id)
    .bind(&conversation_id)
    .fetch_optional(&mut *connection)
    .await
    .map_err(anyhow::Error::from)?;
    let (state, known): (Option<String>, Option<i64>) = match &row {
        None => (None, None),
        Some(row) => (
            row.try_get("state").map_err(anyhow::Error::from)?,
            row.try_get("known").map_err(anyhow::Error::from)?,
        ),
    };
    let (holder, holder_name): (Option<String>, Option<String>) = match &row {
        None => (None, None),
        Some(row) => (
            row.try_get("assigned_agent").map_err(anyhow::Error::from)?,
            row.try_get("agent_name").map_err(anyhow::Error::from)?,
        ),
    };
    if let Some(seq) = known {
        return Ok(Written::quiet(Recorded {
            value: entry_in(connection, seq).await?,
            created: false,
        }));
    }
    match state.as_deref().and_then(ConversationState::parse) {
        None => return Err(AddMessageError::NotFound(conversation_id)),
        Some(ConversationState::Ended) => return Err(AddMessageError::Ended(conversation_id)),
        Some(ConversationState::Open) => {}
    }
    check_author(author.as_ref(), holder.as_deref(), holder_name.as_deref())?;
    let written = insert_entry(connection, &conversation_id, entry).await?;
    Ok(written.map(|value| Recorded {
        value,
        created: true,
    }))
}

/// Ends an open conversation; false when it had ended already.
async fn end_in(
    connection: &mut SqliteConnection,
    conversation_id: String,
    by: EndingParty,
) -> Result<Written<bool>, AddMessageError> {
    let row =
        sqlx::query("SELECT state, assigned_agent, agent_name FROM conversations WHERE id = ?")
            .bind(&conversation_id)
            .fetch_optional(&mut *connection)
            .await
            .map_err(anyhow::Error::from)?;
    let Some(row) = row else {
        return Err(AddMessageError::NotFound(conversation_id));
    };
    let state: String = row.try_get("state").map_err(anyhow::Error::from)?;
    let holder: Option<String> = row.try_get("assigned_agent").map_err(anyhow::Error::from)?;
    if let EndingParty::Agent {
        username: Some(username),
        ..
    } = &by
    {
        let holder_name: Option<String> = row.try_get("agent_name").map_err(anyhow::Error::from)?;
        if state == "open" {
            check_author(
                Some(&ReplyAuthor::Agent(username.clone())),
                holder.as_deref(),
                holder_name.as_deref(),
            )?;
        }
    }
    let ended_by = match &by {
        EndingParty::Agent { .. } => EndedBy::Agent,
        EndingParty::Customer => EndedBy::Customer,
    };
    let result = sqlx::query("UPDATE conversations SET state = 'ended', ended_by = ?, ended_at = ?, waiting_since = NULL WHERE id = ? AND state = 'open'")
        .bind(ended_by.as_str())
        .bind(now())
        .bind(&conversation_id)
        .execute(&mut *connection)
        .await
        .map_err(anyhow::Error::from)?;
    if result.rows_affected() == 0 {
        return Ok(Written::quiet(false));
    }
    let (mut events, outbox) = match by {
        EndingParty::Agent { name, .. } => {
            let entry = NewEntry {
                kind: EntryKind::Ended,
                role: Role::System,
                body: format!("{name} ended the conversation."),
                sender: name,
                delivery: Some(DeliveryState::Pending),
                client_id: None,
                customer_name: None,
                detail: None,
            };
            let written = insert_entry(connection, &conversation_id, entry).await?;
            (written.events, written.outbox)
        }
        EndingParty::Customer => (
            vec![conversation_event(connection, &conversation_id).await?],
            false,
        ),
    };
    if let Some(holder) = &holder {
        // Their count of conversations went down.
        events.extend(routing::agent_event(connection, holder).await?);
    }
    Ok(Written {
        value: true,
        events,
        outbox,
    })
}

/// Moves the conversation's read mark to its newest entry.
async fn mark_read_in(
    connection: &mut SqliteConnection,
    conversation_id: String,
) -> anyhow::Result<Written<()>> {
    let result = sqlx::query("UPDATE conversations SET unread = 0, read_seq = (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?1) WHERE id = ?1 AND read_seq < (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?1)")
        .bind(&conversation_id)
        .execute(&mut *connection)
        .await?;
    if result.rows_affected() == 0 {
        return Ok(Written::quiet(()));
    }
    let event = conversation_event(connection, &conversation_id).await?;
    Ok(Written {
        value: (),
        events: vec![event],
        outbox: false,
    })
}

/// Records a delivery outcome; an event when the state changed or an error is to be shown.
async fn set_delivery_in(
    connection: &mut SqliteConnection,
    seq: i64,
    change: &DeliveryChange,
) -> anyhow::Result<Written<TranscriptEntry>> {
    let previous: Option<String> = sqlx::query("SELECT delivery_state FROM messages WHERE seq = ?")
        .bind(seq)
        .fetch_one(&mut *connection)
        .await?
        .try_get("delivery_state")?;
    let row = sqlx::query(&format!("UPDATE messages SET delivery_state = ?, next_attempt_at = ?, last_error = ?, attempts = CASE WHEN ? THEN attempts + 1 ELSE 0 END WHERE seq = ? RETURNING {MESSAGE_COLUMNS}"))
        .bind(change.state.as_str())
        .bind(change.next_attempt_at)
        .bind(&change.error)
        .bind(change.attempts == AttemptCount::Increment)
        .bind(seq)
        .fetch_one(&mut *connection)
        .await?;
    let message = entry_from_row(&row)?;
    let mut events = Vec::new();
    if previous.as_deref() != Some(change.state.as_str()) || change.error.is_some() {
        events
            .push(insert_event(connection, "delivery", &message.conversation_id, &message).await?);
    }
    Ok(Written {
        value: message,
        events,
        outbox: false,
    })
}

/// A reply (or end) waiting for the webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub entry: TranscriptEntry,
    pub attempts: u32,
    /// The event's extra fields (`joined`, `queue`), as JSON.
    pub detail: Option<String>,
}

/// Connections that only read.
const READERS: u32 = 4;

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
    /// Every write goes through the one writing connection, in group-committed batches.
    writer: Writer,
    /// Readers beside it (WAL lets them read while a write commits): the pages' live updates,
    /// transcripts and the webhook worker's look for due replies do not queue behind writes.
    reader: SqlitePool,
    /// The newest events in memory, for the pages' live updates, handed over by the writer.
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
        let mut connection = SqliteConnection::connect_with(&options)
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&mut connection)
            .await
            .context("cannot migrate the database schema")?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await
            .with_context(|| format!("cannot open the database {} to read", path.display()))?;
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) AS last FROM events")
            .fetch_one(&mut connection)
            .await?
            .try_get("last")?;
        let recent = Arc::new(RecentEvents::after_table(last.unwrap_or(0)));
        let outbox = Arc::new(Notify::new());
        Ok(Self {
            writer: Writer::start(connection, recent.clone(), outbox.clone()),
            reader,
            recent,
            outbox,
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
        self.recent.subscribe()
    }

    /// The number of the newest committed event.
    pub fn last_event_seq(&self) -> i64 {
        self.recent.last()
    }

    /// Opens a conversation; with an idempotency key seen before, answers that key's conversation
    /// instead (in whatever state it is now) and writes nothing.
    pub async fn start_conversation(
        &self,
        context: NewConversation,
        auto_assign: bool,
    ) -> anyhow::Result<Recorded<Started>> {
        self.writer
            .write(move |connection| Box::pin(start_in(connection, context, auto_assign)))
            .await
    }

    pub async fn conversation(&self, id: &str) -> anyhow::Result<Option<Conversation>> {
        let mut connection = self.reader.acquire().await?;
        conversation_in(&mut connection, id).await
    }

    /// Open conversations first (longest waiting first), then the 100 most recently ended.
    pub async fn list_conversations(&self) -> anyhow::Result<Vec<Conversation>> {
        let open = sqlx::query(&format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE state = 'open' ORDER BY COALESCE(waiting_since, '9999'), created_at"))
            .fetch_all(&self.reader)
            .await?;
        let ended = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE state = 'ended' ORDER BY ended_at DESC LIMIT 100"
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
    ///
    /// A customer's message that names its `sender` names the conversation's customer too, when
    /// the start did not; without one it is signed [`UNNAMED_CUSTOMER`].
    pub async fn add_customer_message(
        &self,
        conversation_id: &str,
        role: Role,
        sender: Option<&str>,
        body: &str,
        client_id: Option<&str>,
    ) -> Result<Recorded<TranscriptEntry>, AddMessageError> {
        let entry = NewEntry {
            kind: EntryKind::Message,
            role,
            sender: sender.unwrap_or(UNNAMED_CUSTOMER).to_owned(),
            body: body.to_owned(),
            delivery: None,
            client_id: client_id.map(str::to_owned),
            customer_name: sender.filter(|_| role == Role::Customer).map(str::to_owned),
            detail: None,
        };
        self.add_entry(conversation_id, entry, None).await
    }

    /// Adds an agent's reply, pending delivery to the skill; from a page, only the agent who has
    /// the conversation may.
    pub async fn add_agent_message(
        &self,
        conversation_id: &str,
        sender: &str,
        body: &str,
        author: ReplyAuthor,
    ) -> Result<TranscriptEntry, AddMessageError> {
        let entry = NewEntry {
            kind: EntryKind::Message,
            role: Role::Agent,
            sender: sender.to_owned(),
            body: body.to_owned(),
            delivery: Some(DeliveryState::Pending),
            client_id: None,
            customer_name: None,
            detail: None,
        };
        Ok(self
            .add_entry(conversation_id, entry, Some(author))
            .await?
            .value)
    }

    async fn add_entry(
        &self,
        conversation_id: &str,
        entry: NewEntry,
        author: Option<ReplyAuthor>,
    ) -> Result<Recorded<TranscriptEntry>, AddMessageError> {
        let conversation_id = conversation_id.to_owned();
        self.writer
            .write(move |connection| {
                Box::pin(add_entry_in(connection, conversation_id, entry, author))
            })
            .await
    }

    /// Makes the stored agents the configured ones (at start-up).
    pub async fn sync_agents(&self, agents: Vec<ConfiguredAgent>) -> anyhow::Result<()> {
        self.writer
            .write(move |connection| Box::pin(routing::sync_agents_in(connection, agents)))
            .await
    }

    /// Every configured agent with their presence, capacity and open conversations.
    pub async fn agents(&self) -> anyhow::Result<Vec<AgentState>> {
        let mut connection = self.reader.acquire().await?;
        routing::agents_in(&mut connection).await
    }

    /// Sets an agent's presence; true when it changed.
    pub async fn set_presence(&self, username: &str, presence: Presence) -> anyhow::Result<bool> {
        let username = username.to_owned();
        self.writer
            .write(move |connection| {
                Box::pin(routing::set_presence_in(connection, username, presence))
            })
            .await
    }

    pub async fn set_capacity(&self, username: &str, capacity: u32) -> anyhow::Result<()> {
        let username = username.to_owned();
        self.writer
            .write(move |connection| {
                Box::pin(routing::set_capacity_in(connection, username, capacity))
            })
            .await
    }

    /// An agent accepts a waiting conversation: one of two at once wins, the other is refused.
    pub async fn accept(&self, id: &str, username: &str) -> Result<Conversation, RoutingError> {
        let (id, username) = (id.to_owned(), username.to_owned());
        self.writer
            .write(move |connection| Box::pin(routing::accept_in(connection, id, username)))
            .await
    }

    /// The assigned agent transfers the conversation to another agent or back to the queue.
    pub async fn transfer(
        &self,
        id: &str,
        username: &str,
        target: TransferTarget,
        note: Option<String>,
    ) -> Result<Conversation, RoutingError> {
        let (id, username) = (id.to_owned(), username.to_owned());
        self.writer
            .write(move |connection| {
                Box::pin(routing::transfer_in(connection, id, username, target, note))
            })
            .await
    }

    /// Agents online, the queue's length and the estimated wait of a customer starting now.
    pub async fn availability(&self) -> anyhow::Result<Availability> {
        let mut connection = self.reader.acquire().await?;
        routing::availability_in(&mut connection).await
    }

    /// The queue's periodic work, in one transaction: with `auto_assign`, waiting conversations go
    /// to agents with room; then customers whose place changed (and were last told at least
    /// `interval_ms` ago) are told. Answers how many were assigned and told.
    pub async fn queue_tick(
        &self,
        auto_assign: bool,
        interval_ms: i64,
    ) -> anyhow::Result<(u32, u32)> {
        self.writer
            .write(move |connection| {
                Box::pin(async move {
                    let assigned = if auto_assign {
                        routing::auto_assign_in(connection, None).await?
                    } else {
                        Written::quiet(0)
                    };
                    let told = routing::report_queue_in(connection, interval_ms).await?;
                    let mut events = assigned.events;
                    events.extend(told.events);
                    anyhow::Ok(Written {
                        value: (assigned.value, told.value),
                        outbox: assigned.outbox || told.outbox,
                        events,
                    })
                })
            })
            .await
    }

    /// Ends an open conversation; false when it had ended already. When the agent ends it, an
    /// `ended` entry is queued so that the skill is told (after any reply still pending).
    pub async fn end_conversation(
        &self,
        conversation_id: &str,
        by: EndingParty,
    ) -> Result<bool, AddMessageError> {
        let conversation_id = conversation_id.to_owned();
        self.writer
            .write(move |connection| Box::pin(end_in(connection, conversation_id, by)))
            .await
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
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND kind <> 'queue' ORDER BY seq"
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
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE state = 'open') AND kind <> 'queue' ORDER BY seq"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Stores the customer's rating of a conversation (replacing an earlier one); false for an
    /// unknown conversation. The rating is checked by the caller.
    pub async fn rate(
        &self,
        conversation_id: &str,
        rating: u8,
        comment: Option<String>,
    ) -> anyhow::Result<bool> {
        let conversation_id = conversation_id.to_owned();
        self.writer
            .write(move |connection| {
                Box::pin(async move {
                    let result = sqlx::query("UPDATE conversations SET rating = ?, rating_comment = ?, rated_at = ? WHERE id = ?")
                        .bind(i64::from(rating))
                        .bind(comment)
                        .bind(now())
                        .bind(&conversation_id)
                        .execute(&mut *connection)
                        .await?;
                    if result.rows_affected() == 0 {
                        return Ok(Written::quiet(false));
                    }
                    let event = conversation_event(connection, &conversation_id).await?;
                    Ok(Written {
                        value: true,
                        events: vec![event],
                        outbox: false,
                    })
                })
            })
            .await
    }

    /// The average rating and how many conversations were rated.
    pub async fn rating_average(&self) -> anyhow::Result<Option<(f64, i64)>> {
        let row = sqlx::query("SELECT AVG(rating) AS average, COUNT(rating) AS rated FROM conversations WHERE rating IS NOT NULL")
            .fetch_one(&self.reader)
            .await?;
        let rated: i64 = row.try_get("rated")?;
        let average: Option<f64> = row.try_get("average")?;
        Ok(average
            .filter(|_| rated > 0)
            .map(|average| (average, rated)))
    }

    /// Records that an agent has seen the conversation up to now.
    pub async fn mark_read(&self, conversation_id: &str) -> anyhow::Result<()> {
        let conversation_id = conversation_id.to_owned();
        self.writer
            .write(move |connection| Box::pin(mark_read_in(connection, conversation_id)))
            .await
    }

    /// The oldest pending entry of each conversation that is due, skipping `busy` conversations.
    pub async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
        busy: &[String],
    ) -> anyhow::Result<Vec<PendingDelivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS}, attempts, detail FROM messages d
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
                let detail = row.try_get("detail")?;
                due.push(PendingDelivery {
                    entry,
                    attempts,
                    detail,
                });
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

    async fn set_delivery(&self, seq: i64, change: DeliveryChange) -> anyhow::Result<()> {
        self.writer
            .write(move |connection| {
                Box::pin(async move {
                    let written = set_delivery_in(connection, seq, &change).await?;
                    anyhow::Ok(written.map(drop))
                })
            })
            .await
    }

    pub async fn mark_delivered(&self, seq: i64) -> anyhow::Result<()> {
        self.set_delivery(
            seq,
            DeliveryChange::attempt(DeliveryState::Delivered, None, None),
        )
        .await
    }

    pub async fn schedule_retry(
        &self,
        seq: i64,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> anyhow::Result<()> {
        let change = DeliveryChange::attempt(
            DeliveryState::Pending,
            Some(next_attempt_at_ms),
            Some(error.to_owned()),
        );
        self.set_delivery(seq, change).await
    }

    pub async fn mark_failed(&self, seq: i64, error: &str) -> anyhow::Result<()> {
        let change = DeliveryChange::attempt(DeliveryState::Failed, None, Some(error.to_owned()));
        self.set_delivery(seq, change).await
    }

    /// Puts a failed reply back in the queue; `None` when the message is not a failed one.
    pub async fn retry_failed(&self, message_id: &str) -> anyhow::Result<Option<TranscriptEntry>> {
        let message_id = message_id.to_owned();
        self.writer
            .write(move |connection| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "SELECT seq FROM messages WHERE id = ? AND delivery_state = 'failed'",
                    )
                    .bind(&message_id)
                    .fetch_optional(&mut *connection)
                    .await?;
                    let Some(row) = row else {
                        return Ok(Written::quiet(None));
                    };
                    let change = DeliveryChange {
                        state: DeliveryState::Pending,
                        next_attempt_at: Some(Utc::now().timestamp_millis()),
                        error: None,
                        attempts: AttemptCount::Reset,
                    };
                    let written = set_delivery_in(connection, row.try_get("seq")?, &change).await?;
                    Ok(Written {
                        // Due at once: the webhook worker takes it now.
                        outbox: true,
                        ..written.map(Some)
                    })
                })
            })
            .await
    }

    /// Unread customer messages across the open conversations (the tab title's count).
    pub async fn unread_total(&self) -> anyhow::Result<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(unread), 0) AS unread FROM conversations WHERE state = 'open'",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get("unread")?)
    }

    /// Events after `seq`, oldest first, at most `limit`: from memory when it covers them.
    pub async fn events_since(&self, seq: i64, limit: u32) -> anyhow::Result<Vec<Arc<Event>>> {
        match self.recent.after(seq, limit) {
            Some(events) => Ok(events),
            None => Ok(read_events(&self.reader, seq, limit)
                .await?
                .into_iter()
                .map(Arc::new)
                .collect()),
        }
    }
}
