//! The agent pages: sign-in, the inbox and a conversation, plus the actions they post.
//!
//! Pages are askama templates (auto-escaped; no user text is ever marked safe), one `...Page` struct
//! each, with fields ready to show. Every state-changing request checks the CSRF token. The page's
//! JavaScript posts with `Accept: application/json` and gets JSON; without JavaScript the forms post
//! normally and are redirected back.

use std::time::Instant;

use actix_session::Session;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use livechat_contract::api::{Conversation, ConversationState, TranscriptEntry};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{self, Agents, CurrentAgent, RevokedSessions};
use crate::error::PageError;
use crate::store::{AddMessageError, EndingParty, Store};
use crate::throttle::{Refused, SignInThrottle};

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

/// The longest reply an agent may send, in characters.
pub struct ReplyLimit(pub usize);

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
}

impl From<&TranscriptEntry> for MessageRow {
    fn from(message: &TranscriptEntry) -> Self {
        Self {
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
    pub agent_name: String,
    pub csrf: String,
    pub last_event_id: i64,
    pub open: Vec<ConversationRow>,
    pub ended: Vec<ConversationRow>,
    pub unread_total: i64,
}

#[derive(Template)]
#[template(path = "agent/conversation.html")]
pub struct ConversationPage {
    pub agent_name: String,
    pub csrf: String,
    pub last_event_id: i64,
    pub unread_total: i64,
    pub conversation: ConversationRow,
    pub context: Vec<ContextRow>,
    pub problem_description: String,
    pub started: String,
    pub started_at: String,
    pub messages: Vec<MessageRow>,
    pub max_chars: usize,
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

pub async fn sign_in(
    request: HttpRequest,
    session: Session,
    form: web::Form<SignInForm>,
    agents: web::Data<Agents>,
    throttle: web::Data<SignInThrottle>,
    hint: web::Data<Option<DefaultAgentHint>>,
) -> Result<HttpResponse, PageError> {
    auth::check_csrf(&session, Some(&form.csrf_token))?;
    let client = request.peer_addr().map(|address| address.ip());
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
    if let Err(refusal) = throttle.check(&form.username, client, Instant::now()) {
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
            tracing::info!(agent = %agent.username, "agent signed in");
            Ok(see_other("/agent"))
        }
        None => {
            throttle.failed(&form.username, client, Instant::now());
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
) -> Result<HttpResponse, PageError> {
    auth::check_csrf(&session, form.csrf_token.as_deref())?;
    if let Ok(Some(agent)) = session.get::<auth::SignedInAgent>("agent") {
        revoked.revoke(&agent, chrono::Utc::now().timestamp());
    }
    auth::sign_out(&session);
    Ok(see_other("/signin"))
}

pub async fn inbox(
    current: CurrentAgent,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    let last_event_id = store.last_event_seq();
    let conversations = store.list_conversations().await?;
    let rows: Vec<ConversationRow> = conversations.iter().map(ConversationRow::from).collect();
    let unread_total = rows.iter().map(|row| row.unread).sum();
    let (ended, open): (Vec<_>, Vec<_>) = rows.into_iter().partition(|row| row.ended);
    html(InboxPage {
        agent_name: current.agent.display_name.clone(),
        csrf: auth::csrf_token(&current.session),
        last_event_id,
        open,
        ended,
        unread_total,
    })
}

pub async fn conversation(
    current: CurrentAgent,
    path: web::Path<String>,
    store: web::Data<Store>,
    limit: web::Data<ReplyLimit>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    // Read the event number first: anything that happens while the page renders is replayed.
    let last_event_id = store.last_event_seq();
    store.mark_read(&id).await?;
    let conversation = store
        .conversation(&id)
        .await?
        .ok_or_else(|| PageError::NotFound("There is no such conversation.".into()))?;
    let messages = store.messages(&id).await?.unwrap_or_default();
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
    html(ConversationPage {
        agent_name: current.agent.display_name.clone(),
        csrf: auth::csrf_token(&current.session),
        last_event_id,
        unread_total,
        started: clock(&conversation.summary.created_at),
        started_at: conversation.summary.created_at.clone(),
        problem_description: conversation.problem_description.clone().unwrap_or_default(),
        conversation: ConversationRow::from(&conversation),
        context,
        messages: messages.iter().map(MessageRow::from).collect(),
        max_chars: limit.0,
    })
}

#[derive(Deserialize)]
pub struct ReplyForm {
    message: String,
    csrf_token: Option<String>,
}

fn add_error(error: AddMessageError) -> PageError {
    match error {
        AddMessageError::NotFound(_) => {
            PageError::NotFound("There is no such conversation.".into())
        }
        AddMessageError::Ended(_) => {
            PageError::BadRequest("This conversation has ended; nothing more can be sent.".into())
        }
        AddMessageError::Store(error) => PageError::Unexpected(error),
    }
}

/// Answers a page action: JSON for the page's script, a redirect back for a plain form.
fn done(request: &HttpRequest, location: &str, body: serde_json::Value) -> HttpResponse {
    if wants_json(request) {
        HttpResponse::Ok().json(body)
    } else {
        see_other(location)
    }
}

pub async fn reply(
    request: HttpRequest,
    current: CurrentAgent,
    path: web::Path<String>,
    form: web::Form<ReplyForm>,
    store: web::Data<Store>,
    limit: web::Data<ReplyLimit>,
) -> Result<HttpResponse, PageError> {
    current.check_csrf(&request, form.csrf_token.as_deref())?;
    let id = path.into_inner();
    let message = form.message.trim_end();
    if message.trim().is_empty() {
        return Err(PageError::BadRequest("Write a message first.".into()));
    }
    if message.chars().count() > limit.0 {
        return Err(PageError::BadRequest(format!(
            "A message can have at most {} characters.",
            limit.0
        )));
    }
    let stored = store
        .add_agent_message(&id, &current.agent.display_name, message)
        .await
        .map_err(add_error)?;
    tracing::info!(conversation_id = %id, message_id = %stored.id, "agent replied");
    Ok(done(
        &request,
        &format!("/agent/conversations/{id}"),
        json!(stored),
    ))
}

pub async fn end(
    request: HttpRequest,
    current: CurrentAgent,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    current.check_csrf(&request, form.csrf_token.as_deref())?;
    let id = path.into_inner();
    let changed = store
        .end_conversation(
            &id,
            EndingParty::Agent {
                name: current.agent.display_name.clone(),
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
    request: HttpRequest,
    current: CurrentAgent,
    path: web::Path<String>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    current.check_csrf(&request, None)?;
    store.mark_read(&path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn retry(
    request: HttpRequest,
    current: CurrentAgent,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
    store: web::Data<Store>,
) -> Result<HttpResponse, PageError> {
    current.check_csrf(&request, form.csrf_token.as_deref())?;
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
