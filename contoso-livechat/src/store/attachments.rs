//! Which entry has which file: the rows recorded with an entry in its transaction (after the
//! space they take is checked against `files.max_total_bytes`), a file as its download reads it,
//! the files retention removes, and the hashes still kept (the janitor deletes the other bytes).

use std::collections::HashSet;

use livechat_contract::files::{self, Attachment};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::events::now;
use super::model::{AddMessageError, ConversationId, NewFile, StoredFile};
use super::sql;

/// Refuses `new` files when keeping them would pass `space` bytes (bytes kept already for another
/// entry take no more room).
pub async fn check_space_in(
    connection: &mut SqliteConnection,
    new: &[NewFile],
    space: u64,
) -> Result<(), AddMessageError> {
    if new.is_empty() {
        return Ok(());
    }
    let kept: i64 = sqlx::query(sql::KEPT_BYTES)
        .fetch_one(&mut *connection)
        .await
        .map_err(anyhow::Error::from)?
        .try_get("kept")
        .map_err(anyhow::Error::from)?;
    let mut needed = u64::try_from(kept).unwrap_or(0);
    for file in new {
        let already = sqlx::query(sql::IS_KEPT)
            .bind(&file.sha256)
            .fetch_optional(&mut *connection)
            .await
            .map_err(anyhow::Error::from)?
            .is_some();
        if !already {
            needed = needed.saturating_add(file.size);
        }
    }
    if needed > space {
        return Err(AddMessageError::StorageFull);
    }
    Ok(())
}

/// Records `new` as the files of the entry `seq`, answering them as the contract shows them.
pub async fn insert_attachments_in(
    connection: &mut SqliteConnection,
    conversation: &ConversationId,
    seq: i64,
    new: Vec<NewFile>,
) -> anyhow::Result<Vec<Attachment>> {
    let created_at = now();
    let mut attachments = Vec::with_capacity(new.len());
    for file in new {
        let id = Uuid::now_v7().to_string();
        let (width, height, animated) = match file.picture {
            Some((width, height, animated)) => (Some(width), Some(height), animated),
            None => (None, None, false),
        };
        sqlx::query(sql::INSERT_ATTACHMENT)
            .bind(&id)
            .bind(conversation.as_str())
            .bind(seq)
            .bind(&file.name)
            .bind(&file.content_type)
            .bind(i64::try_from(file.size)?)
            .bind(&file.sha256)
            .bind(width.map(i64::from))
            .bind(height.map(i64::from))
            .bind(animated)
            .bind(&created_at)
            .execute(&mut *connection)
            .await?;
        attachments.push(Attachment {
            url: files::file_path(&id),
            id,
            name: file.name,
            content_type: file.content_type,
            size: file.size,
            sha256: file.sha256,
            width,
            height,
            animated,
            removed: false,
        });
    }
    Ok(attachments)
}

/// A stored file by its id.
pub async fn file_in(
    connection: &mut SqliteConnection,
    id: &str,
) -> anyhow::Result<Option<StoredFile>> {
    let Some(row) = sqlx::query(sql::ATTACHMENT)
        .bind(id)
        .fetch_optional(&mut *connection)
        .await?
    else {
        return Ok(None);
    };
    let conversation: String = row.try_get("conversation_id")?;
    Ok(Some(StoredFile {
        conversation_id: ConversationId::parse(&conversation)
            .ok_or_else(|| anyhow::anyhow!("a file without a conversation"))?,
        name: row.try_get("name")?,
        content_type: row.try_get("content_type")?,
        size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or(0),
        sha256: row.try_get("sha256")?,
        removed: row.try_get::<bool, _>("removed")?,
    }))
}

/// Marks the files of conversations that ended before `ended_before` (RFC 3339) removed; answers
/// how many.
pub async fn remove_expired_in(
    connection: &mut SqliteConnection,
    ended_before: String,
) -> anyhow::Result<usize> {
    let removed = sqlx::query(sql::REMOVE_EXPIRED_FILES)
        .bind(now())
        .bind(ended_before)
        .fetch_all(&mut *connection)
        .await?;
    Ok(removed.len())
}

/// The hashes of every file still kept.
pub async fn kept_hashes_in(connection: &mut SqliteConnection) -> anyhow::Result<HashSet<String>> {
    let rows = sqlx::query(sql::KEPT_HASHES)
        .fetch_all(&mut *connection)
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get::<String, _>("sha256")?))
        .collect()
}
