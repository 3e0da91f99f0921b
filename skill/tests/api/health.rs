//! Health, readiness, metrics, the manifest and unknown routes.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn metrics_count_sessions_and_messages() {
    let app = spawn_app().await;
    let livechat_id = app.start_session("conv-metrics").await;
    app.post_activity(&app.message_activity("conv-metrics", "hi"))
        .await;
    app.post_webhook(&TestApp::agent_message(&livechat_id, "m1", "hello"))
        .await;
    wait_for_bodies(&app.peers.teams, &teams_path("conv-metrics"), 1).await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for expected in [
        r#"handover_sessions_open{hub="contoso"} 1"#,
        r#"handover_messages_total{direction="to_agent",hub="contoso"} 1"#,
        r#"handover_messages_total{direction="to_user",hub="contoso"} 1"#,
        "handover_http_request_duration_seconds_bucket",
        r#"route="/api/messages""#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
}

#[tokio::test]
async fn metric_labels_take_only_known_values() {
    let app = spawn_app().await;
    for kind in ["made-up-type-1", "made-up-type-2"] {
        let activity = app.activity("conv-labels", serde_json::json!({ "type": kind }));
        app.post_activity(&activity).await;
    }
    let odd_method = app
        .client
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            format!("{}/healthz", app.address),
        )
        .send()
        .await
        .unwrap();
    assert!(odd_method.status().is_client_error());
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"handover_activities_total{type="other",hub="contoso"} 2"#),
        "{text}"
    );
    assert!(
        !text.contains("made-up-type") && !text.contains("BREW"),
        "{text}"
    );
}

#[tokio::test]
async fn the_manifest_is_strict_json_of_schema_2_0_0_with_the_five_actions() {
    let app = spawn_app().await;
    // No token: Copilot Studio fetches the manifest anonymously.
    let response = app.get("/skill-manifest.json").await;
    assert_eq!(response.status(), 200);
    let manifest: Value =
        serde_json::from_str(&response.text().await.unwrap()).expect("strict JSON");

    let allowed_top = [
        "$schema",
        "$id",
        "name",
        "version",
        "description",
        "publisherName",
        "privacyUrl",
        "copyright",
        "license",
        "iconUrl",
        "tags",
        "endpoints",
        "activities",
        "definitions",
    ];
    for key in manifest.as_object().unwrap().keys() {
        assert!(
            allowed_top.contains(&key.as_str()),
            "the schema forbids the top-level key {key}"
        );
    }
    for required in [
        "$schema",
        "$id",
        "name",
        "version",
        "publisherName",
        "endpoints",
    ] {
        assert!(manifest.get(required).is_some(), "{required} is required");
    }
    assert_eq!(
        manifest["$schema"],
        "https://schemas.botframework.com/schemas/skills/skill-manifest-2.0.0.json"
    );
    let endpoints = manifest["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "Copilot Studio takes a single endpoint");
    assert_eq!(
        endpoints[0]["endpointUrl"],
        "https://skill.example.com/api/messages"
    );
    assert_eq!(endpoints[0]["msAppId"], SKILL_APP_ID);
    for key in endpoints[0].as_object().unwrap().keys() {
        assert!(
            ["name", "protocol", "description", "endpointUrl", "msAppId"].contains(&key.as_str()),
            "endpoint key {key}"
        );
    }

    let activities = manifest["activities"].as_object().unwrap();
    let mut ids: Vec<&str> = activities.keys().map(String::as_str).collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            "endConversation",
            "leaveMessage",
            "rateConversation",
            "sendMessage",
            "startConversation"
        ]
    );
    for (id, activity) in activities {
        let kind = activity["type"].as_str().unwrap();
        assert!(
            kind == "event" || kind == "message",
            "Copilot Studio takes only event and message actions"
        );
        let allowed: &[&str] = if kind == "message" {
            &["type", "description", "value", "resultValue"]
        } else {
            &["type", "name", "description", "value", "resultValue"]
        };
        for key in activity.as_object().unwrap().keys() {
            assert!(
                allowed.contains(&key.as_str()),
                "{id}: the schema forbids {key}"
            );
        }
        if kind == "event" {
            assert_eq!(
                activity["name"],
                id.as_str(),
                "the event name equals the action id"
            );
        }
    }
    let reference = |pointer: &str| {
        let target = manifest.pointer(pointer).unwrap()["$ref"]
            .as_str()
            .unwrap()
            .trim_start_matches("#/")
            .to_owned();
        manifest
            .pointer(&format!("/{target}/properties"))
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reference("/activities/startConversation/resultValue"),
        vec![
            "EstimatedWaitMinutes",
            "LiveChatConversationId",
            "NextOpening",
            "QueuePosition",
            "Status"
        ]
    );
    assert_eq!(
        reference("/activities/sendMessage/value"),
        vec!["LiveChatConversationId", "ProblemDescription"]
    );
    assert_eq!(
        reference("/activities/endConversation/value"),
        vec!["LiveChatConversationId"]
    );
    assert_eq!(
        reference("/activities/endConversation/resultValue"),
        vec!["Outcome"]
    );
    assert_eq!(
        reference("/activities/sendMessage/resultValue"),
        vec!["AgentName", "Outcome"]
    );
    assert_eq!(
        reference("/activities/rateConversation/value"),
        vec!["Comment", "LiveChatConversationId", "Rating"]
    );
    assert_eq!(
        reference("/activities/rateConversation/resultValue"),
        vec!["Outcome"]
    );
    let types = |pointer: &str| manifest.pointer(pointer).unwrap()["type"].clone();
    assert_eq!(
        types("/definitions/rateConversationInput/properties/Rating"),
        "number"
    );
    for kind in ["object", "array"] {
        assert_ne!(
            types("/definitions/messageOutput/properties/AgentName"),
            kind
        );
    }
    assert!(
        !manifest.to_string().contains("\"array\""),
        "Copilot Studio refuses array inputs and outputs"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_refused() {
    let app = spawn_app().await;
    let missing = app.get("/nope").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"]["code"],
        "NotFound"
    );
    assert_eq!(app.get("/api/messages").await.status(), 405);
}
