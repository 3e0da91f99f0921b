//! What the outboxes store: one JSON payload per delivery, written when the message is accepted so
//! that delivery needs nothing else (not even the session, which may close in between).

use serde::{Deserialize, Serialize};

use crate::protocol::Activity;

/// A message for a Teams conversation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TeamsMessage {
    pub service_url: String,
    pub conversation_id: String,
    pub activity: Activity,
    /// Where to report a delivery that finally failed.
    pub livechat_conversation_id: String,
}

/// A call to make on the live chat, on behalf of the user or the skill.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum LiveChatCall {
    #[serde(rename_all = "camelCase")]
    Message {
        livechat_conversation_id: String,
        message: String,
        sender: String,
    },
    #[serde(rename_all = "camelCase")]
    End { livechat_conversation_id: String },
}
