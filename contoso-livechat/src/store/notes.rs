//! Private notes, inside the writer's transactions: any agent's note on a conversation, and a
//! supervisor's whisper to the agent who has it. A note is never a transcript entry, so it never
//! reaches the webhook's outbox, the session API or the customer; its event is a `note`, or for a
//! whisper a `whisper` the live streams show only to its agent and to supervisors.

use sqlx::{Row, SqliteConnection};

use super::conversations::holder_of;
use super::events::{insert_event, now};
use super::model::{AddMessageError, ConversationId, EventKind, NewNote, Note};
use super::rows::masked_rules;
use super::sql;
use super::writer::Written;

/// Adds a note (or a whisper) to a conversation: a whisper only while someone has it.
pub async fn add_note_in(
    connection: &mut SqliteConnection,
    conversation_id: ConversationId,
    note: NewNote,
) -> Result<Written<Note>, AddMessageError> {
    let holder = holder_of(connection, &conversation_id).await?;
    let whisper_to = if note.whisper {
        if !holder.open {
            return Err(AddMessageError::Ended(conversation_id));
        }
        Some(holder.username.ok_or_else(|| {
            AddMessageError::NotYours(
                "nobody has this conversation yet, so there is no one to whisper to".into(),
            )
        })?)
    } else {
        None
    };
    let id = uuid::Uuid::now_v7().to_string();
    let created_at = now();
    let masked = (!note.masked.is_empty()).then(|| note.masked.join(","));
    let after_seq: i64 = sqlx::query(sql::INSERT_NOTE)
        .bind(&id)
        .bind(conversation_id.as_str())
        .bind(&note.author)
        .bind(&note.author_name)
        .bind(&note.body)
        .bind(&whisper_to)
        .bind(conversation_id.as_str())
        .bind(&masked)
        .bind(&created_at)
        .fetch_one(&mut *connection)
        .await
        .map_err(anyhow::Error::from)?
        .try_get("after_seq")
        .map_err(anyhow::Error::from)?;
    let stored = Note {
        id,
        conversation_id: conversation_id.to_string(),
        author: note.author,
        author_name: note.author_name,
        body: note.body,
        whisper_to,
        after_seq,
        masked: note.masked,
        created_at,
    };
    let kind = if stored.whisper_to.is_some() {
        EventKind::Whisper
    } else {
        EventKind::Note
    };
    let event = insert_event(connection, kind, Some(&conversation_id), &stored).await?;
    Ok(Written {
        value: stored,
        events: vec![event],
        outbox: false,
    })
}

/// A conversation's notes, in the order the transcript places them.
pub async fn notes_in(
    connection: &mut SqliteConnection,
    conversation_id: &ConversationId,
) -> anyhow::Result<Vec<Note>> {
    let rows = sqlx::query(sql::NOTES)
        .bind(conversation_id.as_str())
        .fetch_all(&mut *connection)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Note {
                id: row.try_get("id")?,
                conversation_id: row.try_get("conversation_id")?,
                author: row.try_get("author")?,
                author_name: row.try_get("author_name")?,
                body: row.try_get("body")?,
                whisper_to: row.try_get("whisper_to")?,
                after_seq: row.try_get("after_seq")?,
                masked: masked_rules(row.try_get("masked")?),
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}
