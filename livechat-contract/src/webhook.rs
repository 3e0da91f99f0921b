//! The webhook the live chat calls on the skill, `POST /api/livechat/messages`: one typed
//! [`WebhookEvent`] per request, and the skill's [`WebhookAnswer`].
//!
//! Every event has an `id` that is stable across retries, so a repeat is recognised and acted on
//! once. The skill answers `200` with the status once the event is stored, `404` for an unknown
//! conversation, `410` for an ended one, `400` malformed, `401` bad signature, `413` too large.

use serde::{Deserialize, Serialize};

use crate::files::Attachment;
use crate::wire_names;

pub const WEBHOOK_PATH: &str = "/api/livechat/messages";

/// An event the live chat reports. New kinds are added as new variants; a receiver refuses a kind
/// it does not know (400), and the sender keeps it pending for a later retry.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum WebhookEvent {
    /// A human agent wrote to the customer. (`type` may be left out: it is the default.)
    Message(AgentMessage),
    /// The agent closed the conversation.
    ConversationEnded(ConversationEnded),
    /// An agent took the conversation: accepted it, or had it transferred to them. Before that
    /// agent's first message, in the same ordered outbox.
    AgentJoined(AgentJoined),
    /// The customer's place in the queue changed (at most every 30 s per conversation).
    QueueUpdate(QueueUpdate),
    /// The agent is typing: best effort, never retried, dropped rather than delivered late.
    Typing(Typing),
}

/// How late a [`Typing`] event may be acted on, by its `timestamp`; a later one is dropped.
pub const TYPING_MAX_DELAY_SECS: i64 = 5;

/// An agent took the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentJoined {
    pub conversation_id: String,
    pub id: String,
    /// The joining agent's display name.
    pub agent_name: String,
    /// On a transfer, the display name of the agent who handed it over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transferred_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// The customer's new place in the queue.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueUpdate {
    pub conversation_id: String,
    pub id: String,
    /// 1 is next.
    pub queue_position: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_wait_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// The agent is typing.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    pub conversation_id: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// When the agent typed (RFC 3339): required, so that a receiver can drop a late one.
    pub timestamp: String,
}

/// An agent's message to the customer: words, files, or both.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentMessage {
    pub conversation_id: String,
    /// The words; empty only when the message carries files.
    pub message: String,
    /// The agent's display name; receivers fall back to a generic name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// When the agent wrote it (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    pub id: String,
    /// The files the agent sent with it, to be shown after the words. A receiver that knows no
    /// files ignores the field; left out when there are none (hence optional in the schema).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// The agent ended the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationEnded {
    pub conversation_id: String,
    /// When absent on the wire, `ended:{conversationId}`: a conversation ends once.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// Why a webhook body is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookParseError {
    #[error("the webhook body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the webhook body has no {0}")]
    Missing(&'static str),
    #[error("unknown webhook type '{0}'; expected message, conversationEnded, agentJoined, queueUpdate or typing")]
    UnknownType(String),
    #[error("the webhook body's {0} is not valid")]
    Invalid(&'static str),
}

/// The body as it may arrive: every field optional, so that what is missing can be named.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    agent_name: Option<String>,
    #[serde(default)]
    transferred_by: Option<String>,
    #[serde(default)]
    queue_position: Option<serde_json::Value>,
    #[serde(default)]
    estimated_wait_seconds: Option<serde_json::Value>,
    #[serde(default)]
    attachments: Option<serde_json::Value>,
}

/// A non-negative whole number that fits `T`, or `None`.
fn whole<T: TryFrom<u64>>(value: &serde_json::Value) -> Option<T> {
    value.as_u64().and_then(|number| T::try_from(number).ok())
}

fn present(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.trim().is_empty())
}

impl WebhookEvent {
    /// Reads a webhook body, naming what is missing or wrong.
    pub fn parse(body: &[u8]) -> Result<WebhookEvent, WebhookParseError> {
        let raw: RawEvent = serde_json::from_slice(body)
            .map_err(|error| WebhookParseError::NotJson(error.to_string()))?;
        let conversation_id =
            present(raw.conversation_id).ok_or(WebhookParseError::Missing("conversationId"))?;
        let sender = present(raw.sender);
        let timestamp = present(raw.timestamp);
        match raw.kind.as_deref().unwrap_or("message") {
            "message" => {
                let attachments: Vec<Attachment> = match raw.attachments {
                    None | Some(serde_json::Value::Null) => Vec::new(),
                    Some(value) => serde_json::from_value(value)
                        .map_err(|_| WebhookParseError::Invalid("attachments"))?,
                };
                let message = match present(raw.message) {
                    Some(message) => message,
                    None if !attachments.is_empty() => String::new(),
                    None => return Err(WebhookParseError::Missing("message")),
                };
                Ok(WebhookEvent::Message(AgentMessage {
                    id: present(raw.id).ok_or(WebhookParseError::Missing("id"))?,
                    message,
                    conversation_id,
                    sender,
                    timestamp,
                    attachments,
                }))
            }
            "conversationEnded" => Ok(WebhookEvent::ConversationEnded(ConversationEnded {
                id: present(raw.id).unwrap_or_else(|| format!("ended:{conversation_id}")),
                conversation_id,
                sender,
                timestamp,
            })),
            "agentJoined" => Ok(WebhookEvent::AgentJoined(AgentJoined {
                id: present(raw.id).ok_or(WebhookParseError::Missing("id"))?,
                agent_name: present(raw.agent_name)
                    .ok_or(WebhookParseError::Missing("agentName"))?,
                transferred_by: present(raw.transferred_by),
                conversation_id,
                timestamp,
            })),
            "queueUpdate" => Ok(WebhookEvent::QueueUpdate(QueueUpdate {
                id: present(raw.id).ok_or(WebhookParseError::Missing("id"))?,
                queue_position: whole(
                    raw.queue_position
                        .as_ref()
                        .ok_or(WebhookParseError::Missing("queuePosition"))?,
                )
                .filter(|position| *position > 0)
                .ok_or(WebhookParseError::Invalid("queuePosition"))?,
                estimated_wait_seconds: match &raw.estimated_wait_seconds {
                    None | Some(serde_json::Value::Null) => None,
                    Some(value) => Some(
                        whole(value).ok_or(WebhookParseError::Invalid("estimatedWaitSeconds"))?,
                    ),
                },
                conversation_id,
                timestamp,
            })),
            "typing" => Ok(WebhookEvent::Typing(Typing {
                id: present(raw.id).unwrap_or_else(|| format!("typing:{conversation_id}")),
                timestamp: timestamp.ok_or(WebhookParseError::Missing("timestamp"))?,
                conversation_id,
                sender,
            })),
            other => Err(WebhookParseError::UnknownType(other.to_owned())),
        }
    }

    /// The live-chat conversation the event belongs to.
    pub fn conversation_id(&self) -> &str {
        match self {
            WebhookEvent::Message(message) => &message.conversation_id,
            WebhookEvent::ConversationEnded(ended) => &ended.conversation_id,
            WebhookEvent::AgentJoined(joined) => &joined.conversation_id,
            WebhookEvent::QueueUpdate(update) => &update.conversation_id,
            WebhookEvent::Typing(typing) => &typing.conversation_id,
        }
    }

    /// The event's stable id.
    pub fn id(&self) -> &str {
        match self {
            WebhookEvent::Message(message) => &message.id,
            WebhookEvent::ConversationEnded(ended) => &ended.id,
            WebhookEvent::AgentJoined(joined) => &joined.id,
            WebhookEvent::QueueUpdate(update) => &update.id,
            WebhookEvent::Typing(typing) => &typing.id,
        }
    }
}

/// What the skill did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum WebhookStatus {
    /// Stored; it will be delivered.
    Accepted,
    /// The same id was accepted before; nothing more happens.
    Duplicate,
    /// The conversation had ended already; nothing more happens.
    AlreadyEnded,
    /// A best-effort event (typing) that came too late, or for no open session: nothing happens.
    Dropped,
}

wire_names!(WebhookStatus {
    Accepted => "accepted",
    Duplicate => "duplicate",
    AlreadyEnded => "alreadyEnded",
    Dropped => "dropped",
});

/// The skill's `200` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WebhookAnswer {
    pub status: WebhookStatus,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<WebhookEvent, WebhookParseError> {
        WebhookEvent::parse(value.to_string().as_bytes())
    }

    #[test]
    fn a_message_is_the_default_type_and_round_trips() {
        let event = parse(json!({"conversationId": "c", "message": "hi", "sender": "Ann", "id": "m1", "extra": true})).unwrap();
        assert_eq!(
            event,
            WebhookEvent::Message(AgentMessage {
                conversation_id: "c".into(),
                message: "hi".into(),
                sender: Some("Ann".into()),
                timestamp: None,
                id: "m1".into(),
                attachments: Vec::new(),
            })
        );
        let wire = serde_json::to_value(&event).unwrap();
        assert_eq!(
            wire,
            json!({"type": "message", "conversationId": "c", "message": "hi", "sender": "Ann", "id": "m1"})
        );
        assert_eq!(
            WebhookEvent::parse(wire.to_string().as_bytes()).unwrap(),
            event
        );
    }

    #[test]
    fn a_message_may_be_files_alone_and_bad_attachments_are_named() {
        let file = json!({"id": "f1", "name": "label.pdf", "contentType": "application/pdf", "size": 2048, "sha256": "ab", "url": "/api/chat/files/f1"});
        let event =
            parse(json!({"conversationId": "c", "id": "m2", "attachments": [file]})).unwrap();
        let WebhookEvent::Message(message) = &event else {
            panic!("a message: {event:?}")
        };
        assert_eq!(message.message, "");
        assert_eq!(message.attachments[0].name, "label.pdf");
        let wire = serde_json::to_vec(&event).unwrap();
        assert_eq!(WebhookEvent::parse(&wire).unwrap(), event);
        let error = parse(
            json!({"conversationId": "c", "id": "m", "message": "x", "attachments": [{"id": "f"}]}),
        )
        .unwrap_err();
        assert_eq!(error, WebhookParseError::Invalid("attachments"));
        let error =
            parse(json!({"conversationId": "c", "id": "m", "attachments": []})).unwrap_err();
        assert_eq!(error, WebhookParseError::Missing("message"));
    }

    #[test]
    fn an_end_without_an_id_gets_one_per_conversation() {
        let event = parse(json!({"type": "conversationEnded", "conversationId": "c"})).unwrap();
        assert_eq!(event.id(), "ended:c");
        assert_eq!(event.conversation_id(), "c");
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({"type": "conversationEnded", "conversationId": "c", "id": "ended:c"})
        );
    }

    #[test]
    fn what_is_missing_or_wrong_is_named() {
        let cases = [
            (json!({"message": "hi", "id": "m"}), "conversationId"),
            (json!({"conversationId": "c", "message": "hi"}), "id"),
            (
                json!({"conversationId": "c", "message": " ", "id": "m"}),
                "message",
            ),
            (json!({"type": "typed", "conversationId": "c"}), "typed"),
            (json!({"conversationId": 5}), "JSON"),
        ];
        for (body, named) in cases {
            let error = parse(body.clone()).unwrap_err().to_string();
            assert!(error.contains(named), "{body}: {error}");
        }
        assert!(matches!(
            WebhookEvent::parse(b"not json"),
            Err(WebhookParseError::NotJson(_))
        ));
    }

    #[test]
    fn the_contact_centre_events_round_trip_and_name_what_is_wrong() {
        let joined = parse(json!({"type": "agentJoined", "conversationId": "c", "id": "j1", "agentName": "Ben", "transferredBy": "Ann"})).unwrap();
        assert_eq!(
            joined,
            WebhookEvent::AgentJoined(AgentJoined {
                conversation_id: "c".into(),
                id: "j1".into(),
                agent_name: "Ben".into(),
                transferred_by: Some("Ann".into()),
                timestamp: None,
            })
        );
        let queue = parse(json!({"type": "queueUpdate", "conversationId": "c", "id": "q1", "queuePosition": 2, "estimatedWaitSeconds": 90})).unwrap();
        let typing = parse(
            json!({"type": "typing", "conversationId": "c", "timestamp": "2026-12-03T10:00:00Z"}),
        )
        .unwrap();
        assert_eq!(typing.id(), "typing:c");
        for event in [joined, queue, typing] {
            let wire = serde_json::to_vec(&event).unwrap();
            assert_eq!(WebhookEvent::parse(&wire).unwrap(), event);
        }
        let cases = [
            (
                json!({"type": "agentJoined", "conversationId": "c", "id": "j"}),
                "agentName",
            ),
            (
                json!({"type": "queueUpdate", "conversationId": "c", "id": "q"}),
                "queuePosition",
            ),
            (
                json!({"type": "queueUpdate", "conversationId": "c", "id": "q", "queuePosition": 0}),
                "queuePosition",
            ),
            (
                json!({"type": "queueUpdate", "conversationId": "c", "id": "q", "queuePosition": -1}),
                "queuePosition",
            ),
            (
                json!({"type": "queueUpdate", "conversationId": "c", "id": "q", "queuePosition": 1, "estimatedWaitSeconds": "soon"}),
                "estimatedWaitSeconds",
            ),
            (
                json!({"type": "typing", "conversationId": "c"}),
                "timestamp",
            ),
        ];
        for (body, named) in cases {
            let error = parse(body.clone()).unwrap_err().to_string();
            assert!(error.contains(named), "{body}: {error}");
        }
    }

    #[test]
    fn answers_use_the_documented_names() {
        assert_eq!(
            serde_json::to_value(WebhookAnswer {
                status: WebhookStatus::AlreadyEnded
            })
            .unwrap(),
            json!({"status": "alreadyEnded"})
        );
        assert_eq!(
            WebhookStatus::parse("duplicate"),
            Some(WebhookStatus::Duplicate)
        );
    }
}
