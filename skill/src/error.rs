//! The crate's one HTTP error type.
//!
//! An [`ApiError`] says which status answers the request and why; the body is the caller's shape:
//! the Bot Framework's `ErrorResponse` (`protocol/` writes it) for the skill endpoint and everything
//! else operators and Copilot Studio call, the live-chat contract's error answer (`livechat/` writes
//! it) for the webhook. 4xx bodies say what was wrong with the request; 5xx bodies are generic and
//! the cause chain goes to the log, once, here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// An error answered to an HTTP caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request itself is wrong (malformed JSON, a missing field, a bad URL).
    #[error("{0}")]
    BadRequest(String),
    /// Missing, invalid or unacceptable credentials. The reason is answered (it never holds the
    /// token itself) and logged.
    #[error("{0}")]
    Unauthorized(String),
    /// The thing named by the request does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The thing named by the request existed but is over (an ended live-chat session).
    #[error("{0}")]
    Gone(String),
    /// The body is larger than the documented limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The client did not send its request in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// The body is not declared as JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too much background work is under way; the caller should try again shortly.
    #[error("{0}")]
    Busy(String),
    /// A webhook signed at a time outside the replay window (503, marked with the contract's
    /// refusal header, so the live chat retries for a while instead of failing the message).
    #[error("{reason}")]
    StaleSignature {
        reason: String,
        /// The header that tells this refusal apart, in the live chat's own terms.
        marker: (&'static str, &'static str),
    },
    /// An event for a conversation the skill is still opening (503 with `Retry-After`).
    #[error("{0}")]
    NotYet(String),
    /// The activity type is one this skill does not implement (`invoke`).
    #[error("{0}")]
    NotImplemented(String),
    /// Anything else; never shown to the caller.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<crate::livechat::WebhookError> for ApiError {
    fn from(error: crate::livechat::WebhookError) -> Self {
        use crate::livechat::WebhookError;
        match error {
            WebhookError::Unauthorized(reason) => ApiError::Unauthorized(reason),
            WebhookError::BadRequest(reason) => ApiError::BadRequest(reason),
            WebhookError::StaleTimestamp { reason, marker } => {
                ApiError::StaleSignature { reason, marker }
            }
        }
    }
}

impl From<crate::handover::HandoverError> for ApiError {
    fn from(error: crate::handover::HandoverError) -> Self {
        use crate::handover::HandoverError;
        match error {
            HandoverError::UnknownConversation(_) => ApiError::NotFound(error.to_string()),
            HandoverError::NotYetKnown(_) => ApiError::NotYet(error.to_string()),
            HandoverError::ConversationEnded(_) => ApiError::Gone(error.to_string()),
            HandoverError::Store(error) => ApiError::Unexpected(error),
        }
    }
}

impl From<crate::protocol::TurnError> for ApiError {
    fn from(error: crate::protocol::TurnError) -> Self {
        use crate::protocol::TurnError;
        match error {
            TurnError::Unauthorized(reason) => ApiError::Unauthorized(reason),
            TurnError::BadRequest(reason) => ApiError::BadRequest(reason),
            TurnError::NotImplemented(reason) => ApiError::NotImplemented(reason),
            TurnError::Busy(reason) => ApiError::Busy(reason),
            TurnError::Failed(error) => ApiError::Unexpected(error),
        }
    }
}

impl ApiError {
    /// What the caller is told, logged as it is decided: the reason of a 4xx, a generic sentence
    /// for a 5xx (whose cause chain goes to the log).
    fn told(&self) -> String {
        match self {
            ApiError::Unexpected(error) => {
                tracing::error!(error.cause_chain = ?error, "request failed");
                "the skill could not handle the request; see its log".to_owned()
            }
            ApiError::Unauthorized(reason) => {
                tracing::warn!(reason = %reason, "request rejected: unauthorized");
                reason.clone()
            }
            other => {
                tracing::info!(status = %self.status_code(), reason = %other, "request rejected");
                other.to_string()
            }
        }
    }

    /// The answer, with the body `shape` makes of the status and what the caller is told.
    pub fn response_shaped(
        &self,
        shape: impl FnOnce(StatusCode, &str) -> serde_json::Value,
    ) -> HttpResponse {
        let told = self.told();
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::Busy(_) | ApiError::NotYet(_) => {
                response.insert_header(("Retry-After", "1"));
            }
            ApiError::StaleSignature { marker, .. } => {
                response.insert_header(*marker);
                response.insert_header(("Retry-After", "30"));
            }
            _ => {}
        }
        response.json(shape(self.status_code(), &told))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Busy(_) | ApiError::StaleSignature { .. } | ApiError::NotYet(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The Bot Framework's `ErrorResponse`: every endpoint but the webhook answers in it.
    fn error_response(&self) -> HttpResponse {
        self.response_shaped(crate::protocol::errors::error_body)
    }
}
