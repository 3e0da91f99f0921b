//! The skill actions: startConversation, sendMessage, endConversation, and everything else.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn start_conversation_opens_a_session_and_replies_with_its_id() {
    let app = spawn_app().await;
    let activity = app.start_activity("conv-start");

    let response = app.post_activity(&activity).await;
    assert_eq!(response.status(), 202);
    assert!(
        response.bytes().await.unwrap().is_empty(),
        "202 has an empty body"
    );

    let reply = app.reply_to(&activity).await;
    let starts = bodies_at(&app.peers.livechat, "/api/chat/start").await;
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0]["customerName"], "Megan Bowen");
    assert_eq!(starts[0]["customerId"], "aad-user-1");
    assert_eq!(starts[0]["channel"], "msteams");
    assert_eq!(starts[0]["tenantId"], TENANT_ID);
    assert_eq!(starts[0]["botConversationId"], "conv-start");

    assert_eq!(reply["type"], "endOfConversation");
    assert_eq!(reply["name"], "startConversation");
    assert_eq!(reply["code"], "completedSuccessfully");
    assert!(!reply["value"]["liveChatConversationId"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(reply["replyToId"], activity["id"]);
    assert_eq!(
        reply["from"]["id"], SKILL_APP_ID,
        "from and recipient are swapped"
    );
    assert_eq!(reply["recipient"]["id"], "29:user-1");
    assert_eq!(reply["conversation"]["id"], "conv-start");
    assert_eq!(reply["channelId"], "msteams");
    assert!(reply.get("deliveryMode").is_none());

    let path = format!(
        "/v3/conversations/conv-start/activities/{}",
        activity["id"].as_str().unwrap()
    );
    let request = requests_to(&app.peers.copilot, &path).await.remove(0);
    assert_eq!(
        authorization_of(&request),
        format!(
            "Bearer {}",
            issued_token(SKILL_APP_ID, &format!("{AGENT_APP_ID}/.default"))
        ),
        "replies are signed by the skill for the calling agent"
    );
}

#[tokio::test]
async fn a_second_start_reuses_the_open_session() {
    let app = spawn_app().await;
    let first = app.start_session("conv-dup").await;
    let again = app.start_session("conv-dup").await;
    assert_eq!(first, again);
    assert_eq!(
        bodies_at(&app.peers.livechat, "/api/chat/start")
            .await
            .len(),
        1,
        "one live session per conversation"
    );
}

#[tokio::test]
async fn concurrent_starts_open_one_session() {
    let app = spawn_app().await;
    let activities: Vec<Value> = (0..4).map(|_| app.start_activity("conv-race")).collect();
    let posts = activities
        .iter()
        .map(|activity| app.post_activity(activity));
    for response in futures_util::future::join_all(posts).await {
        assert_eq!(response.status(), 202);
    }
    let mut ids = Vec::new();
    for activity in &activities {
        let reply = app.reply_to(activity).await;
        assert_eq!(reply["code"], "completedSuccessfully", "{reply}");
        ids.push(
            reply["value"]["liveChatConversationId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every start got the same session: {ids:?}");
    assert_eq!(
        bodies_at(&app.peers.livechat, "/api/chat/start")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn start_when_the_live_chat_fails_replies_with_a_readable_failure() {
    let app = spawn_app().await;
    app.peers.livechat.reset().await;
    Mock::given(method("POST"))
        .and(path("/api/chat/start"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.peers.livechat)
        .await;

    let activity = app.start_activity("conv-down");
    assert_eq!(app.post_activity(&activity).await.status(), 202);
    let reply = app.reply_to(&activity).await;
    assert_eq!(reply["type"], "endOfConversation");
    assert_eq!(reply["value"]["Status"], "unavailable", "{reply}");
    assert!(
        reply["text"].as_str().unwrap().contains("live agent"),
        "{reply}"
    );

    // The failed session does not block a later attempt once the live chat is back.
    app.peers.livechat.reset().await;
    app.peers.mount_livechat_defaults().await;
    app.start_session("conv-down").await;
}

#[tokio::test]
async fn start_when_the_live_chat_is_slow_replies_with_a_failure_within_the_timeout() {
    let app = spawn_app_with(Options {
        livechat_timeout_ms: 300,
        ..Options::default()
    })
    .await;
    app.peers
        .slow_livechat_start("late", Duration::from_secs(5))
        .await;
    let activity = app.start_activity("conv-slow");
    assert_eq!(app.post_activity(&activity).await.status(), 202);
    let reply = app.reply_to(&activity).await;
    // A successful end the topic branches on, not the error topic.
    assert_eq!(reply["code"], "completedSuccessfully");
    assert_eq!(reply["value"]["Status"], "unavailable");
    assert_eq!(reply["value"]["liveChatConversationId"], "");
    assert!(!reply["text"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn messages_are_forwarded_in_order_with_the_problem_description_first_and_once() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-msg").await;

    let first = app.activity(
        "conv-msg",
        json!({"type": "message", "text": "My printer is on fire", "value": {"LiveChatConversationId": livechat_id, "ProblemDescription": "My printer is on fire"}}),
    );
    assert_eq!(app.post_activity(&first).await.status(), 202);
    let second = app.activity(
        "conv-msg",
        json!({"type": "message", "text": "Are you there?", "value": {"livechatconversationid": livechat_id, "problemdescription": "My printer is on fire"}}),
    );
    assert_eq!(app.post_activity(&second).await.status(), 202);
    assert_eq!(
        app.post_activity(&app.message_activity("conv-msg", "Hello?"))
            .await
            .status(),
        202
    );

    let received = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 3).await;
    let texts: Vec<&str> = received
        .iter()
        .map(|body| body["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec!["My printer is on fire", "Are you there?", "Hello?"]
    );
    for body in &received {
        assert_eq!(body["conversationId"], livechat_id.as_str());
        assert_eq!(body["sender"], "Megan Bowen");
        assert_eq!(body["role"], "customer");
    }
    // A message action sends nothing back: the action stays open. The only reply is the start's,
    // and the messages were stored (and so handled) before their 202.
    assert_eq!(
        app.peers.copilot.received_requests().await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn end_conversation_tells_the_agent_ends_the_session_and_replies() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-end").await;

    let end = app.end_activity("conv-end");
    assert_eq!(app.post_activity(&end).await.status(), 202);
    let reply = app.reply_to(&end).await;
    assert_eq!(reply["type"], "endOfConversation");
    assert_eq!(reply["name"], "endConversation");
    assert_eq!(reply["code"], "completedSuccessfully");

    let ends = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    assert_eq!(ends[0]["conversationId"], livechat_id.as_str());
    let notices = bodies_at(&app.peers.livechat, "/api/chat/receive").await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["sender"], "System");
    assert_eq!(
        notices[0]["role"], "system",
        "a system note says so explicitly"
    );
    assert!(notices[0]["message"]
        .as_str()
        .unwrap()
        .contains("customer has ended"));

    // Both directions of the mapping are closed: the agent can no longer reach Teams.
    let late = app
        .post_webhook(&TestApp::agent_message(
            &livechat_id,
            "late-1",
            "still there?",
        ))
        .await;
    assert_eq!(late.status(), 410);
    assert_silent(
        &app,
        &[&app.peers.teams],
        "nothing reaches Teams after the end",
    )
    .await;
}

#[tokio::test]
async fn end_of_conversation_from_copilot_studio_closes_the_session_without_a_reply() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-cancel").await;
    let cancel = app.activity(
        "conv-cancel",
        json!({"type": "endOfConversation", "code": "userCancelled"}),
    );
    assert_eq!(app.post_activity(&cancel).await.status(), 202);
    let ends = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    assert_eq!(ends[0]["conversationId"], livechat_id.as_str());
    assert_eq!(
        app.post_webhook(&TestApp::agent_message(&livechat_id, "m", "hi"))
            .await
            .status(),
        410
    );
    assert_eq!(
        app.peers.copilot.received_requests().await.unwrap().len(),
        1,
        "only the start was answered"
    );
}

#[tokio::test]
async fn the_registration_ping_gets_a_2xx_and_nothing_else() {
    let app = spawn_app().await;
    let ping = app.activity(
        "conv-ping",
        json!({"type": "endOfConversation", "name": "PVASkillImport"}),
    );
    let response = app.post_activity(&ping).await;
    assert!(response.status().is_success());
    assert_silent(
        &app,
        &[&app.peers.copilot, &app.peers.livechat],
        "nothing is sent",
    )
    .await;
}

#[tokio::test]
async fn expect_replies_answers_in_the_body_and_sends_nothing_by_callback() {
    let app = spawn_app().await;
    let mut activity = app.start_activity("conv-expect");
    activity["deliveryMode"] = json!("expectReplies");
    let response = app.post_activity(&activity).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let replies = body["activities"].as_array().unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["type"], "endOfConversation");
    assert_eq!(replies[0]["code"], "completedSuccessfully");
    assert!(!replies[0]["value"]["liveChatConversationId"]
        .as_str()
        .unwrap()
        .is_empty());

    let mut message = app.message_activity("conv-expect", "hello");
    message["deliveryMode"] = json!("expectReplies");
    let response = app.post_activity(&message).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["activities"],
        json!([])
    );
    wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert!(
        app.peers
            .copilot
            .received_requests()
            .await
            .unwrap()
            .is_empty(),
        "no callbacks in expectReplies mode"
    );
}

#[tokio::test]
async fn an_unknown_event_gets_a_failure_end_of_conversation() {
    let app = spawn_app().await;
    let activity = app.activity(
        "conv-unknown",
        json!({"type": "event", "name": "doSomethingElse"}),
    );
    assert_eq!(app.post_activity(&activity).await.status(), 202);
    let reply = app.reply_to(&activity).await;
    assert_eq!(reply["type"], "endOfConversation");
    assert_ne!(reply["code"], "completedSuccessfully");
    assert!(reply["text"].as_str().unwrap().contains("doSomethingElse"));
}

#[tokio::test]
async fn a_message_with_no_session_ends_the_action_with_a_readable_failure() {
    let app = spawn_app().await;
    let activity = app.message_activity("conv-none", "hello?");
    assert_eq!(app.post_activity(&activity).await.status(), 202);
    let reply = app.reply_to(&activity).await;
    assert_eq!(reply["type"], "endOfConversation");
    assert_ne!(reply["code"], "completedSuccessfully");
    assert!(reply["text"]
        .as_str()
        .unwrap()
        .contains("no live chat session"));
    assert!(app
        .peers
        .livechat
        .received_requests()
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn invoke_is_not_implemented() {
    let app = spawn_app().await;
    let activity = app.activity("conv-invoke", json!({"type": "invoke", "name": "anything"}));
    assert_eq!(app.post_activity(&activity).await.status(), 501);
}

#[tokio::test]
async fn bad_activities_get_a_clear_400_and_change_nothing() {
    let app = spawn_app().await;
    let valid = app.message_activity("conv-bad", "hi");
    let without = |field: &str| {
        let mut activity = valid.clone();
        activity.as_object_mut().unwrap().remove(field);
        activity
    };
    let with = |field: &str, value: Value| {
        let mut activity = valid.clone();
        activity[field] = value;
        activity
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no type", without("type"), "type"),
        (
            "no conversation",
            without("conversation"),
            "conversation.id",
        ),
        ("no channelId", without("channelId"), "channelId"),
        ("no from", without("from"), "from.id"),
        ("event without a name", with("type", json!("event")), "name"),
        ("no serviceUrl", without("serviceUrl"), "serviceUrl"),
        (
            "ftp serviceUrl",
            with("serviceUrl", json!("ftp://127.0.0.1/x")),
            "serviceUrl",
        ),
        (
            "untrusted serviceUrl",
            with("serviceUrl", json!("https://attacker.example/")),
            "SKILL_TRUSTED_HOSTS",
        ),
    ];
    for (description, activity, expected) in cases {
        let response = app.post_activity(&activity).await;
        assert_eq!(response.status(), 400, "{description}");
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{description}: {message}");
    }

    let malformed = app
        .client
        .post(format!("{}/api/messages", app.address))
        .header("Authorization", format!("Bearer {}", valid_token()))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    let huge = app.message_activity("conv-bad", &"x".repeat(300 * 1024));
    assert_eq!(app.post_activity(&huge).await.status(), 413);

    assert_silent(
        &app,
        &[&app.peers.livechat, &app.peers.copilot],
        "nothing is sent",
    )
    .await;
}

#[tokio::test]
async fn informational_activities_are_accepted_and_leave_the_session_alone() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-typing").await;
    let typing = app.activity("conv-typing", json!({"type": "typing"}));
    assert_eq!(app.post_activity(&typing).await.status(), 202);
    app.post_activity(&app.message_activity("conv-typing", "still here"))
        .await;
    let received = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(received[0]["conversationId"], livechat_id.as_str());
    assert_eq!(
        app.peers.copilot.received_requests().await.unwrap().len(),
        1,
        "typing was not answered"
    );
}

#[tokio::test]
async fn the_agent_ending_the_chat_notifies_the_user_and_hands_back_to_the_bot() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-agent-end").await;

    let ended = app
        .post_webhook(
            &json!({"type": "conversationEnded", "conversationId": livechat_id, "id": "end-1"}),
        )
        .await;
    assert_eq!(ended.status(), 200);
    let notices = wait_for_bodies(&app.peers.teams, &teams_path("conv-agent-end"), 1).await;
    assert!(notices[0]["text"]
        .as_str()
        .unwrap()
        .contains("closed the live chat"));

    // The next message routed to the skill ends the action, so the topic ends and the bot takes over.
    let next = app.message_activity("conv-agent-end", "hello?");
    assert_eq!(app.post_activity(&next).await.status(), 202);
    let reply = app.reply_to(&next).await;
    assert_eq!(reply["type"], "endOfConversation");
    assert_eq!(reply["code"], "completedSuccessfully");
    assert!(reply["text"]
        .as_str()
        .unwrap()
        .contains("back with the Contoso agent"));
    assert!(
        bodies_at(&app.peers.livechat, "/api/chat/receive")
            .await
            .is_empty(),
        "nothing was forwarded"
    );

    // Repeating the end is harmless; a new start opens a new session.
    let again = app
        .post_webhook(
            &json!({"type": "conversationEnded", "conversationId": livechat_id, "id": "end-1"}),
        )
        .await;
    assert_eq!(again.status(), 200);
    let new_id = app.start_session("conv-agent-end").await;
    assert_ne!(new_id, livechat_id);
}

#[tokio::test]
async fn the_live_chat_api_key_is_sent_as_a_bearer_token() {
    let app = spawn_app_with(Options {
        livechat_api_key: Some("livechat-key-1"),
        ..Options::default()
    })
    .await;
    app.start_session("conv-key").await;
    app.post_activity(&app.message_activity("conv-key", "hi"))
        .await;
    wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    let requests = app.peers.livechat.received_requests().await.unwrap();
    let paths: Vec<&str> = requests.iter().map(|request| request.url.path()).collect();
    assert_eq!(
        paths,
        [
            "/api/chat/availability",
            "/api/chat/start",
            "/api/chat/receive"
        ]
    );
    for request in &requests {
        assert_eq!(
            authorization_of(request),
            "Bearer livechat-key-1",
            "{}",
            request.url.path()
        );
    }
}

#[tokio::test]
async fn sdk_hosts_new_conversation_ids_are_tied_together_by_relates_to() {
    let app = spawn_app().await;
    // Bot Framework SDK hosts post every invocation on a new conversation id, relating it to the original.
    let related = |kind: Value| {
        let mut activity = app.activity(&format!("skill-conv-{}", uuid::Uuid::new_v4()), kind);
        activity["relatesTo"] = json!({"conversation": {"id": "a:original-teams-conversation"}, "bot": null, "serviceUrl": "https://smba.trafficmanager.net/teams/"});
        activity
    };
    let start = related(json!({"type": "event", "name": "startConversation"}));
    app.post_activity(&start).await;
    let livechat_id = app.reply_to(&start).await["value"]["liveChatConversationId"]
        .as_str()
        .unwrap()
        .to_owned();

    let again = related(json!({"type": "event", "name": "startConversation"}));
    app.post_activity(&again).await;
    assert_eq!(
        app.reply_to(&again).await["value"]["liveChatConversationId"],
        livechat_id.as_str(),
        "one live session per original conversation"
    );

    let message = related(json!({"type": "message", "text": "no inputs, new conversation id"}));
    assert_eq!(app.post_activity(&message).await.status(), 202);
    let forwarded = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(forwarded[0]["conversationId"], livechat_id.as_str());

    let end = related(json!({"type": "event", "name": "endConversation"}));
    app.post_activity(&end).await;
    assert_eq!(app.reply_to(&end).await["code"], "completedSuccessfully");
    let ends = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    assert_eq!(ends[0]["conversationId"], livechat_id.as_str());
    assert_eq!(
        bodies_at(&app.peers.livechat, "/api/chat/start")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn service_urls_with_a_query_fragment_or_user_info_are_refused() {
    let app = spawn_app().await;
    let base = app.service_url();
    for (n, bad) in [
        format!("{base}/?x="),
        format!("{base}/#fragment"),
        base.replace("http://", "http://user:password@"),
        "not a url".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut activity = app.start_activity(&format!("conv-bad-url-{n}"));
        activity["serviceUrl"] = json!(bad);
        let response = app.post_activity(&activity).await;
        assert_eq!(response.status(), 400, "{bad}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("serviceUrl"),
            "{bad}: {error}"
        );
    }
    // The marker: a good start reaches the live chat; none of the refused ones did.
    app.start_session("conv-good-url").await;
    let starts = requests_to(&app.peers.livechat, "/api/chat/start").await;
    assert_eq!(starts.len(), 1);
}

#[tokio::test]
async fn bodies_not_declared_as_json_are_answered_415() {
    let app = spawn_app().await;
    let activity = app.start_activity("conv-form").to_string();
    for (route, content_type) in [
        ("/api/messages", Some("text/plain")),
        ("/api/messages", Some("application/x-www-form-urlencoded")),
        ("/api/messages", None),
        ("/api/livechat/messages", Some("text/plain")),
        (
            "/api/livechat/messages",
            Some("multipart/form-data; boundary=x"),
        ),
    ] {
        let mut request = app
            .client
            .post(format!("{}{route}", app.address))
            .header("Authorization", format!("Bearer {}", valid_token()))
            .body(activity.clone());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{route} {content_type:?}");
        let error: Value = response.json().await.unwrap();
        if route == "/api/messages" {
            // The Bot Framework's ErrorResponse, which Microsoft's SDKs read.
            assert_eq!(error["error"]["code"], "UnsupportedMediaType");
        } else {
            // The live-chat contract's error answer.
            let message = error["error"].as_str().unwrap_or_default();
            assert!(message.contains("JSON"), "{route}: {error}");
        }
    }
    app.start_session("conv-json").await;
    let starts = requests_to(&app.peers.livechat, "/api/chat/start").await;
    assert_eq!(starts.len(), 1, "only the JSON start reached the live chat");
}

#[tokio::test]
async fn a_message_the_live_chat_refuses_is_reported_to_the_customer() {
    let app = spawn_app().await;
    app.start_session("conv-refused").await;
    Mock::given(method("POST"))
        .and(path("/api/chat/receive"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "message contains a forbidden word" })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.peers.livechat)
        .await;
    let message = app.message_activity("conv-refused", "refused text");
    assert_eq!(app.post_activity(&message).await.status(), 202);

    let teams = teams_path("conv-refused");
    let notices = wait_for_bodies(&app.peers.teams, &teams, 1).await;
    let notice = notices[0]["text"].as_str().unwrap();
    assert!(
        notice.contains("Your message could not be delivered to the agent")
            && notice.contains("forbidden word"),
        "{notice}"
    );
    assert_eq!(
        bodies_at(&app.peers.livechat, "/api/chat/receive")
            .await
            .len(),
        1,
        "a refusal is final: not retried"
    );
}

#[tokio::test]
async fn a_message_longer_than_the_live_chat_takes_is_refused_up_front() {
    let app = spawn_app().await;
    app.start_session("conv-long").await;
    let long = app.message_activity("conv-long", &"x".repeat(10_001));
    assert_eq!(app.post_activity(&long).await.status(), 202);
    let notices = wait_for_bodies(&app.peers.teams, &teams_path("conv-long"), 1).await;
    assert!(notices[0]["text"]
        .as_str()
        .unwrap()
        .contains("longer than 10000 characters"));
    // The marker: a short message after it reaches the live chat, and is the only one there.
    let short = app.message_activity("conv-long", "short");
    assert_eq!(app.post_activity(&short).await.status(), 202);
    let forwarded = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0]["message"], "short");
}

#[tokio::test]
async fn a_client_that_trickles_its_body_is_cut_off() {
    let app = spawn_app().await;
    // The deadline is 2 s in the tests.
    let answer = test_support::trickle_body(
        &app.address,
        "POST /api/livechat/messages",
        "application/json",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_card_number_is_masked_before_the_skill_stores_it_for_the_live_chat() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-card").await;
    let message = app.activity(
        "conv-card",
        json!({"type": "message", "text": "pay with 4111-1111-1111-1111 please, order 4111111111111112", "value": {"LiveChatConversationId": livechat_id, "ProblemDescription": "refund 5500 0055 5555 5559"}}),
    );
    assert_eq!(app.post_activity(&message).await.status(), 202);
    let received = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 2).await;
    let texts: Vec<&str> = received
        .iter()
        .map(|body| body["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec![
            "refund [card number removed]",
            "pay with [card number removed] please, order 4111111111111112"
        ]
    );
    // Nothing of the originals in the skill's database either.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(app.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            stored.extend(std::fs::read(path).unwrap());
        }
    }
    for original in ["4111-1111-1111-1111", "5500 0055 5555 5559"] {
        assert!(
            !stored
                .windows(original.len())
                .any(|w| w == original.as_bytes()),
            "the skill's database holds {original}"
        );
    }
}
