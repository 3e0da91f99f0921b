//! The contract published: an OpenAPI 3.1 document of the session API and the webhook events,
//! generated from this crate's types (their JSON Schemas, 2020-12, as OpenAPI 3.1 takes them), so
//! that it cannot drift from what both services send and read. `docs/livechat-openapi.json` is
//! this document as committed; a test keeps the two equal, and Contoso Live Chat serves it at
//! [`OPENAPI_PATH`]. An integrator generates a client or a server for their hub's middleware from it.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::api::{
    Availability, Conversation, EndAnswer, EndRequest, ErrorAnswer, RateAnswer, RateRequest,
    ReceiveAnswer, ReceiveRequest, SendAnswer, SendRequest, StartAnswer, StartRequest,
    TranscriptEntry, UploadAnswer, AVAILABILITY_PATH, CONVERSATIONS_PATH, END_PATH, MESSAGES_PATH,
    RATE_PATH, RECEIVE_PATH, SEND_PATH, START_PATH,
};
use crate::files::{ATTACHMENTS_PATH, FILES_PATH};
use crate::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::webhook::{WebhookAnswer, WebhookEvent, WEBHOOK_PATH};

/// Where Contoso Live Chat serves the document.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = SchemaGenerator::new(settings);
    let errors = json!({
        "400": answer::<ErrorAnswer>(&mut generator, "The request is malformed."),
        "401": answer::<ErrorAnswer>(&mut generator, "The API key is missing or wrong."),
        "403": answer::<ErrorAnswer>(&mut generator, "A web browser made the request."),
        "415": answer::<ErrorAnswer>(&mut generator, "The body is not declared as JSON."),
    });
    let post = |generator: &mut SchemaGenerator,
                summary: &str,
                request: Value,
                ok: Value,
                extra: &[(&str, &str)]| {
        let mut responses = errors.as_object().cloned().unwrap_or_default();
        responses.insert("200".to_owned(), ok);
        for (status, description) in extra {
            responses.insert(
                (*status).to_owned(),
                answer::<ErrorAnswer>(generator, description),
            );
        }
        json!({"post": {
            "summary": summary,
            "security": [{"apiKey": []}],
            "parameters": [{"$ref": "#/components/parameters/traceparent"}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": request}}},
            "responses": responses,
        }})
    };
    let mut paths = Map::new();
    let start_request = reference::<StartRequest>(&mut generator);
    let start_answer = answer::<StartAnswer>(
        &mut generator,
        "The conversation, new or the one its key opened.",
    );
    paths.insert(START_PATH.to_owned(), post(&mut generator, "Opens a conversation (the body is optional; a repeated idempotencyKey answers the conversation it opened).", start_request, start_answer, &[]));
    let receive = reference::<ReceiveRequest>(&mut generator);
    let received = answer::<ReceiveAnswer>(
        &mut generator,
        "Stored (or the entry its id stored before).",
    );
    paths.insert(
        RECEIVE_PATH.to_owned(),
        post(
            &mut generator,
            "A customer's message or a system note.",
            receive,
            received,
            &[
                ("404", "No such conversation."),
                ("409", "The conversation has ended."),
            ],
        ),
    );
    let send = reference::<SendRequest>(&mut generator);
    let sent = answer::<SendAnswer>(
        &mut generator,
        "Stored as pending, delivered to the webhook.",
    );
    paths.insert(
        SEND_PATH.to_owned(),
        post(
            &mut generator,
            "An agent's reply from a script.",
            send,
            sent,
            &[
                ("404", "No such conversation."),
                ("409", "The conversation has ended."),
            ],
        ),
    );
    let end = reference::<EndRequest>(&mut generator);
    let ended = answer::<EndAnswer>(&mut generator, "Ended (ending twice is harmless).");
    paths.insert(
        END_PATH.to_owned(),
        post(
            &mut generator,
            "The customer left: ends the conversation.",
            end,
            ended,
            &[("404", "No such conversation.")],
        ),
    );
    let rate = reference::<RateRequest>(&mut generator);
    let rated = answer::<RateAnswer>(&mut generator, "Stored (rating again replaces it).");
    paths.insert(
        RATE_PATH.to_owned(),
        post(
            &mut generator,
            "The customer's rating, 1 to 5.",
            rate,
            rated,
            &[("404", "No such conversation.")],
        ),
    );
    let availability =
        answer::<Availability>(&mut generator, "Agents online, the queue and the wait.");
    paths.insert(
        AVAILABILITY_PATH.to_owned(),
        get(
            "Whether an agent is online, for a customer starting now.",
            availability,
            &[],
        ),
    );
    let transcript = array_answer::<TranscriptEntry>(
        &mut generator,
        "The transcript, oldest first (every open conversation's without the parameter).",
    );
    paths.insert(MESSAGES_PATH.to_owned(), get("A conversation's transcript.", transcript, &[json!({"name": "conversationId", "in": "query", "required": false, "schema": {"type": "string"}})]));
    let conversations = array_answer::<Conversation>(
        &mut generator,
        "Open conversations, then the 100 most recently ended.",
    );
    paths.insert(
        CONVERSATIONS_PATH.to_owned(),
        get("The conversations.", conversations, &[]),
    );
    let uploaded = answer::<UploadAnswer>(&mut generator, "The file's entry.");
    let upload_query = ["conversationId", "id", "name", "sender", "role"]
        .map(|name| json!({"name": name, "in": "query", "required": name == "conversationId", "schema": {"type": "string"}}));
    paths.insert(ATTACHMENTS_PATH.to_owned(), json!({"post": {
        "summary": "A customer's file: the body is its bytes, streamed; the kind is told by the bytes.",
        "security": [{"apiKey": []}],
        "parameters": upload_query,
        "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
        "responses": {"200": uploaded, "413": {"description": "Larger than the live chat takes."}, "415": {"description": "A kind of file the live chat does not take."}, "422": {"description": "Refused by the malware scan."}, "507": {"description": "The live chat's storage is full."}},
    }}));
    paths.insert(format!("{FILES_PATH}/{{id}}"), json!({"get": {
        "summary": "A stored file's bytes.",
        "security": [{"apiKey": []}],
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The bytes.", "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}, "404": {"description": "No such file."}, "410": {"description": "Removed by the retention."}},
    }}));
    let event = reference::<WebhookEvent>(&mut generator);
    let accepted = answer::<WebhookAnswer>(
        &mut generator,
        "Stored (or a duplicate, or dropped: see status).",
    );
    let webhooks = json!({"liveChatEvent": {"post": {
        "summary": format!("The live chat posts each event to the skill's {WEBHOOK_PATH}, through an ordered, durable outbox (typing excepted). Signed with {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} when a secret is shared."),
        "parameters": [
            {"name": TIMESTAMP_HEADER, "in": "header", "required": false, "schema": {"type": "string"}, "description": "Unix seconds of the signature."},
            {"name": SIGNATURE_HEADER, "in": "header", "required": false, "schema": {"type": "string"}, "description": "sha256= and the hex HMAC-SHA256 of \"{timestamp}.{body}\"."},
            {"$ref": "#/components/parameters/traceparent"},
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": event}}},
        "responses": {
            "200": accepted,
            "401": {"description": "A bad or missing signature: final."},
            "404": {"description": "An unknown conversation: final."},
            "410": {"description": "The conversation has ended: final."},
            "503": {"description": "Retry later: a signature refused for its time (X-Handover-Refusal: stale-timestamp), or a conversation still opening."},
        },
    }}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "The handover's live-chat contract",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The session API a live-chat system offers the handover skill, and the events it posts to the skill's webhook. Generated from the livechat-contract crate.",
        },
        "paths": paths,
        "webhooks": webhooks,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "LIVECHAT_API_KEY, when the live chat requires one."}},
            "parameters": {"traceparent": {"name": crate::TRACE_HEADER, "in": "header", "required": false, "schema": {"type": "string"}, "description": "W3C trace context, when the sender exports traces."}},
        },
    })
}

/// A `$ref` to `T`'s schema, registering it.
fn reference<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    generator.subschema_for::<T>().to_value()
}

/// An answer whose JSON body is `T`.
fn answer<T: JsonSchema>(generator: &mut SchemaGenerator, description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": reference::<T>(generator)}}})
}

/// A 200 answer whose JSON body is an array of `T`.
fn array_answer<T: JsonSchema>(generator: &mut SchemaGenerator, description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "array", "items": reference::<T>(generator)}}}})
}

/// A `GET` with the key and these query parameters.
fn get(summary: &str, ok: Value, parameters: &[Value]) -> Value {
    let mut parameters = parameters.to_vec();
    parameters.push(json!({"$ref": "#/components/parameters/traceparent"}));
    json!({"get": {"summary": summary, "security": [{"apiKey": []}], "parameters": parameters, "responses": {"200": ok, "401": {"description": "The API key is missing or wrong."}}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed document, from the repository root.
    fn committed_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/livechat-openapi.json")
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let generated = serde_json::to_string_pretty(&document()).unwrap() + "\n";
        if std::env::var("UPDATE_OPENAPI").is_ok_and(|value| value == "1") {
            std::fs::write(committed_path(), &generated).unwrap();
        }
        let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/livechat-openapi.json is not what the contract's types generate; run `UPDATE_OPENAPI=1 cargo test -p livechat-contract openapi` and commit it"
        );
    }

    #[test]
    fn every_reference_resolves_and_every_endpoint_is_described() {
        let document = document();
        let text = document.to_string();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but not defined"
            );
        }
        for path in [
            START_PATH,
            RECEIVE_PATH,
            SEND_PATH,
            END_PATH,
            RATE_PATH,
            AVAILABILITY_PATH,
            MESSAGES_PATH,
            CONVERSATIONS_PATH,
            ATTACHMENTS_PATH,
        ] {
            assert!(document["paths"][path].is_object(), "{path}");
        }
        let event = serde_json::to_string(&schemas["WebhookEvent"]).unwrap();
        for kind in [
            "message",
            "conversationEnded",
            "agentJoined",
            "queueUpdate",
            "typing",
        ] {
            assert!(event.contains(&format!("\"{kind}\"")), "{kind} in {event}");
        }
    }
}
