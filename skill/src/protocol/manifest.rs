//! The skill manifest (schema 2.0.0) Copilot Studio reads when the skill is added to an agent.
//!
//! It is generated from configuration, so pointing it at a dev tunnel is a matter of setting
//! `SKILL_PUBLIC_URL`; nobody edits JSON by hand. The actions and their inputs and outputs are the
//! ones the topics bind: `startConversation` (optional input `ProblemDescription`; outputs
//! `LiveChatConversationId`, `Status`,
//! `QueuePosition`, `EstimatedWaitMinutes`), `sendMessage`
//! (inputs `LiveChatConversationId`, `ProblemDescription`) and `endConversation` (input
//! `LiveChatConversationId`).

use serde_json::{json, Value};

use crate::configuration::Settings;

/// The schema the manifest declares.
pub const SCHEMA_URL: &str =
    "https://schemas.botframework.com/schemas/skills/skill-manifest-2.0.0.json";

/// App id shown in anonymous local mode, where there is no registration (the schema requires a GUID).
pub const ANONYMOUS_APP_ID: &str = "00000000-0000-0000-0000-000000000000";

/// Action ids, which are also the event names Copilot Studio sends.
pub mod actions {
    pub const START_CONVERSATION: &str = "startConversation";
    pub const SEND_MESSAGE: &str = "sendMessage";
    pub const END_CONVERSATION: &str = "endConversation";
}

/// Input and output names shared with the Copilot Studio topics.
pub mod fields {
    pub const LIVE_CHAT_CONVERSATION_ID: &str = "LiveChatConversationId";
    pub const PROBLEM_DESCRIPTION: &str = "ProblemDescription";
    /// `connected`, `queued` or `noAgentAvailable`.
    pub const STATUS: &str = "Status";
    pub const QUEUE_POSITION: &str = "QueuePosition";
    pub const ESTIMATED_WAIT_MINUTES: &str = "EstimatedWaitMinutes";
    /// How a chat ended: `customerEnded` for `endConversation`.
    pub const OUTCOME: &str = "Outcome";
}

/// Builds the manifest for these settings.
pub fn skill_manifest(settings: &Settings) -> Value {
    let endpoint = format!(
        "{}/api/messages",
        settings.application.public_url.trim_end_matches('/')
    );
    let app_id = settings
        .auth
        .app_id
        .clone()
        .unwrap_or_else(|| ANONYMOUS_APP_ID.to_owned());
    let manifest = &settings.manifest;
    let string = |description: &str| json!({ "type": "string", "description": description });
    let number = |description: &str| json!({ "type": "number", "description": description });
    json!({
        "$schema": SCHEMA_URL,
        "$id": manifest.id,
        "name": manifest.name,
        "version": manifest.version,
        "description": manifest.description,
        "publisherName": manifest.publisher_name,
        "tags": ["handoff", "live agent", "live chat"],
        "endpoints": [{
            "name": "default",
            "protocol": "BotFrameworkV3",
            "description": "Default endpoint for the skill",
            "endpointUrl": endpoint,
            "msAppId": app_id
        }],
        "activities": {
            (actions::START_CONVERSATION): {
                "description": "Start a live chat conversation",
                "type": "event",
                "name": actions::START_CONVERSATION,
                "value": { "$ref": "#/definitions/startConversationInput" },
                "resultValue": { "$ref": "#/definitions/startConversationOutput" }
            },
            (actions::SEND_MESSAGE): {
                "description": "Send a message to the live agent",
                "type": "message",
                "value": { "$ref": "#/definitions/messageInput" }
            },
            (actions::END_CONVERSATION): {
                "description": "End the live chat conversation",
                "type": "event",
                "name": actions::END_CONVERSATION,
                "value": { "$ref": "#/definitions/endConversationInput" },
                "resultValue": { "$ref": "#/definitions/endConversationOutput" }
            }
        },
        "definitions": {
            "startConversationInput": {
                "type": "object",
                "properties": {
                    (fields::PROBLEM_DESCRIPTION): string("What the customer needs help with, shown to the agent with the handoff context (optional)")
                }
            },
            "startConversationOutput": {
                "type": "object",
                "properties": {
                    (fields::LIVE_CHAT_CONVERSATION_ID): string("The id of the live chat conversation"),
                    (fields::STATUS): string("connected, queued, noAgentAvailable (no agent online; no session was opened) or unavailable (the live chat could not be reached)"),
                    (fields::QUEUE_POSITION): number("The customer's place in the queue when queued (1 is next), else 0"),
                    (fields::ESTIMATED_WAIT_MINUTES): number("The live chat's estimate of the wait when queued, in minutes, else 0")
                }
            },
            "messageInput": {
                "type": "object",
                "properties": {
                    (fields::LIVE_CHAT_CONVERSATION_ID): string("The id of the live chat conversation"),
                    (fields::PROBLEM_DESCRIPTION): string("What the customer needs help with")
                }
            },
            "endConversationInput": {
                "type": "object",
                "properties": {
                    (fields::LIVE_CHAT_CONVERSATION_ID): string("The id of the live chat conversation")
                }
            },
            "endConversationOutput": {
                "type": "object",
                "properties": {
                    (fields::OUTCOME): string("How the chat ended: customerEnded")
                }
            }
        }
    })
}
