//! The agents as the store keeps them: their presence and capacity, and their load (open
//! conversations), each change an `agent` event the pages show.

use sqlx::SqliteConnection;

use super::events::{insert_event, now};
use super::model::{AgentState, Event, EventKind, Presence};
use super::rows::agent_from_row;
use super::sql;
use super::writer::Written;

/// Every configured agent, by display name.
pub async fn agents_in(connection: &mut SqliteConnection) -> anyhow::Result<Vec<AgentState>> {
    let rows = sqlx::query(sql::AGENTS).fetch_all(&mut *connection).await?;
    rows.iter().map(agent_from_row).collect()
}

pub async fn agent_in(
    connection: &mut SqliteConnection,
    username: &str,
) -> anyhow::Result<Option<AgentState>> {
    let row = sqlx::query(sql::AGENT)
        .bind(username)
        .fetch_optional(&mut *connection)
        .await?;
    row.as_ref().map(agent_from_row).transpose()
}

/// An `agent` event with the agent as they are now (their load may have changed).
pub async fn agent_event(
    connection: &mut SqliteConnection,
    username: &str,
) -> anyhow::Result<Option<Event>> {
    match agent_in(connection, username).await? {
        Some(agent) => Ok(Some(
            insert_event(connection, EventKind::Agent, None, &agent).await?,
        )),
        None => Ok(None),
    }
}

/// Sets an agent's presence; an `agent` event when it changed.
pub async fn set_presence_in(
    connection: &mut SqliteConnection,
    username: String,
    presence: Presence,
) -> anyhow::Result<Written<bool>> {
    let result = sqlx::query(sql::SET_PRESENCE)
        .bind(presence.as_str())
        .bind(now())
        .bind(&username)
        .bind(presence.as_str())
        .execute(&mut *connection)
        .await?;
    if result.rows_affected() == 0 {
        return Ok(Written::quiet(false));
    }
    Ok(Written::with_events(
        true,
        agent_event(connection, &username)
            .await?
            .into_iter()
            .collect(),
    ))
}

/// Sets an agent's capacity.
pub async fn set_capacity_in(
    connection: &mut SqliteConnection,
    username: String,
    capacity: u32,
) -> anyhow::Result<Written<()>> {
    let result = sqlx::query(sql::SET_CAPACITY)
        .bind(i64::from(capacity))
        .bind(now())
        .bind(&username)
        .bind(i64::from(capacity))
        .execute(&mut *connection)
        .await?;
    if result.rows_affected() == 0 {
        return Ok(Written::quiet(()));
    }
    Ok(Written::with_events(
        (),
        agent_event(connection, &username)
            .await?
            .into_iter()
            .collect(),
    ))
}
