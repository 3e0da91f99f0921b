//! `POST /api/messages`: the skill endpoint Copilot Studio calls.
//!
//! Authentication and the activity's shape are checked at once (401 / 400). Then:
//! `deliveryMode: expectReplies` is handled inline and answered 200 with the replies; `invoke` is
//! answered 501, as from the SDKs; everything else is answered 202 with an empty body. Messages and
//! ends are stored before the 202; opening a live-chat session (a call that can take seconds) runs
//! after it, and its `endOfConversation` is sent back to the caller's `serviceUrl`.

use actix_web::{web, HttpRequest, HttpResponse};
use tracing::Instrument;
use url::Url;

use super::body::read_limited;
use crate::error::ApiError;
use crate::handover::{Handover, ReplySender};
use crate::protocol::activity::{types, ExpectedReplies};
use crate::protocol::{Activity, InboundAuth};
use crate::startup::{Background, RequestLimits};

#[allow(clippy::too_many_arguments)]
pub async fn receive_activity(
    request: HttpRequest,
    payload: web::Payload,
    auth: web::Data<InboundAuth>,
    handover: web::Data<Handover>,
    replies: web::Data<ReplySender>,
    background: web::Data<Background>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let authorization = request
        .headers()
        .get("Authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if authorization.is_none() && matches!(auth.get_ref(), InboundAuth::Validated(_)) {
        return Err(ApiError::Unauthorized(
            "the request has no Authorization header".into(),
        ));
    }
    let body = read_limited(payload, limits.max_activity_bytes).await?;
    let activity: Activity = serde_json::from_slice(&body).map_err(|error| {
        ApiError::BadRequest(format!("the body is not a JSON activity: {error}"))
    })?;
    let service_url = activity.service_url.clone().unwrap_or_default();
    let caller = auth
        .authenticate(
            authorization.as_deref(),
            activity.channel_id.as_deref().unwrap_or_default(),
            &service_url,
        )
        .await
        .map_err(ApiError::Unauthorized)?;
    activity.check_shape().map_err(ApiError::BadRequest)?;
    if activity.kind() == types::INVOKE {
        return Err(ApiError::NotImplemented(
            "the handover skill does not implement invoke activities".into(),
        ));
    }
    let parsed_url = Url::parse(&service_url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"));
    if parsed_url.is_none() {
        return Err(ApiError::BadRequest(
            "the activity's serviceUrl must be an absolute http(s) URL".into(),
        ));
    }
    if !activity.expects_replies() && !replies.can_reply(&service_url, &caller) {
        let reason = if caller.anonymous {
            "in anonymous local mode the skill only answers loopback serviceUrls; set SKILL_APP_ID to serve Copilot Studio"
        } else {
            "the serviceUrl's host is not trusted to receive the skill's tokens; add it to SKILL_TRUSTED_HOSTS if it is yours"
        };
        return Err(ApiError::BadRequest(reason.into()));
    }

    let span = tracing::info_span!(
        "activity",
        activity_type = activity.kind(),
        name = activity.name.as_deref().unwrap_or(""),
        conversation_id = activity.conversation_id(),
        activity_id = activity.id.as_deref().unwrap_or(""),
        caller = caller.app_id.as_deref().unwrap_or("anonymous"),
    );

    if activity.expects_replies() {
        let activities = handover.handle_activity(&activity).instrument(span).await?;
        return Ok(HttpResponse::Ok().json(ExpectedReplies { activities }));
    }

    if Handover::is_slow(&activity) {
        let (handover, replies) = (handover.into_inner(), replies.into_inner());
        background.spawn(
            async move {
                match handover.handle_activity(&activity).await {
                    Ok(answers) => {
                        replies.send(&activity, &caller, &answers).await;
                    }
                    Err(error) => {
                        tracing::error!(error.cause_chain = ?error, "cannot handle the activity")
                    }
                }
            }
            .instrument(span),
        );
        return Ok(HttpResponse::Accepted().finish());
    }

    let answers = handover
        .handle_activity(&activity)
        .instrument(span.clone())
        .await?;
    if !answers.is_empty() {
        let replies = replies.into_inner();
        background.spawn(
            async move {
                replies.send(&activity, &caller, &answers).await;
            }
            .instrument(span),
        );
    }
    Ok(HttpResponse::Accepted().finish())
}
