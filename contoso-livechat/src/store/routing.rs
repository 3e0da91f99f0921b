//! The contact centre's writes and reads: agents' presence and capacity, the queue, accepting,
//! transferring, automatic assignment and the customers' queue updates.
//!
//! Every change that decides who has a conversation runs in the one writer's transaction, so two
//! agents accepting at once are two writes one after the other: the first takes it, the second
//! finds it taken. A conversation's place in the queue is by `queued_at`, oldest first (and, within
//! the same millisecond, in the order they were started).

use chrono::Utc;
use livechat_contract::api::{Conversation, DeliveryState, EntryKind, Role};
use serde::Serialize;
use sqlx::{Row, SqliteConnection};

use super::writer::{WriteError, Written};
use super::{conversation_event, conversation_in, insert_entry, insert_event, now, NewEntry};

/// What the others see of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Online,
    Away,
    Offline,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Away => "away",
            Presence::Offline => "offline",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Presence::Online, Presence::Away, Presence::Offline]
            .into_iter()
            .find(|presence| presence.as_str() == text)
    }
}

/// An agent as the pages show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentState {
    pub username: String,
    pub display_name: String,
    pub presence: Presence,
    pub capacity: u32,
    /// Open conversations they have.
    pub active: u32,
}

impl AgentState {
    pub fn free(&self) -> u32 {
        self.capacity.saturating_sub(self.active)
    }
}

/// A configured agent, as the store keeps them in step with the configuration.
#[derive(Debug, Clone)]
pub struct ConfiguredAgent {
    pub username: String,
    pub display_name: String,
    pub capacity: u32,
}

/// Where a customer stands in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePlace {
    /// 1 is next.
    pub position: u32,
    pub estimated_wait_seconds: u64,
}

/// A started conversation and, while it waits, its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub conversation: Conversation,
    pub place: Option<QueuePlace>,
}

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// To this agent (username), who must be online with room.
    Agent(String),
    /// Back to the queue, keeping its place by age.
    Queue,
}

/// Why a routing change was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("no conversation has the id '{0}'")]
    NotFound(String),
    #[error("the conversation has ended")]
    Ended,
    #[error("{0} has accepted this conversation already")]
    Taken(String),
    #[error("{0}")]
    NotYours(String),
    #[error("you already have as many conversations as your capacity ({0}); finish one, or raise your capacity, first")]
    AtCapacity(u32),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl WriteError for RoutingError {
    fn wrote_nothing(&self) -> bool {
        // Every refusal is decided by reads before the first write.
        !matches!(self, Self::Store(_))
    }
}

/// Average wait when no conversation has been accepted lately, in seconds.
const DEFAULT_WAIT_SECS: f64 = 120.0;
/// Acceptances the wait estimate averages over.
const RECENT_ACCEPTANCES: i64 = 20;

const AGENT_QUERY: &str = "SELECT a.username, a.display_name, a.presence, a.capacity,
        (SELECT COUNT(*) FROM conversations c WHERE c.assigned_agent = a.username AND c.state = 'open') AS active
     FROM agents a";

fn agent_from_row(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<AgentState> {
    let presence: String = row.try_get("presence")?;
    Ok(AgentState {
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        presence: Presence::parse(&presence)
            .ok_or_else(|| anyhow::anyhow!("unknown presence '{presence}' in the database"))?,
        capacity: u32::try_from(row.try_get::<i64, _>("capacity")?).unwrap_or(0),
        active: u32::try_from(row.try_get::<i64, _>("active")?).unwrap_or(0),
    })
}

/// Every configured agent, by display name.
pub(super) async fn agents_in(
    connection: &mut SqliteConnection,
) -> anyhow::Result<Vec<AgentState>> {
    let rows = sqlx::query(&format!(
        "{AGENT_QUERY} ORDER BY a.display_name, a.username"
    ))
    .fetch_all(&mut *connection)
    .await?;
    rows.iter().map(agent_from_row).collect()
}

async fn agent_in(
    connection: &mut SqliteConnection,
    username: &str,
) -> anyhow::Result<Option<AgentState>> {
    let row = sqlx::query(&format!("{AGENT_QUERY} WHERE a.username = ?"))
        .bind(username)
        .fetch_optional(&mut *connection)
        .await?;
    row.as_ref().map(agent_from_row).transpose()
}

pub(super) async fn agent_event(
    connection: &mut SqliteConnection,
    username: &str,
) -> anyhow::Result<Option<super::Event>> {
    match agent_in(connection, username).await? {
        Some(agent) => Ok(Some(insert_event(connection, "agent", "", &agent).await?)),
        None => Ok(None),
    }
}

/// Makes the agents table the configured agents: new ones offline with their capacity, display
/// names refreshed, removed ones dropped (their conversations go back to the queue).
pub(super) async fn sync_agents_in(
    connection: &mut SqliteConnection,
    agents: Vec<ConfiguredAgent>,
) -> anyhow::Result<Written<()>> {
    let known: Vec<String> = sqlx::query("SELECT username FROM agents")
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .map(|row| row.try_get("username"))
        .collect::<Result<_, _>>()?;
    for agent in &agents {
        sqlx::query(
            "INSERT INTO agents (username, display_name, capacity, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (username) DO UPDATE SET display_name = excluded.display_name",
        )
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
        let orphans: Vec<String> = sqlx::query(
            "UPDATE conversations SET assigned_agent = NULL, agent_name = NULL, queued_at = created_at, reported_position = NULL, reported_at = NULL
             WHERE assigned_agent = ? AND state = 'open' RETURNING id",
        )
        .bind(gone)
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
        for id in orphans {
            events.push(conversation_event(connection, &id).await?);
        }
        sqlx::query("DELETE FROM agents WHERE username = ?")
            .bind(gone)
            .execute(&mut *connection)
            .await?;
    }
    Ok(Written {
        value: (),
        events,
        outbox: false,
    })
}

/// Sets an agent's presence; an `agent` event when it changed.
pub(super) async fn set_presence_in(
    connection: &mut SqliteConnection,
    username: String,
    presence: Presence,
) -> anyhow::Result<Written<bool>> {
    let result = sqlx::query(
        "UPDATE agents SET presence = ?, updated_at = ? WHERE username = ? AND presence <> ?",
    )
    .bind(presence.as_str())
    .bind(now())
    .bind(&username)
    .bind(presence.as_str())
    .execute(&mut *connection)
    .await?;
    if result.rows_affected() == 0 {
        return Ok(Written::quiet(false));
    }
    let events = agent_event(connection, &username)
        .await?
        .into_iter()
        .collect();
    Ok(Written {
        value: true,
        events,
        outbox: false,
    })
}

/// Sets an agent's capacity.
pub(super) async fn set_capacity_in(
    connection: &mut SqliteConnection,
    username: String,
    capacity: u32,
) -> anyhow::Result<Written<()>> {
    let result = sqlx::query(
        "UPDATE agents SET capacity = ?, updated_at = ? WHERE username = ? AND capacity <> ?",
    )
    .bind(i64::from(capacity))
    .bind(now())
    .bind(&username)
    .bind(i64::from(capacity))
    .execute(&mut *connection)
    .await?;
    if result.rows_affected() == 0 {
        return Ok(Written::quiet(()));
    }
    let events = agent_event(connection, &username)
        .await?
        .into_iter()
        .collect();
    Ok(Written {
        value: (),
        events,
        outbox: false,
    })
}

/// The conversation's state and holder, refusing an unknown or ended one.
async fn holder_in(
    connection: &mut SqliteConnection,
    id: &str,
) -> Result<Option<(String, String)>, RoutingError> {
    let row =
        sqlx::query("SELECT state, assigned_agent, agent_name FROM conversations WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *connection)
            .await
            .map_err(anyhow::Error::from)?
            .ok_or_else(|| RoutingError::NotFound(id.to_owned()))?;
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
    id: &str,
    agent: &AgentState,
    transferred_by: Option<&str>,
    note: Option<&str>,
) -> anyhow::Result<Written<Conversation>> {
    sqlx::query(
        "UPDATE conversations SET assigned_agent = ?, agent_name = ?, queued_at = NULL,
            accepted_at = COALESCE(accepted_at, ?), transfer_note = ?
         WHERE id = ?",
    )
    .bind(&agent.username)
    .bind(&agent.display_name)
    .bind(now())
    .bind(note)
    .bind(id)
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
    let detail = serde_json::json!({
        "agentName": agent.display_name,
        "transferredBy": transferred_by,
    });
    let entry = NewEntry {
        kind: EntryKind::Joined,
        role: Role::System,
        sender: agent.display_name.clone(),
        body,
        delivery: Some(DeliveryState::Pending),
        client_id: None,
        customer_name: None,
        detail: Some(detail.to_string()),
    };
    let mut written = insert_entry(connection, id, entry).await?;
    let mut events = std::mem::take(&mut written.events);
    events.extend(agent_event(connection, &agent.username).await?);
    if let Some(from) = transferred_by_username(connection, transferred_by).await? {
        events.extend(agent_event(connection, &from).await?);
    }
    let conversation = conversation_in(connection, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the conversation vanished"))?;
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
    Ok(
        sqlx::query("SELECT username FROM agents WHERE display_name = ? LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *connection)
            .await?
            .map(|row| row.try_get("username"))
            .transpose()?,
    )
}

/// An agent accepts a waiting conversation. Accepting one's own again changes nothing.
pub(super) async fn accept_in(
    connection: &mut SqliteConnection,
    id: String,
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
pub(super) async fn transfer_in(
    connection: &mut SqliteConnection,
    id: String,
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
            if agent.presence != Presence::Online {
                return Err(RoutingError::Unavailable(format!(
                    "{} is {}; transfer to an online agent",
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
            Ok(assign_in(connection, &id, &agent, Some(&from), note.as_deref()).await?)
        }
        TransferTarget::Queue => {
            // Back in the queue by its age, and the customer hears of the new place at once.
            sqlx::query(
                "UPDATE conversations SET assigned_agent = NULL, agent_name = NULL, queued_at = created_at,
                    reported_position = NULL, reported_at = NULL, transfer_note = ?
                 WHERE id = ?",
            )
            .bind(&note)
            .bind(&id)
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
            };
            let mut written = insert_entry(connection, &id, entry).await?;
            let mut events = std::mem::take(&mut written.events);
            events.extend(agent_event(connection, &username).await?);
            let conversation = conversation_in(connection, &id)
                .await?
                .ok_or_else(|| RoutingError::NotFound(id.clone()))?;
            Ok(Written {
                value: conversation,
                events,
                outbox: false,
            })
        }
    }
}

/// The waiting conversations, oldest first.
async fn queue_in(connection: &mut SqliteConnection) -> anyhow::Result<Vec<QueueRow>> {
    let rows = sqlx::query(
        "SELECT id, reported_position, reported_at FROM conversations
         WHERE state = 'open' AND assigned_agent IS NULL ORDER BY queued_at, rowid",
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(QueueRow {
                id: row.try_get("id")?,
                reported_position: row.try_get("reported_position")?,
                reported_at: row.try_get("reported_at")?,
            })
        })
        .collect()
}

struct QueueRow {
    id: String,
    reported_position: Option<i64>,
    reported_at: Option<i64>,
}

/// The mean wait (start to acceptance) of the last acceptances of the past day, in seconds.
async fn mean_wait_in(connection: &mut SqliteConnection) -> anyhow::Result<f64> {
    let since = (Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mean: Option<f64> = sqlx::query(
        "SELECT AVG((julianday(accepted_at) - julianday(created_at)) * 86400.0) AS mean FROM
            (SELECT accepted_at, created_at FROM conversations WHERE accepted_at IS NOT NULL AND accepted_at >= ?
             ORDER BY accepted_at DESC LIMIT ?)",
    )
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
pub(super) async fn availability_in(
    connection: &mut SqliteConnection,
) -> anyhow::Result<livechat_contract::api::Availability> {
    let agents = agents_in(connection).await?;
    let online: Vec<&AgentState> = agents
        .iter()
        .filter(|agent| agent.presence == Presence::Online)
        .collect();
    let agents_online = online.len() as u32;
    let queue_length: i64 = sqlx::query(
        "SELECT COUNT(*) AS waiting FROM conversations WHERE state = 'open' AND assigned_agent IS NULL",
    )
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
    Ok(livechat_contract::api::Availability {
        agents_online,
        queue_length,
        estimated_wait_seconds,
    })
}

/// A waiting conversation's place, or `None` when it is not waiting.
pub(super) async fn place_in(
    connection: &mut SqliteConnection,
    id: &str,
) -> anyhow::Result<Option<QueuePlace>> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM conversations o WHERE o.state = 'open' AND o.assigned_agent IS NULL
                    AND (o.queued_at < c.queued_at OR (o.queued_at = c.queued_at AND o.rowid <= c.rowid))) AS position
         FROM conversations c WHERE c.id = ? AND c.state = 'open' AND c.assigned_agent IS NULL",
    )
    .bind(id)
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
    let online: i64 =
        sqlx::query("SELECT COUNT(*) AS online FROM agents WHERE presence = 'online'")
            .fetch_one(&mut *connection)
            .await?
            .try_get("online")?;
    Ok(u32::try_from(online).unwrap_or(0))
}

/// Records that the customer was told `place` (in the start's answer).
pub(super) async fn mark_reported_in(
    connection: &mut SqliteConnection,
    id: &str,
    place: QueuePlace,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE conversations SET reported_position = ?, reported_at = ? WHERE id = ?")
        .bind(i64::from(place.position))
        .bind(Utc::now().timestamp_millis())
        .bind(id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Gives waiting conversations, oldest first, to the online agents with the most free room.
pub(super) async fn auto_assign_in(
    connection: &mut SqliteConnection,
    only: Option<&str>,
) -> anyhow::Result<Written<u32>> {
    let mut assigned = 0;
    let mut events = Vec::new();
    for waiting in queue_in(connection).await? {
        if only.is_some_and(|id| id != waiting.id) {
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

/// Tells each waiting customer whose place changed, at most once per `interval_ms`: a `queue`
/// entry for the webhook.
pub(super) async fn report_queue_in(
    connection: &mut SqliteConnection,
    interval_ms: i64,
) -> anyhow::Result<Written<u32>> {
    let now_ms = Utc::now().timestamp_millis();
    let queue = queue_in(connection).await?;
    let mut due = Vec::new();
    for (index, row) in queue.iter().enumerate() {
        let position = index as i64 + 1;
        let changed = row.reported_position != Some(position);
        let rested = row
            .reported_at
            .is_none_or(|at| now_ms.saturating_sub(at) >= interval_ms);
        if changed && rested {
            due.push((row.id.clone(), position));
        }
    }
    if due.is_empty() {
        return Ok(Written::quiet(0));
    }
    let online = online_count_in(connection).await?;
    let mean = mean_wait_in(connection).await?;
    let mut events = Vec::new();
    for (id, position) in &due {
        let position = u32::try_from(*position).unwrap_or(u32::MAX);
        let wait = estimate(mean, position, online);
        sqlx::query("UPDATE conversations SET reported_position = ?, reported_at = ? WHERE id = ?")
            .bind(i64::from(position))
            .bind(now_ms)
            .bind(id)
            .execute(&mut *connection)
            .await?;
        let entry = NewEntry {
            kind: EntryKind::Queue,
            role: Role::System,
            sender: String::new(),
            body: format!("Place {position} in the queue"),
            delivery: Some(DeliveryState::Pending),
            client_id: None,
            customer_name: None,
            detail: Some(
                serde_json::json!({ "queuePosition": position, "estimatedWaitSeconds": wait })
                    .to_string(),
            ),
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

    #[test]
    fn presence_names_round_trip() {
        for presence in [Presence::Online, Presence::Away, Presence::Offline] {
            assert_eq!(Presence::parse(presence.as_str()), Some(presence));
        }
        assert_eq!(Presence::parse("busy"), None);
    }
}
