//! The skill's request spans (the subscriber is `service_support::telemetry`'s, as the live
//! chat's).
//!
//! Message text and tokens are never logged at info level or above; ids, counts and status codes are.

use std::sync::atomic::{AtomicU64, Ordering};

/// The span of one HTTP request: method, route, a request number (for finding one request's lines)
/// and, once answered, the status. At debug level: every message makes one, and at info the
/// handlers' own spans (the conversation's id) and the metrics say what matters.
pub fn request_span(method: &actix_web::http::Method, route: &str) -> tracing::Span {
    static REQUESTS: AtomicU64 = AtomicU64::new(0);
    let request = REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::debug_span!(
        "request",
        method = %method,
        route,
        request,
        status = tracing::field::Empty
    )
}
