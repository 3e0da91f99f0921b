//! Agent replies reach the skill's webhook: signed, in order, retried, once, across restarts.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn a_reply_is_delivered_with_a_stable_id() {
    let app = spawn_app().await;
    let id = app.start_conversation("Megan").await;
    let sent = app.agent_sends(&id, "Have you tried turning it off?").await;
    assert_eq!(sent["deliveryState"], "pending");
    let bodies = webhook_bodies(&app.webhook, 1).await;
    let body = &bodies[0];
    assert_eq!(body["conversationId"], id.as_str());
    assert_eq!(body["message"], "Have you tried turning it off?");
    assert_eq!(body["sender"], "Ann");
    assert_eq!(body["id"], sent["id"]);
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    eventually("the delivered state", || async {
        let transcript = app.transcript(&id).await;
        (transcript[0]["deliveryState"] == "delivered").then_some(())
    })
    .await;
}

#[tokio::test]
async fn webhooks_are_signed_as_the_skill_verifies_them() {
    let app = spawn_app_with(Options {
        webhook_secret: true,
        ..Options::default()
    })
    .await;
    let id = app.start_conversation("Megan").await;
    app.agent_sends(&id, "signed").await;
    webhook_bodies(&app.webhook, 1).await;
    let request = app.webhook.received_requests().await.unwrap().remove(0);
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    // The contract's verification, which the skill uses too, checks the live chat's signature.
    livechat_contract::signature::verify(
        WEBHOOK_SECRET.as_bytes(),
        header("x-handover-timestamp").as_deref(),
        header("x-handover-signature").as_deref(),
        &request.body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .unwrap();
}

#[tokio::test]
async fn replies_arrive_in_order() {
    let app = spawn_app().await;
    let id = app.start_conversation("Megan").await;
    for n in 0..10 {
        app.agent_sends(&id, &format!("reply {n}")).await;
    }
    let bodies = webhook_bodies(&app.webhook, 10).await;
    let texts: Vec<&str> = bodies
        .iter()
        .map(|b| b["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        (0..10)
            .map(|n| format!("reply {n}"))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn replies_wait_while_the_skill_is_down_and_are_delivered_once_it_is_up() {
    let app = spawn_app().await;
    app.webhook.reset().await;
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .mount(&app.webhook)
        .await;
    mount_webhook_ok(&app.webhook).await;
    let id = app.start_conversation("Megan").await;
    app.agent_sends(&id, "are you there?").await;
    let bodies = webhook_bodies(&app.webhook, 4).await;
    assert!(
        bodies.iter().all(|b| b["message"] == "are you there?"),
        "the same reply was retried"
    );
    let ids: Vec<&Value> = bodies.iter().map(|b| &b["id"]).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] == pair[1]),
        "with the same id"
    );
    eventually("the delivered state", || async {
        (app.transcript(&id).await[0]["deliveryState"] == "delivered").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_pending_reply_survives_a_restart_and_is_delivered_once() {
    let app = spawn_app().await;
    app.webhook.reset().await;
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(502))
        .mount(&app.webhook)
        .await;
    let id = app.start_conversation("Megan").await;
    app.agent_sends(&id, "before the restart").await;
    webhook_bodies(&app.webhook, 1).await;

    let webhook = app.webhook.clone();
    webhook.reset().await;
    let app = app.restart().await;
    // The webhook comes back only after the restart.
    mount_webhook_ok(&webhook).await;
    app.agent_sends(&id, "after the restart").await;
    let bodies = webhook_bodies(&webhook, 2).await;
    let texts: Vec<&str> = bodies
        .iter()
        .map(|b| b["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec!["before the restart", "after the restart"],
        "the pending reply went first, and once"
    );
}

#[tokio::test]
async fn a_refused_reply_is_marked_failed_and_the_agent_can_retry_it() {
    let app = spawn_app().await;
    app.webhook.reset().await;
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "unknown"})))
        .mount(&app.webhook)
        .await;
    let id = app.start_conversation("Megan").await;
    let sent = app.agent_sends(&id, "hello").await;
    let failed = eventually("the failed state", || async {
        let transcript = app.transcript(&id).await;
        (transcript[0]["deliveryState"] == "failed").then(|| transcript[0].clone())
    })
    .await;
    assert!(failed["lastError"].as_str().unwrap().contains("404"));
    assert_eq!(
        app.webhook.received_requests().await.unwrap().len(),
        1,
        "a refusal is not retried by itself"
    );

    app.webhook.reset().await;
    mount_webhook_ok(&app.webhook).await;
    let agent = app.signed_in_agent().await;
    let retried = agent
        .post_form(
            &format!("/agent/messages/{}/retry", sent["id"].as_str().unwrap()),
            &[("csrf_token", agent.csrf.as_str())],
        )
        .await;
    assert_eq!(retried.status(), 303);
    let bodies = webhook_bodies(&app.webhook, 1).await;
    assert_eq!(bodies[0]["id"], sent["id"]);
    eventually("the delivered state", || async {
        (app.transcript(&id).await[0]["deliveryState"] == "delivered").then_some(())
    })
    .await;
}

#[tokio::test]
async fn ending_from_the_page_tells_the_skill_after_the_pending_replies() {
    let app = spawn_app().await;
    let id = app.start_conversation("Megan").await;
    let agent = app.signed_in_agent().await;
    agent.accept(&id).await;
    let replied = agent.reply(&id, "Goodbye, Megan!").await;
    assert_eq!(replied.status(), 303);
    let ended = agent
        .post_form(
            &format!("/agent/conversations/{id}/end"),
            &[("csrf_token", agent.csrf.as_str())],
        )
        .await;
    assert_eq!(ended.status(), 303);

    let bodies = webhook_bodies(&app.webhook, 3).await;
    assert_eq!(bodies[0]["type"], "agentJoined", "joined before the reply");
    assert_eq!(bodies[0]["agentName"], AGENT_NAME);
    assert_eq!(bodies[1]["type"], "message");
    assert_eq!(
        bodies[1]["sender"], AGENT_NAME,
        "the sender is the signed-in agent"
    );
    assert_eq!(bodies[2]["type"], "conversationEnded");
    assert_eq!(bodies[2]["conversationId"], id.as_str());
    assert_eq!(
        app.customer_says(&id, "hello?").await.status(),
        409,
        "nothing can be sent to an ended conversation"
    );
}

#[tokio::test]
async fn metrics_count_requests_the_queue_the_agents_online_and_webhook_outcomes() {
    let app = spawn_app().await;
    let agent = app.signed_in_agent().await;
    let waiting = app.start_conversation("Waiting Customer").await;
    let answered = app.start_conversation("Answered Customer").await;
    agent.accept(&answered).await;
    app.agent_sends(&answered, "hello").await;
    eventually("the reply delivered", || async {
        (app.transcript(&answered)
            .await
            .iter()
            .any(|m| m["message"] == "hello" && m["deliveryState"] == "delivered"))
        .then_some(())
    })
    .await;
    let text = app
        .api
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "livechat_queue_length 1",
        "livechat_agents_online 1",
        r#"livechat_webhook_deliveries_total{kind="event",outcome="delivered"}"#,
        r#"livechat_http_request_duration_seconds_count{method="POST",route="/api/chat/start",status="200"} 2"#,
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
    assert!(!text.contains(&waiting), "no conversation id is a label");
}
