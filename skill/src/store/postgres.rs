//! The shared store: PostgreSQL, for several instances of the skill behind one load balancer.
//!
//! Same schema and invariants as [`super::SqliteStore`], with what sharing needs: the unique index
//! decides concurrent `startConversation`s across instances (`ON CONFLICT DO NOTHING`), and the
//! outbox workers claim the heads of their queues with `FOR UPDATE SKIP LOCKED` and a lease (the
//! row's `next_attempt_at` moves [`CLAIM_LEASE_MS`] ahead), so no two instances send the same
//! message, and a message claimed by an instance that dies is taken over when the lease ends.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::Row;
use uuid::Uuid;

use super::sqlite::{abandoned_opening_cutoff, now_text};
use super::{
    BeginSession, ClosedBy, Delivery, DeliveryCounts, Enqueued, Lane, NewDelivery, Session,
    SessionState, Store,
};
use crate::protocol::ConversationReference;

/// How long a claimed delivery is reserved for the instance that claimed it.
pub const CLAIM_LEASE_MS: i64 = 60_000;

const SESSION_COLUMNS: &str = "id, copilot_conversation_id, livechat_conversation_id, state, closed_by, reference, origin_conversation_id, problem_forwarded";

/// PostgreSQL-backed [`Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects (`postgres://user:password@host/database`) and brings the schema up to date.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .context("cannot connect to the PostgreSQL database (SKILL_DATABASE_URL)")?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .context("cannot migrate the database schema")?;
        Ok(Self { pool })
    }
}

fn lane_of(text: &str) -> anyhow::Result<Lane> {
    match text {
        "teams" => Ok(Lane::Teams),
        "livechat" => Ok(Lane::LiveChat),
        other => anyhow::bail!("unknown lane '{other}' in the database"),
    }
}

fn session_from_row(row: &PgRow) -> anyhow::Result<Session> {
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

fn delivery_from_row(row: &PgRow) -> anyhow::Result<Delivery> {
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

async fn insert_delivery(
    connection: &mut sqlx::PgConnection,
    delivery: &NewDelivery,
) -> anyhow::Result<bool> {
    let result = sqlx::query(
        "INSERT INTO deliveries (lane, queue_key, dedupe_key, payload, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (lane, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING",
    )
    .bind(delivery.lane.as_str())
    .bind(&delivery.queue_key)
    .bind(&delivery.dedupe_key)
    .bind(delivery.payload.to_string())
    .bind(chrono::Utc::now().timestamp_millis())
    .bind(now_text())
    .execute(connection)
    .await
    .context("cannot store a delivery")?;
    Ok(result.rows_affected() == 1)
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn recover_interrupted_sessions(&self) -> anyhow::Result<u64> {
        let result = sqlx::query("UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = $1 WHERE state = 'opening' AND created_at < $2")
            .bind(now_text())
            .bind(abandoned_opening_cutoff())
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
        sqlx::query("UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = $1 WHERE copilot_conversation_id = $2 AND state = 'opening' AND created_at < $3")
            .bind(now_text())
            .bind(copilot_conversation_id)
            .bind(abandoned_opening_cutoff())
            .execute(&mut *transaction)
            .await?;
        if let Some(origin) = origin_conversation_id {
            let related = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE origin_conversation_id = $1 AND state IN ('opening', 'open')"))
                .bind(origin)
                .fetch_optional(&mut *transaction)
                .await?;
            if let Some(row) = related {
                return Ok(BeginSession::Existing(session_from_row(&row)?));
            }
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
        // Another instance may be inserting at the same moment: the unique index decides.
        let inserted = sqlx::query(
            "INSERT INTO sessions (id, copilot_conversation_id, origin_conversation_id, state, reference, created_at) VALUES ($1, $2, $3, 'opening', $4, $5)
             ON CONFLICT (copilot_conversation_id) WHERE state IN ('opening', 'open') DO NOTHING",
        )
        .bind(&session.id)
        .bind(copilot_conversation_id)
        .bind(origin_conversation_id)
        .bind(serde_json::to_string(reference)?)
        .bind(now_text())
        .execute(&mut *transaction)
        .await
        .context("cannot create a session")?;
        if inserted.rows_affected() == 1 {
            transaction.commit().await?;
            return Ok(BeginSession::Created(session));
        }
        transaction.commit().await?;
        match self.live_session(copilot_conversation_id).await? {
            Some(existing) => Ok(BeginSession::Existing(existing)),
            None => {
                anyhow::bail!("a concurrent start closed the conversation's session; try again")
            }
        }
    }

    async fn complete_session_open(
        &self,
        session_id: &str,
        livechat_conversation_id: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE sessions SET state = 'open', livechat_conversation_id = $1, opened_at = $2 WHERE id = $3 AND state = 'opening'")
            .bind(livechat_conversation_id)
            .bind(now_text())
            .bind(session_id)
            .execute(&self.pool)
            .await
            .context("cannot record the live-chat id")?;
        Ok(())
    }

    async fn fail_session_open(&self, session_id: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = $1 WHERE id = $2 AND state = 'opening'")
            .bind(now_text())
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn live_session(&self, copilot_conversation_id: &str) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE copilot_conversation_id = $1 AND state IN ('opening', 'open')"))
            .bind(copilot_conversation_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn live_session_by_origin(
        &self,
        origin_conversation_id: &str,
    ) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE origin_conversation_id = $1 AND state IN ('opening', 'open') ORDER BY created_at DESC LIMIT 1"))
            .bind(origin_conversation_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn latest_session(
        &self,
        copilot_conversation_id: &str,
    ) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE copilot_conversation_id = $1 ORDER BY created_at DESC, seq DESC LIMIT 1"))
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
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE livechat_conversation_id = $1"
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
            sqlx::query("UPDATE sessions SET problem_forwarded = 1 WHERE id = $1")
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
        let result = sqlx::query("UPDATE sessions SET state = 'closed', closed_by = $1, closed_at = $2 WHERE id = $3 AND state = 'open'")
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
        if let Some(dedupe_key) = &delivery.dedupe_key {
            let seen = sqlx::query("SELECT 1 FROM deliveries WHERE lane = $1 AND dedupe_key = $2")
                .bind(delivery.lane.as_str())
                .bind(dedupe_key)
                .fetch_optional(&mut *transaction)
                .await?;
            if seen.is_some() {
                return Ok(Enqueued::Duplicate);
            }
        }
        // The row lock keeps a concurrent close from slipping between the check and the insert.
        let open = sqlx::query("SELECT 1 FROM sessions WHERE id = $1 AND state = 'open' FOR SHARE")
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
        // Claims the head of each due queue for this instance: other instances skip the locked
        // rows now and see them as not due until the lease passes.
        let rows = sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $1 + $2
             WHERE id IN (
                 SELECT d.id FROM deliveries d
                 WHERE d.lane = $3 AND d.state = 'pending' AND d.next_attempt_at <= $1
                   AND NOT (d.queue_key = ANY($4))
                   AND d.id = (SELECT MIN(h.id) FROM deliveries h WHERE h.lane = d.lane AND h.queue_key = d.queue_key AND h.state = 'pending')
                 ORDER BY d.id LIMIT $5
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, lane, queue_key, payload, attempts",
        )
        .bind(now_ms)
        .bind(CLAIM_LEASE_MS)
        .bind(lane.as_str())
        .bind(busy_queues)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut deliveries = rows
            .iter()
            .map(delivery_from_row)
            .collect::<anyhow::Result<Vec<_>>>()?;
        deliveries.sort_by_key(|delivery| delivery.id);
        Ok(deliveries)
    }

    async fn next_due_at(&self, lane: Lane) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE lane = $1 AND state = 'pending'").bind(lane.as_str()).fetch_one(&self.pool).await?;
        Ok(row.try_get::<Option<i64>, _>("due")?)
    }

    async fn mark_delivered(&self, delivery_id: i64) -> anyhow::Result<()> {
        sqlx::query("UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, finished_at = $1, last_error = NULL WHERE id = $2")
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
        sqlx::query("UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3")
            .bind(next_attempt_at_ms)
            .bind(error)
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_failed(&self, delivery_id: i64, error: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE deliveries SET state = 'failed', attempts = attempts + 1, finished_at = $1, last_error = $2 WHERE id = $3")
            .bind(now_text())
            .bind(error)
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_finished(&self, before: &str) -> anyhow::Result<(u64, u64)> {
        let deliveries = sqlx::query(
            "DELETE FROM deliveries WHERE state IN ('delivered', 'failed') AND finished_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let sessions =
            sqlx::query("DELETE FROM sessions WHERE state = 'closed' AND closed_at < $1")
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
            "SELECT state, COUNT(*) AS n FROM deliveries WHERE lane = $1 GROUP BY state",
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
