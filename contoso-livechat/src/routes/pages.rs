//! The agent pages: sign-in, the inbox (the queue, the agent's own conversations and, read-only,
//! the others'), a conversation, plus the actions they post (reply, accept, transfer, typing,
//! end, presence and capacity).
//!
//! Pages are askama templates (auto-escaped; no user text is ever marked safe), one `...Page` struct
//! each, with fields ready to show. Every state-changing agent request takes its form through
//! [`AgentForm`] (or [`AgentRequest`]), which checks the CSRF token. The page's JavaScript posts
//! with `Accept: application/json` and gets JSON; without JavaScript the forms post normally and are
//! redirected back.

use actix_session::Session;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};

use livechat_contract::api::{
    Conversation, ConversationState, ConversationStatus, TranscriptEntry,
};
use livechat_contract::files::Attachment;
use serde::Deserialize;
use serde_json::json;
use service_support::files;

use crate::auth::{self, AgentForm, AgentRequest, Agents, CurrentAgent, RevokedSessions};
use crate::configuration::{AgentRole, CannedReply, Disposition, WrapUpSettings, MAX_CAPACITY};
use crate::error::PageError;
use crate::files::{FileLimits, FileStore};
use crate::presence::LivePages;
use crate::routes::compose::{
    keep_reply_file, no_such_conversation, ConversationAction, ReplyInput, ReplyLimit,
};
use crate::routes::transcripts::visible_to;
use crate::store::{
    AddMessageError, AgentState, ConversationId, EndingParty, Note, Presence, ReplyAuthor,
    RoutingError, Store, TransferTarget,
};
use crate::throttle::{Refused, SignInThrottle};
use crate::typing::{Offered, TypingRelay};

/// The default local agent's sign-in, shown on the sign-in page when it is in use.
#[derive(Debug, Clone)]
pub struct DefaultAgentHint {
    pub username: String,
    pub password: String,
}

/// One line of the handoff context on a conversation page.
pub struct ContextRow {
    pub label: String,
    pub value: String,
}

/// The prepared replies, as the reply box offers them.
pub struct CannedReplies(pub Vec<CannedReply>);

/// The page header: who is signed in, their presence and their load.
pub struct AgentBar {
    /// A supervisor: the bar links to the supervisor's view.
    pub supervisor: bool,
    pub agent_name: String,
    pub username: String,
    pub csrf: String,
    pub presence: String,
    pub capacity: u32,
    pub active: u32,
    pub max_capacity: u32,
}

impl AgentBar {
    pub(crate) fn of(current: &CurrentAgent, agents: &[AgentState], roles: &Agents) -> Self {
        let me = agents
            .iter()
            .find(|agent| agent.username == current.agent.username);
        Self {
            supervisor: roles.role_of(&current.agent.username) == AgentRole::Supervisor,
            agent_name: current.agent.display_name.clone(),
            username: current.agent.username.clone(),
            csrf: auth::csrf_token(&current.session),
            presence: me
                .map(|agent| agent.presence.as_str())
                .unwrap_or("offline")
                .to_owned(),
            capacity: me.map(|agent| agent.capacity).unwrap_or(0),
            active: me.map(|agent| agent.active).unwrap_or(0),
            max_capacity: MAX_CAPACITY,
        }
    }
}

fn clock(timestamp: &str) -> String {
    DateTime::parse_from_rfc3339(timestamp)
        .map(|t| t.with_timezone(&Utc).format("%H:%M UTC").to_string())
        .unwrap_or_default()
}

fn waited(since: &str) -> String {
    let Ok(since) = DateTime::parse_from_rfc3339(since) else {
        return String::new();
    };
    let minutes = (Utc::now() - since.with_timezone(&Utc))
        .num_minutes()
        .max(0);
    match minutes {
        0 => "waiting < 1 min".to_owned(),
        m if m < 60 => format!("waiting {m} min"),
        m => format!("waiting {} h {} min", m / 60, m % 60),
    }
}

/// How long a conversation has been in the queue, for its row.
fn in_queue(since: &str) -> String {
    waited(since).replacen("waiting", "in the queue", 1)
}

fn wants_json(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

fn html(page: impl Template) -> Result<HttpResponse, PageError> {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// An inbox row.
pub struct ConversationRow {
    pub id: String,
    pub customer_name: String,
    pub last_message: String,
    pub last_message_at: String,
    pub last_message_clock: String,
    pub waiting_since: String,
    pub waiting: String,
    pub unread: i64,
    pub ended: bool,
    /// waiting, assigned or ended.
    pub status: String,
    pub assigned_agent: String,
    pub agent_name: String,
    pub queued_at: String,
    /// How long it has been in the queue.
    pub queued: String,
    pub problem_description: String,
    pub channel: String,
}

impl From<&Conversation> for ConversationRow {
    fn from(conversation: &Conversation) -> Self {
        let summary = &conversation.summary;
        let last_message: String = summary
            .last_message
            .clone()
            .unwrap_or_else(|| "No messages yet".to_owned());
        let last_message = if last_message.chars().count() > 120 {
            format!("{}…", last_message.chars().take(120).collect::<String>())
        } else {
            last_message
        };
        let last_message_at = summary
            .last_message_at
            .clone()
            .unwrap_or_else(|| summary.created_at.clone());
        Self {
            id: summary.id.clone(),
            customer_name: summary
                .customer_name
                .clone()
                .unwrap_or_else(|| crate::store::UNNAMED_CUSTOMER.to_owned()),
            last_message,
            last_message_clock: clock(&last_message_at),
            last_message_at,
            waiting_since: summary.waiting_since.clone().unwrap_or_default(),
            waiting: summary
                .waiting_since
                .as_deref()
                .map(waited)
                .unwrap_or_default(),
            unread: if summary.state == ConversationState::Open {
                summary.unread
            } else {
                0
            },
            ended: summary.state == ConversationState::Ended,
            status: summary.status.as_str().to_owned(),
            assigned_agent: summary.assigned_agent.clone().unwrap_or_default(),
            agent_name: summary.agent_name.clone().unwrap_or_default(),
            queued_at: summary.queued_at.clone().unwrap_or_default(),
            queued: summary
                .queued_at
                .as_deref()
                .map(in_queue)
                .unwrap_or_default(),
            problem_description: conversation.problem_description.clone().unwrap_or_default(),
            channel: conversation.channel.clone().unwrap_or_default(),
        }
    }
}

/// A file of a transcript entry.
pub struct AttachmentRow {
    /// Where the agent's browser fetches it (`/agent/files/{id}`).
    pub url: String,
    pub name: String,
    /// "PDF document · 98 KB".
    pub details: String,
    /// A picture shown as a thumbnail (PNG, JPEG, GIF, WebP only).
    pub inline: bool,
    /// Retention deleted it: only its name is left.
    pub removed: bool,
}

impl From<&Attachment> for AttachmentRow {
    fn from(attachment: &Attachment) -> Self {
        Self {
            url: format!("/agent/files/{}", attachment.id),
            name: attachment.name.clone(),
            details: format!(
                "{} · {}",
                files::describe_type(&attachment.content_type),
                files::describe_size(attachment.size)
            ),
            inline: files::INLINE_PICTURES.contains(&attachment.content_type.as_str()),
            removed: attachment.removed,
        }
    }
}

/// A transcript entry.
pub struct MessageRow {
    pub id: String,
    pub role: String,
    pub sender: String,
    pub body: String,
    pub timestamp: String,
    pub clock: String,
    pub delivery_state: String,
    pub last_error: String,
    pub attachments: Vec<AttachmentRow>,
    /// Which masking rules removed something from the words ("" when none did).
    pub masked: String,
    /// The private notes (and whispers the agent may see) written after it.
    pub notes: Vec<NoteRow>,
}

/// One of the customer's earlier conversations, in the handoff context.
pub struct HistoryRow {
    pub id: String,
    pub started: String,
    pub started_at: String,
    pub agent: String,
    pub disposition: String,
    pub rating: String,
    pub state: String,
}

/// A private note or a whisper, as the transcript shows it.
pub struct NoteRow {
    pub id: String,
    pub author_name: String,
    pub body: String,
    pub timestamp: String,
    pub clock: String,
    /// "Private note", or "Whisper to ann".
    pub label: String,
    pub whisper: bool,
    pub masked: String,
}

impl From<&Note> for NoteRow {
    fn from(note: &Note) -> Self {
        Self {
            id: note.id.clone(),
            author_name: note.author_name.clone(),
            body: note.body.clone(),
            timestamp: note.created_at.clone(),
            clock: clock(&note.created_at),
            label: match &note.whisper_to {
                Some(to) => format!("Whisper to {to}"),
                None => "Private note".to_owned(),
            },
            whisper: note.whisper_to.is_some(),
            masked: masked_label(&note.masked),
        }
    }
}

/// The transcript's rows with each visible note placed after the entry it follows; the notes
/// written before the first entry come first.
fn with_notes(messages: &[TranscriptEntry], notes: &[Note]) -> (Vec<NoteRow>, Vec<MessageRow>) {
    let mut leading = Vec::new();
    let mut rows: Vec<MessageRow> = messages.iter().map(MessageRow::from).collect();
    for note in notes {
        match messages
            .iter()
            .rposition(|entry| entry.seq <= note.after_seq)
        {
            Some(index) => rows[index].notes.push(NoteRow::from(note)),
            None => leading.push(NoteRow::from(note)),
        }
    }
    (leading, rows)
}

/// How the pages say which masking rules changed an entry.
pub fn masked_label(rules: &[String]) -> String {
    if rules.is_empty() {
        return String::new();
    }
    format!("Masked: {}", rules.join(", ").replace('-', " "))
}

impl From<&TranscriptEntry> for MessageRow {
    fn from(message: &TranscriptEntry) -> Self {
        Self {
            attachments: message
                .attachments
                .iter()
                .map(AttachmentRow::from)
                .collect(),
            id: message.id.clone(),
            role: message.role.as_str().to_owned(),
            sender: message.sender.clone(),
            body: message.message.clone(),
            timestamp: message.timestamp.clone(),
            clock: clock(&message.timestamp),
            delivery_state: message
                .delivery_state
                .map(|state| state.as_str().to_owned())
                .unwrap_or_default(),
            last_error: message.last_error.clone().unwrap_or_default(),
            masked: masked_label(&message.masked),
            notes: Vec::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    pub csrf: String,
    pub error: String,
    pub username: String,
    pub hint: Option<DefaultAgentHint>,
}

#[derive(Template)]
#[template(path = "agent/inbox.html")]
pub struct InboxPage {
    pub bar: AgentBar,
    pub csrf: String,
    pub last_event_id: i64,
    /// Waiting, oldest first.
    pub queue: Vec<ConversationRow>,
    /// Assigned to this agent.
    pub mine: Vec<ConversationRow>,
    /// Assigned to others: read-only here.
    pub others: Vec<ConversationRow>,
    pub ended: Vec<ConversationRow>,
    pub unread_total: i64,
    /// "4.3 of 5 from 12 ratings", or empty before the first rating.
    pub rating_average: String,
}

/// Another agent, as the transfer list offers them.
pub struct TransferOption {
    pub username: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "agent/conversation.html")]
pub struct ConversationPage {
    pub bar: AgentBar,
    pub csrf: String,
    /// The signed-in agent has it: they write, end and transfer.
    pub mine: bool,
    pub waiting: bool,
    pub transfer_to: Vec<TransferOption>,
    pub transfer_note: String,
    /// The prepared replies, as JSON for the reply box.
    pub canned_json: String,
    pub last_event_id: i64,
    pub unread_total: i64,
    pub conversation: ConversationRow,
    pub context: Vec<ContextRow>,
    pub problem_description: String,
    pub started: String,
    pub started_at: String,
    pub messages: Vec<MessageRow>,
    /// Notes written before the first entry.
    pub leading_notes: Vec<NoteRow>,
    /// The signed-in agent may whisper, take over, reassign and force-close.
    pub supervisor: bool,
    /// The wrap-up form is offered (shown once the conversation has ended), with these choices.
    pub wrap_up_form: bool,
    pub dispositions: Vec<Disposition>,
    /// The recorded wrap-up, as agents read it ("" before).
    pub disposition: String,
    pub wrap_up_summary: String,
    /// The customer's earlier conversations (by customer id), newest first.
    pub history: Vec<HistoryRow>,
    pub max_chars: usize,
    /// The largest file, in bytes, and as people say it.
    pub max_file_bytes: u64,
    pub max_file_size: String,
    /// The kinds taken, for the file input's `accept`, and as a sentence.
    pub accept: String,
    pub accepted_kinds: String,
    /// How the kinds are named, as JSON (media type to words), for files shown live.
    pub kind_labels: String,
    /// The customer's rating: "4 of 5", or empty; and their comment.
    pub rating: String,
    pub rating_stars: String,
    pub rating_comment: String,
}

/// "★★★★☆" for 4.
fn stars(rating: u8) -> String {
    let filled = usize::from(rating.min(5));
    format!("{}{}", "★".repeat(filled), "☆".repeat(5 - filled))
}

/// The inbox's line on the ratings so far.
fn rating_average(average: Option<(f64, i64)>) -> String {
    match average {
        Some((average, 1)) => format!("{average:.1} of 5 from 1 rating"),
        Some((average, rated)) => format!("{average:.1} of 5 from {rated} ratings"),
        None => String::new(),
    }
}

pub async fn home(session: Session) -> HttpResponse {
    match session.get::<auth::SignedInAgent>("agent") {
        Ok(Some(_)) => see_other("/agent"),
        _ => see_other("/signin"),
    }
}

pub async fn sign_in_page(
    session: Session,
    hint: web::Data<Option<DefaultAgentHint>>,
) -> Result<HttpResponse, PageError> {
    html(SignInPage {
        csrf: auth::csrf_token(&session),
        error: String::new(),
        username: String::new(),
        hint: hint.get_ref().clone(),
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
    csrf_token: String,
}

// Each argument is an actix extractor: what the handler needs, named.
#[allow(clippy::too_many_arguments)]
pub async fn sign_in(
    request: HttpRequest,
    session: Session,
    form: web::Form<SignInForm>,
    agents: web::Data<Agents>,
    throttle: web::Data<SignInThrottle>,
    hint: web::Data<Option<DefaultAgentHint>>,
    store: web::Data<Store>,
    pages: web::Data<LivePages>,
) -> Result<HttpResponse, PageError> {
    auth::check_csrf(&session, Some(&form.csrf_token))?;
    let client = throttle.client_of(&request);
    let refused_page = |status: StatusCode, error: String| -> Result<HttpResponse, PageError> {
        let page = SignInPage {
            csrf: auth::csrf_token(&session),
            error,
            username: form.username.clone(),
            hint: hint.get_ref().clone(),
        };
        Ok(HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(page.render()?))
    };
    let refused = |refusal: Refused| {
        tracing::warn!(why = ?refusal.why, "sign-in refused before the password was checked");
        let mut response = refused_page(StatusCode::TOO_MANY_REQUESTS, refusal.message())?;
        if let Ok(value) = refusal.retry_after.as_secs().max(1).to_string().parse() {
            response
                .headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, value);
        }
        Ok(response)
    };
    if let Err(refusal) = throttle.check(&form.username, client, throttle.now()) {
        return refused(refusal);
    }
    let turn = match throttle.verification_turn().await {
        Ok(turn) => turn,
        Err(refusal) => return refused(refusal),
    };
    let checking = agents.into_inner();
    let (username, password) = (form.username.clone(), form.password.clone());
    // Password hashing is deliberately slow; keep it off the HTTP worker's event loop.
    let agent = web::block(move || checking.authenticate(&username, &password))
        .await
        .map_err(|e| PageError::Unexpected(anyhow::anyhow!(e)))?;
    drop(turn);
    match agent {
        Some(agent) => {
            throttle.succeeded(&form.username, client);
            auth::sign_in(&session, &agent)?;
            pages.touch(&agent.username);
            store
                .set_presence(&agent.username, Presence::Online)
                .await?;
            tracing::info!(agent = %agent.username, "agent signed in");
            Ok(see_other("/agent"))
        }
        None => {
            throttle.failed(&form.username, client, throttle.now());
            tracing::warn!("failed sign-in");
            refused_page(
                StatusCode::UNAUTHORIZED,
                "Wrong username or password.".into(),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf_token: Option<String>,
}

pub async fn sign_out(
    session: Session,
    form: web::Form<CsrfForm>,
    revoked: web::Data<RevokedSessions>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    auth::check_csrf(&session, form.csrf_token.as_deref())?;
    if let Ok(Some(agent)) = session.get::<auth::SignedInAgent>("agent") {
        revoked.revoke(&agent, chrono::Utc::now().timestamp());
        store
            .set_presence(&agent.username, Presence::Offline)
            .await?;
    }
    auth::sign_out(&session);
    Ok(see_other("/signin"))
}

pub async fn inbox(
    current: CurrentAgent,
    store: web::Data<Store>,
    roles: web::Data<Agents>,
) -> Result<HttpResponse, PageError> {
    let last_event_id = store.last_event_seq();
    let conversations = store.list_conversations().await?;
    let agents = store.agents().await?;
    let rows: Vec<ConversationRow> = conversations.iter().map(ConversationRow::from).collect();
    let unread_total = rows.iter().map(|row| row.unread).sum();
    let (mut queue, mut mine, mut others, mut ended) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        match row.status.as_str() {
            "ended" => ended.push(row),
            "waiting" => queue.push(row),
            _ if row.assigned_agent == current.agent.username => mine.push(row),
            _ => others.push(row),
        }
    }
    // Oldest first: the queue's order is its waiting order.
    queue.sort_by(|a, b| a.queued_at.cmp(&b.queued_at));
    html(InboxPage {
        bar: AgentBar::of(&current, &agents, &roles),
        csrf: auth::csrf_token(&current.session),
        last_event_id,
        queue,
        mine,
        others,
        ended,
        unread_total,
        rating_average: rating_average(store.rating_average().await?),
    })
}

/// The conversation a page's path names.
fn conversation_id(path: web::Path<String>) -> Result<ConversationId, PageError> {
    ConversationId::parse(&path.into_inner()).ok_or_else(no_such_conversation)
}

#[allow(clippy::too_many_arguments)] // Each is an extractor actix hands the page.
pub async fn conversation(
    current: CurrentAgent,
    path: web::Path<String>,
    store: web::Data<Store>,
    limit: web::Data<ReplyLimit>,
    canned: web::Data<CannedReplies>,
    file_store: web::Data<FileStore>,
    roles: web::Data<Agents>,
    wrap_up: web::Data<WrapUpSettings>,
) -> Result<HttpResponse, PageError> {
    let id = conversation_id(path)?;
    // Read the event number first: anything that happens while the page renders is replayed.
    let last_event_id = store.last_event_seq();
    store.mark_read(&id).await?;
    let conversation = store
        .conversation(&id)
        .await?
        .ok_or_else(|| PageError::NotFound("There is no such conversation.".into()))?;
    let messages = store.messages(&id).await?.unwrap_or_default();
    let supervisor = roles.role_of(&current.agent.username) == AgentRole::Supervisor;
    let notes: Vec<Note> = store
        .notes(&id)
        .await?
        .into_iter()
        .filter(|note| visible_to(note, &current.agent.username, supervisor))
        .collect();
    let (leading_notes, message_rows) = with_notes(&messages, &notes);
    let history = match &conversation.customer_id {
        Some(customer) => store
            .customer_history(customer, &id)
            .await?
            .iter()
            .map(|earlier| HistoryRow {
                id: earlier.summary.id.clone(),
                started: clock(&earlier.summary.created_at),
                started_at: earlier.summary.created_at.clone(),
                agent: earlier
                    .summary
                    .agent_name
                    .clone()
                    .unwrap_or_else(|| "nobody".into()),
                disposition: earlier
                    .disposition
                    .as_deref()
                    .map(|code| wrap_up.label_of(code).unwrap_or_else(|| code.to_owned()))
                    .unwrap_or_default(),
                rating: earlier
                    .rating
                    .map(|rating| format!("{rating} of 5"))
                    .unwrap_or_default(),
                state: earlier.summary.state.as_str().to_owned(),
            })
            .collect(),
        None => Vec::new(),
    };
    let unread_total = store.unread_total().await?;
    let mut context = Vec::new();
    for (label, value) in [
        ("Customer id", &conversation.customer_id),
        ("Channel", &conversation.channel),
        ("Teams tenant", &conversation.tenant_id),
        ("Bot conversation", &conversation.bot_conversation_id),
    ] {
        if let Some(value) = value {
            context.push(ContextRow {
                label: label.to_owned(),
                value: value.clone(),
            });
        }
    }
    let agents = store.agents().await?;
    let summary = &conversation.summary;
    let mine = summary.assigned_agent.as_deref() == Some(current.agent.username.as_str());
    let transfer_to = agents
        .iter()
        .filter(|agent| agent.username != current.agent.username)
        .map(|agent| TransferOption {
            username: agent.username.clone(),
            label: format!(
                "{} ({}, {} of {})",
                agent.display_name,
                agent.presence.as_str(),
                agent.active,
                agent.capacity
            ),
        })
        .collect();
    html(ConversationPage {
        bar: AgentBar::of(&current, &agents, &roles),
        csrf: auth::csrf_token(&current.session),
        mine,
        waiting: summary.status == ConversationStatus::Waiting,
        transfer_to,
        transfer_note: conversation
            .transfer_note
            .clone()
            .filter(|_| mine)
            .unwrap_or_default(),
        canned_json: serde_json::to_string(&canned.0)
            .map_err(|error| PageError::Unexpected(error.into()))?,
        last_event_id,
        unread_total,
        started: clock(&conversation.summary.created_at),
        started_at: conversation.summary.created_at.clone(),
        problem_description: conversation.problem_description.clone().unwrap_or_default(),
        conversation: ConversationRow::from(&conversation),
        context,
        messages: message_rows,
        leading_notes,
        supervisor,
        wrap_up_form: conversation.disposition.is_none()
            && (supervisor
                || conversation.summary.assigned_agent.as_deref()
                    == Some(current.agent.username.as_str())),
        dispositions: wrap_up.dispositions.clone(),
        disposition: conversation
            .disposition
            .as_deref()
            .map(|code| wrap_up.label_of(code).unwrap_or_else(|| code.to_owned()))
            .unwrap_or_default(),
        wrap_up_summary: conversation.wrap_up_summary.clone().unwrap_or_default(),
        history,
        max_chars: limit.0,
        max_file_bytes: file_store.limits().max_file_bytes,
        max_file_size: files::describe_size(file_store.limits().max_file_bytes),
        accept: accept_attribute(file_store.limits()),
        accepted_kinds: accepted_kinds(file_store.limits()),
        kind_labels: kind_labels(file_store.limits(), &messages)?,
        rating: conversation
            .rating
            .map(|rating| format!("{rating} of 5"))
            .unwrap_or_default(),
        rating_stars: conversation.rating.map(stars).unwrap_or_default(),
        rating_comment: conversation.rating_comment.clone().unwrap_or_default(),
    })
}

/// A form with no field but its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

pub(crate) fn add_error(error: AddMessageError) -> PageError {
    match error {
        AddMessageError::NotFound(_) => {
            PageError::NotFound("There is no such conversation.".into())
        }
        AddMessageError::Ended(_) => {
            PageError::BadRequest("This conversation has ended; nothing more can be sent.".into())
        }
        AddMessageError::NotYours(why) => PageError::Conflict(sentence(&why)),
        AddMessageError::StorageFull => PageError::File {
            status: StatusCode::INSUFFICIENT_STORAGE,
            message: "The live chat's file storage is full, so the file was not sent. Ask an administrator to make room.".into(),
        },
        AddMessageError::Store(error) => PageError::Unexpected(error),
    }
}

/// `why` as a sentence: capitalised, with a full stop.
fn sentence(why: &str) -> String {
    let mut chars = why.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    format!("{first}{}.", chars.as_str())
}

pub(crate) fn routing_error(error: RoutingError) -> PageError {
    match error {
        RoutingError::NotFound(_) => PageError::NotFound("There is no such conversation.".into()),
        RoutingError::Ended => PageError::Conflict("This conversation has ended.".into()),
        RoutingError::Store(error) => PageError::Unexpected(error),
        other => PageError::Conflict(sentence(&other.to_string())),
    }
}

/// Answers a page action: JSON for the page's script, a redirect back for a plain form.
pub(crate) fn done(request: &HttpRequest, location: &str, body: serde_json::Value) -> HttpResponse {
    if wants_json(request) {
        HttpResponse::Ok().json(body)
    } else {
        see_other(location)
    }
}

pub async fn reply(
    request: HttpRequest,
    ReplyInput {
        current,
        id,
        message,
        file,
    }: ReplyInput,
    store: web::Data<Store>,
    limit: web::Data<ReplyLimit>,
    file_store: web::Data<FileStore>,
) -> Result<HttpResponse, PageError> {
    // Blank words are none (a file may go alone); otherwise the agent's, as typed but for the end.
    let message = match message.trim_end() {
        words if words.trim_start().is_empty() => "",
        words => words,
    };
    if message.is_empty() && file.is_none() {
        return Err(PageError::BadRequest(
            "Write a message or attach a file first.".into(),
        ));
    }
    if message.chars().count() > limit.0 {
        return Err(PageError::BadRequest(format!(
            "A message can have at most {} characters.",
            limit.0
        )));
    }
    let files = keep_reply_file(&file_store, file).await?;
    let stored = store
        .add_agent_message(
            &id,
            &current.agent.display_name,
            message,
            ReplyAuthor::Agent(current.agent.username.clone()),
            files,
        )
        .await
        .map_err(add_error)?;
    tracing::info!(conversation_id = %id, message_id = %stored.id, files = stored.attachments.len(), "agent replied");
    Ok(done(
        &request,
        &format!("/agent/conversations/{id}"),
        json!(stored),
    ))
}

/// The file input's `accept`: the media types taken.
fn accept_attribute(limits: &FileLimits) -> String {
    let mut types: Vec<&str> = limits.allowed_types.iter().map(String::as_str).collect();
    types.sort_unstable();
    types.join(",")
}

/// The kinds taken, as the page tells the agent: "pictures, PDF, office documents and text files".
fn accepted_kinds(limits: &FileLimits) -> String {
    // Groups people name, in this order; a kind in none is named for itself, after them.
    let group_of = |mime: &str| -> String {
        let label = files::describe_type(mime);
        match mime {
            image if image.starts_with("image/") => "pictures".to_owned(),
            "application/pdf" => "PDF".to_owned(),
            "text/plain" => "text files".to_owned(),
            _ if ["text document", "spreadsheet", "presentation"].contains(&label.as_str()) => {
                "office documents".to_owned()
            }
            _ => label,
        }
    };
    let order = ["pictures", "PDF", "office documents", "text files"];
    let mut groups: Vec<String> = limits
        .allowed_types
        .iter()
        .map(|mime| group_of(mime))
        .collect();
    groups.sort_by_key(|group| {
        (
            order
                .iter()
                .position(|known| known == group)
                .unwrap_or(order.len()),
            group.clone(),
        )
    });
    groups.dedup();
    match groups.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "none".to_owned(),
    }
}

/// The words for each kind the page may show (the kinds taken, and those in the transcript).
fn kind_labels(limits: &FileLimits, entries: &[TranscriptEntry]) -> Result<String, PageError> {
    let labels: std::collections::BTreeMap<&str, String> = limits
        .allowed_types
        .iter()
        .map(String::as_str)
        .chain(
            entries
                .iter()
                .flat_map(|entry| entry.attachments.iter())
                .map(|attachment| attachment.content_type.as_str()),
        )
        .map(|mime| (mime, files::describe_type(mime)))
        .collect();
    serde_json::to_string(&labels).map_err(|error| PageError::Unexpected(error.into()))
}

pub async fn end(
    request: HttpRequest,
    ConversationAction { current, id, .. }: ConversationAction<NoFields>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    let changed = store
        .end_conversation(
            &id,
            EndingParty::Agent {
                name: current.agent.display_name.clone(),
                username: Some(current.agent.username.clone()),
            },
        )
        .await
        .map_err(add_error)?;
    if changed {
        tracing::info!(conversation_id = %id, "conversation ended by the agent");
    }
    Ok(done(
        &request,
        &format!("/agent/conversations/{id}"),
        json!({ "state": "ended" }),
    ))
}

pub async fn mark_read(
    _checked: AgentRequest,
    path: web::Path<String>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    store.mark_read(&conversation_id(path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn retry(
    request: HttpRequest,
    _checked: AgentForm<NoFields>,
    path: web::Path<String>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    let message = store
        .retry_failed(&path.into_inner())
        .await?
        .ok_or_else(|| PageError::NotFound("There is no failed reply with that id.".into()))?;
    Ok(done(
        &request,
        &format!("/agent/conversations/{}", message.conversation_id),
        json!(message),
    ))
}

/// The agent's answer to an action on a conversation: the conversation's summary as JSON, or back
/// to its page.
fn conversation_done(request: &HttpRequest, conversation: &Conversation) -> HttpResponse {
    done(
        request,
        &format!("/agent/conversations/{}", conversation.summary.id),
        json!(conversation),
    )
}

pub async fn accept(
    request: HttpRequest,
    ConversationAction { current, id, .. }: ConversationAction<NoFields>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    let conversation = store
        .accept(&id, &current.agent.username)
        .await
        .map_err(routing_error)?;
    tracing::info!(conversation_id = %id, agent = %current.agent.username, "conversation accepted");
    Ok(conversation_done(&request, &conversation))
}

#[derive(Deserialize)]
pub struct TransferForm {
    /// An agent's username, or `queue`.
    to: String,
    #[serde(default)]
    note: Option<String>,
}

/// The longest transfer note, in characters.
const MAX_NOTE_CHARS: usize = 1_000;

pub async fn transfer(
    request: HttpRequest,
    ConversationAction { current, id, form }: ConversationAction<TransferForm>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    let note = form
        .note
        .as_deref()
        .map(str::trim)
        .filter(|note| !note.is_empty())
        .map(str::to_owned);
    if note
        .as_ref()
        .is_some_and(|note| note.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(PageError::BadRequest(format!(
            "A transfer note can have at most {MAX_NOTE_CHARS} characters."
        )));
    }
    let target = match form.to.trim() {
        "" => return Err(PageError::BadRequest("Choose who to transfer to.".into())),
        "queue" => TransferTarget::Queue,
        username => TransferTarget::Agent(username.to_owned()),
    };
    let conversation = store
        .transfer(&id, &current.agent.username, target, note)
        .await
        .map_err(routing_error)?;
    tracing::info!(conversation_id = %id, from = %current.agent.username, to = conversation.summary.assigned_agent.as_deref().unwrap_or("queue"), "conversation transferred");
    Ok(conversation_done(&request, &conversation))
}

/// The agent is typing: relayed to the customer, best effort (202 whether or not it was sent).
pub async fn typing(
    ConversationAction { current, id, .. }: ConversationAction<NoFields>,
    store: web::Data<Store>,
    relay: web::Data<TypingRelay>,
) -> Result<HttpResponse, PageError> {
    let conversation = store
        .conversation(&id)
        .await?
        .ok_or_else(|| PageError::NotFound("There is no such conversation.".into()))?;
    let summary = &conversation.summary;
    if summary.state == ConversationState::Ended {
        return Err(PageError::Conflict("This conversation has ended.".into()));
    }
    if summary.assigned_agent.as_deref() != Some(current.agent.username.as_str()) {
        return Err(PageError::Conflict(
            "Only the agent who has this conversation types in it.".into(),
        ));
    }
    let offered = relay.offer(&id, &current.agent.display_name);
    let answer = match offered {
        Offered::Queued => "queued",
        Offered::TooSoon => "tooSoon",
        Offered::Full => "dropped",
    };
    Ok(HttpResponse::Accepted().json(json!({ "typing": answer })))
}

#[derive(Deserialize)]
pub struct PresenceForm {
    presence: String,
}

pub async fn presence(
    request: HttpRequest,
    AgentForm { current, form }: AgentForm<PresenceForm>,
    store: web::Data<Store>,
    pages: web::Data<LivePages>,
) -> Result<HttpResponse, PageError> {
    let presence = Presence::parse(form.presence.trim())
        .ok_or_else(|| PageError::BadRequest("Presence must be online, away or offline.".into()))?;
    pages.touch(&current.agent.username);
    store
        .set_presence(&current.agent.username, presence)
        .await?;
    tracing::info!(agent = %current.agent.username, presence = presence.as_str(), "presence changed");
    Ok(done(
        &request,
        "/agent",
        json!({ "presence": presence.as_str() }),
    ))
}

#[derive(Deserialize)]
pub struct CapacityForm {
    capacity: String,
}

pub async fn capacity(
    request: HttpRequest,
    AgentForm { current, form }: AgentForm<CapacityForm>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    let capacity = form
        .capacity
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|capacity| *capacity <= MAX_CAPACITY)
        .ok_or_else(|| {
            PageError::BadRequest(format!(
                "Capacity must be a whole number from 0 to {MAX_CAPACITY}."
            ))
        })?;
    store
        .set_capacity(&current.agent.username, capacity)
        .await?;
    Ok(done(&request, "/agent", json!({ "capacity": capacity })))
}
