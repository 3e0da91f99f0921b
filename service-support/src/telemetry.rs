//! Structured logs with `tracing`: `RUST_LOG` overrides the service's default filter, and
//! `LOG_FORMAT=json` switches to JSON lines (with the current span) for log shippers.
//!
//! Traces, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (off otherwise): the same spans exported over
//! OTLP/HTTP (`OTEL_EXPORTER_OTLP_PROTOCOL` `http/protobuf`, the default, or `http/json`), named
//! by `OTEL_SERVICE_NAME` (else the service's own name), with W3C trace context propagated
//! ([`crate::trace_context`]). Their own filter is `OTEL_TRACES_FILTER` (default: the services'
//! spans down to debug, where the per-request ones are, and the libraries' at info).
//!
//! Message text, passwords, keys and tokens are never logged at info level or above; ids, counts
//! and status codes are.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// The spans traces carry unless `OTEL_TRACES_FILTER` says otherwise.
const DEFAULT_TRACES_FILTER: &str = "info,skill=debug,contoso_livechat=debug,service_support=debug,tracing_actix_web=debug,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,opentelemetry_http=off";

/// What [`init`] set up; [`Telemetry::shutdown`] sends the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter (at the end of `main`), on a thread of its
    /// own: the exporter's HTTP client blocks, which an async runtime's thread must not.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            let stopped = std::thread::spawn(move || provider.shutdown()).join();
            if !matches!(stopped, Ok(Ok(()))) {
                tracing::warn!("cannot send the last traces");
            }
        }
    }
}

/// Installs the global subscriber; call once, at start-up. `service` names the traces when
/// `OTEL_SERVICE_NAME` does not.
pub fn init(default_filter: &str, service: &str) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> =
        if std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json")) {
            Box::new(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_filter(filter),
            )
        } else {
            Box::new(
                fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_filter(filter),
            )
        };
    // Built on a thread of its own: the exporter's blocking HTTP client must not be made on an
    // async runtime's thread.
    let name = service.to_owned();
    let provider = std::thread::spawn(move || traces_provider(&name))
        .join()
        .map_err(|_| anyhow::anyhow!("the OTLP exporter's set-up panicked"))??;
    let traces = provider.as_ref().map(|provider| {
        let filter = std::env::var("OTEL_TRACES_FILTER")
            .ok()
            .filter(|value| !value.trim().is_empty())
            .map_or_else(|| EnvFilter::new(DEFAULT_TRACES_FILTER), EnvFilter::new);
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service.to_owned()))
            .with_filter(filter)
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()?;
    if provider.is_some() {
        crate::trace_context::start_propagating();
        tracing::info!(service = %service_name(service), "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

/// `OTEL_SERVICE_NAME`, else `service`.
fn service_name(service: &str) -> String {
    std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| service.to_owned())
}

/// The exporter and its provider, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces' own
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
fn traces_provider(service: &str) -> anyhow::Result<Option<SdkTracerProvider>> {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Ok("http/json") => Protocol::HttpJson,
        Ok("http/protobuf") | Err(_) => Protocol::HttpBinary,
        Ok(other) => anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL: '{other}' is not supported; use http/protobuf (the default) or http/json"
        ),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .map_err(|error| anyhow::anyhow!("cannot build the OTLP exporter: {error}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name(service))
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

/// The buckets of both services' request-latency histograms, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A request's method as a metrics label: known methods only, so a caller cannot grow a service's
/// `/metrics` without bound.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "other",
    }
}
