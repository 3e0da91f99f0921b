//! Wrap-up, inside the writer's transactions: the disposition and summary an agent records once a
//! conversation ends, and, while the wrap-up is required, the time-out that records
//! [`TIMEOUT_CODE`] when none came in time. Until then the agent's slot stays taken (the agents'
//! load counts a pending wrap-up as a conversation).

use livechat_contract::api::ConversationState;
use sqlx::{Row, SqliteConnection};

use super::agents::agent_event;
use super::conversations::{conversation_event, conversation_in};
use super::events::now;
use super::model::{ConversationId, RoutingError};
use super::sql;
use super::writer::Written;

/// The disposition recorded when a required wrap-up was not done in time.
pub const TIMEOUT_CODE: &str = "timeout";

/// Records `disposition` and `summary` for an ended conversation that has none yet.
pub async fn wrap_up_in(
    connection: &mut SqliteConnection,
    id: ConversationId,
    disposition: String,
    summary: Option<String>,
) -> Result<Written<()>, RoutingError> {
    let updated = sqlx::query(sql::WRAP_UP)
        .bind(&disposition)
        .bind(&summary)
        .bind(now())
        .bind(id.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(anyhow::Error::from)?;
    let Some(row) = updated else {
        let conversation = conversation_in(connection, &id)
            .await?
            .ok_or_else(|| RoutingError::NotFound(id.clone()))?;
        return Err(RoutingError::Unavailable(
            if conversation.summary.state == ConversationState::Open {
                "end the conversation before wrapping it up".into()
            } else {
                "this conversation has been wrapped up already".into()
            },
        ));
    };
    let agent: Option<String> = row.try_get("assigned_agent").map_err(anyhow::Error::from)?;
    let mut events = vec![conversation_event(connection, &id).await?];
    if let Some(agent) = agent {
        // Their slot is free again.
        events.extend(agent_event(connection, &agent).await?);
    }
    Ok(Written::with_events((), events))
}

/// Records [`TIMEOUT_CODE`] for every required wrap-up past its time; answers the events that free
/// the agents' slots.
pub async fn wrap_up_timeouts_in(
    connection: &mut SqliteConnection,
    now_ms: i64,
) -> anyhow::Result<Written<u32>> {
    let rows = sqlx::query(sql::WRAP_UP_TIMEOUTS)
        .bind(TIMEOUT_CODE)
        .bind(now())
        .bind(now_ms)
        .fetch_all(&mut *connection)
        .await?;
    let mut events = Vec::new();
    for row in &rows {
        let id: String = row.try_get("id")?;
        if let Some(id) = ConversationId::parse(&id) {
            events.push(conversation_event(connection, &id).await?);
        }
        if let Some(agent) = row.try_get::<Option<String>, _>("assigned_agent")? {
            events.extend(agent_event(connection, &agent).await?);
        }
    }
    Ok(Written::with_events(rows.len() as u32, events))
}
