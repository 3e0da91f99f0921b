//! Wrap-up from an ended conversation's page (`POST /agent/conversations/{id}/wrap-up`: a
//! `disposition` of the configured list and an optional `summary`), by the agent who had it or a
//! supervisor. `400` for a code not in the list, `409` before the end or once wrapped up.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::compose::ConversationAction;
use super::pages::{done, routing_error};
use crate::auth::Agents;
use crate::configuration::{AgentRole, WrapUpSettings};
use crate::error::PageError;
use crate::store::Store;

/// The longest summary.
const MAX_SUMMARY_CHARS: usize = 2_000;

#[derive(Debug, Deserialize)]
pub struct WrapUpForm {
    #[serde(default)]
    pub disposition: String,
    #[serde(default)]
    pub summary: String,
}

/// `POST /agent/conversations/{id}/wrap-up`.
pub async fn wrap_up(
    request: HttpRequest,
    action: ConversationAction<WrapUpForm>,
    store: web::Data<Store>,
    agents: web::Data<Agents>,
    settings: web::Data<WrapUpSettings>,
) -> Result<HttpResponse, PageError> {
    let ConversationAction { current, id, form } = action;
    let code = form.disposition.trim();
    if !settings.dispositions.iter().any(|known| known.code == code) {
        let known: Vec<&str> = settings
            .dispositions
            .iter()
            .map(|disposition| disposition.code.as_str())
            .collect();
        return Err(PageError::BadRequest(format!(
            "Choose a disposition: {}.",
            known.join(", ")
        )));
    }
    let summary = form.summary.trim();
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        return Err(PageError::BadRequest(format!(
            "A summary is at most {MAX_SUMMARY_CHARS} characters."
        )));
    }
    let conversation = store
        .conversation(&id)
        .await?
        .ok_or_else(|| PageError::NotFound("There is no such conversation.".into()))?;
    let theirs =
        conversation.summary.assigned_agent.as_deref() == Some(current.agent.username.as_str());
    if !theirs && agents.role_of(&current.agent.username) != AgentRole::Supervisor {
        return Err(PageError::NotAllowed(
            "Only the agent who had this conversation, or a supervisor, wraps it up.".into(),
        ));
    }
    store
        .wrap_up(&id, code, (!summary.is_empty()).then(|| summary.to_owned()))
        .await
        .map_err(routing_error)?;
    tracing::info!(conversation_id = %id, disposition = code, "conversation wrapped up");
    Ok(done(
        &request,
        &format!("/agent/conversations/{id}"),
        json!({ "disposition": code }),
    ))
}
