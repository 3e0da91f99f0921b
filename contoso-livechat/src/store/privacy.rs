//! The rules around the data, inside the writer's transactions: one customer's conversations
//! exported or erased (an open one ended first), and conversations past their retention deleted.
//!
//! Erasing deletes a conversation's transcript, files, events and the conversation itself; an end
//! still on its way to the skill stays, with the conversation reduced to its id and state, so the
//! customer is still told. Each erasure is audited by its counts, the customer only as a hash.

use livechat_contract::api::{Conversation, ConversationState, TranscriptEntry};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Row, SqliteConnection};

use super::conversations::{conversation_event, end_in};
use super::events::now;
use super::model::{AddMessageError, ConversationId, EndingParty, Event, Note};
use super::notes::notes_in;
use super::rows::{conversation_from_row, entry_from_row};
use super::sql;
use super::writer::Written;

/// Conversations deleted by retention in one transaction, at most.
pub const RETENTION_BATCH: i64 = 200;

/// What an erasure or a retention sweep deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    pub conversations: u64,
    pub messages: u64,
    pub files: u64,
    /// Conversations that were open and were ended first.
    pub ended: u64,
    /// The conversations touched, for the events in memory to forget.
    #[serde(skip)]
    pub ids: Vec<ConversationId>,
    /// The events this erasure recorded of what remains, which memory keeps.
    #[serde(skip)]
    pub kept_events: Vec<i64>,
    /// The SHA-256 of each file forgotten, for its bytes to go once nothing refers to them.
    #[serde(skip)]
    pub hashes: Vec<String>,
}

/// One conversation of an export, with its whole transcript.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedConversation {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub transcript: Vec<TranscriptEntry>,
    /// Private notes and whispers, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

/// A customer's conversations, as `GET /api/chat/customers/{id}` answers them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerExport {
    pub customer_id: String,
    pub exported_at: String,
    pub conversations: Vec<ExportedConversation>,
}

/// A customer's id as the audit keeps it.
fn hashed(customer_id: &str) -> String {
    hex::encode(Sha256::digest(customer_id.as_bytes()))
}

async fn customer_conversations(
    connection: &mut SqliteConnection,
    customer_id: &str,
) -> anyhow::Result<Vec<Conversation>> {
    let rows = sqlx::query(sql::CONVERSATIONS_OF_CUSTOMER)
        .bind(customer_id)
        .fetch_all(&mut *connection)
        .await?;
    rows.iter().map(conversation_from_row).collect()
}

/// Every conversation of `customer_id` with its transcript; `None` when there is none.
pub async fn export_in(
    connection: &mut SqliteConnection,
    customer_id: &str,
) -> anyhow::Result<Option<CustomerExport>> {
    let conversations = customer_conversations(connection, customer_id).await?;
    if conversations.is_empty() {
        return Ok(None);
    }
    let mut exported = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        let rows = sqlx::query(sql::TRANSCRIPT)
            .bind(&conversation.summary.id)
            .fetch_all(&mut *connection)
            .await?;
        let transcript = rows
            .iter()
            .map(entry_from_row)
            .collect::<anyhow::Result<_>>()?;
        let id = ConversationId::parse(&conversation.summary.id)
            .ok_or_else(|| anyhow::anyhow!("a conversation without an id"))?;
        let notes = notes_in(connection, &id).await?;
        exported.push(ExportedConversation {
            conversation,
            transcript,
            notes,
        });
    }
    Ok(Some(CustomerExport {
        customer_id: customer_id.to_owned(),
        exported_at: now(),
        conversations: exported,
    }))
}

/// Erases everything of `customer_id`, ending an open conversation first (the skill is told, as
/// for an agent's end, by `ending_name`); `None` when the customer has no conversation.
pub async fn erase_customer_in(
    connection: &mut SqliteConnection,
    customer_id: String,
    ending_name: String,
) -> Result<Written<Option<Erased>>, AddMessageError> {
    let conversations = customer_conversations(connection, &customer_id).await?;
    if conversations.is_empty() {
        return Ok(Written::quiet(None));
    }
    let mut erased = Erased::default();
    let mut events = Vec::new();
    let mut outbox = false;
    for conversation in conversations {
        let id = ConversationId::parse(&conversation.summary.id)
            .ok_or_else(|| anyhow::anyhow!("a conversation without an id"))?;
        if conversation.summary.state == ConversationState::Open {
            let ended = end_in(
                connection,
                id.clone(),
                EndingParty::Agent {
                    name: ending_name.clone(),
                    username: None,
                },
                // Erased: nothing is left to wrap up.
                None,
            )
            .await?;
            outbox |= ended.outbox;
            erased.ended += 1;
            // An agent's load changed; what was said of the conversation goes with it.
            events.extend(
                ended
                    .events
                    .into_iter()
                    .filter(|event| event.conversation_id.is_none()),
            );
        }
        if let Some(event) = delete_conversation_in(connection, &id, &mut erased).await? {
            erased.kept_events.push(event.seq);
            events.push(event);
        }
    }
    sqlx::query(sql::INSERT_ERASURE)
        .bind(hashed(&customer_id))
        .bind(erased.conversations as i64)
        .bind(erased.messages as i64)
        .bind(erased.files as i64)
        .bind(now())
        .execute(&mut *connection)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Written {
        value: Some(erased),
        events,
        outbox,
    })
}

/// Deletes up to [`RETENTION_BATCH`] conversations that ended before `ended_before` (RFC 3339).
pub async fn delete_expired_in(
    connection: &mut SqliteConnection,
    ended_before: String,
) -> anyhow::Result<Written<Erased>> {
    let rows = sqlx::query(sql::EXPIRED_CONVERSATIONS)
        .bind(&ended_before)
        .bind(RETENTION_BATCH)
        .fetch_all(&mut *connection)
        .await?;
    let mut erased = Erased::default();
    for row in rows {
        let id: String = row.try_get("id")?;
        if let Some(id) = ConversationId::parse(&id) {
            delete_conversation_in(connection, &id, &mut erased).await?;
        }
    }
    Ok(Written::quiet(erased))
}

/// Deletes one conversation's files, transcript and events, then the conversation itself, or, while
/// its end is still on its way to the skill, all of the customer in it; answers the event that
/// tells the pages what remains.
async fn delete_conversation_in(
    connection: &mut SqliteConnection,
    id: &ConversationId,
    erased: &mut Erased,
) -> anyhow::Result<Option<Event>> {
    let files = sqlx::query(sql::DELETE_CONVERSATION_FILES)
        .bind(id.as_str())
        .fetch_all(&mut *connection)
        .await?;
    erased.files += files.len() as u64;
    for row in &files {
        erased.hashes.push(row.try_get("sha256")?);
    }
    sqlx::query(sql::DELETE_CONVERSATION_NOTES)
        .bind(id.as_str())
        .execute(&mut *connection)
        .await?;
    let messages = sqlx::query(sql::DELETE_CONVERSATION_ENTRIES)
        .bind(id.as_str())
        .execute(&mut *connection)
        .await?;
    erased.messages += messages.rows_affected();
    sqlx::query(sql::DELETE_CONVERSATION_EVENTS)
        .bind(id.as_str())
        .execute(&mut *connection)
        .await?;
    erased.ids.push(id.clone());
    let deleted = sqlx::query(sql::DELETE_CONVERSATION)
        .bind(id.as_str())
        .execute(&mut *connection)
        .await?;
    erased.conversations += 1;
    if deleted.rows_affected() == 1 {
        return Ok(None);
    }
    sqlx::query(sql::ANONYMISE_CONVERSATION)
        .bind(id.as_str())
        .execute(&mut *connection)
        .await?;
    Ok(Some(conversation_event(connection, id).await?))
}
