//! A handover session: one Copilot conversation handed to one live-chat conversation, from
//! `opening` to `open` to `closed`, and who or what closed it.
//!
//! The store keeps sessions (its records say how each state is written down); the handover decides
//! on them; nothing here knows how they are stored.

use super::ids::{ConversationAddress, CopilotConversationId, LiveChatConversationId, SessionId};

/// Who or what closed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// The customer ended the chat (or the skill action was cancelled).
    User,
    /// The agent closed the chat.
    Agent,
    /// The opening failed or was interrupted.
    Error,
    /// Nobody took the chat before the queue timer fell due.
    QueueTimeout,
    /// The customer wrote nothing until the inactivity timer fell due.
    Inactivity,
}

/// Where a session is in its life; the live-chat id exists from `Open` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// The live-chat session is being created.
    Opening,
    /// Messages flow both ways.
    Open { livechat: LiveChatConversationId },
    /// Over; kept for the record.
    Closed {
        by: ClosedBy,
        livechat: Option<LiveChatConversationId>,
    },
}

/// One handover of one Copilot conversation to one live-chat session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub copilot_conversation_id: CopilotConversationId,
    pub state: SessionState,
    /// Where the agent's replies go.
    pub address: ConversationAddress,
    /// The conversation the caller said the session's activities relate to (`relatesTo`), when it
    /// differs from the activity's own conversation id.
    pub origin_conversation_id: Option<CopilotConversationId>,
    /// The `ProblemDescription` input has been forwarded to the agent.
    pub problem_forwarded: bool,
    /// The last agent who joined (or closed) the chat, as the live chat named them.
    pub agent_name: Option<String>,
}

impl Session {
    /// The live-chat conversation, while the session is open.
    pub fn open_livechat(&self) -> Option<&LiveChatConversationId> {
        match &self.state {
            SessionState::Open { livechat } => Some(livechat),
            _ => None,
        }
    }

    /// Whether the session is of `conversation`, or of the conversation `origin` it relates to
    /// (either as the session's own conversation or as the one its activities related to).
    pub fn belongs_to(
        &self,
        conversation: &CopilotConversationId,
        origin: Option<&CopilotConversationId>,
    ) -> bool {
        let mine = [
            Some(&self.copilot_conversation_id),
            self.origin_conversation_id.as_ref(),
        ];
        let theirs = [Some(conversation), origin];
        mine.iter()
            .flatten()
            .any(|own| theirs.iter().flatten().any(|asked| own == asked))
    }

    /// The live-chat conversation the session had, open or closed.
    pub fn livechat(&self) -> Option<&LiveChatConversationId> {
        match &self.state {
            SessionState::Open { livechat } => Some(livechat),
            SessionState::Closed { livechat, .. } => livechat.as_ref(),
            SessionState::Opening => None,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state, SessionState::Open { .. })
    }
}
