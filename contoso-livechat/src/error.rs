//! Errors: JSON routes fail with JSON (`{"error": "..."}`), agent pages fail with a page.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use serde_json::json;

/// An error answered by a `/api/*` route.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A request a web browser made to the server-to-server API.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The conversation has ended; nothing more can be sent to it.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body did not arrive within the deadline.
    #[error("{0}")]
    RequestTimeout(String),
    /// A body that is not declared as JSON, or a file of a kind the live chat does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A file retention removed.
    #[error("{0}")]
    Gone(String),
    /// A file the malware scan refused.
    #[error("{0}")]
    Unprocessable(String),
    /// The malware scan could not be made now.
    #[error("{0}")]
    Unavailable(String),
    /// The file storage is full.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Unexpected(error) => {
                tracing::error!(error.cause_chain = ?error, "request failed");
                "the live chat could not handle the request".to_owned()
            }
            other => other.to_string(),
        };
        HttpResponse::build(self.status_code()).json(json!({ "error": message }))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// An error answered by an agent page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("sign in first")]
    SignInRequired,
    #[error("this form has expired; reload the page and try again")]
    Forbidden,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The conversation is someone else's, or was taken first.
    #[error("{0}")]
    Conflict(String),
    /// A supervisor's page or action, asked for by an agent who is not one.
    #[error("{0}")]
    NotAllowed(String),
    /// A file that was not taken (too large, of a refused kind, refused by the scan, the storage
    /// full) or is no longer there, with the status that says so.
    #[error("{message}")]
    File { status: StatusCode, message: String },
    #[error(transparent)]
    Render(#[from] askama::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignInRequired => StatusCode::SEE_OTHER,
            PageError::Forbidden => StatusCode::FORBIDDEN,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::NotAllowed(_) => StatusCode::FORBIDDEN,
            PageError::File { status, .. } => *status,
            PageError::Render(_) | PageError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::SignInRequired = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/signin"))
                .finish();
        }
        let (title, message) = match self {
            PageError::Render(error) => {
                tracing::error!(error = %error, "cannot render a page");
                (
                    "Something went wrong",
                    "The page could not be shown. Try again in a moment.".to_owned(),
                )
            }
            PageError::Unexpected(error) => {
                tracing::error!(error.cause_chain = ?error, "page request failed");
                (
                    "Something went wrong",
                    "The request could not be handled. Try again in a moment.".to_owned(),
                )
            }
            PageError::Forbidden => ("Expired form", self.to_string()),
            other => ("Not possible", other.to_string()),
        };
        let body = ErrorPage {
            title,
            message: &message,
        }
        .render()
        .unwrap_or_else(|_| message.clone());
        HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}
