//! Outages: while the live chat is down the customer's messages wait, in order, and the customer
//! is told once per outage, not once per message; when it is back they all arrive, in order. The
//! same for the agent's replies while Teams refuses them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::*;
use test_support::eventually_within;

/// A peer's route, down (503) while the switch is on. (A scoped mock ahead of the
/// defaults is not used: wiremock 0.6 may take the wrong one out of scope once priorities sort
/// them.)
struct Switchable(Arc<AtomicBool>);

impl Respond for Switchable {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.load(Ordering::SeqCst) {
            ResponseTemplate::new(503)
        } else {
            ResponseTemplate::new(200).set_body_json(json!({}))
        }
    }
}

/// The texts the live chat took, in order (the head of an outage is tried many times).
async fn texts_at_livechat(app: &TestApp) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    for request in requests_to(&app.peers.livechat, "/api/chat/receive").await {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if let Some(text) = body["message"].as_str() {
            if texts.last().map(String::as_str) != Some(text) {
                texts.push(text.to_owned());
            }
        }
    }
    texts
}

/// Notices of a delay the customer got.
async fn delay_notices(app: &TestApp, conversation: &str) -> usize {
    bodies_at(&app.peers.teams, &teams_path(conversation))
        .await
        .iter()
        .filter(|body| {
            body["text"]
                .as_str()
                .is_some_and(|text| text.contains("can't be reached right now"))
        })
        .count()
}

#[tokio::test]
async fn an_outage_is_told_to_the_customer_once_and_its_backlog_arrives_in_order() {
    let app = spawn_app().await;
    let conversation = "conv-outage";
    app.start_session(conversation).await;
    let down = Arc::new(AtomicBool::new(false));
    Mock::given(method("POST"))
        .and(path("/api/chat/receive"))
        .respond_with(Switchable(down.clone()))
        .with_priority(1)
        .mount(&app.peers.livechat)
        .await;
    for round in 0..2 {
        down.store(true, Ordering::SeqCst);
        let tried_before = requests_to(&app.peers.livechat, "/api/chat/receive")
            .await
            .len();
        for n in 0..4 {
            let message = app.message_activity(conversation, &format!("round {round} message {n}"));
            assert_eq!(app.post_activity(&message).await.status(), 202);
        }
        eventually("the customer told of the delay", || async {
            (delay_notices(&app, conversation).await == round + 1).then_some(())
        })
        .await;
        // Well past the notice: the head keeps failing (a later marker than the notice).
        eventually_within(Duration::from_secs(20), "more failed attempts", || async {
            let tried = requests_to(&app.peers.livechat, "/api/chat/receive")
                .await
                .len();
            (tried >= tried_before + 5).then_some(())
        })
        .await;
        down.store(false, Ordering::SeqCst);
        let expected: Vec<String> = (0..4)
            .map(|n| format!("round {round} message {n}"))
            .collect();
        eventually_within(
            Duration::from_secs(20),
            "the backlog at the live chat",
            || async {
                let texts = texts_at_livechat(&app).await;
                (texts.len() >= 4 * (round + 1)).then_some(())
            },
        )
        .await;
        let texts = texts_at_livechat(&app).await;
        assert_eq!(texts[4 * round..], expected[..]);
        assert_eq!(
            delay_notices(&app, conversation).await,
            round + 1,
            "one notice per outage"
        );
    }
}

#[tokio::test]
async fn while_teams_refuses_the_agent_is_told_once_and_the_replies_arrive_in_order_after() {
    let app = spawn_app().await;
    let conversation = "conv-teams-down";
    let livechat = app.start_session(conversation).await;
    let down = Arc::new(AtomicBool::new(true));
    Mock::given(method("POST"))
        .and(path(teams_path(conversation)))
        .respond_with(Switchable(down.clone()))
        .with_priority(1)
        .mount(&app.peers.teams)
        .await;
    for n in 0..3 {
        let reply = TestApp::agent_message(&livechat, &format!("down-{n}"), &format!("reply {n}"));
        assert_eq!(app.post_webhook(&reply).await.status(), 200);
    }
    let told = || async {
        texts_at_livechat(&app)
            .await
            .iter()
            .filter(|text| text.contains("Teams isn't taking messages"))
            .count()
    };
    eventually("the agent told of the delay", || async {
        (told().await == 1).then_some(())
    })
    .await;
    let tried_before = requests_to(&app.peers.teams, &teams_path(conversation))
        .await
        .len();
    eventually_within(Duration::from_secs(20), "more failed attempts", || async {
        let tried = requests_to(&app.peers.teams, &teams_path(conversation))
            .await
            .len();
        (tried >= tried_before + 3).then_some(())
    })
    .await;
    down.store(false, Ordering::SeqCst);
    let texts = eventually_within(Duration::from_secs(20), "the replies in Teams", || async {
        let texts = agent_texts_in_teams(&app, conversation).await;
        (texts.len() >= 3).then_some(texts)
    })
    .await;
    let expected: Vec<String> = (0..3)
        .map(|n| format!("**Ann Agent**: reply {n}"))
        .collect();
    assert_eq!(texts, expected);
    assert_eq!(told().await, 1, "one notice for the outage");
}
