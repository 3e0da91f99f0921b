//! The session API the skill calls, `POST /api/chat/{start,receive,send,end}` and
//! `GET /api/chat/{messages,conversations}`: request and answer bodies, and the query and answer
//! of a file's upload (`crate::files` has its path and its attachment).
//!
//! With an API key configured, every call carries `Authorization: Bearer {key}`. Errors are
//! [`ErrorAnswer`] with a 4xx status: 400 malformed, 401 bad key, 404 unknown conversation, 409
//! ended conversation, 413 too large.
//!
//! Retries are safe: a start with an `idempotencyKey` seen before answers the conversation that key
//! opened, and a receive with an `id` seen before in that conversation answers the message stored
//! then; neither stores anything again. A caller that sends neither still works, without that
//! guarantee.

use serde::{Deserialize, Serialize};

use crate::{text_or_empty, wire_names};

pub const START_PATH: &str = "/api/chat/start";

/// The longest message (in characters) Contoso Live Chat takes by default; a longer one is
/// answered 400. The skill refuses such a message up front and tells the customer.
pub const MAX_MESSAGE_CHARS: usize = 10_000;
pub const RECEIVE_PATH: &str = "/api/chat/receive";
pub const SEND_PATH: &str = "/api/chat/send";
pub const END_PATH: &str = "/api/chat/end";
pub const MESSAGES_PATH: &str = "/api/chat/messages";
pub const CONVERSATIONS_PATH: &str = "/api/chat/conversations";
pub const AVAILABILITY_PATH: &str = "/api/chat/availability";
pub const RATE_PATH: &str = "/api/chat/rate";

/// The lowest and highest rating a customer gives a chat.
pub const RATINGS: std::ops::RangeInclusive<u8> = 1..=5;
/// The longest rating comment (in characters) Contoso Live Chat takes.
pub const MAX_COMMENT_CHARS: usize = 1_000;

/// The longest `idempotencyKey` or message `id` (in characters) a caller may send.
pub const MAX_KEY_CHARS: usize = 200;

/// A key or id the caller made, fitted to [`MAX_KEY_CHARS`]: unchanged when it fits, else its first
/// characters and the SHA-256 of the whole, so that it stays the same for the same input (a retry,
/// a restart) and two long keys that share a beginning still differ.
pub fn fitted_key(key: &str) -> String {
    use sha2::{Digest, Sha256};
    if key.chars().count() <= MAX_KEY_CHARS {
        return key.to_owned();
    }
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    let kept: String = key.chars().take(MAX_KEY_CHARS - digest.len() - 1).collect();
    format!("{kept}#{digest}")
}

/// A caller's idempotency key or message id: trimmed; `None` when absent or blank; an error when
/// too long or not printable text.
pub fn caller_key(value: Option<&str>, name: &str) -> Result<Option<String>, String> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_KEY_CHARS {
        return Err(format!("{name} is longer than {MAX_KEY_CHARS} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{name} must not contain control characters"));
    }
    Ok(Some(value.to_owned()))
}

/// `POST /api/chat/start`: the handoff context, all optional (the original sample sends no body);
/// the skill always sends `botConversationId`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_description: Option<String>,
    /// The caller's key for this start (at most [`MAX_KEY_CHARS`]): a repeat answers the
    /// conversation the first opened, whatever the rest of the body says. The skill sends one per
    /// handover session, the same on every retry and after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// The answer to a start: the new conversation's id (or, for a repeated key, the original's), and
/// where it stands. A live chat that knows no queue (the original sample) answers only the id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartAnswer {
    #[serde(default, deserialize_with = "text_or_empty")]
    pub conversation_id: String,
    /// `waiting` in the queue, or `assigned` to an agent at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ConversationStatus>,
    /// The customer's place in the queue (1 is next) while waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
    /// The live chat's estimate of the wait, in seconds, while waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_wait_seconds: Option<u64>,
    /// The agent's display name, when assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
}

/// Where a conversation is in the contact centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    /// In the queue: no agent has it yet.
    Waiting,
    /// An agent has it; only they write in it.
    Assigned,
    Ended,
}

wire_names!(ConversationStatus {
    Waiting => "waiting",
    Assigned => "assigned",
    Ended => "ended",
});

/// `GET /api/chat/availability`: whether anyone would answer a start now.
///
/// `estimatedWaitSeconds` is for a customer starting now: 0 when an online agent has room; else
/// the mean wait (start to acceptance) of the last 20 conversations accepted in the past day (120 s
/// when there were none), times the places ahead in the queue plus one, divided by the agents
/// online; 0 as well when no agent is online (there is nothing to estimate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub agents_online: u32,
    pub queue_length: u32,
    pub estimated_wait_seconds: u64,
    /// Within business hours (a live chat that has none is always open).
    #[serde(default = "open_by_default")]
    pub open: bool,
    /// While closed: when the centre next opens (RFC 3339, in its own time zone's offset), if it
    /// does within a year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_opening: Option<String>,
    /// The centre's time zone (an IANA name such as `Europe/London`), to say `next_opening` in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

fn open_by_default() -> bool {
    true
}

/// Who wrote a transcript entry. The skill posts as [`Role::Customer`] (the user's messages) or
/// [`Role::System`] (its own notes, such as "the customer left"); agents write from the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Agent,
    System,
}

wire_names!(Role {
    Customer => "customer",
    Agent => "agent",
    System => "system",
});

/// The sender name that meant "system" before `role` existed; a receive without `role` from this
/// sender is still taken as a system note.
pub const LEGACY_SYSTEM_SENDER: &str = "System";

/// `POST /api/chat/receive`: a customer's (or the skill's system) message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiveRequest {
    #[serde(default, deserialize_with = "text_or_empty")]
    pub conversation_id: String,
    #[serde(default, deserialize_with = "text_or_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// `customer` or `system`; absent means customer, unless the sender is [`LEGACY_SYSTEM_SENDER`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The caller's id for the message (at most [`MAX_KEY_CHARS`]), unique within the
    /// conversation: a repeat answers the message stored the first time and stores nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ReceiveRequest {
    /// The role the message is stored with: the explicit one, else the legacy sender rule.
    pub fn effective_role(&self) -> Role {
        match self.role {
            Some(role) => role,
            None if self
                .sender
                .as_deref()
                .is_some_and(|sender| sender.trim().eq_ignore_ascii_case(LEGACY_SYSTEM_SENDER)) =>
            {
                Role::System
            }
            None => Role::Customer,
        }
    }
}

/// The answer to a receive: the stored message's id (the live chat's own, not the caller's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiveAnswer {
    pub id: String,
}

/// `POST /api/chat/send`: an agent's reply from a script, delivered to the skill like one typed in
/// the page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    #[serde(default, deserialize_with = "text_or_empty")]
    pub conversation_id: String,
    #[serde(default, deserialize_with = "text_or_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
}

/// Where an agent's reply is on its way to the skill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

wire_names!(DeliveryState {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
});

/// The answer to a send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendAnswer {
    pub id: String,
    pub delivery_state: DeliveryState,
}

/// `POST /api/chat/end`: the customer left. Ending an ended conversation changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndRequest {
    #[serde(default, deserialize_with = "text_or_empty")]
    pub conversation_id: String,
}

/// Whether a conversation still takes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConversationState {
    Open,
    Ended,
}

wire_names!(ConversationState {
    Open => "open",
    Ended => "ended",
});

/// The answer to an end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndAnswer {
    pub conversation_id: String,
    pub state: ConversationState,
}

/// `POST /api/chat/rate`: the customer's rating of a chat (open or ended), 1 to 5, with an
/// optional comment. Rating again replaces the rating: a repeated call changes nothing more.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateRequest {
    #[serde(default, deserialize_with = "text_or_empty")]
    pub conversation_id: String,
    /// Checked against [`RATINGS`] by the live chat (400 outside it).
    #[serde(default)]
    pub rating: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The answer to a rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateAnswer {
    pub conversation_id: String,
    pub rating: u8,
}

/// The upload's query: which conversation, who sent it, what it is called, and the caller's id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadQuery {
    #[serde(default, deserialize_with = "text_or_empty")]
    pub conversation_id: String,
    /// The caller's id for the entry (at most [`crate::api::MAX_KEY_CHARS`]), unique within the
    /// conversation: a repeat answers the entry stored the first time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The name the sender gave the file; made safe before it is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// `customer` (the default) or `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// The answer to an upload: the new entry's id and the stored file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadAnswer {
    pub id: String,
    pub attachment: crate::files::Attachment,
}

/// Every error answer: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorAnswer {
    pub error: String,
}

/// `GET /api/chat/messages?conversationId=ID`; without it, every open conversation's messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagesQuery {
    #[serde(default)]
    pub conversation_id: Option<String>,
}

/// What a transcript entry is: a message, the agent's end of the conversation, or an agent joining
/// it (accepting, or taking it over on a transfer). Queue updates to the customer go through the
/// same outbox as `queue` entries, but no transcript lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Message,
    Ended,
    Joined,
    Queue,
}

wire_names!(EntryKind {
    Message => "message",
    Ended => "ended",
    Joined => "joined",
    Queue => "queue",
});

/// One transcript entry of `GET /api/chat/messages` (and of the agent pages' live updates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptEntry {
    pub id: String,
    /// The entry's position across all conversations; later entries have larger numbers.
    pub seq: i64,
    pub conversation_id: String,
    pub kind: EntryKind,
    pub role: Role,
    pub sender: String,
    pub message: String,
    pub timestamp: String,
    /// Agent replies only.
    pub delivery_state: Option<DeliveryState>,
    pub last_error: Option<String>,
    /// The files the entry carries (its `message` may then be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::files::Attachment>,
    /// The masking rules that changed `message` before it was stored (e.g. `card-number`): the
    /// original was never kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
}

/// Who ended a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndedBy {
    Agent,
    Customer,
}

wire_names!(EndedBy {
    Agent => "agent",
    Customer => "customer",
});

/// A conversation as `GET /api/chat/conversations` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub id: String,
    pub customer_name: Option<String>,
    pub state: ConversationState,
    pub created_at: String,
    pub ended_at: Option<String>,
    /// When the customer started waiting for an answer.
    pub waiting_since: Option<String>,
    pub last_message: Option<String>,
    pub last_message_at: Option<String>,
    /// Customer messages no agent has seen yet.
    pub unread: i64,
    /// Waiting, assigned or ended (absent from a live chat without a queue).
    #[serde(default = "ConversationSummary::default_status")]
    pub status: ConversationStatus,
    /// The assigned agent's username and display name.
    #[serde(default)]
    pub assigned_agent: Option<String>,
    #[serde(default)]
    pub agent_name: Option<String>,
    /// Since when it has been in the queue (its place is by this time, oldest first).
    #[serde(default)]
    pub queued_at: Option<String>,
}

impl ConversationSummary {
    fn default_status() -> ConversationStatus {
        ConversationStatus::Waiting
    }
}

/// A conversation with its handoff context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    pub tenant_id: Option<String>,
    pub bot_conversation_id: Option<String>,
    pub problem_description: Option<String>,
    pub ended_by: Option<EndedBy>,
    /// The note the last transfer left for the agent who has it now.
    #[serde(default)]
    pub transfer_note: Option<String>,
    /// The customer's rating (1 to 5) and comment, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_comment: Option<String>,
    /// The agent's wrap-up of an ended conversation: a disposition code (the live chat's list,
    /// or `timeout` when none was given in time) and a summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_up_summary: Option<String>,
    /// When an agent first took it (for the handling time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<String>,
    /// The wrap-up is required and not yet done (the agent's slot stays taken).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wrap_up_pending: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_start_leaves_out_what_it_does_not_know_and_accepts_an_empty_object() {
        let body = StartRequest {
            bot_conversation_id: Some("a:1".into()),
            customer_name: Some("Megan".into()),
            ..StartRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"customerName": "Megan", "botConversationId": "a:1"})
        );
        let empty: StartRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, StartRequest::default());
    }

    #[test]
    fn missing_and_null_texts_read_as_empty() {
        let body: ReceiveRequest =
            serde_json::from_value(json!({"conversationId": null, "extra": 1})).unwrap();
        assert_eq!(body.conversation_id, "");
        assert_eq!(body.message, "");
    }

    #[test]
    fn the_role_is_explicit_or_follows_the_legacy_sender_name() {
        let read = |value| serde_json::from_value::<ReceiveRequest>(value).unwrap();
        assert_eq!(
            read(json!({"sender": "System"})).effective_role(),
            Role::System
        );
        assert_eq!(
            read(json!({"sender": "System", "role": "customer"})).effective_role(),
            Role::Customer
        );
        assert_eq!(
            read(json!({"sender": "Megan", "role": "system"})).effective_role(),
            Role::System
        );
        assert_eq!(read(json!({})).effective_role(), Role::Customer);
        assert!(serde_json::from_value::<ReceiveRequest>(json!({"role": "boss"})).is_err());
    }

    #[test]
    fn long_keys_are_fitted_stably_and_short_ones_kept() {
        assert_eq!(fitted_key("handover-session:s-1"), "handover-session:s-1");
        let teams_id = format!("left-message:a:{}:act-1", "x".repeat(300));
        let fitted = fitted_key(&teams_id);
        assert_eq!(fitted.chars().count(), MAX_KEY_CHARS);
        assert_eq!(fitted, fitted_key(&teams_id));
        assert_ne!(fitted, fitted_key(&teams_id.replace("act-1", "act-2")));
        assert_eq!(
            caller_key(Some(&fitted), "idempotencyKey"),
            Ok(Some(fitted.clone()))
        );
        let exact = "y".repeat(MAX_KEY_CHARS);
        assert_eq!(fitted_key(&exact), exact);
    }

    #[test]
    fn caller_keys_are_trimmed_bounded_and_printable() {
        assert_eq!(caller_key(None, "id"), Ok(None));
        assert_eq!(caller_key(Some("  "), "id"), Ok(None));
        assert_eq!(caller_key(Some(" k-1 "), "id"), Ok(Some("k-1".into())));
        assert!(caller_key(Some(&"x".repeat(MAX_KEY_CHARS + 1)), "id")
            .unwrap_err()
            .contains("longer than"));
        assert!(caller_key(Some("a\u{0}b"), "id").is_err());
    }

    #[test]
    fn names_round_trip() {
        for role in [Role::Customer, Role::Agent, Role::System] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for state in [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ] {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        for state in [ConversationState::Open, ConversationState::Ended] {
            assert_eq!(ConversationState::parse(state.as_str()), Some(state));
        }
        for status in [
            ConversationStatus::Waiting,
            ConversationStatus::Assigned,
            ConversationStatus::Ended,
        ] {
            assert_eq!(ConversationStatus::parse(status.as_str()), Some(status));
        }
        for kind in [
            EntryKind::Message,
            EntryKind::Ended,
            EntryKind::Joined,
            EntryKind::Queue,
        ] {
            assert_eq!(EntryKind::parse(kind.as_str()), Some(kind));
        }
        for by in [EndedBy::Agent, EndedBy::Customer] {
            assert_eq!(EndedBy::parse(by.as_str()), Some(by));
        }
    }
}
