//! A conversation's transcript and summary, written inside the writer's transactions: adding an
//! entry (a customer's or a system message, an agent's reply pending for the webhook, an end, an
//! agent joining, a queue update), ending, reading and rating. Each change writes its events in the
//! same transaction.

use anyhow::Context;
use chrono::Utc;
use livechat_contract::api::{
    Conversation, ConversationState, DeliveryState, EndedBy, EntryKind, Role, TranscriptEntry,
};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::agents::agent_event;
use super::attachments::{check_space_in, insert_attachments_in};
use super::events::{insert_event, now};
use super::model::{
    AddMessageError, ConversationId, EndingParty, Event, EventKind, NewEntry, Recorded, ReplyAuthor,
};
use super::rows::{conversation_from_row, encode_detail, entry_from_row};
use super::sql;
use super::writer::Written;

pub async fn conversation_in(
    connection: &mut SqliteConnection,
    id: &ConversationId,
) -> anyhow::Result<Option<Conversation>> {
    let row = sqlx::query(sql::CONVERSATION)
        .bind(id.as_str())
        .fetch_optional(&mut *connection)
        .await?;
    row.as_ref().map(conversation_from_row).transpose()
}

async fn entry_in(connection: &mut SqliteConnection, seq: i64) -> anyhow::Result<TranscriptEntry> {
    let row = sqlx::query(sql::ENTRY)
        .bind(seq)
        .fetch_one(&mut *connection)
        .await?;
    entry_from_row(&row)
}

/// A `conversation` event with the conversation's current summary.
pub async fn conversation_event(
    connection: &mut SqliteConnection,
    id: &ConversationId,
) -> anyhow::Result<Event> {
    let conversation = conversation_in(connection, id)
        .await?
        .context("the conversation vanished")?;
    insert_event(connection, EventKind::Conversation, Some(id), &conversation).await
}

/// Inserts an entry, updates the conversation's summary (waiting time, last message, unread) and
/// records the two events: four statements.
pub async fn insert_entry(
    connection: &mut SqliteConnection,
    conversation_id: &ConversationId,
    entry: NewEntry,
) -> anyhow::Result<Written<TranscriptEntry>> {
    let created_at = now();
    // Time-ordered ids (v7): the skill keeps an index of the ids it has seen, which grows at its
    // end instead of at random places.
    let id = Uuid::now_v7().to_string();
    let detail = entry.detail.as_ref().map(encode_detail).transpose()?;
    // An entry that is only a file shows the file's name where its words would be.
    let summary_text = match entry.files.first() {
        Some(file) if entry.body.trim().is_empty() => format!("Sent {}", file.name),
        _ => entry.body.clone(),
    };
    let result = sqlx::query(sql::INSERT_ENTRY)
        .bind(&id)
        .bind(conversation_id.as_str())
        .bind(entry.kind.as_str())
        .bind(entry.role.as_str())
        .bind(&entry.sender)
        .bind(&entry.body)
        .bind(&created_at)
        .bind(entry.delivery.map(DeliveryState::as_str))
        .bind(entry.delivery.map(|_| Utc::now().timestamp_millis()))
        .bind(&entry.client_id)
        .bind(&detail)
        // Only an entry for the webhook's outbox carries on its request's trace.
        .bind(entry.delivery.and_then(|_| super::writer::write_trace()))
        .bind((!entry.masked.is_empty()).then(|| entry.masked.join(",")))
        .execute(&mut *connection)
        .await?;
    let seq = result.last_insert_rowid();
    let attachments = insert_attachments_in(connection, conversation_id, seq, entry.files).await?;
    let stored = TranscriptEntry {
        seq,
        id,
        conversation_id: conversation_id.to_string(),
        kind: entry.kind,
        role: entry.role,
        sender: entry.sender,
        message: entry.body,
        timestamp: created_at,
        delivery_state: entry.delivery,
        last_error: None,
        attachments,
        masked: entry.masked,
    };
    if stored.kind == EntryKind::Queue {
        // For the webhook only: no transcript shows it, and the conversation's summary stays.
        return Ok(Written {
            outbox: true,
            value: stored,
            events: Vec::new(),
        });
    }
    let row = sqlx::query(sql::UPDATE_SUMMARY)
        .bind(stored.role.as_str())
        .bind(&stored.timestamp)
        .bind(stored.seq)
        .bind(stored.kind.as_str())
        .bind(&summary_text)
        .bind(conversation_id.as_str())
        .bind(&entry.customer_name)
        .fetch_one(&mut *connection)
        .await?;
    let conversation = conversation_from_row(&row)?;
    let events = vec![
        insert_event(
            connection,
            EventKind::Message,
            Some(conversation_id),
            &stored,
        )
        .await?,
        insert_event(
            connection,
            EventKind::Conversation,
            Some(conversation_id),
            &conversation,
        )
        .await?,
    ];
    Ok(Written {
        outbox: stored.delivery_state.is_some(),
        value: stored,
        events,
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
/// agent `author`, only the agent who has the conversation may write. An entry with files is
/// refused when keeping them would pass `space` bytes.
pub async fn add_entry_in(
    connection: &mut SqliteConnection,
    conversation_id: ConversationId,
    entry: NewEntry,
    author: Option<ReplyAuthor>,
    space: u64,
) -> Result<Written<Recorded<TranscriptEntry>>, AddMessageError> {
    let row = sqlx::query(sql::ENTRY_TARGET)
        .bind(&entry.client_id)
        .bind(conversation_id.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(anyhow::Error::from)?;
    let Some(row) = row else {
        return Err(AddMessageError::NotFound(conversation_id));
    };
    let read = |column: &str| -> Result<Option<String>, AddMessageError> {
        Ok(row.try_get(column).map_err(anyhow::Error::from)?)
    };
    let known: Option<i64> = row.try_get("known").map_err(anyhow::Error::from)?;
    if let Some(seq) = known {
        return Ok(Written::quiet(Recorded {
            value: entry_in(connection, seq).await?,
            created: false,
        }));
    }
    match read("state")?.as_deref().and_then(ConversationState::parse) {
        Some(ConversationState::Open) => {}
        Some(ConversationState::Ended) => return Err(AddMessageError::Ended(conversation_id)),
        None => return Err(AddMessageError::NotFound(conversation_id)),
    }
    check_author(
        author.as_ref(),
        read("assigned_agent")?.as_deref(),
        read("agent_name")?.as_deref(),
    )?;
    check_space_in(connection, &entry.files, space).await?;
    let written = insert_entry(connection, &conversation_id, entry).await?;
    Ok(written.map(|value| Recorded {
        value,
        created: true,
    }))
}

/// Ends an open conversation; false when it had ended already. When the agent ends it, an `ended`
/// entry is queued so that the skill is told (after any reply still pending).
/// A conversation's state, and who has it (username and shown name).
pub struct Holder {
    pub open: bool,
    pub username: Option<String>,
    pub name: Option<String>,
}

/// Who has `conversation_id`, and whether it is open; `NotFound` for an unknown one.
pub async fn holder_of(
    connection: &mut SqliteConnection,
    conversation_id: &ConversationId,
) -> Result<Holder, AddMessageError> {
    let row = sqlx::query(sql::HOLDER)
        .bind(conversation_id.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| AddMessageError::NotFound(conversation_id.clone()))?;
    let state: String = row.try_get("state").map_err(anyhow::Error::from)?;
    Ok(Holder {
        open: state == ConversationState::Open.as_str(),
        username: row.try_get("assigned_agent").map_err(anyhow::Error::from)?,
        name: row.try_get("agent_name").map_err(anyhow::Error::from)?,
    })
}

pub async fn end_in(
    connection: &mut SqliteConnection,
    conversation_id: ConversationId,
    by: EndingParty,
    wrap_up_due_ms: Option<i64>,
) -> Result<Written<bool>, AddMessageError> {
    let Holder {
        open,
        username: holder,
        name: holder_name,
    } = holder_of(connection, &conversation_id).await?;
    if let EndingParty::Agent {
        username: Some(username),
        ..
    } = &by
    {
        if open {
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
    let result = sqlx::query(sql::END_CONVERSATION)
        .bind(ended_by.as_str())
        .bind(now())
        .bind(wrap_up_due_ms)
        .bind(conversation_id.as_str())
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
                files: Vec::new(),
                masked: Vec::new(),
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
        events.extend(agent_event(connection, holder).await?);
    }
    Ok(Written {
        value: true,
        events,
        outbox,
    })
}

/// Moves the conversation's read mark to its newest entry.
pub async fn mark_read_in(
    connection: &mut SqliteConnection,
    conversation_id: ConversationId,
) -> anyhow::Result<Written<()>> {
    let result = sqlx::query(sql::MARK_READ)
        .bind(conversation_id.as_str())
        .execute(&mut *connection)
        .await?;
    if result.rows_affected() == 0 {
        return Ok(Written::quiet(()));
    }
    let event = conversation_event(connection, &conversation_id).await?;
    Ok(Written::with_events((), vec![event]))
}

/// Stores the customer's rating (replacing an earlier one); false for an unknown conversation.
pub async fn rate_in(
    connection: &mut SqliteConnection,
    conversation_id: ConversationId,
    rating: u8,
    comment: Option<String>,
) -> anyhow::Result<Written<bool>> {
    let result = sqlx::query(sql::RATE)
        .bind(i64::from(rating))
        .bind(comment)
        .bind(now())
        .bind(conversation_id.as_str())
        .execute(&mut *connection)
        .await?;
    if result.rows_affected() == 0 {
        return Ok(Written::quiet(false));
    }
    let event = conversation_event(connection, &conversation_id).await?;
    Ok(Written::with_events(true, vec![event]))
}
