//! The session API the skill calls (`/api/chat/*`), with the bodies of [`livechat_contract::api`].
//!
//! Open without `LIVECHAT_API_KEY` (as the original); with it, every call needs
//! `Authorization: Bearer {key}`. Errors are `{"error": "..."}` with a 4xx status, and a refused
//! request changes nothing.

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use livechat_contract::api::{
    ConversationState, DeliveryState, EndAnswer, EndRequest, MessagesQuery, RateAnswer,
    RateRequest, ReceiveAnswer, ReceiveRequest, Role, SendAnswer, SendRequest, StartAnswer,
    StartRequest, MAX_COMMENT_CHARS, RATINGS,
};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::hours::{BusinessHours, Opening};
use crate::store::{
    AddMessageError, ConversationId, EndingParty, NewConversation, ReplyAuthor, Started, Store,
};
use service_support::clock::Clock;

/// The session API's key and limits, and how it assigns a start.
pub struct SessionApi {
    /// The key every call must carry; while a rotation is under way, the previous one too.
    pub keys: Vec<SecretString>,
    pub max_body_bytes: usize,
    pub max_message_chars: usize,
    /// `routing.assignment = "auto"`: a start goes to the online agent with the most room.
    pub auto_assign: bool,
    /// When the centre is open.
    pub hours: BusinessHours,
    /// The clock the hours are read by (tests stop it).
    pub clock: Clock,
}

impl SessionApi {
    /// 403 for a request a web browser made (the API's callers are servers, and a page elsewhere
    /// must not post a form or a bodiless `no-cors` fetch here), then 401 without the key.
    pub(crate) fn authorize(&self, request: &HttpRequest) -> Result<(), ApiError> {
        let headers = request.headers();
        let cross_site = headers.contains_key(actix_web::http::header::ORIGIN)
            || headers
                .get("Sec-Fetch-Site")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|site| site != "none");
        if cross_site {
            return Err(ApiError::Forbidden(
                "the session API is for the skill, not for web pages".into(),
            ));
        }
        if self.keys.is_empty() {
            return Ok(());
        }
        let presented = request
            .headers()
            .get("Authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .unwrap_or_default();
        // Compared as digests, so neither the time taken nor an early exit tells a key's length.
        let presented = Sha256::digest(presented.trim().as_bytes());
        let mut matched = subtle::Choice::from(0);
        for key in &self.keys {
            matched |= presented.ct_eq(&Sha256::digest(key.expose_secret().as_bytes()));
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized(
                "this API needs the live chat's API key as a bearer token".into(),
            ))
        }
    }

    /// The body; 415 unless it is declared JSON or empty without a type (a form posts an empty
    /// text/plain one).
    async fn read_body(
        &self,
        request: &HttpRequest,
        mut payload: web::Payload,
    ) -> Result<web::Bytes, ApiError> {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|error| {
                if crate::deadline::is_late(&error) {
                    ApiError::RequestTimeout("the body did not arrive in time".into())
                } else {
                    ApiError::BadRequest(format!("the body could not be read: {error}"))
                }
            })?;
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(ApiError::PayloadTooLarge(format!(
                    "the body is larger than {} bytes",
                    self.max_body_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let content_type = request
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        // An empty body may come without a type (the original sample starts a chat that way), but
        // never with another: a form posts an empty text/plain body.
        let declared_other =
            content_type.is_some() && !livechat_contract::is_json_media_type(content_type);
        if declared_other || (!body.is_empty() && content_type.is_none()) {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON, sent with Content-Type: application/json".into(),
            ));
        }
        Ok(body.freeze())
    }

    /// Authorizes, reads and parses a JSON body.
    async fn json<T: DeserializeOwned>(
        &self,
        request: &HttpRequest,
        payload: web::Payload,
    ) -> Result<T, ApiError> {
        self.authorize(request)?;
        let body = self.read_body(request, payload).await?;
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::BadRequest(format!(
                "the body is not valid JSON for this endpoint: {error}"
            ))
        })
    }

    fn message_text(&self, message: String) -> Result<String, ApiError> {
        if message.trim().is_empty() {
            return Err(ApiError::BadRequest("message must not be empty".into()));
        }
        if message.chars().count() > self.max_message_chars {
            return Err(ApiError::BadRequest(format!(
                "message is longer than {} characters",
                self.max_message_chars
            )));
        }
        Ok(message)
    }
}

/// The body's `conversationId`; 400 when blank or missing.
fn conversation_id(value: &str) -> Result<ConversationId, ApiError> {
    ConversationId::parse(value)
        .ok_or_else(|| ApiError::BadRequest("conversationId is required".into()))
}

fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An entry the store would not add, as the session API answers it.
pub(crate) fn add_error(error: AddMessageError) -> ApiError {
    match error {
        AddMessageError::NotFound(_) => ApiError::NotFound(error.to_string()),
        AddMessageError::Ended(_) => {
            ApiError::Conflict(format!("{error}; nothing more can be sent to it"))
        }
        AddMessageError::NotYours(_) => ApiError::Conflict(error.to_string()),
        AddMessageError::StorageFull => ApiError::InsufficientStorage(error.to_string()),
        AddMessageError::Store(error) => ApiError::Unexpected(error),
    }
}

/// `POST /api/chat/start`: the body (the handoff context) is optional, as the original sends none.
pub async fn start(
    request: HttpRequest,
    payload: web::Payload,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    api.authorize(&request)?;
    let body = api.read_body(&request, payload).await?;
    let context: StartRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StartRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::BadRequest(format!("the body is not a valid handoff context: {error}"))
        })?
    };
    let idempotency_key =
        livechat_contract::api::caller_key(context.idempotency_key.as_deref(), "idempotencyKey")
            .map_err(ApiError::BadRequest)?;
    let started = store
        .start_conversation(
            NewConversation {
                customer_name: optional(context.customer_name),
                customer_id: optional(context.customer_id),
                channel: optional(context.channel),
                tenant_id: optional(context.tenant_id),
                bot_conversation_id: optional(context.bot_conversation_id),
                problem_description: optional(context.problem_description),
                idempotency_key,
            },
            api.auto_assign,
        )
        .await?;
    let Started {
        conversation,
        place,
    } = started.value;
    let summary = conversation.summary;
    if started.created {
        tracing::info!(conversation_id = %summary.id, status = summary.status.as_str(), queue_position = place.map(|place| place.position), "conversation started");
    } else {
        tracing::info!(conversation_id = %summary.id, "repeated start; answering the conversation its key opened");
    }
    Ok(HttpResponse::Ok().json(StartAnswer {
        conversation_id: summary.id,
        status: Some(summary.status),
        queue_position: place.map(|place| place.position),
        estimated_wait_seconds: place.map(|place| place.estimated_wait_seconds),
        agent_name: summary.agent_name,
    }))
}

/// `GET /api/chat/availability`: agents online, the queue's length and the estimated wait of a
/// customer starting now (how it is estimated: [`livechat_contract::api::Availability`]).
pub async fn availability(
    request: HttpRequest,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    api.authorize(&request)?;
    let mut availability = store.availability().await?;
    if let Opening::Closed { next } = api.hours.at(api.clock.now()) {
        availability.open = false;
        availability.next_opening = next.map(|next| next.to_rfc3339());
        availability.time_zone = Some(api.hours.time_zone().to_owned());
    }
    Ok(HttpResponse::Ok().json(availability))
}

/// `POST /api/chat/receive`: a customer (or system) message from the skill.
pub async fn receive(
    request: HttpRequest,
    payload: web::Payload,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let body: ReceiveRequest = api.json(&request, payload).await?;
    let role = body.effective_role();
    if role == Role::Agent {
        return Err(ApiError::BadRequest(
            "role must be customer or system; agents write from the agent pages or /api/chat/send"
                .into(),
        ));
    }
    let conversation_id = conversation_id(&body.conversation_id)?;
    let client_id = livechat_contract::api::caller_key(body.id.as_deref(), "id")
        .map_err(ApiError::BadRequest)?;
    let message = api.message_text(body.message)?;
    let sender = optional(body.sender);
    let added = store
        .add_customer_message(
            &conversation_id,
            role,
            sender.as_deref(),
            &message,
            client_id.as_deref(),
        )
        .await
        .map_err(add_error)?;
    if added.created {
        tracing::debug!(conversation_id = %conversation_id, message_id = %added.value.id, role = role.as_str(), "message received");
    } else {
        tracing::info!(conversation_id = %conversation_id, message_id = %added.value.id, "repeated message id; answering the message stored first");
    }
    Ok(HttpResponse::Ok().json(ReceiveAnswer { id: added.value.id }))
}

/// `GET /api/chat/messages[?conversationId=ID]`: a transcript, or every open conversation's.
pub async fn messages(
    request: HttpRequest,
    query: web::Query<MessagesQuery>,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    api.authorize(&request)?;
    let messages = match query
        .into_inner()
        .conversation_id
        .as_deref()
        .and_then(ConversationId::parse)
    {
        Some(id) => store
            .messages(&id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no conversation has the id '{id}'")))?,
        None => store.open_messages().await?,
    };
    Ok(HttpResponse::Ok().json(messages))
}

/// `POST /api/chat/send`: an agent's reply from a script; stored pending, then delivered to the skill.
pub async fn send(
    request: HttpRequest,
    payload: web::Payload,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let body: SendRequest = api.json(&request, payload).await?;
    let conversation_id = conversation_id(&body.conversation_id)?;
    let message = api.message_text(body.message)?;
    let sender = optional(body.sender).unwrap_or_else(|| "Agent".to_owned());
    let stored = store
        .add_agent_message(
            &conversation_id,
            &sender,
            &message,
            ReplyAuthor::Script,
            Vec::new(),
        )
        .await
        .map_err(add_error)?;
    Ok(HttpResponse::Ok().json(SendAnswer {
        id: stored.id,
        delivery_state: stored.delivery_state.unwrap_or(DeliveryState::Pending),
    }))
}

/// `POST /api/chat/end`: the skill ends the conversation (the customer left). Idempotent.
pub async fn end(
    request: HttpRequest,
    payload: web::Payload,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let body: EndRequest = api.json(&request, payload).await?;
    let conversation_id = conversation_id(&body.conversation_id)?;
    let changed = store
        .end_conversation(&conversation_id, EndingParty::Customer)
        .await
        .map_err(add_error)?;
    if changed {
        tracing::info!(conversation_id = %conversation_id, "conversation ended by the customer");
    }
    Ok(HttpResponse::Ok().json(EndAnswer {
        conversation_id: conversation_id.to_string(),
        state: ConversationState::Ended,
    }))
}

/// `POST /api/chat/rate`: the customer's rating of a conversation, open or ended (1 to 5, with an
/// optional comment); rating again replaces it.
pub async fn rate(
    request: HttpRequest,
    payload: web::Payload,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let body: RateRequest = api.json(&request, payload).await?;
    let conversation_id = conversation_id(&body.conversation_id)?;
    if !RATINGS.contains(&body.rating) {
        return Err(ApiError::BadRequest(format!(
            "rating must be a whole number from {} to {}",
            RATINGS.start(),
            RATINGS.end()
        )));
    }
    let comment = body
        .comment
        .map(|comment| comment.trim().to_owned())
        .filter(|comment| !comment.is_empty());
    if comment
        .as_ref()
        .is_some_and(|comment| comment.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(ApiError::BadRequest(format!(
            "comment is longer than {MAX_COMMENT_CHARS} characters"
        )));
    }
    if !store.rate(&conversation_id, body.rating, comment).await? {
        return Err(ApiError::NotFound(format!(
            "no conversation has the id '{conversation_id}'"
        )));
    }
    tracing::info!(conversation_id = %conversation_id, rating = body.rating, "conversation rated");
    Ok(HttpResponse::Ok().json(RateAnswer {
        conversation_id: conversation_id.to_string(),
        rating: body.rating,
    }))
}

/// `GET /api/chat/conversations`: every open conversation and the 100 most recently ended, with
/// their state and handoff context.
pub async fn conversations(
    request: HttpRequest,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    api.authorize(&request)?;
    Ok(HttpResponse::Ok().json(store.list_conversations().await?))
}
