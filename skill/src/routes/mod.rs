//! HTTP routes. [`configure`] registers every route, for the server and the tests alike.

mod body;
pub mod health;
pub mod livechat_webhook;
pub mod manifest;
pub mod messages;

use actix_web::{web, HttpResponse};
use serde_json::json;

/// Body size limits of the POST endpoints that read their own bodies.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_activity_bytes: usize,
    pub max_webhook_bytes: usize,
    /// Time a client has to send a body.
    pub body_deadline: std::time::Duration,
}

/// Registers all routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/api/messages").route(web::post().to(messages::receive_activity)))
        .service(
            web::resource("/api/livechat/messages")
                .route(web::post().to(livechat_webhook::receive_event)),
        )
        .service(
            web::resource("/skill-manifest.json").route(web::get().to(manifest::skill_manifest)),
        )
        .service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/metrics").route(web::get().to(health::metrics)))
        .default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .json(json!({ "error": { "code": "NotFound", "message": "no such endpoint" } }))
}
