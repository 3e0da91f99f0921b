//! A conversation's transcript downloaded by a signed-in agent, as plain text or as JSON
//! (`GET /agent/conversations/{id}/transcript?format=text|json`): what the page shows, masked as
//! it was stored, with the handoff context, the files by name and what masking removed.

use std::fmt::Write as _;

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpResponse};
use livechat_contract::api::{Conversation, Role, TranscriptEntry};
use serde::Deserialize;

use crate::auth::{Agents, CurrentAgent};
use crate::configuration::AgentRole;
use crate::error::PageError;
use crate::store::{ConversationId, ExportedConversation, Note, Store, UNNAMED_CUSTOMER};

/// The download's form.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
pub struct TranscriptQuery {
    #[serde(default)]
    pub format: Format,
    /// `notes=1`: with the private notes (and the whispers the agent may see), marked as such.
    #[serde(default)]
    pub notes: Option<String>,
}

/// `GET /agent/conversations/{id}/transcript`.
pub async fn download(
    current: CurrentAgent,
    path: web::Path<String>,
    query: web::Query<TranscriptQuery>,
    store: web::Data<Store>,
    agents: web::Data<Agents>,
) -> Result<HttpResponse, PageError> {
    let missing = || PageError::NotFound("There is no such conversation.".into());
    let id = ConversationId::parse(&path.into_inner()).ok_or_else(missing)?;
    let conversation = store.conversation(&id).await?.ok_or_else(missing)?;
    let transcript = store.messages(&id).await?.unwrap_or_default();
    let notes = if matches!(query.notes.as_deref(), Some("1" | "true" | "yes")) {
        let supervisor = agents.role_of(&current.agent.username) == AgentRole::Supervisor;
        store
            .notes(&id)
            .await?
            .into_iter()
            .filter(|note| visible_to(note, &current.agent.username, supervisor))
            .collect()
    } else {
        Vec::new()
    };
    let (body, content_type, extension) = match query.format {
        Format::Text => (
            as_text(&conversation, &transcript, &notes),
            "text/plain; charset=utf-8",
            "txt",
        ),
        Format::Json => (
            serde_json::to_string_pretty(&ExportedConversation {
                conversation,
                transcript,
                notes,
            })
            .map_err(|error| PageError::Unexpected(error.into()))?,
            "application/json",
            "json",
        ),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!(
                "transcript-{id}.{extension}"
            ))],
        })
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

/// The transcript as a person reads it: a heading with the context, then one line per entry.
pub fn as_text(
    conversation: &Conversation,
    transcript: &[TranscriptEntry],
    notes: &[Note],
) -> String {
    let summary = &conversation.summary;
    let customer = summary
        .customer_name
        .as_deref()
        .filter(|name| !name.is_empty())
        .unwrap_or(UNNAMED_CUSTOMER);
    let mut text = format!("Conversation with {customer} ({})\n", summary.id);
    let _ = writeln!(text, "Started: {}", summary.created_at);
    if let Some(ended) = &summary.ended_at {
        let _ = writeln!(text, "Ended: {ended}");
    }
    for (label, value) in [
        ("Customer id", &conversation.customer_id),
        ("Channel", &conversation.channel),
        ("Problem", &conversation.problem_description),
    ] {
        if let Some(value) = value {
            let _ = writeln!(text, "{label}: {value}");
        }
    }
    if let Some(rating) = conversation.rating {
        let comment = conversation.rating_comment.as_deref().unwrap_or_default();
        let _ = writeln!(text, "Rating: {rating} of 5 {comment}");
    }
    text.push('\n');
    let note_line = |text: &mut String, note: &Note| {
        let kind = match &note.whisper_to {
            Some(to) => format!("whisper to {to}"),
            None => "private note".to_owned(),
        };
        let _ = writeln!(
            text,
            "[{}] ({kind}) {}: {}",
            note.created_at, note.author_name, note.body
        );
    };
    let mut notes = notes.iter().peekable();
    while let Some(note) = notes.next_if(|note| {
        transcript
            .first()
            .is_none_or(|first| note.after_seq < first.seq)
    }) {
        note_line(&mut text, note);
    }
    for (index, entry) in transcript.iter().enumerate() {
        let next_seq = transcript.get(index + 1).map_or(i64::MAX, |next| next.seq);
        let who = match entry.role {
            Role::Customer => format!("{} (customer)", entry.sender),
            Role::Agent => format!("{} (agent)", entry.sender),
            Role::System => "System".to_owned(),
        };
        let _ = writeln!(text, "[{}] {who}: {}", entry.timestamp, entry.message);
        for file in &entry.attachments {
            let _ = writeln!(
                text,
                "    file: {} ({}, {} bytes){}",
                file.name,
                file.content_type,
                file.size,
                if file.removed { ", since removed" } else { "" }
            );
        }
        if !entry.masked.is_empty() {
            let _ = writeln!(text, "    masked: {}", entry.masked.join(", "));
        }
        while let Some(note) = notes.next_if(|note| note.after_seq < next_seq) {
            note_line(&mut text, note);
        }
    }
    text
}

/// Whether `username` may see `note`: a note, or a whisper to them, or they are a supervisor.
pub fn visible_to(note: &Note, username: &str, supervisor: bool) -> bool {
    supervisor
        || note
            .whisper_to
            .as_deref()
            .is_none_or(|to| to.eq_ignore_ascii_case(username))
}
