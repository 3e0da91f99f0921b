//! Prometheus metrics, served at `GET /metrics` in the text format, as the skill's are: requests
//! by route, the queue and the agents online (read from the store at scrape time, so they are right
//! after a restart), and webhook deliveries by outcome.
//!
//! Each [`Metrics`] has its own registry, so several apps in one test process do not share counts.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The live chat's metrics.
pub struct Metrics {
    registry: Registry,
    /// Conversations waiting in the queue (set at scrape time).
    pub queue_length: IntGauge,
    /// Agents online (set at scrape time).
    pub agents_online: IntGauge,
    /// Webhook attempts by kind (`event`, `typing`) and outcome (`delivered`, `retried`,
    /// `failed`, `dropped`).
    pub webhook_deliveries: IntCounterVec,
    /// HTTP request latency by route, method and status.
    pub request_duration: HistogramVec,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let queue_length = IntGauge::new(
            "livechat_queue_length",
            "Conversations waiting in the queue for an agent",
        )?;
        let agents_online = IntGauge::new("livechat_agents_online", "Agents online")?;
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "livechat_webhook_deliveries_total",
                "Webhook attempts to the skill, by kind and outcome",
            ),
            &["kind", "outcome"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "livechat_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(service_support::telemetry::LATENCY_BUCKETS.to_vec()),
            &["route", "method", "status"],
        )?;
        registry.register(Box::new(queue_length.clone()))?;
        registry.register(Box::new(agents_online.clone()))?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        Ok(Self {
            registry,
            queue_length,
            agents_online,
            webhook_deliveries,
            request_duration,
        })
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> anyhow::Result<String> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8(buffer)?)
    }

    /// Counts a webhook attempt.
    pub fn webhook(&self, kind: &str, outcome: &str) {
        self.webhook_deliveries
            .with_label_values(&[kind, outcome])
            .inc();
    }
}

/// The middleware (`actix_web::middleware::from_fn`): times every request by its route pattern
/// (`unmatched` for none, so a caller cannot grow the label set with paths).
pub async fn time_requests(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = service_support::telemetry::method_label(request.method().as_str());
    let metrics = request.app_data::<actix_web::web::Data<Metrics>>().cloned();
    let response = next.call(request).await?;
    if let Some(metrics) = metrics {
        metrics
            .request_duration
            .with_label_values(&[&route, method, response.status().as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}
