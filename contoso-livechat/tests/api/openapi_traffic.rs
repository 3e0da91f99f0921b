//! Contoso Live Chat's real traffic against the published contract (`docs/livechat-openapi.json`):
//! every answer of the session API a conversation's life draws, errors included, and every webhook
//! body the skill's fake received, each validated against the document's schema for it (JSON
//! Schema 2020-12), and none carrying a field the document does not declare.

use serde_json::{json, Value};

use super::helpers::{all_webhook_bodies, spawn_app, typing_bodies, webhook_bodies};

/// The committed document.
fn document() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/livechat-openapi.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

/// Follows a local `$ref` (`#/components/schemas/X`).
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(document, document.pointer(pointer).unwrap_or(&Value::Null))
        }
        None => schema,
    }
}

/// The properties a schema declares, its own and its `$ref`'s.
fn declared<'a>(document: &'a Value, schema: &'a Value) -> Vec<(&'a String, &'a Value)> {
    let mut out: Vec<(&String, &Value)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| properties.iter().collect())
        .unwrap_or_default();
    if schema.get("$ref").is_some() {
        out.extend(declared(document, resolve(document, schema)));
    }
    out
}

/// Fields of `value` the schema does not declare, anywhere within it.
fn undeclared(document: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let target = resolve(document, schema);
    for choices in ["oneOf", "anyOf"] {
        if let Some(branches) = target.get(choices).and_then(Value::as_array) {
            // The branch the value is: the one whose `type` it carries, else the one that is not
            // null, else the first.
            let chosen = branches
                .iter()
                .find(|branch| {
                    branch.pointer("/properties/type/const").is_some()
                        && branch.pointer("/properties/type/const") == value.get("type")
                })
                .or_else(|| {
                    branches.iter().find(|branch| {
                        value.is_null() == (resolve(document, branch)["type"] == "null")
                    })
                })
                .unwrap_or(&branches[0]);
            return undeclared(document, chosen, value, at);
        }
    }
    let mut problems = Vec::new();
    match value {
        Value::Object(fields) => {
            let known = declared(document, schema);
            if known.is_empty() {
                return problems;
            }
            for (name, field) in fields {
                match known.iter().find(|(declared, _)| *declared == name) {
                    Some((_, inner)) => {
                        problems.extend(undeclared(document, inner, field, &format!("{at}.{name}")))
                    }
                    None => problems.push(format!("{at}.{name} is not in the document")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(inner) = target.get("items") {
                for (n, item) in items.iter().enumerate() {
                    problems.extend(undeclared(document, inner, item, &format!("{at}[{n}]")));
                }
            }
        }
        _ => {}
    }
    problems
}

/// Checks `value` against `schema` (a pointer into the document): valid, and nothing undeclared.
fn check(document: &Value, schema_pointer: &str, value: &Value, what: &str) {
    let schema = document
        .pointer(schema_pointer)
        .unwrap_or_else(|| panic!("the document has no {schema_pointer}"));
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"],
    });
    for (key, part) in schema.as_object().unwrap() {
        root[key] = part.clone();
    }
    let validator = jsonschema::validator_for(&root).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: {value} breaks the contract: {errors:?}"
    );
    let extra = undeclared(document, schema, value, what);
    assert!(extra.is_empty(), "{what}: {value}: {extra:?}");
}

/// The schema of an operation's answer with `status`.
fn answer_schema(path: &str, method: &str, status: u16) -> String {
    format!(
        "/paths/{}/{method}/responses/{status}/content/application~1json/schema",
        path.replace('~', "~0").replace('/', "~1")
    )
}

#[tokio::test]
async fn every_answer_and_webhook_body_of_a_conversations_life_is_valid_against_the_document() {
    let document = document();
    let app = spawn_app().await;
    let ann = app.signed_in_agent().await;
    let mut checked = 0;
    let mut answer = |path: &str, method: &str, status: u16, value: &Value| {
        check(
            &document,
            &answer_schema(path, method, status),
            value,
            &format!("{method} {path} {status}"),
        );
        checked += 1;
    };

    let availability = app.availability().await;
    answer("/api/chat/availability", "get", 200, &availability);
    let started = app
        .start_answer(
            &json!({"customerName": "Megan Bowen", "customerId": "c-1", "channel": "msteams",
            "tenantId": "t-1", "botConversationId": "b-1", "problemDescription": "My printer",
            "idempotencyKey": "k-1"}),
        )
        .await;
    answer("/api/chat/start", "post", 200, &started);
    let id = started["conversationId"].as_str().unwrap().to_owned();
    let received = app.customer_says(&id, "Hello").await;
    assert_eq!(received.status(), 200);
    answer(
        "/api/chat/receive",
        "post",
        200,
        &received.json().await.unwrap(),
    );
    ann.accept(&id).await;
    let sent = app.agent_sends(&id, "Hi, this is Ann").await;
    answer("/api/chat/send", "post", 200, &sent);
    let _ = ann.act(&id, "typing", &[]).await;
    let upload = app
        .upload(&id, "note.txt", Some("u-1"), b"plain words".to_vec())
        .await;
    assert_eq!(upload.status(), 200);
    answer(
        "/api/chat/attachments",
        "post",
        200,
        &upload.json().await.unwrap(),
    );
    let messages: Value = app
        .get_api(&format!("/api/chat/messages?conversationId={id}"))
        .await
        .json()
        .await
        .unwrap();
    answer("/api/chat/messages", "get", 200, &messages);
    let conversations: Value = app
        .get_api("/api/chat/conversations")
        .await
        .json()
        .await
        .unwrap();
    answer("/api/chat/conversations", "get", 200, &conversations);
    let rated = app
        .post_api(
            "/api/chat/rate",
            &json!({"conversationId": id, "rating": 5, "comment": "quick"}),
        )
        .await;
    assert_eq!(rated.status(), 200);
    answer("/api/chat/rate", "post", 200, &rated.json().await.unwrap());

    // Refusals answer the contract's error body.
    let unknown = app
        .post_api(
            "/api/chat/receive",
            &json!({"conversationId": "no-such", "message": "x"}),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    answer(
        "/api/chat/receive",
        "post",
        404,
        &unknown.json().await.unwrap(),
    );
    let bad = app
        .post_api(
            "/api/chat/rate",
            &json!({"conversationId": id, "rating": 9}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    answer("/api/chat/rate", "post", 400, &bad.json().await.unwrap());

    // A second conversation the agent ends, for the end event.
    let second = app.start_conversation("Ben Customer").await;
    ann.accept(&second).await;
    let _ = ann.act(&second, "end", &[]).await;
    let ended = app
        .post_api("/api/chat/end", &json!({"conversationId": id}))
        .await;
    assert_eq!(ended.status(), 200);
    answer("/api/chat/end", "post", 200, &ended.json().await.unwrap());
    let late = app.customer_says(&id, "still there?").await;
    assert_eq!(late.status(), 409);
    answer(
        "/api/chat/receive",
        "post",
        409,
        &late.json().await.unwrap(),
    );

    // Every webhook body: joins, the message, its file's message, the end, typing.
    typing_bodies(&app.webhook, 1).await;
    let bodies = webhook_bodies(&app.webhook, 4).await;
    let all = all_webhook_bodies(&app.webhook).await;
    let kinds: std::collections::BTreeSet<&str> = all
        .iter()
        .filter_map(|body| body["type"].as_str())
        .collect();
    for kind in ["agentJoined", "message", "conversationEnded", "typing"] {
        assert!(kinds.contains(kind), "no {kind} among {kinds:?}");
    }
    let event = "/webhooks/liveChatEvent/post/requestBody/content/application~1json/schema";
    for body in &all {
        check(&document, event, body, &format!("webhook {}", body["type"]));
    }
    let checked = checked + all.len();
    assert!(bodies.len() >= 4);
    // Twelve answers, then every webhook body.
    assert_eq!(checked, 12 + all.len());
}
