//! The supervisor's view (`GET /supervisor`: every open conversation with its state, agent, time
//! and whether it is past its first-response target, and every agent's presence and load, live),
//! and a supervisor's actions on any open conversation, from its page: take it over
//! (`POST /supervisor/conversations/{id}/take-over`: it becomes theirs, and the customer is told
//! they joined), reassign it to another online agent with room (`.../reassign`, `to`), and
//! force-close it with a reason (`.../close`, `reason`: kept as a private note; the customer is
//! told as for an agent's end, and Copilot Studio hears `agentEnded`). `403` for an agent who is
//! not a supervisor.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use chrono::{DateTime, Utc};
use livechat_contract::api::ConversationState;
use service_support::clock::Clock;

use super::compose::ConversationAction;
use super::notes::require_supervisor;
use super::pages::{add_error, done, routing_error, AgentBar};
use crate::auth::{Agents, CurrentAgent};
use crate::configuration::{AgentRole, RoutingSettings};
use crate::error::PageError;
use crate::store::{EndingParty, NewNote, Store, UNNAMED_CUSTOMER};

#[derive(Debug, Deserialize)]
pub struct NoFields {}

#[derive(Debug, Deserialize)]
pub struct ReassignForm {
    #[serde(default)]
    pub to: String,
}

#[derive(Debug, Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    pub reason: String,
}

/// The longest reason for a force-close.
const MAX_REASON_CHARS: usize = 1_000;

/// `POST /supervisor/conversations/{id}/take-over`.
pub async fn take_over(
    request: HttpRequest,
    action: ConversationAction<NoFields>,
    store: web::Data<Store>,
    agents: web::Data<Agents>,
) -> Result<HttpResponse, PageError> {
    require_supervisor(&action.current, &agents)?;
    let me = &action.current.agent.username;
    store
        .reassign(&action.id, me, me)
        .await
        .map_err(routing_error)?;
    tracing::info!(conversation_id = %action.id, "a supervisor took the conversation over");
    let location = format!("/agent/conversations/{}", action.id);
    Ok(done(&request, &location, json!({ "assignedAgent": me })))
}

/// `POST /supervisor/conversations/{id}/reassign`.
pub async fn reassign(
    request: HttpRequest,
    action: ConversationAction<ReassignForm>,
    store: web::Data<Store>,
    agents: web::Data<Agents>,
) -> Result<HttpResponse, PageError> {
    require_supervisor(&action.current, &agents)?;
    let to = action.form.to.trim();
    if to.is_empty() {
        return Err(PageError::BadRequest(
            "Choose the agent to give it to.".into(),
        ));
    }
    store
        .reassign(&action.id, &action.current.agent.username, to)
        .await
        .map_err(routing_error)?;
    tracing::info!(conversation_id = %action.id, "a supervisor reassigned the conversation");
    let location = format!("/agent/conversations/{}", action.id);
    Ok(done(&request, &location, json!({ "assignedAgent": to })))
}

/// `POST /supervisor/conversations/{id}/close`.
pub async fn close(
    request: HttpRequest,
    action: ConversationAction<CloseForm>,
    store: web::Data<Store>,
    agents: web::Data<Agents>,
) -> Result<HttpResponse, PageError> {
    require_supervisor(&action.current, &agents)?;
    let reason = action.form.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(PageError::BadRequest(format!(
            "Give a reason for closing it (at most {MAX_REASON_CHARS} characters)."
        )));
    }
    let current = &action.current.agent;
    if store
        .conversation(&action.id)
        .await?
        .is_some_and(|c| c.summary.state == ConversationState::Ended)
    {
        return Err(PageError::Conflict(
            "This conversation has ended already.".into(),
        ));
    }
    store
        .add_note(
            &action.id,
            NewNote {
                author: current.username.clone(),
                author_name: current.display_name.clone(),
                body: format!("Closed by a supervisor: {reason}"),
                whisper: false,
                masked: Vec::new(),
            },
        )
        .await
        .map_err(add_error)?;
    let ended = store
        .end_conversation(
            &action.id,
            EndingParty::Agent {
                name: current.display_name.clone(),
                username: None,
            },
        )
        .await
        .map_err(add_error)?;
    if !ended {
        return Err(PageError::Conflict(
            "This conversation has ended already.".into(),
        ));
    }
    tracing::info!(conversation_id = %action.id, "a supervisor closed the conversation");
    let location = format!("/agent/conversations/{}", action.id);
    Ok(done(&request, &location, json!({ "state": "ended" })))
}

/// A conversation on the supervisor's board.
pub struct BoardRow {
    pub id: String,
    pub customer: String,
    /// `waiting` or `assigned`.
    pub status: String,
    pub state: String,
    pub agent: String,
    /// "waiting 3 min" or "handling 12 min".
    pub time: String,
    pub last_message: String,
    pub over_target: bool,
}

/// An agent on the supervisor's board.
pub struct BoardAgent {
    pub username: String,
    pub name: String,
    pub role: String,
    pub presence: String,
    pub active: u32,
    pub capacity: u32,
}

#[derive(askama::Template)]
#[template(path = "supervisor/board.html")]
pub struct BoardPage {
    pub bar: AgentBar,
    pub csrf: String,
    pub last_event_id: i64,
    pub conversations: Vec<BoardRow>,
    pub agents: Vec<BoardAgent>,
    /// The first-response target, in words.
    pub target: String,
}

/// How long ago `since` (RFC 3339) was, by `now`, in words ("4 min").
fn for_how_long(since: Option<&str>, now: DateTime<Utc>) -> Option<std::time::Duration> {
    let since = DateTime::parse_from_rfc3339(since?).ok()?;
    (now - since.to_utc()).to_std().ok()
}

fn minutes(duration: std::time::Duration) -> String {
    let minutes = duration.as_secs() / 60;
    if minutes == 0 {
        "under a minute".to_owned()
    } else {
        format!("{minutes} min")
    }
}

/// `GET /supervisor`: every open conversation and every agent, live.
pub async fn board(
    current: CurrentAgent,
    store: web::Data<Store>,
    agents: web::Data<Agents>,
    routing: web::Data<RoutingSettings>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, PageError> {
    require_supervisor(&current, &agents)?;
    let last_event_id = store.last_event_seq();
    let now = clock.now();
    let target = std::time::Duration::from_secs(routing.first_response_target_secs);
    let states = store.agents().await?;
    let conversations = store
        .list_conversations()
        .await?
        .into_iter()
        .filter(|conversation| conversation.summary.state == ConversationState::Open)
        .map(|conversation| {
            let summary = &conversation.summary;
            let waiting = summary.assigned_agent.is_none();
            let time = if waiting {
                for_how_long(
                    summary.queued_at.as_deref().or(Some(&summary.created_at)),
                    now,
                )
                .map(|waited| format!("waiting {}", minutes(waited)))
            } else {
                for_how_long(conversation.accepted_at.as_deref(), now)
                    .map(|handled| format!("handling {}", minutes(handled)))
            };
            BoardRow {
                id: summary.id.clone(),
                customer: summary
                    .customer_name
                    .clone()
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| UNNAMED_CUSTOMER.to_owned()),
                status: summary.status.as_str().to_owned(),
                state: if waiting { "Waiting" } else { "With an agent" }.to_owned(),
                agent: summary.agent_name.clone().unwrap_or_default(),
                time: time.unwrap_or_default(),
                last_message: summary.last_message.clone().unwrap_or_default(),
                over_target: for_how_long(summary.waiting_since.as_deref(), now)
                    .is_some_and(|waited| waited > target),
            }
        })
        .collect();
    let board_agents = states
        .iter()
        .map(|agent| BoardAgent {
            username: agent.username.clone(),
            name: agent.display_name.clone(),
            role: match agents.role_of(&agent.username) {
                AgentRole::Supervisor => "supervisor",
                AgentRole::Agent => "agent",
            }
            .to_owned(),
            presence: agent.presence.as_str().to_owned(),
            active: agent.active,
            capacity: agent.capacity,
        })
        .collect();
    let page = BoardPage {
        bar: AgentBar::of(&current, &states, &agents),
        csrf: crate::auth::csrf_token(&current.session),
        last_event_id,
        conversations,
        agents: board_agents,
        target: minutes(target),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(askama::Template::render(&page)?))
}
