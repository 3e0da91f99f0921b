//! W3C trace context between the services (the `traceparent` header), and kept with what waits in
//! an outbox, so that one trace runs from a request through the outbox's later send to the other
//! service. Everything here does nothing, and costs a flag's read, unless traces are exported
//! ([`crate::telemetry`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header that carries a span's context to the other service (W3C trace context; the
/// live-chat contract names it too, as `livechat_contract::TRACE_HEADER`).
pub const TRACEPARENT: &str = "traceparent";

static PROPAGATING: AtomicBool = AtomicBool::new(false);

/// Turns propagation on (traces are exported), here and for the libraries that ask OpenTelemetry's
/// global propagator (the live chat's request spans).
pub(crate) fn start_propagating() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    PROPAGATING.store(true, Ordering::Relaxed);
}

/// Whether traces are exported, so contexts are worth carrying.
pub fn is_on() -> bool {
    PROPAGATING.load(Ordering::Relaxed)
}

/// The `traceparent` of `span`, when traces are exported and it is part of one.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    if !is_on() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The `traceparent` of the current span.
pub fn current() -> Option<String> {
    if !is_on() {
        return None;
    }
    traceparent_of(&tracing::Span::current())
}

/// Makes `span` a child of the span `traceparent` names (another service's, or the request that
/// stored what is now being sent). A malformed value is ignored.
pub fn adopt(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent.filter(|_| is_on()) else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(parent);
}

/// [`adopt`] with the `traceparent` of a request's headers.
pub fn adopt_from(span: &tracing::Span, headers: &actix_web::http::header::HeaderMap) {
    if !is_on() {
        return;
    }
    let traceparent = headers
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok());
    adopt(span, traceparent);
}

/// The header that carries the current span's context, to add to an outgoing request.
pub fn header() -> Option<(&'static str, String)> {
    current().map(|traceparent| (TRACEPARENT, traceparent))
}
