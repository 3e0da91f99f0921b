//! The contact centre: presence, capacity, the queue, accepting (and its race), automatic
//! assignment, transfers, read-only conversations, availability, queue updates and typing, as the
//! skill's webhook and the API see them.

use std::time::Duration;

use service_support::clock::Clock;

use futures_util::StreamExt;
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn two_agents() -> Options {
    Options {
        second_agent: true,
        ..Options::default()
    }
}

/// The queue positions a conversation's customer was told, in order.
async fn positions_told(app: &TestApp, id: &str) -> Vec<u64> {
    of_type(&events_of(app, id).await, "queueUpdate")
        .iter()
        .map(|event| event["queuePosition"].as_u64().unwrap())
        .collect()
}

/// The webhook events of one conversation, in the order received.
async fn events_of(app: &TestApp, id: &str) -> Vec<Value> {
    all_webhook_bodies(&app.webhook)
        .await
        .into_iter()
        .filter(|body| body["conversationId"] == id)
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["type"] == kind)
        .collect()
}

async fn summary(app: &TestApp, id: &str) -> Value {
    app.conversations()
        .await
        .into_iter()
        .find(|conversation| conversation["id"] == id)
        .unwrap()
}

#[tokio::test]
async fn a_new_conversation_waits_in_the_queue_and_the_start_says_where() {
    let app = spawn_app().await;
    let _ann = app.signed_in_agent().await;
    let first = app.start_answer(&json!({"customerName": "Megan"})).await;
    let second = app.start_answer(&json!({"customerName": "Lee"})).await;
    assert_eq!(first["status"], "waiting");
    assert_eq!(first["queuePosition"], 1);
    assert_eq!(second["queuePosition"], 2);
    assert!(second["estimatedWaitSeconds"].as_u64().unwrap() > 0);
    let id = first["conversationId"].as_str().unwrap();
    let listed = summary(&app, id).await;
    assert_eq!(listed["status"], "waiting");
    assert!(listed["queuedAt"].is_string());
    assert!(listed["assignedAgent"].is_null());
}

#[tokio::test]
async fn two_agents_accepting_at_once_one_wins_and_the_other_is_told() {
    let app = spawn_app_with(two_agents()).await;
    let id = app.start_conversation("Megan").await;
    let ann = app.signed_in_agent().await;
    let ben = app.signed_in_as(SECOND_AGENT, SECOND_PASSWORD).await;
    for agent in [&ann, &ben] {
        let room = agent.set_capacity("10").await;
        assert_eq!(room.status(), 303);
    }
    for _ in 0..5 {
        // Each round a fresh conversation, both agents at once.
        let id = app.start_conversation("Megan").await;
        let (a, b) = tokio::join!(ann.act(&id, "accept", &[]), ben.act(&id, "accept", &[]));
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        assert!(
            statuses.contains(&303) && statuses.contains(&409),
            "{statuses:?}"
        );
        let loser = if a.status() == 409 { a } else { b };
        let told = loser.text().await.unwrap();
        assert!(
            told.contains("has accepted this conversation already"),
            "{told}"
        );
        let holder = summary(&app, &id).await;
        assert_eq!(holder["status"], "assigned");
        // Exactly one agent joined, before anything else.
        eventually("the joined event", || async {
            (of_type(&events_of(&app, &id).await, "agentJoined").len() == 1).then_some(())
        })
        .await;
    }
    // The first conversation is still waiting: a later accept of it works.
    ann.accept(&id).await;
    let events = webhook_bodies(&app.webhook, 6).await;
    assert_eq!(
        of_type(&events, "agentJoined").len(),
        6,
        "one per conversation"
    );
}

#[tokio::test]
async fn an_agent_takes_no_more_than_their_capacity() {
    let app = spawn_app().await;
    let ann = app.signed_in_agent().await;
    let set = ann.set_capacity("1").await;
    assert_eq!(set.status(), 303);
    let first = app.start_conversation("Megan").await;
    let second = app.start_conversation("Lee").await;
    ann.accept(&first).await;
    let refused = ann.act(&second, "accept", &[]).await;
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.unwrap().contains("capacity"));
    assert_eq!(summary(&app, &second).await["status"], "waiting");
    for bad in ["-1", "51", "many"] {
        let response = ann.set_capacity(bad).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    // Ending one frees room.
    ann.act(&first, "end", &[]).await;
    ann.accept(&second).await;
}

#[tokio::test]
async fn with_automatic_assignment_the_agent_with_most_room_gets_it() {
    let app = spawn_app_with(Options {
        auto_assign: true,
        ..two_agents()
    })
    .await;
    // Nobody online: it waits.
    let waiting = app.start_answer(&json!({"customerName": "Early"})).await;
    assert_eq!(waiting["status"], "waiting");
    let ann = app.signed_in_agent().await;
    // Ann comes online and the queue's clock gives her the waiting one.
    let early = waiting["conversationId"].as_str().unwrap().to_owned();
    eventually("the waiting conversation assigned", || async {
        (summary(&app, &early).await["assignedAgent"] == AGENT_NAME).then_some(())
    })
    .await;
    let ben = app.signed_in_as(SECOND_AGENT, SECOND_PASSWORD).await;
    // Ann has 1 of 3, Ben 0 of 3: Ben has most room.
    let next = app.start_answer(&json!({"customerName": "Megan"})).await;
    assert_eq!(next["status"], "assigned");
    assert_eq!(next["agentName"], SECOND_AGENT);
    assert!(next["queuePosition"].is_null());
    // 1 and 1: a tie goes by name.
    let tie = app.start_answer(&json!({"customerName": "Lee"})).await;
    assert_eq!(tie["agentName"], AGENT_NAME);
    // Ben signs out: offline, so he gets nothing more.
    ben.post_form("/signout", &[("csrf_token", ben.csrf.as_str())])
        .await;
    let after = app.start_answer(&json!({"customerName": "Ida"})).await;
    assert_eq!(after["agentName"], AGENT_NAME);
    let full = app.start_answer(&json!({"customerName": "Joe"})).await;
    assert_eq!(full["status"], "waiting", "Ann has 3 of 3");
    assert_eq!(full["queuePosition"], 1);
    let id = next["conversationId"].as_str().unwrap();
    let joined = eventually("the joined event", || async {
        of_type(&events_of(&app, id).await, "agentJoined")
            .first()
            .map(|event| (*event).clone())
    })
    .await;
    assert_eq!(joined["agentName"], SECOND_AGENT);
    drop(ann);
}

#[tokio::test]
async fn only_the_assigned_agent_writes_and_the_others_read() {
    let app = spawn_app_with(two_agents()).await;
    let id = app.start_conversation("Megan").await;
    let ann = app.signed_in_agent().await;
    let ben = app.signed_in_as(SECOND_AGENT, SECOND_PASSWORD).await;
    let early = ann.reply(&id, "before accepting").await;
    assert_eq!(early.status(), 409);
    assert!(early.text().await.unwrap().contains("accept it first"));
    ann.accept(&id).await;
    for (action, fields) in [
        ("messages", vec![("message", "hello from Ben")]),
        ("end", vec![]),
        ("transfer", vec![("to", "queue")]),
        ("typing", vec![]),
    ] {
        let refused = ben.act(&id, action, &fields).await;
        assert_eq!(refused.status(), 409, "{action}");
    }
    let page = ben
        .get(&format!("/agent/conversations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Ann has this conversation; you can read it."));
    assert!(!page.contains("is-mine"));
    let inbox = ben.get("/agent").await.text().await.unwrap();
    let others = &inbox[inbox.find("id=\"other-conversations\"").unwrap()..];
    assert!(others.contains(&id), "listed among the others'");
    assert_eq!(ann.reply(&id, "hello from Ann").await.status(), 303);
    let transcript = app.transcript(&id).await;
    assert!(transcript
        .iter()
        .all(|entry| entry["message"] != "hello from Ben"));
    assert!(transcript
        .iter()
        .any(|entry| entry["message"] == "hello from Ann"));
}

#[tokio::test]
async fn a_transfer_hands_the_conversation_over_with_a_note_or_back_to_the_queue() {
    let app = spawn_app_with(two_agents()).await;
    let id = app.start_conversation("Megan").await;
    let ann = app.signed_in_agent().await;
    ann.accept(&id).await;
    // Ben is offline: no transfer to him.
    let refused = ann.act(&id, "transfer", &[("to", SECOND_AGENT)]).await;
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.unwrap().contains("offline"));
    let ben = app.signed_in_as(SECOND_AGENT, SECOND_PASSWORD).await;
    let moved = ann
        .act(
            &id,
            "transfer",
            &[
                ("to", SECOND_AGENT),
                ("note", "Wants a refund for order 42"),
            ],
        )
        .await;
    assert_eq!(moved.status(), 303);
    assert_eq!(summary(&app, &id).await["assignedAgent"], SECOND_AGENT);
    assert_eq!(ann.reply(&id, "still me?").await.status(), 409);
    assert_eq!(ben.reply(&id, "Ben here").await.status(), 303);
    let page = ben
        .get(&format!("/agent/conversations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Wants a refund for order 42"),
        "Ben sees the note"
    );
    let events = webhook_bodies(&app.webhook, 3).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["agentJoined", "agentJoined", "message"]);
    assert_eq!(events[1]["agentName"], SECOND_AGENT);
    assert_eq!(events[1]["transferredBy"], AGENT_NAME);
    assert!(
        events[1].get("note").is_none(),
        "the note is for the agent, not the customer"
    );
    let transcript = app.transcript(&id).await;
    assert!(transcript.iter().any(|entry| entry["message"]
        == "Ann transferred the conversation to Ben. Note: Wants a refund for order 42"));

    // Back to the queue: waiting again, and the customer hears their place.
    let back = ben.act(&id, "transfer", &[("to", "queue")]).await;
    assert_eq!(back.status(), 303);
    assert_eq!(summary(&app, &id).await["status"], "waiting");
    let update = eventually("the queue update", || async {
        of_type(&events_of(&app, &id).await, "queueUpdate")
            .first()
            .map(|event| (*event).clone())
    })
    .await;
    assert_eq!(update["queuePosition"], 1);
    assert!(update["id"].is_string());
    let transcript = app.transcript(&id).await;
    assert!(transcript
        .iter()
        .any(|entry| entry["message"] == "Ben moved the conversation back to the queue."));
}

#[tokio::test]
async fn availability_counts_online_agents_and_the_queue() {
    let app = spawn_app_with(two_agents()).await;
    assert_eq!(
        app.availability().await,
        json!({"agentsOnline": 0, "queueLength": 0, "estimatedWaitSeconds": 0, "open": true})
    );
    let ann = app.signed_in_agent().await;
    let empty = app.availability().await;
    assert_eq!(empty["agentsOnline"], 1);
    assert_eq!(empty["estimatedWaitSeconds"], 0, "Ann has room");
    let first = app.start_conversation("Megan").await;
    app.start_conversation("Lee").await;
    let queued = app.availability().await;
    assert_eq!(queued["queueLength"], 2);
    // No acceptance yet: 120 s a place, for the third place, with one agent.
    assert_eq!(queued["estimatedWaitSeconds"], 360);
    let ben = app.signed_in_as(SECOND_AGENT, SECOND_PASSWORD).await;
    assert_eq!(app.availability().await["estimatedWaitSeconds"], 180);
    // An acceptance within a second makes the estimate short.
    ann.accept(&first).await;
    let after = app.availability().await;
    assert_eq!(after["queueLength"], 1);
    assert!(
        after["estimatedWaitSeconds"].as_u64().unwrap() < 60,
        "{after}"
    );
    // Away is not online.
    let away = ben.set_presence("away").await;
    assert_eq!(away.status(), 303);
    assert_eq!(app.availability().await["agentsOnline"], 1);
    let bad = ben.set_presence("busy").await;
    assert_eq!(bad.status(), 400);
}

/// The interval between two queue updates to one customer (the default), and a little more.
const PAST_THE_INTERVAL: Duration = Duration::from_secs(31);

#[tokio::test]
async fn waiting_customers_hear_of_a_new_place_only_when_it_changed() {
    let clock = Clock::paused();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let ann = app.signed_in_agent().await;
    let first = app.start_conversation("A").await;
    let second = app.start_conversation("B").await;
    let third = app.start_conversation("C").await;
    ann.accept(&first).await;
    clock.advance(PAST_THE_INTERVAL);
    eventually("the updates after the first acceptance", || async {
        let second_told = positions_told(&app, &second).await.len();
        let third_told = positions_told(&app, &third).await.len();
        (second_told == 1 && third_told == 1).then_some(())
    })
    .await;
    ann.accept(&second).await;
    clock.advance(PAST_THE_INTERVAL);
    let told = eventually("the third's second update", || async {
        let told = positions_told(&app, &third).await;
        (told.len() == 2).then_some(told)
    })
    .await;
    assert_eq!(told, [2, 1], "each change once, none repeated");
    assert_eq!(positions_told(&app, &second).await, [1]);
    let ids: Vec<String> = all_webhook_bodies(&app.webhook)
        .await
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "every event has its own id");
}

#[tokio::test]
async fn a_queue_update_waits_for_the_interval() {
    // The clock stands still: no interval passes.
    let app = spawn_app_with(Options {
        clock: Some(Clock::paused()),
        ..Options::default()
    })
    .await;
    let ann = app.signed_in_agent().await;
    let first = app.start_conversation("A").await;
    let second = app.start_conversation("B").await;
    ann.accept(&first).await;
    // The marker: a conversation moved back to the queue is told at once, by the same clock
    // that would have told the second customer.
    ann.act(&first, "transfer", &[("to", "queue")]).await;
    eventually("the marker", || async {
        (!of_type(&events_of(&app, &first).await, "queueUpdate").is_empty()).then_some(())
    })
    .await;
    assert!(
        of_type(&events_of(&app, &second).await, "queueUpdate").is_empty(),
        "the second customer was told their place at the start, less than an interval ago"
    );
}

#[tokio::test]
async fn typing_is_relayed_at_most_every_few_seconds_and_only_by_the_assigned_agent() {
    let app = spawn_app().await;
    let id = app.start_conversation("Megan").await;
    let ann = app.signed_in_agent().await;
    assert_eq!(
        ann.act(&id, "typing", &[]).await.status(),
        409,
        "not accepted yet"
    );
    ann.accept(&id).await;
    let typed = ann.act(&id, "typing", &[]).await;
    assert_eq!(typed.status(), 202);
    let again = ann.act(&id, "typing", &[]).await;
    assert_eq!(again.json::<Value>().await.unwrap()["typing"], "tooSoon");
    let bodies = typing_bodies(&app.webhook, 1).await;
    assert_eq!(bodies[0]["conversationId"], id.as_str());
    assert_eq!(bodies[0]["sender"], AGENT_NAME);
    assert!(bodies[0]["timestamp"].is_string());
    // The marker: a reply after both; only one indicator went out.
    ann.reply(&id, "Here I am").await;
    webhook_bodies(&app.webhook, 2).await;
    assert_eq!(
        all_webhook_bodies(&app.webhook)
            .await
            .iter()
            .filter(|body| body["type"] == "typing")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_typing_indicator_that_would_arrive_late_is_dropped() {
    let clock = Clock::paused();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let ann = app.signed_in_agent().await;
    let capacity = ann.set_capacity("5").await;
    assert_eq!(capacity.status(), 303);
    let [slow, late, marker] = [
        app.start_conversation("A").await,
        app.start_conversation("B").await,
        app.start_conversation("C").await,
    ];
    for id in [&slow, &late, &marker] {
        ann.accept(id).await;
    }
    // The skill takes a while over the first indicator; meanwhile the one behind it grows older
    // than typing.max_delay_ms (5 s) by the clock.
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .and(body_partial_json(
            json!({"type": "typing", "conversationId": slow}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "accepted"}))
                .set_delay(Duration::from_millis(1_500)),
        )
        .with_priority(1)
        .mount(&app.webhook)
        .await;
    assert_eq!(ann.act(&slow, "typing", &[]).await.status(), 202);
    // The skill has the first; the relay's one worker waits for its answer.
    typing_bodies(&app.webhook, 1).await;
    assert_eq!(ann.act(&late, "typing", &[]).await.status(), 202);
    clock.advance(Duration::from_secs(6));
    // The marker, typed after: it is sent once the slow one is answered.
    assert_eq!(ann.act(&marker, "typing", &[]).await.status(), 202);
    let typed = eventually("the marker indicator", || async {
        let typed = typing_bodies(&app.webhook, 1).await;
        typed
            .iter()
            .any(|body| body["conversationId"] == marker.as_str())
            .then_some(typed)
    })
    .await;
    assert!(
        typed
            .iter()
            .all(|body| body["conversationId"] != late.as_str()),
        "the late indicator was dropped: {typed:?}"
    );
}

#[tokio::test]
async fn an_agent_whose_pages_are_gone_goes_offline_and_comes_back_with_a_page() {
    let clock = Clock::paused();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let ann = app.signed_in_agent().await;
    let stream = ann.get("/agent/events").await;
    assert_eq!(stream.status(), 200);
    let mut body = stream.bytes_stream();
    body.next().await.unwrap().unwrap();
    assert_eq!(app.availability().await["agentsOnline"], 1);
    // The page goes away; a heartbeat (every 5 s) finds its connection gone, and then the
    // grace (routing.offline_after_ms, a minute) runs out by the clock.
    drop(body);
    test_support::eventually_within(
        Duration::from_secs(40),
        "offline once the page is gone",
        || async {
            clock.advance(Duration::from_secs(61));
            (app.availability().await["agentsOnline"] == 0).then_some(())
        },
    )
    .await;
    let again = ann.get("/agent/events").await;
    let mut body = again.bytes_stream();
    body.next().await.unwrap().unwrap();
    eventually("online with a page again", || async {
        (app.availability().await["agentsOnline"] == 1).then_some(())
    })
    .await;
    // Signing out is offline at once.
    ann.post_form("/signout", &[("csrf_token", ann.csrf.as_str())])
        .await;
    assert_eq!(app.availability().await["agentsOnline"], 0);
}

#[tokio::test]
async fn an_agent_removed_from_the_configuration_hands_their_conversations_back() {
    let app = spawn_app_with(two_agents()).await;
    let ben = app.signed_in_as(SECOND_AGENT, SECOND_PASSWORD).await;
    let id = app.start_conversation("Megan").await;
    ben.accept(&id).await;
    assert_eq!(summary(&app, &id).await["assignedAgent"], SECOND_AGENT);
    let app = app.restart_with(Options::default()).await;
    let back = summary(&app, &id).await;
    assert_eq!(back["status"], "waiting", "{back}");
    assert!(back["assignedAgent"].is_null());
    // The agents who remain keep their presence and can take it.
    let ann = app.signed_in_agent().await;
    ann.accept(&id).await;
}

#[tokio::test]
async fn a_rating_is_stored_with_the_conversation_shown_on_its_transcript_and_averaged_in_the_inbox(
) {
    let app = spawn_app().await;
    let ann = app.signed_in_agent().await;
    let first = app.start_conversation("Megan").await;
    let second = app.start_conversation("Lee").await;
    let inbox = ann.get("/agent").await.text().await.unwrap();
    assert!(!inbox.contains("id=\"rating-average\""), "no ratings yet");
    assert_eq!(
        app.post_api("/api/chat/end", &json!({"conversationId": first}))
            .await
            .status(),
        200
    );

    let rated = app
        .post_api(
            "/api/chat/rate",
            &json!({"conversationId": first, "rating": 5, "comment": "  Quick <b>and</b> kind "}),
        )
        .await;
    assert_eq!(rated.status(), 200, "an ended conversation is rated");
    assert_eq!(
        rated.json::<Value>().await.unwrap(),
        json!({"conversationId": first, "rating": 5})
    );
    // Rating again replaces the rating.
    for rating in [2, 4] {
        let again = app
            .post_api(
                "/api/chat/rate",
                &json!({"conversationId": second, "rating": rating}),
            )
            .await;
        assert_eq!(again.status(), 200);
    }
    let conversation = summary(&app, &first).await;
    assert_eq!(conversation["rating"], 5);
    assert_eq!(conversation["ratingComment"], "Quick <b>and</b> kind");
    assert_eq!(summary(&app, &second).await["rating"], 4);

    for (body, status) in [
        (json!({"conversationId": first, "rating": 0}), 400),
        (json!({"conversationId": first, "rating": 6}), 400),
        (json!({"conversationId": first, "rating": 4.5}), 400),
        (json!({"conversationId": first}), 400),
        (
            json!({"conversationId": first, "rating": 3, "comment": "x".repeat(1_001)}),
            400,
        ),
        (json!({"conversationId": "nope", "rating": 3}), 404),
    ] {
        let refused = app.post_api("/api/chat/rate", &body).await;
        assert_eq!(refused.status(), status, "{body}");
        assert!(refused.json::<Value>().await.unwrap()["error"].is_string());
    }
    assert_eq!(
        summary(&app, &first).await["rating"],
        5,
        "a refusal changes nothing"
    );

    let transcript = ann
        .get(&format!("/agent/conversations/{first}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(transcript.contains("id=\"rating\""), "{transcript}");
    assert!(transcript.contains("★★★★★</span> 5 of 5"), "{transcript}");
    assert!(
        transcript.contains("Quick &#60;b&#62;and&#60;/b&#62; kind"),
        "the comment is escaped: {transcript}"
    );
    let inbox = ann.get("/agent").await.text().await.unwrap();
    assert!(inbox.contains("4.5 of 5 from 2 ratings"), "{inbox}");
}
