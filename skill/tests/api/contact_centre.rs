//! The contact centre's events relayed to Teams: no session when no agent is online, the queue
//! position at the start and its updates, an agent joining (before their first message) and a
//! transfer, and the typing indicator (shown at once, never queued, dropped when late).

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// Every activity the skill answered `activity` with, in order, once `count` have arrived.
async fn replies_to(app: &TestApp, activity: &Value, count: usize) -> Vec<Value> {
    let path = format!(
        "/v3/conversations/{}/activities/{}",
        activity["conversation"]["id"].as_str().unwrap(),
        activity["id"].as_str().unwrap()
    );
    wait_for_bodies(&app.peers.copilot, &path, count).await
}

async fn availability(app: &TestApp, agents_online: u32) {
    Mock::given(method("GET"))
        .and(path("/api/chat/availability"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "agentsOnline": agents_online, "queueLength": 4, "estimatedWaitSeconds": 300
        })))
        .mount(&app.peers.livechat)
        .await;
}

#[tokio::test]
async fn with_no_agent_online_no_session_opens_and_the_user_is_told() {
    let app = spawn_app().await;
    availability(&app, 0).await;
    let start = app.start_activity("conv-nobody");
    assert_eq!(app.post_activity(&start).await.status(), 202);
    let replies = replies_to(&app, &start, 2).await;
    assert_eq!(replies[0]["type"], "message");
    assert!(replies[0]["text"]
        .as_str()
        .unwrap()
        .contains("No agent is available"));
    let end = &replies[1];
    assert_eq!(end["type"], "endOfConversation");
    assert_eq!(
        end["code"], "completedSuccessfully",
        "a success the topic branches on"
    );
    assert_eq!(end["value"]["Status"], "noAgentAvailable");
    assert_eq!(end["value"]["QueuePosition"], 0);
    assert!(
        requests_to(&app.peers.livechat, "/api/chat/start")
            .await
            .is_empty(),
        "no conversation was opened in the live chat"
    );
    // Nothing is open: a message after it is not forwarded anywhere.
    let message = app.message_activity("conv-nobody", "hello?");
    assert_eq!(app.post_activity(&message).await.status(), 202);
    let answer = app.reply_to(&message).await;
    assert_eq!(answer["type"], "endOfConversation");
    assert!(requests_to(&app.peers.livechat, "/api/chat/receive")
        .await
        .is_empty());
}

#[tokio::test]
async fn outside_business_hours_no_session_opens_and_the_user_is_told_when_it_opens() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/api/chat/availability"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "agentsOnline": 2, "queueLength": 0, "estimatedWaitSeconds": 0, "open": false,
            "nextOpening": "2026-12-14T09:00:00+00:00", "timeZone": "Europe/London"
        })))
        .mount(&app.peers.livechat)
        .await;
    let start = app.start_activity("conv-closed");
    assert_eq!(app.post_activity(&start).await.status(), 202);
    let replies = replies_to(&app, &start, 2).await;
    assert_eq!(
        replies[0]["text"],
        "Our live agents are closed right now, so I couldn't connect you. They're back Monday 14 December at 09:00 (Europe/London time)."
    );
    let end = &replies[1];
    assert_eq!(end["code"], "completedSuccessfully", "{end}");
    assert_eq!(end["value"]["Status"], "closed");
    assert_eq!(
        end["value"]["NextOpening"],
        "Monday 14 December at 09:00 (Europe/London time)"
    );
    assert!(
        requests_to(&app.peers.livechat, "/api/chat/start")
            .await
            .is_empty(),
        "no conversation was opened in the live chat"
    );
    // Every output the manifest declares for the action, and only those.
    let manifest: Value = app.get("/skill-manifest.json").await.json().await.unwrap();
    let declared = &manifest["definitions"]["startConversationOutput"]["properties"];
    for output in end["value"].as_object().unwrap().keys() {
        assert!(
            declared.get(output).is_some() || output == "liveChatConversationId",
            "{output} is not declared"
        );
    }
    assert!(declared.get("NextOpening").is_some());
}

#[tokio::test]
async fn a_queued_start_tells_the_user_their_place_and_the_usual_wait() {
    let app = spawn_app().await;
    availability(&app, 2).await;
    Mock::given(method("POST"))
        .and(path("/api/chat/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "conversationId": "lc-queued", "status": "waiting", "queuePosition": 3,
            "estimatedWaitSeconds": 110
        })))
        .with_priority(1)
        .mount(&app.peers.livechat)
        .await;
    let start = app.start_activity("conv-queued");
    assert_eq!(app.post_activity(&start).await.status(), 202);
    let reply = app.reply_to(&start).await;
    assert_eq!(reply["code"], "completedSuccessfully");
    assert_eq!(
        reply["value"],
        json!({
            "liveChatConversationId": "lc-queued", "Status": "queued", "QueuePosition": 3,
            "EstimatedWaitMinutes": 2
        })
    );
    let texts = teams_texts(&app, "conv-queued", 1).await;
    assert_eq!(
        texts,
        ["You're number 3 in the queue; the usual wait is about 2 minutes."]
    );

    // Updates as the place changes, in order with everything else.
    let update = json!({"type": "queueUpdate", "conversationId": "lc-queued", "id": "q-1", "queuePosition": 1, "estimatedWaitSeconds": 20});
    assert_eq!(app.post_webhook(&update).await.status(), 200);
    let again = app.post_webhook(&update).await;
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "duplicate");
    let texts = teams_texts(&app, "conv-queued", 2).await;
    assert_eq!(
        texts[1],
        "You're next in the queue; the usual wait is less than a minute."
    );
}

#[tokio::test]
async fn an_assigned_start_is_connected() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/api/chat/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "conversationId": "lc-now", "status": "assigned", "agentName": "Ann"
        })))
        .with_priority(1)
        .mount(&app.peers.livechat)
        .await;
    let start = app.start_activity("conv-now");
    assert_eq!(app.post_activity(&start).await.status(), 202);
    let reply = app.reply_to(&start).await;
    assert_eq!(reply["value"]["Status"], "connected");
    assert_eq!(reply["value"]["liveChatConversationId"], "lc-now");
}

#[tokio::test]
async fn the_agent_joining_reaches_teams_before_their_first_message_and_a_transfer_names_both() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-joined").await;
    let joined =
        json!({"type": "agentJoined", "conversationId": livechat, "id": "j-1", "agentName": "Ann"});
    assert_eq!(app.post_webhook(&joined).await.status(), 200);
    let reply = TestApp::agent_message(&livechat, "m-1", "Hello, I'm Ann.");
    assert_eq!(app.post_webhook(&reply).await.status(), 200);
    let transfer = json!({"type": "agentJoined", "conversationId": livechat, "id": "j-2", "agentName": "Ben", "transferredBy": "Ann"});
    assert_eq!(app.post_webhook(&transfer).await.status(), 200);
    let texts = teams_texts(&app, "conv-joined", 3).await;
    assert_eq!(
        texts,
        [
            "Ann joined the chat.",
            "**Ann Agent**: Hello, I'm Ann.",
            "Ann transferred you to Ben."
        ]
    );
    // After the end nothing more reaches the user.
    let ended = json!({"type": "conversationEnded", "conversationId": livechat, "id": "e-1"});
    assert_eq!(app.post_webhook(&ended).await.status(), 200);
    let late =
        json!({"type": "agentJoined", "conversationId": livechat, "id": "j-3", "agentName": "Cy"});
    assert_eq!(app.post_webhook(&late).await.status(), 410);
    let missing = json!({"type": "agentJoined", "conversationId": livechat, "id": "j-4"});
    assert_eq!(app.post_webhook(&missing).await.status(), 400);
}

#[tokio::test]
async fn typing_is_shown_at_once_and_a_late_one_is_dropped() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-typing").await;
    let typing = |age_secs: i64| {
        let at = chrono::Utc::now() - chrono::Duration::seconds(age_secs);
        json!({"type": "typing", "conversationId": livechat, "sender": "Ann", "timestamp": at.to_rfc3339()})
    };
    let late = app.post_webhook(&typing(10)).await;
    assert_eq!(late.status(), 200);
    assert_eq!(late.json::<Value>().await.unwrap()["status"], "dropped");
    let fresh = app.post_webhook(&typing(0)).await;
    assert_eq!(fresh.json::<Value>().await.unwrap()["status"], "accepted");
    let sent = eventually("the typing activity", || async {
        let bodies = bodies_at(&app.peers.teams, &teams_path("conv-typing")).await;
        let typing: Vec<Value> = bodies
            .into_iter()
            .filter(|body| body["type"] == "typing")
            .collect();
        (!typing.is_empty()).then_some(typing)
    })
    .await;
    assert!(sent[0].get("text").is_none_or(Value::is_null));
    assert_eq!(sent[0]["conversation"]["id"], "conv-typing");
    // The marker: a message after both; still one typing activity.
    let reply = TestApp::agent_message(&livechat, "m-after", "after typing");
    app.post_webhook(&reply).await;
    let bodies = eventually("the marker", || async {
        let bodies = bodies_at(&app.peers.teams, &teams_path("conv-typing")).await;
        bodies
            .iter()
            .any(|body| body["type"] == "message")
            .then_some(bodies)
    })
    .await;
    assert_eq!(
        bodies
            .iter()
            .filter(|body| body["type"] == "typing")
            .count(),
        1
    );
    // Typing for a conversation the skill does not know is dropped, not an error.
    let unknown = json!({"type": "typing", "conversationId": "lc-nobody", "timestamp": chrono::Utc::now().to_rfc3339()});
    let answer = app.post_webhook(&unknown).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap()["status"], "dropped");
}
