//! Request bodies must arrive within a deadline (`application.request_deadline_ms`): a client
//! that trickles one would hold a worker's memory and a connection for as long as it likes. The
//! headers have the same limit (the server's `client_request_timeout`).

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use futures_util::StreamExt;

/// How long a request's body may take, from the moment its headers are read.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

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
        .map_or(Duration::from_secs(10), |deadline| deadline.0);
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
    request.set_payload(Payload::Stream {
        payload: Box::pin(timed),
    });
    next.call(request).await
}
