//! `POST /api/livechat/messages`: the live chat reports an agent's message or the end of a chat.
//!
//! Answered 200 only once the message is stored; a repeat of an accepted message id is answered
//! 200 with `"status": "duplicate"` and sent nothing more. 404 for an unknown conversation, 410 for
//! an ended one (nothing the agent writes after the end reaches Teams).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use tracing::Instrument;

use super::body::read_limited;
use crate::error::ApiError;
use crate::handover::{Handover, HandoverError, WebhookOutcome};
use crate::livechat::{LiveChat, WebhookError, WebhookEvent, WebhookRequest};
use crate::startup::RequestLimits;

pub async fn receive_event(
    request: HttpRequest,
    payload: web::Payload,
    livechat: web::Data<dyn LiveChat>,
    handover: web::Data<Handover>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(payload, limits.max_webhook_bytes).await?;
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|value| (name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let event = livechat
        .parse_webhook(&WebhookRequest {
            headers,
            body: &body,
        })
        .map_err(|error| match error {
            WebhookError::Unauthorized(reason) => ApiError::Unauthorized(reason),
            WebhookError::BadRequest(reason) => ApiError::BadRequest(reason),
        })?;
    let livechat_conversation_id = match &event {
        WebhookEvent::AgentMessage {
            livechat_conversation_id,
            ..
        }
        | WebhookEvent::ConversationEnded {
            livechat_conversation_id,
            ..
        } => livechat_conversation_id.clone(),
    };
    let span = tracing::info_span!("webhook", livechat_conversation_id = %livechat_conversation_id);
    let outcome = handover
        .handle_webhook(event)
        .instrument(span)
        .await
        .map_err(|error| match error {
            HandoverError::UnknownConversation(_) => ApiError::NotFound(error.to_string()),
            HandoverError::ConversationEnded(_) => ApiError::Gone(error.to_string()),
            HandoverError::Store(error) => ApiError::Unexpected(error),
        })?;
    let status = match outcome {
        WebhookOutcome::Accepted => "accepted",
        WebhookOutcome::Duplicate => "duplicate",
        WebhookOutcome::AlreadyEnded => "alreadyEnded",
    };
    Ok(HttpResponse::Ok().json(json!({ "status": status })))
}
