//! How the store's rows read into the contract's conversations and transcript entries, its agents
//! and events, and how an entry's detail is written in its column.

use anyhow::Context;
use livechat_contract::api::{
    Conversation, ConversationState, ConversationStatus, ConversationSummary, DeliveryState,
    EndedBy, EntryKind, Role, TranscriptEntry,
};
use livechat_contract::files::{self, Attachment};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::model::{AgentState, ConversationId, EntryDetail, Event, EventKind, Presence};

/// A stored name that must be one of the contract's.
fn named<T>(text: String, parse: fn(&str) -> Option<T>, what: &str) -> anyhow::Result<T> {
    parse(&text).with_context(|| format!("unknown {what} '{text}' in the database"))
}

pub fn conversation_from_row(row: &SqliteRow) -> anyhow::Result<Conversation> {
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
        disposition: row.try_get("disposition")?,
        wrap_up_summary: row.try_get("wrap_up_summary")?,
        wrap_up_pending: row.try_get::<Option<i64>, _>("wrap_up_due_ms")?.is_some(),
        accepted_at: row.try_get("accepted_at")?,
    })
}

pub fn entry_from_row(row: &SqliteRow) -> anyhow::Result<TranscriptEntry> {
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
        attachments: attachments_of(row.try_get("attachments")?)?,
        masked: masked_rules(row.try_get("masked")?),
    })
}

/// The masking rules a `masked` column names (comma-separated), or none.
pub fn masked_rules(column: Option<String>) -> Vec<String> {
    column
        .map(|rules| rules.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A file as the `attachments` column's JSON array holds it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentRecord {
    id: String,
    name: String,
    content_type: String,
    size: u64,
    sha256: String,
    width: Option<u32>,
    height: Option<u32>,
    animated: u8,
    removed: u8,
}

/// An entry's files from its `attachments` column.
fn attachments_of(column: Option<String>) -> anyhow::Result<Vec<Attachment>> {
    let Some(text) = column else {
        return Ok(Vec::new());
    };
    let records: Vec<AttachmentRecord> =
        serde_json::from_str(&text).context("an entry's files are unreadable")?;
    Ok(records
        .into_iter()
        .map(|record| Attachment {
            url: files::file_path(&record.id),
            id: record.id,
            name: record.name,
            content_type: record.content_type,
            size: record.size,
            sha256: record.sha256,
            width: record.width,
            height: record.height,
            animated: record.animated != 0,
            removed: record.removed != 0,
        })
        .collect())
}

pub fn agent_from_row(row: &SqliteRow) -> anyhow::Result<AgentState> {
    Ok(AgentState {
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        presence: named(row.try_get("presence")?, Presence::parse, "presence")?,
        capacity: u32::try_from(row.try_get::<i64, _>("capacity")?).unwrap_or(0),
        active: u32::try_from(row.try_get::<i64, _>("active")?).unwrap_or(0),
    })
}

pub fn event_from_row(row: &SqliteRow) -> anyhow::Result<Event> {
    let conversation: String = row.try_get("conversation_id")?;
    Ok(Event {
        seq: row.try_get("seq")?,
        kind: named(row.try_get("kind")?, EventKind::parse, "event kind")?,
        conversation_id: ConversationId::parse(&conversation),
        payload: row.try_get("payload")?,
    })
}

/// The `detail` column of a `joined` entry.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinedRecord {
    agent_name: String,
    transferred_by: Option<String>,
}

/// The `detail` column of a `queue` entry.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueueRecord {
    queue_position: u32,
    estimated_wait_seconds: u64,
}

/// An entry's detail as its column holds it.
pub fn encode_detail(detail: &EntryDetail) -> anyhow::Result<String> {
    Ok(match detail {
        EntryDetail::Joined {
            agent_name,
            transferred_by,
        } => serde_json::to_string(&JoinedRecord {
            agent_name: agent_name.clone(),
            transferred_by: transferred_by.clone(),
        })?,
        EntryDetail::Queue {
            position,
            estimated_wait_seconds,
        } => serde_json::to_string(&QueueRecord {
            queue_position: *position,
            estimated_wait_seconds: *estimated_wait_seconds,
        })?,
    })
}

/// An entry's detail from its column, by the entry's kind (other kinds have none).
pub fn decode_detail(kind: EntryKind, column: Option<&str>) -> anyhow::Result<Option<EntryDetail>> {
    let Some(text) = column else {
        return Ok(None);
    };
    Ok(match kind {
        EntryKind::Joined => {
            let record: JoinedRecord =
                serde_json::from_str(text).context("the stored joining is unreadable")?;
            Some(EntryDetail::Joined {
                agent_name: record.agent_name,
                transferred_by: record.transferred_by,
            })
        }
        EntryKind::Queue => {
            let record: QueueRecord =
                serde_json::from_str(text).context("the stored queue update is unreadable")?;
            Some(EntryDetail::Queue {
                position: record.queue_position,
                estimated_wait_seconds: record.estimated_wait_seconds,
            })
        }
        EntryKind::Message | EntryKind::Ended => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_read_back_as_written_and_as_earlier_releases_wrote_them() {
        for detail in [
            EntryDetail::Joined {
                agent_name: "Ann".into(),
                transferred_by: Some("Ben".into()),
            },
            EntryDetail::Queue {
                position: 2,
                estimated_wait_seconds: 90,
            },
        ] {
            let kind = match detail {
                EntryDetail::Joined { .. } => EntryKind::Joined,
                EntryDetail::Queue { .. } => EntryKind::Queue,
            };
            let column = encode_detail(&detail).unwrap();
            assert_eq!(decode_detail(kind, Some(&column)).unwrap(), Some(detail));
        }
        assert_eq!(
            decode_detail(
                EntryKind::Joined,
                Some(r#"{"agentName":"Ann","transferredBy":null}"#)
            )
            .unwrap(),
            Some(EntryDetail::Joined {
                agent_name: "Ann".into(),
                transferred_by: None
            })
        );
        assert!(decode_detail(EntryKind::Queue, Some("{}")).is_err());
        assert_eq!(decode_detail(EntryKind::Message, Some("{}")).unwrap(), None);
    }
}
