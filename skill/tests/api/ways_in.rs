//! The ways in and the ways to lose a message that a review from outside found (issue 21): each
//! test here failed on the code before it.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_request_naming_a_host_the_skill_does_not_serve_is_answered_421() {
    let app = spawn_app().await;
    let asked = |host: &'static str| {
        app.client
            .get(format!("{}/skill-manifest.json", app.address))
            .header("Host", host)
            .send()
    };
    // A page whose name re-resolved to 127.0.0.1 (DNS rebinding) sends its own name.
    for foreign in ["rebind.attacker.example", "rebind.attacker.example:5001"] {
        let answer = asked(foreign).await.unwrap();
        assert_eq!(answer.status(), 421, "{foreign}");
        assert!(answer
            .text()
            .await
            .unwrap()
            .contains("does not answer for the host"));
    }
    // Loopback names and the public URL's host are served.
    for served in [
        "localhost:5001",
        "127.0.0.1",
        "[::1]:5001",
        "skill.example.com",
    ] {
        assert_eq!(asked(served).await.unwrap().status(), 200, "{served}");
    }
    let activity = app.start_activity("conv-rebound");
    let posted = app
        .client
        .post(format!("{}/api/messages", app.address))
        .header("Host", "rebind.attacker.example")
        .header("Authorization", format!("Bearer {}", valid_token()))
        .json(&activity)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 421);
    assert!(bodies_at(&app.peers.livechat, "/api/chat/start")
        .await
        .is_empty());
}

#[tokio::test]
async fn a_second_process_on_the_same_data_directory_refuses_to_start_naming_the_first() {
    let app = spawn_app().await;
    let mut settings = skill::configuration::Settings::default();
    settings.application.bind = "127.0.0.1:0".parse().unwrap();
    settings.application.data_dir = app.data_dir.path().to_owned();
    let refused = match skill::startup::Application::build(settings).await {
        Ok(_) => panic!("a second skill started on the same data directory"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        refused.contains("is in use by the skill (process"),
        "{refused}"
    );
    assert!(refused.contains("SKILL_DATA_DIR"), "{refused}");
    // Once the first has stopped, the directory is free again.
    let app = app.restart().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn an_agent_joining_before_the_start_is_answered_is_retried_not_lost() {
    let app = spawn_app().await;
    // A live chat that assigns at once: its "joined" is sent while its answer to the start is
    // still on the way.
    app.peers
        .slow_livechat_start("lc-race", Duration::from_millis(1_500))
        .await;
    let start = app.start_activity("conv-race");
    assert_eq!(app.post_activity(&start).await.status(), 202);
    wait_for_bodies(&app.peers.livechat, "/api/chat/start", 1).await;
    let joined = json!({"type": "agentJoined", "conversationId": "lc-race", "id": "j-race", "agentName": "Alex"});
    let early = app.post_webhook(&joined).await;
    assert_eq!(
        early.status(),
        503,
        "an event for a conversation still opening is asked for again, not refused for good"
    );
    assert!(early.headers().get("Retry-After").is_some());
    // The live chat retries, as its contract says for a 503, once the start is answered.
    let reply = app.reply_to(&start).await;
    assert_eq!(reply["code"], "completedSuccessfully", "{reply}");
    assert_eq!(app.post_webhook(&joined).await.status(), 200);
    let texts = teams_texts(&app, "conv-race", 1).await;
    assert!(texts[0].contains("Alex"), "{texts:?}");
    // With no session opening, an unknown conversation is still refused for good.
    let stranger = json!({"type": "agentJoined", "conversationId": "lc-nobody", "id": "j-x", "agentName": "Alex"});
    assert_eq!(app.post_webhook(&stranger).await.status(), 404);
}

#[tokio::test]
async fn naming_the_live_chat_id_of_another_conversation_acts_on_nothing() {
    let app = spawn_app().await;
    let victim = app.start_session("conv-victim").await;
    // Another conversation, with no session of its own, names the victim's live-chat id.
    for name in ["endConversation", "rateConversation"] {
        let intruder = app.activity(
            "conv-intruder",
            json!({"type": "event", "name": name, "value": {"LiveChatConversationId": victim, "Rating": "1"}}),
        );
        assert_eq!(app.post_activity(&intruder).await.status(), 202);
        app.reply_to(&intruder).await;
    }
    let message = app.activity(
        "conv-intruder",
        json!({"type": "message", "text": "hijacked", "value": {"LiveChatConversationId": victim}}),
    );
    assert_eq!(app.post_activity(&message).await.status(), 202);
    app.reply_to(&message).await;
    // The victim's chat is still open: their next message reaches the agent, and it is the only
    // message the live chat got; nothing was ended or rated.
    let own = app.message_activity("conv-victim", "still here");
    assert_eq!(app.post_activity(&own).await.status(), 202);
    let received = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    let texts: Vec<&str> = received
        .iter()
        .filter_map(|body| body["message"].as_str())
        .collect();
    assert_eq!(texts, ["still here"]);
    assert!(bodies_at(&app.peers.livechat, "/api/chat/end")
        .await
        .is_empty());
    assert!(bodies_at(&app.peers.livechat, "/api/chat/rate")
        .await
        .is_empty());
}

#[tokio::test]
async fn keys_sent_to_the_live_chat_fit_its_limit_whatever_the_teams_ids_length() {
    let app = spawn_app().await;
    // Teams conversation ids of group chats and channels run to hundreds of characters.
    let long = format!("19-{}-thread-v2", "a".repeat(280));
    let mut leave = app.activity(
        &long,
        json!({"type": "event", "name": "leaveMessage", "value": {"Message": "call me"}}),
    );
    leave["id"] = json!("act-long");
    let path = format!("/v3/conversations/{long}/activities/act-long");
    for round in 1..=2 {
        assert_eq!(
            app.post_activity(&leave).await.status(),
            202,
            "round {round}"
        );
        let replies = wait_for_bodies(&app.peers.copilot, &path, 2 * round).await;
        let end = &replies[2 * round - 1];
        assert_eq!(end["value"]["Outcome"], "messageLeft", "{end}");
    }
    let starts = bodies_at(&app.peers.livechat, "/api/chat/start").await;
    assert_eq!(starts.len(), 2);
    for start in &starts {
        let key = start["idempotencyKey"].as_str().unwrap();
        assert!(
            key.chars().count() <= 200,
            "{} characters: {key}",
            key.len()
        );
    }
    // The same activity sent again carries the same key, so the live chat opens nothing twice.
    assert_eq!(starts[0]["idempotencyKey"], starts[1]["idempotencyKey"]);
}

/// The skill as a process of its own, anonymous on loopback, on `data_dir`, with `peers`.
fn skill_process(peers: &Peers, data_dir: &std::path::Path, port: u16) -> tokio::process::Child {
    let log = data_dir.join("skill.log");
    test_support::service_command(
        std::path::Path::new(env!("CARGO_BIN_EXE_skill")),
        &log,
        &[
            ("SKILL_BIND", format!("127.0.0.1:{port}")),
            ("SKILL_PUBLIC_URL", format!("http://localhost:{port}")),
            (
                "SKILL_DATA_DIR",
                data_dir.join("data").display().to_string(),
            ),
            ("LIVECHAT_BASE_URL", peers.livechat.uri()),
        ],
    )
    .spawn()
    .unwrap()
}

#[tokio::test]
async fn a_start_answered_just_before_a_crash_is_handled_after_the_restart() {
    use wiremock::matchers::{method, path};
    let peers = Peers::start().await;
    // The live chat takes its time over the first start: the skill is killed while it waits.
    wiremock::Mock::given(method("POST"))
        .and(path("/api/chat/start"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"conversationId": "lc-never-answered"}))
                .set_delay(Duration::from_secs(60)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&peers.livechat)
        .await;
    let folder = tempfile::tempdir().unwrap();
    let port = test_support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut skill = skill_process(&peers, folder.path(), port);
    test_support::wait_until_ready(&base, "the skill").await;
    let conversation = "conv-crash-start";
    let start = json!({
        "type": "event", "name": "startConversation", "id": "act-crash-start",
        "timestamp": chrono::Utc::now().to_rfc3339(), "serviceUrl": peers.copilot.uri(),
        "channelId": "msteams", "from": {"id": "29:user-1", "name": "Megan Bowen"},
        "recipient": {"id": "skill", "role": "skill"},
        "conversation": {"id": conversation}, "locale": "en-US",
    });
    let client = reqwest::Client::new();
    let accepted = client
        .post(format!("{base}/api/messages"))
        .json(&start)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    wait_for_bodies(&peers.livechat, "/api/chat/start", 1).await;
    skill.kill().await.unwrap();

    let mut skill = skill_process(&peers, folder.path(), port);
    test_support::wait_until_ready(&base, "the skill, restarted").await;
    let replies = wait_for_bodies(
        &peers.copilot,
        &format!("/v3/conversations/{conversation}/activities/act-crash-start"),
        1,
    )
    .await;
    let end = replies
        .iter()
        .find(|reply| reply["type"] == "endOfConversation")
        .unwrap_or_else(|| panic!("{replies:?}"));
    assert_eq!(end["code"], "completedSuccessfully", "{end}");
    let opened = end["value"]["liveChatConversationId"].as_str().unwrap();
    assert_ne!(opened, "lc-never-answered");
    skill.kill().await.unwrap();
}
