//! `skill export-user ID` and `skill erase-user ID`: one Teams user's sessions and deliveries
//! exported, then erased from the database file; refused while the skill holds the file, and the
//! erasure while the user's live chat is open.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::helpers::*;

const USER: &str = "aad-user-1";

async fn erase(data_dir: &Path, user: &str) -> std::process::Output {
    command(data_dir, "erase-user", user).await
}

async fn command(data_dir: &Path, name: &str, user: &str) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_skill"))
        .args([name, user])
        .env_clear()
        .current_dir(data_dir)
        .env("SKILL_DATA_DIR", data_dir)
        .output()
        .await
        .unwrap()
}

fn database_holds(data_dir: &Path, text: &str) -> bool {
    std::fs::read_dir(data_dir)
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().contains(".db"))
        .any(|entry| {
            let bytes = std::fs::read(entry.path()).unwrap();
            bytes
                .windows(text.len())
                .any(|window| window == text.as_bytes())
        })
}

#[tokio::test]
async fn a_teams_users_sessions_and_deliveries_are_erased_once_their_chats_are_over() {
    let app = spawn_app().await;
    let data_dir = app.data_dir.clone();
    let live = app.start_session("conv-live").await;
    app.start_session("conv-over").await;
    let words = app.activity(
        "conv-over",
        json!({"type": "message", "text": "erase-me-words", "value": {"LiveChatConversationId": "lc-x"}}),
    );
    assert_eq!(app.post_activity(&words).await.status(), 202);
    wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    let end = app.end_activity("conv-over");
    assert_eq!(app.post_activity(&end).await.status(), 202);
    app.reply_to(&end).await;

    // While the skill runs on SQLite it holds the file: refused, saying why.
    let running = erase(data_dir.path(), USER).await;
    assert!(!running.status.success());
    assert!(String::from_utf8_lossy(&running.stderr).contains("stop the skill first"));

    // Stopped, with one chat still open: nothing is erased.
    let peers = app.wait_stopped().await;
    let refused = erase(data_dir.path(), USER).await;
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(database_holds(data_dir.path(), "erase-me-words"));

    // The open chat ends (the agent closes it); then both sessions go, with their deliveries.
    let app = spawn_app_on(peers, Arc::clone(&data_dir), Options::default()).await;
    let ended = app
        .post_webhook(
            &json!({"type": "conversationEnded", "conversationId": live, "id": "end-live"}),
        )
        .await;
    assert!(ended.status().is_success(), "{}", ended.status());
    let peers = app.wait_stopped().await;
    // First the user's copy: both sessions, each with what went either way.
    let exported = command(data_dir.path(), "export-user", USER).await;
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let export: Value = serde_json::from_slice(&exported.stdout).unwrap();
    assert_eq!(export["customerId"], USER);
    assert_eq!(export["sessions"].as_array().unwrap().len(), 2);
    assert!(export.to_string().contains("erase-me-words"), "{export}");
    let erased = erase(data_dir.path(), USER).await;
    assert!(
        erased.status.success(),
        "{}",
        String::from_utf8_lossy(&erased.stderr)
    );
    let counts: Value = serde_json::from_slice(&erased.stdout).unwrap();
    assert_eq!(counts["sessions"], 2);
    assert!(counts["deliveries"].as_u64().unwrap() >= 3, "{counts}");
    for gone in ["erase-me-words", USER, "conv-over", "conv-live"] {
        assert!(
            !database_holds(data_dir.path(), gone),
            "the database still holds {gone}"
        );
    }
    let again = erase(data_dir.path(), USER).await;
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        command(data_dir.path(), "export-user", USER)
            .await
            .status
            .code(),
        Some(2)
    );
    drop(peers);
}
