//! `POST /api/livechat/messages`: the live chat reports an agent's message or the end of a chat.
//!
//! Answered 200 only once the message is stored; a repeat of an accepted message id is answered
//! 200 with `"status": "duplicate"` and sent nothing more. 404 for an unknown conversation, 410 for
//! an ended one (nothing the agent writes after the end reaches Teams).

use actix_web::{web, HttpRequest, HttpResponse};
use tracing::Instrument;

use super::body::{read_json_body, RequestLimits};
use crate::domain::WebhookOutcome;
use crate::error::ApiError;
use crate::handover::Handover;
use crate::livechat::{WebhookReader, WebhookRequest};

/// Answers in the live chat's own shapes: its answer, or its error body.
pub async fn receive_event(
    request: HttpRequest,
    payload: web::Payload,
    livechat: web::Data<dyn WebhookReader>,
    handover: web::Data<Handover>,
    limits: web::Data<RequestLimits>,
) -> HttpResponse {
    match receive(&request, payload, livechat.as_ref(), &handover, &limits).await {
        Ok(answer) => answer,
        Err(error) => error.response_shaped(|_, told| livechat.webhook_refusal(told)),
    }
}

async fn receive(
    request: &HttpRequest,
    payload: web::Payload,
    livechat: &dyn WebhookReader,
    handover: &Handover,
    limits: &RequestLimits,
) -> Result<HttpResponse, ApiError> {
    let body = read_json_body(request, payload, limits, limits.max_webhook_bytes).await?;
    let Some(event) = livechat.parse_webhook(&WebhookRequest {
        headers: request.headers(),
        body: &body,
    })?
    else {
        return Ok(HttpResponse::Ok().json(livechat.webhook_answer(WebhookOutcome::Dropped)));
    };
    let span = tracing::info_span!("webhook", livechat_conversation_id = %event.conversation());
    let outcome = handover.handle_event(event).instrument(span).await?;
    Ok(HttpResponse::Ok().json(livechat.webhook_answer(outcome)))
}
