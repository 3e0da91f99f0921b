//! The embedded store: one SQLite file under the data directory.
//!
//! WAL journal with `synchronous = FULL`, so that a committed row survives a crash or power loss
//! before the skill acknowledges it. The pool has one connection: SQLite serialises writers anyway,
//! and one connection rules out `SQLITE_BUSY` on transaction upgrades. No transaction is held across
//! a network call. One instance per file; several instances share a [`super::PostgresStore`] instead.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use super::{
    BeginSession, ClosedBy, Delivery, DeliveryCounts, Enqueued, Lane, NewDelivery, Session,
    SessionState, Store,
};
use crate::protocol::ConversationReference;

const SESSION_COLUMNS: &str =
    "id, copilot_conversation_id, livechat_conversation_id, state, closed_by, reference, origin_conversation_id, problem_forwarded";

/// SQLite-backed [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) `skill.db` in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "cannot create the data directory {} (SKILL_DATA_DIR)",
                data_dir.display()
            )
        })?;
        let path = data_dir.join("skill.db");
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
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .context("cannot migrate the database schema")?;
        Ok(Self { pool })
    }
}

/// Fixed-width UTC timestamps, so that text comparison is time comparison.
pub(super) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Sessions still `opening` after this were abandoned by a process that stopped mid-start.
pub(super) fn abandoned_opening_cutoff() -> String {
    (Utc::now() - chrono::Duration::seconds(super::ABANDONED_OPENING_SECS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn lane_of(text: &str) -> anyhow::Result<Lane> {
    match text {
        "teams" => Ok(Lane::Teams),
        "livechat" => Ok(Lane::LiveChat),
        other => anyhow::bail!("unknown lane '{other}' in the database"),
    }
}

fn session_from_row(row: &SqliteRow) -> anyhow::Result<Session> {
    let state: String = row.try_get("state")?;
    let closed_by: Option<String> = row.try_get("closed_by")?;
    let reference: String = row.try_get("reference")?;
    Ok(Session {
        id: row.try_get("id")?,
        copilot_conversation_id: row.try_get("copilot_conversation_id")?,
        livechat_conversation_id: row.try_get("livechat_conversation_id")?,
        state: SessionState::parse(&state)
            .with_context(|| format!("unknown session state '{state}'"))?,
        closed_by: closed_by.as_deref().and_then(ClosedBy::parse),
        reference: serde_json::from_str::<ConversationReference>(&reference)
            .context("unreadable conversation reference")?,
        origin_conversation_id: row.try_get("origin_conversation_id")?,
        problem_forwarded: row.try_get::<i64, _>("problem_forwarded")? != 0,
    })
}

fn delivery_from_row(row: &SqliteRow) -> anyhow::Result<Delivery> {
    let lane: String = row.try_get("lane")?;
    let payload: String = row.try_get("payload")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        lane: lane_of(&lane)?,
        queue_key: row.try_get("queue_key")?,
        payload: serde_json::from_str(&payload).context("unreadable delivery payload")?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
    })
}

/// Inserts a delivery; false when its dedupe key was taken.
async fn insert_delivery(
    connection: &mut sqlx::SqliteConnection,
    delivery: &NewDelivery,
) -> anyhow::Result<bool> {
    let result = sqlx::query(
        "INSERT INTO deliveries (lane, queue_key, dedupe_key, payload, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (lane, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING",
    )
    .bind(delivery.lane.as_str())
    .bind(&delivery.queue_key)
    .bind(&delivery.dedupe_key)
    .bind(delivery.payload.to_string())
    .bind(Utc::now().timestamp_millis())
    .bind(now_text())
    .execute(connection)
    .await
    .context("cannot store a delivery")?;
    Ok(result.rows_affected() == 1)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn recover_interrupted_sessions(&self) -> anyhow::Result<u64> {
        let result = sqlx::query("UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = ? WHERE state = 'opening'")
            .bind(now_text())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    async fn begin_session(
        &self,
        copilot_conversation_id: &str,
        origin_conversation_id: Option<&str>,
        reference: &ConversationReference,
    ) -> anyhow::Result<BeginSession> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = ? WHERE copilot_conversation_id = ? AND state = 'opening' AND created_at < ?")
            .bind(now_text())
            .bind(copilot_conversation_id)
            .bind(abandoned_opening_cutoff())
            .execute(&mut *transaction)
            .await?;
        let existing = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE (copilot_conversation_id = ? OR origin_conversation_id = ?) AND state IN ('opening', 'open')"
        ))
        .bind(copilot_conversation_id)
        .bind(origin_conversation_id)
        .fetch_optional(&mut *transaction)
        .await?;
        if let Some(row) = existing {
            return Ok(BeginSession::Existing(session_from_row(&row)?));
        }
        let session = Session {
            id: Uuid::new_v4().to_string(),
            copilot_conversation_id: copilot_conversation_id.to_owned(),
            livechat_conversation_id: None,
            state: SessionState::Opening,
            closed_by: None,
            reference: reference.clone(),
            origin_conversation_id: origin_conversation_id.map(str::to_owned),
            problem_forwarded: false,
        };
        // The unique index over live sessions is the last word if another writer got here first.
        sqlx::query("INSERT INTO sessions (id, copilot_conversation_id, origin_conversation_id, state, reference, created_at) VALUES (?, ?, ?, 'opening', ?, ?)")
            .bind(&session.id)
            .bind(copilot_conversation_id)
            .bind(origin_conversation_id)
            .bind(serde_json::to_string(reference)?)
            .bind(now_text())
            .execute(&mut *transaction)
            .await
            .context("cannot create a session")?;
        transaction.commit().await?;
        Ok(BeginSession::Created(session))
    }

    async fn complete_session_open(
        &self,
        session_id: &str,
        livechat_conversation_id: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE sessions SET state = 'open', livechat_conversation_id = ?, opened_at = ? WHERE id = ? AND state = 'opening'")
            .bind(livechat_conversation_id)
            .bind(now_text())
            .bind(session_id)
            .execute(&self.pool)
            .await
            .context("cannot record the live-chat id")?;
        Ok(())
    }

    async fn fail_session_open(&self, session_id: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = ? WHERE id = ? AND state = 'opening'")
            .bind(now_text())
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn live_session(&self, copilot_conversation_id: &str) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE copilot_conversation_id = ? AND state IN ('opening', 'open')"
        ))
        .bind(copilot_conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn live_session_by_origin(
        &self,
        origin_conversation_id: &str,
    ) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE origin_conversation_id = ? AND state IN ('opening', 'open') ORDER BY created_at DESC LIMIT 1"))
            .bind(origin_conversation_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn latest_session(
        &self,
        copilot_conversation_id: &str,
    ) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE copilot_conversation_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1"
        ))
        .bind(copilot_conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn session_by_livechat_id(
        &self,
        livechat_conversation_id: &str,
    ) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE livechat_conversation_id = ?"
        ))
        .bind(livechat_conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn record_user_messages(
        &self,
        session_id: &str,
        deliveries: Vec<NewDelivery>,
        problem_forwarded: bool,
    ) -> anyhow::Result<()> {
        let mut transaction = self.pool.begin().await?;
        for delivery in &deliveries {
            insert_delivery(&mut transaction, delivery).await?;
        }
        if problem_forwarded {
            sqlx::query("UPDATE sessions SET problem_forwarded = 1 WHERE id = ?")
                .bind(session_id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn close_session(
        &self,
        session_id: &str,
        closed_by: ClosedBy,
        deliveries: Vec<NewDelivery>,
    ) -> anyhow::Result<bool> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query("UPDATE sessions SET state = 'closed', closed_by = ?, closed_at = ? WHERE id = ? AND state = 'open'")
            .bind(closed_by.as_str())
            .bind(now_text())
            .bind(session_id)
            .execute(&mut *transaction)
            .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        for delivery in &deliveries {
            insert_delivery(&mut transaction, delivery).await?;
        }
        transaction.commit().await?;
        Ok(true)
    }

    async fn enqueue_for_open_session(
        &self,
        session_id: &str,
        delivery: NewDelivery,
    ) -> anyhow::Result<Enqueued> {
        let mut transaction = self.pool.begin().await?;
        // A repeat of a message accepted earlier is answered as accepted, even if the session has
        // closed since: the sender must not think it was lost.
        if let Some(dedupe_key) = &delivery.dedupe_key {
            let seen = sqlx::query("SELECT 1 FROM deliveries WHERE lane = ? AND dedupe_key = ?")
                .bind(delivery.lane.as_str())
                .bind(dedupe_key)
                .fetch_optional(&mut *transaction)
                .await?;
            if seen.is_some() {
                return Ok(Enqueued::Duplicate);
            }
        }
        let open = sqlx::query("SELECT 1 FROM sessions WHERE id = ? AND state = 'open'")
            .bind(session_id)
            .fetch_optional(&mut *transaction)
            .await?;
        if open.is_none() {
            return Ok(Enqueued::SessionClosed);
        }
        let inserted = insert_delivery(&mut transaction, &delivery).await?;
        transaction.commit().await?;
        Ok(if inserted {
            Enqueued::Accepted
        } else {
            Enqueued::Duplicate
        })
    }

    async fn enqueue(&self, delivery: NewDelivery) -> anyhow::Result<bool> {
        let mut connection = self.pool.acquire().await?;
        insert_delivery(&mut connection, &delivery).await
    }

    async fn due_deliveries(
        &self,
        lane: Lane,
        now_ms: i64,
        limit: u32,
        busy_queues: &[String],
    ) -> anyhow::Result<Vec<Delivery>> {
        // The head of each queue only: a later message never overtakes an earlier one that is
        // waiting for its retry.
        let rows = sqlx::query(
            "SELECT d.id, d.lane, d.queue_key, d.payload, d.attempts FROM deliveries d
             WHERE d.lane = ? AND d.state = 'pending' AND d.next_attempt_at <= ?
               AND d.id = (SELECT MIN(h.id) FROM deliveries h
                           WHERE h.lane = d.lane AND h.queue_key = d.queue_key AND h.state = 'pending')
             ORDER BY d.id LIMIT ?",
        )
        .bind(lane.as_str())
        .bind(now_ms)
        .bind(i64::from(limit) + busy_queues.len() as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut deliveries = Vec::new();
        for row in &rows {
            let delivery = delivery_from_row(row)?;
            if !busy_queues.contains(&delivery.queue_key) && deliveries.len() < limit as usize {
                deliveries.push(delivery);
            }
        }
        Ok(deliveries)
    }

    async fn next_due_at(&self, lane: Lane) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE lane = ? AND state = 'pending'")
            .bind(lane.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("due")?)
    }

    async fn mark_delivered(&self, delivery_id: i64) -> anyhow::Result<()> {
        sqlx::query("UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, finished_at = ?, last_error = NULL WHERE id = ?")
            .bind(now_text())
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn schedule_retry(
        &self,
        delivery_id: i64,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?")
            .bind(next_attempt_at_ms)
            .bind(error)
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_failed(&self, delivery_id: i64, error: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE deliveries SET state = 'failed', attempts = attempts + 1, finished_at = ?, last_error = ? WHERE id = ?")
            .bind(now_text())
            .bind(error)
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_finished(&self, before: &str) -> anyhow::Result<(u64, u64)> {
        let deliveries = sqlx::query(
            "DELETE FROM deliveries WHERE state IN ('delivered', 'failed') AND finished_at < ?",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let sessions = sqlx::query("DELETE FROM sessions WHERE state = 'closed' AND closed_at < ?")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok((sessions, deliveries))
    }

    async fn count_open_sessions(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS open FROM sessions WHERE state = 'open'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("open")?)
    }

    async fn delivery_counts(&self, lane: Lane) -> anyhow::Result<DeliveryCounts> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM deliveries WHERE lane = ? GROUP BY state",
        )
        .bind(lane.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut counts = DeliveryCounts::default();
        for row in rows {
            let state: String = row.try_get("state")?;
            let n: i64 = row.try_get("n")?;
            match state.as_str() {
                "pending" => counts.pending = n,
                "delivered" => counts.delivered = n,
                "failed" => counts.failed = n,
                _ => {}
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (SqliteStore::open(dir.path()).await.unwrap(), dir)
    }

    fn teams(queue: &str, dedupe: Option<&str>) -> NewDelivery {
        NewDelivery {
            lane: Lane::Teams,
            queue_key: queue.into(),
            dedupe_key: dedupe.map(str::to_owned),
            payload: json!({"q": queue}),
        }
    }

    #[tokio::test]
    async fn one_live_session_per_conversation() {
        let (store, _dir) = store().await;
        let reference = ConversationReference::default();
        let BeginSession::Created(first) =
            store.begin_session("c1", None, &reference).await.unwrap()
        else {
            panic!("expected a new session")
        };
        let BeginSession::Existing(again) =
            store.begin_session("c1", None, &reference).await.unwrap()
        else {
            panic!("expected the same session")
        };
        assert_eq!(first.id, again.id);
        store
            .complete_session_open(&first.id, "lc-1")
            .await
            .unwrap();
        assert_eq!(
            store
                .session_by_livechat_id("lc-1")
                .await
                .unwrap()
                .unwrap()
                .state,
            SessionState::Open
        );
        assert!(store
            .close_session(&first.id, ClosedBy::User, vec![])
            .await
            .unwrap());
        assert!(
            !store
                .close_session(&first.id, ClosedBy::User, vec![])
                .await
                .unwrap(),
            "closing twice changes nothing"
        );
        let BeginSession::Created(second) =
            store.begin_session("c1", None, &reference).await.unwrap()
        else {
            panic!("expected a new session")
        };
        assert_ne!(first.id, second.id);
    }

    #[tokio::test]
    async fn only_queue_heads_are_due_and_duplicates_are_refused() {
        let (store, _dir) = store().await;
        assert!(store.enqueue(teams("a", Some("m1"))).await.unwrap());
        assert!(!store.enqueue(teams("a", Some("m1"))).await.unwrap());
        assert!(store.enqueue(teams("a", Some("m2"))).await.unwrap());
        assert!(store.enqueue(teams("b", None)).await.unwrap());
        let now = Utc::now().timestamp_millis() + 1;
        let due = store
            .due_deliveries(Lane::Teams, now, 10, &[])
            .await
            .unwrap();
        assert_eq!(
            due.iter().map(|d| d.queue_key.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        store
            .schedule_retry(due[0].id, now + 60_000, "busy")
            .await
            .unwrap();
        let due = store
            .due_deliveries(Lane::Teams, now, 10, &[])
            .await
            .unwrap();
        assert_eq!(due.len(), 1, "a's second message waits behind its head");
        assert_eq!(due[0].queue_key, "b");
        assert!(store
            .due_deliveries(Lane::Teams, now, 10, &["b".into()])
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn purging_keeps_what_is_still_live() {
        let (store, _dir) = store().await;
        let BeginSession::Created(closed) = store
            .begin_session("c1", None, &ConversationReference::default())
            .await
            .unwrap()
        else {
            panic!()
        };
        store
            .complete_session_open(&closed.id, "lc-1")
            .await
            .unwrap();
        store
            .close_session(&closed.id, ClosedBy::User, vec![])
            .await
            .unwrap();
        let BeginSession::Created(open) = store
            .begin_session("c2", None, &ConversationReference::default())
            .await
            .unwrap()
        else {
            panic!()
        };
        store.complete_session_open(&open.id, "lc-2").await.unwrap();
        store.enqueue(teams("c2", Some("done"))).await.unwrap();
        store.enqueue(teams("c2", Some("waiting"))).await.unwrap();
        let due = store
            .due_deliveries(Lane::Teams, Utc::now().timestamp_millis() + 1, 1, &[])
            .await
            .unwrap();
        store.mark_delivered(due[0].id).await.unwrap();

        let tomorrow = (Utc::now() + chrono::Duration::days(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        assert_eq!(store.purge_finished(&tomorrow).await.unwrap(), (1, 1));
        assert!(store
            .session_by_livechat_id("lc-1")
            .await
            .unwrap()
            .is_none());
        assert!(
            store
                .session_by_livechat_id("lc-2")
                .await
                .unwrap()
                .is_some(),
            "open sessions stay"
        );
        assert_eq!(
            store.delivery_counts(Lane::Teams).await.unwrap().pending,
            1,
            "pending deliveries stay"
        );
        let yesterday = (Utc::now() - chrono::Duration::days(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        assert_eq!(store.purge_finished(&yesterday).await.unwrap(), (0, 0));
    }

    #[tokio::test]
    async fn agent_messages_need_an_open_session() {
        let (store, _dir) = store().await;
        let BeginSession::Created(session) = store
            .begin_session("c1", None, &ConversationReference::default())
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            store
                .enqueue_for_open_session(&session.id, teams("c1", Some("x")))
                .await
                .unwrap(),
            Enqueued::SessionClosed,
            "still opening"
        );
        store
            .complete_session_open(&session.id, "lc")
            .await
            .unwrap();
        assert_eq!(
            store
                .enqueue_for_open_session(&session.id, teams("c1", Some("x")))
                .await
                .unwrap(),
            Enqueued::Accepted
        );
        assert_eq!(
            store
                .enqueue_for_open_session(&session.id, teams("c1", Some("x")))
                .await
                .unwrap(),
            Enqueued::Duplicate
        );
        store
            .close_session(&session.id, ClosedBy::Agent, vec![])
            .await
            .unwrap();
        assert_eq!(
            store
                .enqueue_for_open_session(&session.id, teams("c1", Some("x")))
                .await
                .unwrap(),
            Enqueued::Duplicate
        );
        assert_eq!(
            store
                .enqueue_for_open_session(&session.id, teams("c1", Some("y")))
                .await
                .unwrap(),
            Enqueued::SessionClosed
        );
    }
}
