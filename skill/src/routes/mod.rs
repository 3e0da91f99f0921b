//! HTTP routes. [`configure`] registers every route, for the server and the tests alike.

pub mod body;
pub mod files;
pub mod health;
pub mod livechat_webhook;
pub mod manifest;
pub mod messages;

pub use body::RequestLimits;

use actix_web::{web, HttpResponse, ResponseError};
use livechat_contract::webhook::WEBHOOK_PATH;

use crate::error::ApiError;
use crate::protocol::cards::FILE_LINK_PATH;
use crate::protocol::manifest::SKILL_ENDPOINT_PATH;

/// Registers all routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource(SKILL_ENDPOINT_PATH).route(web::post().to(messages::receive_activity)),
        )
        .service(web::resource(WEBHOOK_PATH).route(web::post().to(livechat_webhook::receive_event)))
        .service(
            web::resource("/skill-manifest.json").route(web::get().to(manifest::skill_manifest)),
        )
        .service(
            web::resource(format!("{FILE_LINK_PATH}/{{token}}"))
                .route(web::get().to(files::download))
                .route(web::head().to(files::download)),
        )
        .service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/metrics").route(web::get().to(health::metrics)))
        .default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    ApiError::NotFound("no such endpoint".into()).error_response()
}
