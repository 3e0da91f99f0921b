//! A supervisor's actions on any open conversation, from its page: take it over
//! (`POST /supervisor/conversations/{id}/take-over`: it becomes theirs, and the customer is told
//! they joined), reassign it to another online agent with room (`.../reassign`, `to`), and
//! force-close it with a reason (`.../close`, `reason`: kept as a private note; the customer is
//! told as for an agent's end, and Copilot Studio hears `agentEnded`). `403` for an agent who is
//! not a supervisor.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::compose::ConversationAction;
use super::notes::require_supervisor;
use super::pages::{add_error, done, routing_error};
use crate::auth::Agents;
use crate::error::PageError;
use crate::store::{EndingParty, NewNote, Store};

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
        .is_some_and(|c| c.summary.state == livechat_contract::api::ConversationState::Ended)
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
