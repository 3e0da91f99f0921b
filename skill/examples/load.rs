//! A load run of the real skill against fake peers on loopback; prints figures, asserts nothing.
//!
//! `cargo run --release -p skill --example load -- [conversations] [messages per conversation]`
//! (with `SKILL_DATABASE_URL=postgres://...` to measure the PostgreSQL store; use an empty database).
//!
//! Three phases: open the sessions (`startConversation`, expectReplies), post the users' messages
//! (202 once stored), post the agents' replies to the webhook (200 once stored). For the last two it
//! also measures how long the outboxes take to deliver everything to the fake live chat and Teams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use skill::configuration::Settings;
use skill::startup::Application;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CONCURRENCY: usize = 32;

struct Start;
impl Respond for Start {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200)
            .set_body_json(json!({ "conversationId": uuid::Uuid::new_v4().to_string() }))
    }
}

fn summary(name: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
    };
    println!(
        "{name:<28} {:>6} requests in {:>7.2} s = {:>7.0}/s   p50 {:>6.2} ms   p95 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.5),
        at(0.95),
        at(0.99),
        at(1.0)
    );
}

async fn received(server: &MockServer, pattern: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().starts_with(pattern))
        .count()
}

async fn wait_for(server: &MockServer, pattern: &str, count: usize) -> Duration {
    let started = Instant::now();
    while received(server, pattern).await < count {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "deliveries did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let conversations = args.first().copied().unwrap_or(100);
    let per_conversation = args.get(1).copied().unwrap_or(10);

    let livechat = MockServer::start().await;
    let teams = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat/start"))
        .respond_with(Start)
        .mount(&livechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat/receive"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&livechat)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/v3/conversations/.+/activities$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "x"})))
        .mount(&teams)
        .await;

    let data = tempfile::tempdir().unwrap();
    let environment: HashMap<String, String> = [
        ("SKILL_BIND", "127.0.0.1:0".to_owned()),
        ("SKILL_DATA_DIR", data.path().display().to_string()),
        ("LIVECHAT_BASE_URL", livechat.uri()),
        ("TEAMS_SERVICE_URL", format!("{}/", teams.uri())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(
        std::env::var("SKILL_DATABASE_URL")
            .ok()
            .map(|url| ("SKILL_DATABASE_URL".to_owned(), url)),
    )
    .collect();
    let settings = Settings::load_from(None, &environment).unwrap();
    let pace = settings.delivery.conversation_interval_ms;
    let application = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", application.port());
    let handle = application.handle();
    let server = tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::new();
    println!("{conversations} conversations x {per_conversation} messages each way; {CONCURRENCY} concurrent clients; Teams pacing {pace} ms per conversation");

    let activity = |conversation: usize, fields: Value| {
        let mut activity = json!({
            "id": uuid::Uuid::new_v4().to_string(), "serviceUrl": "http://127.0.0.1:9/", "channelId": "msteams",
            "from": {"id": "29:u", "name": "User"}, "recipient": {"id": "skill"}, "conversation": {"id": format!("conv-{conversation}")}
        });
        for (key, value) in fields.as_object().unwrap() {
            activity[key] = value.clone();
        }
        activity
    };

    // Phase 1: open the sessions.
    let started = Instant::now();
    let results: Vec<(Duration, String)> = stream::iter(0..conversations)
        .map(|n| {
            let body = activity(n, json!({"type": "event", "name": "startConversation", "deliveryMode": "expectReplies"}));
            let (client, url) = (client.clone(), format!("{base}/api/messages"));
            async move {
                let sent = Instant::now();
                let reply: Value = client.post(url).json(&body).send().await.unwrap().json().await.unwrap();
                (sent.elapsed(), reply["activities"][0]["value"]["liveChatConversationId"].as_str().unwrap().to_owned())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    summary(
        "startConversation",
        results.iter().map(|(d, _)| *d).collect(),
        started.elapsed(),
    );
    let livechat_ids: Vec<String> = results.into_iter().map(|(_, id)| id).collect();

    // Phase 2: users' messages.
    let started = Instant::now();
    let latencies: Vec<Duration> =
        stream::iter((0..conversations).flat_map(|c| (0..per_conversation).map(move |m| (c, m))))
            .map(|(c, m)| {
                let body = activity(
                    c,
                    json!({"type": "message", "text": format!("message {m}")}),
                );
                let (client, url) = (client.clone(), format!("{base}/api/messages"));
                async move {
                    let sent = Instant::now();
                    assert_eq!(
                        client.post(url).json(&body).send().await.unwrap().status(),
                        202
                    );
                    sent.elapsed()
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
    let accepted = started.elapsed();
    summary("user message (202 stored)", latencies, accepted);
    let drained = wait_for(
        &livechat,
        "/api/chat/receive",
        conversations * per_conversation,
    )
    .await;
    println!(
        "  all {} forwarded to the live chat {:.2} s after the last 202",
        conversations * per_conversation,
        drained.as_secs_f64()
    );

    // Phase 3: agents' replies through the webhook.
    let started = Instant::now();
    let latencies: Vec<Duration> = stream::iter((0..conversations).flat_map(|c| (0..per_conversation).map(move |m| (c, m))))
        .map(|(c, m)| {
            let body = json!({"conversationId": livechat_ids[c], "id": format!("{c}-{m}"), "message": format!("reply {m}"), "sender": "Agent"});
            let (client, url) = (client.clone(), format!("{base}/api/livechat/messages"));
            async move {
                let sent = Instant::now();
                assert_eq!(client.post(url).json(&body).send().await.unwrap().status(), 200);
                sent.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    summary("agent reply (200 stored)", latencies, started.elapsed());
    let drained = wait_for(
        &teams,
        "/v3/conversations/",
        conversations * per_conversation,
    )
    .await;
    println!(
        "  all {} delivered to Teams {:.2} s after the last 200 (pacing alone needs {:.2} s per conversation)",
        conversations * per_conversation,
        drained.as_secs_f64(),
        (per_conversation.saturating_sub(1) as f64) * pace as f64 / 1000.0
    );

    handle.stop().await;
    server.await.unwrap().unwrap();
}
