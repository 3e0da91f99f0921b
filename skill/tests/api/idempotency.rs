//! Nothing doubled across retries and crashes: every call to the live chat carries a key that is
//! the same on every attempt, an activity sent again is stored once, an opening that never
//! finished is ended in the live chat, and an outage is waited out for a set time with the
//! customer told once.

use std::time::Duration;

use serde_json::Value;
use skill::domain::{ConversationAddress, CopilotConversationId};
use skill::store::{BeginSession, Store};

use crate::helpers::*;

fn text_of(body: &Value) -> &str {
    body["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn live_chat_calls_carry_keys_that_stay_the_same_across_retries() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-keys").await;
    let starts = bodies_at(&app.peers.livechat, "/api/chat/start").await;
    let key = starts[0]["idempotencyKey"].as_str().unwrap();
    assert!(key.starts_with("handover-session:"), "{key}");

    Peers::refuse(&app.peers.livechat, "/api/chat/receive", 503, Some(1)).await;
    app.post_activity(&app.message_activity("conv-keys", "first"))
        .await;
    app.post_activity(&app.message_activity("conv-keys", "second"))
        .await;
    let received = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 3).await;
    // The failed attempt and its retry carry one id; the next message another.
    assert_eq!(received[0]["message"], "first");
    assert_eq!(received[1]["message"], "first");
    assert_eq!(received[0]["id"], received[1]["id"]);
    assert!(received[0]["id"]
        .as_str()
        .unwrap()
        .starts_with("skill-delivery:"));
    assert_eq!(received[2]["message"], "second");
    assert_ne!(received[2]["id"], received[0]["id"]);
    assert_eq!(received[2]["conversationId"], livechat_id.as_str());
}

#[tokio::test]
async fn an_activity_sent_again_reaches_the_live_chat_once() {
    let app = spawn_app().await;
    app.start_session("conv-again").await;
    let message = app.message_activity("conv-again", "only once please");
    for _ in 0..3 {
        assert_eq!(app.post_activity(&message).await.status(), 202);
    }
    // The marker: a later message arrives after it, and nothing came between.
    app.post_activity(&app.message_activity("conv-again", "marker"))
        .await;
    let received = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 2).await;
    let texts: Vec<&str> = received
        .iter()
        .map(|body| body["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["only once please", "marker"]);
}

#[tokio::test]
async fn an_opening_a_crash_interrupted_is_ended_in_the_live_chat_after_the_restart() {
    let peers = std::sync::Arc::new(Peers::start().await);
    let data_dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    // The state a SIGKILL leaves between "opening" and the live chat's answer.
    let session = {
        let store = Store::open_sqlite(data_dir.path()).await.unwrap();
        let begun = store
            .begin_session(
                &CopilotConversationId::parse("conv-crashed").unwrap(),
                None,
                &ConversationAddress::from_recorded(r#"{"channelId":"msteams"}"#.to_owned()),
                None,
            )
            .await
            .unwrap();
        store.flush().await.unwrap();
        match begun {
            BeginSession::Created(session) => session,
            other => panic!("{other:?}"),
        }
    };
    let app = spawn_app_on(peers, data_dir, Options::default()).await;

    let ended = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    let starts = bodies_at(&app.peers.livechat, "/api/chat/start").await;
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0]["idempotencyKey"],
        format!("handover-session:{}", session.id).as_str()
    );
    let notes = bodies_at(&app.peers.livechat, "/api/chat/receive").await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["role"], "system");
    assert!(notes[0]["message"]
        .as_str()
        .unwrap()
        .contains("interrupted"));
    assert_eq!(notes[0]["conversationId"], ended[0]["conversationId"]);

    // The conversation is free for a new start.
    app.start_session("conv-crashed").await;
}

#[tokio::test]
async fn a_start_that_timed_out_is_ended_with_the_same_key_when_the_live_chat_answers() {
    let app = spawn_app_with(Options {
        livechat_timeout_ms: 300,
        ..Options::default()
    })
    .await;
    app.peers
        .slow_livechat_start("opened-late", Duration::from_secs(3))
        .await;
    let activity = app.start_activity("conv-timeout");
    app.post_activity(&activity).await;
    assert_eq!(
        app.reply_to(&activity).await["value"]["Status"],
        "unavailable"
    );

    // The live chat is quick again; it may have opened a conversation for the first start.
    app.peers.livechat.reset().await;
    app.peers.mount_livechat_defaults().await;
    let ended = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    let starts = bodies_at(&app.peers.livechat, "/api/chat/start").await;
    assert!(starts[0]["idempotencyKey"]
        .as_str()
        .unwrap()
        .starts_with("handover-session:"));
    let notes = bodies_at(&app.peers.livechat, "/api/chat/receive").await;
    assert_eq!(notes[0]["conversationId"], ended[0]["conversationId"]);
}

#[tokio::test]
async fn ending_while_the_session_opens_ends_what_the_live_chat_opened() {
    let app = spawn_app().await;
    app.peers
        .slow_livechat_start("opened-meanwhile", Duration::from_millis(800))
        .await;
    let start = app.start_activity("conv-meanwhile");
    app.post_activity(&start).await;
    wait_for_bodies(&app.peers.livechat, "/api/chat/start", 1).await;
    let end = app.end_activity("conv-meanwhile");
    app.post_activity(&end).await;

    let reply = app.reply_to(&start).await;
    assert_eq!(reply["value"]["Status"], "unavailable", "{reply}");
    assert_eq!(reply["value"]["liveChatConversationId"], "", "{reply}");
    let ended = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    assert_eq!(ended[0]["conversationId"], "opened-meanwhile");
}

#[tokio::test]
async fn an_outage_is_waited_out_and_the_customer_is_told_once() {
    let app = spawn_app().await;
    app.start_session("conv-outage").await;
    Peers::refuse(&app.peers.livechat, "/api/chat/receive", 503, None).await;
    app.post_activity(&app.message_activity("conv-outage", "are you there?"))
        .await;
    let teams = teams_path("conv-outage");
    let notices = wait_for_bodies(&app.peers.teams, &teams, 1).await;
    assert!(
        text_of(&notices[0]).contains("can't be reached"),
        "{}",
        notices[0]
    );
    // Many more failed attempts, then the live chat is back.
    wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 6).await;
    app.peers.livechat.reset().await;
    app.peers.mount_livechat_defaults().await;
    let received = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(received[0]["message"], "are you there?");

    // The marker: an agent reply after the outage reaches Teams, with one notice before it.
    let livechat_id = received[0]["conversationId"].as_str().unwrap();
    app.post_webhook(&TestApp::agent_message(livechat_id, "a-1", "yes, here"))
        .await;
    let sent = wait_for_bodies(&app.peers.teams, &teams, 2).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(text_of(&sent[1]).ends_with("yes, here"));
}

#[tokio::test]
async fn retrying_ends_after_the_configured_time_and_the_customer_is_told() {
    let app = spawn_app_with(Options {
        livechat_retry_for_secs: 1,
        ..Options::default()
    })
    .await;
    app.start_session("conv-gone").await;
    Peers::refuse(&app.peers.livechat, "/api/chat/receive", 503, None).await;
    app.post_activity(&app.message_activity("conv-gone", "hello?"))
        .await;
    let teams = teams_path("conv-gone");
    let notices = wait_for_bodies(&app.peers.teams, &teams, 2).await;
    assert!(text_of(&notices[0]).contains("can't be reached"));
    assert!(
        text_of(&notices[1]).contains("Your message could not be delivered to the agent"),
        "{}",
        notices[1]
    );
}
