//! `GET /skill-manifest.json`: unauthenticated, as Copilot Studio fetches it without a token.

use actix_web::{web, HttpResponse};

/// The manifest, generated once at start-up from the settings.
pub struct SkillManifest(pub serde_json::Value);

pub async fn skill_manifest(manifest: web::Data<SkillManifest>) -> HttpResponse {
    HttpResponse::Ok().json(&manifest.0)
}
