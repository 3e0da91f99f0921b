//! HTTP routes: the session API (`api`), the agent pages (`pages`), the live event stream
//! (`events`), files (`files`) and an agent's reply with one (`compose`), private notes and
//! whispers (`notes`), a supervisor's take over, reassignment and force-close (`supervisor`), a
//! wrap-up (`wrap_up`), the supervisor's dashboard (`dashboard`), a transcript downloaded
//! (`transcripts`), a customer's data exported or erased (`privacy`), health, metrics, and static
//! assets. [`configure`] registers them for the server and tests.

pub mod api;
pub mod compose;
pub mod dashboard;
pub mod events;
pub mod files;
pub mod notes;
pub mod pages;
pub mod privacy;
pub mod supervisor;
pub mod transcripts;
pub mod wrap_up;

use actix_web::{web, HttpResponse};
use livechat_contract::api::{
    AVAILABILITY_PATH, CONVERSATIONS_PATH, END_PATH, MESSAGES_PATH, RATE_PATH, RECEIVE_PATH,
    SEND_PATH, START_PATH,
};
use livechat_contract::files::{ATTACHMENTS_PATH, FILES_PATH};
use serde_json::json;

/// Registers all routes, with the static files from `static_dir`.
pub fn configure(config: &mut web::ServiceConfig, static_dir: &std::path::Path) {
    config
        .service(web::resource(START_PATH).route(web::post().to(api::start)))
        .service(web::resource(RECEIVE_PATH).route(web::post().to(api::receive)))
        .service(web::resource(MESSAGES_PATH).route(web::get().to(api::messages)))
        .service(web::resource(CONVERSATIONS_PATH).route(web::get().to(api::conversations)))
        .service(web::resource(SEND_PATH).route(web::post().to(api::send)))
        .service(web::resource(END_PATH).route(web::post().to(api::end)))
        .service(web::resource(RATE_PATH).route(web::post().to(api::rate)))
        .service(web::resource(AVAILABILITY_PATH).route(web::get().to(api::availability)))
        .service(web::resource(ATTACHMENTS_PATH).route(web::post().to(files::upload)))
        .service(
            web::resource(format!("{FILES_PATH}/{{id}}")).route(web::get().to(files::download)),
        )
        .service(
            web::resource(format!("{}/{{customer}}", privacy::CUSTOMERS_PATH))
                .route(web::get().to(privacy::export))
                .route(web::delete().to(privacy::erase)),
        )
        .service(web::resource("/agent/files/{id}").route(web::get().to(files::agent_download)))
        .service(web::resource("/").route(web::get().to(pages::home)))
        .service(
            web::resource("/signin")
                .route(web::get().to(pages::sign_in_page))
                .route(web::post().to(pages::sign_in)),
        )
        .service(web::resource("/signout").route(web::post().to(pages::sign_out)))
        .service(web::resource("/agent").route(web::get().to(pages::inbox)))
        .service(web::resource("/agent/events").route(web::get().to(events::stream)))
        .service(
            web::resource("/agent/conversations/{id}").route(web::get().to(pages::conversation)),
        )
        .service(
            web::resource("/agent/conversations/{id}/messages").route(web::post().to(pages::reply)),
        )
        .service(
            web::resource("/agent/conversations/{id}/wrap-up")
                .route(web::post().to(wrap_up::wrap_up)),
        )
        .service(
            web::resource("/agent/conversations/{id}/notes").route(web::post().to(notes::note)),
        )
        .service(
            web::resource("/supervisor/conversations/{id}/whisper")
                .route(web::post().to(notes::whisper)),
        )
        .service(web::resource("/supervisor").route(web::get().to(supervisor::board)))
        .service(web::resource("/supervisor/dashboard").route(web::get().to(dashboard::page)))
        .service(
            web::resource("/supervisor/dashboard.csv").route(web::get().to(dashboard::download)),
        )
        .service(
            web::resource("/supervisor/conversations/{id}/take-over")
                .route(web::post().to(supervisor::take_over)),
        )
        .service(
            web::resource("/supervisor/conversations/{id}/reassign")
                .route(web::post().to(supervisor::reassign)),
        )
        .service(
            web::resource("/supervisor/conversations/{id}/close")
                .route(web::post().to(supervisor::close)),
        )
        .service(
            web::resource("/agent/conversations/{id}/transcript")
                .route(web::get().to(transcripts::download)),
        )
        .service(web::resource("/agent/conversations/{id}/end").route(web::post().to(pages::end)))
        .service(
            web::resource("/agent/conversations/{id}/accept").route(web::post().to(pages::accept)),
        )
        .service(
            web::resource("/agent/conversations/{id}/transfer")
                .route(web::post().to(pages::transfer)),
        )
        .service(
            web::resource("/agent/conversations/{id}/typing").route(web::post().to(pages::typing)),
        )
        .service(web::resource("/agent/presence").route(web::post().to(pages::presence)))
        .service(web::resource("/agent/capacity").route(web::post().to(pages::capacity)))
        .service(
            web::resource("/agent/conversations/{id}/read").route(web::post().to(pages::mark_read)),
        )
        .service(web::resource("/agent/messages/{id}/retry").route(web::post().to(pages::retry)))
        .service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)))
        .service(web::resource("/metrics").route(web::get().to(metrics)))
        .service(
            web::resource(livechat_contract::openapi::OPENAPI_PATH).route(web::get().to(openapi)),
        )
        .service(actix_files::Files::new("/static", static_dir));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /api/openapi.json`: the live-chat contract this service implements, as OpenAPI 3.1 (open
/// to anyone who reaches the service: it holds no data, and integrators read it).
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(livechat_contract::openapi::document())
}

/// `GET /metrics`: Prometheus' text format; the queue and the agents online read now.
async fn metrics(
    store: web::Data<crate::store::Store>,
    metrics: web::Data<crate::metrics::Metrics>,
) -> HttpResponse {
    match store.availability().await {
        Ok(availability) => {
            metrics
                .queue_length
                .set(i64::from(availability.queue_length));
            metrics
                .agents_online
                .set(i64::from(availability.agents_online));
        }
        Err(error) => {
            tracing::warn!(error.cause_chain = ?error, "cannot read the queue for the metrics")
        }
    }
    match metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "cannot render the metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn readyz(store: web::Data<crate::store::Store>) -> HttpResponse {
    match store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable" }))
        }
    }
}
