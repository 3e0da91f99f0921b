//! The skill manifest (schema 2.0.0) Copilot Studio reads when the skill is added to an agent.
//!
//! It is generated from configuration, so pointing it at a dev tunnel is a matter of setting
//! `SKILL_PUBLIC_URL`; nobody edits JSON by hand. The actions and their inputs and outputs are the
//! ones the topics bind: `startConversation` (optional input `ProblemDescription`; outputs
//! `LiveChatConversationId`, `Status`,
//! `QueuePosition`, `EstimatedWaitMinutes`), `sendMessage`
//! (inputs `LiveChatConversationId`, `ProblemDescription`; outputs when the chat ends `Outcome`,
//! `AgentName`), `endConversation` (input `LiveChatConversationId`; output `Outcome`) and
//! `rateConversation` (inputs `LiveChatConversationId`, `Rating`, `Comment`; output `Outcome`)
//! and `leaveMessage` (input `Message`; outputs `LiveChatConversationId`, `Outcome`).

use serde_json::{json, Value};
use url::Url;

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
    pub const RATE_CONVERSATION: &str = "rateConversation";
    pub const LEAVE_MESSAGE: &str = "leaveMessage";
}

/// Input and output names shared with the Copilot Studio topics.
pub mod fields {
    pub const LIVE_CHAT_CONVERSATION_ID: &str = "LiveChatConversationId";
    pub const PROBLEM_DESCRIPTION: &str = "ProblemDescription";
    /// `connected`, `queued`, `noAgentAvailable`, `closed` or `unavailable`.
    pub const STATUS: &str = "Status";
    pub const QUEUE_POSITION: &str = "QueuePosition";
    pub const ESTIMATED_WAIT_MINUTES: &str = "EstimatedWaitMinutes";
    /// When a closed contact centre opens next, in plain words ("" when open or unknown).
    pub const NEXT_OPENING: &str = "NextOpening";
    /// How a chat ended: `customerEnded` for `endConversation`; `agentEnded`, `queueTimeout`,
    /// `inactive` or `failed` when `sendMessage` ends.
    pub const OUTCOME: &str = "Outcome";
    /// The last agent who had the chat, when `sendMessage` ends ("" if none).
    pub const AGENT_NAME: &str = "AgentName";
    pub const RATING: &str = "Rating";
    /// The message a customer leaves for the team while no agent is online.
    pub const MESSAGE: &str = "Message";
    pub const COMMENT: &str = "Comment";
}

/// The skill endpoint's path, below the skill's public URL.
pub const SKILL_ENDPOINT_PATH: &str = "/api/messages";

/// What the manifest says about the skill, besides its actions.
#[derive(Debug, Clone, Copy)]
pub struct SkillDescription<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub publisher_name: &'a str,
    pub version: &'a str,
}

/// Builds the manifest of the skill reached at `public_url`, registered as `app_id` (none in
/// anonymous local mode).
pub fn skill_manifest(
    manifest: &SkillDescription<'_>,
    public_url: &Url,
    app_id: Option<&str>,
) -> Value {
    let endpoint = format!(
        "{}{SKILL_ENDPOINT_PATH}",
        public_url.as_str().trim_end_matches('/')
    );
    let app_id = app_id.unwrap_or(ANONYMOUS_APP_ID);
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
                "value": { "$ref": "#/definitions/messageInput" },
                "resultValue": { "$ref": "#/definitions/messageOutput" }
            },
            (actions::END_CONVERSATION): {
                "description": "End the live chat conversation",
                "type": "event",
                "name": actions::END_CONVERSATION,
                "value": { "$ref": "#/definitions/endConversationInput" },
                "resultValue": { "$ref": "#/definitions/endConversationOutput" }
            },
            (actions::LEAVE_MESSAGE): {
                "description": "Leave a message for the live agents while none is online",
                "type": "event",
                "name": actions::LEAVE_MESSAGE,
                "value": { "$ref": "#/definitions/leaveMessageInput" },
                "resultValue": { "$ref": "#/definitions/leaveMessageOutput" }
            },
            (actions::RATE_CONVERSATION): {
                "description": "Store the customer's rating of a finished live chat",
                "type": "event",
                "name": actions::RATE_CONVERSATION,
                "value": { "$ref": "#/definitions/rateConversationInput" },
                "resultValue": { "$ref": "#/definitions/rateConversationOutput" }
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
                    (fields::STATUS): string("connected, queued, noAgentAvailable (no agent online; no session was opened), closed (outside business hours; no session was opened) or unavailable (the live chat could not be reached)"),
                    (fields::QUEUE_POSITION): number("The customer's place in the queue when queued (1 is next), else 0"),
                    (fields::ESTIMATED_WAIT_MINUTES): number("The live chat's estimate of the wait when queued, in minutes, else 0"),
                    (fields::NEXT_OPENING): string("When closed: when the live agents are back, in plain words (e.g. Monday 14 December at 09:00 (Europe/London time)), else empty")
                }
            },
            "messageInput": {
                "type": "object",
                "properties": {
                    (fields::LIVE_CHAT_CONVERSATION_ID): string("The id of the live chat conversation"),
                    (fields::PROBLEM_DESCRIPTION): string("What the customer needs help with")
                }
            },
            "messageOutput": {
                "type": "object",
                "properties": {
                    (fields::OUTCOME): string("How the chat ended: agentEnded, queueTimeout (nobody took it in time), inactive (the customer wrote nothing for too long) or failed"),
                    (fields::AGENT_NAME): string("The last agent who had the chat, or empty")
                }
            },
            "leaveMessageInput": {
                "type": "object",
                "properties": {
                    (fields::MESSAGE): string("What the customer wants the team to know")
                }
            },
            "leaveMessageOutput": {
                "type": "object",
                "properties": {
                    (fields::LIVE_CHAT_CONVERSATION_ID): string("The live chat conversation that holds the message, or empty"),
                    (fields::OUTCOME): string("messageLeft, or unavailable (the live chat could not be reached, or holds no left messages)")
                }
            },
            "rateConversationInput": {
                "type": "object",
                "properties": {
                    (fields::LIVE_CHAT_CONVERSATION_ID): string("The id of the live chat conversation to rate"),
                    (fields::RATING): number("The customer's rating, a whole number from 1 (poor) to 5 (excellent)"),
                    (fields::COMMENT): string("What the customer said about the chat (optional)")
                }
            },
            "rateConversationOutput": {
                "type": "object",
                "properties": {
                    (fields::OUTCOME): string("rated, or notRated (the live chat behind takes no ratings; nothing was kept)")
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
