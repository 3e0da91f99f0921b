//! [`Store`]: the cloneable handle the routes and workers hold. Each write is a transaction
//! function (`conversations.rs`, `routing.rs`, `agents.rs`, `deliveries.rs`) handed to the
//! [`Writer`]; reads run on a few read-only connections beside it.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use livechat_contract::api::TranscriptEntry;
use livechat_contract::api::{Availability, Conversation, DeliveryState, EntryKind, Role};
use service_support::clock::Clock;
use service_support::masking::{Author, Masker};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{watch, Notify};

use super::agents::{agents_in, set_capacity_in, set_presence_in};
use super::attachments::{file_in, kept_hashes_in, remove_expired_in};
use super::conversations::{add_entry_in, conversation_in, end_in, mark_read_in, rate_in};
use super::deliveries::{due_in, next_due_in, retry_failed_in, set_delivery_in};
use super::model::{
    AddMessageError, AgentState, ConfiguredAgent, ConversationId, Counted, DeliveryChange,
    EndingParty, Event, NewConversation, NewEntry, NewFile, NewNote, Note, PendingDelivery,
    Presence, Recorded, ReplyAuthor, RoutingError, Started, StoredFile, TransferTarget,
    UNNAMED_CUSTOMER,
};
use super::notes::{add_note_in, notes_in};
use super::privacy::{
    delete_expired_in, erase_customer_in, export_in, CustomerExport, Erased, RETENTION_BATCH,
};
use super::recent::RecentEvents;
use super::routing::{
    accept_in, auto_assign_in, availability_in, reassign_in, report_queue_in, start_in,
    sync_agents_in, transfer_in,
};
use super::rows::{conversation_from_row, entry_from_row, event_from_row};
use super::sql;
use super::wrap_up::{wrap_up_in, wrap_up_timeouts_in};
use super::writer::{Writer, Written};

/// Connections that only read.
const READERS: u32 = 4;

/// How often a checkpoint after deleting asks again while readers hold the log (20 ms apart).
const CHECKPOINT_ATTEMPTS: u32 = 50;

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
    /// When customers are told their place (the queue's clock; tests stop it).
    clock: Clock,
    /// The most bytes of files kept at once (`files.max_total_bytes`).
    file_space: u64,
    /// Masks sensitive data in every text before it is written (`[masking]`).
    masker: Masker,
    /// How to open the file to checkpoint it after an erasure.
    checkpoint: SqliteConnectOptions,
    /// With `wrap_up.required`: how long an agent's slot stays taken after an end, at most.
    wrap_up: Option<Duration>,
}

impl Store {
    /// Opens (creating if needed) `livechat.db` in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path, clock: Clock) -> anyhow::Result<Self> {
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
            .foreign_keys(true)
            // Deleted text is overwritten, not left in free pages: erasure means gone from the file.
            .pragma("secure_delete", "on");
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
            .connect_with(options.clone().read_only(true))
            .await
            .with_context(|| format!("cannot open the database {} to read", path.display()))?;
        let last: Option<i64> = sqlx::query(sql::LAST_EVENT)
            .fetch_one(&mut connection)
            .await?
            .try_get("last")?;
        let recent = Arc::new(RecentEvents::after_table(last.unwrap_or(0)));
        let outbox = Arc::new(Notify::new());
        Ok(Self {
            checkpoint: options,
            writer: Writer::start(connection, recent.clone(), outbox.clone()),
            reader,
            recent,
            outbox,
            clock,
            file_space: u64::MAX,
            masker: Masker::default(),
            wrap_up: None,
        })
    }

    /// The same store, refusing files beyond `bytes` kept in all.
    pub fn with_file_space(self, bytes: u64) -> Self {
        Self {
            file_space: bytes,
            ..self
        }
    }

    /// The same store, keeping an agent's slot taken after an end until the wrap-up is done or
    /// `timeout` passes.
    pub fn with_required_wrap_up(self, timeout: Option<Duration>) -> Self {
        Self {
            wrap_up: timeout,
            ..self
        }
    }

    /// Records the wrap-up of an ended conversation, once.
    pub async fn wrap_up(
        &self,
        conversation_id: &ConversationId,
        disposition: &str,
        summary: Option<String>,
    ) -> Result<(), RoutingError> {
        let summary = summary.map(|text| self.masker.mask_owned(Author::Agent, text));
        let (id, disposition) = (conversation_id.clone(), disposition.to_owned());
        self.writer
            .write(move |connection| Box::pin(wrap_up_in(connection, id, disposition, summary)))
            .await
    }

    /// The same store, masking texts with `masker` (the built-in card rule by default).
    pub fn with_masker(self, masker: Masker) -> Self {
        Self { masker, ..self }
    }

    /// Notified whenever a reply (or an agent's end) is queued for the skill.
    pub fn outbox_signal(&self) -> &Notify {
        &self.outbox
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query(sql::PING).execute(&self.reader).await?;
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

    /// Events after `seq`, oldest first, at most `limit`: from memory when it covers them.
    pub async fn events_since(&self, seq: i64, limit: u32) -> anyhow::Result<Vec<Arc<Event>>> {
        if let Some(events) = self.recent.after(seq, limit) {
            return Ok(events);
        }
        let rows = sqlx::query(sql::EVENTS_AFTER)
            .bind(seq)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| event_from_row(row).map(Arc::new))
            .collect()
    }

    /// Opens a conversation; with an idempotency key seen before, answers that key's conversation
    /// instead (in whatever state it is now) and writes nothing.
    pub async fn start_conversation(
        &self,
        mut context: NewConversation,
        auto_assign: bool,
    ) -> anyhow::Result<Recorded<Started>> {
        context.problem_description = context
            .problem_description
            .map(|text| self.masker.mask_owned(Author::Customer, text));
        let now_ms = self.clock.now_ms();
        self.writer
            .write(move |connection| Box::pin(start_in(connection, context, auto_assign, now_ms)))
            .await
    }

    pub async fn conversation(&self, id: &ConversationId) -> anyhow::Result<Option<Conversation>> {
        let mut connection = self.reader.acquire().await?;
        conversation_in(&mut connection, id).await
    }

    /// Open conversations first (longest waiting first), then the 100 most recently ended.
    pub async fn list_conversations(&self) -> anyhow::Result<Vec<Conversation>> {
        let open = sqlx::query(sql::OPEN_CONVERSATIONS)
            .fetch_all(&self.reader)
            .await?;
        let ended = sqlx::query(sql::ENDED_CONVERSATIONS)
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
        conversation_id: &ConversationId,
        role: Role,
        sender: Option<&str>,
        body: &str,
        client_id: Option<&str>,
    ) -> Result<Recorded<TranscriptEntry>, AddMessageError> {
        let masked = self.masker.mask(Author::Customer, body);
        let entry = NewEntry {
            kind: EntryKind::Message,
            role,
            sender: sender.unwrap_or(UNNAMED_CUSTOMER).to_owned(),
            body: masked.text.into_owned(),
            delivery: None,
            client_id: client_id.map(str::to_owned),
            customer_name: sender.filter(|_| role == Role::Customer).map(str::to_owned),
            detail: None,
            files: Vec::new(),
            masked: masked.rules,
        };
        self.add_entry(conversation_id, entry, None).await
    }

    /// Adds a customer's (or a system) file from the skill, as an entry of its own; keyed by
    /// `client_id` as [`Store::add_customer_message`] is.
    pub async fn add_customer_file(
        &self,
        conversation_id: &ConversationId,
        role: Role,
        sender: Option<&str>,
        client_id: Option<&str>,
        file: NewFile,
    ) -> Result<Recorded<TranscriptEntry>, AddMessageError> {
        let entry = NewEntry {
            kind: EntryKind::Message,
            role,
            sender: sender.unwrap_or(UNNAMED_CUSTOMER).to_owned(),
            body: String::new(),
            delivery: None,
            client_id: client_id.map(str::to_owned),
            customer_name: sender.filter(|_| role == Role::Customer).map(str::to_owned),
            detail: None,
            files: vec![file],
            masked: Vec::new(),
        };
        self.add_entry(conversation_id, entry, None).await
    }

    /// Adds an agent's reply (words, `files`, or both), pending delivery to the skill; from a
    /// page, only the agent who has the conversation may.
    pub async fn add_agent_message(
        &self,
        conversation_id: &ConversationId,
        sender: &str,
        body: &str,
        author: ReplyAuthor,
        files: Vec<NewFile>,
    ) -> Result<TranscriptEntry, AddMessageError> {
        let masked = self.masker.mask(Author::Agent, body);
        let entry = NewEntry {
            kind: EntryKind::Message,
            role: Role::Agent,
            sender: sender.to_owned(),
            body: masked.text.into_owned(),
            delivery: Some(DeliveryState::Pending),
            client_id: None,
            customer_name: None,
            detail: None,
            files,
            masked: masked.rules,
        };
        Ok(self
            .add_entry(conversation_id, entry, Some(author))
            .await?
            .value)
    }

    async fn add_entry(
        &self,
        conversation_id: &ConversationId,
        entry: NewEntry,
        author: Option<ReplyAuthor>,
    ) -> Result<Recorded<TranscriptEntry>, AddMessageError> {
        let conversation_id = conversation_id.clone();
        let space = self.file_space;
        self.writer
            .write(move |connection| {
                Box::pin(add_entry_in(
                    connection,
                    conversation_id,
                    entry,
                    author,
                    space,
                ))
            })
            .await
    }

    /// A stored file by its id.
    pub async fn file(&self, id: &str) -> anyhow::Result<Option<StoredFile>> {
        let mut connection = self.reader.acquire().await?;
        file_in(&mut connection, id).await
    }

    /// Removes the files of conversations that ended before `ended_before` (RFC 3339): the
    /// transcript keeps their names. Answers how many.
    pub async fn remove_expired_files(&self, ended_before: String) -> anyhow::Result<usize> {
        self.writer
            .write(move |connection| {
                Box::pin(async move {
                    let removed = remove_expired_in(connection, ended_before).await?;
                    anyhow::Ok(Written::quiet(removed))
                })
            })
            .await
    }

    /// Adds a private note (or, `whisper`, a note only the agent who has the conversation sees),
    /// masked as an agent's words are.
    pub async fn add_note(
        &self,
        conversation_id: &ConversationId,
        mut note: NewNote,
    ) -> Result<Note, AddMessageError> {
        let masked = self.masker.mask(Author::Agent, &note.body);
        note.masked = masked.rules;
        note.body = masked.text.into_owned();
        let conversation_id = conversation_id.clone();
        self.writer
            .write(move |connection| Box::pin(add_note_in(connection, conversation_id, note)))
            .await
    }

    /// A conversation's notes and whispers, in the order the transcript places them.
    pub async fn notes(&self, conversation_id: &ConversationId) -> anyhow::Result<Vec<Note>> {
        let mut connection = self.reader.acquire().await?;
        notes_in(&mut connection, conversation_id).await
    }

    /// Every conversation started since `since` (RFC 3339), as the dashboard counts it.
    pub async fn counted_since(&self, since: &str) -> anyhow::Result<Vec<Counted>> {
        let rows = sqlx::query(sql::DASHBOARD)
            .bind(since)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                Ok(Counted {
                    created_at: row.try_get("created_at")?,
                    queued_at: row.try_get("queued_at")?,
                    accepted_at: row.try_get("accepted_at")?,
                    ended_at: row.try_get("ended_at")?,
                    first_reply_at: row.try_get("first_reply_at")?,
                    rating: row
                        .try_get::<Option<i64>, _>("rating")?
                        .and_then(|rating| u8::try_from(rating).ok()),
                    disposition: row.try_get("disposition")?,
                    open: state == "open",
                })
            })
            .collect()
    }

    /// The customer's other conversations, newest first (at most 20), for the handoff context.
    pub async fn customer_history(
        &self,
        customer_id: &str,
        except: &ConversationId,
    ) -> anyhow::Result<Vec<Conversation>> {
        let rows = sqlx::query(sql::CUSTOMER_HISTORY)
            .bind(customer_id)
            .bind(except.as_str())
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(conversation_from_row).collect()
    }

    /// Every conversation of a customer with its transcript; `None` when there is none.
    pub async fn export_customer(
        &self,
        customer_id: &str,
    ) -> anyhow::Result<Option<CustomerExport>> {
        let mut connection = self.reader.acquire().await?;
        export_in(&mut connection, customer_id).await
    }

    /// Erases everything of a customer in one transaction (an open conversation is ended first,
    /// the skill told as for an agent's end by `ending_name`); `None` when there was nothing.
    /// Then the events in memory forget it and the database file is checkpointed, so its bytes
    /// hold nothing of it.
    pub async fn erase_customer(
        &self,
        customer_id: &str,
        ending_name: &str,
    ) -> Result<Option<Erased>, AddMessageError> {
        let (customer_id, ending_name) = (customer_id.to_owned(), ending_name.to_owned());
        let erased = self
            .writer
            .write(move |connection| {
                Box::pin(erase_customer_in(connection, customer_id, ending_name))
            })
            .await?;
        if let Some(erased) = &erased {
            self.forget(erased).await;
        }
        Ok(erased)
    }

    /// Deletes conversations that ended before `ended_before` (RFC 3339), a batch at a time.
    pub async fn delete_expired(&self, ended_before: String) -> anyhow::Result<Erased> {
        let mut total = Erased::default();
        loop {
            let before = ended_before.clone();
            let batch = self
                .writer
                .write(move |connection| Box::pin(delete_expired_in(connection, before)))
                .await?;
            let done = (batch.conversations as i64) < RETENTION_BATCH;
            total.conversations += batch.conversations;
            total.messages += batch.messages;
            total.files += batch.files;
            total.ids.extend(batch.ids);
            total.hashes.extend(batch.hashes);
            if done {
                break;
            }
        }
        if total.conversations > 0 {
            self.forget(&total).await;
        }
        Ok(total)
    }

    /// What memory and the write-ahead log still hold of deleted conversations, gone.
    async fn forget(&self, erased: &Erased) {
        let ids = erased.ids.iter().map(ConversationId::as_str).collect();
        self.recent.redact(&ids, &erased.kept_events);
        let checkpointed = async {
            let mut connection = SqliteConnection::connect_with(&self.checkpoint).await?;
            // A reader mid-read keeps the log's frames from being written over: SQLite answers
            // "busy" in the row rather than as an error, so ask again while readers finish.
            for _ in 0..CHECKPOINT_ATTEMPTS {
                let (busy,): (i64,) = sqlx::query_as(sql::CHECKPOINT)
                    .fetch_one(&mut connection)
                    .await?;
                if busy == 0 {
                    connection.close().await?;
                    return anyhow::Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            connection.close().await?;
            anyhow::bail!("readers kept the write-ahead log busy")
        };
        if let Err(error) = checkpointed.await {
            // The next checkpoint (SQLite's own, every 1,000 pages) writes it over.
            tracing::warn!(error.cause_chain = ?error, "cannot checkpoint the database after deleting");
        }
    }

    /// The hashes of every file still kept.
    pub async fn kept_hashes(&self) -> anyhow::Result<std::collections::HashSet<String>> {
        let mut connection = self.reader.acquire().await?;
        kept_hashes_in(&mut connection).await
    }

    /// Makes the stored agents the configured ones (at start-up).
    pub async fn sync_agents(&self, agents: Vec<ConfiguredAgent>) -> anyhow::Result<()> {
        self.writer
            .write(move |connection| Box::pin(sync_agents_in(connection, agents)))
            .await
    }

    /// Every configured agent with their presence, capacity and open conversations.
    pub async fn agents(&self) -> anyhow::Result<Vec<AgentState>> {
        let mut connection = self.reader.acquire().await?;
        agents_in(&mut connection).await
    }

    /// Sets an agent's presence; true when it changed.
    pub async fn set_presence(&self, username: &str, presence: Presence) -> anyhow::Result<bool> {
        let username = username.to_owned();
        self.writer
            .write(move |connection| Box::pin(set_presence_in(connection, username, presence)))
            .await
    }

    pub async fn set_capacity(&self, username: &str, capacity: u32) -> anyhow::Result<()> {
        let username = username.to_owned();
        self.writer
            .write(move |connection| Box::pin(set_capacity_in(connection, username, capacity)))
            .await
    }

    /// An agent accepts a waiting conversation: one of two at once wins, the other is refused.
    pub async fn accept(
        &self,
        id: &ConversationId,
        username: &str,
    ) -> Result<Conversation, RoutingError> {
        let (id, username) = (id.clone(), username.to_owned());
        self.writer
            .write(move |connection| Box::pin(accept_in(connection, id, username)))
            .await
    }

    /// The assigned agent transfers the conversation to another agent or back to the queue.
    pub async fn transfer(
        &self,
        id: &ConversationId,
        username: &str,
        target: TransferTarget,
        note: Option<String>,
    ) -> Result<Conversation, RoutingError> {
        let (id, username) = (id.clone(), username.to_owned());
        let note = note.map(|note| self.masker.mask_owned(Author::Agent, note));
        self.writer
            .write(move |connection| Box::pin(transfer_in(connection, id, username, target, note)))
            .await
    }

    /// A supervisor gives an open conversation to `to` (themselves: a take over).
    pub async fn reassign(
        &self,
        id: &ConversationId,
        supervisor: &str,
        to: &str,
    ) -> Result<Conversation, RoutingError> {
        let (id, supervisor, to) = (id.clone(), supervisor.to_owned(), to.to_owned());
        self.writer
            .write(move |connection| Box::pin(reassign_in(connection, id, supervisor, to)))
            .await
    }

    /// Agents online, the queue's length and the estimated wait of a customer starting now.
    pub async fn availability(&self) -> anyhow::Result<Availability> {
        let mut connection = self.reader.acquire().await?;
        availability_in(&mut connection).await
    }

    /// The queue's periodic work, in one transaction: with `auto_assign`, waiting conversations go
    /// to agents with room; then customers whose place changed (and were last told at least
    /// `interval_ms` ago, by the store's clock) are told. Answers how many were assigned and told.
    pub async fn queue_tick(
        &self,
        auto_assign: bool,
        interval_ms: i64,
    ) -> anyhow::Result<(u32, u32)> {
        let now_ms = self.clock.now_ms();
        self.writer
            .write(move |connection| {
                Box::pin(async move {
                    let assigned = if auto_assign {
                        auto_assign_in(connection, None).await?
                    } else {
                        Written::quiet(0)
                    };
                    let told = report_queue_in(connection, interval_ms, now_ms).await?;
                    let timed_out = wrap_up_timeouts_in(connection, now_ms).await?;
                    let mut events = assigned.events;
                    events.extend(told.events);
                    events.extend(timed_out.events);
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
        conversation_id: &ConversationId,
        by: EndingParty,
    ) -> Result<bool, AddMessageError> {
        let conversation_id = conversation_id.clone();
        let due = self.wrap_up.map(|timeout| {
            self.clock.now_ms() + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)
        });
        self.writer
            .write(move |connection| Box::pin(end_in(connection, conversation_id, by, due)))
            .await
    }

    /// The transcript, oldest first; `None` for an unknown conversation.
    pub async fn messages(
        &self,
        conversation_id: &ConversationId,
    ) -> anyhow::Result<Option<Vec<TranscriptEntry>>> {
        // Existence only: the summary query behind `conversation()` is more than this needs.
        let exists = sqlx::query(sql::CONVERSATION_EXISTS)
            .bind(conversation_id.as_str())
            .fetch_optional(&self.reader)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(sql::TRANSCRIPT)
            .bind(conversation_id.as_str())
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
        let rows = sqlx::query(sql::OPEN_TRANSCRIPTS)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Stores the customer's rating of a conversation (replacing an earlier one); false for an
    /// unknown conversation. The rating is checked by the caller.
    pub async fn rate(
        &self,
        conversation_id: &ConversationId,
        rating: u8,
        comment: Option<String>,
    ) -> anyhow::Result<bool> {
        let conversation_id = conversation_id.clone();
        let comment = comment.map(|comment| self.masker.mask_owned(Author::Customer, comment));
        self.writer
            .write(move |connection| {
                Box::pin(rate_in(connection, conversation_id, rating, comment))
            })
            .await
    }

    /// The average rating and how many conversations were rated.
    pub async fn rating_average(&self) -> anyhow::Result<Option<(f64, i64)>> {
        let row = sqlx::query(sql::RATING_AVERAGE)
            .fetch_one(&self.reader)
            .await?;
        let rated: i64 = row.try_get("rated")?;
        let average: Option<f64> = row.try_get("average")?;
        Ok(average
            .filter(|_| rated > 0)
            .map(|average| (average, rated)))
    }

    /// Records that an agent has seen the conversation up to now.
    pub async fn mark_read(&self, conversation_id: &ConversationId) -> anyhow::Result<()> {
        let conversation_id = conversation_id.clone();
        self.writer
            .write(move |connection| Box::pin(mark_read_in(connection, conversation_id)))
            .await
    }

    /// The oldest pending entry of each conversation that is due, skipping `busy` conversations.
    pub async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
        busy: &[ConversationId],
    ) -> anyhow::Result<Vec<PendingDelivery>> {
        let mut connection = self.reader.acquire().await?;
        due_in(&mut connection, now_ms, limit, busy).await
    }

    /// When the next pending entry falls due, if any.
    pub async fn next_due_at(&self) -> anyhow::Result<Option<i64>> {
        let mut connection = self.reader.acquire().await?;
        next_due_in(&mut connection).await
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
            .write(move |connection| Box::pin(retry_failed_in(connection, message_id)))
            .await
    }

    /// Unread customer messages across the open conversations (the tab title's count).
    pub async fn unread_total(&self) -> anyhow::Result<i64> {
        let row = sqlx::query(sql::UNREAD_TOTAL)
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get("unread")?)
    }
}
