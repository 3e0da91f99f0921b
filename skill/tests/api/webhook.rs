//! The live chat's webhook: agent replies into Teams, signatures, idempotency, order and retries.

use std::time::Duration;

use livechat_contract::signature;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn an_agent_reply_reaches_teams_as_a_proactive_message() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-reply").await;

    let response = app
        .post_webhook(&TestApp::agent_message(
            &livechat_id,
            "msg-1",
            "Try *turning* it <b>off</b>",
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "accepted"
    );

    let path = teams_path("conv-reply");
    let sent = wait_for_bodies(&app.peers.teams, &path, 1).await;
    let activity = &sent[0];
    assert_eq!(activity["type"], "message");
    assert_eq!(activity["textFormat"], "markdown");
    assert_eq!(
        activity["text"],
        "**Ann Agent**: Try \\*turning\\* it &lt;b&gt;off&lt;/b&gt;"
    );
    assert_eq!(activity["from"]["id"], format!("28:{AGENT_APP_ID}"));
    assert_eq!(activity["recipient"]["id"], "29:user-1");
    assert_eq!(activity["conversation"]["id"], "conv-reply");
    assert_eq!(activity["channelId"], "msteams");
    assert!(
        activity.get("replyToId").is_none(),
        "SendToConversation, not a reply"
    );
    let request = requests_to(&app.peers.teams, &path).await.remove(0);
    assert_eq!(
        authorization_of(&request),
        format!(
            "Bearer {}",
            issued_token(AGENT_APP_ID, "https://api.botframework.com/.default")
        ),
        "signed by the agent's registration for Bot Framework"
    );
}

#[tokio::test]
async fn a_repeated_webhook_is_sent_once() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-idem").await;
    let message = TestApp::agent_message(&livechat_id, "msg-same", "only once");
    assert_eq!(app.post_webhook(&message).await.status(), 200);
    let repeat = app.post_webhook(&message).await;
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.json::<Value>().await.unwrap()["status"], "duplicate");
    // A later message marks the point by which a second copy would have been sent (order holds).
    app.post_webhook(&TestApp::agent_message(&livechat_id, "msg-next", "next"))
        .await;
    // A second copy would have been queued, and so sent, before "next".
    let sent = wait_for_bodies(&app.peers.teams, &teams_path("conv-idem"), 2).await;
    assert!(
        sent[0]["text"].as_str().unwrap().ends_with("only once"),
        "{sent:?}"
    );
    assert!(
        sent[1]["text"].as_str().unwrap().ends_with("next"),
        "{sent:?}"
    );
}

#[tokio::test]
async fn replies_keep_their_order_within_a_conversation() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-order").await;
    for n in 0..12 {
        let response = app
            .post_webhook(&TestApp::agent_message(
                &livechat_id,
                &format!("m-{n}"),
                &format!("message {n}"),
            ))
            .await;
        assert_eq!(response.status(), 200);
    }
    let sent = wait_for_bodies(&app.peers.teams, &teams_path("conv-order"), 12).await;
    let texts: Vec<String> = sent
        .iter()
        .map(|body| body["text"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..12)
        .map(|n| format!("**Ann Agent**: message {n}"))
        .collect();
    assert_eq!(texts, expected);
}

#[tokio::test]
async fn a_429_is_retried_after_the_retry_after_delay() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-429").await;
    let path_429 = teams_path("conv-429");
    Mock::given(method("POST"))
        .and(path(path_429.as_str()))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.peers.teams)
        .await;

    let posted = std::time::Instant::now();
    app.post_webhook(&TestApp::agent_message(
        &livechat_id,
        "m-429",
        "after a pause",
    ))
    .await;
    let attempts = eventually("two attempts at Teams", || async {
        let requests = requests_to(&app.peers.teams, &path_429).await;
        (requests.len() >= 2).then_some(requests)
    })
    .await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        attempts[0].body, attempts[1].body,
        "the same message was sent again"
    );
    // The test backoff is 50 ms, so a second attempt a second later means Retry-After was honoured.
    assert!(
        posted.elapsed() >= Duration::from_millis(900),
        "retried after {:?}",
        posted.elapsed()
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"handover_deliveries_total{lane="teams",outcome="retried",hub="contoso"} 1"#
        ),
        "{metrics}"
    );
    eventually("the delivered count", || async {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        metrics
            .contains(
                r#"handover_deliveries_total{lane="teams",outcome="delivered",hub="contoso"} 1"#,
            )
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_blocked_user_is_reported_back_to_the_agent() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-blocked").await;
    Mock::given(method("POST"))
        .and(path(teams_path("conv-blocked").as_str()))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"error": {"code": "Forbidden", "message": "MessageWritesBlocked"}}),
        ))
        .with_priority(1)
        .mount(&app.peers.teams)
        .await;
    app.post_webhook(&TestApp::agent_message(&livechat_id, "m-blocked", "hello"))
        .await;
    let notices = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(notices[0]["conversationId"], livechat_id.as_str());
    assert_eq!(notices[0]["sender"], "System");
    assert_eq!(notices[0]["role"], "system");
    assert!(
        notices[0]["message"].as_str().unwrap().contains("blocked"),
        "{}",
        notices[0]
    );
    assert_eq!(
        requests_to(&app.peers.teams, &teams_path("conv-blocked"))
            .await
            .len(),
        1,
        "a final failure is not retried"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"handover_deliveries_total{lane="teams",outcome="failed",hub="contoso"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_webhooks_get_clear_errors() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-badhook").await;
    let cases = vec![
        (
            "unknown conversation",
            TestApp::agent_message("no-such-chat", "m1", "hi"),
            404,
        ),
        (
            "no id",
            json!({"conversationId": livechat_id, "message": "hi"}),
            400,
        ),
        ("no conversation", json!({"id": "m2", "message": "hi"}), 400),
        (
            "empty message",
            TestApp::agent_message(&livechat_id, "m3", "  "),
            400,
        ),
        (
            "unknown type",
            json!({"type": "poke", "conversationId": livechat_id, "id": "m4"}),
            400,
        ),
    ];
    for (description, body, status) in cases {
        let response = app.post_webhook(&body).await;
        assert_eq!(response.status(), status, "{description}");
        // The contract's error answer, `{"error": "..."}`, saying why.
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().is_some_and(|why| !why.is_empty()),
            "{description}: {error}"
        );
    }
    let malformed = app.post_webhook_text("{oops".to_owned()).await;
    assert_eq!(malformed.status(), 400);
    let huge = TestApp::agent_message(&livechat_id, "m5", &"y".repeat(70 * 1024));
    assert_eq!(app.post_webhook(&huge).await.status(), 413);
    assert_silent(&app, &[&app.peers.teams], "nothing is sent").await;
}

#[tokio::test]
async fn signed_webhooks_need_a_fresh_valid_signature() {
    let app = spawn_app_with(Options {
        webhook_secret: true,
        previous_webhook_secret: Some("the-secret-before-the-rotation"),
        ..Options::default()
    })
    .await;
    let livechat_id = app.start_session("conv-signed").await;
    let url = format!("{}/api/livechat/messages", app.address);
    let secret = WEBHOOK_SECRET.as_bytes();
    let now = chrono::Utc::now().timestamp();
    let body = TestApp::agent_message(&livechat_id, "sig-1", "signed").to_string();

    let post = |timestamp: Option<String>, signature: Option<String>| {
        let mut request = app
            .client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body.clone());
        if let Some(timestamp) = timestamp {
            request = request.header(signature::TIMESTAMP_HEADER, timestamp);
        }
        if let Some(signature) = signature {
            request = request.header(signature::SIGNATURE_HEADER, signature);
        }
        request.send()
    };
    let cases = vec![
        ("unsigned", None, None),
        ("no signature", Some(now.to_string()), None),
        (
            "wrong secret",
            Some(now.to_string()),
            Some(signature::sign(b"guess", now, body.as_bytes()).unwrap()),
        ),
        (
            "signature of another body",
            Some(now.to_string()),
            Some(signature::sign(secret, now, b"{}").unwrap()),
        ),
        (
            "replayed after six minutes",
            Some((now - 360).to_string()),
            Some(signature::sign(secret, now - 360, body.as_bytes()).unwrap()),
        ),
        (
            "from the future",
            Some((now + 360).to_string()),
            Some(signature::sign(secret, now + 360, body.as_bytes()).unwrap()),
        ),
    ];
    for (description, timestamp, signature) in cases {
        let answer = post(timestamp, signature).await.unwrap();
        let refusal = answer
            .headers()
            .get(signature::REFUSAL_HEADER)
            .map(|value| value.to_str().unwrap().to_owned());
        // Only the time is wrong: 503, marked, so the live chat retries and says the clocks
        // differ; a wrong or missing key is final.
        let for_its_time =
            description == "replayed after six minutes" || description == "from the future";
        if for_its_time {
            assert_eq!(answer.status(), 503, "{description}");
            assert_eq!(
                refusal.as_deref(),
                Some(signature::STALE_TIMESTAMP),
                "{description}"
            );
            assert!(
                answer.headers().get("Retry-After").is_some(),
                "{description}"
            );
        } else {
            assert_eq!(answer.status(), 401, "{description}");
            assert_eq!(refusal, None, "{description}");
        }
    }
    let good = post(
        Some(now.to_string()),
        Some(signature::sign(secret, now, body.as_bytes()).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(good.status(), 200);
    // During a rotation the live chat may still sign with the previous secret.
    let body =
        TestApp::agent_message(&livechat_id, "sig-2", "signed with the old secret").to_string();
    let old = app
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .header(signature::TIMESTAMP_HEADER, now.to_string())
        .header(
            signature::SIGNATURE_HEADER,
            signature::sign(b"the-secret-before-the-rotation", now, body.as_bytes()).unwrap(),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 200);
    // The refused requests were answered before anything was stored, so only these are sent.
    let sent = wait_for_bodies(&app.peers.teams, &teams_path("conv-signed"), 2).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
}
