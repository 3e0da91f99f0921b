//! Every dedupe key a stored delivery can carry, in one typed place: a second delivery with the
//! key of one stored before (in the same lane) is not stored, so a repeated request, event or timer
//! sends nothing twice.
//!
//! The keys are written exactly as earlier releases wrote them (a live-chat event's own id bare,
//! the rest with a prefix), so that a repeat arriving across an upgrade is still recognised.

use std::fmt;

use super::ids::{ActivityId, CopilotConversationId, DeliveryId, LiveChatConversationId};
use super::ids::{LiveChatEventId, SessionId};
use super::timers::TimerKind;

/// What part of a customer's activity a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityPart {
    /// The message's text, for the agent.
    Text,
    /// The topic's problem description, for the agent (once per session).
    Problem,
    /// The notice to the customer that the message was refused.
    Refused,
    /// The message's `n`th file, for the agent.
    File(usize),
    /// The message's `n`th note (a card's submit, a sticker), for the agent.
    Note(usize),
    /// What could not be forwarded: the notice to the customer, and the note for the agent (in
    /// the other lane, under the same key).
    Unforwarded,
}

/// What part of a left message a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftMessagePart {
    /// The customer's message.
    Text,
    /// The note telling the agents the customer is not waiting.
    Note,
    /// The end of the conversation that holds it.
    End,
}

/// A delivery's dedupe key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupeKey<'a> {
    /// A part of a customer's activity, within its conversation.
    Activity {
        part: ActivityPart,
        conversation: &'a CopilotConversationId,
        activity: &'a ActivityId,
    },
    /// A live-chat event relayed to the customer (an agent's message, joining, a queue update):
    /// the event's own id.
    LiveChatEvent(&'a LiveChatEventId),
    /// The `n`th file of an agent's message, shown after its words.
    LiveChatEventFile(&'a LiveChatEventId, usize),
    /// The notice that the agent ended the chat, by the end's event id.
    AgentEnded(&'a LiveChatEventId),
    /// The customer's place in the queue, told when the session opened.
    QueueStart(&'a LiveChatConversationId),
    /// A timer's notice or closing, by the deadline it fired at.
    Timer {
        kind: TimerKind,
        session: &'a SessionId,
        due_ms: i64,
    },
    /// A part of a left message, under the key its conversation was started with
    /// ([`left_message_start`]).
    LeftMessage {
        start: &'a SessionId,
        part: LeftMessagePart,
    },
    /// A rating, by the activity that carried it.
    Rating {
        conversation: &'a CopilotConversationId,
        activity: &'a ActivityId,
    },
    /// The notice that a customer's message waits for the live chat, once per delivery.
    Delayed(DeliveryId),
    /// The report of a delivery given up, once per delivery.
    Undelivered(DeliveryId),
    /// The end of whatever an interrupted start of the session opened.
    Abandon(&'a SessionId),
}

impl fmt::Display for DedupeKey<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DedupeKey::Activity {
                part,
                conversation,
                activity,
            } => {
                let part = match part {
                    ActivityPart::Text => "text".to_owned(),
                    ActivityPart::Problem => "problem".to_owned(),
                    ActivityPart::Refused => "refused".to_owned(),
                    ActivityPart::File(n) => format!("file{n}"),
                    ActivityPart::Note(n) => format!("note{n}"),
                    ActivityPart::Unforwarded => "unforwarded".to_owned(),
                };
                write!(formatter, "activity:{part}:{conversation}:{activity}")
            }
            DedupeKey::LiveChatEvent(id) => write!(formatter, "{id}"),
            DedupeKey::LiveChatEventFile(id, n) => write!(formatter, "{id}#file{n}"),
            DedupeKey::AgentEnded(id) => write!(formatter, "ended:{id}"),
            DedupeKey::QueueStart(livechat) => write!(formatter, "queue-start:{livechat}"),
            DedupeKey::Timer {
                kind,
                session,
                due_ms,
            } => write!(formatter, "timer:{}:{session}:{due_ms}", kind.as_str()),
            DedupeKey::LeftMessage { start, part } => {
                let part = match part {
                    LeftMessagePart::Text => "text",
                    LeftMessagePart::Note => "note",
                    LeftMessagePart::End => "end",
                };
                write!(formatter, "{start}:{part}")
            }
            DedupeKey::Rating {
                conversation,
                activity,
            } => write!(formatter, "rating:{conversation}:{activity}"),
            DedupeKey::Delayed(delivery) => write!(formatter, "delayed:{delivery}"),
            DedupeKey::Undelivered(delivery) => write!(formatter, "undelivered:{delivery}"),
            DedupeKey::Abandon(session) => write!(formatter, "abandon:{session}"),
        }
    }
}

impl DedupeKey<'_> {
    /// The key as stored.
    pub fn stored(self) -> Option<String> {
        Some(self.to_string())
    }
}

/// The key a left message's live-chat conversation is started with (its idempotency key, as a
/// session's is its id): by the activity, so that the same message sent again opens nothing
/// twice; without an activity id, a key of its own.
pub fn left_message_start(
    conversation: &CopilotConversationId,
    activity: Option<&ActivityId>,
    unique: &str,
) -> String {
    match activity {
        Some(activity) => format!("left-message:{conversation}:{activity}"),
        None => format!("left-message:{unique}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_written_as_earlier_releases_wrote_them() {
        let conversation = CopilotConversationId::parse("a:1").unwrap();
        let activity = ActivityId::parse("act-9").unwrap();
        let session = SessionId::parse("s-1").unwrap();
        let event = LiveChatEventId::parse("ev-7").unwrap();
        let livechat = LiveChatConversationId::parse("lc-2").unwrap();
        let start =
            SessionId::parse(left_message_start(&conversation, Some(&activity), "x")).unwrap();
        let cases = [
            (
                DedupeKey::Activity {
                    part: ActivityPart::Refused,
                    conversation: &conversation,
                    activity: &activity,
                },
                "activity:refused:a:1:act-9",
            ),
            (DedupeKey::LiveChatEvent(&event), "ev-7"),
            (DedupeKey::LiveChatEventFile(&event, 2), "ev-7#file2"),
            (
                DedupeKey::Activity {
                    part: ActivityPart::File(1),
                    conversation: &conversation,
                    activity: &activity,
                },
                "activity:file1:a:1:act-9",
            ),
            (DedupeKey::AgentEnded(&event), "ended:ev-7"),
            (DedupeKey::QueueStart(&livechat), "queue-start:lc-2"),
            (
                DedupeKey::Timer {
                    kind: TimerKind::Warn,
                    session: &session,
                    due_ms: 42,
                },
                "timer:warn:s-1:42",
            ),
            (
                DedupeKey::LeftMessage {
                    start: &start,
                    part: LeftMessagePart::Note,
                },
                "left-message:a:1:act-9:note",
            ),
            (
                DedupeKey::Rating {
                    conversation: &conversation,
                    activity: &activity,
                },
                "rating:a:1:act-9",
            ),
            (DedupeKey::Delayed(DeliveryId(5)), "delayed:5"),
            (DedupeKey::Undelivered(DeliveryId(5)), "undelivered:5"),
            (DedupeKey::Abandon(&session), "abandon:s-1"),
        ];
        for (key, written) in cases {
            assert_eq!(key.to_string(), written);
        }
        assert_eq!(
            left_message_start(&conversation, None, "u-1"),
            "left-message:u-1"
        );
    }
}
