//! Sign-in, CSRF, the pages' content (escaped), and the live event stream.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn signed_out_visitors_only_see_the_sign_in_page() {
    let app = spawn_app().await;
    let id = app.start_conversation("Megan").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for route in [
        "/",
        "/agent",
        &format!("/agent/conversations/{id}"),
        "/agent/events",
    ] {
        let response = client
            .get(format!("{}{route}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{route}");
        assert_eq!(response.headers()["location"], "/signin", "{route}");
    }
    let post = client
        .post(format!("{}/agent/conversations/{id}/messages", app.address))
        .form(&[("message", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 303);
    assert!(app.transcript(&id).await.is_empty());
    let page = client
        .get(format!("{}/signin", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_right_one_signs_in() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = test_support::page(&client, &format!("{}/signin", app.address)).await;
    assert!(
        !page.contains("contoso-demo"),
        "the default agent is not advertised when agents are configured"
    );
    let csrf = csrf_in(&page);
    let wrong = client
        .post(format!("{}/signin", app.address))
        .form(&[
            ("username", AGENT_NAME),
            ("password", "nope"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("Wrong username or password"));
    let no_csrf = client
        .post(format!("{}/signin", app.address))
        .form(&[
            ("username", AGENT_NAME),
            ("password", AGENT_PASSWORD),
            ("csrf_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let right = client
        .post(format!("{}/signin", app.address))
        .form(&[
            ("username", "ann"),
            ("password", AGENT_PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 303);
    let inbox = client
        .get(format!("{}/agent", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.status(), 200);
    assert!(inbox.text().await.unwrap().contains(AGENT_NAME));
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token() {
    let app = spawn_app().await;
    let id = app.start_conversation("Megan").await;
    let agent = app.signed_in_agent().await;
    let route = format!("/agent/conversations/{id}/messages");
    assert_eq!(
        agent
            .post_form(&route, &[("message", "no token")])
            .await
            .status(),
        403
    );
    assert_eq!(
        agent
            .post_form(&route, &[("message", "bad token"), ("csrf_token", "0000")])
            .await
            .status(),
        403
    );
    assert_eq!(
        agent
            .post_form(&format!("/agent/conversations/{id}/end"), &[])
            .await
            .status(),
        403
    );
    assert!(app.transcript(&id).await.is_empty(), "nothing was stored");
    assert!(app.webhook.received_requests().await.unwrap().is_empty());

    // The page's script sends the token in a header instead.
    agent.accept(&id).await;
    let scripted = agent
        .client
        .post(format!("{}{route}", agent.address))
        .header("X-CSRF-Token", &agent.csrf)
        .header("Accept", "application/json")
        .form(&[("message", "from the script")])
        .send()
        .await
        .unwrap();
    assert_eq!(scripted.status(), 200);
    let stored: serde_json::Value = scripted.json().await.unwrap();
    assert_eq!(stored["sender"], AGENT_NAME);
    assert_eq!(stored["deliveryState"], "pending");
}

#[tokio::test]
async fn pages_show_the_context_and_escape_what_people_wrote() {
    let app = spawn_app().await;
    let id = app
        .start_conversation("Megan <script>alert(1)</script>")
        .await;
    app.customer_says(&id, "<img src=x onerror=alert(2)> help")
        .await;
    let agent = app.signed_in_agent().await;

    let inbox = agent.get("/agent").await.text().await.unwrap();
    assert!(
        inbox.contains("Megan &#60;script&#62;alert(1)&#60;/script&#62;"),
        "{inbox}"
    );
    assert!(!inbox.contains("<script>alert(1)"));
    assert!(
        inbox.contains("(1) Inbox"),
        "the title counts unread messages"
    );

    let page = agent
        .get(&format!("/agent/conversations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("&#60;img src=x onerror=alert(2)&#62; help"));
    assert!(!page.contains("<img src=x"));
    for context in [
        "The printer is on fire",
        "aad-1",
        "msteams",
        "tenant-1",
        "a:conv-1",
    ] {
        assert!(
            page.contains(context),
            "the handoff context shows {context}"
        );
    }
    // Opening the conversation read it.
    let inbox = agent.get("/agent").await.text().await.unwrap();
    assert!(!inbox.contains("(1) Inbox"));
    assert_eq!(
        agent.get("/agent/conversations/no-such-id").await.status(),
        404
    );
}

/// Reads an SSE response until `expected` appears (bounded), returning everything read.
async fn read_until(response: reqwest::Response, expected: &[&str]) -> String {
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if expected.iter().all(|e| text.contains(e)) {
                return;
            }
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(10), read).await;
    assert!(finished.is_ok(), "the stream did not show {expected:?}");
    text
}

#[tokio::test]
async fn the_event_stream_is_live_and_resumes_without_gaps() {
    let app = spawn_app().await;
    let agent = app.signed_in_agent().await;
    let page = agent.get("/agent").await.text().await.unwrap();
    let marker = "name=\"last-event-id\" content=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let since: i64 = page[start..].split('"').next().unwrap().parse().unwrap();

    let stream = agent.get(&format!("/agent/events?since={since}")).await;
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let id = app.start_conversation("Live Lee").await;
    app.customer_says(&id, "first live message").await;
    let text = read_until(stream, &["Live Lee", "first live message"]).await;
    assert!(text.contains("event: conversation"));
    assert!(text.contains("event: message"));
    let last_id: i64 = text
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .next_back()
        .unwrap()
        .parse()
        .unwrap();

    // While the page is disconnected, more happens; the reconnect replays exactly that.
    app.customer_says(&id, "missed while away").await;
    app.post_api(
        "/api/chat/receive",
        &json!({"conversationId": id, "message": "also missed"}),
    )
    .await;
    let resumed = agent
        .client
        .get(format!("{}/agent/events", agent.address))
        .header("Last-Event-ID", last_id.to_string())
        .send()
        .await
        .unwrap();
    let text = read_until(resumed, &["missed while away", "also missed"]).await;
    let ids: Vec<i64> = text
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| *id > last_id),
        "nothing before Last-Event-ID is sent again: {ids:?}"
    );
    assert!(
        ids.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "no gaps: {ids:?}"
    );
    let messages: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("data: ") && line.contains("\"role\""))
        .collect();
    assert_eq!(messages.len(), 2, "{text}");
    assert!(
        messages[0].contains("missed while away") && messages[1].contains("also missed"),
        "in order"
    );
}

#[tokio::test]
async fn failed_sign_ins_are_slowed_then_refused_without_checking_the_password() {
    let app = spawn_app().await;
    let client = browser(std::sync::Arc::new(reqwest::cookie::Jar::default()));
    let csrf = app.sign_in_csrf(&client).await;
    let attempt = |password: &'static str| app.submit_sign_in(&client, &csrf, password);
    for _ in 0..3 {
        assert_eq!(attempt("wrong").await.status(), 401);
    }
    // Now even the right password waits: the throttle answers before any verification.
    let throttled = attempt(AGENT_PASSWORD).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    assert!(throttled
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
    // A refused attempt does not count as a failure: once the short delay is over, the right
    // password signs in (and the success resets the count, see `throttle.rs`).
    eventually("the right password signs in after the delay", || async {
        (attempt(AGENT_PASSWORD).await.status() == 303).then_some(())
    })
    .await;
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server_whatever_the_cookie_says() {
    let app = spawn_app().await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = browser(jar.clone());
    let url: reqwest::Url = app.address.parse().unwrap();
    let csrf = app.sign_in_csrf(&client).await;
    let signed_in = app.submit_sign_in(&client, &csrf, AGENT_PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    use reqwest::cookie::CookieStore;
    let copied = jar.cookies(&url).expect("a session cookie");
    let inbox = client
        .get(format!("{}/agent", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.status(), 200);
    let csrf = csrf_in(&inbox.text().await.unwrap());
    let signed_out = client
        .post(format!("{}/signout", app.address))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);

    // A copy of the cookie from before the sign-out no longer opens the inbox.
    let replayed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/agent", app.address))
        .header("Cookie", copied)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 303);
    assert_eq!(replayed.headers()["location"], "/signin");
}

#[tokio::test]
async fn an_agent_holds_a_bounded_number_of_live_streams() {
    let app = spawn_app().await;
    let agent = app.signed_in_agent().await;
    let mut open = Vec::new();
    for _ in 0..contoso_livechat::routes::events::MAX_STREAMS_PER_AGENT {
        let stream = agent.get("/agent/events").await;
        assert_eq!(stream.status(), 200);
        open.push(stream);
    }
    let refused = agent.get("/agent/events").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.text().await.unwrap().contains("close another tab"));

    // A page that goes away gives its place back, once a heartbeat (every 5 s)
    // finds the connection gone.
    drop(open.pop());
    test_support::eventually_within(
        Duration::from_secs(40),
        "a stream slot given back",
        || async {
            let stream = agent.get("/agent/events").await;
            (stream.status() == 200).then_some(())
        },
    )
    .await;
}
