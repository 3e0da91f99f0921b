//! A database written by the previous release (schema 0001-0002, payloads in its formats) opens
//! with this one and keeps its sessions and pending deliveries: on SQLite and on PostgreSQL.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use sqlx::migrate::Migrator;

use crate::databases::TestDatabase;
use crate::helpers::*;

/// Brings `url` to the previous release's schema with that release's own migration files.
async fn previous_release_schema(url: &str, dialect: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let previous = tempfile::tempdir().unwrap();
    for file in [
        "0001_sessions_and_deliveries.sql",
        "0002_session_origin.sql",
    ] {
        std::fs::copy(source.join(file), previous.path().join(file)).unwrap();
    }
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    Migrator::new(previous.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool
}

/// Writes what the previous release wrote for an open session with an agent reply and a system
/// note still pending (its `json!` payloads, keys in serde_json's sorted order).
async fn previous_release_rows(pool: &sqlx::AnyPool, peers: &Peers) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let user = json!({"id": "29:user-1", "name": "Megan Bowen", "aadObjectId": "aad-user-1"});
    let reference = json!({
        "activityId": "act-1", "user": user, "bot": {"id": SKILL_APP_ID, "role": "skill"},
        "conversation": {"id": "conv-legacy", "tenantId": TENANT_ID}, "channelId": "msteams",
        "serviceUrl": peers.copilot.uri(), "locale": "en-US"
    });
    sqlx::query("INSERT INTO sessions (id, copilot_conversation_id, livechat_conversation_id, state, reference, problem_forwarded, created_at, opened_at) VALUES ('s-legacy', 'conv-legacy', 'lc-legacy', 'open', $1, 1, $2, $2)")
        .bind(reference.to_string())
        .bind(&now)
        .execute(pool)
        .await
        .unwrap();
    let reply = json!({
        "serviceUrl": format!("{}/", peers.teams.uri()),
        "conversationId": "conv-legacy",
        "livechatConversationId": "lc-legacy",
        "activity": {
            "type": "message", "text": "**Ann Agent**: before the upgrade", "textFormat": "markdown",
            "channelId": "msteams", "conversation": {"id": "conv-legacy", "tenantId": TENANT_ID},
            "from": {"id": format!("28:{AGENT_APP_ID}")}, "recipient": user, "locale": "en-US"
        }
    });
    let note = json!({
        "kind": "message", "livechatConversationId": "lc-legacy",
        "message": "Your message could not be delivered to the customer: test.", "sender": "System"
    });
    for (lane, queue, dedupe, payload) in [
        ("teams", "conv-legacy", Some("m-legacy"), reply),
        ("livechat", "lc-legacy", None, note),
    ] {
        sqlx::query("INSERT INTO deliveries (lane, queue_key, dedupe_key, payload, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 0, $5)")
            .bind(lane)
            .bind(queue)
            .bind(dedupe)
            .bind(payload.to_string())
            .bind(&now)
            .execute(pool)
            .await
            .unwrap();
    }
}

/// The upgraded skill delivers what was pending and goes on with the session.
async fn the_upgraded_skill_keeps_the_session_and_its_pending_deliveries(app: TestApp) {
    let sent = wait_for_bodies(&app.peers.teams, &teams_path("conv-legacy"), 1).await;
    assert_eq!(sent[0]["text"], "**Ann Agent**: before the upgrade");
    assert_eq!(sent[0]["textFormat"], "markdown");
    assert_eq!(sent[0]["from"]["id"], format!("28:{AGENT_APP_ID}"));
    assert_eq!(sent[0]["recipient"]["id"], "29:user-1");
    assert_eq!(sent[0]["conversation"]["tenantId"], TENANT_ID);
    let notes = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(notes[0]["conversationId"], "lc-legacy");
    assert_eq!(
        notes[0]["role"], "system",
        "the legacy System sender became a role"
    );

    let repeat = app
        .post_webhook(&TestApp::agent_message("lc-legacy", "m-legacy", "again"))
        .await;
    assert_eq!(
        repeat.json::<serde_json::Value>().await.unwrap()["status"],
        "duplicate"
    );
    let next = app
        .post_webhook(&TestApp::agent_message(
            "lc-legacy",
            "m-after",
            "after the upgrade",
        ))
        .await;
    assert_eq!(next.status(), 200);
    let sent = wait_for_bodies(&app.peers.teams, &teams_path("conv-legacy"), 2).await;
    assert_eq!(sent[1]["text"], "**Ann Agent**: after the upgrade");
    assert_eq!(sent.len(), 2, "the duplicate was not sent");
    app.stop().await;
}

#[tokio::test]
async fn a_sqlite_database_of_the_previous_release_upgrades() {
    let peers = Arc::new(Peers::start().await);
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    let file = data_dir.path().join("skill.db");
    let pool =
        previous_release_schema(&format!("sqlite:{}?mode=rwc", file.display()), "sqlite").await;
    previous_release_rows(&pool, &peers).await;
    pool.close().await;
    let app = spawn_app_on(peers, data_dir, Options::default()).await;
    the_upgraded_skill_keeps_the_session_and_its_pending_deliveries(app).await;
}

#[tokio::test]
async fn a_postgres_database_of_the_previous_release_upgrades() {
    let database = TestDatabase::create().await;
    let peers = Arc::new(Peers::start().await);
    let pool = previous_release_schema(&database.url, "postgres").await;
    previous_release_rows(&pool, &peers).await;
    pool.close().await;
    let options = Options {
        database_url: Some(database.url.clone()),
        ..Options::default()
    };
    let app = spawn_app_on(peers, Arc::new(tempfile::tempdir().unwrap()), options).await;
    the_upgraded_skill_keeps_the_session_and_its_pending_deliveries(app).await;
}
