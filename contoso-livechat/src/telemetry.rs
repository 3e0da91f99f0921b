//! The live chat's request spans (the subscriber is `service_support::telemetry`'s, as the skill's).
//! Message text, passwords and keys are never logged.

/// Request spans as `tracing-actix-web` makes them, at debug level (a span of a dozen fields per
/// request at info cost a tenth of the live chat's CPU under load; failures are logged where they
/// are decided, with what matters), and a 4xx answer (a refused token, a signed-out visitor) is
/// not marked an error: those are expected.
pub struct RequestSpans;

impl tracing_actix_web::RootSpanBuilder for RequestSpans {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        tracing_actix_web::root_span!(level = tracing::Level::DEBUG, request)
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        match outcome {
            Ok(response) if !response.status().is_server_error() => {
                span.record("http.status_code", response.status().as_u16());
                span.record("otel.status_code", "OK");
            }
            _ => tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome),
        }
    }
}
