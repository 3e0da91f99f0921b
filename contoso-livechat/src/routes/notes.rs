//! Private notes from a conversation's page: any agent adds a note every agent sees
//! (`POST /agent/conversations/{id}/notes`), and a supervisor whispers to the agent who has the
//! conversation (`POST /supervisor/conversations/{id}/whisper`; `403` for an agent who is not a
//! supervisor, `409` once it has ended or while nobody has it). Neither ever reaches the skill.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::compose::{ConversationAction, ReplyLimit};
use super::pages::{add_error, done};
use crate::auth::{Agents, CurrentAgent};
use crate::configuration::AgentRole;
use crate::error::PageError;
use crate::store::{AddMessageError, NewNote, Store};

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    pub note: String,
}

/// 403 unless the signed-in agent is a supervisor.
pub fn require_supervisor(current: &CurrentAgent, agents: &Agents) -> Result<(), PageError> {
    if agents.role_of(&current.agent.username) == AgentRole::Supervisor {
        Ok(())
    } else {
        Err(PageError::NotAllowed(
            "Only a supervisor may do this; ask yours.".into(),
        ))
    }
}

async fn add(
    request: &HttpRequest,
    action: ConversationAction<NoteForm>,
    store: &Store,
    limit: &ReplyLimit,
    whisper: bool,
) -> Result<HttpResponse, PageError> {
    let ConversationAction { current, id, form } = action;
    let body = form.note.trim();
    if body.is_empty() {
        return Err(PageError::BadRequest("Write the note first.".into()));
    }
    if body.chars().count() > limit.0 {
        return Err(PageError::BadRequest(format!(
            "A note is at most {} characters.",
            limit.0
        )));
    }
    let note = store
        .add_note(
            &id,
            NewNote {
                author: current.agent.username.clone(),
                author_name: current.agent.display_name.clone(),
                body: body.to_owned(),
                whisper,
                masked: Vec::new(),
            },
        )
        .await
        .map_err(|error| match error {
            AddMessageError::Ended(_) => PageError::Conflict(
                "This conversation has ended; there is no one to whisper to.".into(),
            ),
            other => add_error(other),
        })?;
    tracing::info!(conversation_id = %id, whisper, "a private note was added");
    Ok(done(
        request,
        &format!("/agent/conversations/{id}"),
        json!({ "id": note.id }),
    ))
}

/// `POST /agent/conversations/{id}/notes`.
pub async fn note(
    request: HttpRequest,
    action: ConversationAction<NoteForm>,
    store: web::Data<Store>,
    limit: web::Data<ReplyLimit>,
) -> Result<HttpResponse, PageError> {
    add(&request, action, &store, &limit, false).await
}

/// `POST /supervisor/conversations/{id}/whisper`.
pub async fn whisper(
    request: HttpRequest,
    action: ConversationAction<NoteForm>,
    store: web::Data<Store>,
    limit: web::Data<ReplyLimit>,
    agents: web::Data<Agents>,
) -> Result<HttpResponse, PageError> {
    require_supervisor(&action.current, &agents)?;
    add(&request, action, &store, &limit, true).await
}
