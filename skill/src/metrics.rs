//! Prometheus metrics, served at `GET /metrics` in the text format.
//!
//! Each [`Metrics`] has its own registry, so several apps in one test process do not share counts.
//! Every metric carries the live chat it serves (`hub`), so a dashboard over several deployments
//! tells them apart.
//! The open-session gauge is read from the store at scrape time, so it is right after a restart.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The skill's metrics.
pub struct Metrics {
    registry: Registry,
    /// Sessions in state open (set at scrape time).
    pub sessions_open: IntGauge,
    /// Messages accepted, by direction (`to_agent`, `to_user`).
    pub messages: IntCounterVec,
    /// Delivery attempts by lane and outcome (`delivered`, `retried`, `failed`).
    pub deliveries: IntCounterVec,
    /// Activities received, by type.
    pub activities: IntCounterVec,
    /// The agent's typing indicators, by outcome (`shown`, `no_room`, `failed`, `late`).
    pub typing: IntCounterVec,
    /// HTTP request latency by route, method and status.
    pub request_duration: HistogramVec,
}

impl Metrics {
    /// The metrics of a skill in front of the `hub` (`contoso`, `genesys`), a label on every one.
    pub fn new(hub: &str) -> anyhow::Result<Self> {
        let labels = std::collections::HashMap::from([("hub".to_owned(), hub.to_owned())]);
        let registry = Registry::new_custom(None, Some(labels))?;
        let sessions_open =
            IntGauge::new("handover_sessions_open", "Handover sessions currently open")?;
        let messages = IntCounterVec::new(
            Opts::new(
                "handover_messages_total",
                "Messages accepted for delivery, by direction",
            ),
            &["direction"],
        )?;
        let deliveries = IntCounterVec::new(
            Opts::new(
                "handover_deliveries_total",
                "Delivery attempts, by lane and outcome",
            ),
            &["lane", "outcome"],
        )?;
        let activities = IntCounterVec::new(
            Opts::new("handover_activities_total", "Activities received, by type"),
            &["type"],
        )?;
        let typing = IntCounterVec::new(
            Opts::new(
                "handover_typing_total",
                "The agent's typing indicators, by outcome",
            ),
            &["outcome"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "handover_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(service_support::telemetry::LATENCY_BUCKETS.to_vec()),
            &["route", "method", "status"],
        )?;
        registry.register(Box::new(sessions_open.clone()))?;
        registry.register(Box::new(messages.clone()))?;
        registry.register(Box::new(deliveries.clone()))?;
        registry.register(Box::new(activities.clone()))?;
        registry.register(Box::new(typing.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        Ok(Self {
            registry,
            sessions_open,
            messages,
            deliveries,
            activities,
            typing,
            request_duration,
        })
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> anyhow::Result<String> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8(buffer)?)
    }
}
