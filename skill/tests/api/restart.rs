//! A restart in the middle of a session loses nothing.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn a_restart_in_the_middle_of_a_session_loses_nothing() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-restart").await;
    let teams = teams_path("conv-restart");

    // Teams and the live chat are both down: what the skill accepted waits in its store.
    Peers::refuse(&app.peers.teams, &teams, 502, None).await;
    Peers::refuse(&app.peers.livechat, "/api/chat/receive", 503, None).await;
    assert_eq!(
        app.post_webhook(&TestApp::agent_message(
            &livechat_id,
            "before-restart",
            "are you still there?"
        ))
        .await
        .status(),
        200
    );
    assert_eq!(
        app.post_activity(&app.message_activity("conv-restart", "yes, waiting"))
            .await
            .status(),
        202
    );
    eventually("a failed attempt at Teams", || async {
        (!requests_to(&app.peers.teams, &teams).await.is_empty()).then_some(())
    })
    .await;
    eventually("a failed attempt at the live chat", || async {
        (!requests_to(&app.peers.livechat, "/api/chat/receive")
            .await
            .is_empty())
        .then_some(())
    })
    .await;

    let peers = app.peers.clone();
    app.stop().await;
    // Both come back while the skill is down.
    peers.teams.reset().await;
    peers.livechat.reset().await;
    peers.mount_defaults().await;
    let app = app.restart().await;

    let sent = wait_for_bodies(&app.peers.teams, &teams, 1).await;
    assert!(sent[0]["text"]
        .as_str()
        .unwrap()
        .ends_with("are you still there?"));
    let forwarded = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(forwarded[0]["message"], "yes, waiting");
    assert_eq!(forwarded[0]["conversationId"], livechat_id.as_str());

    // The mapping survived: new messages still flow both ways, and a repeat of the old webhook is
    // recognised as already accepted.
    app.post_activity(&app.message_activity("conv-restart", "after the restart"))
        .await;
    let forwarded = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 2).await;
    assert_eq!(forwarded[1]["message"], "after the restart");
    let repeat = app
        .post_webhook(&TestApp::agent_message(
            &livechat_id,
            "before-restart",
            "are you still there?",
        ))
        .await;
    assert_eq!(repeat.json::<Value>().await.unwrap()["status"], "duplicate");
    app.post_webhook(&TestApp::agent_message(
        &livechat_id,
        "after-restart",
        "good",
    ))
    .await;
    let sent = wait_for_bodies(&app.peers.teams, &teams, 2).await;
    assert_eq!(sent.len(), 2, "the old message was sent once");
    assert!(sent[1]["text"].as_str().unwrap().ends_with("good"));
    app.wait_stopped().await;
}
