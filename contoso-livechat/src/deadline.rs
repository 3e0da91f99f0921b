//! Request bodies must arrive within a deadline (`application.request_deadline_ms`): a client
//! that trickles one would hold a worker's memory and a connection for as long as it likes. The
//! headers have the same limit (the server's `client_request_timeout`). A file's body (the skill's
//! upload, an agent's reply with a file: `multipart/form-data`) has `files.upload_deadline_ms`.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use futures_util::StreamExt;

/// How long a request's body may take, from the moment its headers are read: any body, and a
/// file's.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    pub body: Duration,
    pub upload: Duration,
}

impl BodyDeadline {
    /// The deadline of `request`'s body: a file's, or any other's.
    fn of(&self, request: &ServiceRequest) -> Duration {
        if is_multipart(request.headers())
            || request.path() == livechat_contract::files::ATTACHMENTS_PATH
        {
            self.upload
        } else {
            self.body
        }
    }
}

/// True for a `multipart/form-data` body: a form that may carry a file.
pub fn is_multipart(headers: &actix_web::http::header::HeaderMap) -> bool {
    headers
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// True for the error a late body ends with.
pub fn is_late(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// Wraps the request's body so that reading it fails once the deadline has passed.
pub async fn limit_body(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = request
        .app_data::<actix_web::web::Data<BodyDeadline>>()
        .map_or(Duration::from_secs(10), |deadline| deadline.of(&request));
    let deadline = tokio::time::Instant::now() + limit;
    let body = request.take_payload();
    let timed = futures_util::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(body))),
            Ok(None) => None,
            Err(_) => Some((
                Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the body did not arrive in time",
                ))),
                None,
            )),
        }
    });
    // Fused: a reader that polls again after the end (multipart does) gets the end again.
    request.set_payload(Payload::Stream {
        payload: Box::pin(timed.fuse()),
    });
    next.call(request).await
}
