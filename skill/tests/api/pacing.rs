//! Teams' rate windows: a fake Teams that enforces its windows exactly (written apart from the
//! skill's pacing, in `test-support`) answers no 429 to the skill, whose typing indicator is dropped
//! rather than late when its window is full, nor to two instances sharing a database; a Teams
//! tighter than the skill's settings is still honoured, message by message, in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::eventually_within;
use test_support::teams_limits::TeamsLimits;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::*;

/// Answers as Teams does under its windows: 429 with `Retry-After` when a send does not fit.
struct WindowedTeams(Arc<TeamsLimits>);

impl Respond for WindowedTeams {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let conversation = body["conversation"]["id"].as_str().unwrap_or_default();
        let tenant = body["conversation"]["tenantId"]
            .as_str()
            .unwrap_or_default();
        match self.0.arrive(conversation, tenant, Instant::now()) {
            Ok(()) => ResponseTemplate::new(200).set_body_json(json!({"id": "sent"})),
            Err(wait) => ResponseTemplate::new(429)
                .insert_header("Retry-After", wait.as_secs().max(1).to_string().as_str()),
        }
    }
}

async fn windowed_teams(app: &TestApp, limits: TeamsLimits) -> Arc<TeamsLimits> {
    let limits = Arc::new(limits);
    Mock::given(method("POST"))
        .and(path_regex(r"^/v3/conversations/[^/]+/activities$"))
        .respond_with(WindowedTeams(limits.clone()))
        .with_priority(1)
        .mount(&app.peers.teams)
        .await;
    limits
}

fn ms(windows: &[(u64, u32)]) -> Vec<(Duration, u32)> {
    windows
        .iter()
        .map(|&(length, sends)| (Duration::from_millis(length), sends))
        .collect()
}

async fn post_replies(app: &TestApp, conversations: &[(String, String)], count: usize) {
    post_replies_to(&[app], conversations, count).await;
}

/// Posts each reply to the next of `apps` in turn, as a load balancer spreads them.
async fn post_replies_to(apps: &[&TestApp], conversations: &[(String, String)], count: usize) {
    let mut next = apps.iter().cycle();
    for n in 0..count {
        for (name, livechat) in conversations {
            let reply =
                TestApp::agent_message(livechat, &format!("{name}-{n}"), &format!("reply {n}"));
            let app = next.next().unwrap();
            assert_eq!(app.post_webhook(&reply).await.status(), 200);
        }
    }
}

async fn sessions(app: &TestApp, names: &[&str]) -> Vec<(String, String)> {
    let mut opened = Vec::new();
    for name in names {
        opened.push((name.to_string(), app.start_session(name).await));
    }
    opened
}

fn expected(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("**Ann Agent**: reply {n}"))
        .collect()
}

#[tokio::test]
async fn replies_to_conversations_of_one_tenant_fit_teams_windows_and_draw_no_429() {
    let (conversation, tenant) = (vec![(300, 3), (600, 4)], vec![(300, 5)]);
    let app = spawn_app_with(Options {
        teams_windows: Some((conversation.clone(), tenant.clone())),
        ..Options::default()
    })
    .await;
    let names = ["pace-a", "pace-b", "pace-c", "pace-d"];
    let opened = sessions(&app, &names).await;
    let limits = windowed_teams(&app, TeamsLimits::new(ms(&conversation), ms(&tenant))).await;
    post_replies(&app, &opened, 10).await;
    for name in names {
        let texts = eventually_within(Duration::from_secs(30), "every reply in Teams", || async {
            let texts = agent_texts_in_teams(&app, name).await;
            (texts.len() >= 10).then_some(texts)
        })
        .await;
        assert_eq!(texts, expected(10), "{name}");
    }
    assert_eq!(limits.throttled(), 0, "a 429 from Teams' windows");
}

#[tokio::test]
async fn two_instances_on_one_database_share_the_windows_and_draw_no_429() {
    let database = crate::databases::TestDatabase::create().await;
    let (conversation, tenant) = (vec![(300, 3), (600, 4)], vec![(300, 5)]);
    let first = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        teams_windows: Some((conversation.clone(), tenant.clone())),
        ..Options::default()
    })
    .await;
    let second = spawn_another_instance(&first).await;
    let names = ["shared-a", "shared-b", "shared-c", "shared-d"];
    let opened = sessions(&first, &names).await;
    // One Teams for both: each instance alone fits the windows, together they would not.
    let limits = windowed_teams(&first, TeamsLimits::new(ms(&conversation), ms(&tenant))).await;
    post_replies_to(&[&first, &second], &opened, 10).await;
    for name in names {
        let texts = eventually_within(Duration::from_secs(60), "every reply in Teams", || async {
            let texts = agent_texts_in_teams(&first, name).await;
            (texts.len() >= 10).then_some(texts)
        })
        .await;
        assert_eq!(texts, expected(10), "{name}");
    }
    assert_eq!(limits.throttled(), 0, "a 429 from Teams' windows");
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_teams_tighter_than_the_settings_is_honoured_in_order() {
    // The skill believes 3 per 300 ms; this Teams allows 1 (another bot in the chat, say).
    let app = spawn_app_with(Options {
        teams_windows: Some((vec![(300, 3)], vec![])),
        ..Options::default()
    })
    .await;
    let opened = sessions(&app, &["tight"]).await;
    let limits = windowed_teams(&app, TeamsLimits::new(ms(&[(300, 1)]), vec![])).await;
    post_replies(&app, &opened, 6).await;
    let texts = eventually_within(Duration::from_secs(30), "every reply in Teams", || async {
        let texts = agent_texts_in_teams(&app, "tight").await;
        (texts.len() >= 6).then_some(texts)
    })
    .await;
    assert_eq!(texts, expected(6));
    assert!(
        limits.throttled() > 0,
        "this Teams is tighter than the skill's windows"
    );
}

#[tokio::test]
async fn typing_without_room_in_its_window_is_dropped_not_delayed() {
    let app = spawn_app_with(Options {
        teams_windows: Some((vec![(60_000, 2)], vec![])),
        ..Options::default()
    })
    .await;
    let opened = sessions(&app, &["typing-full"]).await;
    let limits = windowed_teams(&app, TeamsLimits::new(ms(&[(60_000, 2)]), vec![])).await;
    post_replies(&app, &opened, 2).await;
    eventually("both replies in Teams", || async {
        (agent_texts_in_teams(&app, "typing-full").await.len() == 2).then_some(())
    })
    .await;
    let typing = json!({"type": "typing", "conversationId": opened[0].1, "sender": "Ann", "timestamp": chrono::Utc::now().to_rfc3339()});
    let answer = app.post_webhook(&typing).await;
    assert_eq!(answer.json::<Value>().await.unwrap()["status"], "accepted");
    eventually("the typing dropped for want of room", || async {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        metrics
            .lines()
            .any(|line| {
                line.starts_with("handover_typing_total")
                    && line.contains(r#"outcome="no_room""#)
                    && line.ends_with(" 1")
            })
            .then_some(())
    })
    .await;
    let bodies = bodies_at(&app.peers.teams, &teams_path("typing-full")).await;
    assert!(
        bodies.iter().all(|body| body["type"] != "typing"),
        "{bodies:?}"
    );
    assert_eq!(limits.throttled(), 0);
}
