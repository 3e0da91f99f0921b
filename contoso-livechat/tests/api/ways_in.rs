//! The ways in that a review from outside found (issue 21), each closed: every test here failed on
//! the code before it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use service_support::clock::Clock;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn a_request_naming_a_host_the_live_chat_does_not_serve_is_answered_421() {
    let app = spawn_app().await;
    let id = app.start_conversation("Megan").await;
    app.customer_says(&id, "my card number is in here").await;
    let client = reqwest::Client::new();
    let asked = |host: &'static str, route: String| {
        client
            .get(format!("{}{route}", app.address))
            .header("Host", host)
            .send()
    };
    // A page whose name re-resolved to 127.0.0.1 reads neither transcripts nor the sign-in page
    // (which shows the default password).
    for route in [
        format!("/api/chat/messages?conversationId={id}"),
        "/signin".to_owned(),
    ] {
        let answer = asked("rebind.attacker.example:5000", route.clone())
            .await
            .unwrap();
        assert_eq!(answer.status(), 421, "{route}");
        assert!(!answer.text().await.unwrap().contains("card number"));
        assert_eq!(
            asked("localhost:5000", route.clone())
                .await
                .unwrap()
                .status(),
            200,
            "{route}"
        );
    }
    let sent = client
        .post(format!("{}/api/chat/send", app.address))
        .header("Host", "rebind.attacker.example")
        .json(&json!({"conversationId": id, "message": "written by a web page"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 421);
    let transcript = app.transcript(&id).await;
    assert!(!transcript
        .iter()
        .any(|m| m["message"] == "written by a web page"));
}

#[tokio::test]
async fn the_session_api_refuses_what_a_web_page_can_send() {
    let app = spawn_app().await;
    let url = format!("{}/api/chat/start", app.address);
    let client = reqwest::Client::new();
    // A cross-site HTML form with enctype="text/plain" and no fields posts an empty text/plain body.
    let form = client
        .post(&url)
        .header("Content-Type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    // A bodiless no-cors fetch carries no type, but a browser names where it comes from.
    for (header, value) in [
        ("Origin", "https://attacker.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let fetched = client
            .post(&url)
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(fetched.status(), 403, "{header}");
    }
    assert!(app.conversations().await.is_empty(), "nothing was opened");
    // The original sample's bodiless start (a server, no type) still opens a conversation.
    let original = client.post(&url).send().await.unwrap();
    assert_eq!(original.status(), 200);
    assert_eq!(app.conversations().await.len(), 1);
}

#[tokio::test]
async fn during_a_rotation_both_api_keys_are_accepted_and_no_other() {
    let app = spawn_app_with(Options {
        api_key: true,
        previous_api_key: true,
        ..Options::default()
    })
    .await;
    let url = format!("{}/api/chat/start", app.address);
    let client = reqwest::Client::new();
    for (key, expected) in [
        (API_KEY, 200),
        (PREVIOUS_API_KEY, 200),
        ("another-key", 401),
        ("the-api-key-before-the-rotatio", 401),
    ] {
        let answer = client
            .post(&url)
            .bearer_auth(key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), expected, "{key}");
    }
}

#[tokio::test]
async fn a_live_update_stream_ends_when_its_sign_in_ends() {
    let app = spawn_app().await;
    let agent = app.signed_in_agent().await;
    let stream = agent.get("/agent/events").await;
    assert_eq!(stream.status(), 200);
    let mut chunks = stream.bytes_stream();
    let first = chunks.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("connected"));

    let signed_out = agent
        .post_form("/signout", &[("csrf_token", agent.csrf.as_str())])
        .await;
    assert_eq!(signed_out.status(), 303);
    // A conversation opened after the sign-out never reaches this stream: it ends (telling the
    // page to reload) by its next heartbeat at the latest.
    let id = app.start_conversation("After Signout").await;
    let mut seen = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = chunks.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream was still open 20 s after the sign-out: {seen}"
    );
    assert!(seen.contains("event: reload"), "{seen}");
    assert!(!seen.contains(&id), "{seen}");
}

#[tokio::test]
async fn failing_on_purpose_from_one_client_never_locks_the_agent_out_from_another() {
    let clock = Clock::paused();
    let app = spawn_app_with(Options {
        client_ip_header: Some("X-Forwarded-For"),
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let attempt = |from: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let client = browser(Arc::new(reqwest::cookie::Jar::default()));
            let csrf = app.sign_in_csrf(&client).await;
            client
                .post(format!("{}/signin", app.address))
                .header("X-Forwarded-For", format!("198.51.100.1, {from}"))
                .form(&[
                    ("username", AGENT_NAME),
                    ("password", password),
                    ("csrf_token", &csrf),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Behind one proxy, an attacker fails until the account is locked for them.
    for _ in 0..10 {
        clock.advance(Duration::from_secs(31));
        assert_eq!(attempt("203.0.113.9", "guess").await, 401);
    }
    assert_eq!(attempt("203.0.113.9", AGENT_PASSWORD).await, 429);
    // The agent, from their own address, is at most slowed a few seconds, then let in.
    clock.advance(Duration::from_secs(5));
    assert_eq!(attempt("10.0.0.7", AGENT_PASSWORD).await, 303);
    // The attacker's lock holds.
    assert_eq!(attempt("203.0.113.9", AGENT_PASSWORD).await, 429);
}

#[tokio::test]
async fn a_second_process_on_the_same_data_directory_refuses_to_start_naming_the_first() {
    let app = spawn_app().await;
    let mut settings = contoso_livechat::configuration::Settings::default();
    settings.application.bind = "127.0.0.1:0".parse().unwrap();
    settings.application.data_dir = app.data_dir.path().to_owned();
    let refused = match contoso_livechat::startup::Application::build(settings).await {
        Ok(_) => panic!("a second live chat started on the same data directory"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        refused.contains("is in use by Contoso Live Chat (process"),
        "{refused}"
    );
    assert!(refused.contains("LIVECHAT_DATA_DIR"), "{refused}");
    let app = app.restart().await;
    assert_eq!(app.availability().await["agentsOnline"], 0);
}

#[tokio::test]
async fn a_webhook_refused_for_its_time_is_retried_and_delivered_once_the_clocks_agree() {
    let webhook = Arc::new(MockServer::builder().start().await);
    // The skill's clock is off: it refuses the signature's time twice, then (clocks fixed) takes it.
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("X-Handover-Refusal", "stale-timestamp")
                .insert_header("Retry-After", "0"),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&webhook)
        .await;
    mount_webhook_ok(&webhook).await;
    let app = spawn_app_on(
        webhook.clone(),
        Options {
            webhook_secret: true,
            max_attempts: Some(4),
            ..Options::default()
        },
    )
    .await;
    let id = app.start_conversation("Megan").await;
    app.agent_sends(&id, "sent while the clocks differ").await;
    let bodies = eventually("the reply refused twice, then delivered", || async {
        let bodies: Vec<_> = all_webhook_bodies(&webhook)
            .await
            .into_iter()
            .filter(|body| body["message"] == "sent while the clocks differ")
            .collect();
        (bodies.len() >= 3).then_some(bodies)
    })
    .await;
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    eventually("the reply shows as delivered", || async {
        let transcript = app.transcript(&id).await;
        transcript
            .iter()
            .any(|m| {
                m["message"] == "sent while the clocks differ" && m["deliveryState"] == "delivered"
            })
            .then_some(())
    })
    .await;
}
