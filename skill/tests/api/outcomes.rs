//! How a chat ended, told back to Copilot Studio in the `endOfConversation` that ends each action
//! (as Microsoft's SDK receives it: the value's keys and types), and the timers that end chats:
//! the queue timeout and inactivity, on a paused clock, across a restart, and with two instances on
//! PostgreSQL (one timer fires once).

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::databases::TestDatabase;
use crate::helpers::*;

/// Every start is queued (position 1), each in a conversation of its own.
struct QueuedStarts;

impl Respond for QueuedStarts {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let key = body["idempotencyKey"].as_str().unwrap_or("none");
        let id = format!("lc-{}", key.trim_start_matches("handover-session:"));
        ResponseTemplate::new(200).set_body_json(json!({
            "conversationId": id, "status": "waiting", "queuePosition": 1, "estimatedWaitSeconds": 60
        }))
    }
}

async fn queue_every_start(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path("/api/chat/start"))
        .respond_with(QueuedStarts)
        .with_priority(1)
        .mount(&app.peers.livechat)
        .await;
}

fn paused() -> Options {
    Options {
        clock: Some(Clock::paused()),
        ..Options::default()
    }
}

fn clock(app: &TestApp) -> &Clock {
    app.options.clock.as_ref().unwrap()
}

/// The bodies the live chat received at `route` for `livechat`.
async fn livechat_calls(app: &TestApp, route: &str, livechat: &str) -> Vec<Value> {
    bodies_at(&app.peers.livechat, route)
        .await
        .into_iter()
        .filter(|body| body["conversationId"] == livechat)
        .collect()
}

/// The customer writes after the chat ended: the action ends, saying how.
async fn next_message_ends_with(app: &TestApp, conversation: &str) -> Value {
    let message = app.message_activity(conversation, "hello again?");
    assert_eq!(app.post_activity(&message).await.status(), 202);
    let end = app.reply_to(&message).await;
    assert_eq!(end["type"], "endOfConversation");
    assert_eq!(
        end["code"], "completedSuccessfully",
        "the topic branches instead of running the error topic: {end}"
    );
    end
}

#[tokio::test]
async fn the_agent_ending_the_chat_ends_send_message_with_agent_ended_and_the_agents_name() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-agent-ends").await;
    let joined = json!({"type": "agentJoined", "conversationId": livechat, "id": "j-1", "agentName": "Ann Agent"});
    assert_eq!(app.post_webhook(&joined).await.status(), 200);
    let transferred = json!({"type": "agentJoined", "conversationId": livechat, "id": "j-2", "agentName": "Ben Agent", "transferredBy": "Ann Agent"});
    assert_eq!(app.post_webhook(&transferred).await.status(), 200);
    let ended = json!({"type": "conversationEnded", "conversationId": livechat, "id": "e-1", "sender": "Ben Agent"});
    assert_eq!(app.post_webhook(&ended).await.status(), 200);

    let end = next_message_ends_with(&app, "conv-agent-ends").await;
    assert_eq!(
        end["value"],
        json!({"Outcome": "agentEnded", "AgentName": "Ben Agent"}),
        "strings Copilot Studio binds to the declared outputs"
    );
}

#[tokio::test]
async fn without_an_agent_name_the_output_is_empty_and_a_failed_session_says_failed() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-anonymous").await;
    let ended = json!({"type": "conversationEnded", "conversationId": livechat});
    assert_eq!(app.post_webhook(&ended).await.status(), 200);
    let end = next_message_ends_with(&app, "conv-anonymous").await;
    assert_eq!(
        end["value"],
        json!({"Outcome": "agentEnded", "AgentName": ""})
    );

    // A start the live chat refused leaves a failed session: a message after it says so.
    Peers::refuse(&app.peers.livechat, "/api/chat/start", 500, None).await;
    let start = app.start_activity("conv-failed");
    assert_eq!(app.post_activity(&start).await.status(), 202);
    assert_eq!(app.reply_to(&start).await["value"]["Status"], "unavailable");
    let end = next_message_ends_with(&app, "conv-failed").await;
    assert_eq!(end["value"], json!({"Outcome": "failed", "AgentName": ""}));
}

#[tokio::test]
async fn a_chat_nobody_takes_in_time_is_closed_and_the_next_message_says_queue_timeout() {
    let app = spawn_app_with(paused()).await;
    queue_every_start(&app).await;
    let livechat = app.start_session("conv-waits").await;
    let texts = teams_texts(&app, "conv-waits", 1).await;
    assert!(
        texts[0].starts_with("You're next in the queue"),
        "{texts:?}"
    );

    // Not yet: a minute short of the ten, and no inactivity while waiting for an agent.
    clock(&app).advance(Duration::from_secs(9 * 60));
    let marker =
        json!({"type": "queueUpdate", "conversationId": livechat, "id": "q-1", "queuePosition": 1});
    assert_eq!(app.post_webhook(&marker).await.status(), 200);
    let texts = teams_texts(&app, "conv-waits", 2).await;
    assert_eq!(texts.len(), 2, "only the marker arrived: {texts:?}");
    assert!(
        texts[1].starts_with("You're next in the queue"),
        "{texts:?}"
    );
    assert!(livechat_calls(&app, "/api/chat/end", &livechat)
        .await
        .is_empty());

    clock(&app).advance(Duration::from_secs(61));
    let texts = teams_texts(&app, "conv-waits", 3).await;
    assert_eq!(
        texts[2],
        "Sorry, no agent could take your chat within 10 minutes, so I've closed the request. You're back with the Contoso agent; you can ask for a person again at any time."
    );
    let ends = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    assert_eq!(ends[0]["conversationId"], livechat.as_str());
    let notes = livechat_calls(&app, "/api/chat/receive", &livechat).await;
    assert!(
        notes.iter().any(|note| note["message"]
            .as_str()
            .unwrap()
            .contains("nobody accepted it within 10 minutes")),
        "the agent's transcript says why: {notes:?}"
    );

    let end = next_message_ends_with(&app, "conv-waits").await;
    assert_eq!(
        end["value"],
        json!({"Outcome": "queueTimeout", "AgentName": ""})
    );
}

#[tokio::test]
async fn an_agent_joining_stops_the_queue_timer_and_starts_the_inactivity_one() {
    let app = spawn_app_with(paused()).await;
    queue_every_start(&app).await;
    let livechat = app.start_session("conv-joins").await;
    clock(&app).advance(Duration::from_secs(8 * 60));
    let joined =
        json!({"type": "agentJoined", "conversationId": livechat, "id": "j-1", "agentName": "Ann"});
    assert_eq!(app.post_webhook(&joined).await.status(), 200);
    teams_texts(&app, "conv-joins", 2).await;

    // Past the queue timeout, yet the chat stays: the warning comes five minutes after the join.
    clock(&app).advance(Duration::from_secs(5 * 60 + 1));
    let texts = teams_texts(&app, "conv-joins", 3).await;
    assert_eq!(
        texts[2],
        "Are you still there? This chat will close in 5 minutes if there's no reply."
    );
    assert!(livechat_calls(&app, "/api/chat/end", &livechat)
        .await
        .is_empty());
}

#[tokio::test]
async fn a_silent_customer_is_warned_then_closed_and_writing_starts_the_count_again() {
    let app = spawn_app_with(paused()).await;
    let livechat = app.start_session("conv-silent").await;

    clock(&app).advance(Duration::from_secs(5 * 60 + 1));
    let texts = teams_texts(&app, "conv-silent", 1).await;
    assert_eq!(
        texts[0],
        "Are you still there? This chat will close in 5 minutes if there's no reply."
    );

    // The customer answers: the count starts again from that message.
    let message = app.message_activity("conv-silent", "still here");
    assert_eq!(app.post_activity(&message).await.status(), 202);
    wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    clock(&app).advance(Duration::from_secs(5 * 60 + 1));
    let texts = teams_texts(&app, "conv-silent", 2).await;
    assert_eq!(texts.len(), 2, "warned again, not closed: {texts:?}");
    assert_eq!(texts[1], texts[0], "warned again, not closed");
    assert!(livechat_calls(&app, "/api/chat/end", &livechat)
        .await
        .is_empty());

    clock(&app).advance(Duration::from_secs(5 * 60));
    let texts = teams_texts(&app, "conv-silent", 3).await;
    assert_eq!(
        texts[2],
        "This live chat was closed because there was no reply for 10 minutes. You're back with the Contoso agent."
    );
    let ends = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    assert_eq!(ends[0]["conversationId"], livechat.as_str());
    let notes = livechat_calls(&app, "/api/chat/receive", &livechat).await;
    assert!(notes
        .iter()
        .any(|note| note["message"]
            == "The chat was closed: the customer wrote nothing for 10 minutes."));

    let end = next_message_ends_with(&app, "conv-silent").await;
    assert_eq!(
        end["value"],
        json!({"Outcome": "inactive", "AgentName": ""})
    );
}

#[tokio::test]
async fn a_timer_survives_a_restart() {
    let app = spawn_app_with(paused()).await;
    queue_every_start(&app).await;
    app.start_session("conv-restarts").await;
    teams_texts(&app, "conv-restarts", 1).await;
    let app = app.restart().await;
    queue_every_start(&app).await;

    clock(&app).advance(Duration::from_secs(10 * 60 + 1));
    let texts = teams_texts(&app, "conv-restarts", 2).await;
    assert!(
        texts[1].starts_with("Sorry, no agent could take your chat"),
        "{texts:?}"
    );
    let end = next_message_ends_with(&app, "conv-restarts").await;
    assert_eq!(end["value"]["Outcome"], "queueTimeout");
}

#[tokio::test]
async fn with_two_instances_on_postgres_each_timer_fires_once() {
    let database = TestDatabase::create().await;
    let first = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        ..paused()
    })
    .await;
    let second = spawn_another_instance(&first).await;
    queue_every_start(&first).await;
    const CHATS: usize = 12;
    let mut livechats = Vec::new();
    for n in 0..CHATS {
        let app = if n % 2 == 0 { &first } else { &second };
        livechats.push(app.start_session(&format!("conv-pg-{n}")).await);
    }
    clock(&first).advance(Duration::from_secs(10 * 60 + 1));

    // Every chat is closed, each once: one notice in Teams, one end in the live chat.
    let ends = wait_for_bodies(&first.peers.livechat, "/api/chat/end", CHATS).await;
    for n in 0..CHATS {
        let texts = teams_texts(&first, &format!("conv-pg-{n}"), 2).await;
        assert_eq!(
            texts.len(),
            2,
            "the queue place, then the timeout: {texts:?}"
        );
    }
    // Both instances have had every timer due; a second firing would have been stored with the
    // close it lost to, so the stored rows say whether any fired twice.
    let rows = database
        .count("SELECT COUNT(*) FROM deliveries WHERE lane = 'livechat' AND payload LIKE '%\"kind\":\"end\"%'")
        .await;
    assert_eq!(rows, CHATS as i64);
    let notices = database
        .count("SELECT COUNT(*) FROM deliveries WHERE lane = 'teams' AND dedupe_key LIKE 'timer:%'")
        .await;
    assert_eq!(notices, CHATS as i64);
    let mut ended: Vec<String> = ends
        .iter()
        .map(|end| end["conversationId"].as_str().unwrap().to_owned())
        .collect();
    ended.sort();
    livechats.sort();
    assert_eq!(
        ended, livechats,
        "each chat's end reached the live chat once"
    );
}

#[tokio::test]
async fn a_rating_reaches_the_live_chat_once_and_a_bad_one_is_refused() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-rated").await;
    let ended = json!({"type": "conversationEnded", "conversationId": livechat, "sender": "Ann"});
    assert_eq!(app.post_webhook(&ended).await.status(), 200);
    next_message_ends_with(&app, "conv-rated").await;

    let rate = app.activity(
        "conv-rated",
        json!({"type": "event", "name": "rateConversation", "value": {
            "LiveChatConversationId": livechat, "Rating": 4, "Comment": "Quick and kind"
        }}),
    );
    assert_eq!(app.post_activity(&rate).await.status(), 202);
    let answer = app.reply_to(&rate).await;
    assert_eq!(answer["type"], "endOfConversation");
    assert_eq!(answer["name"], "rateConversation");
    assert_eq!(answer["code"], "completedSuccessfully");
    assert_eq!(answer["value"], json!({"Outcome": "rated"}));
    // Sent again (a lost answer): answered again, stored once.
    assert_eq!(app.post_activity(&rate).await.status(), 202);
    let answers = wait_for_bodies(
        &app.peers.copilot,
        &format!(
            "/v3/conversations/conv-rated/activities/{}",
            rate["id"].as_str().unwrap()
        ),
        2,
    )
    .await;
    assert_eq!(answers[1]["value"], json!({"Outcome": "rated"}));
    let ratings = wait_for_bodies(&app.peers.livechat, "/api/chat/rate", 1).await;
    assert_eq!(
        ratings[0],
        json!({"conversationId": livechat, "rating": 4, "comment": "Quick and kind"})
    );

    for (value, why) in [
        (
            json!({"LiveChatConversationId": livechat, "Rating": 9}),
            "from 1 to 5",
        ),
        (json!({"LiveChatConversationId": livechat}), "missing"),
        (
            json!({"LiveChatConversationId": "lc-never", "Rating": 3}),
            "no live chat to rate",
        ),
    ] {
        let conversation = format!("conv-bad-{}", uuid::Uuid::new_v4());
        let bad = app.activity(
            &conversation,
            json!({"type": "event", "name": "rateConversation", "value": value}),
        );
        assert_eq!(app.post_activity(&bad).await.status(), 202);
        let answer = app.reply_to(&bad).await;
        assert_eq!(answer["code"], "botIssuedInvalidMessage", "{answer}");
        assert!(answer["text"].as_str().unwrap().contains(why), "{answer}");
    }
    assert_eq!(
        bodies_at(&app.peers.livechat, "/api/chat/rate").await.len(),
        1,
        "neither the repeat nor the refused ones were sent"
    );
}

#[tokio::test]
async fn a_message_left_while_nobody_is_online_becomes_a_closed_conversation_for_the_team() {
    let app = spawn_app().await;
    let leave = app.activity(
        "conv-leaves",
        json!({"type": "event", "name": "leaveMessage", "value": {"Message": "Please call me back about my invoice"}}),
    );
    assert_eq!(app.post_activity(&leave).await.status(), 202);
    let path = format!(
        "/v3/conversations/conv-leaves/activities/{}",
        leave["id"].as_str().unwrap()
    );
    let replies = wait_for_bodies(&app.peers.copilot, &path, 2).await;
    assert_eq!(replies[0]["type"], "message");
    assert!(replies[0]["text"]
        .as_str()
        .unwrap()
        .contains("passed your message to the team"));
    assert_eq!(replies[1]["type"], "endOfConversation");
    assert_eq!(replies[1]["code"], "completedSuccessfully");
    assert_eq!(replies[1]["value"]["Outcome"], "messageLeft");
    let livechat = replies[1]["value"]["LiveChatConversationId"]
        .as_str()
        .unwrap()
        .to_owned();

    let starts = bodies_at(&app.peers.livechat, "/api/chat/start").await;
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0]["problemDescription"],
        "Please call me back about my invoice"
    );
    let ends = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    assert_eq!(ends[0]["conversationId"], livechat.as_str());
    let received = livechat_calls(&app, "/api/chat/receive", &livechat).await;
    let texts: Vec<&str> = received
        .iter()
        .map(|body| body["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts[0], "Please call me back about my invoice");
    assert!(texts[1].contains("not waiting in this chat"), "{texts:?}");

    // No session holds the conversation: the next message is the bot's, not the team's.
    let message = app.message_activity("conv-leaves", "thanks");
    assert_eq!(app.post_activity(&message).await.status(), 202);
    assert_eq!(app.reply_to(&message).await["type"], "endOfConversation");

    let empty = app.activity(
        "conv-leaves",
        json!({"type": "event", "name": "leaveMessage", "value": {"Message": "  "}}),
    );
    assert_eq!(app.post_activity(&empty).await.status(), 202);
    assert_eq!(
        app.reply_to(&empty).await["code"],
        "botIssuedInvalidMessage"
    );
}

#[tokio::test]
async fn a_customer_writing_fast_restarts_the_count_to_within_the_resolution() {
    let app = spawn_app_with(paused()).await;
    let livechat = app.start_session("conv-chatty").await;
    // Within the resolution (15 s) of the last restart: nothing written; a minute on: written.
    for (after, text) in [(1, "one"), (59, "two")] {
        clock(&app).advance(Duration::from_secs(after));
        let message = app.message_activity("conv-chatty", text);
        assert_eq!(app.post_activity(&message).await.status(), 202);
    }
    wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 2).await;

    // Five minutes after the start, but not after the last message: no warning yet.
    clock(&app).advance(Duration::from_secs(4 * 60 + 1));
    let marker =
        json!({"type": "queueUpdate", "conversationId": livechat, "id": "q-1", "queuePosition": 1});
    assert_eq!(app.post_webhook(&marker).await.status(), 200);
    let texts = teams_texts(&app, "conv-chatty", 1).await;
    assert!(
        texts[0].starts_with("You're next in the queue"),
        "{texts:?}"
    );
    clock(&app).advance(Duration::from_secs(60));
    let texts = teams_texts(&app, "conv-chatty", 2).await;
    assert!(texts[1].starts_with("Are you still there?"), "{texts:?}");
}
