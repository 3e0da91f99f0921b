//! The session API the skill calls, and its errors.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn start_answers_a_full_uuid_with_or_without_a_body() {
    let app = spawn_app().await;
    // The original skill sends no body and no content type at all.
    let bare = app
        .api
        .post(format!("{}/api/chat/start", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 200);
    let id = bare.json::<Value>().await.unwrap()["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id).unwrap().to_string(),
        id,
        "a full, hyphenated UUID"
    );

    let with_context = app.start_conversation("Megan Bowen").await;
    assert!(uuid::Uuid::parse_str(&with_context).is_ok());
    assert_ne!(id, with_context);
}

#[tokio::test]
async fn messages_are_stored_and_listed_oldest_first() {
    let app = spawn_app().await;
    let first = app.start_conversation("Megan").await;
    let second = app.start_conversation("Lee").await;
    for text in ["one", "two", "three"] {
        assert_eq!(app.customer_says(&first, text).await.status(), 200);
    }
    app.customer_says(&second, "other").await;
    // A system note: the explicit role, or the sender name older senders use instead of it.
    let system = app.post_api("/api/chat/receive", &json!({"conversationId": first, "message": "Not delivered.", "sender": "Handover", "role": "system"})).await;
    assert_eq!(system.status(), 200);
    let legacy = app.post_api("/api/chat/receive", &json!({"conversationId": first, "message": "The customer has left.", "sender": "System"})).await;
    assert_eq!(legacy.status(), 200);

    let transcript = app.transcript(&first).await;
    let texts: Vec<&str> = transcript
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec![
            "one",
            "two",
            "three",
            "Not delivered.",
            "The customer has left."
        ]
    );
    assert_eq!(transcript[0]["role"], "customer");
    assert_eq!(transcript[0]["sender"], "Megan Bowen");
    assert_eq!(transcript[3]["role"], "system");
    assert_eq!(transcript[3]["sender"], "Handover");
    assert_eq!(transcript[4]["role"], "system");
    for field in ["id", "conversationId", "timestamp"] {
        assert!(transcript[0][field].is_string(), "{field}");
    }

    // Without a conversation id: the open conversations' messages.
    assert_eq!(
        app.post_api("/api/chat/end", &json!({"conversationId": second}))
            .await
            .status(),
        200
    );
    let open: Vec<Value> = app
        .get_api("/api/chat/messages")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(open.len(), 5);
    assert!(open.iter().all(|m| m["conversationId"] == first.as_str()));
    // The ended transcript stays readable.
    assert_eq!(app.transcript(&second).await.len(), 1);
    let conversations: Vec<Value> = app
        .get_api("/api/chat/conversations")
        .await
        .json()
        .await
        .unwrap();
    let states: Vec<(&str, &str)> = conversations
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![(first.as_str(), "open"), (second.as_str(), "ended")]
    );
    assert_eq!(conversations[0]["customerName"], "Megan");
    assert_eq!(
        conversations[0]["problemDescription"],
        "The printer is on fire"
    );
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let app = spawn_app().await;
    let id = app.start_conversation("Megan").await;
    let ended = app.start_conversation("Lee").await;
    app.post_api("/api/chat/end", &json!({"conversationId": ended}))
        .await;

    let cases: Vec<(&str, &str, Value, u16)> = vec![
        (
            "empty message",
            "/api/chat/receive",
            json!({"conversationId": id, "message": "   ", "sender": "M"}),
            400,
        ),
        (
            "missing conversation id",
            "/api/chat/receive",
            json!({"message": "hi"}),
            400,
        ),
        (
            "unknown conversation",
            "/api/chat/receive",
            json!({"conversationId": "nope", "message": "hi"}),
            404,
        ),
        (
            "message to an ended conversation",
            "/api/chat/receive",
            json!({"conversationId": ended, "message": "hi"}),
            409,
        ),
        (
            "reply to an ended conversation",
            "/api/chat/send",
            json!({"conversationId": ended, "message": "hi"}),
            409,
        ),
        (
            "reply to an unknown conversation",
            "/api/chat/send",
            json!({"conversationId": "nope", "message": "hi"}),
            404,
        ),
        (
            "empty reply",
            "/api/chat/send",
            json!({"conversationId": id, "message": ""}),
            400,
        ),
        (
            "end an unknown conversation",
            "/api/chat/end",
            json!({"conversationId": "nope"}),
            404,
        ),
        (
            "wrong role",
            "/api/chat/receive",
            json!({"conversationId": id, "message": "hi", "role": "agent"}),
            400,
        ),
        (
            "too long",
            "/api/chat/receive",
            json!({"conversationId": id, "message": "x".repeat(10_001)}),
            400,
        ),
    ];
    for (description, route, body, status) in cases {
        let response = app.post_api(route, &body).await;
        assert_eq!(response.status().as_u16(), status, "{description}");
        let error: Value = response.json().await.unwrap();
        assert!(
            !error["error"].as_str().unwrap().is_empty(),
            "{description}"
        );
    }
    let malformed = app
        .api
        .post(format!("{}/api/chat/receive", app.address))
        .header("Content-Type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let bad_context = app
        .api
        .post(format!("{}/api/chat/start", app.address))
        .header("Content-Type", "application/json")
        .body("[1,2]")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_context.status(), 400);
    let huge = app
        .post_api(
            "/api/chat/receive",
            &json!({"conversationId": id, "message": "y".repeat(70 * 1024)}),
        )
        .await;
    assert_eq!(huge.status(), 413);
    assert_eq!(
        app.get_api("/api/chat/messages?conversationId=nope")
            .await
            .status(),
        404
    );

    assert!(
        app.transcript(&id).await.is_empty(),
        "nothing was half-written"
    );
    assert!(app.webhook.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn with_an_api_key_every_session_call_needs_it() {
    let app = spawn_app_with(Options {
        api_key: true,
        ..Options::default()
    })
    .await;
    let id = app.start_conversation("Megan").await;
    for (route, body) in [
        ("/api/chat/start", json!({})),
        (
            "/api/chat/receive",
            json!({"conversationId": id, "message": "hi"}),
        ),
        (
            "/api/chat/send",
            json!({"conversationId": id, "message": "hi"}),
        ),
        ("/api/chat/end", json!({"conversationId": id})),
    ] {
        let without = app
            .api
            .post(format!("{}{route}", app.address))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(without.status(), 401, "{route} without a key");
        let wrong = app
            .api
            .post(format!("{}{route}", app.address))
            .bearer_auth("guess")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{route} with a wrong key");
    }
    let listing = app
        .api
        .get(format!("{}/api/chat/messages", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 401);
    assert_eq!(app.customer_says(&id, "with the key").await.status(), 200);
    assert_eq!(
        app.transcript(&id).await.len(),
        1,
        "only the keyed call was stored"
    );
    // The agent pages use sign-in, never the key.
    assert_eq!(
        app.api
            .get(format!("{}/signin", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    assert_eq!(
        app.api
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.api
            .get(format!("{}/readyz", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn bodies_not_declared_as_json_are_answered_415_and_store_nothing() {
    let app = spawn_app().await;
    let conversation_id = app.start_conversation("Megan").await;
    let body =
        json!({ "conversationId": conversation_id, "message": "from a form", "sender": "x" })
            .to_string();
    for (route, content_type) in [
        ("/api/chat/receive", Some("text/plain")),
        (
            "/api/chat/receive",
            Some("application/x-www-form-urlencoded"),
        ),
        ("/api/chat/receive", None),
        ("/api/chat/send", Some("text/plain")),
        ("/api/chat/start", Some("text/plain")),
        ("/api/chat/end", Some("multipart/form-data; boundary=x")),
    ] {
        let mut request = app
            .api
            .post(format!("{}{route}", app.address))
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{route} {content_type:?}");
    }
    assert_eq!(
        app.customer_says(&conversation_id, "marker").await.status(),
        200
    );
    let texts: Vec<String> = app
        .transcript(&conversation_id)
        .await
        .iter()
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts, vec!["marker"], "only the JSON message was stored");
    let conversations: Value = app
        .get_api("/api/chat/conversations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        conversations.as_array().unwrap().len(),
        1,
        "no second conversation"
    );
}

#[tokio::test]
async fn a_repeated_start_key_answers_the_first_conversation_and_opens_no_other() {
    let app = spawn_app().await;
    let start = |key: &'static str, name: &'static str| {
        let app = &app;
        async move {
            let answer = app
                .post_api(
                    "/api/chat/start",
                    &json!({"customerName": name, "idempotencyKey": key}),
                )
                .await;
            assert_eq!(answer.status(), 200);
            answer.json::<Value>().await.unwrap()["conversationId"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let first = start("session-1", "Megan").await;
    let again = start("session-1", "Someone else").await;
    let other = start("session-2", "Lee").await;
    assert_eq!(first, again);
    assert_ne!(first, other);
    let listed = app.conversations().await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let megan = listed.iter().find(|c| c["id"] == first.as_str()).unwrap();
    assert_eq!(megan["customerName"], "Megan", "the repeat changed nothing");

    // Still the same conversation once it has ended.
    app.post_api("/api/chat/end", &json!({"conversationId": first}))
        .await;
    assert_eq!(start("session-1", "Megan").await, first);

    for bad in [json!("x".repeat(201)), json!("a\u{7}b")] {
        let answer = app
            .post_api("/api/chat/start", &json!({"idempotencyKey": bad}))
            .await;
        assert_eq!(answer.status(), 400);
    }
}

#[tokio::test]
async fn a_repeated_message_id_is_stored_once_and_answered_with_the_first_message() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("Megan").await;
    let receive = |id: &'static str, text: &'static str| {
        let (app, conversation) = (&app, conversation.clone());
        async move {
            app.post_api(
                "/api/chat/receive",
                &json!({"conversationId": conversation, "message": text, "id": id}),
            )
            .await
        }
    };
    let first = receive("m-1", "hello").await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again: Value = receive("m-1", "hello").await.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    receive("m-2", "second").await;
    // The same caller id in another conversation is another message.
    let other = app.start_conversation("Lee").await;
    let elsewhere = app
        .post_api(
            "/api/chat/receive",
            &json!({"conversationId": other, "message": "hi", "id": "m-1"}),
        )
        .await;
    assert_eq!(elsewhere.status(), 200);

    let texts: Vec<String> = app
        .transcript(&conversation)
        .await
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["hello", "second"]);

    // After the end a repeat is still answered with the original, not 409; a new one is refused.
    app.post_api("/api/chat/end", &json!({"conversationId": conversation}))
        .await;
    let late: Value = receive("m-1", "hello").await.json().await.unwrap();
    assert_eq!(late["id"], first["id"]);
    assert_eq!(receive("m-3", "new").await.status(), 409);
}

#[tokio::test]
async fn clients_that_trickle_their_body_are_cut_off() {
    let app = spawn_app().await;
    let api =
        test_support::trickle_body(&app.address, "POST /api/chat/receive", "application/json")
            .await;
    assert!(api.starts_with("HTTP/1.1 408"), "{api}");
    let form = test_support::trickle_body(
        &app.address,
        "POST /signin",
        "application/x-www-form-urlencoded",
    )
    .await;
    assert!(form.starts_with("HTTP/1.1 4"), "{form}");
    // Nothing was stored by either.
    assert!(app.conversations().await.is_empty());
}

#[tokio::test]
async fn a_start_without_a_name_takes_the_customers_from_their_first_message() {
    let app = spawn_app().await;
    // The original sample starts with an empty body.
    let unnamed = app.start_with(&json!({})).await;
    let named = app.start_conversation("Ann").await;
    let name_of = |conversations: &[Value], id: &str| {
        conversations
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["customerName"].clone())
            .unwrap()
    };
    assert_eq!(name_of(&app.conversations().await, &unnamed), Value::Null);

    // A system note names nobody; the customer's first message does, and later ones change nothing.
    let note = app
        .post_api(
            "/api/chat/receive",
            &json!({"conversationId": unnamed, "message": "Escalated from Teams", "sender": "System", "role": "system"}),
        )
        .await;
    assert_eq!(note.status(), 200);
    assert_eq!(name_of(&app.conversations().await, &unnamed), Value::Null);
    assert_eq!(app.customer_says(&unnamed, "Hello?").await.status(), 200);
    let other = app
        .post_api(
            "/api/chat/receive",
            &json!({"conversationId": unnamed, "message": "Still there?", "sender": "Someone Else"}),
        )
        .await;
    assert_eq!(other.status(), 200);
    assert_eq!(app.customer_says(&named, "Hi").await.status(), 200);

    let conversations = app.conversations().await;
    assert_eq!(name_of(&conversations, &unnamed), "Megan Bowen");
    assert_eq!(
        name_of(&conversations, &named),
        "Ann",
        "a name given at start stays"
    );
    // A message without a sender is signed as an unnamed customer and names nobody.
    let anonymous = app.start_with(&json!({})).await;
    let unsigned = app
        .post_api(
            "/api/chat/receive",
            &json!({"conversationId": anonymous, "message": "hi"}),
        )
        .await;
    assert_eq!(unsigned.status(), 200);
    assert_eq!(name_of(&app.conversations().await, &anonymous), Value::Null);
    assert_eq!(app.transcript(&anonymous).await[0]["sender"], "Customer");
}

#[tokio::test]
async fn the_contract_is_served_as_openapi_and_is_the_committed_document() {
    let app = spawn_app().await;
    let served: serde_json::Value = app
        .api
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/livechat-openapi.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(served, committed);
}
