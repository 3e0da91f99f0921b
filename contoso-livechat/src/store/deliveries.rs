//! The webhook outbox: agents' replies (and an agent's end, joining, a queue update) are entries
//! pending delivery to the skill, each conversation's oldest first; the webhook worker takes them
//! here and records what became of each.

use chrono::Utc;
use livechat_contract::api::{DeliveryState, TranscriptEntry};
use sqlx::{Row, SqliteConnection};

use super::events::insert_event;
use super::model::{AttemptCount, ConversationId, DeliveryChange, EventKind, PendingDelivery};
use super::rows::{decode_detail, entry_from_row};
use super::sql;
use super::writer::Written;

/// The oldest pending entry of each conversation that is due at `now_ms`, skipping the `busy`
/// conversations (being delivered to), at most `limit`.
pub async fn due_in(
    connection: &mut SqliteConnection,
    now_ms: i64,
    limit: u32,
    busy: &[ConversationId],
) -> anyhow::Result<Vec<PendingDelivery>> {
    let rows = sqlx::query(sql::DUE_DELIVERIES)
        .bind(now_ms)
        .bind(i64::from(limit) + busy.len() as i64)
        .fetch_all(&mut *connection)
        .await?;
    let mut due = Vec::new();
    for row in &rows {
        let entry = entry_from_row(row)?;
        if busy.iter().any(|id| id.as_str() == entry.conversation_id) || due.len() >= limit as usize
        {
            continue;
        }
        let attempts = u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX);
        let detail: Option<String> = row.try_get("detail")?;
        // An unreadable detail fails its entry alone (the worker finds none and gives it up),
        // never the read of everyone's.
        let detail = decode_detail(entry.kind, detail.as_deref()).unwrap_or_else(|error| {
            tracing::error!(error.cause_chain = ?error, message_id = %entry.id, "an entry's detail is unreadable");
            None
        });
        due.push(PendingDelivery {
            detail,
            entry,
            attempts,
            trace: row.try_get("trace_parent")?,
        });
    }
    Ok(due)
}

/// When the next pending entry falls due, if any.
pub async fn next_due_in(connection: &mut SqliteConnection) -> anyhow::Result<Option<i64>> {
    Ok(sqlx::query(sql::NEXT_DUE_AT)
        .fetch_one(&mut *connection)
        .await?
        .try_get("due")?)
}

/// Records a delivery outcome; an event when the state changed or an error is to be shown.
pub async fn set_delivery_in(
    connection: &mut SqliteConnection,
    seq: i64,
    change: &DeliveryChange,
) -> anyhow::Result<Written<TranscriptEntry>> {
    let previous: Option<String> = sqlx::query(sql::DELIVERY_STATE)
        .bind(seq)
        .fetch_one(&mut *connection)
        .await?
        .try_get("delivery_state")?;
    let row = sqlx::query(sql::SET_DELIVERY)
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
        let conversation = ConversationId::parse(&message.conversation_id);
        events.push(
            insert_event(
                connection,
                EventKind::Delivery,
                conversation.as_ref(),
                &message,
            )
            .await?,
        );
    }
    Ok(Written::with_events(message, events))
}

/// Puts a failed reply back in the queue, due at once; `None` when the message is not a failed
/// one.
pub async fn retry_failed_in(
    connection: &mut SqliteConnection,
    message_id: String,
) -> anyhow::Result<Written<Option<TranscriptEntry>>> {
    let row = sqlx::query(sql::FAILED_REPLY)
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
}
