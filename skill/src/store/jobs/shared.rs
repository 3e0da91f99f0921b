//! What several writes do alike: make the session changes stored with deliveries, tell whether a
//! refused delivery was stored before, read a session back, and abandon interrupted openings.

use anyhow::Context;

use super::super::batch::Batch;
use super::super::connection::{Value, ValueRow, WriteConnection};
use super::super::index::SessionChange;
use super::super::model::{NewDelivery, SessionUpdate};
use super::super::records::SessionRow;
use super::super::sql;
use crate::domain::{
    CopilotConversationId, DedupeKey, Outbound, Session, SessionId, Timer, ToAgent,
};

/// A timer's kind and deadline as the `timer_kind` and `timer_at_ms` columns take them (NULLs for
/// none).
pub fn timer_values(timer: Option<Timer>) -> [Value; 2] {
    [
        timer.map(|timer| timer.kind.as_str()).into(),
        Value::int_or_null(timer.map(|timer| timer.due_ms)),
    ]
}

/// Makes the changes to sessions that go with stored deliveries, and notes them for the index.
pub async fn apply_updates(
    tx: &mut dyn WriteConnection,
    batch: &mut Batch,
    updates: &[SessionUpdate],
) -> anyhow::Result<()> {
    for update in updates {
        match update {
            SessionUpdate::ProblemForwarded(session) => {
                tx.execute(sql::MARK_PROBLEM_FORWARDED, &[session.as_str().into()])
                    .await?;
                batch.session_changed(SessionChange::ProblemForwarded(session.clone()));
            }
            SessionUpdate::CustomerWrote {
                session,
                timer,
                resolution_ms,
            } => {
                tx.execute(
                    sql::RESTART_INACTIVITY,
                    &[
                        timer.kind.as_str().into(),
                        timer.due_ms.into(),
                        session.as_str().into(),
                        (*resolution_ms).into(),
                    ],
                )
                .await?;
            }
            SessionUpdate::AgentJoined {
                session,
                agent,
                inactivity,
            } => {
                let [kind, due] = timer_values(*inactivity);
                tx.execute(
                    sql::AGENT_JOINED,
                    &[agent.as_str().into(), kind, due, session.as_str().into()],
                )
                .await?;
                batch.session_changed(SessionChange::AgentNamed(session.clone(), agent.clone()));
            }
            SessionUpdate::AgentNamed { session, agent } => {
                tx.execute(
                    sql::NAME_AGENT,
                    &[agent.as_str().into(), session.as_str().into()],
                )
                .await?;
                batch.session_changed(SessionChange::AgentNamed(session.clone(), agent.clone()));
            }
        }
    }
    Ok(())
}

/// True when one of `rows`' dedupe keys was stored before (a refused write that repeats an
/// accepted one is a duplicate, not a refusal).
pub async fn any_seen(tx: &mut dyn WriteConnection, rows: &[NewDelivery]) -> anyhow::Result<bool> {
    for row in rows {
        if let Some(key) = &row.dedupe_key {
            let seen = tx
                .query(
                    sql::DELIVERY_SEEN,
                    &[row.payload.lane().as_str().into(), key.as_str().into()],
                )
                .await?;
            if !seen.is_empty() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The first row of a query, as a session.
pub async fn one_session(
    tx: &mut dyn WriteConnection,
    statement: &str,
    params: &[Value],
) -> anyhow::Result<Option<Session>> {
    match tx.query(statement, params).await?.into_iter().next() {
        Some(row) => Ok(Some(Session::try_from(SessionRow::try_from(row)?)?)),
        None => Ok(None),
    }
}

/// Sessions just closed that an interrupted start left `opening` (rows of `id`,
/// `copilot_conversation_id`): each gets a [`ToAgent::Abandon`] in the same transaction, which
/// ends in the live chat whatever that start opened, so nothing is left orphaned there.
pub fn abandon_openings(batch: &mut Batch, closed: &[ValueRow]) -> anyhow::Result<()> {
    let mut rows = Vec::with_capacity(closed.len());
    for row in closed {
        let session = SessionId::parse(row.text("id")?)?;
        let conversation = CopilotConversationId::parse(row.text("copilot_conversation_id")?)
            .context("an abandoned session's conversation")?;
        batch.session_gone(&session);
        rows.push(NewDelivery {
            dedupe_key: Some(DedupeKey::Abandon(&session).to_string()),
            payload: Outbound::ToAgent(ToAgent::Abandon {
                session,
                conversation,
            }),
        });
    }
    batch.queue(rows);
    Ok(())
}
