//! The messages the handover sends across its two boundaries, as stored in the outboxes: to the
//! user's Teams conversation ([`ToUser`]) and to the agent in the live chat ([`ToAgent`]).

use super::files::{CustomerFile, SharedFile};
use super::ids::{ConversationAddress, CopilotConversationId, LiveChatConversationId, SessionId};
use super::requests::Rating;

/// Which way a message goes, and so which outbox worker delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Agent -> user, into Teams.
    Teams,
    /// User -> agent, into the live chat.
    LiveChat,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Teams, Lane::LiveChat];

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Teams => "teams",
            Lane::LiveChat => "livechat",
        }
    }

    pub fn parse(text: &str) -> Option<Lane> {
        Lane::ALL.into_iter().find(|lane| lane.as_str() == text)
    }
}

/// Who a message in the user's Teams conversation speaks for. Everything the skill sends into Teams
/// comes from the bot's account; `protocol/` shows an agent's name with their words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speaker {
    /// A human agent in the live chat, by the name the live chat gave.
    Agent(String),
    /// The skill itself: a notice ("Ann joined the chat", "you're number 2 in the queue").
    Skill,
}

/// What a message to the user carries: words, or a file an agent sent (each file is a message of
/// its own, after the words it came with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    File(SharedFile),
}

/// What the user reads in Teams: who it speaks for and what it carries, not yet rendered
/// (`protocol/` renders it as Teams shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageToUser {
    pub from: Speaker,
    pub content: Content,
}

impl MessageToUser {
    /// The skill's own words.
    pub fn notice(text: impl Into<String>) -> Self {
        Self {
            from: Speaker::Skill,
            content: Content::Text(text.into()),
        }
    }

    /// An agent's words.
    pub fn from_agent(agent: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            from: Speaker::Agent(agent.into()),
            content: Content::Text(text.into()),
        }
    }

    /// The words, when it carries words.
    pub fn text(&self) -> Option<&str> {
        match &self.content {
            Content::Text(text) => Some(text),
            Content::File(_) => None,
        }
    }
}

/// The user's Teams conversation of a session: where messages and the typing indicator go.
/// Self-contained, so that sending there needs nothing else, not even the session (which may close
/// in between).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConversation {
    pub address: ConversationAddress,
    pub conversation: CopilotConversationId,
    /// Where to report a delivery that finally failed.
    pub livechat: LiveChatConversationId,
}

/// A message for the user's Teams conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToUser {
    pub to: UserConversation,
    pub message: MessageToUser,
}

/// Who a line in the live chat's transcript is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteRole {
    /// The user, relayed.
    Customer,
    /// The skill itself ("the customer left", "not delivered").
    System,
}

/// A line for the agent's transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageToAgent {
    pub text: String,
    pub sender: String,
    pub role: NoteRole,
}

/// A call to make on the live chat, on behalf of the user or the skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToAgent {
    Message {
        livechat: LiveChatConversationId,
        message: MessageToAgent,
    },
    /// A customer's file: fetched from where the customer's client put it and posted into the
    /// conversation as the customer's, in order with their words.
    File {
        livechat: LiveChatConversationId,
        /// The customer's name, as their messages are signed.
        sender: String,
        file: CustomerFile,
    },
    /// Ends the live-chat conversation.
    End { livechat: LiveChatConversationId },
    /// The customer's rating of the chat (after it ended, usually).
    Rate {
        livechat: LiveChatConversationId,
        rating: Rating,
        comment: Option<String>,
    },
    /// Ends whatever an interrupted start of `session` opened in the live chat: the start is made
    /// again with the session's idempotency key (so it names the conversation the first one
    /// opened, if any), the agent is told why, and it is ended.
    Abandon {
        session: SessionId,
        conversation: CopilotConversationId,
    },
}

/// Anything an outbox delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    ToUser(ToUser),
    ToAgent(ToAgent),
}

impl Outbound {
    /// A file's transfer (fetched and uploaded, up to megabytes): the worker holds only a few at
    /// once, so that they never take the places of messages in words.
    pub fn is_transfer(&self) -> bool {
        matches!(self, Outbound::ToAgent(ToAgent::File { .. }))
    }

    pub fn lane(&self) -> Lane {
        match self {
            Outbound::ToUser(_) => Lane::Teams,
            Outbound::ToAgent(_) => Lane::LiveChat,
        }
    }

    /// Deliveries with the same key are sent one at a time, oldest first: the user's conversation
    /// for Teams, the live-chat conversation for the live chat.
    pub fn queue_key(&self) -> &str {
        match self {
            Outbound::ToUser(message) => message.to.conversation.as_str(),
            Outbound::ToAgent(
                ToAgent::Message { livechat, .. }
                | ToAgent::File { livechat, .. }
                | ToAgent::End { livechat }
                | ToAgent::Rate { livechat, .. },
            ) => livechat.as_str(),
            Outbound::ToAgent(ToAgent::Abandon { session, .. }) => session.as_str(),
        }
    }
}
