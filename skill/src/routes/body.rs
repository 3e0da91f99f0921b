//! Reads a JSON request body up to a documented limit: 415 unless it is declared JSON, 413 beyond
//! the limit.

use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use crate::error::ApiError;

/// Body size limits of the POST endpoints that read their own bodies.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_activity_bytes: usize,
    pub max_webhook_bytes: usize,
    /// Time a client has to send a body.
    pub body_deadline: std::time::Duration,
}

/// The whole body, [`ApiError::UnsupportedMediaType`] unless its `Content-Type` is JSON, or
/// [`ApiError::PayloadTooLarge`] once it passes `limit` bytes.
pub async fn read_json_body(
    request: &HttpRequest,
    payload: web::Payload,
    limits: &RequestLimits,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    // A client that trickles its body is cut off: it would hold a worker's memory and a slot.
    tokio::time::timeout(limits.body_deadline, read_json(request, payload, limit))
        .await
        .map_err(|_| ApiError::RequestTimeout("the body did not arrive in time".into()))?
}

async fn read_json(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let content_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    if !livechat_contract::is_json_media_type(content_type) {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON, sent with Content-Type: application/json".into(),
        ));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::BadRequest(format!("the body could not be read: {error}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "the body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
