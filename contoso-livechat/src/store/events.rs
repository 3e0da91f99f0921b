//! The numbered event log that feeds the agents' live updates: each change writes its event in
//! the transaction that makes it, so a page replaying from the table misses nothing.

use serde::Serialize;
use sqlx::SqliteConnection;

use super::model::{ConversationId, Event, EventKind};
use super::sql;

/// Fixed-width UTC timestamps, so that text comparison is time comparison.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Records an event about `conversation` (none: about an agent) carrying `payload` as JSON.
pub async fn insert_event(
    connection: &mut SqliteConnection,
    kind: EventKind,
    conversation: Option<&ConversationId>,
    payload: &impl Serialize,
) -> anyhow::Result<Event> {
    let payload = serde_json::to_string(payload)?;
    let result = sqlx::query(sql::INSERT_EVENT)
        .bind(kind.as_str())
        .bind(conversation.map_or("", ConversationId::as_str))
        .bind(&payload)
        .bind(now())
        .execute(&mut *connection)
        .await?;
    Ok(Event {
        seq: result.last_insert_rowid(),
        kind,
        conversation_id: conversation.cloned(),
        payload,
    })
}
