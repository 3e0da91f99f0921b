//! How the store's rows and JSON columns read and write, for both databases: rows read by column
//! name from a [`ValueRow`] (what the writer's connection and the readers' pool both give), converted
//! into domain types with `TryFrom`, and the outbox payloads' JSON records.
//!
//! The payload records are the store's own (the domain derives no serde): a Teams delivery keeps
//! the conversation address, who the message speaks for and its words as written (rendered when
//! sent); a live-chat delivery keeps the call to make.
//! Migration 0003 rewrote the release before it's payloads into these records; records stored
//! before messages carried who they speak for (their text rendered as Teams Markdown) are read
//! back into the same [`MessageToUser`].
//! The session columns' words (`state`, `closed_by`) are written here and nowhere else.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::connection::{Value, ValueRow};
use super::model::{Delivery, NewFileLink};
use crate::domain::{
    AgentFile, ClosedBy, Content, ConversationAddress, CopilotConversationId, CustomerFile,
    DeliveryId, FileLink, FileLinkToken, FileSource, Lane, LiveChatConversationId, MessageToAgent,
    MessageToUser, NoteRole, Outbound, PictureSize, Rating, Session, SessionId, SessionState,
    SharedFile, Speaker, TimerKind, ToAgent, ToUser, UserConversation,
};

/// The `closed_by` column: both timers store `timeout`, and the session's `timer_kind` says
/// which one it was.
pub fn closed_by_column(closed_by: ClosedBy) -> &'static str {
    match closed_by {
        ClosedBy::User => "user",
        ClosedBy::Agent => "agent",
        ClosedBy::Error => "error",
        ClosedBy::QueueTimeout | ClosedBy::Inactivity => "timeout",
    }
}

/// Who closed a session, from its `closed_by` column and (for `timeout`) its timer's kind.
fn closed_by_of(column: &str, timer: Option<TimerKind>) -> Option<ClosedBy> {
    match column {
        "timeout" if timer == Some(TimerKind::Queue) => Some(ClosedBy::QueueTimeout),
        "timeout" => Some(ClosedBy::Inactivity),
        _ => [ClosedBy::User, ClosedBy::Agent, ClosedBy::Error]
            .into_iter()
            .find(|closed_by| closed_by_column(*closed_by) == column),
    }
}

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
                        closed_by_of(
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
    trace_parent: Option<String>,
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
            trace_parent: row.optional_text("trace_parent")?,
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
            claim: None,
            trace: row.trace_parent,
        })
    }
}

/// A link's token as the `file_links` table keys it: its SHA-256, so that the table gives no
/// download link to whoever reads it.
pub fn token_hash(token: &FileLinkToken) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_str().as_bytes()))
}

/// The values of a `file_links` row, in [`super::sql::INSERT_FILE_LINK`]'s order.
pub fn file_link_row(link: &NewFileLink, now: &str) -> Vec<Value> {
    let file = &link.shared.file;
    vec![
        token_hash(&link.shared.token).into(),
        link.session.as_str().into(),
        file.reference.as_str().into(),
        file.name.as_str().into(),
        file.content_type.as_str().into(),
        i64::try_from(file.size).unwrap_or(i64::MAX).into(),
        now.into(),
        link.shared.expires_at_ms.into(),
    ]
}

/// A `file_links` row.
pub struct FileLinkRow {
    reference: String,
    name: String,
    content_type: String,
    size: i64,
    expires_at_ms: i64,
}

impl TryFrom<ValueRow> for FileLinkRow {
    type Error = anyhow::Error;

    fn try_from(row: ValueRow) -> anyhow::Result<FileLinkRow> {
        Ok(FileLinkRow {
            reference: row.text("reference")?,
            name: row.text("name")?,
            content_type: row.text("content_type")?,
            size: row.int("size")?,
            expires_at_ms: row.int("expires_at_ms")?,
        })
    }
}

impl TryFrom<FileLinkRow> for FileLink {
    type Error = anyhow::Error;

    fn try_from(row: FileLinkRow) -> anyhow::Result<FileLink> {
        Ok(FileLink {
            file: AgentFile {
                reference: row.reference,
                name: row.name,
                content_type: row.content_type,
                size: u64::try_from(row.size).unwrap_or(0),
                // A download needs no picture's size.
                picture: None,
            },
            expires_at_ms: row.expires_at_ms,
        })
    }
}

/// How a record stored before messages carried who they speak for showed its text.
#[derive(Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
enum LegacyFormatRecord {
    Plain,
    /// Teams Markdown: an agent's reply as `**{sender}**: {text}`, both escaped.
    Markdown,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToUserRecord {
    /// The conversation reference `protocol/` recorded, as JSON.
    address: Box<RawValue>,
    conversation_id: String,
    livechat_conversation_id: String,
    /// The agent the message speaks for; absent for the skill's own words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    /// The words (empty for a file).
    #[serde(default)]
    text: String,
    /// An agent's file shared by a link, instead of words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<SharedFileRecord>,
    /// Only in records of earlier releases, whose text was rendered when stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text_format: Option<LegacyFormatRecord>,
}

/// An agent's file as a Teams delivery keeps it: the link's token (the link is rendered from it
/// when sent) and what the customer is shown.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SharedFileRecord {
    token: String,
    expires_at_ms: i64,
    reference: String,
    name: String,
    content_type: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    picture: Option<PictureRecord>,
}

#[derive(Serialize, Deserialize)]
struct PictureRecord {
    width: u32,
    height: u32,
    #[serde(default)]
    animated: bool,
}

/// Where a customer's file is fetched from.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum SourceRecord {
    Connector { url: String },
    Link { url: String },
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
    File {
        livechat_conversation_id: String,
        sender: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        source: SourceRecord,
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
            address: RawValue::from_string(message.to.address.as_recorded().to_owned())
                .context("the conversation address is not JSON")?,
            conversation_id: message.to.conversation.to_string(),
            livechat_conversation_id: message.to.livechat.to_string(),
            agent: match &message.message.from {
                Speaker::Agent(name) => Some(name.clone()),
                Speaker::Skill => None,
            },
            text: message.message.text().unwrap_or_default().to_owned(),
            file: match &message.message.content {
                Content::Text(_) => None,
                Content::File(shared) => Some(SharedFileRecord {
                    token: shared.token.as_str().to_owned(),
                    expires_at_ms: shared.expires_at_ms,
                    reference: shared.file.reference.clone(),
                    name: shared.file.name.clone(),
                    content_type: shared.file.content_type.clone(),
                    size: shared.file.size,
                    picture: shared.file.picture.map(|picture| PictureRecord {
                        width: picture.width,
                        height: picture.height,
                        animated: picture.animated,
                    }),
                }),
            },
            text_format: None,
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
        Outbound::ToAgent(ToAgent::File {
            livechat,
            sender,
            file,
        }) => serde_json::to_string(&ToAgentRecord::File {
            livechat_conversation_id: livechat.to_string(),
            sender: sender.clone(),
            name: file.name.clone(),
            source: match &file.source {
                FileSource::Connector(url) => SourceRecord::Connector { url: url.clone() },
                FileSource::Link(url) => SourceRecord::Link { url: url.clone() },
            },
        })?,
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
            let from = match record.agent {
                Some(agent) => Speaker::Agent(agent),
                None => Speaker::Skill,
            };
            let message = match (record.file, record.text_format) {
                (_, Some(LegacyFormatRecord::Markdown)) => legacy_agent_reply(&record.text),
                (Some(file), _) => MessageToUser {
                    from,
                    content: Content::File(SharedFile {
                        token: FileLinkToken::parse(&file.token)
                            .ok_or_else(|| unreadable(&"the file's token is not one"))?,
                        expires_at_ms: file.expires_at_ms,
                        file: AgentFile {
                            reference: file.reference,
                            name: file.name,
                            content_type: file.content_type,
                            size: file.size,
                            picture: file.picture.map(|picture| PictureSize {
                                width: picture.width,
                                height: picture.height,
                                animated: picture.animated,
                            }),
                        },
                    }),
                },
                (None, _) => MessageToUser {
                    from,
                    content: Content::Text(record.text),
                },
            };
            Ok(Outbound::ToUser(ToUser {
                to: UserConversation {
                    address: ConversationAddress::from_recorded(record.address.get().to_owned()),
                    conversation: CopilotConversationId::parse(record.conversation_id)
                        .map_err(|error| unreadable(&error))?,
                    livechat: LiveChatConversationId::parse(record.livechat_conversation_id)
                        .map_err(|error| unreadable(&error))?,
                },
                message,
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
                ToAgentRecord::File {
                    livechat_conversation_id,
                    sender,
                    name,
                    source,
                } => ToAgent::File {
                    livechat: livechat(livechat_conversation_id)?,
                    sender,
                    file: CustomerFile {
                        name,
                        source: match source {
                            SourceRecord::Connector { url } => FileSource::Connector(url),
                            SourceRecord::Link { url } => FileSource::Link(url),
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
                    rating: Rating::recorded(rating),
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

/// An agent's reply as earlier releases stored it, rendered: `**{sender}**: {text}` with Teams
/// Markdown escaped (`\\` before `\\*_`~[]#|`, and `&lt;` `&gt;` `&amp;`); read back into who said
/// what. Anything else in that format was the skill's own notice.
fn legacy_agent_reply(rendered: &str) -> MessageToUser {
    fn unescape(text: &str) -> String {
        let mut plain = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(character) = rest.chars().next() {
            let entity = [("&lt;", '<'), ("&gt;", '>'), ("&amp;", '&')]
                .into_iter()
                .find(|(entity, _)| rest.starts_with(entity));
            if let Some((entity, decoded)) = entity {
                plain.push(decoded);
                rest = &rest[entity.len()..];
            } else if character == '\\' && rest.len() > 1 {
                let escaped = rest[1..].chars().next().unwrap_or('\\');
                plain.push(escaped);
                rest = &rest[1 + escaped.len_utf8()..];
            } else {
                plain.push(character);
                rest = &rest[character.len_utf8()..];
            }
        }
        plain
    }
    // The sender's `*` are escaped, so the first unescaped `**: ` ends it.
    let sender_end = rendered.strip_prefix("**").and_then(|rest| {
        let mut escaped = false;
        for (at, character) in rest.char_indices() {
            if escaped {
                escaped = false;
            } else if character == '\\' {
                escaped = true;
            } else if rest[at..].starts_with("**: ") {
                return Some((&rest[..at], &rest[at + 4..]));
            }
        }
        None
    });
    match sender_end {
        Some((sender, text)) => MessageToUser::from_agent(unescape(sender), unescape(text)),
        None => MessageToUser::notice(unescape(rendered)),
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
                to: user_conversation(),
                message: MessageToUser::from_agent("Ann *A*", "use `rm` <b> & _go_"),
            }),
            Outbound::ToUser(ToUser {
                to: user_conversation(),
                message: MessageToUser {
                    from: Speaker::Agent("Ann".into()),
                    content: Content::File(SharedFile {
                        token: FileLinkToken::generate(),
                        expires_at_ms: 1_700_000_000_000,
                        file: AgentFile {
                            reference: "ref-1".into(),
                            name: "label.png".into(),
                            content_type: "image/png".into(),
                            size: 2048,
                            picture: Some(PictureSize {
                                width: 300,
                                height: 200,
                                animated: false,
                            }),
                        },
                    }),
                },
            }),
            Outbound::ToAgent(ToAgent::File {
                livechat: livechat.clone(),
                sender: "Megan".into(),
                file: CustomerFile {
                    name: Some("photo.jpg".into()),
                    source: FileSource::Connector(
                        "https://smba.trafficmanager.net/amer/v3/attachments/x/views/original"
                            .into(),
                    ),
                },
            }),
            Outbound::ToAgent(ToAgent::File {
                livechat: livechat.clone(),
                sender: "Megan".into(),
                file: CustomerFile {
                    name: None,
                    source: FileSource::Link("https://contoso.sharepoint.com/dl?tempauth=x".into()),
                },
            }),
            Outbound::ToUser(ToUser {
                to: user_conversation(),
                message: MessageToUser::notice("Ann joined the chat."),
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
                rating: Rating::recorded(4),
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

    fn user_conversation() -> UserConversation {
        UserConversation {
            // Opaque here: whatever `protocol/` recorded.
            address: ConversationAddress::from_recorded(r#"{"recorded":"by protocol"}"#.into()),
            conversation: CopilotConversationId::parse("a:1").unwrap(),
            livechat: LiveChatConversationId::parse("lc-1").unwrap(),
        }
    }

    #[test]
    fn records_of_earlier_releases_read_back_into_who_said_what() {
        let stored = |text: &str, format: &str| {
            serde_json::json!({
                "address": {"recorded": "by protocol"},
                "conversationId": "a:1",
                "livechatConversationId": "lc-1",
                "text": text,
                "textFormat": format,
            })
            .to_string()
        };
        let read =
            |text: &str, format: &str| match decode_payload(Lane::Teams, &stored(text, format)) {
                Ok(Outbound::ToUser(message)) => message.message,
                other => panic!("{other:?}"),
            };
        // What the release before this one stored for Ann *A* writing "use `rm` <b> & _go_ &lt;".
        assert_eq!(
            read(
                "**Ann \\*A\\***: use \\`rm\\` &lt;b&gt; &amp; \\_go\\_ &amp;lt;",
                "markdown"
            ),
            MessageToUser::from_agent("Ann *A*", "use `rm` <b> & _go_ &lt;")
        );
        assert_eq!(
            read("Ann joined the chat.", "plain"),
            MessageToUser::notice("Ann joined the chat.")
        );
        assert_eq!(
            read("\\*not\\* a reply", "markdown"),
            MessageToUser::notice("*not* a reply")
        );
    }
}
