//! The contact centre's writes and reads: opening a conversation in the queue, the configured
//! agents, accepting, transferring, automatic assignment, the queue's places and wait estimate, and
//! the customers' queue updates.
//!
//! Every change that decides who has a conversation runs in the one writer's transaction, so two
//! agents accepting at once are two writes one after the other: the first takes it, the second
//! finds it taken. A conversation's place in the queue is by `queued_at`, oldest first (and, within
//! the same millisecond, in the order they were started).

use anyhow::Context;
use chrono::Utc;
use livechat_contract::api::{Availability, Conversation, DeliveryState, EntryKind, Role};
use sqlx::{Row, SqliteConnection};

use super::agents::{agent_event, agent_in, agents_in};
use super::conversations::{conversation_event, conversation_in, insert_entry};
use super::events::now;
use super::model::{
    AgentState, ConfiguredAgent, ConversationId, EntryDetail, NewConversation, NewEntry, Presence,
    QueuePlace, Recorded, RoutingError, Started, TransferTarget,
};
use super::sql;
use super::writer::Written;

/// Average wait when no conversation has been accepted lately, in seconds.
const DEFAULT_WAIT_SECS: f64 = 120.0;
/// Acceptances the wait estimate averages over.
const RECENT_ACCEPTANCES: i64 = 20;

/// Makes the agents table the configured agents: new ones offline with their capacity, display
/// names refreshed, removed ones dropped (their conversations go back to the queue).
pub async fn sync_agents_in(
    connection: &mut SqliteConnection,
    agents: Vec<ConfiguredAgent>,
) -> anyhow::Result<Written<()>> {
    let known: Vec<String> = sqlx::query(sql::AGENT_USERNAMES)
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .map(|row| row.try_get("username"))
        .collect::<Result<_, _>>()?;
    for agent in &agents {
        sqlx::query(sql::UPSERT_AGENT)
            .bind(&agent.username)
            .bind(&agent.display_name)
            .bind(i64::from(agent.capacity))
            .bind(now())
            .execute(&mut *connection)
            .await?;
    }
    let mut events = Vec::new();
    for gone in known
        .iter()
        .filter(|username| !agents.iter().any(|agent| &agent.username == *username))
    {
        let orphans: Vec<String> = sqlx::query(sql::ORPHANS_TO_QUEUE)
            .bind(gone)
            .fetch_all(&mut *connection)
            .await?
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()?;
        for id in orphans.iter().filter_map(|id| ConversationId::parse(id)) {
            events.push(conversation_event(connection, &id).await?);
        }
        sqlx::query(sql::DELETE_AGENT)
            .bind(gone)
            .execute(&mut *connection)
            .await?;
    }
    Ok(Written::with_events((), events))
}

/// Opens a conversation in the queue (or answers the one its idempotency key opened); with
/// `auto_assign`, gives it to the online agent with the most room, if any has room. `now_ms` is
/// when the customer is told their place (the queue's clock).
pub async fn start_in(
    connection: &mut SqliteConnection,
    context: NewConversation,
    auto_assign: bool,
    now_ms: i64,
) -> anyhow::Result<Written<Recorded<Started>>> {
    if let Some(key) = &context.idempotency_key {
        let known: Option<String> = sqlx::query(sql::CONVERSATION_OF_KEY)
            .bind(key)
            .fetch_optional(&mut *connection)
            .await?
            .map(|row| row.try_get("id"))
            .transpose()?;
        if let Some(id) = known.as_deref().and_then(ConversationId::parse) {
            let conversation = conversation_in(connection, &id)
                .await?
                .context("the conversation vanished")?;
            let place = place_in(connection, &id).await?;
            return Ok(Written::quiet(Recorded {
                value: Started {
                    conversation,
                    place,
                },
                created: false,
            }));
        }
    }
    let id = ConversationId::new();
    let created_at = now();
    sqlx::query(sql::INSERT_CONVERSATION)
        .bind(id.as_str())
        .bind(&context.customer_name)
        .bind(&context.customer_id)
        .bind(&context.channel)
        .bind(&context.tenant_id)
        .bind(&context.bot_conversation_id)
        .bind(&context.problem_description)
        .bind(&created_at)
        .bind(&context.idempotency_key)
        .bind(&created_at)
        .execute(&mut *connection)
        .await?;
    let mut events = vec![conversation_event(connection, &id).await?];
    let mut outbox = false;
    if auto_assign {
        let assigned = auto_assign_in(connection, Some(&id)).await?;
        outbox = assigned.outbox;
        events.extend(assigned.events);
    }
    let place = place_in(connection, &id).await?;
    if let Some(place) = place {
        // The start's answer tells the customer their place: no update for it.
        mark_reported_in(connection, &id, place.position, now_ms).await?;
    }
    let conversation = conversation_in(connection, &id)
        .await?
        .context("the new conversation vanished")?;
    Ok(Written {
        value: Recorded {
            value: Started {
                conversation,
                place,
            },
            created: true,
        },
        events,
        outbox,
    })
}

/// The conversation's holder (username and display name), refusing an unknown or ended one.
async fn holder_in(
    connection: &mut SqliteConnection,
    id: &ConversationId,
) -> Result<Option<(String, String)>, RoutingError> {
    let row = sqlx::query(sql::HOLDER)
        .bind(id.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| RoutingError::NotFound(id.clone()))?;
    let state: String = row.try_get("state").map_err(anyhow::Error::from)?;
    if state == "ended" {
        return Err(RoutingError::Ended);
    }
    let agent: Option<String> = row.try_get("assigned_agent").map_err(anyhow::Error::from)?;
    let name: Option<String> = row.try_get("agent_name").map_err(anyhow::Error::from)?;
    Ok(agent.map(|agent| (agent.clone(), name.unwrap_or(agent))))
}

/// Gives the conversation to `agent` and records the `joined` entry the skill is told of, before
/// anything that agent writes.
async fn assign_in(
    connection: &mut SqliteConnection,
    id: &ConversationId,
    agent: &AgentState,
    transferred_by: Option<&str>,
    note: Option<&str>,
) -> anyhow::Result<Written<Conversation>> {
    sqlx::query(sql::ASSIGN)
        .bind(&agent.username)
        .bind(&agent.display_name)
        .bind(now())
        .bind(note)
        .bind(id.as_str())
        .execute(&mut *connection)
        .await?;
    let body = match (transferred_by, note) {
        (Some(from), Some(note)) => format!(
            "{from} transferred the conversation to {}. Note: {note}",
            agent.display_name
        ),
        (Some(from), None) => {
            format!(
                "{from} transferred the conversation to {}.",
                agent.display_name
            )
        }
        (None, _) => format!("{} joined the conversation.", agent.display_name),
    };
    let entry = NewEntry {
        kind: EntryKind::Joined,
        role: Role::System,
        sender: agent.display_name.clone(),
        body,
        delivery: Some(DeliveryState::Pending),
        client_id: None,
        customer_name: None,
        detail: Some(EntryDetail::Joined {
            agent_name: agent.display_name.clone(),
            transferred_by: transferred_by.map(str::to_owned),
        }),
        files: Vec::new(),
        masked: Vec::new(),
    };
    let mut written = insert_entry(connection, id, entry).await?;
    let mut events = std::mem::take(&mut written.events);
    events.extend(agent_event(connection, &agent.username).await?);
    if let Some(from) = transferred_by_username(connection, transferred_by).await? {
        events.extend(agent_event(connection, &from).await?);
    }
    let conversation = conversation_in(connection, id)
        .await?
        .context("the conversation vanished")?;
    Ok(Written {
        value: conversation,
        events,
        outbox: true,
    })
}

/// The username behind a transferring agent's display name (for their header's count).
async fn transferred_by_username(
    connection: &mut SqliteConnection,
    display_name: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let Some(name) = display_name else {
        return Ok(None);
    };
    Ok(sqlx::query(sql::USERNAME_OF)
        .bind(name)
        .fetch_optional(&mut *connection)
        .await?
        .map(|row| row.try_get("username"))
        .transpose()?)
}

/// An agent accepts a waiting conversation. Accepting one's own again changes nothing.
pub async fn accept_in(
    connection: &mut SqliteConnection,
    id: ConversationId,
    username: String,
) -> Result<Written<Conversation>, RoutingError> {
    match holder_in(connection, &id).await? {
        Some((holder, _)) if holder == username => {
            let conversation = conversation_in(connection, &id)
                .await?
                .ok_or_else(|| RoutingError::NotFound(id.clone()))?;
            return Ok(Written::quiet(conversation));
        }
        Some((_, name)) => return Err(RoutingError::Taken(name)),
        None => {}
    }
    let agent = agent_in(connection, &username)
        .await?
        .ok_or_else(|| RoutingError::Unavailable("you are not a configured agent".into()))?;
    if agent.free() == 0 {
        return Err(RoutingError::AtCapacity(agent.capacity));
    }
    Ok(assign_in(connection, &id, &agent, None, None).await?)
}

/// The assigned agent hands the conversation to another online agent, or back to the queue.
pub async fn transfer_in(
    connection: &mut SqliteConnection,
    id: ConversationId,
    username: String,
    target: TransferTarget,
    note: Option<String>,
) -> Result<Written<Conversation>, RoutingError> {
    let from = match holder_in(connection, &id).await? {
        Some((holder, name)) if holder == username => name,
        Some((_, name)) => {
            return Err(RoutingError::NotYours(format!(
                "{name} has this conversation; only they can transfer it"
            )))
        }
        None => {
            return Err(RoutingError::NotYours(
                "this conversation is in the queue; accept it before transferring it".into(),
            ))
        }
    };
    match target {
        TransferTarget::Agent(to) => {
            if to == username {
                return Err(RoutingError::Unavailable(
                    "you have this conversation already".into(),
                ));
            }
            let agent = agent_in(connection, &to)
                .await?
                .ok_or_else(|| RoutingError::Unavailable(format!("there is no agent '{to}'")))?;
            can_take(&agent, "transfer")?;
            Ok(assign_in(connection, &id, &agent, Some(&from), note.as_deref()).await?)
        }
        TransferTarget::Queue => {
            // Back in the queue by its age, and the customer hears of the new place at once.
            sqlx::query(sql::BACK_TO_QUEUE)
                .bind(&note)
                .bind(id.as_str())
                .execute(&mut *connection)
                .await
                .map_err(anyhow::Error::from)?;
            let body = match &note {
                Some(note) => {
                    format!("{from} moved the conversation back to the queue. Note: {note}")
                }
                None => format!("{from} moved the conversation back to the queue."),
            };
            let entry = NewEntry {
                kind: EntryKind::Message,
                role: Role::System,
                sender: from,
                body,
                delivery: None,
                client_id: None,
                customer_name: None,
                detail: None,
                files: Vec::new(),
                masked: Vec::new(),
            };
            let mut written = insert_entry(connection, &id, entry).await?;
            let mut events = std::mem::take(&mut written.events);
            events.extend(agent_event(connection, &username).await?);
            let conversation = conversation_in(connection, &id)
                .await?
                .ok_or_else(|| RoutingError::NotFound(id.clone()))?;
            Ok(Written::with_events(conversation, events))
        }
    }
}

/// Refused unless `agent` is online with room; `verb` says what was tried ("transfer").
fn can_take(agent: &AgentState, verb: &str) -> Result<(), RoutingError> {
    if agent.presence != Presence::Online {
        return Err(RoutingError::Unavailable(format!(
            "{} is {}; {verb} to an online agent",
            agent.display_name,
            agent.presence.as_str()
        )));
    }
    if agent.free() == 0 {
        return Err(RoutingError::Unavailable(format!(
            "{} has no room for another conversation",
            agent.display_name
        )));
    }
    Ok(())
}

/// A supervisor gives an open conversation, waiting or someone's, to `to`: themselves (a take
/// over: at any load, in any presence) or an online agent with room. The customer is told who
/// joined, as for a transfer; the agent who had it sees it go.
pub async fn reassign_in(
    connection: &mut SqliteConnection,
    id: ConversationId,
    supervisor: String,
    to: String,
) -> Result<Written<Conversation>, RoutingError> {
    let holder = holder_in(connection, &id).await?;
    if holder.as_ref().is_some_and(|(holder, _)| holder == &to) {
        return Err(RoutingError::Unavailable(
            "that agent has this conversation already".into(),
        ));
    }
    let agent = agent_in(connection, &to)
        .await?
        .ok_or_else(|| RoutingError::Unavailable(format!("there is no agent '{to}'")))?;
    if to != supervisor {
        can_take(&agent, "reassign")?;
    }
    let from = holder.map(|(_, name)| name);
    Ok(assign_in(connection, &id, &agent, from.as_deref(), None).await?)
}

/// A waiting conversation, and what its customer was last told.
struct QueueRow {
    id: ConversationId,
    reported_position: Option<i64>,
    reported_at: Option<i64>,
}

/// The waiting conversations, oldest first.
async fn queue_in(connection: &mut SqliteConnection) -> anyhow::Result<Vec<QueueRow>> {
    let rows = sqlx::query(sql::QUEUE).fetch_all(&mut *connection).await?;
    let mut queue = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        queue.push(QueueRow {
            id: ConversationId::parse(&id).context("a conversation without an id")?,
            reported_position: row.try_get("reported_position")?,
            reported_at: row.try_get("reported_at")?,
        });
    }
    Ok(queue)
}

/// The mean wait (start to acceptance) of the last acceptances of the past day, in seconds.
async fn mean_wait_in(connection: &mut SqliteConnection) -> anyhow::Result<f64> {
    let since = (Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mean: Option<f64> = sqlx::query(sql::MEAN_WAIT)
        .bind(since)
        .bind(RECENT_ACCEPTANCES)
        .fetch_one(&mut *connection)
        .await?
        .try_get("mean")?;
    Ok(mean.unwrap_or(DEFAULT_WAIT_SECS).max(0.0))
}

fn estimate(mean_wait: f64, position: u32, agents_online: u32) -> u64 {
    if agents_online == 0 {
        return 0;
    }
    (mean_wait * f64::from(position) / f64::from(agents_online)).ceil() as u64
}

/// The figures of `GET /api/chat/availability`.
pub async fn availability_in(connection: &mut SqliteConnection) -> anyhow::Result<Availability> {
    let agents = agents_in(connection).await?;
    let online: Vec<&AgentState> = agents
        .iter()
        .filter(|agent| agent.presence == Presence::Online)
        .collect();
    let agents_online = online.len() as u32;
    let queue_length: i64 = sqlx::query(sql::QUEUE_LENGTH)
        .fetch_one(&mut *connection)
        .await?
        .try_get("waiting")?;
    let queue_length = u32::try_from(queue_length).unwrap_or(u32::MAX);
    let room = online.iter().any(|agent| agent.free() > 0);
    let estimated_wait_seconds = if queue_length == 0 && room {
        0
    } else {
        estimate(
            mean_wait_in(connection).await?,
            queue_length.saturating_add(1),
            agents_online,
        )
    };
    Ok(Availability {
        agents_online,
        queue_length,
        estimated_wait_seconds,
        open: true,
        next_opening: None,
        time_zone: None,
    })
}

/// A waiting conversation's place, or `None` when it is not waiting.
async fn place_in(
    connection: &mut SqliteConnection,
    id: &ConversationId,
) -> anyhow::Result<Option<QueuePlace>> {
    let row = sqlx::query(sql::PLACE)
        .bind(id.as_str())
        .fetch_optional(&mut *connection)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let position = u32::try_from(row.try_get::<i64, _>("position")?).unwrap_or(u32::MAX);
    let online = online_count_in(connection).await?;
    let mean = mean_wait_in(connection).await?;
    Ok(Some(QueuePlace {
        position,
        estimated_wait_seconds: estimate(mean, position, online),
    }))
}

async fn online_count_in(connection: &mut SqliteConnection) -> anyhow::Result<u32> {
    let online: i64 = sqlx::query(sql::ONLINE_COUNT)
        .fetch_one(&mut *connection)
        .await?
        .try_get("online")?;
    Ok(u32::try_from(online).unwrap_or(0))
}

/// Records that the customer was told `position` at `now_ms`.
async fn mark_reported_in(
    connection: &mut SqliteConnection,
    id: &ConversationId,
    position: u32,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(sql::MARK_REPORTED)
        .bind(i64::from(position))
        .bind(now_ms)
        .bind(id.as_str())
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Gives waiting conversations (or only `only`), oldest first, to the online agents with the most
/// free room.
pub async fn auto_assign_in(
    connection: &mut SqliteConnection,
    only: Option<&ConversationId>,
) -> anyhow::Result<Written<u32>> {
    let mut assigned = 0;
    let mut events = Vec::new();
    for waiting in queue_in(connection).await? {
        if only.is_some_and(|id| *id != waiting.id) {
            continue;
        }
        let best = agents_in(connection)
            .await?
            .into_iter()
            .filter(|agent| agent.presence == Presence::Online && agent.free() > 0)
            .max_by(|a, b| {
                a.free()
                    .cmp(&b.free())
                    .then_with(|| b.username.cmp(&a.username))
            });
        let Some(agent) = best else { break };
        let written = assign_in(connection, &waiting.id, &agent, None, None).await?;
        events.extend(written.events);
        assigned += 1;
    }
    Ok(Written {
        value: assigned,
        outbox: assigned > 0,
        events,
    })
}

/// Tells each waiting customer whose place changed, at most once per `interval_ms` (by the queue's
/// clock, `now_ms`): a `queue` entry for the webhook.
pub async fn report_queue_in(
    connection: &mut SqliteConnection,
    interval_ms: i64,
    now_ms: i64,
) -> anyhow::Result<Written<u32>> {
    let queue = queue_in(connection).await?;
    let mut due = Vec::new();
    for (index, row) in queue.iter().enumerate() {
        let position = index as i64 + 1;
        let changed = row.reported_position != Some(position);
        let rested = row
            .reported_at
            .is_none_or(|at| now_ms.saturating_sub(at) >= interval_ms);
        if changed && rested {
            due.push((row.id.clone(), u32::try_from(position).unwrap_or(u32::MAX)));
        }
    }
    if due.is_empty() {
        return Ok(Written::quiet(0));
    }
    let online = online_count_in(connection).await?;
    let mean = mean_wait_in(connection).await?;
    let mut events = Vec::new();
    for (id, position) in &due {
        let wait = estimate(mean, *position, online);
        mark_reported_in(connection, id, *position, now_ms).await?;
        let entry = NewEntry {
            kind: EntryKind::Queue,
            role: Role::System,
            sender: String::new(),
            body: format!("Place {position} in the queue"),
            delivery: Some(DeliveryState::Pending),
            client_id: None,
            customer_name: None,
            detail: Some(EntryDetail::Queue {
                position: *position,
                estimated_wait_seconds: wait,
            }),
            files: Vec::new(),
            masked: Vec::new(),
        };
        let written = insert_entry(connection, id, entry).await?;
        events.extend(written.events);
    }
    Ok(Written {
        value: due.len() as u32,
        events,
        outbox: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_shares_the_queue_among_the_agents_online() {
        assert_eq!(estimate(60.0, 3, 1), 180);
        assert_eq!(estimate(60.0, 3, 2), 90);
        assert_eq!(estimate(60.0, 1, 0), 0);
        assert_eq!(estimate(10.4, 1, 1), 11);
    }
}
