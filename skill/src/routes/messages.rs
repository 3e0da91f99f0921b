//! `POST /api/messages`: the skill endpoint Copilot Studio calls. Read the body, authenticate,
//! answer; the turn itself is [`SkillEndpoint`]'s.

use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{read_json_body, RequestLimits};
use crate::error::ApiError;
use crate::protocol::{SkillEndpoint, TurnAnswer};

pub async fn receive_activity(
    request: HttpRequest,
    payload: web::Payload,
    skill: web::Data<SkillEndpoint>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let body = read_json_body(&request, payload, &limits, limits.max_activity_bytes).await?;
    let authorization = request
        .headers()
        .get("Authorization")
        .and_then(|value| value.to_str().ok());
    let turn = skill.authenticate(authorization, &body).await?;
    Ok(match skill.answer(turn).await? {
        TurnAnswer::Accepted => HttpResponse::Accepted().finish(),
        TurnAnswer::Replies(body) => HttpResponse::Ok().json(body),
    })
}
