//! How the store's rows and JSON columns read and write, for both databases: rows read by column
//! name from a [`ValueRow`] (what the writer's connection and the readers' pool both give), converted
//! into domain types with `TryFrom`, and the outbox payloads' JSON records.
//!
//! The payload records are the store's own (the domain derives no serde): a Teams delivery keeps
//! the conversation address and the text to show; a live-chat delivery keeps the call to make.
//! Migration 0003 rewrote the previous release's payloads into these records.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::connection::ValueRow;
use super::{ClosedBy, Delivery, Session, SessionState};
use crate::domain::{
    ConversationAddress, CopilotConversationId, DeliveryId, Lane, LiveChatConversationId,
    MessageToAgent, MessageToUser, NoteRole, Outbound, Rating, SessionId, TextFormat, TimerKind,
    ToAgent, ToUser,
};

/// A `sessions` row.
#[derive(Debug)]
pub struct SessionRow {
    id: String,
    copilot_conversation_id: String,
    livechat_conversation_id: Option<String>,
    state: String,
    closed_by: Option<String>,
    reference: String,
    origin_conversation_id: Option<String>,
    problem_forwarded: i64,
    agent_name: Option<String>,
    timer_kind: Option<String>,
}

impl TryFrom<ValueRow> for SessionRow {
    type Error = anyhow::Error;

    fn try_from(row: ValueRow) -> anyhow::Result<SessionRow> {
        Ok(SessionRow {
            id: row.text("id")?,
            copilot_conversation_id: row.text("copilot_conversation_id")?,
            livechat_conversation_id: row.optional_text("livechat_conversation_id")?,
            state: row.text("state")?,
            closed_by: row.optional_text("closed_by")?,
            reference: row.text("reference")?,
            origin_conversation_id: row.optional_text("origin_conversation_id")?,
            problem_forwarded: row.int("problem_forwarded")?,
            agent_name: row.optional_text("agent_name")?,
            timer_kind: row.optional_text("timer_kind")?,
        })
    }
}

impl TryFrom<SessionRow> for Session {
    type Error = anyhow::Error;

    fn try_from(row: SessionRow) -> anyhow::Result<Session> {
        let livechat = row
            .livechat_conversation_id
            .map(LiveChatConversationId::parse)
            .transpose()?;
        let state = match (row.state.as_str(), livechat) {
            ("opening", _) => SessionState::Opening,
            ("open", Some(livechat)) => SessionState::Open { livechat },
            ("open", None) => anyhow::bail!("session {} is open without a live-chat id", row.id),
            ("closed", livechat) => SessionState::Closed {
                // Every close names its reason; a row without one was closed by a failure.
                by: row
                    .closed_by
                    .as_deref()
                    .and_then(|closed_by| {
                        ClosedBy::parse(
                            closed_by,
                            row.timer_kind.as_deref().and_then(TimerKind::parse),
                        )
                    })
                    .unwrap_or(ClosedBy::Error),
                livechat,
            },
            (other, _) => anyhow::bail!("unknown session state '{other}'"),
        };
        Ok(Session {
            id: SessionId::parse(row.id)?,
            copilot_conversation_id: CopilotConversationId::parse(row.copilot_conversation_id)?,
            state,
            address: ConversationAddress::from_recorded(row.reference),
            origin_conversation_id: row
                .origin_conversation_id
                .map(CopilotConversationId::parse)
                .transpose()?,
            problem_forwarded: row.problem_forwarded != 0,
            agent_name: row.agent_name,
        })
    }
}

/// A `deliveries` row as the workers read it.
#[derive(Debug)]
pub struct DeliveryRow {
    id: i64,
    lane: String,
    queue_key: String,
    payload: String,
    attempts: i64,
    next_attempt_at: i64,
    created_at: String,
}

impl TryFrom<ValueRow> for DeliveryRow {
    type Error = anyhow::Error;

    fn try_from(row: ValueRow) -> anyhow::Result<DeliveryRow> {
        Ok(DeliveryRow {
            id: row.int("id")?,
            lane: row.text("lane")?,
            queue_key: row.text("queue_key")?,
            payload: row.text("payload")?,
            attempts: row.int("attempts")?,
            next_attempt_at: row.int("next_attempt_at")?,
            created_at: row.text("created_at")?,
        })
    }
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = anyhow::Error;

    fn try_from(row: DeliveryRow) -> anyhow::Result<Delivery> {
        let lane = Lane::parse(&row.lane)
            .with_context(|| format!("unknown lane '{}' in the database", row.lane))?;
        Ok(Delivery {
            id: DeliveryId(row.id),
            lane,
            queue_key: row.queue_key,
            // An unreadable payload is reported on its delivery, not as an error of the whole
            // batch: one bad row must not stop the lane.
            payload: decode_payload(lane, &row.payload),
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            due_at_ms: row.next_attempt_at,
            // Unreadable only if edited by hand: then it counts from now.
            created_at_ms: chrono::DateTime::parse_from_rfc3339(&row.created_at)
                .map(|at| at.timestamp_millis())
                .unwrap_or_else(|_| chrono::Utc::now().timestamp_millis()),
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum FormatRecord {
    Plain,
    Markdown,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToUserRecord {
    /// The conversation reference `protocol/` recorded, as JSON.
    address: Box<RawValue>,
    conversation_id: String,
    livechat_conversation_id: String,
    text: String,
    text_format: FormatRecord,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum RoleRecord {
    Customer,
    System,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum ToAgentRecord {
    #[serde(rename_all = "camelCase")]
    Message {
        livechat_conversation_id: String,
        message: String,
        sender: String,
        role: RoleRecord,
    },
    #[serde(rename_all = "camelCase")]
    End { livechat_conversation_id: String },
    #[serde(rename_all = "camelCase")]
    Rate {
        livechat_conversation_id: String,
        rating: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Abandon {
        session_id: String,
        conversation_id: String,
    },
}

/// The JSON stored for a delivery.
pub fn encode_payload(payload: &Outbound) -> anyhow::Result<String> {
    let text = match payload {
        Outbound::ToUser(message) => serde_json::to_string(&ToUserRecord {
            address: RawValue::from_string(message.address.as_recorded().to_owned())
                .context("the conversation address is not JSON")?,
            conversation_id: message.conversation.to_string(),
            livechat_conversation_id: message.livechat.to_string(),
            text: message.message.text.clone(),
            text_format: match message.message.format {
                TextFormat::Plain => FormatRecord::Plain,
                TextFormat::Markdown => FormatRecord::Markdown,
            },
        })?,
        Outbound::ToAgent(ToAgent::Message { livechat, message }) => {
            serde_json::to_string(&ToAgentRecord::Message {
                livechat_conversation_id: livechat.to_string(),
                message: message.text.clone(),
                sender: message.sender.clone(),
                role: match message.role {
                    NoteRole::Customer => RoleRecord::Customer,
                    NoteRole::System => RoleRecord::System,
                },
            })?
        }
        Outbound::ToAgent(ToAgent::End { livechat }) => {
            serde_json::to_string(&ToAgentRecord::End {
                livechat_conversation_id: livechat.to_string(),
            })?
        }
        Outbound::ToAgent(ToAgent::Rate {
            livechat,
            rating,
            comment,
        }) => serde_json::to_string(&ToAgentRecord::Rate {
            livechat_conversation_id: livechat.to_string(),
            rating: rating.get(),
            comment: comment.clone(),
        })?,
        Outbound::ToAgent(ToAgent::Abandon {
            session,
            conversation,
        }) => serde_json::to_string(&ToAgentRecord::Abandon {
            session_id: session.to_string(),
            conversation_id: conversation.to_string(),
        })?,
    };
    Ok(text)
}

/// Reads a stored payload; the error says what is wrong with it.
pub fn decode_payload(lane: Lane, text: &str) -> Result<Outbound, String> {
    let unreadable = |error: &dyn std::fmt::Display| format!("unreadable payload: {error}");
    match lane {
        Lane::Teams => {
            let record: ToUserRecord =
                serde_json::from_str(text).map_err(|error| unreadable(&error))?;
            Ok(Outbound::ToUser(ToUser {
                address: ConversationAddress::from_recorded(record.address.get().to_owned()),
                conversation: CopilotConversationId::parse(record.conversation_id)
                    .map_err(|error| unreadable(&error))?,
                livechat: LiveChatConversationId::parse(record.livechat_conversation_id)
                    .map_err(|error| unreadable(&error))?,
                message: MessageToUser {
                    text: record.text,
                    format: match record.text_format {
                        FormatRecord::Plain => TextFormat::Plain,
                        FormatRecord::Markdown => TextFormat::Markdown,
                    },
                },
            }))
        }
        Lane::LiveChat => {
            let record: ToAgentRecord =
                serde_json::from_str(text).map_err(|error| unreadable(&error))?;
            let livechat =
                |id: String| LiveChatConversationId::parse(id).map_err(|error| unreadable(&error));
            Ok(Outbound::ToAgent(match record {
                ToAgentRecord::Message {
                    livechat_conversation_id,
                    message,
                    sender,
                    role,
                } => ToAgent::Message {
                    livechat: livechat(livechat_conversation_id)?,
                    message: MessageToAgent {
                        text: message,
                        sender,
                        role: match role {
                            RoleRecord::Customer => NoteRole::Customer,
                            RoleRecord::System => NoteRole::System,
                        },
                    },
                },
                ToAgentRecord::End {
                    livechat_conversation_id,
                } => ToAgent::End {
                    livechat: livechat(livechat_conversation_id)?,
                },
                ToAgentRecord::Rate {
                    livechat_conversation_id,
                    rating,
                    comment,
                } => ToAgent::Rate {
                    livechat: livechat(livechat_conversation_id)?,
                    rating: Rating::parse(&rating.to_string())?,
                    comment,
                },
                ToAgentRecord::Abandon {
                    session_id,
                    conversation_id,
                } => ToAgent::Abandon {
                    session: SessionId::parse(session_id).map_err(|error| unreadable(&error))?,
                    conversation: CopilotConversationId::parse(conversation_id)
                        .map_err(|error| unreadable(&error))?,
                },
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let livechat = LiveChatConversationId::parse("lc-1").unwrap();
        let payloads = [
            Outbound::ToUser(ToUser {
                address: ConversationAddress::from_recorded(r#"{"channelId":"msteams"}"#.into()),
                conversation: CopilotConversationId::parse("a:1").unwrap(),
                livechat: livechat.clone(),
                message: MessageToUser {
                    text: "**Ann**: hi".into(),
                    format: TextFormat::Markdown,
                },
            }),
            Outbound::ToAgent(ToAgent::Message {
                livechat: livechat.clone(),
                message: MessageToAgent {
                    text: "hello".into(),
                    sender: "Megan".into(),
                    role: NoteRole::Customer,
                },
            }),
            Outbound::ToAgent(ToAgent::Rate {
                livechat: livechat.clone(),
                rating: Rating::parse("4").unwrap(),
                comment: Some("quick".into()),
            }),
            Outbound::ToAgent(ToAgent::End { livechat }),
            Outbound::ToAgent(ToAgent::Abandon {
                session: SessionId::parse("s-1").unwrap(),
                conversation: CopilotConversationId::parse("a:1").unwrap(),
            }),
        ];
        for payload in payloads {
            let text = encode_payload(&payload).unwrap();
            assert_eq!(
                decode_payload(payload.lane(), &text).unwrap(),
                payload,
                "{text}"
            );
        }
        assert!(decode_payload(Lane::Teams, "{}")
            .unwrap_err()
            .starts_with("unreadable payload"));
    }
}
