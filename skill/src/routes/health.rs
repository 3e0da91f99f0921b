//! `GET /healthz` (the process answers), `GET /readyz` (the store answers), `GET /metrics`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::store::Store;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(store: web::Data<Store>) -> HttpResponse {
    match store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "readiness check failed: the store does not answer");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "reason": "the store does not answer" }))
        }
    }
}

pub async fn metrics(
    metrics: web::Data<Metrics>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    match store.count_open_sessions().await {
        Ok(open) => metrics.sessions_open.set(open),
        Err(error) => tracing::warn!(error.cause_chain = ?error, "cannot count open sessions"),
    }
    let text = metrics.render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
